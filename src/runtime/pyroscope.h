/*
 * pyroscope.h - continuous profiling: the preloaded library pushes its heap to Grafana
 * Pyroscope every HEAPSAMPLER_UPLOAD_INTERVAL, besides (not instead of) its files.
 *
 * The writer thread builds each upload (snapshot -> alloc_* as increments since the previous
 * upload, inuse_* absolute -> pprof, folded under the server's limits -> gzip) and queues it;
 * a delivery thread sends the queue, retrying network errors, 408, 429 and 5xx with backoff;
 * application threads never wait for either. The queue is bounded: when it is full the oldest
 * upload is dropped, and an upload that would arrive more than an hour late is dropped too;
 * both are counted and reported. At exit one last upload is built and the queue delivered,
 * bounded by HEAPSAMPLER_UPLOAD_TIMEOUT.
 */
#ifndef HS_PYROSCOPE_H
#define HS_PYROSCOPE_H

#include <stdbool.h>
#include <stdint.h>

#include "common.h"
#include "writer_thread.h"

/*
 * Read the upload settings of hs_config (at start-up, in the library's constructor). Nothing
 * happens without a URL. A configuration error (bad application name, tag, URL, header) is
 * reported once and leaves uploads off; the program and its files are not affected. When
 * uploads are on, the delivery thread starts and loads libcurl in the background. The first
 * upload's window starts at start_ns (wall clock; 0: now). profiling (NULL: always) tells the
 * exit handler whether the profiler still runs: a profiler switched off uploads nothing more.
 */
void hs_pyroscope_start(uint64_t start_ns, bool (*profiling)(void));

bool hs_pyroscope_enabled(void);

/*
 * The uploads as a writer thread exporter (writer_thread.h; arg unused, period
 * HEAPSAMPLER_UPLOAD_INTERVAL): HS_WRITER_INTERVAL builds the next upload and queues it,
 * HS_WRITER_EXIT is hs_pyroscope_final; other events are not uploads.
 */
hs_err_t hs_pyroscope_export(void *arg, hs_writer_event_t event, const char *path);

/* Build the next upload and queue it (writer thread). */
void hs_pyroscope_collect(void);

/*
 * Exit: build the last upload, give each queued upload one more attempt (no backoff) within
 * HEAPSAMPLER_UPLOAD_TIMEOUT, stop the delivery thread. Runs once per process (the first caller
 * wins: an atexit handler registered when libcurl is loaded, so that it runs before the TLS
 * library's own exit handler, or else the writer thread's final step).
 */
void hs_pyroscope_final(void);

/*
 * Fork (fork.c). Nothing is taken before the fork: a build holds build_mu for as long as a
 * profile takes to encode, and the delivery thread may be in a request. The child gets an empty
 * queue, no delivery thread until its first upload, and a baseline taken now, so that its
 * alloc_* count only its own allocations (the parent uploads its own); its postfork step runs
 * with the reentrancy guard held, after the tables are usable again and before the writer
 * thread can collect.
 */
void hs_pyroscope_prefork(void);
void hs_pyroscope_postfork_parent(void);
void hs_pyroscope_postfork_child(void);

typedef struct hs_pyroscope_stats {
    uint64_t built;        /* uploads queued */
    uint64_t sent;         /* accepted by the server */
    uint64_t retries;      /* attempts that will be repeated */
    uint64_t rejected;     /* answered with a non-retryable status (or libcurl missing) */
    uint64_t dropped_full; /* the queue was full */
    uint64_t dropped_late; /* would have arrived more than an hour late */
    uint64_t dropped_exit; /* still queued when the exit deadline passed */
    uint64_t build_failed; /* could not be built (encoding, compression, memory) */
} hs_pyroscope_stats_t;

void hs_pyroscope_get_stats(hs_pyroscope_stats_t *st);

#endif
