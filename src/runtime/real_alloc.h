/*
 * real_alloc.h - the next allocator in the chain (glibc's, or jemalloc/tcmalloc/mimalloc preloaded
 * after us), resolved with dlsym(RTLD_NEXT).
 *
 * Every pointer starts at a bootstrap function that resolves all of them and then calls
 * through, so the hooks never test "resolved yet?". dlsym itself calls calloc/malloc: while a
 * thread is resolving, its allocations are served from a small static arena (never freed; free
 * and realloc recognise arena pointers by address).
 */
#ifndef HS_REAL_ALLOC_H
#define HS_REAL_ALLOC_H

#include <stddef.h>

#include "common.h"

typedef struct hs_real_alloc {
    void *(*malloc)(size_t);
    void *(*calloc)(size_t, size_t);
    void *(*realloc)(void *, size_t);
    void (*free)(void *);
    int (*posix_memalign)(void **, size_t, size_t);
    void *(*aligned_alloc)(size_t, size_t);
    void *(*memalign)(size_t, size_t);
    void *(*valloc)(size_t);
    void *(*pvalloc)(size_t);
    size_t (*malloc_usable_size)(void *);
    void (*free_sized)(void *, size_t);                 /* C23; else free */
    void (*free_aligned_sized)(void *, size_t, size_t); /* C23; else free */
} hs_real_alloc_t;

extern hs_real_alloc_t hs_real HS_HIDDEN;

/* Load a pointer (relaxed: a plain move, which a hook folds into its tail jump
 * `jmp *hs_real+off(%rip)`; the values never change after resolution, but for malloc's during
 * hs_real_alloc_probe, when it forwards to the same function). */
#define HS_REAL(fn) (__atomic_load_n(&hs_real.fn, __ATOMIC_RELAXED))

/* Resolve now (idempotent). Called by the bootstrap functions and by the profiler's init. */
void hs_real_alloc_resolve(void);

/*
 * 1 if the program's malloc calls reach this library's malloc. A library that defines malloc
 * and is loaded before ours (LD_PRELOAD="libjemalloc.so libheapsampler.so", or libc listed
 * first) takes the program's calls instead: the profiler then sees nothing and should say so.
 * Resolves the next allocator first. Called once, from the profiler's init, with the
 * reentrancy guard held (nothing it allocates is sampled).
 */
int hs_real_alloc_probe(void);

/* Bootstrap arena. */
int hs_real_alloc_is_bootstrap(const void *p);
size_t hs_real_alloc_bootstrap_size(const void *p);

#endif
