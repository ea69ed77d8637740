/*
 * labels.c - the cost of the label API (include/heapsampler.h), against an unsampled
 * malloc+free pair measured in the same process. Run it under the profiler (LD_PRELOAD).
 *
 *   hs_bench_labels N
 *
 * Times, in blocks of 1000 calls (the clock is read per block), N calls of each of:
 *   set      heapsampler_label_set("endpoint", one of 8 values): a new set each call, as a
 *            request handler does when it starts (the sets are interned after the first round)
 *   clear    heapsampler_label_clear
 *   restore  heapsampler_label_save + heapsampler_label_restore of another thread's set
 *   pair     malloc(64) + free, almost never sampled at the default rate
 * and prints "labels n=N set_ns=S clear_ns=C restore_ns=R pair_ns=P" (medians of the blocks,
 * per call). The benchmark script's callgrind run collects only inside labels_set_loop.
 */
#define HEAPSAMPLER_WEAK
#include <heapsampler.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"

#define BLOCK 1000

static const char *const values[8] = {"/orders", "/catalog", "/search", "/users",
                                      "/cart",   "/checkout", "/login", "/health"};

__attribute__((noinline)) void labels_set_loop(int n)
{
    for (int i = 0; i < n; i++)
        heapsampler_label_set("endpoint", values[i & 7]);
}

static uint64_t per_call(uint64_t *blocks, int nblocks)
{
    qsort(blocks, (size_t)nblocks, sizeof *blocks, bench_cmp_u64);
    return blocks[nblocks / 2];
}

int main(int argc, char **argv)
{
    int n = argc == 2 ? atoi(argv[1]) : 0;
    if (n < BLOCK || !heapsampler_label_set) {
        fprintf(stderr, "usage: LD_PRELOAD=libheapsampler.so %s N (N >= %d)\n", argv[0], BLOCK);
        return 2;
    }
    int nblocks = n / BLOCK;
    uint64_t *t = calloc((size_t)nblocks, sizeof *t);
    uint64_t ns[4];
    if (!t)
        return 1;
    labels_set_loop(8); /* every set interned once */
    heapsampler_labels_t other = heapsampler_label_save();
    for (int kind = 0; kind < 4; kind++) {
        for (int b = 0; b < nblocks; b++) {
            uint64_t t0 = bench_now_ns();
            if (kind == 0) {
                labels_set_loop(BLOCK);
            } else {
                for (int i = 0; i < BLOCK; i++) {
                    if (kind == 1) {
                        heapsampler_label_clear();
                    } else if (kind == 2) {
                        heapsampler_labels_t mine = heapsampler_label_save();
                        heapsampler_label_restore(other);
                        other = mine;
                    } else {
                        void *p = malloc(64);
                        __asm__ volatile("" : : "r"(p) : "memory");
                        free(p);
                    }
                }
            }
            t[b] = (bench_now_ns() - t0);
        }
        ns[kind] = per_call(t, nblocks);
    }
    printf("labels n=%d set_ns=%.1f clear_ns=%.1f restore_ns=%.1f pair_ns=%.1f\n", n,
           (double)ns[0] / BLOCK, (double)ns[1] / BLOCK, (double)ns[2] / BLOCK,
           (double)ns[3] / BLOCK);
    free(t);
    return 0;
}
