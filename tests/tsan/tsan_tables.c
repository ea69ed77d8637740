/*
 * tsan_tables.c - the live table and the intern tables under concurrent writers and lock-free
 * readers, as the hooks and the writer thread use them (see tsan.h for why this is not a
 * Criterion test).
 *
 * Live table: four threads insert and remove overlapping address ranges (so they share
 * shards and filter slots) while a reader polls the free-path filter, looks addresses up and
 * copies the table as the reachability scan does (every entry copied is one that was live).
 * Intern tables: four threads intern the same stacks and sites in different orders and count
 * allocations and frees on the sites, while a reader takes snapshots and walks every published
 * stack. Label sets: four threads derive the same sets in different orders (as
 * heapsampler_label_set does) while a reader resolves every set published so far (as a dump
 * does). At the end every id agrees, every count is exact, every filter byte is back to zero.
 */
#include <pthread.h>
#include <string.h>

#include "labels.h"
#include "live_table.h"
#include "snapshot.h"
#include "stack_table.h"
#include "tsan.h"

#define THREADS 4
#define ADDRS   20000
#define KEYS    4096
#define ROUNDS  3

static volatile int stop;

static void *live_worker(void *arg)
{
    uintptr_t t = (uintptr_t)arg;
    /* Thread t owns the addresses i with i % THREADS == t, spread over one shared range. */
    for (int round = 0; round < ROUNDS; round++) {
        uint32_t replaced, site;
        for (uintptr_t i = t; i < ADDRS; i += THREADS)
            CHECK(hs_live_insert((void *)(0x7f0000000000 + i * 16), (uint32_t)i, &replaced) ==
                  HS_OK);
        for (uintptr_t i = t; i < ADDRS; i += THREADS) {
            CHECK(hs_live_remove((void *)(0x7f0000000000 + i * 16), &site) == HS_OK);
            CHECK(site == (uint32_t)i, "address %lu: site %u", (unsigned long)i, site);
        }
    }
    return NULL;
}

/* Copies of the live table (the reachability scan's), taken while the workers change it. */
static hs_live_block_t copied[2 * ADDRS];

static void *live_reader(void *arg)
{
    (void)arg;
    uint64_t hits = 0;
    while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
        uint64_t hold;
        size_t n = hs_live_copy(copied, 2 * ADDRS, &hold);
        for (size_t k = 0; k < n; k++) {
            uintptr_t i = (copied[k].addr - 0x7f0000000000) / 16;
            CHECK(i < ADDRS && copied[k].site == (uint32_t)i, "copied %lx: site %u",
                  (unsigned long)copied[k].addr, copied[k].site);
        }
        for (uintptr_t i = 0; i < ADDRS; i += 97) {
            void *p = (void *)(0x7f0000000000 + i * 16);
            uint32_t site;
            if (hs_live_maybe_sampled(p) && hs_live_lookup(p, &site) == HS_OK) {
                CHECK(site == (uint32_t)i);
                hits++;
            }
        }
    }
    return (void *)(uintptr_t)hits;
}

static uint32_t ids[THREADS][KEYS];

static void *intern_worker(void *arg)
{
    int t = (int)(intptr_t)arg;
    static const uint32_t mult[THREADS] = {1, 3, 7, 9};
    for (uint32_t j = 0; j < KEYS; j++) {
        uint32_t k = (uint32_t)(((uint64_t)j * mult[t] * 7919u) % KEYS);
        uintptr_t frames[3] = {0x400000 + k, 0x500000 + (k ^ 0x5555), 42};
        uint32_t stack, site;
        CHECK(hs_stack_intern(frames, 3, &stack) == HS_OK);
        CHECK(hs_site_intern(stack, 16 + k % 7, 0, &site) == HS_OK);
        ids[t][k] = stack;
        hs_site_note_alloc(site);
        hs_site_note_alloc(site);
        hs_site_note_free(site);
    }
    return NULL;
}

#define LABEL_VALUES 64

static uint32_t label_ids[THREADS][LABEL_VALUES];

static void *label_worker(void *arg)
{
    int t = (int)(intptr_t)arg;
    char endpoint[16], tenant[16];
    for (int j = 0; j < LABEL_VALUES; j++) {
        int k = (j * (2 * t + 1)) % LABEL_VALUES;
        snprintf(endpoint, sizeof endpoint, "/e%d", k);
        snprintf(tenant, sizeof tenant, "t%d", k % 5);
        uint32_t a, b;
        /* Half the threads set the endpoint first, half the tenant: the same set either way. */
        if (t % 2) {
            CHECK(hs_labels_with(HS_LABELS_NONE, "endpoint", endpoint, 8, &a) == HS_OK);
            CHECK(hs_labels_with(a, "tenant", tenant, 8, &b) == HS_OK);
        } else {
            CHECK(hs_labels_with(HS_LABELS_NONE, "tenant", tenant, 8, &a) == HS_OK);
            CHECK(hs_labels_with(a, "endpoint", endpoint, 8, &b) == HS_OK);
        }
        label_ids[t][k] = b;
    }
    return NULL;
}

static void *label_reader(void *arg)
{
    (void)arg;
    uint64_t seen = 0;
    hs_label_t pairs[HS_LABELS_MAX_PAIRS];
    while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
        hs_labels_stats_t st;
        hs_labels_get_stats(&st);
        for (uint32_t id = 1; id <= st.sets; id++) {
            uint32_t n = hs_labels_get(id, pairs);
            for (uint32_t i = 0; i < n; i++)
                CHECK(pairs[i].key[0] && pairs[i].value[0]);
            seen += n;
        }
    }
    return (void *)(uintptr_t)seen;
}

static void *snapshot_reader(void *arg)
{
    (void)arg;
    return (void *)(uintptr_t)tsan_snapshots_until(&stop);
}

static void run(void *(*worker)(void *), void *(*reader)(void *))
{
    pthread_t w[THREADS], r;
    stop = 0;
    CHECK(pthread_create(&r, NULL, reader, NULL) == 0);
    for (int t = 0; t < THREADS; t++)
        CHECK(pthread_create(&w[t], NULL, worker, (void *)(intptr_t)t) == 0);
    for (int t = 0; t < THREADS; t++)
        pthread_join(w[t], NULL);
    __atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
    pthread_join(r, NULL);
}

int main(void)
{
    CHECK(hs_live_init(1 << 22) == HS_OK);
    run(live_worker, live_reader);
    CHECK(hs_live_count() == 0);
    for (uint32_t s = 0; s < HS_LIVE_FILTER_SLOTS; s++)
        CHECK(hs_live_filter[s] == 0, "filter slot %u left at %u", s, hs_live_filter[s]);

    CHECK(hs_stack_table_init(KEYS, KEYS * 8) == HS_OK);
    run(intern_worker, snapshot_reader);
    CHECK(hs_stack_count() == KEYS);
    for (uint32_t k = 0; k < KEYS; k++)
        for (int t = 1; t < THREADS; t++)
            CHECK(ids[t][k] == ids[0][k], "key %u", k);
    hs_snapshot_t snap;
    CHECK(hs_dump_snapshot(&snap) == HS_OK);
    CHECK(snap.nrows == KEYS, "%zu rows", snap.nrows);
    for (size_t i = 0; i < snap.nrows; i++)
        CHECK(snap.rows[i].allocs == 2 * THREADS && snap.rows[i].live == THREADS);
    hs_snapshot_free(&snap);

    run(label_worker, label_reader);
    for (int k = 0; k < LABEL_VALUES; k++)
        for (int t = 1; t < THREADS; t++)
            CHECK(label_ids[t][k] == label_ids[0][k], "label set %d", k);
    hs_labels_stats_t st;
    hs_labels_get_stats(&st);
    /* The pairs, the endpoints alone and the tenants alone. */
    CHECK(st.sets == LABEL_VALUES + LABEL_VALUES + 5, "%u sets", st.sets);
    printf("tsan_tables: ok\n");
    return 0;
}
