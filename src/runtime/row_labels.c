/*
 * row_labels.c - the string labels of a dump's rows (see row_labels.h).
 *
 * Merging: the pairs of a row are gathered by precedence - the dump's extra pairs, then the
 * set's, then the process's - each key taken from the first source that has it. Keys the
 * policy drops are left out; if more than policy.max remain, the ones kept are the first by
 * (precedence, key), so that the process's labels go first and then the set's last keys. The
 * result is sorted by key. Sources are at most HS_LABELS_MAX_PAIRS + HS_LABEL_SPEC_MAX_PAIRS +
 * nextra pairs, merged on the stack (the first HS_LABELS_MAX_PAIRS extra pairs count).
 *
 * The cache maps a set id to its merged pairs (rows without extra pairs); arrays handed out are
 * listed in `blocks` and freed together. Strings are not copied: they are the label table's
 * (which never moves), the process's (static) and the caller's extras (which must outlive the
 * encoding, as every string of a pprof row).
 *
 * Single-threaded (one dump at a time: dump_lock); allocates.
 */
#include "row_labels.h"

#include <stdlib.h>
#include <string.h>

#include "labels.h"

#define HS_ROW_LABELS_SOURCES (2 * HS_LABELS_MAX_PAIRS + HS_LABEL_SPEC_MAX_PAIRS)

struct hs_row_labels_entry {
    uint32_t set;
    uint32_t n;
    const hs_label_t *labels;
    int used;
};

typedef struct hs_row_labels_ranked {
    hs_label_t label;
    int rank; /* 0 extra, 1 set, 2 process */
} hs_row_labels_ranked_t;

void hs_row_labels_init(hs_row_labels_t *c, const hs_row_labels_policy_t *policy)
{
    memset(c, 0, sizeof *c);
    c->policy.max = UINT32_MAX;
    if (policy)
        c->policy = *policy;
}

static int hs_row_labels_by_rank(const void *a, const void *b)
{
    const hs_row_labels_ranked_t *x = a, *y = b;
    if (x->rank != y->rank)
        return x->rank - y->rank;
    return strcmp(x->label.key, y->label.key);
}

static int hs_row_labels_by_key(const void *a, const void *b)
{
    return strcmp(((const hs_label_t *)a)->key, ((const hs_label_t *)b)->key);
}

static bool hs_row_labels_has(const hs_row_labels_ranked_t *v, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i].label.key, key) == 0)
            return true;
    return false;
}

static bool hs_row_labels_dropped(const hs_row_labels_t *c, const char *key)
{
    for (size_t i = 0; i < c->policy.ndrop; i++)
        if (strcmp(c->policy.drop[i], key) == 0)
            return true;
    return false;
}

/* Add the pairs of one source, at its rank, unless dropped or already present. */
static void hs_row_labels_gather(const hs_row_labels_t *c, hs_row_labels_ranked_t *v, size_t *n,
                                 const hs_label_t *src, size_t nsrc, int rank)
{
    for (size_t i = 0; i < nsrc && *n < HS_ROW_LABELS_SOURCES; i++) {
        if (hs_row_labels_dropped(c, src[i].key) || hs_row_labels_has(v, *n, src[i].key))
            continue;
        v[(*n)++] = (hs_row_labels_ranked_t){src[i], rank};
    }
}

/* The merged pairs of (set, extra) in a new block; *out NULL when there are none. */
static hs_err_t hs_row_labels_merge(hs_row_labels_t *c, uint32_t set, const hs_label_t *extra,
                                    uint32_t nextra, hs_label_t **out, uint32_t *n)
{
    hs_row_labels_ranked_t v[HS_ROW_LABELS_SOURCES];
    hs_label_t pairs[HS_LABELS_MAX_PAIRS];
    size_t m = 0, nproc;
    const hs_label_t *proc = hs_labels_process(&nproc);
    hs_row_labels_gather(c, v, &m, extra,
                         nextra < HS_LABELS_MAX_PAIRS ? nextra : HS_LABELS_MAX_PAIRS, 0);
    hs_row_labels_gather(c, v, &m, pairs, hs_labels_get(set, pairs), 1);
    hs_row_labels_gather(c, v, &m, proc, nproc, 2);
    *out = NULL;
    *n = 0;
    if (m > c->policy.max) {
        qsort(v, m, sizeof *v, hs_row_labels_by_rank);
        m = c->policy.max;
        c->trimmed += m > 0; /* max 0 asks for no labels at all: nothing is lost by surprise */
    }
    if (m == 0)
        return HS_OK;
    if (hs_array_reserve((void **)&c->blocks, &c->blocks_cap, c->nblocks + 1, sizeof *c->blocks,
                         16) != HS_OK)
        return HS_ERR_NOMEM;
    hs_label_t *labels = malloc(m * sizeof *labels);
    if (!labels)
        return HS_ERR_NOMEM;
    for (size_t i = 0; i < m; i++)
        labels[i] = v[i].label;
    qsort(labels, m, sizeof *labels, hs_row_labels_by_key);
    c->blocks[c->nblocks++] = labels;
    *out = labels;
    *n = (uint32_t)m;
    return HS_OK;
}

static hs_err_t hs_row_labels_grow(hs_row_labels_t *c)
{
    size_t cap = c->cap ? c->cap * 2 : 64;
    hs_row_labels_entry_t *slots = calloc(cap, sizeof *slots);
    if (!slots)
        return HS_ERR_NOMEM;
    for (size_t i = 0; i < c->cap; i++) {
        if (!c->slots[i].used)
            continue;
        size_t j = hs_mix64(c->slots[i].set) & (cap - 1);
        while (slots[j].used)
            j = (j + 1) & (cap - 1);
        slots[j] = c->slots[i];
    }
    free(c->slots);
    c->slots = slots;
    c->cap = cap;
    return HS_OK;
}

hs_err_t hs_row_labels_resolve(hs_row_labels_t *c, uint32_t set, const hs_label_t *extra,
                               uint32_t nextra, const hs_label_t **out, uint32_t *n)
{
    hs_label_t *labels;
    hs_err_t err;
    if (nextra) {
        err = hs_row_labels_merge(c, set, extra, nextra, &labels, n);
        *out = labels;
        return err;
    }
    if ((c->used + 1) * 2 > c->cap && hs_row_labels_grow(c) != HS_OK)
        return HS_ERR_NOMEM;
    size_t j = hs_mix64(set) & (c->cap - 1);
    for (; c->slots[j].used; j = (j + 1) & (c->cap - 1)) {
        if (c->slots[j].set == set) {
            *out = c->slots[j].labels;
            *n = c->slots[j].n;
            return HS_OK;
        }
    }
    err = hs_row_labels_merge(c, set, NULL, 0, &labels, n);
    if (err != HS_OK)
        return err;
    c->slots[j] = (hs_row_labels_entry_t){.set = set, .n = *n, .labels = labels, .used = 1};
    c->used++;
    *out = labels;
    return HS_OK;
}

void hs_row_labels_free(hs_row_labels_t *c)
{
    for (size_t i = 0; i < c->nblocks; i++)
        free(c->blocks[i]);
    free(c->blocks);
    free(c->slots);
    memset(c, 0, sizeof *c);
}
