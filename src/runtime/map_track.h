/*
 * map_track.h - the program's direct anonymous mappings (see map_hooks.c for what is sampled
 * and whose calls count).
 */
#ifndef HS_MAP_TRACK_H
#define HS_MAP_TRACK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* At the profiler's init, under the guard, first thing (also when profiling is off: the calls
 * then pass to the next functions, which may be another interposer's): the next functions. */
void hs_map_track_resolve(void);
/* Then, when profiling starts: the ranges whose calls are not the program's; sampling starts.
 * Both call into the loader. */
void hs_map_track_init(void);

/* Bytes the program grew its break by with sbrk (counted, not attributed). */
uint64_t hs_map_track_brk_bytes(void);

/* The work of the exported functions (map_hooks.c): each calls the next function and returns
 * exactly its result and errno; caller is the return address of the exported function. */
void *hs_map_track_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off,
                        uintptr_t caller);
int hs_map_track_munmap(void *addr, size_t len);
void *hs_map_track_mremap(void *old, size_t old_len, size_t new_len, int flags, void *new_addr,
                          uintptr_t caller);
void *hs_map_track_sbrk(intptr_t inc, uintptr_t caller);

#endif
