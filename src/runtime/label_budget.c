/*
 * label_budget.c - keep the heaviest label sets of a snapshot (see label_budget.h).
 *
 * One pass gathers the distinct sets of the rows that count (allocations in the window or live
 * ones) with their estimated in-use and allocated bytes; if there are more than max, they are
 * ranked by weight and a second pass gives the rows of every set past the first max its folded
 * set. The folded sets themselves (ids with HS_LABELS_OTHER_BIT) take part like any set: a row
 * folded at sample time may stay as it is.
 *
 * No global state; allocates (writer thread, under the guard).
 */
#include "label_budget.h"

#include <stdbool.h>
#include <stdlib.h>

#include "estimate.h"
#include "labels.h"

typedef struct hs_label_budget_set {
    uint32_t set;
    double inuse, alloc;
    double weight;
} hs_label_budget_set_t;

static int hs_label_budget_cmp(const void *a, const void *b)
{
    const hs_label_budget_set_t *x = a, *y = b;
    if (x->weight != y->weight)
        return x->weight > y->weight ? -1 : 1;
    return x->set < y->set ? -1 : x->set > y->set;
}

/* Position of set in the sorted ids, or -1. */
static ptrdiff_t hs_label_budget_find(const uint32_t *ids, size_t n, uint32_t set)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ids[mid] < set)
            lo = mid + 1;
        else if (ids[mid] > set)
            hi = mid;
        else
            return (ptrdiff_t)mid;
    }
    return -1;
}

static int hs_label_budget_id_cmp(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static bool hs_label_budget_counts(const hs_snapshot_row_t *r)
{
    return r->allocs || r->live;
}

hs_err_t hs_label_budget_apply(hs_snapshot_t *snap, uint32_t max_sets, size_t *folded)
{
    if (folded)
        *folded = 0;
    /* The distinct sets: sort the ids of the rows that count, then merge equal ones. */
    uint32_t *ids = malloc((snap->nrows ? snap->nrows : 1) * sizeof *ids);
    if (!ids)
        return HS_ERR_NOMEM;
    size_t n = 0;
    for (size_t i = 0; i < snap->nrows; i++)
        if (hs_label_budget_counts(&snap->rows[i]) && snap->rows[i].labels != HS_LABELS_NONE)
            ids[n++] = snap->rows[i].labels;
    qsort(ids, n, sizeof *ids, hs_label_budget_id_cmp);
    size_t nsets = 0;
    for (size_t i = 0; i < n; i++)
        if (nsets == 0 || ids[nsets - 1] != ids[i])
            ids[nsets++] = ids[i];
    if (nsets <= max_sets) {
        free(ids);
        return HS_OK;
    }

    hs_label_budget_set_t *sets = calloc(nsets, sizeof *sets);
    uint32_t *map = malloc(nsets * sizeof *map); /* ids[k] becomes map[k] */
    if (!sets || !map) {
        free(sets);
        free(map);
        free(ids);
        return HS_ERR_NOMEM;
    }
    double inuse = 0, alloc = 0;
    for (size_t i = 0; i < nsets; i++)
        sets[i].set = ids[i];
    for (size_t i = 0; i < snap->nrows; i++) {
        const hs_snapshot_row_t *r = &snap->rows[i];
        ptrdiff_t k = hs_label_budget_counts(r) ? hs_label_budget_find(ids, nsets, r->labels) : -1;
        if (k < 0)
            continue;
        double o, live, all;
        hs_estimate_row(snap->rate, r->size, r->live, &o, &live);
        hs_estimate_row(snap->rate, r->size, r->allocs, &o, &all);
        sets[k].inuse += live;
        sets[k].alloc += all;
        inuse += live;
        alloc += all;
    }
    for (size_t i = 0; i < nsets; i++)
        sets[i].weight =
            (inuse > 0 ? sets[i].inuse / inuse : 0) + (alloc > 0 ? sets[i].alloc / alloc : 0);
    qsort(sets, nsets, sizeof *sets, hs_label_budget_cmp);
    for (size_t i = 0; i < nsets; i++) {
        uint32_t set = sets[i].set;
        map[hs_label_budget_find(ids, nsets, set)] = i < max_sets ? set
                                                     : max_sets   ? hs_labels_other(set)
                                                                  : HS_LABELS_NONE;
    }
    for (size_t i = 0; i < snap->nrows; i++) {
        hs_snapshot_row_t *r = &snap->rows[i];
        ptrdiff_t k = hs_label_budget_counts(r) ? hs_label_budget_find(ids, nsets, r->labels) : -1;
        if (k >= 0)
            r->labels = map[k];
    }
    if (folded)
        *folded = nsets - max_sets;
    free(map);
    free(sets);
    free(ids);
    return HS_OK;
}
