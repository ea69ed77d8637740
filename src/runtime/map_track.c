/*
 * map_track.c - the program's direct anonymous memory: exported mmap, mmap64, munmap, mremap,
 * and brk/sbrk growth. The exported functions are in map_hooks.c (only in the preloaded
 * library); this file does their work, given the caller's return address.
 *
 * What is sampled: a private, anonymous, writable mapping made by the program (MAP_PRIVATE |
 * MAP_ANONYMOUS with PROT_WRITE), charged to the thread's countdown by its length exactly as
 * an allocation of that size (the same Poisson process over bytes, the same per-allocation
 * unbiasing), recorded with the caller of mmap as its site and the label allocator=mmap. Not
 * sampled: file mappings (file-backed RSS), shared anonymous mappings (shared memory in RSS),
 * PROT_NONE reservations (not memory until committed; a reservation later made writable with
 * mprotect is not seen), and the mappings of the C library's own code (glibc's malloc, thread
 * stacks and the loader call the kernel without this library's symbols).
 *
 * Whose mmap: the allocator beneath the profiler (jemalloc, tcmalloc, mimalloc) calls the
 * public mmap for its own arenas, which are the heap, already counted block by block. A call
 * whose return address lies in that allocator's code, or in this library's, or that is made
 * while the thread holds the reentrancy guard (the profiler's libraries: libunwind, libdw,
 * libcurl), passes straight through. The ranges are found at init (hs_map_track_init) and
 * read with relaxed loads; before init nothing is sampled (the sampler is waiting).
 *
 * Order, as for free: an munmap cuts the range out of the table before the real call (once
 * the range is returned, another thread may map and sample it); mremap takes the entry first
 * and puts it back, resized or moved, after the call (or unchanged if the call failed). A
 * piece left by a partial unmap is re-keyed at its new size (map_table.h, sampler.h: kept with
 * the probability that keeps its weight unbiased); the cut counts as a free of the old
 * mapping and an allocation of the piece. mremap growth charges the added bytes: an
 * unsampled mapping whose growth comes due is recorded at its new size, from the caller.
 *
 * brk/sbrk: glibc's malloc moves the break with its own internal call, so the program's calls
 * are the only ones that reach these hooks: their growth is counted (hs_map_track_brk_bytes),
 * not attributed to a site.
 *
 * The next functions: dlsym(RTLD_NEXT) at init; before that (and if there is none) the system
 * call itself, which is what the C library's wrappers do on Linux.
 *
 * None of this is on the malloc/free fast path: mmap is a system call, and its check (a few
 * compares and the countdown's subtraction) is small beside it.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common.h"
#include "log.h"
#include "map_track.h"
#include "map_table.h"
#include "real_alloc.h"
#include "sampler.h"
#include "unwind.h"

static void *(*next_mmap)(void *, size_t, int, int, int, off_t);
static int (*next_munmap)(void *, size_t);
static void *(*next_mremap)(void *, size_t, size_t, int, ...);
static void *(*next_sbrk)(intptr_t);
static uintptr_t self_lo, self_hi, alloc_lo, alloc_hi;
static uint64_t brk_bytes;
static int ready; /* the ranges are known: calls can be told apart */
static int warned_table;

void hs_map_track_resolve(void)
{
    *(void **)&next_mmap = dlsym(RTLD_NEXT, "mmap");
    *(void **)&next_munmap = dlsym(RTLD_NEXT, "munmap");
    *(void **)&next_mremap = dlsym(RTLD_NEXT, "mremap");
    *(void **)&next_sbrk = dlsym(RTLD_NEXT, "sbrk");
}

void hs_map_track_init(void)
{
    uintptr_t lo, hi;
    if (hs_unwind_find_self_range(&lo, &hi) == HS_OK) {
        __atomic_store_n(&self_lo, lo, __ATOMIC_RELAXED);
        __atomic_store_n(&self_hi, hi, __ATOMIC_RELAXED);
    }
    /* The allocator beneath, unless it is the C library (whose calls never come here). The C
     * library is found by one of its functions that no allocator defines (tcmalloc defines
     * mmap, munmap, mremap and sbrk: they are the next ones, not the C library's). */
    uintptr_t libc_lo = 0, libc_hi = 0;
    if (hs_unwind_find_range((uintptr_t)&getpid, &libc_lo, &libc_hi) != HS_OK)
        libc_lo = libc_hi = 0;
    if (hs_unwind_find_range((uintptr_t)HS_REAL(malloc), &lo, &hi) == HS_OK && lo != libc_lo) {
        __atomic_store_n(&alloc_lo, lo, __ATOMIC_RELAXED);
        __atomic_store_n(&alloc_hi, hi, __ATOMIC_RELAXED);
    }
    __atomic_store_n(&ready, 1, __ATOMIC_RELEASE);
}

uint64_t hs_map_track_brk_bytes(void)
{
    return __atomic_load_n(&brk_bytes, __ATOMIC_RELAXED);
}

static void *real_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    void *(*fn)(void *, size_t, int, int, int, off_t) =
        __atomic_load_n(&next_mmap, __ATOMIC_RELAXED);
    if (fn)
        return fn(addr, len, prot, flags, fd, off);
    return (void *)syscall(SYS_mmap, addr, len, prot, flags, fd, off);
}

static int real_munmap(void *addr, size_t len)
{
    int (*fn)(void *, size_t) = __atomic_load_n(&next_munmap, __ATOMIC_RELAXED);
    if (fn)
        return fn(addr, len);
    return (int)syscall(SYS_munmap, addr, len);
}

static void *real_mremap(void *old, size_t old_len, size_t new_len, int flags, void *new_addr)
{
    void *(*fn)(void *, size_t, size_t, int, ...) = __atomic_load_n(&next_mremap, __ATOMIC_RELAXED);
    if (fn)
        return fn(old, old_len, new_len, flags, new_addr);
    return (void *)syscall(SYS_mremap, old, old_len, new_len, flags, new_addr);
}

/* Is this call the program's own (not the allocator's, not the profiler's)? */
static int program_call(uintptr_t caller)
{
    /* Before init the allocator beneath may be setting itself up (tcmalloc's first sbrk). */
    if (hs_thread_get()->guard || !__atomic_load_n(&ready, __ATOMIC_ACQUIRE))
        return 0;
    uintptr_t lo = __atomic_load_n(&self_lo, __ATOMIC_RELAXED);
    uintptr_t hi = __atomic_load_n(&self_hi, __ATOMIC_RELAXED);
    if (caller >= lo && caller < hi)
        return 0;
    lo = __atomic_load_n(&alloc_lo, __ATOMIC_RELAXED);
    hi = __atomic_load_n(&alloc_hi, __ATOMIC_RELAXED);
    return !(caller >= lo && caller < hi);
}

static int counted(int prot, int flags)
{
    return (flags & MAP_TYPE) == MAP_PRIVATE && (flags & MAP_ANONYMOUS) && (prot & PROT_WRITE);
}

/* ---- the map table's owner: pieces and removals ------------------------------------------- */

static uint32_t piece_keep(void *arg, const hs_map_entry_t *old, uint64_t piece_len)
{
    (void)arg;
    return hs_sampler_map_resize(old->site, old->len, piece_len);
}

static void piece_gone(void *arg, const hs_map_entry_t *old)
{
    (void)arg;
    hs_sampler_map_lost(old->site);
}

static const hs_map_cut_ops_t cut_ops = {piece_keep, piece_gone, NULL};

/*
 * The table's lock is held under the reentrancy guard: munmap is async-signal-safe, and a
 * signal handler that unmaps while its thread holds the lock must pass through (its mapping
 * stays in the table until its address is mapped again), not wait for itself.
 */
static void cut(void *addr, size_t len)
{
    hs_thread_t *t = hs_thread_get();
    if (!hs_map_table_active() || t->guard)
        return;
    int saved = errno;
    hs_guard_enter(t);
    hs_map_table_cut((uintptr_t)addr, len, &cut_ops);
    hs_guard_exit(t);
    errno = saved;
}

static void track(void *p, size_t len, uint32_t site)
{
    if (site == HS_LIVE_NO_SITE)
        return;
    hs_thread_t *t = hs_thread_get();
    int saved = errno;
    hs_guard_enter(t);
    if (hs_map_table_insert((uintptr_t)p, len, site) != HS_OK) {
        hs_sampler_map_lost(site);
        hs_warn_once(&warned_table, "too many sampled mappings; further ones are not tracked");
    }
    hs_guard_exit(t);
    errno = saved;
}

/* ---- the hooks ------------------------------------------------------------------------------ */

void *hs_map_track_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off,
                        uintptr_t caller)
{
    /* MAP_FIXED replaces whatever was there: that part of a sampled mapping is gone. */
    if (flags & MAP_FIXED)
        cut(addr, len);
    void *p = real_mmap(addr, len, prot, flags, fd, off);
    if (p == MAP_FAILED || !counted(prot, flags) || !program_call(caller))
        return p;
    if (hs_sampler_charge(len))
        track(p, len, hs_sampler_map_slow(len));
    return p;
}

int hs_map_track_munmap(void *addr, size_t len)
{
    cut(addr, len);
    return real_munmap(addr, len);
}

void *hs_map_track_mremap(void *old, size_t old_len, size_t new_len, int flags, void *new_addr,
                          uintptr_t caller)
{
    hs_map_entry_t e;
    int had = 0;
    hs_thread_t *t = hs_thread_get();
    if (hs_map_table_active() && !t->guard) {
        int saved = errno;
        hs_guard_enter(t);
        had = hs_map_table_take((uintptr_t)old, &e);
        hs_guard_exit(t);
        errno = saved;
    }
    /* A destination given with MREMAP_FIXED is replaced, like MAP_FIXED. */
    if (flags & MREMAP_FIXED)
        cut(new_addr, new_len);
    void *p = real_mremap(old, old_len, new_len, flags, new_addr);
    if (p == MAP_FAILED) {
        if (had)
            track(old, e.len, e.site);
        return p;
    }
    if (had) {
        int saved = errno;
        /* old_len may cover only part of the sampled mapping: the rest stays where it was. */
        uint64_t moved = old_len < e.len ? old_len : e.len;
        if (e.len > moved) {
            hs_map_entry_t rest = {e.start + moved, e.len - moved, e.site};
            track((void *)rest.start, rest.len, hs_sampler_map_resize(e.site, e.len, rest.len));
        }
        track(p, new_len, hs_sampler_map_resize(e.site, e.len, new_len));
        hs_sampler_map_lost(e.site);
        errno = saved;
    } else if (new_len > old_len && program_call(caller) && hs_sampler_charge(new_len - old_len)) {
        track(p, new_len, hs_sampler_map_slow(new_len));
    }
    return p;
}

void *hs_map_track_sbrk(intptr_t inc, uintptr_t caller)
{
    void *(*next)(intptr_t) = __atomic_load_n(&next_sbrk, __ATOMIC_RELAXED);
    if (!next) /* before init: a program that moves its break from a constructor */
        *(void **)&next = dlsym(RTLD_NEXT, "sbrk");
    void *r = next ? next(inc) : (void *)-1;
    /* tcmalloc grows its heap with sbrk: the allocator's, not the program's. */
    if (r != (void *)-1 && inc > 0 && program_call(caller))
        __atomic_add_fetch(&brk_bytes, (uint64_t)inc, __ATOMIC_RELAXED);
    return r;
}
