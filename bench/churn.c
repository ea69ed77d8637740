/*
 * churn.c - the malloc/free microbenchmark: each thread replaces random entries of its own pool
 * of 256 live blocks (free the old block, malloc a new one), sizes 16..1024 bytes in steps of
 * 16 (mean 520), from a fixed-seed generator so that every run does exactly the same calls.
 *
 *   hs_bench_churn THREADS PAIRS_PER_THREAD
 *
 * Prints one line: "churn threads=T pairs=N ns=<wall time of the loop phase>". Only the loop
 * is timed (not start-up or exit); the instruction counts of the benchmark script collect
 * only inside churn_loop (callgrind --toggle-collect), so both figures are per malloc+free
 * pair of this loop.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "bench.h"

#define POOL 256

static uint64_t pairs;

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
    churn_loop(pool, 0x9E3779B97F4A7C15ull + (uintptr_t)arg * 0x2545F4914F6CDD1Dull, pairs);
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
    printf("churn threads=%d pairs=%llu ns=%llu\n", threads, (unsigned long long)pairs,
           (unsigned long long)(t1 - t0));
    return 0;
}
