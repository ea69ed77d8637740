/*
 * analysis.h - what the analysis commands (report, diff, leaks, check) share: their common
 * flags, loading profiles and leak analyses (analysis/) with one clear error line, number
 * formats, JSON strings, and the HTML report (html.c).
 *
 * Exit statuses of the analysis commands: 0 done (nothing found for diff/check),
 * HS_CLI_EXIT_FOUND (1) when diff finds a growth beyond the noise or check a criterion
 * broken, HS_CLI_EXIT_USAGE (2) for a bad flag or an unreadable/corrupt profile
 * ("heapsampler <cmd>: FILE: <reason>"), HS_CLI_EXIT_FAILURE (125) when the tool itself fails.
 */
#ifndef HS_CLI_ANALYSIS_H
#define HS_CLI_ANALYSIS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "baseline.h"
#include "breakdown.h"
#include "cli.h"
#include "leak_analysis.h"
#include "pprof_reader.h"
#include "series.h"
#include "sites.h"

#define HS_CLI_EXIT_FOUND 1

/* Flags shared by report, diff, leaks and check; each command accepts a subset. */
typedef struct hs_cli_opts {
    hs_sites_query_t q; /* --type (q.type: "" = default), --by, --focus */
    size_t top;         /* --top: rows shown (0 = all) */
    const char *html;   /* --html OUT.html, or NULL */
    bool json;          /* --json */
    bool all;           /* --all: also sites within the noise */
    double sigma;       /* --sigma: standard errors that make a change significant */
    double threshold;   /* diff --threshold (bytes or count) */
    /* leaks and check: --baseline DIR or label:KEY=VALUE, --candidate label:KEY=VALUE */
    const char *baseline, *candidate;
    double tolerance;     /* --tolerance, a fraction of the baseline's rate */
    hs_sites_skip_t skip; /* --skip (repeatable): more allocation functions (q.skip) */
} hs_cli_opts_t;

#define HS_CLI_DEFAULT_SIGMA 3.0
#define HS_CLI_DEFAULT_TOP   20

/* The ids of the shared options; a command numbers its own from HS_CLI_OPT_OWN on. */
enum {
    HS_CLI_OPT_TYPE = 1,
    HS_CLI_OPT_BY,
    HS_CLI_OPT_TOP,
    HS_CLI_OPT_SIGMA,
    HS_CLI_OPT_THRESHOLD,
    HS_CLI_OPT_ALL,
    HS_CLI_OPT_JSON,
    HS_CLI_OPT_HTML,
    HS_CLI_OPT_FOCUS,
    HS_CLI_OPT_BASELINE,
    HS_CLI_OPT_CANDIDATE,
    HS_CLI_OPT_TOLERANCE,
    HS_CLI_OPT_SKIP,
    HS_CLI_OPT_OWN,
};

/* The rows of the shared options, for the commands' option tables (cli.h). */
#define HS_CLI_OPTION_TYPE                                                                         \
    {                                                                                              \
        .name = "type", .arg = HS_CLI_VALUE, .metavar = "TYPE", .id = HS_CLI_OPT_TYPE,             \
        .help =                                                                                    \
            "sample type: inuse_space (default), inuse_objects, alloc_space, alloc_objects, or "   \
            "any type the profile has"                                                             \
    }
#define HS_CLI_OPTION_BY                                                                           \
    {                                                                                              \
        .name = "by", .arg = HS_CLI_VALUE, .metavar = "KEY", .id = HS_CLI_OPT_BY,                  \
        .help = "group by: function (the leaf function below malloc/new, default), stack (the "    \
                "whole call path from it), file (its source file, or module), label:KEY (the "     \
                "value of a label; samples without it under (none)), or a list of up to 4 "        \
                "labels and one of the others: label:endpoint,function"                            \
    }
#define HS_CLI_OPTION_FOCUS                                                                        \
    {                                                                                              \
        .name = "focus", .arg = HS_CLI_VALUE, .metavar = "KEY=VALUE", .id = HS_CLI_OPT_FOCUS,      \
        .help = "only the samples whose label KEY has the value VALUE ((none): the samples "       \
                "without it); repeat it and every condition must hold"                             \
    }
#define HS_CLI_OPTION_TOP                                                                          \
    {                                                                                              \
        .name = "top", .arg = HS_CLI_VALUE, .metavar = "N", .id = HS_CLI_OPT_TOP,                  \
        .help = "show the N largest sites (default 20; 0 = all)"                                   \
    }
#define HS_CLI_OPTION_SIGMA                                                                        \
    {                                                                                              \
        .name = "sigma", .arg = HS_CLI_VALUE, .metavar = "K", .id = HS_CLI_OPT_SIGMA,              \
        .help = "a change is significant when it exceeds K standard errors (default 3)"            \
    }
#define HS_CLI_OPTION_THRESHOLD                                                                    \
    {                                                                                              \
        .name = "threshold", .arg = HS_CLI_VALUE, .metavar = "SIZE", .id = HS_CLI_OPT_THRESHOLD,   \
        .help = "a site grew when its growth exceeds both SIZE and K standard errors (default 0)"  \
    }
#define HS_CLI_OPTION_ALL                                                                          \
    {                                                                                              \
        .name = "all", .arg = HS_CLI_SWITCH, .id = HS_CLI_OPT_ALL,                                 \
        .help = "also list the sites within the sampling noise"                                    \
    }
#define HS_CLI_OPTION_JSON                                                                         \
    {                                                                                              \
        .name = "json", .arg = HS_CLI_SWITCH, .id = HS_CLI_OPT_JSON,                               \
        .help = "print JSON instead of the table"                                                  \
    }
#define HS_CLI_OPTION_SKIP                                                                         \
    {                                                                                              \
        .name = "skip", .arg = HS_CLI_VALUE, .metavar = "REGEX", .id = HS_CLI_OPT_SKIP,            \
        .help = "also treat functions whose names match REGEX (POSIX extended, anywhere in the "   \
                "name; repeatable) as allocation functions: a sample's site is their caller"       \
    }
#define HS_CLI_OPTION_HTML                                                                         \
    {                                                                                              \
        .name = "html", .arg = HS_CLI_VALUE, .metavar = "OUT.html", .id = HS_CLI_OPT_HTML,         \
        .help = "also write a self-contained HTML report (inline SVG charts and the tables)"       \
    }

#define HS_CLI_OPTION_BASELINE                                                                     \
    {                                                                                              \
        .name = "baseline", .arg = HS_CLI_VALUE, .metavar = "DIR|label:KEY=VALUE",                 \
        .id = HS_CLI_OPT_BASELINE,                                                                 \
        .help = "compare with a baseline: the profiles in DIR, or the samples whose label KEY "    \
                "is VALUE (the candidate is then the other samples that have KEY); per site, "     \
                "how much faster the candidate grows, with its error"                              \
    }
#define HS_CLI_OPTION_CANDIDATE                                                                    \
    {                                                                                              \
        .name = "candidate", .arg = HS_CLI_VALUE, .metavar = "label:KEY=VALUE",                    \
        .id = HS_CLI_OPT_CANDIDATE,                                                                \
        .help = "with --baseline label:KEY=..., the candidate is the samples whose label KEY is "  \
                "VALUE (default: every other value)"                                               \
    }
#define HS_CLI_OPTION_TOLERANCE                                                                    \
    {                                                                                              \
        .name = "tolerance", .arg = HS_CLI_VALUE, .metavar = "PERCENT",                            \
        .id = HS_CLI_OPT_TOLERANCE,                                                                \
        .help = "with --baseline, the candidate grows faster only beyond this share of the "       \
                "baseline's rate (runs differ in speed; default 25%) and K standard errors"        \
    }

/* The defaults of the shared flags; hs_cli_opts_free releases what --skip compiled. */
void hs_cli_opts_init(hs_cli_opts_t *o);
void hs_cli_opts_free(hs_cli_opts_t *o);

/*
 * Widths of a site's name (hs_sites_short_name) in a table, and in a line that lists several:
 * JSON and HTML keep whole names.
 */
#define HS_CLI_SITE_WIDTH       100
#define HS_CLI_SHORT_SITE_WIDTH 48

/*
 * The names of a table's rows fitted to width (hs_sites_short_name), kept apart: rows whose
 * shortened names are equal (stacks that differ only in the frames left out) get " #1", " #2"
 * in the order given. One malloc'd block, freed with free(); NULL when out of memory.
 */
char **hs_cli_short_names(const char *const *names, size_t n, size_t width);

/* The take function (cli.h) of the shared options; ctx is a hs_cli_opts_t. */
hs_err_t hs_cli_take_analysis(void *ctx, const hs_cli_option_t *opt, const char *value, char *why,
                              size_t why_len) HS_MUST_CHECK;

/* A size ("64M", "1G", "4096") or a rate ("10M/h", "1K/s", "2M/min"; per hour without a unit). */
hs_err_t hs_cli_parse_size(const char *s, double *out, const char **why) HS_MUST_CHECK;
hs_err_t hs_cli_parse_rate(const char *s, double *per_second, const char **why) HS_MUST_CHECK;

/* ---- profiles ---- */

/*
 * Read, parse and group one profile as q says; on failure print "heapsampler <cmd>: FILE:
 * <reason>". A skip expression recorded in the profile that glibc refuses is said once, on
 * stderr.
 */
/* A skip expression recorded in the profile that glibc refuses: said once per command. */
void hs_cli_skip_warning(const char *cmd, const char *path, const hs_sites_t *s);

int hs_cli_load_sites(const char *cmd, const char *path, const hs_sites_query_t *q,
                      hs_sites_t *out);

/*
 * Collect the profiles that args name and analyse them (leak_analysis.h) with o's type, by,
 * skip and sigma: what `leaks` and `check` start with. *a must be zeroed; the caller frees it, also
 * on failure. Prints "heapsampler <cmd>: <reason>" and returns its exit status on failure, else 0.
 */
int hs_cli_load_leaks(const char *cmd, char **args, int nargs, const hs_cli_opts_t *o,
                      hs_leak_analysis_t *a);

/*
 * The two sides of a comparison (--baseline): the candidate's analysis of args and the
 * baseline's, of the profiles in DIR, or of args' samples whose label KEY is VALUE (the
 * candidate's then being the other samples with KEY, or --candidate's). Both zeroed on entry
 * and freed by the caller, also on failure; returns 0 or the exit status after a message.
 */
int hs_cli_load_comparison(const char *cmd, char **args, int nargs, const hs_cli_opts_t *o,
                           hs_leak_analysis_t *cand, hs_leak_analysis_t *base);

/* ---- formats ---- */

/* How sites are grouped and which samples are kept: "function", "label:endpoint,function;
 * only endpoint=/orders" (for the header lines of every output). */
const char *hs_cli_grouping(const hs_sites_query_t *q, char *buf, size_t len);
/* The same in JSON: `, "by": "...", "focus": ["KEY=VALUE", ...]`. */
void hs_cli_json_grouping(FILE *f, const hs_sites_query_t *q);

/* 3 significant digits with binary prefixes for bytes ("20.1 MiB"), k/M/G for counts. */
const char *hs_cli_fmt_value(char *buf, size_t len, double v, const char *unit);
/* Same with an explicit sign ("+1.20 MiB", "-512 B"). */
const char *hs_cli_fmt_change(char *buf, size_t len, double v, const char *unit);
/* Per hour: "7.03 GiB/h". */
const char *hs_cli_fmt_rate(char *buf, size_t len, double per_second, const char *unit);
/* "2026-01-01 00:00:03 UTC"; "no time" for 0. */
const char *hs_cli_fmt_time(char *buf, size_t len, int64_t nanos);
/* "250 ms", "10.0 s", "4.5 min", "3.2 h", "2.0 d". */
const char *hs_cli_fmt_duration(char *buf, size_t len, double seconds);
/* The unit to show a time span in: seconds per unit and its name ("s", "min", "h", "d"). */
double hs_cli_time_unit(double span, const char **name);

/* Why a profile was written: "memory (85% of 128 MiB)", "exit"; "" when it does not say. */
const char *hs_cli_fmt_reason(char *buf, size_t len, const hs_sites_origin_t *o);
/* "memory limit 128 MiB (cgroup v1), working set 109 MiB (85%)"; "" when not recorded. */
const char *hs_cli_fmt_memory(char *buf, size_t len, const hs_sites_origin_t *o);
/* The origin's fields as JSON members: , "reason": ..., "memory_limit": ... (null unknown). */
void hs_cli_json_origin(FILE *f, const hs_sites_origin_t *o);

/* A JSON string literal; a JSON number (null for NAN and infinities). */
void hs_cli_json_string(FILE *f, const char *s);
void hs_cli_json_number(FILE *f, double v);

/* ---- the HTML report (html.c) ---- */

typedef struct hs_html hs_html_t;

/* Open OUT.html for writing (atomically replaced on hs_html_close). NULL + message on error. */
hs_html_t *hs_html_open(const char *cmd, const char *path, const char *title);
/* A paragraph of plain text. */
void hs_html_text(hs_html_t *h, const char *cls, const char *fmt, ...) HS_PRINTF(3, 4);
/* Charts. */
void hs_html_report_chart(hs_html_t *h, const hs_sites_t *s, size_t top);
void hs_html_diff_chart(hs_html_t *h, const hs_sites_t *base, const hs_sites_t *next,
                        const char *const *names, const double *change, const double *se,
                        const bool *grew, size_t n);
void hs_html_series_charts(hs_html_t *h, const hs_series_t *s, size_t top, bool all);
/* The resident set by part over time, stacked (nothing when the profiles lack the parts). */
void hs_html_rss_chart(hs_html_t *h, const hs_series_t *s);
/* A table: a header row, then rows of ncols cells each; cells[0] of a row may carry a class. */
void hs_html_table_begin(hs_html_t *h, const char *const *header, size_t ncols);
void hs_html_table_row(hs_html_t *h, const char *row_class, const char *const *cells, size_t ncols);
void hs_html_table_end(hs_html_t *h);
/* Write and close; returns 0 or HS_CLI_EXIT_FAILURE (after a message). */
int hs_html_close(hs_html_t *h);

/* ---- a profile's memory breakdown (memory_parts.c) ---- */

/* The lines under report's header; nothing when the profile carries no accounting. */
void hs_cli_print_breakdown(FILE *f, const hs_breakdown_t *b);
/* `, "memory": {...}` (null when the profile carries no accounting). */
void hs_cli_json_breakdown(FILE *f, const hs_breakdown_t *b);
void hs_cli_html_breakdown(hs_html_t *h, const hs_breakdown_t *b);
/* The audit in one sentence ("" when there is nothing to say). */
const char *hs_cli_fmt_audit(char *buf, size_t len, const hs_breakdown_t *b);

/* The colour of a verdict (also used for legends). */
const char *hs_html_class_colour(hs_trend_class_t c);

#endif
