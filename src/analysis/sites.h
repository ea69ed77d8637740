/*
 * sites.h - one pprof profile as call sites with estimates and their sampling errors: the
 * analysis behind `heapsampler report` and `diff`, and the input of series.h (`leaks`).
 *
 * A site is what the user asked to group by: the leaf function (the first frame that is not an
 * allocator entry point such as malloc or operator new), the whole call stack from that frame
 * to the root, or the source file of the leaf function (its module when the profile has no
 * file names). A row is one sample of the profile: a call stack and an allocation size.
 *
 * Errors. A row of a heap profile stands for n sampled allocations of size s, sampled at
 * probability p = 1 - exp(-s/R) where R is the profile's period. The size comes from the
 * row's numeric "bytes" label (Go's heap profiles and heapsampler's carry it), n from the
 * row's objects value as objects * p. The bytes estimate then has the variance
 * n * (s/p)^2 * (1-p) and the objects estimate n * (1-p) / p^2 (estimate.h); R = 1 means every
 * allocation was recorded (variance 0). Rows without a "bytes" label, profiles without a
 * space/bytes period, and sample types other than alloc_/inuse_ objects/space have no known
 * error: the variance is NAN and unknown_why says why.
 *
 * Pure functions of their input; allocate freely (not for the preloaded library's hot paths).
 */
#ifndef HS_SITES_H
#define HS_SITES_H

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "pprof_reader.h"

typedef enum hs_sites_by {
    HS_SITES_BY_FUNCTION = 0,
    HS_SITES_BY_STACK,
    HS_SITES_BY_FILE,
} hs_sites_by_t;

/*
 * Frames that are allocation functions besides the built-in ones (--skip): POSIX extended
 * regular expressions, each matched anywhere in a frame's function name (as grep matches a
 * line; ^...$ for the whole name). A zeroed hs_sites_skip_t is empty.
 */
typedef struct hs_sites_skip {
    regex_t *re;
    size_t n, cap;
} hs_sites_skip_t;

/* What a site is: the sample type, the grouping, the extra allocation functions. */
typedef struct hs_sites_spec {
    const char *type;            /* NULL or "" = the profile's default */
    hs_sites_by_t by;            /* function, stack or file */
    const hs_sites_skip_t *skip; /* NULL = none beyond the built-in list and the profile's */
} hs_sites_spec_t;

/* One sample of the profile. */
typedef struct hs_sites_row {
    size_t site;     /* index into hs_sites_t.sites */
    uint64_t key;    /* identity across profiles of one process: hash of every frame + size */
    double value;    /* the chosen sample type's value */
    double variance; /* of value; NAN when unknown */
    /*
     * Sample counts, for covariances between profiles of one process (series.h): live = the
     * samples value stands for (live ones for inuse_*, all for alloc_*), allocs = sampled
     * allocations since the process started (UINT32_MAX when the profile has no alloc_objects),
     * unit_var = the variance one sample contributes (0 exact, NAN unknown).
     */
    uint32_t live, allocs;
    double unit_var;
} hs_sites_row_t;

typedef struct hs_site {
    char *name; /* first member: hs_keymap_named() interns by it */
    double value;
    double variance; /* NAN when unknown */
    size_t nrows;
} hs_site_t;

typedef struct hs_sites {
    char *type, *unit;      /* of the chosen sample type ("inuse_space", "bytes") */
    uint64_t period;        /* 0 when the profile has no space/bytes period */
    int64_t time_nanos;     /* 0 when absent */
    int64_t duration_nanos; /* 0 when absent */
    bool cumulative;        /* alloc_* (since the process started), not a level */
    hs_site_t *sites;       /* in order of first appearance, or sorted by hs_sites_sort */
    size_t nsites;
    hs_sites_row_t *rows;
    size_t nrows;
    double total, total_variance; /* total_variance is NAN when any row's is */
    const char *unknown_why;      /* static text; NULL when every error is known */
    char *skip_recorded;          /* the profile's own allocation functions (its "skip" key) */
    char skip_error[160];         /* why glibc refused skip_recorded (then unused), or "" */
    char *program; /* its "program" metadata, else its main executable's file name; or NULL */
} hs_sites_t;

/*
 * Group the profile's samples by site (spec). A sample's site starts at its first frame that
 * is not an allocation function: the built-in list (hs_sites_is_allocator), spec->skip, and
 * the expression the profile records (HEAPSAMPLER_SKIP). Fails (why = one line) when the
 * sample type does not exist.
 */
hs_err_t hs_sites_build(const hs_pprof_t *p, const hs_sites_spec_t *spec, hs_sites_t *out,
                        char *why, size_t why_len) HS_MUST_CHECK;

/*
 * hs_sites_build on the profile in file path ("-": standard input). why gets the reason alone,
 * without the path: the reader's (unreadable, corrupt) or hs_sites_build's.
 */
hs_err_t hs_sites_load(const char *path, const hs_sites_spec_t *spec, hs_sites_t *out, char *why,
                       size_t why_len) HS_MUST_CHECK;

/* Sort sites by value, largest first (ties by name), keeping rows[].site right. */
hs_err_t hs_sites_sort(hs_sites_t *s) HS_MUST_CHECK;

/* The site named name, or NULL. Linear: for tests and small lookups. */
const hs_site_t *hs_sites_find(const hs_sites_t *s, const char *name);

void hs_sites_free(hs_sites_t *s);

/* "function", "stack", "file" <-> enum. */
const char *hs_sites_by_name(hs_sites_by_t by);
hs_err_t hs_sites_parse_by(const char *name, hs_sites_by_t *out) HS_MUST_CHECK;

/*
 * Is name a built-in allocation function (the malloc family, operator new, the wrappers of
 * well-known programs and libraries) that a site skips? The list is fnmatch(3) patterns,
 * also given by hs_sites_builtin_allocators (README.md lists them).
 */
bool hs_sites_is_allocator(const char *name);
const char *const *hs_sites_builtin_allocators(size_t *n);

/* Add one --skip expression; a bad one fails with why = glibc's reason. */
hs_err_t hs_sites_skip_add(hs_sites_skip_t *s, const char *pattern, char *why,
                           size_t why_len) HS_MUST_CHECK;
/* Does any expression of s (NULL: none) match name? */
bool hs_sites_skip_match(const hs_sites_skip_t *s, const char *name);
void hs_sites_skip_free(hs_sites_skip_t *s);

/*
 * name fitted to width characters for a table: a stack path keeps its leaf, as many callers as
 * fit and its outermost frame ("a < b < ... < main"); anything else is cut with "...". buf
 * gets the result (len > width) and is returned.
 */
const char *hs_sites_short_name(const char *name, size_t width, char *buf, size_t len);

#endif
