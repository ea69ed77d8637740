/*
 * trend.c - series with known answers for `heapsampler leaks` and `check`: one memory
 * behaviour per run, and a profile written after every step (heapsampler_dump, when the
 * profiler is preloaded), so that the series does not depend on timing.
 *
 *   trend leak  STEPS  leak_records keeps 64 x 4 KiB per step forever (256 KiB per step)
 *   trend cache STEPS  cache_store fills a FIFO cache of 8 MiB (16 KiB entries) during the
 *                      first quarter of the steps, then keeps inserting at the same pace,
 *                      evicting the oldest entries
 *   trend noise STEPS  churn_buffers holds a steady 4 MiB of 8 KiB buffers and replaces half
 *                      of them, chosen at random, every step
 *   trend sawtooth STEPS  list_push appends 512 x 4 KiB to a list every step, and the whole
 *                      list is dropped every 4 to 6 steps (an LRU cache evicting a list key)
 *                      but for 1 MiB that stays: it rises and falls back to the same floor
 *   trend risingsaw STEPS  the same, but each drop keeps half of the list's nodes forever
 *                      (each cleanup frees less than the last): its floor rises
 *   trend exit CODE    allocates a little, leaks nothing, exits with CODE (for check)
 *   trend quit CODE    writes one profile, then ends with _exit(CODE): no profile at exit
 *   trend idle MS      keeps 4 MiB allocated at start (leak_records), then waits MS
 *                      milliseconds without allocating and exits: an idle server's master
 *
 * TREND_STEP_MS=N in the environment pauses N ms between steps: the analysis fits
 * growth against the profiles' times, and a few profiles written a millisecond apart are
 * spaced by the machine's load as much as by the steps (a short series could read as levelling
 * off when one dump was preempted).
 *
 * Every mode also makes short-lived garbage (scratch_work), which must never count as a trend.
 * Sizes and choices come from a fixed-seed generator: the allocation sequence is the same in
 * every run. Single-threaded.
 */
#define HEAPSAMPLER_WEAK
#include <heapsampler.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline))

static unsigned long long rng = 0x2545f4914f6cdd1dull;

static unsigned next_random(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (unsigned)(rng >> 32);
}

static void dump(void)
{
    if (heapsampler_dump && heapsampler_dump() != 0) {
        perror("trend: heapsampler_dump");
        exit(3);
    }
}

/* Garbage: allocated and freed within the step. */
static NOINLINE void scratch_work(void)
{
    for (int i = 0; i < 64; i++) {
        size_t size = 1024 + next_random() % 32768;
        char *p = malloc(size);
        if (!p)
            exit(4);
        memset(p, i, 64);
        free(p);
    }
}

/* ---- leak -------------------------------------------------------------------------------- */

static void **records;
static size_t nrecords;

static NOINLINE void leak_records(void)
{
    for (int i = 0; i < 64; i++) {
        void *p = malloc(4096);
        if (!p)
            exit(4);
        memset(p, 0, 128);
        records[nrecords++] = p;
    }
}

/* ---- cache ------------------------------------------------------------------------------- */

#define CACHE_BYTES (8u << 20)
#define ENTRY_BYTES (16u << 10)
#define CACHE_SLOTS (CACHE_BYTES / ENTRY_BYTES)

static void *cache_ring[CACHE_SLOTS];
static size_t cache_head, cache_count;

static NOINLINE void cache_store(size_t entries)
{
    for (size_t i = 0; i < entries; i++) {
        if (cache_count == CACHE_SLOTS) {
            free(cache_ring[cache_head]);
            cache_head = (cache_head + 1) % CACHE_SLOTS;
            cache_count--;
        }
        void *p = malloc(ENTRY_BYTES);
        if (!p)
            exit(4);
        memset(p, 1, 256);
        cache_ring[(cache_head + cache_count++) % CACHE_SLOTS] = p;
    }
}

/* ---- sawtooth ---------------------------------------------------------------------------- */

typedef struct node {
    struct node *next;
} node_t;

static node_t *list_head, *kept_head;
static size_t list_nodes, kept_nodes;

static NOINLINE void list_push(void)
{
    for (int i = 0; i < 512; i++) {
        node_t *p = malloc(4096);
        if (!p)
            exit(4);
        memset(p, 3, 128);
        p->next = list_head;
        list_head = p;
        list_nodes++;
    }
}

/*
 * Drop the list. Kept nodes are never freed: every second one when rising, else the first
 * 256 (1 MiB: the part of a cache that stays), so that the floor is not zero.
 */
static void list_drop(bool rising)
{
    int k = 0;
    while (list_head) {
        node_t *p = list_head;
        list_head = p->next;
        if (rising ? k++ % 2 == 0 : kept_nodes < 256) {
            p->next = kept_head;
            kept_head = p;
            kept_nodes++;
        } else {
            free(p);
        }
    }
    list_nodes = 0;
}

/* ---- noise ------------------------------------------------------------------------------- */

#define CHURN_BUFFERS 512 /* x 8 KiB = 4 MiB */

static void *churn[CHURN_BUFFERS];

/* Every churn buffer, the first ones too, comes from here: one site at a steady level. */
static NOINLINE void churn_buffers(size_t count)
{
    for (size_t i = 0; i < count; i++) {
        size_t k = count == CHURN_BUFFERS ? i : next_random() % CHURN_BUFFERS;
        free(churn[k]);
        churn[k] = malloc(8192);
        if (!churn[k])
            exit(4);
        memset(churn[k], 2, 64);
    }
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: trend leak|cache|noise|sawtooth|risingsaw STEPS | trend exit|quit "
                        "CODE | trend idle MS\n");
        return 2;
    }
    const char *mode = argv[1];
    int n = atoi(argv[2]);
    if (strcmp(mode, "exit") == 0) {
        scratch_work();
        return n;
    }
    if (strcmp(mode, "quit") == 0) {
        scratch_work();
        dump();
        _exit(n);
    }
    if (strcmp(mode, "idle") == 0) {
        if (!(records = calloc(16 * 64, sizeof *records)))
            return 4;
        for (int i = 0; i < 16; i++)
            leak_records();
        printf("trend idle: %zu records, now idle for %d ms\n", nrecords, n);
        fflush(stdout);
        /* Being idle is the behaviour under test, not a wait for something. */
        struct timespec ts = {n / 1000, (long)(n % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) != 0)
            ;
        return 0;
    }
    if (n < 1 || n > 100000)
        return 2;
    records = calloc((size_t)n * 64, sizeof *records);
    if (!records)
        return 4;
    const char *pace = getenv("TREND_STEP_MS");
    int step_ms = pace ? atoi(pace) : 0;
    if (strcmp(mode, "noise") == 0)
        churn_buffers(CHURN_BUFFERS);
    /* The cache fills in a quarter of the steps: entries per step to reach CACHE_SLOTS. */
    int fill_steps = n / 4 > 0 ? n / 4 : 1;
    size_t per_step = (CACHE_SLOTS + (size_t)fill_steps - 1) / (size_t)fill_steps;
    bool saw = strcmp(mode, "sawtooth") == 0 || strcmp(mode, "risingsaw") == 0;
    int next_drop = saw ? 4 + (int)(next_random() % 3) : 0;
    for (int step = 0; step < n; step++) {
        scratch_work();
        if (strcmp(mode, "leak") == 0)
            leak_records();
        else if (strcmp(mode, "cache") == 0)
            cache_store(per_step);
        else if (strcmp(mode, "noise") == 0)
            churn_buffers(CHURN_BUFFERS / 2);
        else if (saw) {
            if (step == next_drop) {
                list_drop(mode[0] == 'r');
                next_drop = step + 4 + (int)(next_random() % 3);
            }
            list_push();
        } else
            return 2;
        dump();
        if (step_ms > 0 && step + 1 < n) {
            /* Pacing the series is the behaviour asked for, not a wait for something. */
            struct timespec ts = {step_ms / 1000, (long)(step_ms % 1000) * 1000000L};
            while (nanosleep(&ts, &ts) != 0)
                ;
        }
    }
    printf("trend %s: %d steps, %zu records leaked, %zu cache entries, %zu list nodes, %zu kept\n",
           mode, n, nrecords, cache_count, list_nodes, kept_nodes);
    return 0;
}
