/*
 * sample.c - the cost of one sample: unwind 64 frames and record. Recurses DEPTH frames deep
 * (never a tail call, frame pointers kept, so both unwinders see every frame), then times N
 * malloc calls one by one. Run it with HEAPSAMPLER_RATE=1, every call is a sample; run it
 * under the floor interposer, none is: the difference of the medians is the cost of a sample.
 * The free of each block is timed apart (under the profiler it is a sampled block's free).
 *
 *   hs_bench_sample DEPTH N
 *
 * Prints "sample depth=D n=N malloc_median_ns=M malloc_p90_ns=P free_median_ns=F". The
 * benchmark script's callgrind runs collect only inside sample_alloc (the malloc calls) or
 * sample_free.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "bench.h"

static uint64_t *t_malloc, *t_free;

__attribute__((noinline)) void *sample_alloc(size_t size)
{
    void *p = malloc(size);
    __asm__ volatile("" : : "r"(p) : "memory"); /* a real call, kept, not a tail call */
    return p;
}

__attribute__((noinline)) void sample_free(void *p)
{
    free(p);
    __asm__ volatile("" : : : "memory");
}

__attribute__((noinline)) void sample_loop(int n)
{
    for (int i = 0; i < n; i++) {
        uint64_t t0 = bench_now_ns();
        void *p = sample_alloc(64 + (size_t)(i & 7) * 16);
        uint64_t t1 = bench_now_ns();
        sample_free(p);
        uint64_t t2 = bench_now_ns();
        t_malloc[i] = t1 - t0;
        t_free[i] = t2 - t1;
    }
}

/* Each level is its own frame: the call is followed by work on its result. */
__attribute__((noinline)) int descend(int depth, int n)
{
    if (depth <= 0) {
        sample_loop(n);
        return 1;
    }
    return descend(depth - 1, n) + 1;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s DEPTH N\n", argv[0]);
        return 2;
    }
    int depth = atoi(argv[1]), n = atoi(argv[2]);
    if (depth < 0 || depth > 1000 || n <= 0) {
        fprintf(stderr, "%s: DEPTH must be 0..1000 and N > 0\n", argv[0]);
        return 2;
    }
    t_malloc = calloc((size_t)n, sizeof *t_malloc);
    t_free = calloc((size_t)n, sizeof *t_free);
    if (!t_malloc || !t_free)
        return 1;
    if (descend(depth, n) != depth + 1)
        return 1;
    qsort(t_malloc, (size_t)n, sizeof *t_malloc, bench_cmp_u64);
    qsort(t_free, (size_t)n, sizeof *t_free, bench_cmp_u64);
    printf("sample depth=%d n=%d malloc_median_ns=%llu malloc_p90_ns=%llu free_median_ns=%llu\n",
           depth, n, (unsigned long long)t_malloc[n / 2],
           (unsigned long long)t_malloc[(size_t)n * 9 / 10], (unsigned long long)t_free[n / 2]);
    return 0;
}
