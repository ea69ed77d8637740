/*
 * os.h - the few operating-system services the core uses, in one place: anonymous memory with
 * accounting (the profiler's own memory, reported in verbose mode and by the API), clocks,
 * random seeds and thread ids. Everything here is allocation-free and async-signal-safe except
 * where noted.
 */
#ifndef HS_OS_H
#define HS_OS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common.h"

/* Anonymous private memory, zero-filled, counted in hs_os_mapped_bytes(). NULL on failure. */
void *hs_os_map(size_t size);
void hs_os_unmap(void *p, size_t size);
/* Bytes currently mapped through hs_os_map (the tables' memory). */
size_t hs_os_mapped_bytes(void);

uint64_t hs_os_wall_ns(void);      /* CLOCK_REALTIME */
uint64_t hs_os_monotonic_ns(void); /* CLOCK_MONOTONIC */

/* 64 random bits from getrandom(2), or a mix of clock, pid and address if that fails. */
uint64_t hs_os_random_u64(void);

pid_t hs_os_gettid(void);

/*
 * Start a background thread of the profiler with every signal blocked (it inherits the mask,
 * so it never runs with signals unblocked: the program's signals go to its own threads). Not
 * async-signal-safe. Returns 0 or pthread_create's error number.
 */
int hs_os_thread_start(pthread_t *tid, size_t stack_size, bool detached, void *(*fn)(void *),
                       void *arg);

/* Round up to a multiple of the page size. */
size_t hs_os_page_round(size_t n);

#endif
