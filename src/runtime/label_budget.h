/*
 * label_budget.h - at most N distinct label sets in a snapshot: the heaviest sets keep their
 * labels, the rows of the others are given the folded version of their set (the same keys,
 * every value "other": labels.h).
 *
 * For Pyroscope uploads (HEAPSAMPLER_UPLOAD_LABEL_SETS): the server makes a series of every
 * distinct set of sample labels (with each sample type) and limits the series of a tenant, so
 * the sets of one upload are bounded. A set's weight is its share of the snapshot's in-use
 * bytes plus its share of the allocated bytes (both estimated), so that a set that matters for
 * either question is kept; ties go to the older set. With max 0 every row loses its labels.
 *
 * Writer thread, under the reentrancy guard: allocates with malloc.
 */
#ifndef HS_LABEL_BUDGET_H
#define HS_LABEL_BUDGET_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "snapshot.h"

/* Apply the bound to snap's rows with a non-zero count; *folded (may be NULL) gets the number
 * of sets that lost their values. */
hs_err_t hs_label_budget_apply(hs_snapshot_t *snap, uint32_t max_sets,
                               size_t *folded) HS_MUST_CHECK;

#endif
