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
 * HEAPSAMPLER_DUMP_SIGNAL, for that), except heapsampler_label_clear, _save and _restore.
 * Return values: 0 on success, -1 on failure with errno set.
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
    uint64_t label_sets;       /* distinct label sets recorded (HEAPSAMPLER_MAX_LABEL_SETS) */
    uint64_t label_sets_folded; /* new label sets recorded as "other": the bound was reached */
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

/*
 * Labels: which request, tenant or job an allocation was made for. Each thread has a set of
 * labels (key, value), empty when it starts; every allocation the profiler samples records the
 * set its thread has at that moment and keeps it until the block is freed, by any thread. The
 * profiles carry them as pprof string labels (`go tool pprof -tagfocus endpoint=/orders`), the
 * CLI groups and filters by them (`--by label:endpoint`, `--focus endpoint=/orders`).
 *
 * Keys: 1 to HEAPSAMPLER_LABEL_KEY_MAX bytes, a letter or _ followed by letters, digits and _,
 * not starting with __ and not bytes, service_name or pyroscope_spy. Values: 1 to
 * HEAPSAMPLER_LABEL_VALUE_MAX bytes of UTF-8 without control characters. Keys and values are
 * copied. A thread has at most HEAPSAMPLER_LABELS_PER_THREAD keys. Label values should name
 * few things (endpoints, tenants, versions - not request ids): the profiler keeps a bounded
 * number of distinct sets (1024, or the environment's HEAPSAMPLER_MAX_LABEL_SETS); a new set
 * beyond that is recorded with every value as "other", and counted
 * (heapsampler_stats_t.label_sets_folded).
 *
 * Setting a label costs a lookup in the profiler's table of sets (a few hundred nanoseconds at
 * most); an allocation that is not sampled never looks at labels. While the profiler does not
 * run in the process (disabled, or a child it does not follow), these functions check their
 * arguments, do nothing and succeed.
 */
#define HEAPSAMPLER_LABEL_KEY_MAX     64
#define HEAPSAMPLER_LABEL_VALUE_MAX   255
#define HEAPSAMPLER_LABELS_PER_THREAD 8

/*
 * Set key to value in the calling thread's labels (value NULL removes the key). Errors: EINVAL
 * (key or value outside the grammar above), ENAMETOOLONG (key or value too long), E2BIG (the
 * thread has HEAPSAMPLER_LABELS_PER_THREAD keys already), ENOMEM, EAGAIN (called from a signal
 * handler that interrupted the profiler in this thread).
 */
HEAPSAMPLER_API int heapsampler_label_set(const char *key, const char *value);

/* Remove every label of the calling thread. Async-signal-safe. */
HEAPSAMPLER_API void heapsampler_label_clear(void);

/*
 * A thread's whole label set as a value, for thread pools and coroutines that carry a request
 * from one thread to another: save it where the work is handed over, restore it in the thread
 * that picks the work up (and restore the saved set of the thread afterwards). 0 is the empty
 * set. A saved set stays valid for the life of the process and of its forked children.
 * Both are async-signal-safe; restore fails with EINVAL for a value save did not return.
 */
typedef uint64_t heapsampler_labels_t;
HEAPSAMPLER_API heapsampler_labels_t heapsampler_label_save(void);
HEAPSAMPLER_API int heapsampler_label_restore(heapsampler_labels_t labels);

#ifdef __cplusplus
}
#endif

#endif
