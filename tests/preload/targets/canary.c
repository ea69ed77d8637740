/*
 * canary.c - two builds of one program for `check --baseline` and `leaks --baseline`: the
 * release, which already leaks a little, and a regression of it that leaks more elsewhere.
 *
 *   canary STEPS release     per step: record_session keeps 4 x 8 KiB forever (an old leak, in
 *                            both builds), cache_pages fills a FIFO cache of 4 MiB (16 KiB pages)
 *                            during the first quarter of the steps and then replaces its oldest
 *                            pages, scratch_work makes garbage
 *   canary STEPS regression  the same, and remember_query keeps 4 x 16 KiB more per step
 *
 * A profile is written after every step (heapsampler_dump, when the profiler is preloaded) and
 * every step lasts about 20 ms (a sleep paces it), so that series of two runs cover the same
 * work in about the same time. Sizes come from a fixed-seed generator: the allocations are the
 * same in every run; which of them are sampled follows HEAPSAMPLER_SEED. Single-threaded.
 */
#define HEAPSAMPLER_WEAK
#include <heapsampler.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NOINLINE   __attribute__((noinline))
#define PAGE_BYTES (16u << 10)
#define PAGES      256

static unsigned long long rng = 0x9e3779b97f4a7c15ull;

static unsigned next_random(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (unsigned)(rng >> 32);
}

static void *checked(void *p)
{
    if (!p)
        exit(4);
    memset(p, 0x33, 64);
    return p;
}

static NOINLINE void record_session(void **keep)
{
    for (int i = 0; i < 4; i++)
        keep[i] = checked(malloc(8192));
}

static NOINLINE void remember_query(void **keep)
{
    for (int i = 0; i < 4; i++)
        keep[i] = checked(malloc(16384));
}

static void *pages[PAGES];
static size_t next_page;

static NOINLINE void cache_pages(int n)
{
    for (int i = 0; i < n; i++) {
        free(pages[next_page]);
        pages[next_page] = checked(malloc(PAGE_BYTES));
        next_page = (next_page + 1) % PAGES;
    }
}

static NOINLINE void scratch_work(void)
{
    for (int i = 0; i < 32; i++)
        free(checked(malloc(1024 + next_random() % 32768)));
}

int main(int argc, char **argv)
{
    if (argc != 3 || (strcmp(argv[2], "release") != 0 && strcmp(argv[2], "regression") != 0)) {
        fprintf(stderr, "usage: canary STEPS release|regression\n");
        return 2;
    }
    int steps = atoi(argv[1]);
    int regression = strcmp(argv[2], "regression") == 0;
    void **kept = calloc(8 * (size_t)steps + 1, sizeof *kept);
    if (steps < 1 || !kept)
        return 2;
    /* The cache fills in the first quarter of the steps, then replaces pages at that pace. */
    int per_step = PAGES / (steps / 4 > 0 ? steps / 4 : 1) + 1;
    for (int s = 0; s < steps; s++) {
        record_session(&kept[8 * s]);
        if (regression)
            remember_query(&kept[8 * s + 4]);
        cache_pages(per_step);
        scratch_work();
        struct timespec ts = {0, 20000000};
        nanosleep(&ts, NULL);
        if (heapsampler_dump && heapsampler_dump() != 0) {
            perror("canary: heapsampler_dump");
            return 3;
        }
    }
    printf("canary: %d steps, %s\n", steps, argv[2]);
    return 0;
}
