/*
 * writer_thread.h - the background thread that writes profiles.
 *
 * It sleeps on a semaphore with a deadline: the interval elapsing, the dump signal (whose
 * handler only calls sem_post, which is async-signal-safe), an API request or the exit request
 * wakes it. It holds the reentrancy guard for its whole life, so nothing it allocates is
 * sampled.
 */
#ifndef HS_WRITER_THREAD_H
#define HS_WRITER_THREAD_H

#include <stddef.h>

#include "common.h"

hs_err_t hs_writer_start(void) HS_MUST_CHECK;

/* Ask for a dump and wait until it is written. path NULL = next numbered file. */
hs_err_t hs_writer_dump_sync(const char *path) HS_MUST_CHECK;

/* Async-signal-safe: ask for a dump, do not wait. */
void hs_writer_poke_from_signal(void);

/* Stop the thread (waits for a dump in progress, bounded) and write the final profile. */
void hs_writer_stop_final(void);

/* Forked child: fresh primitives and, if the parent had one, a new thread. */
void hs_writer_fork_child(void);

#endif
