/*
 * snapshot_delta.h - the sampled allocations of each snapshot row since an earlier snapshot.
 *
 * Pyroscope expects alloc_objects/alloc_space of each upload to count what was allocated since
 * the previous upload, while inuse_* stay absolute. Snapshots count allocations since the
 * process started; a baseline keeps those cumulative counts per row, and the next snapshot's
 * rows are replaced by their increase over it. Counts stay raw samples, so each increment is
 * unbiased like any row (the pprof writer does it). An increment is never negative: a count that
 * went down gives 0.
 */
#ifndef HS_SNAPSHOT_DELTA_H
#define HS_SNAPSHOT_DELTA_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "snapshot.h"

/* Cumulative sampled allocations per (stack id, size, label set) at one moment. */
typedef struct hs_snapshot_delta hs_snapshot_delta_t;

/* The baseline snap gives (every row's cumulative allocs). */
hs_err_t hs_snapshot_delta_base(const hs_snapshot_t *snap, hs_snapshot_delta_t **out) HS_MUST_CHECK;

/*
 * Replace each row's cumulative allocs by its increase since base (NULL = everything since the
 * start). *next receives snap's own baseline, to keep once the upload is built (so a failed
 * upload build loses nothing: the next one starts from the old baseline). *nonzero (may be
 * NULL) gets the number of rows with a non-zero increase or live count.
 */
hs_err_t hs_snapshot_delta_apply(const hs_snapshot_delta_t *base, hs_snapshot_t *snap,
                                 hs_snapshot_delta_t **next, size_t *nonzero) HS_MUST_CHECK;

void hs_snapshot_delta_free(hs_snapshot_delta_t *b);

#endif
