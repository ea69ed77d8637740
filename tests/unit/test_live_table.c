/*
 * test_live_table.c - the live table and its free-path filter: insert/lookup/remove, replace,
 * capacity, backward-shift deletion under heavy churn (checked against a reference set), the
 * filter counts (raised by an insert, cleared by the last remove, sticky at saturation), and
 * concurrent insert/remove from several threads.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "live_table.h"

#define P(x) ((void *)(uintptr_t)(x))

Test(live_table, insert_lookup_remove)
{
    cr_assert_eq(hs_live_init(1 << 20), HS_OK);
    uint32_t site, replaced;
    cr_assert(!hs_live_maybe_sampled(P(0x7000010)));
    cr_assert_eq(hs_live_insert(P(0x7000010), 3, &replaced), HS_OK);
    cr_assert_eq(replaced, HS_LIVE_NO_SITE);
    cr_assert(hs_live_maybe_sampled(P(0x7000010)));
    cr_assert_eq(hs_live_lookup(P(0x7000010), &site), HS_OK);
    cr_assert_eq(site, 3);
    cr_assert_eq(hs_live_count(), 1);
    cr_assert_eq(hs_live_remove(P(0x7000020), &site), HS_ERR_NOTFOUND);
    cr_assert_eq(hs_live_remove(P(0x7000010), &site), HS_OK);
    cr_assert_eq(site, 3);
    cr_assert(!hs_live_maybe_sampled(P(0x7000010)));
    cr_assert_eq(hs_live_remove(P(0x7000010), &site), HS_ERR_NOTFOUND);
    cr_assert_eq(hs_live_count(), 0);
    cr_assert_eq(hs_live_insert(NULL, 1, &replaced), HS_ERR_INVALID);
}

Test(live_table, insert_replaces_stale_entry)
{
    cr_assert_eq(hs_live_init(1 << 20), HS_OK);
    uint32_t site, replaced;
    cr_assert_eq(hs_live_insert(P(0x9000), 1, &replaced), HS_OK);
    cr_assert_eq(hs_live_insert(P(0x9000), 2, &replaced), HS_OK);
    cr_assert_eq(replaced, 1);
    cr_assert_eq(hs_live_count(), 1);
    cr_assert_eq(hs_live_remove(P(0x9000), &site), HS_OK);
    cr_assert_eq(site, 2);
    cr_assert(!hs_live_maybe_sampled(P(0x9000)));
}

Test(live_table, capacity_limit)
{
    cr_assert_eq(hs_live_init(1024), HS_OK);
    uint32_t replaced, site;
    for (uintptr_t i = 1; i <= 1024; i++)
        cr_assert_eq(hs_live_insert(P(i * 16), 0, &replaced), HS_OK);
    cr_assert_eq(hs_live_insert(P(2000 * 16), 0, &replaced), HS_ERR_FULL);
    cr_assert_eq(hs_live_remove(P(5 * 16), &site), HS_OK);
    cr_assert_eq(hs_live_insert(P(2000 * 16), 0, &replaced), HS_OK);
}

/* Random churn, checked against a reference: deletions must never lose a neighbour. */
Test(live_table, churn_matches_reference)
{
    cr_assert_eq(hs_live_init(1 << 22), HS_OK);
    const int N = 60000;
    uintptr_t *addr = malloc(N * sizeof *addr);
    char *present = calloc(N, 1);
    uint64_t x = 12345;
    for (int i = 0; i < N; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        addr[i] = (x & 0xffffffffff0ull) | 0x10; /* 16-aligned, never 0 */
    }
    uint32_t site, replaced;
    for (int round = 0; round < 6; round++) {
        for (int i = 0; i < N; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            if (x & 1) {
                hs_err_t e = hs_live_insert(P(addr[i]), (uint32_t)i, &replaced);
                cr_assert_eq(e, HS_OK);
                cr_assert_eq(replaced, present[i] ? (uint32_t)i : HS_LIVE_NO_SITE);
                present[i] = 1;
            } else {
                hs_err_t e = hs_live_remove(P(addr[i]), &site);
                cr_assert_eq(e, present[i] ? HS_OK : HS_ERR_NOTFOUND);
                present[i] = 0;
            }
        }
        uint64_t expect = 0;
        for (int i = 0; i < N; i++) {
            hs_err_t e = hs_live_lookup(P(addr[i]), &site);
            cr_assert_eq(e, present[i] ? HS_OK : HS_ERR_NOTFOUND, "round %d addr %d", round, i);
            if (present[i]) {
                cr_assert_eq(site, (uint32_t)i);
                cr_assert(hs_live_maybe_sampled(P(addr[i])), "filter lost a live address");
                expect++;
            }
        }
        cr_assert_eq(hs_live_count(), expect);
    }
    for (int i = 0; i < N; i++)
        if (present[i])
            cr_assert_eq(hs_live_remove(P(addr[i]), &site), HS_OK);
    /* Every filter count went back to zero. */
    for (uint32_t s = 0; s < HS_LIVE_FILTER_SLOTS; s++)
        cr_assert_eq(hs_live_filter[s], 0, "slot %u left at %u", s, hs_live_filter[s]);
    free(addr);
    free(present);
}

Test(live_table, filter_saturates_and_sticks)
{
    cr_assert_eq(hs_live_init(1 << 20), HS_OK);
    /* Find 300 addresses that share one filter slot. */
    uintptr_t base = 0x10000;
    uint32_t slot = hs_live_filter_slot(P(base));
    uintptr_t same[300];
    int n = 0;
    for (uintptr_t a = base; n < 300; a += 16)
        if (hs_live_filter_slot(P(a)) == slot)
            same[n++] = a;
    uint32_t replaced, site;
    for (int i = 0; i < n; i++)
        cr_assert_eq(hs_live_insert(P(same[i]), 0, &replaced), HS_OK);
    cr_assert_eq(hs_live_filter[slot], 255);
    for (int i = 0; i < n; i++)
        cr_assert_eq(hs_live_remove(P(same[i]), &site), HS_OK);
    cr_assert_eq(hs_live_filter[slot], 255, "a saturated count must not be decremented");
    cr_assert_eq(hs_live_count(), 0);
}

#define THREADS 4
#define PER     20000

static void *churn_worker(void *arg)
{
    uintptr_t base = (uintptr_t)arg;
    uint32_t replaced, site;
    for (int round = 0; round < 3; round++) {
        for (uintptr_t i = 0; i < PER; i++)
            if (hs_live_insert(P(base + i * 16), (uint32_t)i, &replaced) != HS_OK)
                return (void *)1;
        for (uintptr_t i = 0; i < PER; i += 2)
            if (hs_live_remove(P(base + i * 16), &site) != HS_OK || site != (uint32_t)i)
                return (void *)2;
        for (uintptr_t i = 1; i < PER; i += 2)
            if (hs_live_remove(P(base + i * 16), &site) != HS_OK)
                return (void *)3;
    }
    return NULL;
}

Test(live_table, concurrent_disjoint_churn)
{
    cr_assert_eq(hs_live_init(1 << 22), HS_OK);
    pthread_t th[THREADS];
    for (int t = 0; t < THREADS; t++)
        pthread_create(&th[t], NULL, churn_worker, (void *)(uintptr_t)(0x100000000ull * (t + 1)));
    for (int t = 0; t < THREADS; t++) {
        void *r;
        pthread_join(th[t], &r);
        cr_assert_null(r, "worker %d failed with %p", t, r);
    }
    cr_assert_eq(hs_live_count(), 0);
}
