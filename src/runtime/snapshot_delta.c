/*
 * snapshot_delta.c - increments of the rows' cumulative allocations (see snapshot_delta.h).
 *
 * A baseline is an open-addressing table (stack id, size, label set) -> cumulative sampled
 * allocations, built from one snapshot and looked up row by row for the next. Sites are
 * append-only and such a triple names one site for the life of the process, so the key is
 * stable. Raw
 * counts keep the sum of the uploads' alloc estimates equal to the cumulative estimate.
 *
 * Thread-safety: no global state; allocates (the writer thread, under the guard). Fork: a
 * baseline is plain memory; the Pyroscope exporter decides what a child keeps (pyroscope.c).
 */
#include "snapshot_delta.h"

#include <stdlib.h>

typedef struct hs_snapshot_delta_slot {
    uint64_t size;
    uint64_t allocs;
    uint32_t stack_id;
    uint32_t labels;
    uint32_t used;
} hs_snapshot_delta_slot_t;

struct hs_snapshot_delta {
    hs_snapshot_delta_slot_t *slots;
    size_t cap; /* power of two */
};

static uint64_t hs_snapshot_delta_hash(const hs_snapshot_row_t *r)
{
    return hs_mix64(r->size * 0x9e3779b97f4a7c15ull ^ r->stack_id ^ (uint64_t)r->labels << 32);
}

static int hs_snapshot_delta_same(const hs_snapshot_delta_slot_t *s, const hs_snapshot_row_t *r)
{
    return s->stack_id == r->stack_id && s->size == r->size && s->labels == r->labels;
}

hs_err_t hs_snapshot_delta_base(const hs_snapshot_t *snap, hs_snapshot_delta_t **out)
{
    *out = NULL;
    hs_snapshot_delta_t *b = calloc(1, sizeof *b);
    if (!b)
        return HS_ERR_NOMEM;
    b->cap = 16;
    while (b->cap < snap->nrows * 2)
        b->cap *= 2;
    b->slots = calloc(b->cap, sizeof *b->slots);
    if (!b->slots) {
        free(b);
        return HS_ERR_NOMEM;
    }
    for (size_t i = 0; i < snap->nrows; i++) {
        const hs_snapshot_row_t *r = &snap->rows[i];
        size_t j = hs_snapshot_delta_hash(r) & (b->cap - 1);
        while (b->slots[j].used && !hs_snapshot_delta_same(&b->slots[j], r))
            j = (j + 1) & (b->cap - 1);
        b->slots[j].used = 1;
        b->slots[j].stack_id = r->stack_id;
        b->slots[j].labels = r->labels;
        b->slots[j].size = r->size;
        b->slots[j].allocs = r->allocs;
    }
    *out = b;
    return HS_OK;
}

static uint64_t hs_snapshot_delta_lookup(const hs_snapshot_delta_t *b, const hs_snapshot_row_t *r)
{
    if (!b)
        return 0;
    size_t j = hs_snapshot_delta_hash(r) & (b->cap - 1);
    for (; b->slots[j].used; j = (j + 1) & (b->cap - 1))
        if (hs_snapshot_delta_same(&b->slots[j], r))
            return b->slots[j].allocs;
    return 0;
}

hs_err_t hs_snapshot_delta_apply(const hs_snapshot_delta_t *base, hs_snapshot_t *snap,
                                 hs_snapshot_delta_t **next, size_t *nonzero)
{
    hs_err_t err = hs_snapshot_delta_base(snap, next);
    if (err != HS_OK)
        return err;
    size_t nz = 0;
    for (size_t i = 0; i < snap->nrows; i++) {
        hs_snapshot_row_t *r = &snap->rows[i];
        uint64_t before = hs_snapshot_delta_lookup(base, r);
        r->allocs = r->allocs > before ? r->allocs - before : 0;
        nz += r->allocs || r->live;
    }
    if (nonzero)
        *nonzero = nz;
    return HS_OK;
}

void hs_snapshot_delta_free(hs_snapshot_delta_t *b)
{
    if (!b)
        return;
    free(b->slots);
    free(b);
}
