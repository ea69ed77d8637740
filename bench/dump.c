/*
 * dump.c - profiles of many distinct stacks: how long a dump takes, and how long an allocating
 * thread can be stalled while dumps run.
 *
 * Set-up: 10,000 distinct call stacks (a binary tree of calls 14 levels deep: each level calls
 * the next through one of two functions, so every path is a different list of return
 * addresses), each allocating and freeing one 8 MiB block, which the default rate samples with
 * probability 1 - exp(-16). Every stack is then a row of each profile.
 *
 *   hs_bench_dump dump N
 *     Times heapsampler_dump() N + 1 times: "dump stacks=S first_ms=F median_ms=M max_ms=X
 *     cpu_first_ms=f cpu_median_ms=m cpu_max_ms=x" (the first one also starts the writer
 *     thread and reads the symbol tables). The cpu_ figures are the writer thread's time on a
 *     CPU during each dump (/proc/self/task/TID/schedstat): the wall time also holds the time
 *     it waited for a core, which on a busy machine is most of it (the writer runs as
 *     SCHED_BATCH: it waits for its turn rather than preempting the program).
 *   hs_bench_dump pause THREADS MILLISECONDS [FREE_CHUNKS RSS_MIB]
 *     With FREE_CHUNKS and RSS_MIB, first the heap gets FREE_CHUNKS free chunks (blocks of 40
 *     bytes, every other one freed: none can merge) and RSS_MIB MiB of resident memory, so that
 *     the memory accounting of each dump (accounting.h: glibc's mallinfo2 walks every free
 *     chunk under the arena's lock; the RSS) has the most to do; run it with
 *     MALLOC_ARENA_MAX=1 so that the churning threads share that arena. It then also prints
 *     "sources mallinfo2_us=M status_us=S smaps_rollup_us=R": one call of each, timed.
 *     THREADS threads churn malloc/free (default rate) and measure the longest gap between
 *     two checks of the clock 16 pairs apart, first for MILLISECONDS with no dump, then for
 *     MILLISECONDS while the main thread writes profiles back to back: "pause threads=T
 *     quiet_max_us=Q quiet_blocked_max_us=B quiet_p999_us=q dumping_max_us=D
 *     dumping_blocked_max_us=E dumping_p999_us=d dumps=N".
 *     On a busy machine the longest gaps are preemption (the thread was runnable, another
 *     took the core). A gap counts as blocked when the thread's voluntary context switches
 *     (getrusage RUSAGE_THREAD, read after every gap over 20 us) grew during it: it waited
 *     for a lock, a page fault under the mmap lock, or I/O. That is what a dump must not
 *     cause.
 *
 *   hs_bench_dump memory N
 *     The memory a dump needs: before each of N + 1 dumps the process's peak RSS is reset
 *     (/proc/self/clear_refs), after it the peak is read: "memory stacks=S sites=X
 *     first_kib=F later_max_kib=L" (the first dump also starts the writer thread and reads the
 *     symbol tables, and the writer keeps most of its memory in its heap for the next ones).
 *
 * Without the profiler (no heapsampler_dump symbol) it prints "no profiler" and exits 0.
 */
#define HEAPSAMPLER_WEAK
#include <heapsampler.h>
#include <dirent.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "bench.h"

#define LEVELS  14
#define STACKS  10000
#define BLOCK   (8u << 20)
#define BUCKETS 64 /* log2 histogram of gaps in ns */

/* ---- 10,000 distinct stacks ---------------------------------------------------------------- */

__attribute__((noinline)) int level(int n, unsigned path);

__attribute__((noinline)) int left(int n, unsigned path)
{
    return level(n, path) + 1;
}

__attribute__((noinline)) int right(int n, unsigned path)
{
    return level(n, path) + 2;
}

__attribute__((noinline)) int level(int n, unsigned path)
{
    if (n == 0) {
        void *volatile p = malloc(BLOCK);
        free(p);
        return 0;
    }
    return (path & 1) ? right(n - 1, path >> 1) : left(n - 1, path >> 1);
}

static void make_stacks(void)
{
    for (unsigned path = 0; path < STACKS; path++)
        if (level(LEVELS, path) < 0)
            abort();
}

/* ---- the writer thread's CPU time ---------------------------------------------------------- */

/* The tid of the thread named "heapsampler", or 0. */
static long writer_tid(void)
{
    DIR *d = opendir("/proc/self/task");
    long tid = 0;
    if (!d)
        return 0;
    for (struct dirent *e; !tid && (e = readdir(d));) {
        char path[300], comm[32] = "";
        snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        if (fgets(comm, sizeof comm, f) && strncmp(comm, "heapsampler", 11) == 0)
            tid = atol(e->d_name);
        fclose(f);
    }
    closedir(d);
    return tid;
}

/* Nanoseconds the thread has run on a CPU (0 if unknown). */
static uint64_t run_ns(long tid)
{
    char path[64];
    unsigned long long run = 0;
    snprintf(path, sizeof path, "/proc/self/task/%ld/schedstat", tid);
    FILE *f = tid ? fopen(path, "r") : NULL;
    if (!f)
        return 0;
    if (fscanf(f, "%llu", &run) != 1)
        run = 0;
    fclose(f);
    return run;
}

/* ---- memory -------------------------------------------------------------------------------- */

/* A "Key:   N kB" line of /proc/self/status, in KiB (-1 if absent). */
static long status_kib(const char *key)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    size_t n = strlen(key);
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, key, n) == 0 && line[n] == ':')
            v = strtol(line + n + 1, NULL, 10);
    if (f)
        fclose(f);
    return v;
}

/* The peak RSS starts again from the current RSS. */
static int reset_peak(void)
{
    FILE *f = fopen("/proc/self/clear_refs", "w");
    int ok = f && fputs("5", f) >= 0;
    return f && fclose(f) == 0 && ok;
}

static int memory(int n, const heapsampler_stats_t *st)
{
    long first = 0, later = 0;
    for (int i = 0; i <= n; i++) {
        if (!reset_peak()) {
            perror("/proc/self/clear_refs");
            return 1;
        }
        long rss = status_kib("VmRSS");
        if (heapsampler_dump() != 0) {
            perror("heapsampler_dump");
            return 1;
        }
        long extra = status_kib("VmHWM") - rss;
        if (i == 0)
            first = extra;
        else if (extra > later)
            later = extra;
    }
    printf("memory stacks=%llu sites=%llu first_kib=%ld later_max_kib=%ld\n",
           (unsigned long long)st->stacks, (unsigned long long)st->sites, first, later);
    return 0;
}

/* ---- pauses -------------------------------------------------------------------------------- */

struct gaps {
    uint64_t max_ns;
    uint64_t blocked_max_ns;
    uint64_t hist[BUCKETS];
    uint64_t n;
};

static volatile int phase; /* 0 quiet, 1 dumping, 2 stop */
static struct gaps gaps[2][64];

static void *churner(void *arg)
{
    int id = (int)(uintptr_t)arg;
    void *pool[256] = {0};
    uint64_t x = 0x9E3779B97F4A7C15ull * (uint64_t)(id + 1);
    struct rusage ru;
    getrusage(RUSAGE_THREAD, &ru);
    long nvcsw = ru.ru_nvcsw;
    uint64_t prev = bench_now_ns();
    int cur = phase;
    while (cur < 2) {
        for (int k = 0; k < 16; k++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            unsigned slot = (unsigned)x & 255;
            free(pool[slot]);
            pool[slot] = malloc(16 + 16 * ((x >> 8) & 63));
        }
        uint64_t t = bench_now_ns(), gap = t - prev;
        prev = t;
        struct gaps *g = &gaps[cur][id];
        if (gap > g->max_ns)
            g->max_ns = gap;
        if (gap > 20000) {
            getrusage(RUSAGE_THREAD, &ru);
            if (ru.ru_nvcsw != nvcsw && gap > g->blocked_max_ns)
                g->blocked_max_ns = gap;
            nvcsw = ru.ru_nvcsw;
            prev = bench_now_ns(); /* the system call is not part of the next gap */
        }
        g->hist[63 - __builtin_clzll(gap | 1)]++;
        g->n++;
        cur = phase;
    }
    for (int i = 0; i < 256; i++)
        free(pool[i]);
    return NULL;
}

/* Upper bound (ns) of the bucket holding the 99.9th percentile gap, over all threads. */
static uint64_t p999(int ph, int threads)
{
    uint64_t hist[BUCKETS] = {0}, n = 0, seen = 0;
    for (int t = 0; t < threads; t++)
        for (int b = 0; b < BUCKETS; b++) {
            hist[b] += gaps[ph][t].hist[b];
            n += gaps[ph][t].hist[b];
        }
    for (int b = 0; b < BUCKETS; b++) {
        seen += hist[b];
        if (seen * 1000 >= n * 999)
            return 2ull << b;
    }
    return 0;
}

/* The time one read of a /proc file takes (us), or -1. */
static double read_us(const char *path)
{
    char buf[4096];
    uint64_t t0 = bench_now_ns();
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    while (fread(buf, 1, sizeof buf, f) > 0)
        ;
    fclose(f);
    return (double)(bench_now_ns() - t0) / 1e3;
}

/* FREE_CHUNKS free chunks that cannot merge, RSS_MIB MiB resident; the sources timed. */
static int heavy_heap(long free_chunks, long rss_mib)
{
    if (free_chunks < 0 || rss_mib < 0)
        return 1;
    /* All first, then every other one freed (freed at once, a hole would be the next block). */
    void **blocks = malloc((size_t)free_chunks * 2 * sizeof *blocks + 1);
    if (!blocks)
        return 1;
    for (long i = 0; i < free_chunks * 2; i++)
        if (!(blocks[i] = malloc(40)))
            return 1;
    for (long i = 0; i < free_chunks * 2; i += 2)
        free(blocks[i]); /* its neighbours are kept: it cannot merge */
    char *big = malloc((size_t)rss_mib * 1024 * 1024 + 1);
    if (!big)
        return 1;
    memset(big, 1, (size_t)rss_mib * 1024 * 1024 + 1);
    uint64_t t0 = bench_now_ns();
    struct mallinfo2 mi = mallinfo2();
    double mi_us = (double)(bench_now_ns() - t0) / 1e3;
    printf("sources mallinfo2_us=%.0f status_us=%.0f smaps_rollup_us=%.0f free_bytes=%zu\n", mi_us,
           read_us("/proc/self/status"), read_us("/proc/self/smaps_rollup"), mi.fordblks);
    return 0;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

int main(int argc, char **argv)
{
    if (argc < 3 ||
        (strcmp(argv[1], "dump") && strcmp(argv[1], "pause") && strcmp(argv[1], "memory"))) {
        fprintf(stderr,
                "usage: %s dump N | memory N | pause THREADS MILLISECONDS [FREE_CHUNKS RSS_MIB]\n",
                argv[0]);
        return 2;
    }
    if (!heapsampler_dump) {
        printf("no profiler\n");
        return 0;
    }
    make_stacks();
    heapsampler_stats_t st;
    if (heapsampler_get_stats(&st, sizeof st) != 0)
        return 1;

    if (strcmp(argv[1], "memory") == 0) {
        int n = atoi(argv[2]);
        return n < 0 || n > 1000 ? 2 : memory(n, &st);
    }
    if (strcmp(argv[1], "dump") == 0) {
        int n = atoi(argv[2]);
        if (n < 1 || n > 1000)
            return 2;
        uint64_t t[1001], cpu[1001];
        long tid = 0;
        for (int i = 0; i <= n; i++) {
            uint64_t c0 = run_ns(tid), t0 = bench_now_ns();
            if (heapsampler_dump() != 0) {
                perror("heapsampler_dump");
                return 1;
            }
            t[i] = bench_now_ns() - t0;
            if (!tid) /* started by the first dump: all its time so far is that dump's */
                tid = writer_tid();
            cpu[i] = run_ns(tid) - c0;
        }
        uint64_t first = t[0], cpu_first = cpu[0];
        qsort(t + 1, (size_t)n, sizeof *t, bench_cmp_u64);
        qsort(cpu + 1, (size_t)n, sizeof *cpu, bench_cmp_u64);
        printf("dump stacks=%llu first_ms=%.1f median_ms=%.1f max_ms=%.1f cpu_first_ms=%.1f "
               "cpu_median_ms=%.1f cpu_max_ms=%.1f\n",
               (unsigned long long)st.stacks, first / 1e6, t[1 + n / 2] / 1e6, t[n] / 1e6,
               cpu_first / 1e6, cpu[1 + n / 2] / 1e6, cpu[n] / 1e6);
        return 0;
    }

    int threads = atoi(argv[2]), ms = argc > 3 ? atoi(argv[3]) : 1000;
    if (threads < 1 || threads > 64 || ms < 1)
        return 2;
    if (argc > 5 && heavy_heap(strtol(argv[4], NULL, 10), strtol(argv[5], NULL, 10)) != 0)
        return 1;
    if (heapsampler_dump() != 0) /* starts the writer thread, reads the symbol tables */
        return 1;
    pthread_t tid[64];
    for (int i = 0; i < threads; i++)
        if (pthread_create(&tid[i], NULL, churner, (void *)(uintptr_t)i) != 0)
            return 1;
    sleep_ms(ms);
    phase = 1;
    uint64_t end = bench_now_ns() + (uint64_t)ms * 1000000ull;
    int dumps = 0;
    while (bench_now_ns() < end) {
        if (heapsampler_dump() != 0)
            return 1;
        dumps++;
    }
    phase = 2;
    uint64_t max[2] = {0, 0}, blocked[2] = {0, 0};
    for (int i = 0; i < threads; i++) {
        pthread_join(tid[i], NULL);
        for (int ph = 0; ph < 2; ph++) {
            if (gaps[ph][i].max_ns > max[ph])
                max[ph] = gaps[ph][i].max_ns;
            if (gaps[ph][i].blocked_max_ns > blocked[ph])
                blocked[ph] = gaps[ph][i].blocked_max_ns;
        }
    }
    printf("pause threads=%d quiet_max_us=%.0f quiet_blocked_max_us=%.0f quiet_p999_us=%.0f "
           "dumping_max_us=%.0f dumping_blocked_max_us=%.0f dumping_p999_us=%.0f dumps=%d "
           "stacks=%llu\n",
           threads, max[0] / 1e3, blocked[0] / 1e3, p999(0, threads) / 1e3, max[1] / 1e3,
           blocked[1] / 1e3, p999(1, threads) / 1e3, dumps, (unsigned long long)st.stacks);
    return 0;
}
