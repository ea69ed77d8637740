/*
 * row_labels.h - the string labels of a dump's rows: each row's label set (labels.h) with the
 * labels of the whole process (HEAPSAMPLER_LABELS key=value) and whatever the dump itself adds
 * to a row, as the pprof writer takes them (pprof_writer.h).
 *
 * A set's own key wins over the process's; pairs come out sorted by key, each key once. A
 * policy may restrict them (Pyroscope uploads: the server ignores sample labels named like a
 * series label of the upload, and refuses a series with too many label names): keys dropped by
 * name, then at most `max` keys per row, dropping the process's labels first, then the set's
 * last keys. How many rows lost keys to `max` is counted.
 *
 * Resolutions of a set without extra pairs are made once per dump and shared by its rows;
 * rows with extra pairs (code that splits a row at dump time, labelling each part) get their
 * own. Everything returned lives until hs_row_labels_free.
 *
 * Writer thread (or the exiting thread), under the reentrancy guard: allocates with malloc.
 */
#ifndef HS_ROW_LABELS_H
#define HS_ROW_LABELS_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "label_spec.h"

typedef struct hs_row_labels_policy {
    const char *const *drop; /* keys never written */
    size_t ndrop;
    uint32_t max;      /* keys per row at most; UINT32_MAX: no bound */
    const char *limit; /* what sets max, for the warning when rows lose keys to it */
} hs_row_labels_policy_t;

typedef struct hs_row_labels_entry hs_row_labels_entry_t;

typedef struct hs_row_labels {
    hs_row_labels_policy_t policy;
    hs_row_labels_entry_t *slots; /* open addressing by set id */
    size_t cap, used;
    hs_label_t **blocks; /* every array handed out */
    size_t nblocks, blocks_cap;
    uint64_t trimmed; /* resolutions that lost keys to policy.max */
} hs_row_labels_t;

/* An empty cache; policy NULL: every label of every row. */
void hs_row_labels_init(hs_row_labels_t *c, const hs_row_labels_policy_t *policy);

/*
 * The labels of a row of set `set` plus extra pairs (keys of extra win over the set's; may be
 * NULL when nextra is 0): *out (NULL when *n is 0) and *n.
 */
hs_err_t hs_row_labels_resolve(hs_row_labels_t *c, uint32_t set, const hs_label_t *extra,
                               uint32_t nextra, const hs_label_t **out, uint32_t *n) HS_MUST_CHECK;

void hs_row_labels_free(hs_row_labels_t *c);

#endif
