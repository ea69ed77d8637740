/*
 * guard.h - per-thread state of the profiler and the reentrancy guard.
 *
 * One hs_thread_t per thread, in static TLS (initial-exec: an access is a %fs-relative load, no
 * __tls_get_addr call that could allocate). Zero-initialised, so a new thread's first
 * allocation finds countdown == 0 and takes the slow path, which initialises the rest, and a
 * new thread has no labels. The fast path reads the countdown alone; the fields after it are
 * the slow paths' (and the label API's: a label set id, written only by its own thread).
 *
 * The guard: while the profiler runs code that may allocate (unwinding, interning, the writer
 * thread, libunwind and libelf internals), the thread's guard depth is non-zero and its
 * countdown is parked at HS_COUNTDOWN_PARKED, so its allocations pass straight through the
 * fast path to the real allocator without being sampled and without a second branch.
 * The slow paths test `guard` too: a signal handler that interrupts the profiler and allocates
 * or frees must not re-enter it (it would deadlock on a lock its own thread holds).
 */
#ifndef HS_GUARD_H
#define HS_GUARD_H

#include <stdint.h>

#include "common.h"

#define HS_COUNTDOWN_PARKED INT64_MAX

enum {
    HS_THREAD_NEW = 0, /* never seen: first slow path initialises */
    HS_THREAD_ACTIVE,  /* sampling */
    HS_THREAD_OFF,     /* profiler disabled for this thread: countdown parked for good */
};

typedef struct hs_thread {
    int64_t countdown;       /* bytes until the next sample; <= 0 means "sample this one" */
    int64_t saved_countdown; /* countdown while the guard is held */
    uint32_t guard;          /* nesting depth of profiler code on this thread */
    uint32_t state;          /* HS_THREAD_* */
    uint64_t rng[2];         /* xoroshiro128+ state */
    uint32_t labels;         /* the thread's label set (labels.h), read by the sample slow path */
} hs_thread_t;

extern __thread hs_thread_t hs_thread __attribute__((tls_model("initial-exec"))) HS_HIDDEN;

HS_INLINE hs_thread_t *hs_thread_get(void)
{
    return &hs_thread;
}

HS_INLINE void hs_guard_enter(hs_thread_t *t)
{
    if (t->guard++ == 0) {
        t->saved_countdown = t->countdown;
        t->countdown = HS_COUNTDOWN_PARKED;
    }
}

HS_INLINE void hs_guard_exit(hs_thread_t *t)
{
    if (--t->guard == 0)
        t->countdown = t->saved_countdown;
}

/* Inside the guard: set the countdown the thread resumes with. */
HS_INLINE void hs_guard_set_countdown(hs_thread_t *t, int64_t countdown)
{
    if (t->guard)
        t->saved_countdown = countdown;
    else
        t->countdown = countdown;
}

#endif
