/*
 * unwind_capture.c - cost of one stack capture, libunwind against frame pointers
 * (hs_bench_unwind). Linked with the static core: each capture is exactly what the sampling
 * path does (hs_unwind_capture: the unwind, the trimming and the module-record check).
 *
 *   hs_bench_unwind [--depth N] [--iterations N] [--rounds N]
 *
 * At the bottom of a recursion N frames deep (built with frame pointers), each round times
 * `iterations` captures with one unwinder, then the other (A B A B ...); prints the median
 * nanoseconds per capture of each unwinder over the rounds, their ratio, and the frames each
 * captured. Exits 1 if an unwinder captured fewer than N frames (so it doubles as a smoke test).
 * Timings are printed, never judged: scripts/bench.sh reads the line starting "unwind:".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "unwind.h"

#define MAX_ROUNDS 101

typedef struct bench {
    int depth;
    long iterations;
    int rounds;
    double ns[2][MAX_ROUNDS];
    uint32_t frames[2];
} bench_t;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void measure(bench_t *b, int round)
{
    static uintptr_t frames[HS_UNWIND_BUF];
    uint32_t max = (uint32_t)b->depth + 16;
    for (int mode = 0; mode < 2; mode++) {
        /* Alternate which unwinder goes first, so neither always runs on a warmer cache. */
        int m = (round & 1) ? 1 - mode : mode;
        hs_config.unwind = m == 0 ? HS_UNWIND_LIBUNWIND : HS_UNWIND_FP;
        b->frames[m] = hs_unwind_capture(frames, max); /* warm-up */
        uint64_t t0 = now_ns();
        for (long i = 0; i < b->iterations; i++)
            hs_unwind_capture(frames, max);
        b->ns[m][round] = (double)(now_ns() - t0) / (double)b->iterations;
    }
}

static __attribute__((noinline)) int descend(bench_t *b, int n)
{
    if (n <= 1) {
        for (int r = 0; r < b->rounds; r++)
            measure(b, r);
        return 0;
    }
    volatile int r = descend(b, n - 1); /* volatile: a real frame per level, no tail call */
    return r;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static long arg_long(const char *s, long lo, long hi, const char *what)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < lo || v > hi) {
        fprintf(stderr, "hs_bench_unwind: bad %s \"%s\" (%ld to %ld)\n", what, s, lo, hi);
        exit(2);
    }
    return v;
}

int main(int argc, char **argv)
{
    static bench_t b = {.depth = 64, .iterations = 20000, .rounds = 9};
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : "";
        if (strcmp(argv[i], "--depth") == 0)
            b.depth = (int)arg_long(v, 1, 400, "depth"), i++;
        else if (strcmp(argv[i], "--iterations") == 0)
            b.iterations = arg_long(v, 1, 100000000, "iterations"), i++;
        else if (strcmp(argv[i], "--rounds") == 0)
            b.rounds = (int)arg_long(v, 1, MAX_ROUNDS, "rounds"), i++;
        else {
            fprintf(stderr, "usage: hs_bench_unwind [--depth N] [--iterations N] [--rounds N]\n");
            return 2;
        }
    }
    descend(&b, b.depth);
    double lu = median(b.ns[0], b.rounds), fp = median(b.ns[1], b.rounds);
    printf("unwind: depth=%d iterations=%ld rounds=%d libunwind_ns=%.0f fp_ns=%.0f "
           "fp/libunwind=%.3f frames_libunwind=%u frames_fp=%u\n",
           b.depth, b.iterations, b.rounds, lu, fp, fp / lu, b.frames[0], b.frames[1]);
    return b.frames[0] >= (uint32_t)b.depth && b.frames[1] >= (uint32_t)b.depth ? 0 : 1;
}
