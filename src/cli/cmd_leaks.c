/*
 * cmd_leaks.c - `heapsampler leaks [OPTIONS] FILES...|DIR`: leak or cache? Orders the profiles of
 * a process by time, fits each site's in-use series (series.h, trend.h) and prints the
 * verdicts ranked: leak suspects by growth, then plateaus, transients and stable sites.
 *
 * Processes: files named <prefix>.<pid>.<seq>.pb* are grouped by pid, and each process is
 * analysed on its own (sample rows are only comparable within one process); files whose names
 * carry no pid form one more group. A group with fewer than 3 profiles is reported as skipped.
 * Exit status: 0 (also when leak suspects are found: `check` is the gate), 2 for a bad option
 * or an unreadable, corrupt or undated profile, or when no process has 3 profiles.
 * Single-threaded.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "analysis.h"

#define CMD "leaks"
#define ALLOWED                                                                                    \
    (HS_CLI_OPT_TYPE | HS_CLI_OPT_BY | HS_CLI_OPT_TOP | HS_CLI_OPT_JSON | HS_CLI_OPT_HTML |        \
     HS_CLI_OPT_SIGMA | HS_CLI_OPT_ALL)

static void print_help(FILE *f)
{
    fprintf(f, "Usage: heapsampler leaks [OPTIONS] FILES...|DIR\n\n");
    hs_cli_print_wrapped(
        f,
        "Leak or cache? Reads a series of heap profiles of one process (files, or a directory "
        "of them), orders them by their time stamps and, per call site, fits the trend of "
        "in-use memory: growth in bytes per hour (least squares) with its error, the fraction "
        "of rising steps, R^2, and whether the growth has levelled off (the growth rate in the "
        "last third of the time against the rate before it). Each site gets a verdict: leak "
        "suspect (grows and has not levelled off), plateau (grew, then stopped: a cache or a "
        "pool), transient (rose and fell back), stable (no significant growth). A change counts "
        "only when it exceeds K standard errors of the sampling noise (--sigma, default 3); "
        "sites that never rise clearly above the noise get no verdict and are not shown "
        "(--all shows them). Profiles of several processes (<prefix>.<pid>.<seq>.pb.gz) are "
        "analysed one process at a time. Exit status: 0, or 2 for a bad option, an "
        "unreadable, corrupt or undated profile, or fewer than 3 profiles of every process.",
        0);
    fprintf(f, "\nOptions:\n");
    hs_cli_print_opts_help(f, ALLOWED);
    fprintf(f, "\nExamples:\n"
               "  heapsampler leaks /tmp/prof/\n"
               "  heapsampler leaks --json --by stack heapsampler.4242.*.pb.gz\n"
               "  heapsampler leaks --html leaks.html /tmp/prof/\n");
}

/* ---- analysis ---------------------------------------------------------------------------- */

int hs_cli_leaks_analyze(const char *cmd, const hs_cli_file_t *files, size_t nfiles,
                         const hs_cli_opts_t *o, hs_cli_series_t **out, size_t *nout)
{
    hs_cli_series_t *v = NULL;
    size_t n = 0, cap = 0;
    const char *type = o->type[0] ? o->type : "inuse_space";
    if (strncmp(type, "inuse_", 6) != 0) {
        hs_cli_error(cmd,
                     "invalid --type \"%s\": a trend needs an in-use type (inuse_space or "
                     "inuse_objects)",
                     type);
        return HS_CLI_EXIT_USAGE;
    }
    for (size_t i = 0; i < nfiles;) {
        size_t j = i;
        while (j < nfiles && files[j].pid == files[i].pid)
            j++;
        if (hs_array_reserve((void **)&v, &cap, n + 1, sizeof *v, 4) != HS_OK) {
            hs_cli_error(cmd, "out of memory");
            hs_cli_leaks_free(v, n);
            return HS_CLI_EXIT_FAILURE;
        }
        hs_cli_series_t *cs = &v[n];
        memset(cs, 0, sizeof *cs);
        cs->pid = files[i].pid;
        cs->nfiles = j - i;
        int rc = hs_cli_load_series(cmd, files + i, j - i, type, o->by, &cs->s);
        if (rc) {
            hs_cli_leaks_free(v, n);
            return rc;
        }
        n++;
        hs_err_t err = hs_series_fit(&cs->s, o->sigma, cs->why, sizeof cs->why);
        if (err == HS_ERR_NOMEM) {
            hs_cli_error(cmd, "out of memory");
            hs_cli_leaks_free(v, n);
            return HS_CLI_EXIT_FAILURE;
        }
        if (err != HS_OK)
            cs->skipped = cs->why;
        i = j;
    }
    *out = v;
    *nout = n;
    return 0;
}

void hs_cli_leaks_free(hs_cli_series_t *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        hs_series_free(&v[i].s);
    free(v);
}

/* ---- text -------------------------------------------------------------------------------- */

static void process_name(const hs_cli_series_t *cs, char *buf, size_t len)
{
    if (cs->pid >= 0)
        snprintf(buf, len, "pid %ld", cs->pid);
    else
        snprintf(buf, len, "profiles without a pid in their names");
}

static const char *error_note(const hs_series_t *s, char *buf, size_t len)
{
    if (s->unknown_why)
        snprintf(buf, len, "sampling error unknown (%s): errors are the scatter between profiles",
                 s->unknown_why);
    else if (!s->allocs_known)
        snprintf(buf, len,
                 "errors are 1 sigma (sampling model with independent profiles: no "
                 "alloc_objects to follow samples; and the scatter)");
    else
        snprintf(buf, len, "errors are 1 sigma (sampling error and scatter)");
    return buf;
}

static const char *ratio(char *buf, size_t len, const hs_trend_t *t)
{
    if (!t->tested || !(t->early_rate > 0))
        snprintf(buf, len, "-");
    else
        snprintf(buf, len, "%.2f", t->late_rate / t->early_rate);
    return buf;
}

static const char *percent(char *buf, size_t len, double x)
{
    if (isnan(x))
        snprintf(buf, len, "-");
    else
        snprintf(buf, len, "%.0f%%", 100 * x);
    return buf;
}

static const char *r2(char *buf, size_t len, double x)
{
    if (isnan(x))
        snprintf(buf, len, "-");
    else
        snprintf(buf, len, "%.2f", x);
    return buf;
}

/* "<prefix>2 leak suspects: a (7.0 GiB/h), b (1.0 GiB/h)": growth for leaks, peak for others. */
static size_t list_class(FILE *f, const hs_series_t *s, hs_trend_class_t cls, const char *prefix)
{
    size_t count = 0;
    for (size_t i = 0; i < s->nsites; i++)
        count += s->sites[i].trend.cls == cls;
    if (count == 0)
        return 0;
    const char *name = hs_trend_class_name(cls);
    fprintf(f, "%s%zu %s%s:", prefix, count, name, count == 1 ? "" : "s");
    for (size_t i = 0, k = 0; i < s->nsites && k < 5; i++) {
        const hs_trend_t *t = &s->sites[i].trend;
        char v[64];
        if (t->cls != cls)
            continue;
        fprintf(f, "%s %s (%s)", k++ ? "," : "", s->sites[i].name,
                cls == HS_TREND_LEAK ? hs_cli_fmt_rate(v, sizeof v, t->slope, s->unit)
                                     : hs_cli_fmt_value(v, sizeof v, t->peak, s->unit));
    }
    if (count > 5)
        fprintf(f, ", ...");
    return count;
}

static size_t shown_count(const hs_series_t *s, const hs_cli_opts_t *o, size_t *hidden)
{
    size_t visible = 0;
    for (size_t i = 0; i < s->nsites; i++)
        if (o->all || s->sites[i].trend.cls != HS_TREND_NOISE)
            visible++;
    *hidden = s->nsites - visible;
    return o->top && o->top < visible ? o->top : visible;
}

/* The next site to show from *i on (skipping noise unless --all), or NULL; advances *i. */
static const hs_series_site_t *next_shown(const hs_series_t *s, const hs_cli_opts_t *o, size_t *i)
{
    while (*i < s->nsites) {
        const hs_series_site_t *st = &s->sites[(*i)++];
        if (o->all || st->trend.cls != HS_TREND_NOISE)
            return st;
    }
    return NULL;
}

static void print_series(FILE *f, const hs_cli_series_t *cs, const hs_cli_opts_t *o)
{
    const hs_series_t *s = &cs->s;
    char who[64], a[64], b[64], c[64], d[64], e[64], g[64], h[64], note[512];
    process_name(cs, who, sizeof who);
    if (cs->skipped) {
        fprintf(f, "heapsampler leaks: %s: %s; skipped\n", who, cs->skipped);
        return;
    }
    const char *u = s->unit;
    size_t n = s->npoints;
    fprintf(f, "heapsampler leaks: %s, %zu profiles over %s (%s to %s)\n", who, n,
            hs_cli_fmt_duration(a, sizeof a, s->t[n - 1]),
            hs_cli_fmt_time(b, sizeof b, s->time_nanos[0]),
            hs_cli_fmt_time(c, sizeof c, s->time_nanos[n - 1]));
    fprintf(f, "  %s (%s) by %s; %s; verdicts at %g sigma\n", s->type, u, hs_sites_by_name(o->by),
            error_note(s, note, sizeof note), o->sigma);
    const hs_trend_t *tt = &s->total_trend;
    fprintf(f, "  whole process: %s at the end, growing %s \u00b1 %s: %s\n",
            hs_cli_fmt_value(a, sizeof a, tt->last, u), hs_cli_fmt_rate(b, sizeof b, tt->slope, u),
            hs_cli_fmt_rate(c, sizeof c, tt->slope_se, u), hs_trend_class_name(tt->cls));
    if (!tt->tested)
        fprintf(f, "  too few profiles in each third of the time to tell a filling cache from a "
                   "leak: every significant growth is a leak suspect\n");
    fprintf(f, "\n");

    size_t hidden, shown = shown_count(s, o, &hidden);
    if (shown == 0) {
        fprintf(f, "  (no site rises clearly above the sampling noise)\n");
    } else {
        fprintf(f,
                "  %-12s  %12s      \u00b1 1 sigma  %10s      \u00b1 1 sigma  %10s  %6s  %6s  "
                "%10s  %s\n",
                "verdict", "growth", "last", "peak", "rising", "R\u00b2", "late/early", "site");
        size_t i = 0;
        for (size_t k = 0; k < shown; k++) {
            const hs_series_site_t *st = next_shown(s, o, &i);
            const hs_trend_t *t = &st->trend;
            fprintf(f, "  %-12s  %12s  \u00b1 %11s  %10s  \u00b1 %11s  %10s  %6s  %5s  %10s  %s\n",
                    hs_trend_class_name(t->cls), hs_cli_fmt_rate(a, sizeof a, t->slope, u),
                    hs_cli_fmt_rate(b, sizeof b, t->slope_se, u),
                    hs_cli_fmt_value(c, sizeof c, t->last, u),
                    hs_cli_fmt_value(d, sizeof d, t->last_se, u),
                    hs_cli_fmt_value(e, sizeof e, t->peak, u), percent(g, sizeof g, t->monotone),
                    r2(h, sizeof h, t->r2), ratio(note, sizeof note, t), st->name);
        }
    }
    size_t visible = s->nsites - hidden;
    if (shown < visible)
        fprintf(f, "  ... %zu more site%s (--top 0 shows all)\n", visible - shown,
                visible - shown == 1 ? "" : "s");
    if (hidden)
        fprintf(f, "  %zu site%s within the sampling noise not shown (--all shows them)\n", hidden,
                hidden == 1 ? "" : "s");

    /* The verdict in one line per class that matters. */
    fprintf(f, "\n");
    if (!list_class(f, s, HS_TREND_LEAK, "verdict: "))
        fprintf(f, "verdict: no leak suspect");
    list_class(f, s, HS_TREND_PLATEAU, "; ");
    fprintf(f, "\n");
}

static void json_trend(FILE *f, const hs_trend_t *t)
{
    const struct {
        const char *name;
        double v;
    } fields[] = {
        {"growth_per_hour", t->slope * 3600},
        {"growth_per_hour_stderr", t->slope_se * 3600},
        {"r2", t->r2},
        {"monotone", t->monotone},
        {"early_rate_per_hour", t->tested ? t->early_rate * 3600 : NAN},
        {"late_rate_per_hour", t->tested ? t->late_rate * 3600 : NAN},
        {"late_rate_per_hour_stderr", t->tested ? t->late_se * 3600 : NAN},
        {"rise", t->rise},
        {"rise_stderr", t->rise_se},
        {"dispersion", t->dispersion},
        {"first", t->first},
        {"last", t->last},
        {"last_stderr", t->last_se},
        {"peak", t->peak},
        {"scatter", t->scatter},
    };
    fprintf(f, "\"verdict\": ");
    hs_cli_json_string(f, hs_trend_class_name(t->cls));
    fprintf(f, ", \"ceiling_tested\": %s", t->tested ? "true" : "false");
    for (size_t i = 0; i < HS_ARRAY_LEN(fields); i++) {
        fprintf(f, ", \"%s\": ", fields[i].name);
        hs_cli_json_number(f, fields[i].v);
    }
}

static void json_array(FILE *f, const double *v, size_t n)
{
    fputc('[', f);
    for (size_t i = 0; i < n; i++) {
        if (i)
            fputs(", ", f);
        hs_cli_json_number(f, v[i]);
    }
    fputc(']', f);
}

static void print_json(FILE *f, const hs_cli_series_t *v, size_t nv, const hs_cli_opts_t *o)
{
    fprintf(f, "{\"sigma\": ");
    hs_cli_json_number(f, o->sigma);
    fprintf(f, ", \"by\": \"%s\", \"processes\": [", hs_sites_by_name(o->by));
    for (size_t p = 0; p < nv; p++) {
        const hs_cli_series_t *cs = &v[p];
        const hs_series_t *s = &cs->s;
        fprintf(f, "%s\n {\"pid\": ", p ? "," : "");
        if (cs->pid >= 0)
            fprintf(f, "%ld", cs->pid);
        else
            fprintf(f, "null");
        fprintf(f, ", \"profiles\": %zu", cs->nfiles);
        if (cs->skipped) {
            fprintf(f, ", \"skipped\": ");
            hs_cli_json_string(f, cs->skipped);
            fprintf(f, "}");
            continue;
        }
        fprintf(f, ", \"type\": ");
        hs_cli_json_string(f, s->type);
        fprintf(f, ", \"unit\": ");
        hs_cli_json_string(f, s->unit);
        fprintf(f, ", \"error_unknown\": ");
        if (s->unknown_why)
            hs_cli_json_string(f, s->unknown_why);
        else
            fprintf(f, "null");
        fprintf(f, ",\n  \"time_nanos\": [");
        for (size_t i = 0; i < s->npoints; i++)
            fprintf(f, "%s%lld", i ? ", " : "", (long long)s->time_nanos[i]);
        fprintf(f, "],\n  \"total\": {\"values\": ");
        json_array(f, s->total, s->npoints);
        fprintf(f, ", ");
        json_trend(f, &s->total_trend);
        fprintf(f, "},\n  \"sites\": [");
        size_t hidden, shown = shown_count(s, o, &hidden);
        size_t i = 0;
        for (size_t k = 0; k < shown; k++) {
            const hs_series_site_t *st = next_shown(s, o, &i);
            fprintf(f, "%s\n   {\"site\": ", k ? "," : "");
            hs_cli_json_string(f, st->name);
            fprintf(f, ", ");
            json_trend(f, &st->trend);
            fprintf(f, ", \"values\": ");
            json_array(f, st->y, s->npoints);
            fprintf(f, "}");
        }
        fprintf(f, "],\n  \"not_shown\": %zu}", s->nsites - shown);
    }
    fprintf(f, "\n]}\n");
}

void hs_cli_leaks_print(FILE *f, const hs_cli_series_t *v, size_t n, const hs_cli_opts_t *o)
{
    if (o->json) {
        print_json(f, v, n, o);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        if (i)
            fprintf(f, "\n");
        print_series(f, &v[i], o);
    }
}

/* ---- HTML -------------------------------------------------------------------------------- */

int hs_cli_leaks_write_html(const char *cmd, const hs_cli_series_t *v, size_t nv,
                            const hs_cli_opts_t *o)
{
    hs_html_t *h = hs_html_open(cmd, o->html, "heapsampler leaks");
    if (!h)
        return HS_CLI_EXIT_FAILURE;
    for (size_t p = 0; p < nv; p++) {
        const hs_cli_series_t *cs = &v[p];
        const hs_series_t *s = &cs->s;
        char who[64], a[64], b[64], c[64], d[64], e[64], g[64], hh[64], note[512];
        process_name(cs, who, sizeof who);
        if (cs->skipped) {
            hs_html_text(h, "meta", "%s: %s; skipped", who, cs->skipped);
            continue;
        }
        const char *u = s->unit;
        size_t n = s->npoints;
        hs_html_text(h, "process", "%s: %zu profiles over %s (%s to %s)", who, n,
                     hs_cli_fmt_duration(a, sizeof a, s->t[n - 1]),
                     hs_cli_fmt_time(b, sizeof b, s->time_nanos[0]),
                     hs_cli_fmt_time(c, sizeof c, s->time_nanos[n - 1]));
        hs_html_text(h, "meta", "%s (%s) by %s; %s; verdicts at %g sigma", s->type, u,
                     hs_sites_by_name(o->by), error_note(s, note, sizeof note), o->sigma);
        const hs_trend_t *tt = &s->total_trend;
        hs_html_text(h, tt->cls == HS_TREND_LEAK ? "verdict bad" : "verdict good",
                     "whole process: %s at the end, growing %s \u00b1 %s: %s",
                     hs_cli_fmt_value(a, sizeof a, tt->last, u),
                     hs_cli_fmt_rate(b, sizeof b, tt->slope, u),
                     hs_cli_fmt_rate(c, sizeof c, tt->slope_se, u), hs_trend_class_name(tt->cls));
        const char *header[] = {"verdict",        "growth", "\u00b1 1 sigma", "last",
                                "\u00b1 1 sigma", "peak",   "rising",         "R\u00b2",
                                "late/early",     "site"};
        hs_html_table_begin(h, header, 10);
        size_t hidden, shown = shown_count(s, o, &hidden);
        size_t i = 0;
        for (size_t k = 0; k < shown; k++) {
            const hs_series_site_t *st = next_shown(s, o, &i);
            const hs_trend_t *t = &st->trend;
            char x[64];
            const char *cells[] = {hs_trend_class_name(t->cls),
                                   hs_cli_fmt_rate(a, sizeof a, t->slope, u),
                                   hs_cli_fmt_rate(b, sizeof b, t->slope_se, u),
                                   hs_cli_fmt_value(c, sizeof c, t->last, u),
                                   hs_cli_fmt_value(d, sizeof d, t->last_se, u),
                                   hs_cli_fmt_value(e, sizeof e, t->peak, u),
                                   percent(g, sizeof g, t->monotone),
                                   r2(hh, sizeof hh, t->r2),
                                   ratio(x, sizeof x, t),
                                   st->name};
            static const char *const row_class[HS_TREND_NCLASSES] = {"noise", "stable", "transient",
                                                                     "plateau", "leak"};
            hs_html_table_row(h, row_class[t->cls], cells, 10);
        }
        hs_html_table_end(h);
        if (hidden)
            hs_html_text(h, "meta", "%zu site%s within the sampling noise not shown.", hidden,
                         hidden == 1 ? "" : "s");
        hs_html_series_charts(h, s, o->top ? (o->top < 8 ? o->top : 8) : 8, o->all);
    }
    return hs_html_close(h);
}

/* ---- entry ------------------------------------------------------------------------------- */

int hs_cli_leaks(int argc, char **argv)
{
    hs_cli_opts_t o;
    int first, rc;
    if (hs_cli_start(CMD, argc, argv, ALLOWED, print_help, &o, &first, &rc))
        return rc;
    if (first >= argc) {
        hs_cli_error(CMD, "no profiles given (usage: heapsampler leaks [OPTIONS] FILES...|DIR; "
                          "see --help)");
        return HS_CLI_EXIT_USAGE;
    }
    if (o.type[0] && strncmp(o.type, "inuse_", 6) != 0) {
        hs_cli_error(CMD,
                     "invalid --type \"%s\": a trend needs an in-use type (inuse_space or "
                     "inuse_objects)",
                     o.type);
        return HS_CLI_EXIT_USAGE;
    }
    hs_cli_file_t *files = NULL;
    size_t nfiles = 0;
    rc = hs_cli_collect_files(CMD, argv + first, argc - first, &files, &nfiles);
    if (rc)
        return rc;
    hs_cli_series_t *v = NULL;
    size_t nv = 0;
    rc = hs_cli_leaks_analyze(CMD, files, nfiles, &o, &v, &nv);
    hs_cli_free_files(files, nfiles);
    if (rc)
        return rc;
    size_t fitted = 0;
    for (size_t i = 0; i < nv; i++)
        fitted += !v[i].skipped;
    if (fitted == 0) {
        hs_cli_error(CMD, "%s", nv == 1 ? v[0].why : "no process has 3 profiles to fit a trend to");
        hs_cli_leaks_free(v, nv);
        return HS_CLI_EXIT_USAGE;
    }
    hs_cli_leaks_print(stdout, v, nv, &o);
    if (o.html)
        rc = hs_cli_leaks_write_html(CMD, v, nv, &o);
    hs_cli_leaks_free(v, nv);
    return rc;
}
