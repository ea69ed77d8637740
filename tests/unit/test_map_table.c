/*
 * test_map_table.c - sampled mappings as sorted ranges (runtime/map_table.h): cuts that take
 * a whole entry, a head, a tail, a middle (two pieces) or span several entries, and the
 * owner's callbacks for the pieces and the entries removed.
 */
#include <criterion/criterion.h>
#include <stdint.h>

#include "live_table.h"
#include "map_table.h"

typedef struct ops_log {
    uint32_t kept[8];
    uint64_t kept_len[8];
    int nkept;
    uint32_t gone[8];
    int ngone;
    uint32_t next_site;
    int refuse; /* keep nothing */
} ops_log_t;

static uint32_t keep(void *arg, const hs_map_entry_t *old, uint64_t piece_len)
{
    ops_log_t *l = arg;
    l->kept[l->nkept] = old->site;
    l->kept_len[l->nkept++] = piece_len;
    return l->refuse ? HS_LIVE_NO_SITE : l->next_site++;
}

static void gone(void *arg, const hs_map_entry_t *old)
{
    ops_log_t *l = arg;
    l->gone[l->ngone++] = old->site;
}

static void drain(void)
{
    hs_map_entry_t e;
    for (uintptr_t a = 0x100000; a < 0x200000; a += 0x1000)
        while (hs_map_table_take(a, &e))
            ;
}

Test(map_table, cuts_adjust_and_split)
{
    drain();
    cr_assert_not(hs_map_table_active());
    cr_assert_eq(hs_map_table_insert(0x100000, 0x10000, 1), HS_OK);
    cr_assert_eq(hs_map_table_insert(0x120000, 0x10000, 2), HS_OK);
    cr_assert_eq(hs_map_table_insert(0x140000, 0x10000, 3), HS_OK);
    cr_assert_eq(hs_map_table_count(), 3);

    /* The middle of entry 1: two pieces, under new sites 100 and 101. */
    ops_log_t l = {.next_site = 100};
    hs_map_table_cut(0x104000, 0x4000, &(hs_map_cut_ops_t){keep, gone, &l});
    cr_assert_eq(l.nkept, 2);
    cr_assert_eq(l.kept_len[0], 0x4000);
    cr_assert_eq(l.kept_len[1], 0x8000);
    cr_assert_eq(l.ngone, 1);
    cr_assert_eq(l.gone[0], 1);
    cr_assert_eq(hs_map_table_count(), 4);
    hs_map_entry_t e;
    cr_assert(hs_map_table_take(0x108000, &e));
    cr_assert_eq(e.len, 0x8000);
    cr_assert_eq(e.site, 101);
    cr_assert(hs_map_table_insert(0x108000, 0x8000, 101) == HS_OK);

    /* A range over the tail of entry 2 and the head of entry 3, and the gap between. */
    l = (ops_log_t){.next_site = 200};
    hs_map_table_cut(0x128000, 0x20000, &(hs_map_cut_ops_t){keep, gone, &l});
    cr_assert_eq(l.nkept, 2);
    cr_assert_eq(l.kept_len[0], 0x8000); /* head of 2 */
    cr_assert_eq(l.kept_len[1], 0x8000); /* tail of 3 */
    cr_assert_eq(l.ngone, 2);
    cr_assert(hs_map_table_take(0x120000, &e));
    cr_assert_eq(e.len, 0x8000);
    cr_assert(hs_map_table_take(0x148000, &e));
    cr_assert_eq(e.len, 0x8000);

    /* A piece the owner does not keep is forgotten; a cut of nothing calls nothing. */
    l = (ops_log_t){.refuse = 1};
    hs_map_table_cut(0x100000, 0x2000, &(hs_map_cut_ops_t){keep, gone, &l});
    cr_assert_eq(l.nkept, 1);
    cr_assert_eq(l.ngone, 1);
    cr_assert_not(hs_map_table_take(0x102000, &e));
    l = (ops_log_t){0};
    hs_map_table_cut(0x160000, 0x1000, &(hs_map_cut_ops_t){keep, gone, &l});
    cr_assert_eq(l.nkept + l.ngone, 0);
    drain();
    cr_assert_eq(hs_map_table_count(), 0);
}

Test(map_table, many_entries_stay_sorted)
{
    drain();
    /* Inserted out of order, more than the first capacity (256). */
    for (uint32_t i = 0; i < 600; i++) {
        uint32_t k = (i * 7) % 600;
        cr_assert_eq(hs_map_table_insert(0x100000 + k * 0x100, 0x80, k), HS_OK);
    }
    hs_map_entry_t e;
    for (uint32_t k = 0; k < 600; k++) {
        cr_assert(hs_map_table_take(0x100000 + k * 0x100, &e), "entry %u", k);
        cr_assert_eq(e.site, k);
    }
    cr_assert_not(hs_map_table_active());
}
