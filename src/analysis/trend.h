/*
 * trend.h - the trend of one call site's in-use memory over a series of profiles of one
 * process, with errors from the sampling model, and its verdict: leak suspect, plateau,
 * transient, stable, or noise. The statistics are explained at the top of trend.c.
 *
 * Pure functions of their input; no global state; allocate only scratch memory.
 */
#ifndef HS_TREND_H
#define HS_TREND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"

typedef enum hs_trend_class {
    HS_TREND_NOISE = 0, /* never clearly above zero: no verdict */
    HS_TREND_STABLE,    /* no significant growth */
    HS_TREND_TRANSIENT, /* rose, then gave back at least half of its peak */
    HS_TREND_PLATEAU,   /* grew, then stopped growing: a cache or a pool */
    HS_TREND_LEAK,      /* grew and is still growing: a leak suspect */
} hs_trend_class_t;

#define HS_TREND_NCLASSES 5

/* Troughs a sawtooth needs before its floor decides (trend.c). */
#define HS_TREND_MIN_TROUGHS 3

/*
 * One row (call stack + size) of the site, for the covariance between two points: the same
 * sampled allocation counts in every profile written while it is live.
 */
typedef struct hs_trend_row {
    double unit_var;        /* variance one live sample contributes to y (0 = exact) */
    const uint32_t *live;   /* live samples at each point */
    const uint32_t *allocs; /* sampled allocations since the process started; NULL = unknown */
} hs_trend_row_t;

typedef struct hs_trend_series {
    size_t n;                   /* points, at least 3 */
    const double *t;            /* seconds, nondecreasing, t[n-1] > t[0] */
    const double *y;            /* estimates */
    const double *var;          /* sampling variance of each y; NULL = unknown */
    const hs_trend_row_t *rows; /* the rows that make up y; NULL = points independent */
    size_t nrows;
} hs_trend_series_t;

typedef struct hs_trend {
    hs_trend_class_t cls;
    bool error_known;       /* the sampling model was available (else only the scatter) */
    bool tested;            /* enough points in each third to tell a plateau from a leak */
    double slope, slope_se; /* least-squares growth, per second */
    double r2;              /* of the straight line; NAN when y is constant */
    double monotone;        /* rising steps / changing steps; NAN when nothing changed */
    double early_rate, late_rate, late_se; /* growth before / in the last third, per second */
    double rise, rise_se;                  /* mean of the last third - first point */
    double fall, fall_se;                  /* peak - mean of the last third */
    double first, last, last_se, peak, peak_se;
    double late_mean;
    double low_mid, low_late; /* the lowest point of the middle and of the last third */
    size_t peak_index;
    double scatter;    /* sd of the point-to-point scatter (robust, from the differences) */
    size_t drops;      /* significant falls from a peak */
    size_t troughs;    /* the lowest points after them, confirmed by a significant rise */
    double drop_depth; /* the mean fall of the drops */
    bool sawtooth;     /* judged by its floor: see trend.c */
    double floor_rate, floor_se; /* growth of the troughs, per second (sawtooth only) */
    double late_floor_rate;      /* the same through the later half of the troughs */
    double dispersion; /* observed scatter / the sampling model's, as a variance factor >= 1 */
} hs_trend_t;

/* Fit and classify. sigma: the number of standard errors that makes a change significant. */
hs_err_t hs_trend_fit(const hs_trend_series_t *s, double sigma, hs_trend_t *out) HS_MUST_CHECK;

/*
 * Sampling variance of sum_i w[i] * y[i] under the model of trend.c: rows with allocation
 * counts as FIFO, rows without as independent points, else var[] as independent points.
 * NAN when unknown (or out of memory).
 */
double hs_trend_variance(const hs_trend_series_t *s, const double *w);

/* "leak suspect", "plateau", "transient", "stable", "noise". */
const char *hs_trend_class_name(hs_trend_class_t c);

#endif
