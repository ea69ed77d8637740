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

#include "cli.h"
#include "leak_analysis.h"
#include "pprof_reader.h"
#include "series.h"
#include "sites.h"

#define HS_CLI_EXIT_FOUND 1

/* Flags shared by report, diff, leaks and check; each command accepts a subset. */
typedef struct hs_cli_opts {
    const char *type; /* --type: sample type ("" = default) */
    hs_sites_by_t by; /* --by */
    size_t top;       /* --top: rows shown (0 = all) */
    const char *html; /* --html OUT.html, or NULL */
    bool json;        /* --json */
    bool all;         /* --all: also sites within the noise */
    double sigma;     /* --sigma: standard errors that make a change significant */
    double threshold; /* diff --threshold (bytes or count) */
    bool help;
} hs_cli_opts_t;

#define HS_CLI_OPT_TYPE      (1u << 0)
#define HS_CLI_OPT_BY        (1u << 1)
#define HS_CLI_OPT_TOP       (1u << 2)
#define HS_CLI_OPT_HTML      (1u << 3)
#define HS_CLI_OPT_JSON      (1u << 4)
#define HS_CLI_OPT_ALL       (1u << 5)
#define HS_CLI_OPT_SIGMA     (1u << 6)
#define HS_CLI_OPT_THRESHOLD (1u << 7)

#define HS_CLI_DEFAULT_SIGMA 3.0
#define HS_CLI_DEFAULT_TOP   20

/*
 * Parse argv[1..] (argv[0] is the command): the flags in `allowed`, stopping at the first
 * operand or after "--". *first gets the index of the first operand. Prints the error and
 * returns HS_CLI_EXIT_USAGE, or 0.
 */
int hs_cli_parse_opts(const char *cmd, int argc, char **argv, unsigned allowed, hs_cli_opts_t *o,
                      int *first);

/*
 * The start every analysis command shares: parse the flags, print the help when asked. Returns
 * true when the command is done (help printed, or a usage error), with *rc its exit status.
 */
bool hs_cli_start(const char *cmd, int argc, char **argv, unsigned allowed, void (*help)(FILE *f),
                  hs_cli_opts_t *o, int *first, int *rc);

/* Help lines for the flags in `allowed`. */
void hs_cli_print_opts_help(FILE *f, unsigned allowed);

/* A size ("64M", "1G", "4096") or a rate ("10M/h", "1K/s", "2M/min"; per hour without a unit). */
hs_err_t hs_cli_parse_size(const char *s, double *out, const char **why) HS_MUST_CHECK;
hs_err_t hs_cli_parse_rate(const char *s, double *per_second, const char **why) HS_MUST_CHECK;

/* ---- profiles ---- */

/* Read, parse and group one profile; on failure print "heapsampler <cmd>: FILE: <reason>". */
int hs_cli_load_sites(const char *cmd, const char *path, const char *type, hs_sites_by_t by,
                      hs_sites_t *out);

/*
 * Collect the profiles that args name and analyse them (leak_analysis.h) with o's type, by and
 * sigma: what `leaks` and `check` start with. *a must be zeroed; the caller frees it, also on
 * failure. Prints "heapsampler <cmd>: <reason>" and returns its exit status on failure, else 0.
 */
int hs_cli_load_leaks(const char *cmd, char **args, int nargs, const hs_cli_opts_t *o,
                      hs_leak_analysis_t *a);

/* ---- formats ---- */

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
/* A table: a header row, then rows of ncols cells each; cells[0] of a row may carry a class. */
void hs_html_table_begin(hs_html_t *h, const char *const *header, size_t ncols);
void hs_html_table_row(hs_html_t *h, const char *row_class, const char *const *cells, size_t ncols);
void hs_html_table_end(hs_html_t *h);
/* Write and close; returns 0 or HS_CLI_EXIT_FAILURE (after a message). */
int hs_html_close(hs_html_t *h);

/* The colour of a verdict (also used for legends). */
const char *hs_html_class_colour(hs_trend_class_t c);

#endif
