/*
 * test_profile_delta.c - increments of alloc_* between two pprof profiles (samples matched by
 * stack addresses and labels; never negative; inuse_* left as they are; a profile without
 * alloc_* types unchanged).
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "pprof_writer.h"
#include "pprof_file.h"
#include "profile_delta.h"

static uintptr_t frames[4][2] = {
    {0x1001, 0x2001}, {0x1011, 0x2001}, {0x1021, 0x2011}, {0x1031, 0x2021}};

/* A row of stack s (one of frames[]): allocs sampled of size bytes, live still live. */
static hs_pprof_row_t row(int s, uint64_t size, uint64_t allocs, uint64_t live)
{
    return (hs_pprof_row_t){frames[s], 2, HS_MODULES_GEN_NONE, size, allocs, live};
}

static void encode(const hs_pprof_row_t *rows, size_t n, hs_pprof_t *p)
{
    hs_pprof_profile_t profile = {
        .rows = rows, .nrows = n, .rate = 1, .time_ns = 2000000000, .start_ns = 1000000000};
    uint8_t *buf;
    size_t len;
    char why[256];
    cr_assert_eq(hs_pprof_encode(&profile, &buf, &len), HS_OK);
    cr_assert_eq(hs_pprof_parse(buf, len, p, why, sizeof why), HS_OK, "%s", why);
    free(buf);
}

/* The sample whose leaf is at address leaf - 1 with "bytes" = size, or NULL. */
static hs_pb_sample_t *find(const hs_pprof_t *p, uintptr_t leaf, int64_t size)
{
    for (size_t i = 0; i < p->pb->n_sample; i++) {
        hs_pb_sample_t *s = p->pb->sample[i];
        int64_t b;
        if (hs_pprof_location(p, s->location_id[0])->address == leaf - 1 &&
            hs_pprof_label_num(p, s, "bytes", &b) && b == size)
            return s;
    }
    return NULL;
}

Test(profile_delta, pprof_increments)
{
    hs_pprof_row_t r1[] = {row(0, 16, 5, 1), row(0, 32, 7, 7), row(2, 16, 10, 2)};
    hs_pprof_row_t r2[] = {row(0, 16, 8, 2), row(0, 32, 7, 7), row(2, 16, 4, 0), row(3, 64, 2, 2)};
    hs_pprof_t prev, cur;
    encode(r1, 3, &prev);
    encode(r2, 4, &cur);
    cr_assert_eq(hs_profile_delta_pprof(&prev, &cur), HS_OK);
    /* values: alloc_objects, alloc_space, inuse_objects, inuse_space (exact mode) */
    int64_t *v = find(&cur, 0x1001, 16)->value;
    cr_assert(v[0] == 3 && v[1] == 48 && v[2] == 2 && v[3] == 32);
    v = find(&cur, 0x1001, 32)->value;
    cr_assert(v[0] == 0 && v[1] == 0 && v[2] == 7 && v[3] == 224);
    v = find(&cur, 0x1021, 16)->value; /* fewer than before: 0, not negative */
    cr_assert(v[0] == 0 && v[1] == 0);
    v = find(&cur, 0x1031, 64)->value; /* not in prev */
    cr_assert(v[0] == 2 && v[1] == 128 && v[2] == 2 && v[3] == 128);
    hs_pprof_free(&prev);
    hs_pprof_free(&cur);
}

Test(profile_delta, pprof_without_alloc_types_is_unchanged)
{
    hs_pprof_row_t r1[] = {row(0, 16, 5, 1)};
    hs_pprof_t prev, cur;
    encode(r1, 1, &prev);
    encode(r1, 1, &cur);
    /* Rename the alloc_* types of cur: nothing is cumulative any more. */
    for (size_t i = 0; i < cur.pb->n_string_table; i++)
        if (strncmp(cur.pb->string_table[i], "alloc_", 6) == 0)
            cur.pb->string_table[i][0] = 'A';
    cr_assert_eq(hs_profile_delta_pprof(&prev, &cur), HS_OK);
    cr_assert_eq(cur.pb->sample[0]->value[0], 5);
    cr_assert_eq(cur.pb->sample[0]->value[1], 80);
    hs_pprof_free(&prev);
    hs_pprof_free(&cur);
}
