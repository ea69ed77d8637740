/*
 * leaker.c - a leak at a steady rate until the memory runs out, for the memory limit's tests.
 *
 *   leaker [-r MIB_PER_S] [-m MAX_MIB] [-b BLOCK_KIB] [-t THREADS] [-w] [-s handle|ignore]
 *          [-c CYCLES -k KEEP_MIB]
 *
 * First 4 MiB that stay (config_site, never freed: something that is not the leak), then
 * leak_site keeps every block it allocates, each touched page by page so that it is resident
 * (counted by the cgroup and the RSS), -r MiB per second (default 0: as fast as it can), in
 * blocks of -b KiB (default 256). With -t THREADS > 1, that many threads share the rate. It
 * ends when its memory does: killed by the OOM killer in a memory cgroup, or, when malloc fails
 * (RLIMIT_AS), with "leaker: out of memory after N MiB" and exit status 3; or after -m MiB
 * (default 0: no end) with "leaker: done N MiB" and 0, or with -w "leaker: waiting" and a wait
 * for a signal. It says "leaker: leaking" when it starts to, and every second after it the MiB
 * leaked so far ("leaker: N MiB"). -s installs a
 * SIGTERM handler of its own (it prints "leaker: SIGTERM" and exits 0) or ignores SIGTERM.
 * -c makes a sawtooth (one thread): each time it holds -m MiB it frees its newest blocks down
 * to -k MiB ("leaker: down to K MiB") and grows again, CYCLES times, then goes on as above.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MIB (1024.0 * 1024.0)

static double rate;      /* bytes per second per thread; 0: unbounded */
static double max_bytes; /* per thread; 0: no end */
static size_t block;
static double start;
static void *config[4];
static int cycles;
static double keep_bytes;
static void **blocks; /* -c: the blocks held, oldest first */

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

__attribute__((noinline)) void config_site(int i)
{
    config[i] = malloc(1 << 20);
    if (config[i])
        memset(config[i], 2, 1 << 20);
}

__attribute__((noinline)) void *leak_site(size_t n)
{
    char *p = malloc(n);
    if (p)
        for (size_t i = 0; i < n; i += 4096)
            p[i] = 1;
    return p;
}

static void *leak(void *arg)
{
    double leaked = 0, held = 0; /* allocated in all (paces the rate), and still held */
    int main_thread = arg == NULL;
    double next_report = start + 1;
    size_t nblocks = 0;
    for (;;) {
        if (max_bytes > 0 && held >= max_bytes) {
            if (cycles-- <= 0)
                return NULL;
            while (held > keep_bytes && nblocks > 0) {
                free(blocks[--nblocks]); /* newest first: the heap's top is given back */
                held -= (double)block;
            }
            printf("leaker: down to %.0f MiB\n", held / MIB);
            fflush(stdout);
        }
        void *p = leak_site(block);
        if (!p) {
            printf("leaker: out of memory after %.0f MiB\n", held / MIB);
            fflush(stdout);
            exit(3);
        }
        if (blocks)
            blocks[nblocks++] = p;
        leaked += (double)block;
        held += (double)block;
        double t = now();
        if (main_thread && t >= next_report) {
            printf("leaker: %.0f MiB\n", held / MIB);
            fflush(stdout);
            next_report += 1;
        }
        if (rate > 0) {
            double due = start + leaked / rate;
            if (due > t) {
                struct timespec ts = {(time_t)(due - t),
                                      (long)((due - t - (double)(time_t)(due - t)) * 1e9)};
                nanosleep(&ts, NULL);
            }
        }
    }
}

static void on_term(int sig)
{
    (void)sig;
    static const char msg[] = "leaker: SIGTERM\n";
    (void)!write(1, msg, sizeof msg - 1);
    _exit(0);
}

int main(int argc, char **argv)
{
    int threads = 1, wait = 0, opt;
    double mib_per_s = 0, max_mib = 0, block_kib = 256;
    while ((opt = getopt(argc, argv, "r:m:b:t:ws:c:k:")) != -1) {
        switch (opt) {
        case 'r':
            mib_per_s = atof(optarg);
            break;
        case 'm':
            max_mib = atof(optarg);
            break;
        case 'b':
            block_kib = atof(optarg);
            break;
        case 't':
            threads = atoi(optarg);
            break;
        case 'w':
            wait = 1;
            break;
        case 's':
            signal(SIGTERM, strcmp(optarg, "ignore") == 0 ? SIG_IGN : on_term);
            break;
        case 'c':
            cycles = atoi(optarg);
            break;
        case 'k':
            keep_bytes = atof(optarg) * MIB;
            break;
        default:
            return 2;
        }
    }
    if (threads < 1 || threads > 64 || block_kib < 1 || (cycles && (threads > 1 || !max_mib)))
        return 2;
    rate = mib_per_s * MIB / threads;
    max_bytes = max_mib * MIB / threads;
    block = (size_t)(block_kib * 1024);
    if (cycles && !(blocks = calloc((size_t)(max_bytes / (double)block) + 2, sizeof *blocks)))
        return 1;
    for (int i = 0; i < 4; i++)
        config_site(i);
    printf("leaker: leaking\n");
    fflush(stdout);
    start = now();
    pthread_t tid[64];
    for (int i = 1; i < threads; i++)
        pthread_create(&tid[i], NULL, leak, (void *)(intptr_t)i);
    leak(NULL);
    for (int i = 1; i < threads; i++)
        pthread_join(tid[i], NULL);
    if (wait) {
        printf("leaker: waiting\n");
        fflush(stdout);
        for (;;)
            pause();
    }
    printf("leaker: done %.0f MiB\n", max_mib);
    return 0;
}
