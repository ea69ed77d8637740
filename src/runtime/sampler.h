/*
 * sampler.h - the sampling decision and the recording of a sample.
 *
 * Fast path (inline, used by hooks.c): subtract the allocation's size from the thread's
 * countdown; only when it reaches zero does anything else happen. Slow path: on a thread's first
 * allocation, initialise its state; otherwise capture the stack (no lock held), intern it,
 * insert the live entry, count the allocation, and draw the next countdown from an exponential
 * distribution with mean `rate` (memoryless, so an allocation of size s is sampled with
 * probability 1 - exp(-s/rate) whatever came before it).
 *
 * Free fast path: one filter byte (live_table.h); the slow path removes the live entry.
 *
 * Every slow path holds the reentrancy guard and preserves errno.
 */
#ifndef HS_SAMPLER_H
#define HS_SAMPLER_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "guard.h"
#include "live_table.h"

typedef struct hs_sampler_stats {
    uint64_t samples;        /* recorded */
    uint64_t dropped_full;   /* a table was at capacity */
    uint64_t dropped_nomem;  /* the profiler could not get memory */
    uint64_t dropped_unwind; /* no frame could be captured */
    uint64_t frees;          /* sampled allocations freed */
    uint64_t threads;        /* threads that allocated */
    /* This process's own (since its start or its fork; samples counts what a forked child
     * inherited too), and the wall-clock time of the latest (0: none). */
    uint64_t own_samples;
    uint64_t last_sample_ns;
} hs_sampler_stats_t;

/* Called by the profiler's init; before it, the slow path only passes allocations through. */
void hs_sampler_configure(uint64_t rate, uint64_t seed, uint32_t stack_depth);

/*
 * What the sampler asks of the modules after it, wired by the profiler at init (NULL: nothing).
 * Both are called from the allocation slow path with no profiler lock held (grew under the
 * reentrancy guard, nudge after it) and must never block: they may only wake another thread.
 */
typedef struct hs_sampler_callbacks {
    void (*nudge)(void);  /* every allocation slow path: a thread's first allocation, a sample */
    void (*grew)(void);   /* the in-use estimate reached a new step (hs_sampler_set_growth_step) */
    void (*memory)(void); /* the in-use estimate reached the memory mark (under the guard) */
} hs_sampler_callbacks_t;
void hs_sampler_set_callbacks(const hs_sampler_callbacks_t *cb);
/* Sampling on (1) or off for good (0: every thread's countdown parks at its next slow path). */
void hs_sampler_set_active(int active);
/* The configured rate (bytes; 1 = exact mode). */
uint64_t hs_sampler_rate(void);

/*
 * HEAPSAMPLER_INUSE_GROWTH: call `grew` whenever the estimated in-use bytes exceed the level of
 * the last such call by `bytes` (0 = off). The estimate is kept on the slow paths only: each
 * recorded sample adds the bytes it stands for, its free takes them away.
 */
void hs_sampler_set_growth_step(uint64_t bytes);
int64_t hs_sampler_inuse_estimate(void);
/*
 * The memory watch's mark (memwatch.h): the first sample that takes the in-use estimate to
 * level calls `memory`, once; INT64_MAX (the initial value) never does. The watch sets the next
 * mark when it has looked.
 */
void hs_sampler_set_memory_mark(int64_t level);

/* The countdown crossed zero and p was allocated (p may be NULL: a failed allocation). */
void hs_sampler_alloc_slow(void *p, size_t size);
/* The filter says p may be sampled. */
void hs_sampler_free_slow(void *p);

/*
 * realloc support: forget p before the real call (returns its site, or HS_LIVE_NO_SITE), then
 * after it either count the free (freed != 0) or put the entry back (the call failed and p is
 * still live).
 */
uint32_t hs_sampler_realloc_forget(void *p);
void hs_sampler_realloc_done(void *p, uint32_t site_id, int freed);

/*
 * The allocation fast path: charge size to the thread's countdown; true when this allocation
 * is to be sampled (or the thread is new): when size is at least the countdown, compared as
 * unsigned numbers. Decided before the real call, so that the common case can tail-call the
 * allocator. When due, the countdown is left for the slow path to replace.
 *
 * On x86-64 this is `subq %size, %fs:(%off); jbe` after the load of the TLS offset: three
 * instructions. Compilers do not emit a read-modify-write on TLS memory with a flags branch by
 * themselves (they load, subtract, store and test: six). jbe after sub is "old <= size" as
 * unsigned integers (borrow or zero). It must be unsigned: a request of 2^63 bytes or more
 * (one that can only fail) is negative as a signed number, so a signed test (jle) would find
 * it not due and the subtraction would add up to 2^63 to the countdown, stopping the thread's
 * sampling for good. The countdown is never negative when the slow path is not due (the slow
 * path and the guard only store values >= 0).
 */
HS_INLINE int hs_sampler_charge(size_t size)
{
#if defined(__x86_64__) && defined(__GNUC__)
    /* The offset of the countdown from the thread pointer: one load from the GOT (initial-exec
     * TLS); the compiler folds this expression into it. */
    intptr_t off = (char *)&hs_thread.countdown - (char *)__builtin_thread_pointer();
    __asm__ goto("subq %0, %%fs:(%1)\n\tjbe %l[due]"
                 :
                 : "r"(size), "r"(off)
                 : "cc", "memory"
                 : due);
    return 0;
due:
    return 1;
#else
    hs_thread_t *t = hs_thread_get();
    if (HS_UNLIKELY(size >= (uint64_t)t->countdown))
        return 1;
    t->countdown -= (int64_t)size;
    return 0;
#endif
}

/* Charge and, if due, record p (for callers that already hold the pointer). */
HS_INLINE void hs_sampler_on_alloc(void *p, size_t size)
{
    if (hs_sampler_charge(size))
        hs_sampler_alloc_slow(p, size);
}

HS_INLINE void hs_sampler_on_free(void *p)
{
    if (HS_UNLIKELY(hs_live_maybe_sampled(p)))
        hs_sampler_free_slow(p);
}

/*
 * Direct mappings (map_hooks.c). hs_sampler_map_slow: the countdown came due on a mapping of
 * size bytes (charged with hs_sampler_charge, as an allocation): record the caller's stack with
 * the thread's labels and allocator=mmap, and return the site (HS_LIVE_NO_SITE: not recorded).
 * hs_sampler_map_resize: a sampled mapping of site_id (of old_size bytes) keeps new_size bytes
 * (a part unmapped or remapped): the site for it, or HS_LIVE_NO_SITE to forget it. A smaller
 * piece is kept with probability p(new_size)/p(old_size), so that it has been sampled with
 * probability p(new_size) in all, as a mapping of its size would be: its unbiased weight
 * new_size/p(new_size) stays unbiased. hs_sampler_map_lost: a sampled mapping of site_id is
 * gone. All three take the guard themselves and are called with no profiler lock held, except
 * resize and lost, which the map table calls with its own lock (they intern sites only).
 */
uint32_t hs_sampler_map_slow(size_t size);
uint32_t hs_sampler_map_resize(uint32_t site_id, uint64_t old_size, uint64_t new_size);
void hs_sampler_map_lost(uint32_t site_id);

/* Exponential draw with mean rate (>= 1), from the thread's generator. */
int64_t hs_sampler_next_countdown(hs_thread_t *t, uint64_t rate);

/* xoroshiro128+ */
void hs_rng_seed(uint64_t rng[2], uint64_t seed);
uint64_t hs_rng_next(uint64_t rng[2]);

void hs_sampler_get_stats(hs_sampler_stats_t *out);
/* Forked child (fork.c): the surviving thread reseeds and counts as new, and the child has no
 * sample of its own yet. The sampler holds no lock and no thread, so it has nothing to do
 * before the fork. */
void hs_sampler_postfork_child(void);

#endif
