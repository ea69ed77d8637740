/*
 * signals.c - signals arriving while the program allocates.
 *
 *   signals prof THREADS ITERATIONS
 *     a SIGPROF storm (ITIMER_PROF, and a thread that sends SIGPROF to the workers back to back)
 *     plus per-thread SIGALRM CPU timers, while THREADS threads allocate, reallocate and free
 *     ITERATIONS times each (at a tiny rate: inside the profiler's slow path most of the time).
 *     The handler mallocs, reallocs, callocs and frees. Run it with tests/torture/libs/sigsafe
 * beneath the allocator hooks, so that a handler never interrupts glibc's own (non-reentrant)
 * allocator. signals dump SIGNAL BURSTS PER_BURST while threads allocate, sends itself SIGNAL (the
 * profiler's dump signal) in BURSTS bursts of PER_BURST, with kill, pthread_kill and sigqueue, the
 * last burst racing the program's exit. Without the profiler the program installs its own empty
 * handler, so that the baseline run survives the same signals.
 *
 * stdout depends only on the arguments; handler counts go to stderr.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>

#include "torture.h"

#ifndef SIGEV_THREAD_ID
#define SIGEV_THREAD_ID 4
#endif
#define sigev_notify_thread_id _sigev_un._tid

static volatile int stop;
static long handled;

__attribute__((noinline)) void *handler_site(size_t n)
{
    return malloc(n);
}

static int fork_in_handler;
static long forks, forks_ok;

static void allocating_handler(int sig)
{
    int saved = errno;
    if (fork_in_handler && sig == SIGPROF &&
        __atomic_add_fetch(&handled, 1, __ATOMIC_RELAXED) % 16 == 0) {
        pid_t pid = fork();
        if (pid == 0) {
            free(handler_site(100));
            _exit(7);
        }
        int st;
        if (pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 7)
            __atomic_add_fetch(&forks_ok, 1, __ATOMIC_RELAXED);
        __atomic_add_fetch(&forks, 1, __ATOMIC_RELAXED);
    }
    char *p = handler_site(16 + (size_t)sig);
    CHECK(p);
    memset(p, sig, 16);
    char *q = realloc(p, 4000);
    CHECK(q && q[15] == (char)sig);
    free(q);
    free(calloc(3, 7));
    __atomic_add_fetch(&handled, 1, __ATOMIC_RELAXED);
    errno = saved;
}

__attribute__((noinline)) void *busy_site(size_t n)
{
    return malloc(n);
}

static long iterations;

static void block_storm_signals(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPROF);
    sigaddset(&set, SIGALRM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
}

static void *busy(void *arg)
{
    uint64_t rng = (uint64_t)(uintptr_t)arg;
    timer_t timer;
    struct sigevent sev;
    memset(&sev, 0, sizeof sev);
    sev.sigev_notify = SIGEV_THREAD_ID;
    sev.sigev_signo = SIGALRM;
    sev.sigev_notify_thread_id = (pid_t)gettid();
    CHECK(timer_create(CLOCK_THREAD_CPUTIME_ID, &sev, &timer) == 0);
    struct itimerspec its = {{0, 150000}, {0, 150000}};
    CHECK(timer_settime(timer, 0, &its, NULL) == 0);
    void *keep[8] = {0};
    for (long i = 0; i < iterations; i++) {
        unsigned k = (unsigned)(t_rand(&rng) & 7);
        size_t n = 1 + t_rand(&rng) % 3000;
        if (keep[k] && (i & 1)) {
            keep[k] = realloc(keep[k], n);
        } else {
            free(keep[k]);
            keep[k] = busy_site(n);
        }
        CHECK(keep[k]);
        memset(keep[k], 1, n);
    }
    timer_delete(timer);
    for (int k = 0; k < 8; k++)
        free(keep[k]);
    /* Thread exit frees glibc's thread cache with its internal free, which the shim cannot
     * guard: no more handlers on this thread from here. */
    block_storm_signals();
    return NULL;
}

static pthread_t workers[32];
static long nworkers;

static void *storm(void *arg)
{
    (void)arg;
    for (unsigned long i = 0; !__atomic_load_n(&stop, __ATOMIC_RELAXED); i++) {
        pthread_kill(workers[i % (unsigned long)nworkers], SIGPROF);
        if (i % 4 == 0)
            sched_yield();
    }
    return NULL;
}

static int prof(long threads, long iters)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = allocating_handler;
    sa.sa_flags = SA_RESTART;
    /* A handler that forks must not be interrupted by another one: glibc's fork holds every
     * malloc arena lock around the system call, whatever runs beneath the hooks. */
    if (fork_in_handler)
        sigfillset(&sa.sa_mask);
    else
        sigemptyset(&sa.sa_mask);
    CHECK(sigaction(SIGPROF, &sa, NULL) == 0);
    CHECK(sigaction(SIGALRM, &sa, NULL) == 0);
    struct itimerval it = {{0, 100}, {0, 100}};
    CHECK(setitimer(ITIMER_PROF, &it, NULL) == 0);
    iterations = iters;
    CHECK(threads >= 1 && threads <= 32);
    nworkers = threads;
    for (long i = 0; i < threads; i++)
        CHECK(pthread_create(&workers[i], NULL, busy, (void *)(uintptr_t)(i + 1)) == 0);
    pthread_t s;
    CHECK(pthread_create(&s, NULL, storm, NULL) == 0);
    for (long i = 0; i < threads; i++)
        pthread_join(workers[i], NULL);
    __atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
    pthread_join(s, NULL);
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_PROF, &off, NULL);
    block_storm_signals();
    fprintf(stderr, "signals: %ld handled\n", __atomic_load_n(&handled, __ATOMIC_RELAXED));
    if (fork_in_handler) {
        CHECK(forks_ok == forks);
        fprintf(stderr, "signals: %ld forks from handlers\n", forks);
    }
    printf("prof done: %ld threads x %ld iterations\n", threads, iters);
    return 0;
}

/* ---- dump signal bursts --------------------------------------------------------------------- */

static void empty_handler(int sig)
{
    (void)sig;
}

static void *spinner(void *arg)
{
    uint64_t rng = (uint64_t)(uintptr_t)arg;
    while (!__atomic_load_n(&stop, __ATOMIC_RELAXED))
        free(busy_site(1 + t_rand(&rng) % 5000));
    return NULL;
}

static int sig_to_send;
static long bursts, per_burst;

static void *sender(void *arg)
{
    pthread_t *targets = arg;
    union sigval v = {0};
    for (long b = 0; b < bursts; b++) {
        heapsampler_stats_t st;
        uint64_t before = 0;
        if (heapsampler_get_stats) {
            CHECK(heapsampler_get_stats(&st, sizeof st) == 0);
            before = st.profiles_written;
        }
        for (long k = 0; k < per_burst; k++) {
            switch (k % 3) {
            case 0:
                kill(getpid(), sig_to_send);
                break;
            case 1:
                pthread_kill(targets[k % 4], sig_to_send);
                break;
            default:
                sigqueue(getpid(), sig_to_send, v);
                break;
            }
        }
        /* Pace the bursts: wait until a profile requested by this burst has been written (so
         * each burst but the last makes at least one profile of its own). */
        while (heapsampler_get_stats && b + 1 < bursts) {
            CHECK(heapsampler_get_stats(&st, sizeof st) == 0);
            if (st.profiles_written > before)
                break;
            sched_yield();
        }
    }
    /* A last burst that races the exit of the program. */
    for (long k = 0; k < per_burst; k++)
        kill(getpid(), sig_to_send);
    return NULL;
}

static int dump(int sig, long nbursts, long per)
{
    sig_to_send = sig;
    bursts = nbursts;
    per_burst = per;
    if (!t_profiled()) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = empty_handler;
        sigemptyset(&sa.sa_mask);
        CHECK(sigaction(sig, &sa, NULL) == 0);
    }
    pthread_t t[4], s;
    for (int i = 0; i < 4; i++)
        CHECK(pthread_create(&t[i], NULL, spinner, (void *)(uintptr_t)(i + 1)) == 0);
    CHECK(pthread_create(&s, NULL, sender, t) == 0);
    pthread_join(s, NULL);
    printf("dump done: %ld bursts of %ld\n", nbursts, per);
    fflush(stdout);
    /* Exit while the spinners still allocate and the last burst may still be arriving. */
    exit(0);
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "prof";
    if (strcmp(mode, "prof") == 0)
        return prof(t_arg(argc, argv, 2, 4), t_arg(argc, argv, 3, 100000));
    if (strcmp(mode, "fork") == 0) {
        fork_in_handler = 1;
        return prof(t_arg(argc, argv, 2, 4), t_arg(argc, argv, 3, 100000));
    }
    if (strcmp(mode, "dump") == 0)
        return dump((int)t_arg(argc, argv, 2, SIGUSR2), t_arg(argc, argv, 3, 10),
                    t_arg(argc, argv, 4, 50));
    fprintf(stderr, "usage: signals prof|dump ...\n");
    return 2;
}
