/*
 * sites.h - one pprof profile as call sites with estimates and their sampling errors: the
 * analysis behind `heapsampler report` and `diff`, and the input of series.h (`leaks`).
 *
 * A site is what the user asked to group by: the leaf function (the first frame that is not an
 * allocator entry point such as malloc or operator new), the whole call stack from that frame
 * to the root, or the source file of the leaf function (its module when the profile has no
 * file names); and/or the values of string labels (`label:endpoint`: samples without the label
 * under "(none)"), which come first in the site's name: "endpoint=/orders parse_request". A
 * query may also keep only the samples whose labels match (focus). A row is one sample of the
 * profile: a call stack, an allocation size and its labels.
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
#include "label_spec.h"
#include "pprof_reader.h"
#include "profile_meta.h"

typedef enum hs_sites_by {
    HS_SITES_BY_FUNCTION = 0,
    HS_SITES_BY_STACK,
    HS_SITES_BY_FILE,
    HS_SITES_BY_LABELS, /* the label values alone */
} hs_sites_by_t;

#define HS_SITES_MAX_LABELS 4        /* label keys in one grouping */
#define HS_SITES_MAX_FOCUS  8        /* conditions of one query */
#define HS_SITES_NONE       "(none)" /* the value of a label a sample does not have */

/*
 * Frames that are allocation functions besides the built-in ones (--skip): POSIX extended
 * regular expressions, each matched anywhere in a frame's function name (as grep matches a
 * line; ^...$ for the whole name). A zeroed hs_sites_skip_t is empty.
 */
typedef struct hs_sites_skip {
    regex_t *re;
    size_t n, cap;
} hs_sites_skip_t;

/* A condition on a sample's labels. */
typedef struct hs_sites_filter {
    char key[HS_LABEL_KEY_MAX + 1];
    const char *value; /* HS_SITES_NONE: the sample has no such label; must outlive the query */
    bool negate;       /* the sample has the label, with another value */
} hs_sites_filter_t;

/* What to group by and which samples to keep; strings must outlive the query's use. */
typedef struct hs_sites_query {
    const char *type; /* sample type ("inuse_space"); NULL or "": the profile's default */
    hs_sites_by_t by; /* the frames part of a site; HS_SITES_BY_LABELS: none */
    char labels[HS_SITES_MAX_LABELS][HS_LABEL_KEY_MAX + 1]; /* keys, in the site name's order */
    size_t nlabels;
    hs_sites_filter_t focus[HS_SITES_MAX_FOCUS]; /* a sample is kept if it matches all */
    size_t nfocus;
    char by_text[HS_SITES_MAX_LABELS * 72 + 16]; /* the grouping as --by spells it */
    const hs_sites_skip_t *skip; /* allocation functions beyond the built-in list and the
                                    profile's (--skip); NULL = none */
} hs_sites_query_t;

/* By function, the default type, every sample. */
void hs_sites_query_init(hs_sites_query_t *q);

/*
 * The grouping of --by: "function", "stack", "file", "label:KEY", or a comma-separated list of
 * up to HS_SITES_MAX_LABELS "label:KEY" and at most one of the others ("label:endpoint,function").
 * KEY follows label_spec.h. Replaces q's grouping; why gets a one-line reason on failure.
 */
hs_err_t hs_sites_parse_by(hs_sites_query_t *q, const char *spec, char *why,
                           size_t why_len) HS_MUST_CHECK;

/* Add a condition "KEY=VALUE" (VALUE "(none)": without the label; negate: with the label and
 * another value) to q's focus. The value points into spec, which must outlive q. */
hs_err_t hs_sites_add_focus(hs_sites_query_t *q, const char *spec, bool negate, char *why,
                            size_t why_len) HS_MUST_CHECK;

/* Does sample s of p match every condition of q? */
bool hs_sites_match(const hs_pprof_t *p, const hs_pb_sample_t *s, const hs_sites_query_t *q);

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
    size_t nsamples;        /* samples of the profile; those the focus kept are the rows */
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
    hs_profile_meta_t meta;       /* the profile's metadata (profile_meta.h): why it was written,
                                     the memory limit, ... (empty for a foreign profile) */
    char *skip_recorded;          /* the profile's own allocation functions (its "skip" key) */
    char skip_error[160];         /* why glibc refused skip_recorded (then unused), or "" */
    char *program; /* its "program" metadata, else its main executable's file name; or NULL */
} hs_sites_t;

/*
 * Group the samples of the profile that q's focus keeps by q's sites, with q's sample type. A
 * sample's site starts at its first frame that is not an allocation function: the built-in
 * list (hs_sites_is_allocator), q->skip, and the expression the profile records
 * (HEAPSAMPLER_SKIP). Fails (why = one line) when the sample type does not exist.
 */
hs_err_t hs_sites_build(const hs_pprof_t *p, const hs_sites_query_t *q, hs_sites_t *out, char *why,
                        size_t why_len) HS_MUST_CHECK;

/*
 * hs_sites_build on the profile in file path ("-": standard input). why gets the reason alone,
 * without the path: the reader's (unreadable, corrupt) or hs_sites_build's.
 */
hs_err_t hs_sites_load(const char *path, const hs_sites_query_t *q, hs_sites_t *out, char *why,
                       size_t why_len) HS_MUST_CHECK;

/*
 * Why and with what memory a profile was written, from its metadata (README.md, "Profile
 * comments"): what the analysis commands show of each profile.
 */
typedef struct hs_sites_origin {
    char reason[HS_META_REASON_MAX]; /* "exit", "memory", ...; "" when not heapsampler's */
    char detail[HS_META_DETAIL_MAX]; /* "85% of 128 MiB"; "" when none */
    uint64_t limit, usage;           /* memory.limit, memory.usage in bytes; 0: not recorded */
    char limit_source[32], usage_source[32]; /* "cgroup1", "working_set", ...; "" */
} hs_sites_origin_t;

void hs_sites_origin(const hs_sites_t *s, hs_sites_origin_t *out);

/* Sort sites by value, largest first (ties by name), keeping rows[].site right. */
hs_err_t hs_sites_sort(hs_sites_t *s) HS_MUST_CHECK;

/* The site named name, or NULL. Linear: for tests and small lookups. */
const hs_site_t *hs_sites_find(const hs_sites_t *s, const char *name);

void hs_sites_free(hs_sites_t *s);

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
