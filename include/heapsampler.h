/*
 * heapsampler.h - the public API of heapsampler, a sampling heap profiler.
 *
 * The profiler is normally loaded with LD_PRELOAD (or `heapsampler run -- CMD`) into a program
 * that knows nothing about it. A program that wants more control can call these functions:
 *
 *  - link with -lheapsampler (pkg-config heapsampler), which makes the library a dependency; or
 *  - stay independent of it: define HEAPSAMPLER_WEAK before including this header. The
 *    declarations become weak, and `if (heapsampler_dump) heapsampler_dump();` calls the profiler
 *    only when it was preloaded.
 *
 * All functions are thread-safe. None may be called from a signal handler (use the dump signal,
 * HEAPSAMPLER_DUMP_SIGNAL, for that). Return values: 0 on success, -1 on failure with errno set.
 */
#ifndef HEAPSAMPLER_H
#define HEAPSAMPLER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(HEAPSAMPLER_WEAK)
#define HEAPSAMPLER_API __attribute__((weak))
#else
#define HEAPSAMPLER_API
#endif

#define HEAPSAMPLER_VERSION_MAJOR 0
#define HEAPSAMPLER_VERSION_MINOR 1
#define HEAPSAMPLER_VERSION_PATCH 0

/* The library's version, "MAJOR.MINOR.PATCH". */
HEAPSAMPLER_API const char *heapsampler_version(void);

/*
 * Write a profile now, as the periodic dumps do (<prefix>.<pid>.<seq>.pb.gz), and wait until it
 * is on disk. The work happens in the profiler's writer thread; the caller only waits.
 * Fails with ENOTSUP when the profiler is disabled, EIO when the file could not be written.
 */
HEAPSAMPLER_API int heapsampler_dump(void);

/* Same, to an explicit file name (the compression follows HEAPSAMPLER_COMPRESSION). */
HEAPSAMPLER_API int heapsampler_dump_to(const char *path);

/* Estimates and the profiler's own bookkeeping, read without stopping anything. */
typedef struct heapsampler_stats {
    uint64_t rate;             /* sampling rate in bytes (1 = every allocation) */
    uint64_t samples;          /* sampled allocations recorded since start */
    uint64_t live_samples;     /* of those, still live */
    uint64_t dropped_samples;  /* samples lost: tables full, out of memory, unwind failure */
    uint64_t stacks;           /* distinct call stacks */
    uint64_t sites;            /* distinct (stack, size) rows */
    double inuse_bytes;        /* estimated bytes in live allocations */
    double inuse_objects;      /* estimated live allocations */
    double alloc_bytes;        /* estimated bytes allocated since start */
    double alloc_objects;      /* estimated allocations since start */
    double inuse_bytes_stddev; /* sampling error (one standard deviation) of inuse_bytes */
    uint64_t profiler_bytes;   /* memory the profiler itself holds: tables, filter, symbol caches */
    uint64_t profiles_written; /* profiles written to files */
} heapsampler_stats_t;

/* Fill *stats. size is sizeof(heapsampler_stats_t), for compatibility with later versions. */
HEAPSAMPLER_API int heapsampler_get_stats(heapsampler_stats_t *stats, size_t size);

/*
 * Custom allocators (arenas, pools, memory handed out of a big malloc'd block): report each
 * object handed out and returned, and it is sampled like a malloc'd one. The pointers must
 * not be ones the malloc family returned (those are tracked already).
 */
HEAPSAMPLER_API void heapsampler_record_alloc(void *ptr, size_t size);
HEAPSAMPLER_API void heapsampler_record_free(void *ptr);

#ifdef __cplusplus
}
#endif

#endif
