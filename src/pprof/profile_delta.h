/*
 * profile_delta.h - cumulative alloc_* counts of a saved profile turned into increments since an
 * earlier one.
 *
 * Pyroscope expects alloc_objects/alloc_space of each upload to count what was allocated since
 * the previous upload, while inuse_* stay absolute; profile files carry alloc_* since the
 * process started. `heapsampler upload` sends a series of files: each one's samples (keyed by
 * their stack's addresses and their labels) lose what the previous file's matching samples
 * already counted. An increment is never negative: a count that went down (a profile from
 * another run, a reset) gives 0. (The running profiler computes its increments on its own
 * snapshots: runtime/snapshot_delta.h.)
 */
#ifndef HS_PROFILE_DELTA_H
#define HS_PROFILE_DELTA_H

#include "common.h"
#include "pprof_reader.h"

/*
 * cur's values of the sample types named alloc_* minus those of the samples of prev with the
 * same stack (location addresses; function names where the address is 0) and the same labels,
 * never below 0; other values unchanged. Works in place on cur->pb.
 */
hs_err_t hs_profile_delta_pprof(const hs_pprof_t *prev, hs_pprof_t *cur) HS_MUST_CHECK;

#endif
