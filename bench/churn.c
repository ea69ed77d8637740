/*
 * churn.c - the malloc/free microbenchmark: each thread replaces random entries of its own pool
 * of 256 live blocks (free the old block, malloc a new one), sizes 16..1024 bytes in steps of
 * 16 (mean 520), from a fixed-seed generator so that every run does exactly the same calls.
 *
 *   hs_bench_churn THREADS PAIRS_PER_THREAD
 *
 * Prints one line: "churn threads=T pairs=N ns=<wall time of the loop phase> cpu_ns=<CPU time
 * of the loops, all threads>". Only the loop is timed (not start-up or exit); the instruction
 * counts of the benchmark script collect only inside churn_loop (callgrind --toggle-collect),
 * so all figures are per malloc+free pair of this loop. The CPU time leaves out the time a
 * thread was preempted, which on a shared machine is most of the noise of the wall time.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "bench.h"

#define POOL 256

static uint64_t pairs;
static uint64_t cpu_ns; /* atomic: sum over threads */

/* noinline: the benchmark script's callgrind runs collect inside this function only. */
__attribute__((noinline)) void churn_loop(void **pool, uint64_t seed, uint64_t n)
{
    uint64_t x = seed;
    for (uint64_t i = 0; i < n; i++) {
        x ^= x << 13; /* xorshift64 */
        x ^= x >> 7;
        x ^= x << 17;
        unsigned slot = (unsigned)x & (POOL - 1);
        size_t size = 16 + 16 * ((x >> 8) & 63);
        free(pool[slot]);
        char *p = malloc(size);
        if (!p)
            abort();
        p[0] = (char)i; /* the block is used: the pair cannot be optimised away */
        pool[slot] = p;
    }
}

static void *worker(void *arg)
{
    void *pool[POOL] = {0};
    struct timespec c0, c1;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
    churn_loop(pool, 0x9E3779B97F4A7C15ull + (uintptr_t)arg * 0x2545F4914F6CDD1Dull, pairs);
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
    __atomic_add_fetch(&cpu_ns,
                       (uint64_t)((c1.tv_sec - c0.tv_sec) * 1000000000ll + c1.tv_nsec - c0.tv_nsec),
                       __ATOMIC_RELAXED);
    for (int i = 0; i < POOL; i++)
        free(pool[i]);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s THREADS PAIRS_PER_THREAD\n", argv[0]);
        return 2;
    }
    int threads = atoi(argv[1]);
    pairs = strtoull(argv[2], NULL, 10);
    if (threads < 1 || threads > 64 || pairs == 0) {
        fprintf(stderr, "%s: THREADS must be 1..64 and PAIRS_PER_THREAD > 0\n", argv[0]);
        return 2;
    }
    pthread_t tid[64];
    uint64_t t0 = bench_now_ns();
    if (threads == 1) {
        worker((void *)0);
    } else {
        for (int i = 0; i < threads; i++)
            if (pthread_create(&tid[i], NULL, worker, (void *)(uintptr_t)i) != 0)
                abort();
        for (int i = 0; i < threads; i++)
            pthread_join(tid[i], NULL);
    }
    uint64_t t1 = bench_now_ns();
    printf("churn threads=%d pairs=%llu ns=%llu cpu_ns=%llu\n", threads, (unsigned long long)pairs,
           (unsigned long long)(t1 - t0), (unsigned long long)cpu_ns);
    return 0;
}
