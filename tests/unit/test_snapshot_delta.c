/*
 * test_snapshot_delta.c - increments of sampled allocations between two snapshots (rows keyed
 * by stack, size and label set; never negative; new rows whole; live counts untouched; the
 * baseline to keep is the second snapshot's).
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "snapshot_delta.h"

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

Test(snapshot_delta, increments)
{
    hs_snapshot_stack_t stacks[4];
    hs_snapshot_row_t r1[] = {{0, 16, 5, 0}, {0, 32, 7, 7}, {1, 32, 3, 0}, {2, 16, 10, 2}};
    hs_snapshot_row_t r2[] = {
        {0, 16, 8, 0}, {0, 32, 7, 7}, {1, 32, 3, 1}, {2, 16, 4, 0}, {3, 64, 2, 2}};
    hs_snapshot_t s1, s2;
    snap_init(&s1, r1, 4, stacks);
    snap_init(&s2, r2, 5, stacks);

    hs_snapshot_delta_t *b1, *b2;
    size_t nz;
    cr_assert_eq(hs_snapshot_delta_base(&s1, &b1), HS_OK);
    cr_assert_eq(hs_snapshot_delta_apply(b1, &s2, &b2, &nz), HS_OK);
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
    hs_snapshot_delta_t *b3;
    cr_assert_eq(hs_snapshot_delta_apply(b2, &s3, &b3, &nz), HS_OK);
    cr_assert_eq(r3[0].allocs, 0);
    cr_assert_eq(r3[1].allocs, 2);
    cr_assert_eq(r3[2].allocs, 0);
    cr_assert_eq(nz, 1);

    /* No baseline: everything since the start. */
    hs_snapshot_row_t r4[] = {{1, 8, 4, 1}};
    hs_snapshot_t s4;
    hs_snapshot_delta_t *b4;
    snap_init(&s4, r4, 1, stacks);
    cr_assert_eq(hs_snapshot_delta_apply(NULL, &s4, &b4, NULL), HS_OK);
    cr_assert_eq(r4[0].allocs, 4);
    hs_snapshot_delta_free(b1);
    hs_snapshot_delta_free(b2);
    hs_snapshot_delta_free(b3);
    hs_snapshot_delta_free(b4);
}

Test(snapshot_delta, label_sets_are_rows_of_their_own)
{
    /* One stack and size with two label sets: each row has its own increment. */
    hs_snapshot_stack_t stacks[4];
    hs_snapshot_row_t r1[] = {{0, 16, 5, 0, 1}, {0, 16, 9, 0, 2}};
    hs_snapshot_row_t r2[] = {{0, 16, 6, 0, 1}, {0, 16, 20, 0, 2}, {0, 16, 4, 4, 3}};
    hs_snapshot_t s1, s2;
    snap_init(&s1, r1, 2, stacks);
    snap_init(&s2, r2, 3, stacks);
    hs_snapshot_delta_t *b1, *b2;
    cr_assert_eq(hs_snapshot_delta_base(&s1, &b1), HS_OK);
    cr_assert_eq(hs_snapshot_delta_apply(b1, &s2, &b2, NULL), HS_OK);
    cr_assert_eq(r2[0].allocs, 1);
    cr_assert_eq(r2[1].allocs, 11);
    cr_assert_eq(r2[2].allocs, 4);
    hs_snapshot_delta_free(b1);
    hs_snapshot_delta_free(b2);
}

Test(snapshot_delta, many_rows_in_the_baseline)
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
    hs_snapshot_delta_t *ba, *bb;
    cr_assert_eq(hs_snapshot_delta_base(&sa, &ba), HS_OK);
    cr_assert_eq(hs_snapshot_delta_apply(ba, &sb, &bb, NULL), HS_OK);
    for (size_t i = 0; i < N; i++)
        cr_assert_eq(b[i].allocs, 2 * i + 1, "row %zu", i);
    hs_snapshot_delta_free(ba);
    hs_snapshot_delta_free(bb);
    free(a);
    free(b);
}
