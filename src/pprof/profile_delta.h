/*
 * profile_delta.h - cumulative alloc_* counts turned into increments between two profiles.
 *
 * Pyroscope expects alloc_objects/alloc_space of each upload to count what was allocated since
 * the previous upload, while inuse_* stay absolute. The library works on snapshots (rows keyed
 * by stack id and size, counts before unbiasing, so each increment is estimated exactly as a
 * row would be); `heapsampler upload` works on saved pprof profiles (samples keyed by their
 * stack's addresses and their labels). An increment is never negative: a count that went down
 * (a profile from another run, a reset) gives 0.
 */
#ifndef HS_PROFILE_DELTA_H
#define HS_PROFILE_DELTA_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "pprof_reader.h"
#include "snapshot.h"

/* Cumulative sampled allocations per (stack id, size) at one moment. */
typedef struct hs_delta_base hs_delta_base_t;

/* The baseline snap gives (every row's cumulative allocs). */
hs_err_t hs_profile_delta_base(const hs_snapshot_t *snap, hs_delta_base_t **out) HS_MUST_CHECK;

/*
 * Replace each row's cumulative allocs by its increase since base (NULL = everything since the
 * start). *next receives snap's own baseline, to keep once the upload is built (so a failed
 * upload build loses nothing: the next one starts from the old baseline). *nonzero (may be
 * NULL) gets the number of rows with a non-zero increase or live count.
 */
hs_err_t hs_profile_delta_apply(const hs_delta_base_t *base, hs_snapshot_t *snap,
                                hs_delta_base_t **next, size_t *nonzero) HS_MUST_CHECK;

void hs_profile_delta_base_free(hs_delta_base_t *b);

/*
 * cur's values of the sample types named alloc_* minus those of the samples of prev with the
 * same stack (location addresses; function names where the address is 0) and the same labels,
 * never below 0; other values unchanged. Works in place on cur->pb.
 */
hs_err_t hs_profile_delta_pprof(const hs_pprof_t *prev, hs_pprof_t *cur) HS_MUST_CHECK;

#endif
