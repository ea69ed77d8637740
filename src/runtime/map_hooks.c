/*
 * map_hooks.c - the exported mmap family (mmap, mmap64, munmap, mremap, sbrk). Only the
 * preloaded library contains this file (the CLI and the unit tests must not interpose them);
 * the work is in map_track.c, which needs the caller's return address: each function here
 * passes it and tail-calls.
 */
#include <stdarg.h>
#include <stdint.h>
#include <sys/mman.h>

#include "common.h"
#include "map_track.h"

HS_EXPORT void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    return hs_map_track_mmap(addr, len, prot, flags, fd, off,
                             (uintptr_t)__builtin_return_address(0));
}

HS_EXPORT void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    return hs_map_track_mmap(addr, len, prot, flags, fd, off,
                             (uintptr_t)__builtin_return_address(0));
}

HS_EXPORT int munmap(void *addr, size_t len)
{
    return hs_map_track_munmap(addr, len);
}

HS_EXPORT void *mremap(void *old, size_t old_len, size_t new_len, int flags, ...)
{
    void *new_addr = NULL;
    if (flags & MREMAP_FIXED) {
        va_list ap;
        va_start(ap, flags);
        new_addr = va_arg(ap, void *);
        va_end(ap);
    }
    return hs_map_track_mremap(old, old_len, new_len, flags, new_addr,
                               (uintptr_t)__builtin_return_address(0));
}

HS_EXPORT void *sbrk(intptr_t inc)
{
    return hs_map_track_sbrk(inc, (uintptr_t)__builtin_return_address(0));
}
