/*
 * test_stack_table.c - the intern table through its two users: stacks and sites. Insert and
 * look up, full tables, growth far past the initial index size, and concurrent interning of
 * overlapping keys (every thread must get the same id for the same key).
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <string.h>

#include "intern.h"
#include "stack_table.h"

Test(stack_table, intern_is_idempotent)
{
    cr_assert_eq(hs_stack_table_init(1000, 1000), HS_OK);
    uintptr_t a[] = {0x1000, 0x2000, 0x3000}, b[] = {0x1000, 0x2000, 0x3001};
    uint32_t ia, ia2, ib, ic;
    cr_assert_eq(hs_stack_intern(a, 3, &ia), HS_OK);
    cr_assert_eq(hs_stack_intern(a, 3, &ia2), HS_OK);
    cr_assert_eq(hs_stack_intern(b, 3, &ib), HS_OK);
    cr_assert_eq(hs_stack_intern(a, 2, &ic), HS_OK);
    cr_assert_eq(ia, ia2);
    cr_assert_neq(ia, ib);
    cr_assert_neq(ia, ic);
    cr_assert_eq(hs_stack_count(), 3);
    uint32_t depth;
    const uintptr_t *f = hs_stack_frames(ib, &depth);
    cr_assert_eq(depth, 3);
    cr_assert(memcmp(f, b, sizeof b) == 0);
    cr_assert_null(hs_stack_frames(77, &depth));
    cr_assert_eq(depth, 0);
    cr_assert_eq(hs_stack_intern(a, 0, &ic), HS_ERR_INVALID);
}

Test(stack_table, sites_per_size_with_counters)
{
    cr_assert_eq(hs_stack_table_init(1000, 1000), HS_OK);
    uint32_t s1, s2, s3;
    cr_assert_eq(hs_site_intern(5, 100, 0, &s1), HS_OK);
    cr_assert_eq(hs_site_intern(5, 200, 0, &s2), HS_OK);
    cr_assert_eq(hs_site_intern(5, 100, 0, &s3), HS_OK);
    cr_assert_eq(s1, s3);
    cr_assert_neq(s1, s2);
    hs_site_note_alloc(s1);
    hs_site_note_alloc(s1);
    hs_site_note_free(s1);
    hs_site_counters_t *c = hs_site_counters(s1);
    cr_assert_eq(c->allocs, 2);
    cr_assert_eq(c->frees, 1);
    hs_site_key_t k;
    cr_assert(hs_site_key(s2, &k));
    cr_assert_eq(k.stack_id, 5);
    cr_assert_eq(k.size, 200);
    cr_assert_eq(k.labels, 0);
    cr_assert(!hs_site_key(999, &k));
}

Test(stack_table, sites_per_label_set)
{
    /* Samples of one stack and size with other labels are other rows, kept apart until freed. */
    cr_assert_eq(hs_stack_table_init(1000, 1000), HS_OK);
    uint32_t a, b, c;
    cr_assert_eq(hs_site_intern(7, 64, 3, &a), HS_OK);
    cr_assert_eq(hs_site_intern(7, 64, 4, &b), HS_OK);
    cr_assert_eq(hs_site_intern(7, 64, 3, &c), HS_OK);
    cr_assert_neq(a, b);
    cr_assert_eq(a, c);
    hs_site_key_t k;
    cr_assert(hs_site_key(b, &k));
    cr_assert_eq(k.labels, 4);
    cr_assert_eq(k.stack_id, 7);
}

Test(stack_table, full_table_keeps_existing)
{
    cr_assert_eq(hs_stack_table_init(16, 16), HS_OK);
    uint32_t id;
    for (uintptr_t i = 0; i < 16; i++)
        cr_assert_eq(hs_stack_intern(&i, 1, &id), HS_OK);
    uintptr_t extra = 1000;
    cr_assert_eq(hs_stack_intern(&extra, 1, &id), HS_ERR_FULL);
    cr_assert_eq(hs_stack_intern(&extra, 1, &id), HS_ERR_FULL);
    uintptr_t old = 7;
    cr_assert_eq(hs_stack_intern(&old, 1, &id), HS_OK);
    cr_assert_eq(hs_stack_count(), 16);
}

Test(stack_table, grows_to_many_keys)
{
    const uint32_t n = 200000;
    cr_assert_eq(hs_stack_table_init(n, 16), HS_OK);
    for (uint32_t i = 0; i < n; i++) {
        uintptr_t f[2] = {i, i * 7u};
        uint32_t id;
        cr_assert_eq(hs_stack_intern(f, 2, &id), HS_OK);
        cr_assert_eq(id, i);
    }
    for (uint32_t i = 0; i < n; i += 997) {
        uintptr_t f[2] = {i, i * 7u};
        uint32_t id;
        cr_assert_eq(hs_stack_intern(f, 2, &id), HS_OK);
        cr_assert_eq(id, i);
    }
    cr_assert_eq(hs_stack_count(), n);
}

#define THREADS 4
#define KEYS    20000

static uint32_t ids[THREADS][KEYS];

static void *intern_worker(void *arg)
{
    int t = (int)(intptr_t)arg;
    /* Every thread interns the same keys, in a different order: j -> j * m mod KEYS is a
     * permutation because each m is coprime with KEYS = 2^5 * 5^4. */
    static const uint32_t mult[THREADS] = {1, 3, 7, 9};
    for (uint32_t j = 0; j < KEYS; j++) {
        uint32_t k = (uint32_t)(((uint64_t)j * mult[t] * 7919u) % KEYS);
        uintptr_t f[3] = {k, k ^ 0x5555, 42};
        if (hs_stack_intern(f, 3, &ids[t][k]) != HS_OK)
            return (void *)1;
    }
    return NULL;
}

Test(stack_table, concurrent_interning_agrees)
{
    cr_assert_eq(hs_stack_table_init(KEYS, 16), HS_OK);
    pthread_t th[THREADS];
    for (int t = 0; t < THREADS; t++)
        pthread_create(&th[t], NULL, intern_worker, (void *)(intptr_t)t);
    for (int t = 0; t < THREADS; t++) {
        void *r;
        pthread_join(th[t], &r);
        cr_assert_null(r);
    }
    cr_assert_eq(hs_stack_count(), KEYS);
    for (uint32_t k = 0; k < KEYS; k++)
        for (int t = 1; t < THREADS; t++)
            cr_assert_eq(ids[t][k], ids[0][k], "key %u: thread %d got %u, thread 0 got %u", k, t,
                         ids[t][k], ids[0][k]);
}

Test(intern, hash_spreads_addresses)
{
    /* Consecutive return addresses must land in many different shards (top 5 bits). */
    int seen[32] = {0}, distinct = 0;
    for (uintptr_t a = 0x401000; a < 0x401000 + 64 * 16; a += 16) {
        uint64_t h = hs_intern_hash(&a, sizeof a);
        if (!seen[h >> 59]++)
            distinct++;
    }
    cr_assert(distinct >= 28, "only %d of 32 shards used", distinct);
}
