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
} hs_real_alloc_t;

extern hs_real_alloc_t hs_real HS_HIDDEN;

/* Load a pointer (relaxed: a plain move, which a hook folds into its tail jump
 * `jmp *hs_real+off(%rip)`; the values never change after resolution). */
#define HS_REAL(fn) (__atomic_load_n(&hs_real.fn, __ATOMIC_RELAXED))

/* Resolve now (idempotent). Called by the bootstrap functions and by the profiler's init. */
void hs_real_alloc_resolve(void);

/* Bootstrap arena. */
int hs_real_alloc_is_bootstrap(const void *p);
size_t hs_real_alloc_bootstrap_size(const void *p);

#endif
