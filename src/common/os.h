/*
 * os.h - the few operating-system services the core uses, in one place: anonymous memory with
 * accounting (the profiler's own memory, reported in verbose mode and by the API), clocks,
 * random seeds and thread ids. Everything here is allocation-free and async-signal-safe except
 * where noted.
 *
 * The profiler's own memory (hs_os_memory_bytes) is the sum of three accounts:
 *  - mapped: the tables' memory, from hs_os_map (exact);
 *  - static: the profiler's large static arrays, counted at their full size whether or not
 *    their pages were touched (the live filter: 1 MiB of .bss);
 *  - caches: memory held across dumps in the real allocator's heap (the symbol caches), as
 *    their owner last reported it.
 * Not counted: the writer thread's stack (reserved, mostly untouched), the transient buffers of
 * a dump in progress, libunwind's own per-thread caches (a few KiB per sampling thread) and the
 * allocator's per-block overhead. The benchmark (scripts/bench.sh) compares the total with the
 * growth of the peak RSS.
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
/* A range [start, end) of the profiler's own memory. */
typedef struct hs_os_region {
    uintptr_t start, end;
} hs_os_region_t;
/* Up to max of the mappings hs_os_map handed out and not yet unmapped; how many. */
size_t hs_os_regions(hs_os_region_t *out, size_t max);
/* Bytes currently mapped through hs_os_map (the tables' memory). */
size_t hs_os_mapped_bytes(void);
/* Count a static array of the profiler as its memory (once, at init). */
void hs_os_account_static(size_t bytes);
/* The bytes the profiler's caches hold now (replaces the previous figure). */
void hs_os_account_caches(size_t bytes);
/* The caches' figure alone: the part of the profiler's memory inside the real allocator's heap. */
size_t hs_os_cached_bytes(void);
/* The profiler's own memory: mapped + static + caches (see above). */
size_t hs_os_memory_bytes(void);

/* The resident bytes of [p, p + len) (mincore). 0 if it cannot tell. */
uint64_t hs_os_resident_bytes(const void *p, size_t len);
/* Of hs_os_mapped_bytes, what is resident (tables are mapped ahead of use). Not signal-safe
 * in the sense of exactness: regions mapped or unmapped meanwhile may be missed. */
uint64_t hs_os_mapped_resident_bytes(void);

uint64_t hs_os_wall_ns(void); /* CLOCK_REALTIME */
/* CLOCK_REALTIME_COARSE: the last tick's time (a few ms behind), for the price of a load. */
uint64_t hs_os_wall_coarse_ns(void);
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

/*
 * The name of user uid from /etc/passwd, read directly (no NSS: getpwuid may dlopen a module,
 * which a profiler thread must not do), into buf; "" when the file does not name it. Not
 * async-signal-safe only in that it reads a file. Returns buf.
 */
const char *hs_os_user_name(uid_t uid, char *buf, size_t len);

/* Round up to a multiple of the page size. */
size_t hs_os_page_round(size_t n);

#endif
