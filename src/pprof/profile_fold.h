/*
 * profile_fold.h - fit a profile into a server's limits without changing its totals.
 *
 * Pyroscope refuses a profile with more than 16,000 samples or more than 4 MiB of uncompressed
 * pprof. Rather than drop samples (and lose memory from the totals), the samples that weigh
 * least are folded into one sample whose stack is the single frame "[other]" and whose values
 * are their sums, so every sample type's total stays exact.
 */
#ifndef HS_PROFILE_FOLD_H
#define HS_PROFILE_FOLD_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "pprof_reader.h"

#define HS_PROFILE_FOLD_FRAME "[other]"

/*
 * Encode p (uncompressed) without its all-zero samples and, when that would exceed max_samples
 * samples or max_bytes bytes, with the lightest samples folded into one "[other]" sample. A
 * sample's weight is its largest share of any sample type's total, so a stack that matters in
 * one type (say inuse_space) is kept even if it is small in the others. Only the locations,
 * functions, mappings and strings the remaining samples use are written. *out is malloc'd;
 * *folded (may be NULL) gets the number of samples folded. HS_ERR_FULL if not even a profile
 * reduced to "[other]" fits in max_bytes.
 */
hs_err_t hs_profile_fold_pack(const hs_pprof_t *p, size_t max_samples, size_t max_bytes,
                              uint8_t **out, size_t *out_len, size_t *folded) HS_MUST_CHECK;

/*
 * What the samples' string labels may be in the output (a server that makes series of them:
 * pyroscope.h). Labels named in drop are left out; a sample keeps at most max_names string
 * labels (the first ones); of the distinct sets of string labels that remain, the max_sets
 * heaviest (by the summed weights of their samples) keep their values and every other set has
 * its values replaced by HS_PROFILE_FOLD_LABEL_OTHER. Numeric labels ("bytes") are kept.
 */
#define HS_PROFILE_FOLD_LABEL_OTHER "other"
typedef struct hs_profile_fold_labels {
    const char *const *drop;
    size_t ndrop;
    size_t max_names;
    size_t max_sets;
} hs_profile_fold_labels_t;

/* hs_profile_fold_pack with the samples' string labels restricted by labels (NULL: kept). */
hs_err_t hs_profile_fold_pack_labels(const hs_pprof_t *p, size_t max_samples, size_t max_bytes,
                                     const hs_profile_fold_labels_t *labels, uint8_t **out,
                                     size_t *out_len, size_t *folded) HS_MUST_CHECK;

#endif
