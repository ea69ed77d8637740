/*
 * writer_thread.c - the background thread that runs the exporters (see writer_thread.h).
 *
 * Wake-ups go through one semaphore: sem_post is async-signal-safe, so the dump signal's handler
 * can use it directly. Requests are flags and sequence numbers under `mu`; the thread waits
 * with a CLOCK_MONOTONIC deadline for the next periodic export, or the watch's next look.
 *
 * The watch (memwatch.h) may also ask the thread to wait on descriptors (the kernel's memory
 * notifications). A semaphore cannot be polled with them, and the thread owns no descriptor of
 * its own for wake-ups on purpose: a program that closes descriptors it did not open (a daemon
 * closing everything above 2) would have the signal handler write into whatever file took its
 * number. So it polls the watch's descriptors in slices of HS_WRITER_POLL_SLICE_NS and takes a
 * post after each: a request waits at most a slice, and only while the watch is looking
 * closely (near the memory limit), when it asks for looks that often anyway.
 *
 * The thread blocks every signal: the program's signals are delivered to its own threads, and
 * SIGXFSZ (file size limit) turns into EFBIG from write(2) instead of killing the process.
 * It holds the reentrancy guard for its whole life: its allocations are never sampled.
 *
 * Start (see writer_thread.h for when): start_mu serialises starting the thread with stopping
 * it. start_at (monotonic ns, atomic) is 0 when no lazy start is pending, else the time from
 * which the thread is due even in a single-threaded program. The allocation slow path calls
 * hs_writer_nudge, which only trylocks start_mu, so an allocating thread never waits here;
 * pthread_create then runs under the caller's guard (its allocations are not sampled) with no
 * profiler lock held but start_mu, which nothing else takes while allocating. The loader locks
 * pthread_create takes for the new thread's TLS are recursive and come after dl_load_lock in
 * glibc's own order, so a malloc inside dlopen may start the thread. (A malloc in a signal
 * handler that interrupted pthread_create could deadlock here, as it can in malloc itself.)
 * Periodic exports keep the schedule of the start of profiling (epoch_ns + k * period): a thread
 * that starts late runs its first periodic export at once. An export that takes longer than its
 * period is not caught up: the next one is a period after it ended.
 *
 * Fork: the thread does not exist in the child; hs_writer_postfork_child re-initialises every
 * primitive (the parent's state may have been mid-update) and arms the start again, like init
 * (a new thread at once if the profiler asked for it at init). Requests pending in the parent
 * are not carried over (their callers are threads of the parent). The exporters stay
 * registered; each handles its own fork, before this file does (fork.c).
 *
 * Exporters: the profile files (dump.c) and Pyroscope uploads (pyroscope.c), registered by the
 * profiler; this file calls them only through the table it was given.
 */
#include "writer_thread.h"

#include <errno.h>
#include <sched.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <string.h>
#include <sys/single_threaded.h>
#include <time.h>

#include "guard.h"
#include "log.h"
#include "os.h"

#define HS_WRITER_STACK       (2u << 20)
#define HS_API_WAIT_SECONDS   60
#define HS_FINAL_WAIT_SECONDS 30

static struct {
    pthread_t tid;
    int running;
    sem_t wake;
    pthread_mutex_t mu;     /* guards the fields below */
    pthread_cond_t cv;      /* done_seq advanced */
    pthread_mutex_t api_mu; /* one API request in flight at a time */
    uint64_t req_seq, done_seq;
    const char *req_path;
    hs_err_t result;
    int stop, final;
    int signal_pending; /* set by the signal handler (atomic) */
    int growth_pending; /* set by the sampler: in-use memory reached a new step (atomic) */
    uint64_t term_req;  /* SIGTERM handlers' requests (atomic) */
    uint64_t term_done; /* the last of them served (atomic) */
} W;

static hs_writer_exporter_t exporters[HS_WRITER_EXPORTERS_MAX];
static size_t nexporters;
static hs_writer_watch_t watch; /* look == NULL: none */

static pthread_mutex_t start_mu = PTHREAD_MUTEX_INITIALIZER;
static uint64_t start_at; /* atomic; see the file comment */
static uint64_t epoch_ns; /* the periodic schedule starts here */
static int configured;    /* hs_writer_start ran: the child of a fork arms the start too */
static int start_now;     /* start at init rather than when needed */
static int stopped;       /* under start_mu: the final dump is under way, never start again */
static int warned_start;

static void init_primitives(void)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&W.cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&W.mu, NULL);
    pthread_mutex_init(&W.api_mu, NULL);
    sem_init(&W.wake, 0, 0);
}

static struct timespec deadline_in(clockid_t clock, uint64_t ns_from_now)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    uint64_t t = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec + ns_from_now;
    ts.tv_sec = (time_t)(t / 1000000000ull);
    ts.tv_nsec = (long)(t % 1000000000ull);
    return ts;
}

/* Every exporter's step for event; the first error is the result (each reports its own). */
static hs_err_t run_exporters(hs_writer_event_t event, const char *path)
{
    hs_err_t result = HS_OK;
    for (size_t i = 0; i < nexporters; i++) {
        hs_err_t err = exporters[i].run(exporters[i].arg, event, path);
        if (result == HS_OK)
            result = err;
    }
    return result;
}

/* The earliest non-zero deadline of next[], or 0 when there is none. */
static uint64_t earliest(const uint64_t *next)
{
    uint64_t wake = 0;
    for (size_t i = 0; i < nexporters; i++)
        if (next[i] && (!wake || next[i] < wake))
            wake = next[i];
    return wake;
}

/* The periodic exports that are due, each rescheduled a period after it ended at the latest. */
static void run_periodic(uint64_t *next)
{
    for (size_t i = 0; i < nexporters; i++) {
        if (!next[i] || hs_os_monotonic_ns() < next[i])
            continue;
        (void)exporters[i].run(exporters[i].arg, HS_WRITER_INTERVAL, NULL);
        uint64_t now = hs_os_monotonic_ns();
        next[i] += exporters[i].period_ns;
        if (next[i] <= now) /* it took longer than its period: do not catch up */
            next[i] = now + exporters[i].period_ns;
    }
}

/*
 * The thread's scheduling (Linux: per thread). Normally SCHED_BATCH: a dump that wakes up
 * does not preempt the program's threads, it waits for its turn. When the watch says it is
 * urgent (the memory limit is close, and the profile must be written before the OOM killer
 * comes), SCHED_OTHER, as the program's own threads. An unprivileged thread may switch between
 * the two at the same nice value, both ways; a lower priority by nice value could never be
 * taken back.
 */
static void set_urgent(bool urgent)
{
    static __thread int current = -1;
    if (current == (int)urgent)
        return;
    struct sched_param sp = {.sched_priority = 0};
    int saved = errno;
    if (pthread_setschedparam(pthread_self(), urgent ? SCHED_OTHER : SCHED_BATCH, &sp) == 0)
        current = (int)urgent;
    errno = saved;
}

/* The watch's look, or nothing to look at. */
static unsigned look(hs_writer_wait_t *wait)
{
    wait->deadline_ns = 0;
    wait->nfds = 0;
    wait->urgent = false;
    unsigned due = watch.look ? watch.look(watch.arg, wait) : 0;
    set_urgent(wait->urgent);
    return due;
}

/* The exporters' steps for the events a look found due, in the order of the enum. */
static void run_due(unsigned due)
{
    for (unsigned e = 0; due && e <= HS_WRITER_EXIT; e++) {
        if (due & HS_WRITER_BIT(e)) {
            due &= ~HS_WRITER_BIT(e);
            (void)run_exporters((hs_writer_event_t)e, NULL);
        }
    }
}

/*
 * Sleep until wake (monotonic ns; 0: until posted) or a post, or, when the watch gave
 * descriptors, until one of them is ready or a slice has passed (see the file comment).
 * Returns sem_*wait's result (-1 with errno EINTR: go round again).
 */
static int sleep_until(uint64_t wake, hs_writer_wait_t *wait)
{
    uint64_t now = hs_os_monotonic_ns();
    if (wait->nfds == 0) {
        if (!wake)
            return sem_wait(&W.wake);
        struct timespec ts = deadline_in(CLOCK_MONOTONIC, wake > now ? wake - now : 0);
        return sem_clockwait(&W.wake, CLOCK_MONOTONIC, &ts);
    }
    uint64_t until = now + HS_WRITER_POLL_SLICE_NS;
    if (wake && wake < until)
        until = wake;
    uint64_t left = until > now ? until - now : 0;
    struct timespec ts = {(time_t)(left / 1000000000ull), (long)(left % 1000000000ull)};
    for (nfds_t i = 0; i < wait->nfds; i++)
        wait->fds[i].revents = 0;
    int saved = errno;
    (void)ppoll(wait->fds, wait->nfds, &ts, NULL); /* every signal is blocked here anyway */
    errno = saved;
    (void)sem_trywait(&W.wake); /* a request made meanwhile: served below */
    return 0;
}

static void serve_term_request(void)
{
    uint64_t req = __atomic_load_n(&W.term_req, __ATOMIC_ACQUIRE);
    if (req == __atomic_load_n(&W.term_done, __ATOMIC_RELAXED))
        return;
    (void)run_exporters(HS_WRITER_TERM, NULL);
    __atomic_store_n(&W.term_done, req, __ATOMIC_RELEASE);
}

static void serve_api_request(void)
{
    pthread_mutex_lock(&W.mu);
    if (W.req_seq == W.done_seq) {
        pthread_mutex_unlock(&W.mu);
        return;
    }
    uint64_t seq = W.req_seq;
    const char *path = W.req_path;
    pthread_mutex_unlock(&W.mu);

    hs_err_t err = run_exporters(HS_WRITER_API, path);

    pthread_mutex_lock(&W.mu);
    W.result = err;
    W.done_seq = seq;
    pthread_cond_broadcast(&W.cv);
    pthread_mutex_unlock(&W.mu);
}

static void *writer_main(void *arg)
{
    (void)arg;
    hs_thread_t *t = hs_thread_get();
    hs_guard_enter(t); /* for life */
    set_urgent(false);

    uint64_t next[HS_WRITER_EXPORTERS_MAX];
    for (size_t i = 0; i < nexporters; i++)
        next[i] = exporters[i].period_ns ? epoch_ns + exporters[i].period_ns : 0;
    hs_writer_wait_t wait;
    run_due(look(&wait));
    for (;;) {
        uint64_t wake = earliest(next);
        if (wait.deadline_ns && (!wake || wait.deadline_ns < wake))
            wake = wait.deadline_ns;
        if (sleep_until(wake, &wait) != 0 && errno == EINTR)
            continue;

        pthread_mutex_lock(&W.mu);
        int stop = W.stop;
        pthread_mutex_unlock(&W.mu);
        if (stop)
            break;
        serve_term_request(); /* first: the process ends as soon as it is done */
        if (__atomic_exchange_n(&W.signal_pending, 0, __ATOMIC_ACQ_REL))
            (void)run_exporters(HS_WRITER_SIGNAL, NULL);
        if (__atomic_exchange_n(&W.growth_pending, 0, __ATOMIC_ACQ_REL))
            (void)run_exporters(HS_WRITER_GROWTH, NULL);
        run_due(look(&wait));
        serve_api_request();
        run_periodic(next);
    }

    pthread_mutex_lock(&W.mu);
    int final = W.final;
    pthread_mutex_unlock(&W.mu);
    if (final)
        (void)run_exporters(HS_WRITER_EXIT, NULL);

    /* Fail whatever API request is still waiting. */
    pthread_mutex_lock(&W.mu);
    if (W.done_seq != W.req_seq) {
        W.result = HS_ERR_STATE;
        W.done_seq = W.req_seq;
    }
    pthread_cond_broadcast(&W.cv);
    pthread_mutex_unlock(&W.mu);
    return NULL;
}

/* Called with start_mu held (or single-threaded, at init and in a forked child). */
static hs_err_t start_thread(void)
{
    int rc = hs_os_thread_start(&W.tid, HS_WRITER_STACK, false, writer_main, NULL);
    /* Named by its creator, so that it carries its name as soon as it is seen. */
    if (rc == 0)
        pthread_setname_np(W.tid, "heapsampler");
    if (rc != 0) {
        hs_warn_once(&warned_start,
                     "cannot start the writer thread (%s); profiles are written only at exit",
                     strerror(rc));
        return HS_ERR_STATE;
    }
    __atomic_store_n(&W.running, 1, __ATOMIC_RELEASE);
    return HS_OK;
}

/* Start now, or arm the lazy start. Single-threaded (init, forked child). */
static hs_err_t arm(void)
{
    epoch_ns = hs_os_monotonic_ns();
    if (start_now)
        return start_thread();
    /* With no periodic export, only an API request needs the thread (it starts it itself), or
     * the watch when it pokes (a program with threads of its own gets it at once). */
    uint64_t first = 0;
    for (size_t i = 0; i < nexporters; i++)
        if (exporters[i].period_ns && (!first || exporters[i].period_ns < first))
            first = exporters[i].period_ns;
    uint64_t at = first ? epoch_ns + first : watch.look ? UINT64_MAX : 0;
    __atomic_store_n(&start_at, at, __ATOMIC_RELEASE);
    return HS_OK;
}

hs_err_t hs_writer_start(const hs_writer_exporter_t *exp, size_t n, int now,
                         const hs_writer_watch_t *w)
{
    if (n > HS_WRITER_EXPORTERS_MAX)
        return HS_ERR_INVALID;
    if (n)
        memcpy(exporters, exp, n * sizeof *exp);
    nexporters = n;
    watch = w ? *w : (hs_writer_watch_t){0};
    memset(&W, 0, sizeof W);
    init_primitives();
    configured = 1;
    start_now = now;
    stopped = 0;
    return arm();
}

void hs_writer_nudge(void)
{
    uint64_t at = __atomic_load_n(&start_at, __ATOMIC_RELAXED);
    if (HS_LIKELY(at == 0))
        return;
    /* A program with threads of its own pays for glibc's multi-threaded paths already. */
    if (__libc_single_threaded && hs_os_monotonic_ns() < at)
        return;
    if (pthread_mutex_trylock(&start_mu) != 0)
        return; /* another thread is starting it, or the final dump is being set up */
    if (__atomic_load_n(&start_at, __ATOMIC_RELAXED) != 0 && !stopped) {
        __atomic_store_n(&start_at, 0, __ATOMIC_RELAXED);
        hs_thread_t *t = hs_thread_get();
        hs_guard_enter(t); /* pthread_create allocates: not a sample */
        (void)start_thread();
        hs_guard_exit(t);
    }
    pthread_mutex_unlock(&start_mu);
}

int hs_writer_running(void)
{
    return __atomic_load_n(&W.running, __ATOMIC_ACQUIRE);
}

/* The API needs the thread now. Returns 1 if it runs. */
static int ensure_running(void)
{
    if (hs_writer_running())
        return 1;
    pthread_mutex_lock(&start_mu);
    if (!W.running && !stopped) {
        __atomic_store_n(&start_at, 0, __ATOMIC_RELAXED);
        (void)start_thread();
    }
    int running = W.running;
    pthread_mutex_unlock(&start_mu);
    return running;
}

hs_err_t hs_writer_dump_sync(const char *path)
{
    if (!configured || !ensure_running())
        return HS_ERR_STATE;
    hs_err_t err = HS_OK;
    pthread_mutex_lock(&W.api_mu);
    pthread_mutex_lock(&W.mu);
    if (W.stop) {
        pthread_mutex_unlock(&W.mu);
        pthread_mutex_unlock(&W.api_mu);
        return HS_ERR_STATE;
    }
    uint64_t my = ++W.req_seq;
    W.req_path = path;
    pthread_mutex_unlock(&W.mu);
    sem_post(&W.wake);

    struct timespec ts = deadline_in(CLOCK_MONOTONIC, HS_API_WAIT_SECONDS * 1000000000ull);
    pthread_mutex_lock(&W.mu);
    while (W.done_seq < my) {
        if (pthread_cond_timedwait(&W.cv, &W.mu, &ts) == ETIMEDOUT) {
            err = HS_ERR_TIMEOUT;
            break;
        }
    }
    if (err == HS_OK)
        err = W.result;
    W.req_path = NULL;
    pthread_mutex_unlock(&W.mu);
    pthread_mutex_unlock(&W.api_mu);
    return err;
}

void hs_writer_poke_from_signal(void)
{
    int saved = errno;
    __atomic_store_n(&W.signal_pending, 1, __ATOMIC_RELEASE);
    if (hs_writer_running())
        sem_post(&W.wake);
    errno = saved;
}

/* Wake the thread, starting it first if it does not run yet (never blocks). */
static void poke(void)
{
    if (!hs_writer_running()) {
        /* Due now whatever the thread count: make the lazy start happen at this nudge. */
        uint64_t at = __atomic_load_n(&start_at, __ATOMIC_RELAXED);
        if (at > 1)
            __atomic_compare_exchange_n(&start_at, &at, 1, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
        hs_writer_nudge();
    }
    if (hs_writer_running())
        sem_post(&W.wake);
}

void hs_writer_poke_growth(void)
{
    __atomic_store_n(&W.growth_pending, 1, __ATOMIC_RELEASE);
    poke();
}

void hs_writer_poke_watch(void)
{
    poke(); /* the watch looks after every wake-up */
}

int hs_writer_term_from_signal(unsigned timeout_ms)
{
    int saved = errno, done = 0;
    if (hs_writer_running()) {
        uint64_t my = __atomic_add_fetch(&W.term_req, 1, __ATOMIC_ACQ_REL);
        sem_post(&W.wake);
        static const struct timespec slice = {0, 5 * 1000000L};
        for (unsigned waited = 0; !done && waited <= timeout_ms; waited += 5) {
            done = __atomic_load_n(&W.term_done, __ATOMIC_ACQUIRE) >= my;
            if (!done)
                (void)nanosleep(&slice, NULL);
        }
    }
    errno = saved;
    return done;
}

void hs_writer_stop_final(void)
{
    pthread_mutex_lock(&start_mu);
    stopped = 1;
    __atomic_store_n(&start_at, 0, __ATOMIC_RELAXED);
    int running = W.running;
    pthread_mutex_unlock(&start_mu);
    if (!running) {
        /* No thread (never needed, or it could not start): the exit step runs from here. */
        (void)run_exporters(HS_WRITER_EXIT, NULL);
        return;
    }
    pthread_mutex_lock(&W.mu);
    W.stop = 1;
    W.final = 1;
    pthread_mutex_unlock(&W.mu);
    sem_post(&W.wake);

    struct timespec ts = deadline_in(CLOCK_REALTIME, HS_FINAL_WAIT_SECONDS * 1000000000ull);
    int rc = pthread_timedjoin_np(W.tid, NULL, &ts);
    if (rc == ETIMEDOUT)
        hs_log("the final profile took more than %d s; exiting without waiting for it",
               HS_FINAL_WAIT_SECONDS);
    __atomic_store_n(&W.running, 0, __ATOMIC_RELEASE);
}

void hs_writer_prefork(void)
{
    /* Nothing to take: see writer_thread.h. */
}

void hs_writer_postfork_parent(void) {}

void hs_writer_postfork_child(void)
{
    memset(&W, 0, sizeof W);
    init_primitives();
    pthread_mutex_init(&start_mu, NULL); /* a parent thread may have held it */
    __atomic_store_n(&start_at, 0, __ATOMIC_RELAXED);
    if (configured && !stopped)
        (void)arm();
}
