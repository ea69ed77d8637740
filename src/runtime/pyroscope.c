/*
 * pyroscope.c - uploads to Grafana Pyroscope from the preloaded library (see pyroscope.h).
 *
 * An exporter of the writer thread (writer_thread.h): the profiler registers
 * hs_pyroscope_export with the upload interval as its period, and passes what this file needs
 * of the rest of the profiler (the start of profiling, whether it still runs) to
 * hs_pyroscope_start.
 *
 * Building (hs_pyroscope_collect, writer thread; hs_pyroscope_final, exit): under build_mu, a
 * snapshot is taken through hs_dump_encode_with, whose transform replaces each row's
 * cumulative sampled allocations by the increase since `base` (snapshot_delta.h), sets the
 * profile's window [from, until] and bounds the distinct label sets (label_budget.h). The new
 * baseline is kept only once the upload is built and compressed: an upload that cannot be built
 * leaves its allocations to the next one. A profile over the server's limits is folded
 * (profile_fold.h); every upload is gzip.
 *
 * Labels: the server turns the string labels of samples into series labels, one series per
 * distinct set (and sample type), ignores a sample label named like one of the upload's tags,
 * and refuses a series with more than 30 label names (4 of them its own). So an upload carries
 * at most HEAPSAMPLER_UPLOAD_LABEL_SETS sets (the heaviest; the others folded to "other"),
 * leaves out labels named like a tag, and gives each row at most 26 minus the tags' label
 * names (row_labels.h's policy).
 *
 * Delivering (delivery thread): a ring of at most HEAPSAMPLER_UPLOAD_QUEUE uploads under `mu`,
 * oldest first. The thread takes the head out (so `mu` is never held across a request), posts
 * it and, on a retryable failure, puts it back at the head with a jittered exponential backoff;
 * later uploads wait behind it, so the server receives them in order. The queue full: the
 * oldest upload goes. An upload older than an hour: dropped. Each is counted, warned about
 * once, and summed up at exit. Each kind of request failure (HTTP status or curl error) is
 * logged once, with the server's message (pyroscope_redact.h scrubs it of secrets).
 *
 * Threads and locks: application threads never touch this file's state. The writer thread
 * holds build_mu while building and mu while queueing; the delivery thread holds mu only
 * between requests; neither holds a table lock (snapshots take none for long) or mu while in
 * libcurl or the loader. The delivery thread blocks every signal and holds the reentrancy
 * guard for its whole life. It starts with the profiler (and loads libcurl at once, so the exit
 * path finds it loaded and its atexit handler registered), or in a forked child with the
 * child's first upload.
 *
 * Exit: a TLS library may register an atexit handler that tears it down, which would run
 * before this library's destructor (OpenSSL does unless told not to: curl_loader.c tells it,
 * but a program may have initialised it first); so when libcurl is loaded, hs_pyroscope_atexit
 * is registered after it and does the final upload first, if the profiler still runs (a profiler
 * switched off by a fault or a fork from a signal handler uploads nothing more). At exit every
 * queued upload gets one more attempt, without backoff (a refused connection costs the exit
 * nothing), and all of it takes at most HEAPSAMPLER_UPLOAD_TIMEOUT: then a request in flight is
 * aborted (curl's progress callback) and the thread gets a little more time to leave libcurl.
 *
 * Fork: the child re-initialises every lock, abandons (never frees: they may be mid-update)
 * the parent's queue, client and baseline, and takes a fresh baseline from the tables, which
 * the fork handlers left consistent.
 */
#include "pyroscope.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "compress.h"
#include "config.h"
#include "curl_loader.h"
#include "dump.h"
#include "guard.h"
#include "label_budget.h"
#include "label_spec.h"
#include "log.h"
#include "os.h"
#include "pprof_reader.h"
#include "profile_fold.h"
#include "pyroscope_redact.h"
#include "pyroscope_check.h"
#include "pyroscope_request.h"
#include "row_labels.h"
#include "snapshot.h"
#include "snapshot_delta.h"

#define HS_UPLOAD_STACK   (2u << 20)
#define HS_ABORT_GRACE_NS (1500ull * 1000000ull) /* curl checks its progress callback often */
#define HS_RETRY_BASE_MAX 1000000000ull          /* first retry after at most 1 s */
#define HS_SEEN_KINDS     32

typedef struct hs_upload {
    uint8_t *body;
    size_t len;
    uint64_t from_s, until_s;
    uint64_t created_ns; /* monotonic */
    uint64_t next_try_ns;
    uint32_t attempts;
} hs_upload_t;

static struct {
    int enabled;
    hs_pyroscope_target_t target;
    bool (*profiling)(void); /* NULL: always */

    pthread_mutex_t build_mu; /* base and from_ns */
    hs_snapshot_delta_t *base;
    uint64_t from_ns; /* wall clock: start of the next upload's window */

    pthread_mutex_t mu;     /* everything below */
    pthread_cond_t cv;      /* for the delivery thread: queue or stop changed */
    pthread_cond_t done_cv; /* for the exit: an upload was handled, or the thread ended */
    hs_upload_t *ring;
    size_t cap, head, count;
    int thread_state; /* 0 none, 1 running, 2 ended, -1 could not start */
    pthread_t tid;
    int stop; /* exiting: one attempt each, no backoff; end at stop_deadline or when finished
                 and the queue is empty */
    uint64_t stop_deadline;
    int finished; /* the last upload is queued: accept nothing more */
    int final_started;
    int atexit_registered;
    hs_pyroscope_client_t *client;
    hs_pyroscope_stats_t st;
    int seen[HS_SEEN_KINDS];
    size_t nseen;
    int warned_full, warned_late, warned_build, warned_thread, warned_curl;

    /* What the rows' labels may be (set at start: the tags do not change). */
    hs_pyroscope_label_room_t room;
    hs_row_labels_policy_t policy;
} P;

static void hs_pyroscope_init_primitives(void)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&P.cv, &ca);
    pthread_cond_init(&P.done_cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&P.mu, NULL);
    pthread_mutex_init(&P.build_mu, NULL);
}

static struct timespec hs_pyroscope_abs(uint64_t mono_ns)
{
    struct timespec ts;
    ts.tv_sec = (time_t)(mono_ns / 1000000000ull);
    ts.tv_nsec = (long)(mono_ns % 1000000000ull);
    return ts;
}

bool hs_pyroscope_enabled(void)
{
    return __atomic_load_n(&P.enabled, __ATOMIC_ACQUIRE) != 0;
}

void hs_pyroscope_get_stats(hs_pyroscope_stats_t *st)
{
    if (!P.enabled && !P.cap) {
        memset(st, 0, sizeof *st);
        return;
    }
    pthread_mutex_lock(&P.mu);
    *st = P.st;
    pthread_mutex_unlock(&P.mu);
}

/* ---- the queue (mu held) ------------------------------------------------------------------ */

static void hs_pyroscope_pop(hs_upload_t *out)
{
    *out = P.ring[P.head];
    P.head = (P.head + 1) % P.cap;
    P.count--;
}

static void hs_pyroscope_drop_head(uint64_t *counter)
{
    hs_upload_t u;
    hs_pyroscope_pop(&u);
    free(u.body);
    (*counter)++;
}

/* Log a failed request once per kind (HTTP status or curl error). mu held. */
static void hs_pyroscope_report(const hs_pyroscope_result_t *res, hs_pyroscope_outcome_t out)
{
    int kind = hs_pyroscope_request_kind(res);
    for (size_t i = 0; i < P.nseen; i++)
        if (P.seen[i] == kind)
            return;
    if (P.nseen < HS_SEEN_KINDS)
        P.seen[P.nseen++] = kind;
    char what[HS_PYROSCOPE_MESSAGE_MAX + 160];
    hs_pyroscope_redact_describe(&P.target, res, what, sizeof what);
    hs_warn("upload to %s failed: %s (%s; further failures of this kind are not shown)",
            P.target.display_url, what,
            out != HS_PYROSCOPE_RETRY ? "not retried: the profile is dropped"
            : P.stop                  ? "the program is exiting: the profile is dropped"
                                      : "retrying with backoff");
}

/* ---- the delivery thread ------------------------------------------------------------------ */

static void hs_pyroscope_atexit(void);

/* libcurl and a client, on first use. Called without mu. */
static hs_err_t hs_pyroscope_connect(void)
{
    if (P.client)
        return HS_OK;
    char why[300];
    bool first = false;
    hs_err_t err = hs_curl_loader_load(NULL, &first, why, sizeof why);
    if (err == HS_OK && first && !P.atexit_registered) {
        /* After curl_global_init: runs before the TLS library's exit handler (LIFO). */
        if (atexit(hs_pyroscope_atexit) == 0)
            P.atexit_registered = 1;
    }
    hs_pyroscope_client_t *c = NULL;
    if (err == HS_OK)
        err = hs_pyroscope_request_client_new(&P.target, &c, why, sizeof why);
    /* Published for hs_pyroscope_final's abort, which reads it from another thread. */
    __atomic_store_n(&P.client, c, __ATOMIC_RELEASE);
    if (err != HS_OK)
        hs_warn_once(&P.warned_curl, "cannot upload to Pyroscope: %s; uploads are off", why);
    return err;
}

/* Send u; returns its outcome and fills res. Called without mu. */
static hs_pyroscope_outcome_t hs_pyroscope_send(const hs_upload_t *u, uint64_t deadline,
                                                hs_pyroscope_result_t *res)
{
    memset(res, 0, sizeof *res);
    if (hs_pyroscope_connect() != HS_OK) {
        __atomic_store_n(&P.enabled, 0, __ATOMIC_RELEASE);
        return HS_PYROSCOPE_FAIL;
    }
    uint64_t timeout = P.target.timeout_ns;
    if (deadline) {
        uint64_t now = hs_os_monotonic_ns();
        uint64_t left = deadline > now ? deadline - now : 1000000;
        if (left < timeout)
            timeout = left;
    }
    if (hs_pyroscope_request_post(P.client, u->body, u->len, u->from_s, u->until_s, timeout, res) !=
        HS_OK) {
        snprintf(res->curl_error, sizeof res->curl_error, "out of memory");
        res->curl_code = -1;
        return HS_PYROSCOPE_RETRY;
    }
    return hs_pyroscope_request_classify(res);
}

/* After a retryable failure: back to the head of the queue, or dropped. mu held. */
static void hs_pyroscope_requeue(hs_upload_t *u, const hs_pyroscope_result_t *res, uint64_t now)
{
    uint64_t base = hs_config.upload_interval_ns < HS_RETRY_BASE_MAX ? hs_config.upload_interval_ns
                                                                     : HS_RETRY_BASE_MAX;
    u->attempts++;
    P.st.retries++;
    u->next_try_ns = now + hs_pyroscope_request_backoff(base, u->attempts, res->retry_after_s,
                                                        hs_os_random_u64());
    if (u->next_try_ns - u->created_ns > HS_PYROSCOPE_LATE_NS) {
        free(u->body);
        P.st.dropped_late++;
        hs_warn_once(&P.warned_late,
                     "a profile could not be uploaded within an hour and was dropped "
                     "(further ones are counted, not shown)");
    } else if (P.count == P.cap) {
        free(u->body); /* it is the oldest */
        P.st.dropped_full++;
        hs_warn_once(&P.warned_full,
                     "upload queue full (the server is slow or unreachable): the oldest profile "
                     "was dropped (further drops are counted, not shown)");
    } else {
        P.head = (P.head + P.cap - 1) % P.cap;
        P.ring[P.head] = *u;
        P.count++;
    }
}

static void *hs_pyroscope_main(void *arg)
{
    (void)arg;
    hs_thread_t *t = hs_thread_get();
    hs_guard_enter(t); /* for life */
    pthread_setname_np(pthread_self(), "hs-upload");
    /* Load libcurl now, not when the first profile is due (and not first at exit). */
    if (hs_pyroscope_connect() != HS_OK)
        __atomic_store_n(&P.enabled, 0, __ATOMIC_RELEASE);

    pthread_mutex_lock(&P.mu);
    for (;;) {
        if (P.count == 0) {
            if (P.stop && P.finished)
                break;
            pthread_cond_wait(&P.cv, &P.mu);
            continue;
        }
        uint64_t now = hs_os_monotonic_ns();
        if (P.stop && now >= P.stop_deadline) {
            while (P.count)
                hs_pyroscope_drop_head(&P.st.dropped_exit);
            break;
        }
        hs_upload_t *h = &P.ring[P.head];
        if (now - h->created_ns > HS_PYROSCOPE_LATE_NS) {
            hs_pyroscope_drop_head(&P.st.dropped_late);
            hs_warn_once(&P.warned_late, "a profile could not be uploaded within an hour and "
                                         "was dropped (further ones are counted, not shown)");
            continue;
        }
        if (h->next_try_ns > now && !P.stop) { /* at exit: one last attempt, no backoff */
            struct timespec ts = hs_pyroscope_abs(h->next_try_ns);
            pthread_cond_clockwait(&P.cv, &P.mu, CLOCK_MONOTONIC, &ts);
            continue;
        }
        hs_upload_t u;
        hs_pyroscope_pop(&u);
        uint64_t deadline = P.stop ? P.stop_deadline : 0;
        pthread_mutex_unlock(&P.mu);

        hs_pyroscope_result_t res;
        hs_pyroscope_outcome_t out = hs_pyroscope_send(&u, deadline, &res);

        pthread_mutex_lock(&P.mu);
        switch (out) {
        case HS_PYROSCOPE_SENT:
            P.st.sent++;
            free(u.body);
            hs_debug(2, "uploaded %zu bytes to %s (HTTP %ld)", u.len, P.target.display_url,
                     res.status);
            break;
        case HS_PYROSCOPE_FAIL:
            P.st.rejected++;
            free(u.body);
            if (res.curl_code || res.status)
                hs_pyroscope_report(&res, out);
            if (!hs_pyroscope_enabled()) /* libcurl missing: nothing can be sent */
                while (P.count)
                    hs_pyroscope_drop_head(&P.st.rejected);
            break;
        case HS_PYROSCOPE_RETRY:
            hs_pyroscope_report(&res, out);
            if (P.stop) { /* exiting: no time for backoff */
                free(u.body);
                P.st.dropped_exit++;
            } else {
                hs_pyroscope_requeue(&u, &res, hs_os_monotonic_ns());
            }
            break;
        }
        pthread_cond_broadcast(&P.done_cv);
    }
    P.thread_state = 2;
    pthread_cond_broadcast(&P.done_cv);
    pthread_mutex_unlock(&P.mu);
    return NULL;
}

/* Start the delivery thread with every signal blocked. mu held. */
static void hs_pyroscope_start_thread(void)
{
    int rc = hs_os_thread_start(&P.tid, HS_UPLOAD_STACK, true, hs_pyroscope_main, NULL);
    if (rc != 0) {
        P.thread_state = -1;
        __atomic_store_n(&P.enabled, 0, __ATOMIC_RELEASE);
        hs_warn_once(&P.warned_thread, "cannot start the upload thread (%s); uploads are off",
                     strerror(rc));
        return;
    }
    P.thread_state = 1;
}

/* ---- building ----------------------------------------------------------------------------- */

typedef struct hs_pyroscope_build {
    const hs_snapshot_delta_t *base;
    hs_snapshot_delta_t *next;
    size_t nonzero;
    uint64_t from_ns, until_ns;
} hs_pyroscope_build_t;

static hs_err_t hs_pyroscope_transform(hs_snapshot_t *snap, void *arg)
{
    hs_pyroscope_build_t *b = arg;
    hs_err_t err = hs_snapshot_delta_apply(b->base, snap, &b->next, &b->nonzero);
    if (err == HS_OK)
        err = hs_label_budget_apply(snap, (uint32_t)hs_config.upload_label_sets, NULL);
    b->until_ns = snap->time_ns;
    /* duration_nanos becomes the window of the increments. */
    snap->start_ns = b->from_ns < snap->time_ns ? b->from_ns : snap->time_ns;
    return err;
}

/* The uncompressed profile made to fit the server's limits (*pb replaced when folded). */
static hs_err_t hs_pyroscope_fit(uint8_t **pb, size_t *len, size_t nonzero)
{
    if (nonzero <= HS_PYROSCOPE_MAX_SAMPLES && *len <= HS_PYROSCOPE_MAX_BYTES)
        return HS_OK;
    hs_pprof_t p;
    char why[160];
    hs_err_t err = hs_pprof_decode(*pb, *len, &p, why, sizeof why);
    if (err != HS_OK)
        return err;
    uint8_t *out;
    size_t out_len, folded = 0;
    err = hs_profile_fold_pack(&p, HS_PYROSCOPE_MAX_SAMPLES, HS_PYROSCOPE_MAX_BYTES, &out, &out_len,
                               &folded);
    hs_pprof_free(&p);
    if (err != HS_OK)
        return err;
    hs_debug(2, "upload: %zu of %zu stacks folded into " HS_PROFILE_FOLD_FRAME, folded, nonzero);
    free(*pb);
    *pb = out;
    *len = out_len;
    return HS_OK;
}

/* Queue a built upload (takes body). */
static void hs_pyroscope_enqueue(uint8_t *body, size_t len, uint64_t from_ns, uint64_t until_ns)
{
    hs_upload_t u = {
        .body = body,
        .len = len,
        .from_s = from_ns / 1000000000ull,
        .until_s = until_ns / 1000000000ull,
        .created_ns = hs_os_monotonic_ns(),
    };
    u.next_try_ns = u.created_ns;
    pthread_mutex_lock(&P.mu);
    if (P.finished || !hs_pyroscope_enabled()) {
        pthread_mutex_unlock(&P.mu);
        free(body);
        return;
    }
    if (P.count == P.cap) {
        hs_pyroscope_drop_head(&P.st.dropped_full);
        hs_warn_once(&P.warned_full,
                     "upload queue full (the server is slow or unreachable): the oldest profile "
                     "was dropped (further drops are counted, not shown)");
    }
    P.ring[(P.head + P.count) % P.cap] = u;
    P.count++;
    P.st.built++;
    if (P.thread_state == 0)
        hs_pyroscope_start_thread();
    pthread_cond_signal(&P.cv);
    pthread_mutex_unlock(&P.mu);
}

static void hs_pyroscope_build(void)
{
    pthread_mutex_lock(&P.build_mu);
    hs_pyroscope_build_t b = {.base = P.base, .from_ns = P.from_ns};
    uint8_t *pb = NULL, *gz = NULL;
    size_t len = 0, gz_len = 0;
    hs_err_t err =
        hs_dump_encode_with(HS_DUMP_UPLOAD, hs_pyroscope_transform, &b, &P.policy, &pb, &len);
    if (err == HS_OK && b.nonzero == 0)
        goto commit; /* nothing allocated, nothing live: nothing to say */
    if (err == HS_OK)
        err = hs_pyroscope_fit(&pb, &len, b.nonzero);
    if (err == HS_OK)
        err = hs_compress(HS_COMPRESSION_GZIP, pb, len, &gz, &gz_len);
    if (err != HS_OK) {
        free(pb);
        hs_snapshot_delta_free(b.next);
        pthread_mutex_unlock(&P.build_mu);
        if (err == HS_ERR_STATE)
            return; /* the profiler is off or stopped */
        pthread_mutex_lock(&P.mu);
        P.st.build_failed++;
        pthread_mutex_unlock(&P.mu);
        hs_warn_once(&P.warned_build,
                     "cannot build a profile to upload: %s (its allocations go into the next "
                     "one; further errors are not shown)",
                     hs_err_str(err));
        return;
    }
commit:
    free(pb);
    hs_snapshot_delta_free(P.base);
    P.base = b.next;
    P.from_ns = b.until_ns;
    pthread_mutex_unlock(&P.build_mu);
    if (gz)
        hs_pyroscope_enqueue(gz, gz_len, b.from_ns, b.until_ns);
}

void hs_pyroscope_collect(void)
{
    if (!hs_pyroscope_enabled())
        return;
    pthread_mutex_lock(&P.mu);
    int finished = P.finished;
    pthread_mutex_unlock(&P.mu);
    if (!finished)
        hs_pyroscope_build();
}

hs_err_t hs_pyroscope_export(void *arg, hs_writer_event_t event, const char *path)
{
    (void)arg;
    (void)path;
    if (event == HS_WRITER_INTERVAL)
        hs_pyroscope_collect();
    else if (event == HS_WRITER_EXIT)
        hs_pyroscope_final(); /* unless its atexit handler did it already */
    return HS_OK;
}

/* ---- life cycle --------------------------------------------------------------------------- */

/* The labels rows may carry: none named like a tag, and room for the tags in 30 names. */
static void hs_pyroscope_label_policy(void)
{
    hs_pyroscope_check_label_room(hs_config.tags, &P.room);
    P.policy.drop = P.room.drop_ptrs;
    P.policy.ndrop = P.room.ndrop;
    P.policy.max = hs_config.upload_label_sets ? (uint32_t)P.room.names : 0;
    P.policy.limit = "Pyroscope accepts (30 label names per series, the upload's tags and 4 of "
                     "its own included)";
}

void hs_pyroscope_start(uint64_t start_ns, bool (*profiling)(void))
{
    P.profiling = profiling;
    if (!hs_config.pyroscope_url[0])
        return;
    hs_pyroscope_init_primitives();
    char why[512];
    if (hs_pyroscope_request_target_init(&P.target, &hs_config, NULL, why, sizeof why) != HS_OK) {
        hs_log("not uploading to Pyroscope: %s", why);
        return;
    }
    P.cap = hs_config.upload_queue;
    P.ring = calloc(P.cap, sizeof *P.ring);
    if (!P.ring) {
        hs_log("not uploading to Pyroscope: out of memory");
        hs_pyroscope_request_target_free(&P.target);
        return;
    }
    P.from_ns = start_ns ? start_ns : hs_os_wall_ns();
    hs_pyroscope_label_policy();
    __atomic_store_n(&P.enabled, 1, __ATOMIC_RELEASE);
    char every[32];
    const hs_option_t *opt = hs_config_find("UPLOAD_INTERVAL");
    hs_config_format(&hs_config, opt, every, sizeof every);
    hs_debug(1, "uploading to %s/ingest every %s as %s", P.target.display_url, every, P.target.app);
    pthread_mutex_lock(&P.mu);
    hs_pyroscope_start_thread();
    pthread_mutex_unlock(&P.mu);
}

static void hs_pyroscope_summary(void)
{
    hs_pyroscope_stats_t s;
    hs_pyroscope_get_stats(&s);
    uint64_t dropped = s.dropped_full + s.dropped_late + s.dropped_exit;
    if (!dropped && !s.rejected && !s.build_failed && !hs_log_verbosity())
        return;
    hs_log("pyroscope: %llu profiles uploaded (%llu retries), %llu rejected, %llu dropped "
           "(%llu queue full, %llu over an hour late, %llu at exit), %llu not built",
           (unsigned long long)s.sent, (unsigned long long)s.retries,
           (unsigned long long)s.rejected, (unsigned long long)dropped,
           (unsigned long long)s.dropped_full, (unsigned long long)s.dropped_late,
           (unsigned long long)s.dropped_exit, (unsigned long long)s.build_failed);
}

void hs_pyroscope_final(void)
{
    if (!P.cap)
        return; /* never configured */
    pthread_mutex_lock(&P.mu);
    int already = P.final_started;
    P.final_started = 1;
    /* Exit semantics from here on, before the last upload is even built: the delivery thread
     * must not treat it (or an earlier one failing now) as something to retry later, nor end
     * before it is queued (it waits for `finished`). The deadline starts once it is built. */
    if (!already) {
        P.stop = 1;
        P.stop_deadline = UINT64_MAX;
    }
    pthread_mutex_unlock(&P.mu);
    if (already)
        return;
    if (hs_pyroscope_enabled())
        hs_pyroscope_build();

    pthread_mutex_lock(&P.mu);
    P.finished = 1;
    uint64_t deadline = hs_os_monotonic_ns() + hs_config.upload_timeout_ns;
    P.stop_deadline = deadline;
    if (P.thread_state == 0 && P.count)
        hs_pyroscope_start_thread();
    pthread_cond_broadcast(&P.cv);
    while (P.thread_state == 1 && hs_os_monotonic_ns() < deadline) {
        struct timespec ts = hs_pyroscope_abs(deadline);
        pthread_cond_clockwait(&P.done_cv, &P.mu, CLOCK_MONOTONIC, &ts);
    }
    if (P.thread_state == 1) {
        /* A request is still in flight: make libcurl give up, and let it leave. */
        hs_pyroscope_request_abort(__atomic_load_n(&P.client, __ATOMIC_ACQUIRE));
        uint64_t grace = hs_os_monotonic_ns() + HS_ABORT_GRACE_NS;
        while (P.thread_state == 1 && hs_os_monotonic_ns() < grace) {
            struct timespec ts = hs_pyroscope_abs(grace);
            pthread_cond_clockwait(&P.done_cv, &P.mu, CLOCK_MONOTONIC, &ts);
        }
    }
    pthread_mutex_unlock(&P.mu);
    hs_pyroscope_summary();
}

static void hs_pyroscope_atexit(void)
{
    hs_thread_t *t = hs_thread_get();
    hs_guard_enter(t);
    if (!P.profiling || P.profiling())
        hs_pyroscope_final();
    hs_guard_exit(t);
}

void hs_pyroscope_prefork(void)
{
    /* Nothing to take: see pyroscope.h. */
}

void hs_pyroscope_postfork_parent(void) {}

void hs_pyroscope_postfork_child(void)
{
    if (!hs_pyroscope_enabled())
        return;
    hs_pyroscope_init_primitives();
    /* The parent's queue, client and baseline are abandoned, never freed (see above). */
    P.ring = calloc(P.cap, sizeof *P.ring);
    P.head = P.count = 0;
    P.thread_state = 0;
    P.stop = P.finished = P.final_started = 0;
    P.client = NULL;
    memset(&P.st, 0, sizeof P.st);
    P.nseen = 0;
    P.base = NULL;
    hs_snapshot_t snap;
    hs_err_t err = P.ring ? hs_dump_snapshot(&snap) : HS_ERR_NOMEM;
    if (err == HS_OK) {
        err = hs_snapshot_delta_base(&snap, &P.base);
        P.from_ns = snap.time_ns;
        hs_snapshot_free(&snap);
    }
    if (err != HS_OK) {
        /* Without a baseline the child would upload its parent's allocations again. */
        __atomic_store_n(&P.enabled, 0, __ATOMIC_RELEASE);
        hs_log("pid %d: not uploading to Pyroscope: %s", (int)getpid(), hs_err_str(err));
    }
}
