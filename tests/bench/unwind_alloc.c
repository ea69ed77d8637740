/*
 * unwind_alloc.c - malloc+free pairs at the bottom of a deep stack (hs_bench_unwind_alloc), to
 * measure a whole sample (unwind + record) through the preloaded library:
 *
 *   hs_bench_unwind_alloc [--depth N] [--iterations N] [--rounds N]
 *
 * Run it without the library (the baseline), then with LD_PRELOAD=libheapsampler.so,
 * HEAPSAMPLER_RATE=1 (every allocation sampled) and HEAPSAMPLER_UNWIND=libunwind or fp: the
 * difference of the printed medians is the cost of one sample with that unwinder. Prints one
 * line starting "alloc:" with the median nanoseconds per malloc+free pair over the rounds.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_ROUNDS 101

static int depth = 64, rounds = 9;
static long iterations = 20000;
static double ns[MAX_ROUNDS];
static void *volatile sink;

static unsigned long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (unsigned long long)ts.tv_sec * 1000000000ull + (unsigned long long)ts.tv_nsec;
}

static __attribute__((noinline)) int descend(int n)
{
    if (n <= 1) {
        for (int r = 0; r < rounds; r++) {
            unsigned long long t0 = now_ns();
            for (long i = 0; i < iterations; i++) {
                sink = malloc(64);
                free(sink);
            }
            ns[r] = (double)(now_ns() - t0) / (double)iterations;
        }
        return 0;
    }
    volatile int r = descend(n - 1);
    return r;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    for (int i = 1; i + 1 < argc; i += 2) {
        long v = strtol(argv[i + 1], NULL, 10);
        if (strcmp(argv[i], "--depth") == 0 && v >= 1 && v <= 400)
            depth = (int)v;
        else if (strcmp(argv[i], "--iterations") == 0 && v >= 1)
            iterations = v;
        else if (strcmp(argv[i], "--rounds") == 0 && v >= 1 && v <= MAX_ROUNDS)
            rounds = (int)v;
        else {
            fprintf(stderr,
                    "usage: hs_bench_unwind_alloc [--depth N] [--iterations N] [--rounds N]\n");
            return 2;
        }
    }
    if (argc % 2 == 0) {
        fprintf(stderr, "usage: hs_bench_unwind_alloc [--depth N] [--iterations N] [--rounds N]\n");
        return 2;
    }
    descend(depth);
    qsort(ns, (size_t)rounds, sizeof *ns, cmp_double);
    double med = rounds % 2 ? ns[rounds / 2] : (ns[rounds / 2 - 1] + ns[rounds / 2]) / 2;
    const char *mode = getenv("HEAPSAMPLER_UNWIND");
    printf("alloc: depth=%d iterations=%ld rounds=%d ns_per_pair=%.0f unwind=%s\n", depth,
           iterations, rounds, med, mode ? mode : "-");
    return 0;
}
