/*
 * writer_thread.h - the background thread that runs the exporters.
 *
 * Exporters (the profile files, Pyroscope uploads) are registered by the profiler at init; the
 * thread knows them only through hs_writer_exporter_t. It sleeps on a semaphore with a
 * deadline: an exporter's period elapsing, the dump signal (whose handler only calls sem_post,
 * which is async-signal-safe), an API request or the exit request wakes it. It holds the
 * reentrancy guard for its whole life, so nothing it allocates is sampled.
 *
 * The thread starts when it is first needed, not at init: a second thread makes glibc's malloc
 * take its multi-threaded paths (arena locks, atomic fastbins) in the whole process, which
 * costs a single-threaded program more than sampling does (about 0.8% of the instructions of
 * a python3 run). So it starts at init only when the profiler says so (the dump signal's and
 * SIGTERM's handlers can only post; Pyroscope uploads need it from the start; the memory in use
 * is close to its limit already); otherwise at the first of: an API dump request, the first
 * allocation slow path (a thread's first allocation, or a sample) once the program has a thread
 * of its own (it pays for multi-threading already), the first one after the shortest exporter
 * period has passed, or a poke from the sampler (in-use growth, the memory watch's mark). A
 * program that never needs it runs the exporters' exit step from the exiting thread.
 *
 * Scheduling: the thread runs as SCHED_BATCH, so that a dump that wakes up waits for its turn
 * instead of preempting the program's threads, and as an ordinary thread while the watch says
 * it is urgent (the memory limit is close: the profile must be on disk before the OOM killer
 * comes).
 */
#ifndef HS_WRITER_THREAD_H
#define HS_WRITER_THREAD_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>

#include "common.h"

/* What the writer thread asks of its exporters. */
typedef enum hs_writer_event {
    HS_WRITER_INTERVAL, /* the exporter's own period elapsed */
    HS_WRITER_SIGNAL,   /* the dump signal arrived */
    HS_WRITER_API,      /* heapsampler_dump(_to): a caller waits for the result */
    HS_WRITER_GROWTH,   /* in-use memory reached a new step (HEAPSAMPLER_INUSE_GROWTH) */
    HS_WRITER_MEMORY,   /* the watch: memory in use crossed a threshold of the limit */
    HS_WRITER_PEAK,     /* the watch: memory in use reached a new high (no threshold crossed) */
    HS_WRITER_TERM,     /* SIGTERM arrived (HEAPSAMPLER_DUMP_ON_TERM); the process ends next */
    HS_WRITER_EXIT,     /* the last event, once: the process exits */
} hs_writer_event_t;

/* The bit of an event in the set a watch returns. */
#define HS_WRITER_BIT(event) (1u << (event))

/*
 * An exporter. run(arg, event, path) gets every event but HS_WRITER_INTERVAL, which comes every
 * period_ns (0: never) on the exporter's own schedule from the start of profiling; path is the
 * file an API request names (NULL: the next numbered one; NULL for the other events). It returns
 * what an API caller receives: an exporter with nothing to do for an event returns HS_OK.
 * Exporters run one at a time, in the order they were registered (at exit too), in the writer
 * thread with the reentrancy guard held and no profiler lock held, or, at exit when the thread
 * never ran, in the exiting thread.
 */
typedef struct hs_writer_exporter {
    hs_err_t (*run)(void *arg, hs_writer_event_t event, const char *path);
    void *arg;
    uint64_t period_ns;
} hs_writer_exporter_t;

#define HS_WRITER_EXPORTERS_MAX 4

/*
 * A watch: what the thread looks at between exports (the memory in use against its limit,
 * memwatch.h). look(arg, wait) runs in the thread when it starts and after every wake-up, with
 * the reentrancy guard held and no profiler lock held; it returns the events due now (a set of
 * HS_WRITER_BIT; the thread runs every exporter's step for each, in the order of the enum), and
 * fills *wait: when to look again at the latest (monotonic ns; 0: only when woken), and
 * descriptors to wait on meanwhile (poll events; their revents are in *wait at the next look).
 * While it waits on descriptors the thread also wakes every HS_WRITER_POLL_SLICE_NS to serve
 * requests, which otherwise wake it at once.
 */
#define HS_WRITER_WAIT_FDS      4
#define HS_WRITER_POLL_SLICE_NS (20 * 1000000ull)
typedef struct hs_writer_wait {
    uint64_t deadline_ns;
    nfds_t nfds;
    struct pollfd fds[HS_WRITER_WAIT_FDS];
    bool urgent; /* run as an ordinary thread until the next look (else SCHED_BATCH) */
} hs_writer_wait_t;

typedef struct hs_writer_watch {
    unsigned (*look)(void *arg, hs_writer_wait_t *wait);
    void *arg;
} hs_writer_watch_t;

/*
 * Set up at init (and nothing else) with the exporters (copied; at most
 * HS_WRITER_EXPORTERS_MAX) and the watch (copied; NULL: none): start the thread now if `now`,
 * else when first needed.
 */
hs_err_t hs_writer_start(const hs_writer_exporter_t *exporters, size_t n, int now,
                         const hs_writer_watch_t *watch) HS_MUST_CHECK;

/*
 * Called by the sampler on every allocation slow path (under the guard, no profiler lock
 * held): starts the thread if it is due. One relaxed load once the thread runs or when it is
 * not wanted. Never blocks: if another thread is starting it, returns.
 */
void hs_writer_nudge(void);

/* The thread runs (for tests and the benchmark's probes). */
int hs_writer_running(void);

/* Run every exporter's HS_WRITER_API step and wait for it. path NULL = next numbered file. */
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

/*
 * The watch asks to look now (the sampler's memory mark was reached): like
 * hs_writer_poke_growth, it starts the thread if it does not run yet and never blocks.
 */
void hs_writer_poke_watch(void);

/*
 * Async-signal-safe, for the SIGTERM handler: ask for every exporter's HS_WRITER_TERM step and
 * wait for it, at most timeout_ms (nanosleep slices; the thread must run already: a signal
 * handler cannot start it). Returns 1 when it was done in time.
 */
int hs_writer_term_from_signal(unsigned timeout_ms);

/* Stop the thread (waits for a dump in progress, bounded) and run every exporter's exit step. */
void hs_writer_stop_final(void);

/*
 * Fork (fork.c). Nothing is taken before the fork: an API request holds api_mu for as long as
 * its dump takes, and the thread may be starting (start_mu) or exporting. The child gets fresh
 * primitives and, if the parent had one, a new thread (at once or when needed, as at init).
 */
void hs_writer_prefork(void);
void hs_writer_postfork_parent(void);
void hs_writer_postfork_child(void);

#endif
