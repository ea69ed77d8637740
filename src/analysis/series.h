/*
 * series.h - a series of profiles of one process as per-site series over time, fitted and
 * classified with trend.h: the analysis behind `heapsampler leaks` and `check`.
 *
 * Profiles are added one at a time (hs_sites_t of each, in any order); hs_series_fit() puts
 * the points in time order, fits every site and the process total, and ranks the sites:
 * leak suspects by growth, then plateaus and transients by peak, stable sites by their last
 * value, noise last. Rows (stack + size) are matched across profiles by their key, which is
 * only meaningful within one process: do not mix processes in one series.
 *
 * Memory: per row and point two 32-bit counts, per site and point two doubles. Not thread-safe.
 */
#ifndef HS_SERIES_H
#define HS_SERIES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "keymap.h"
#include "sites.h"
#include "trend.h"

typedef struct hs_series_site {
    char *name;      /* first member: hs_keymap_named() interns by it */
    double *y, *var; /* per point (var NAN when unknown) */
    size_t *rows;    /* indices into hs_series_t.rows */
    size_t nrows, rows_cap;
    hs_trend_t trend; /* after hs_series_fit */
} hs_series_site_t;

typedef struct hs_series_row {
    uint64_t key;
    size_t site;
    double unit_var;
    uint32_t *live, *allocs; /* per point */
} hs_series_row_t;

/*
 * The parts of RSS per point (breakdown.h), when every profile of the series carries the
 * accounting (parts_known): RSS itself, the heap (the allocator's in-use figure when it gives
 * one, exact; else the sampled heap with its error), the allocator's free memory, direct
 * mmap (sampled), file-backed and shared pages, thread stacks, the profiler, and the
 * unattributed rest.
 * Each is fitted like a site (its own trend).
 */
typedef enum hs_series_part {
    HS_PART_RSS = 0,
    HS_PART_HEAP,
    HS_PART_FREE,
    HS_PART_MMAP,
    HS_PART_FILE,
    HS_PART_STACKS,
    HS_PART_PROFILER,
    HS_PART_UNATTRIBUTED,
    HS_NPARTS
} hs_series_part_t;
/* "rss", "heap", "allocator_free", "mmap", "file", "thread_stacks", "profiler",
 * "unattributed". */
const char *hs_series_part_name(hs_series_part_t part);

typedef struct hs_series {
    size_t npoints, max_points;
    int64_t *time_nanos; /* per point */
    size_t *added;       /* per point: which hs_series_add it came from (0: the first) */
    double *t;           /* seconds since the first point (after hs_series_fit) */
    double *total, *total_var;
    hs_trend_t total_trend;  /* the process as a whole */
    hs_series_site_t *sites; /* ranked after hs_series_fit */
    size_t nsites, sites_cap;
    hs_series_row_t *rows;
    size_t nrows, rows_cap;
    char *type, *unit;
    bool allocs_known;       /* every profile has alloc_objects (else points are independent) */
    const char *unknown_why; /* static text: why the sampling error is unknown, or NULL */
    hs_keymap_t site_map, row_map;
    bool parts_known;                 /* every point has the accounting (and rss) */
    bool alloc_known;                 /* every point has the allocator's in-use figure */
    char allocator[32];               /* of the last point */
    double *part[HS_NPARTS];          /* per point */
    double *part_var[HS_NPARTS];      /* per point (0: exact) */
    hs_trend_t part_trend[HS_NPARTS]; /* after hs_series_fit, when parts_known */
} hs_series_t;

/* An empty series for at most max_points profiles. */
hs_err_t hs_series_init(hs_series_t *s, size_t max_points) HS_MUST_CHECK;

/* Add one profile as the next point. Fails when the sample type differs from the others'. */
hs_err_t hs_series_add(hs_series_t *s, const hs_sites_t *p, char *why,
                       size_t why_len) HS_MUST_CHECK;

/*
 * Order points by time, fit and rank. Needs at least 3 points spanning a positive time; why
 * says what is missing otherwise.
 */
hs_err_t hs_series_fit(hs_series_t *s, double sigma, char *why, size_t why_len) HS_MUST_CHECK;

void hs_series_free(hs_series_t *s);

#endif
