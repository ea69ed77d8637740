/*
 * test_profile_delta.c - increments of alloc_* between two snapshots (rows keyed by stack and
 * size; never negative; new rows whole; the baseline to keep is the second snapshot's) and
 * between two pprof profiles (samples matched by stack addresses and labels; inuse_* left as
 * they are).
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "pprof_writer.h"
#include "profile_delta.h"

static uintptr_t frames[4][2] = {
    {0x1001, 0x2001}, {0x1011, 0x2001}, {0x1021, 0x2011}, {0x1031, 0x2021}};

static void snap_init(hs_snapshot_t *s, hs_snapshot_row_t *rows, size_t n,
                      hs_snapshot_stack_t *stacks)
{
    memset(s, 0, sizeof *s);
    for (int i = 0; i < 4; i++) {
        stacks[i].frames = frames[i];
        stacks[i].depth = 2;
    }
    s->rate = 1;
    s->time_ns = 2000000000;
    s->start_ns = 1000000000;
    s->rows = rows;
    s->nrows = n;
    s->stacks = stacks;
    s->nstacks = 4;
}

Test(profile_delta, snapshot_increments)
{
    hs_snapshot_stack_t stacks[4];
    hs_snapshot_row_t r1[] = {{0, 16, 5, 0}, {0, 32, 7, 7}, {1, 32, 3, 0}, {2, 16, 10, 2}};
    hs_snapshot_row_t r2[] = {
        {0, 16, 8, 0}, {0, 32, 7, 7}, {1, 32, 3, 1}, {2, 16, 4, 0}, {3, 64, 2, 2}};
    hs_snapshot_t s1, s2;
    snap_init(&s1, r1, 4, stacks);
    snap_init(&s2, r2, 5, stacks);

    hs_delta_base_t *b1, *b2;
    size_t nz;
    cr_assert_eq(hs_profile_delta_base(&s1, &b1), HS_OK);
    cr_assert_eq(hs_profile_delta_apply(b1, &s2, &b2, &nz), HS_OK);
    cr_assert_eq(r2[0].allocs, 3);
    cr_assert_eq(r2[1].allocs, 0); /* unchanged: 0, still live */
    cr_assert_eq(r2[2].allocs, 0);
    cr_assert_eq(r2[3].allocs, 0); /* went down: 0, never negative */
    cr_assert_eq(r2[4].allocs, 2); /* new: all of it */
    cr_assert_eq(r2[1].live, 7);   /* live counts are untouched */
    cr_assert_eq(nz, 4);           /* (2,16) has neither increment nor live allocation */

    /* The baseline to keep is the second snapshot's cumulative counts. */
    hs_snapshot_row_t r3[] = {{0, 16, 8, 0}, {0, 32, 9, 7}, {3, 64, 2, 0}};
    hs_snapshot_t s3;
    snap_init(&s3, r3, 3, stacks);
    hs_delta_base_t *b3;
    cr_assert_eq(hs_profile_delta_apply(b2, &s3, &b3, &nz), HS_OK);
    cr_assert_eq(r3[0].allocs, 0);
    cr_assert_eq(r3[1].allocs, 2);
    cr_assert_eq(r3[2].allocs, 0);
    cr_assert_eq(nz, 1);

    /* No baseline: everything since the start. */
    hs_snapshot_row_t r4[] = {{1, 8, 4, 1}};
    hs_snapshot_t s4;
    hs_delta_base_t *b4;
    snap_init(&s4, r4, 1, stacks);
    cr_assert_eq(hs_profile_delta_apply(NULL, &s4, &b4, NULL), HS_OK);
    cr_assert_eq(r4[0].allocs, 4);
    hs_profile_delta_base_free(b1);
    hs_profile_delta_base_free(b2);
    hs_profile_delta_base_free(b3);
    hs_profile_delta_base_free(b4);
}

Test(profile_delta, many_rows_in_the_baseline)
{
    enum { N = 5000 };
    hs_snapshot_row_t *a = calloc(N, sizeof *a), *b = calloc(N, sizeof *b);
    hs_snapshot_stack_t stacks[4];
    hs_snapshot_t sa, sb;
    for (size_t i = 0; i < N; i++) {
        a[i] = (hs_snapshot_row_t){(uint32_t)(i % 4), 8 * (i / 4 + 1), i, 0};
        b[i] = (hs_snapshot_row_t){(uint32_t)(i % 4), 8 * (i / 4 + 1), 3 * i + 1, 0};
    }
    snap_init(&sa, a, N, stacks);
    snap_init(&sb, b, N, stacks);
    hs_delta_base_t *ba, *bb;
    cr_assert_eq(hs_profile_delta_base(&sa, &ba), HS_OK);
    cr_assert_eq(hs_profile_delta_apply(ba, &sb, &bb, NULL), HS_OK);
    for (size_t i = 0; i < N; i++)
        cr_assert_eq(b[i].allocs, 2 * i + 1, "row %zu", i);
    hs_profile_delta_base_free(ba);
    hs_profile_delta_base_free(bb);
    free(a);
    free(b);
}

static void encode(hs_snapshot_t *s, hs_pprof_t *p)
{
    hs_pprof_row_t rows[8];
    cr_assert_leq(s->nrows, 8);
    for (size_t i = 0; i < s->nrows; i++) {
        const hs_snapshot_row_t *r = &s->rows[i];
        const hs_snapshot_stack_t *st = &s->stacks[r->stack_id];
        rows[i] = (hs_pprof_row_t){st->frames, st->depth, HS_MODULES_GEN_NONE,
                                   r->size,    r->allocs, r->live};
    }
    hs_pprof_profile_t profile = {.rows = rows,
                                  .nrows = s->nrows,
                                  .rate = s->rate,
                                  .time_ns = s->time_ns,
                                  .start_ns = s->start_ns};
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
    hs_snapshot_stack_t stacks[4];
    hs_snapshot_row_t r1[] = {{0, 16, 5, 1}, {0, 32, 7, 7}, {2, 16, 10, 2}};
    hs_snapshot_row_t r2[] = {{0, 16, 8, 2}, {0, 32, 7, 7}, {2, 16, 4, 0}, {3, 64, 2, 2}};
    hs_snapshot_t s1, s2;
    snap_init(&s1, r1, 3, stacks);
    snap_init(&s2, r2, 4, stacks);
    hs_pprof_t prev, cur;
    encode(&s1, &prev);
    encode(&s2, &cur);
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
    hs_snapshot_stack_t stacks[4];
    hs_snapshot_row_t r1[] = {{0, 16, 5, 1}};
    hs_snapshot_t s1;
    snap_init(&s1, r1, 1, stacks);
    hs_pprof_t prev, cur;
    encode(&s1, &prev);
    encode(&s1, &cur);
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
