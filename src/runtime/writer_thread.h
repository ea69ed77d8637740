/*
 * writer_thread.h - the background thread that writes profiles.
 *
 * It sleeps on a semaphore with a deadline: the interval elapsing, the dump signal (whose
 * handler only calls sem_post, which is async-signal-safe), an API request or the exit request
 * wakes it. It holds the reentrancy guard for its whole life, so nothing it allocates is
 * sampled.
 *
 * The thread starts when it is first needed, not at init: a second thread makes glibc's malloc
 * take its multi-threaded paths (arena locks, atomic fastbins) in the whole process, which
 * costs a single-threaded program more than sampling does (about 0.8% of the instructions of
 * a python3 run). So it starts at init only if the dump signal is configured (its handler can
 * only post) or Pyroscope uploads are on (they need it from the start); otherwise at the first
 * of: an API dump request, the first allocation slow path (a thread's first allocation, or a
 * sample) once the program has a thread of its own (it pays for multi-threading already), or
 * the first one after the first interval has passed. A program that never needs it writes its
 * exit profile from the exiting thread.
 */
#ifndef HS_WRITER_THREAD_H
#define HS_WRITER_THREAD_H

#include <stddef.h>

#include "common.h"

/* Set up at init (and nothing else): start the thread now if `now`, else when first needed. */
hs_err_t hs_writer_start(int now) HS_MUST_CHECK;

/*
 * Called by the sampler on every allocation slow path (under the guard, no profiler lock
 * held): starts the thread if it is due. One relaxed load once the thread runs or when it is
 * not wanted. Never blocks: if another thread is starting it, returns.
 */
void hs_writer_nudge(void);

/* The thread runs (for tests and the benchmark's probes). */
int hs_writer_running(void);

/* Ask for a dump and wait until it is written. path NULL = next numbered file. */
hs_err_t hs_writer_dump_sync(const char *path) HS_MUST_CHECK;

/* Async-signal-safe: ask for a dump, do not wait. */
void hs_writer_poke_from_signal(void);

/*
 * In-use memory grew by HEAPSAMPLER_INUSE_GROWTH: ask for a dump, do not wait. Called by the
 * sampler's slow path (under the guard, no profiler lock held); starts the thread if it does
 * not run yet, like hs_writer_nudge (never blocks). Requests that arrive while one is pending
 * are one dump.
 */
void hs_writer_poke_growth(void);

/* Stop the thread (waits for a dump in progress, bounded) and write the final profile. */
void hs_writer_stop_final(void);

/* Forked child: fresh primitives and, if the parent had one, a new thread. */
void hs_writer_fork_child(void);

#endif
