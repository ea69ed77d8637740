/*
 * baseline.h - a candidate against its baseline: per site, how much faster the candidate's
 * memory grows than the baseline's, with the error of that difference. The analysis behind
 * `leaks --baseline` and `check --baseline`: a canary against the instances it replaces, a
 * release against the one before, a CI run against the last good one.
 *
 * Both sides are leak analyses (leak_analysis.h) of the same sample type and grouping: two sets
 * of files, or one set split by a label (the candidate's samples and the baseline's). Sites are
 * matched by name (function names survive a rebuild; addresses do not).
 *
 * Growth rate of a site in one process: the growth in the last third of its series (the late
 * rate of trend.h, which is what still grows once caches have filled: a canary that started an
 * hour ago and instances that run for days are compared on what they do now), or the slope over
 * the whole series when some process of either side has too few profiles for thirds. A side's
 * rate is the mean over its processes (a site a process does not have grows at 0 there); its
 * variance the larger of the sampling model's (each process's variance / n^2) and the spread
 * between the processes (their sample variance / n), so that instances that differ by more than
 * sampling explains do not pass for a difference between builds.
 *
 * Verdict: the candidate grows faster when its rate exceeds the baseline's by more than
 * `tolerance` times the baseline's rate (programs do not run at the same speed twice: a leak
 * present in both grows at the pace each run goes) and more than sigma standard errors of the
 * difference. Slower likewise the other way; otherwise the same.
 *
 * Pure functions of their input; allocate (CLI and tests only).
 */
#ifndef HS_BASELINE_H
#define HS_BASELINE_H

#include <stdbool.h>
#include <stddef.h>

#include "common.h"
#include "leak_analysis.h"

typedef enum hs_baseline_verdict {
    HS_BASELINE_SAME = 0,
    HS_BASELINE_FASTER, /* the candidate grows faster than the baseline, beyond the noise */
    HS_BASELINE_SLOWER,
} hs_baseline_verdict_t;

/* One side's growth of a site, per second. */
typedef struct hs_baseline_rate {
    double rate, se;
    size_t present; /* processes of the side that have the site */
} hs_baseline_rate_t;

typedef struct hs_baseline_site {
    char *name; /* first member: hs_keymap_named() interns by it */
    hs_baseline_rate_t cand, base;
    double diff, diff_se; /* cand.rate - base.rate and its standard error */
    double z;             /* (diff - tolerance * base rate) / diff_se: the ranking */
    hs_baseline_verdict_t verdict;
} hs_baseline_site_t;

typedef struct hs_baseline {
    hs_baseline_site_t *sites; /* faster ones first, by z; then the others by z */
    size_t nsites, sites_cap;
    hs_baseline_site_t total;      /* the whole process (name "whole process") */
    size_t cand_procs, base_procs; /* fitted processes of each side */
    bool late;                     /* the rates are late rates (else slopes) */
    double sigma, tolerance;
    const char *unit; /* of the series ("bytes"): the candidate's, static or its */
} hs_baseline_t;

#define HS_BASELINE_DEFAULT_TOLERANCE 0.25

/*
 * Compare the fitted processes of cand and base (skipped processes do not count). Fails (why:
 * one line) when a side has no fitted process or the sides' sample types differ.
 */
hs_err_t hs_baseline_compare(const hs_leak_analysis_t *cand, const hs_leak_analysis_t *base,
                             double sigma, double tolerance, hs_baseline_t *out, char *why,
                             size_t why_len) HS_MUST_CHECK;

/* How many sites grow faster in the candidate. */
size_t hs_baseline_faster(const hs_baseline_t *b);

/* "faster", "same", "slower". */
const char *hs_baseline_verdict_name(hs_baseline_verdict_t v);

void hs_baseline_free(hs_baseline_t *b);

#endif
