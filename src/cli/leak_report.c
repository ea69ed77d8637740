/*
 * leak_report.c - how `leaks` and `check` show a leak analysis (leak_analysis.h): per process a
 * header (profiles, time span, what the errors are, the whole process's trend), the table of
 * sites ranked as the analysis ranked them, and a one-line verdict; then, for each program of
 * several processes, how many of them have leak suspects and the worst sites across them; or
 * JSON with every number and every site's series; or the HTML report with charts.
 *
 * Sites within the sampling noise are left out unless --all; --top limits the rows. The table
 * formats are fixed (tests/cli/golden). Single-threaded.
 */
#include "leak_report.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- text -------------------------------------------------------------------------------- */

static void process_name(const hs_leak_process_t *p, char *buf, size_t len)
{
    if (p->pid >= 0)
        snprintf(buf, len, "pid %ld", p->pid);
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
        char v[64], site[HS_CLI_SHORT_SITE_WIDTH + 1];
        if (t->cls != cls)
            continue;
        fprintf(f, "%s %s (%s)", k++ ? "," : "",
                hs_sites_short_name(s->sites[i].name, HS_CLI_SHORT_SITE_WIDTH, site, sizeof site),
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

/*
 * The shown sites judged by their floor, in one line: their growth column says little about
 * them ("sawtooth, judged by its floor: lpInsert (6 drops, floor -248 MiB/h ± 657 MiB/h)").
 */
static void print_sawtooths(FILE *f, const hs_series_t *s, const hs_cli_opts_t *o, size_t shown)
{
    size_t i = 0, count = 0;
    for (size_t k = 0; k < shown; k++) {
        const hs_series_site_t *st = next_shown(s, o, &i);
        const hs_trend_t *t = &st->trend;
        char name[HS_CLI_SHORT_SITE_WIDTH + 1], a[64], b[64];
        if (!t->sawtooth)
            continue;
        if (count++ == 5) {
            fprintf(f, ", ...");
            break;
        }
        fprintf(f, "%s %s (%zu drops, floor %s \u00b1 %s)",
                count == 1 ? "  sawtooth, judged by the floor it falls back to:" : ",",
                hs_sites_short_name(st->name, HS_CLI_SHORT_SITE_WIDTH, name, sizeof name), t->drops,
                hs_cli_fmt_rate(a, sizeof a, t->floor_rate, s->unit),
                hs_cli_fmt_rate(b, sizeof b, t->floor_se, s->unit));
    }
    if (count)
        fprintf(f, "\n");
}

static void print_series(FILE *f, const hs_leak_process_t *p, const hs_cli_opts_t *o)
{
    const hs_series_t *s = &p->series;
    char who[64], a[64], b[64], c[64], d[64], e[64], g[64], h[64], note[512];
    process_name(p, who, sizeof who);
    if (p->skipped) {
        fprintf(f, "heapsampler leaks: %s: %s; skipped\n", who, p->why);
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
        const char **full = malloc(shown * sizeof *full);
        size_t i = 0;
        for (size_t k = 0; full && k < shown; k++)
            full[k] = next_shown(s, o, &i)->name;
        char **names = full ? hs_cli_short_names(full, shown, HS_CLI_SITE_WIDTH) : NULL;
        i = 0;
        for (size_t k = 0; k < shown; k++) {
            const hs_series_site_t *st = next_shown(s, o, &i);
            const hs_trend_t *t = &st->trend;
            fprintf(f, "  %-12s  %12s  \u00b1 %11s  %10s  \u00b1 %11s  %10s  %6s  %5s  %10s  %s\n",
                    hs_trend_class_name(t->cls), hs_cli_fmt_rate(a, sizeof a, t->slope, u),
                    hs_cli_fmt_rate(b, sizeof b, t->slope_se, u),
                    hs_cli_fmt_value(c, sizeof c, t->last, u),
                    hs_cli_fmt_value(d, sizeof d, t->last_se, u),
                    hs_cli_fmt_value(e, sizeof e, t->peak, u), percent(g, sizeof g, t->monotone),
                    r2(h, sizeof h, t->r2), ratio(note, sizeof note, t),
                    names ? names[k] : st->name);
        }
        free(names);
        free(full);
    }
    size_t visible = s->nsites - hidden;
    if (shown < visible)
        fprintf(f, "  ... %zu more site%s (--top 0 shows all)\n", visible - shown,
                visible - shown == 1 ? "" : "s");
    if (hidden)
        fprintf(f, "  %zu site%s within the sampling noise not shown (--all shows them)\n", hidden,
                hidden == 1 ? "" : "s");
    print_sawtooths(f, s, o, shown);

    /* The verdict in one line per class that matters. */
    fprintf(f, "\n");
    if (!list_class(f, s, HS_TREND_LEAK, "verdict: "))
        fprintf(f, "verdict: no leak suspect");
    list_class(f, s, HS_TREND_PLATEAU, "; ");
    fprintf(f, "\n");
}

/* ---- by program -------------------------------------------------------------------------- */

static const char *program_name(const hs_leak_program_t *g)
{
    return g->name[0] ? g->name : "an unknown program";
}

/* The rows of a program's summary that are shown: its leak suspects, at most --top of them. */
static size_t program_rows(const hs_leak_program_t *g, const hs_cli_opts_t *o)
{
    return o->top && o->top < g->nsites ? o->top : g->nsites;
}

/* "17 processes of postgres (14 analysed, 3 skipped): 2 with leak suspects, 1 of them leak
 * suspects as a whole" */
static void program_line(char *buf, size_t len, const hs_leak_program_t *g)
{
    char whole[64] = "";
    if (g->whole)
        snprintf(whole, sizeof whole, ", %zu of them leak suspects as a whole", g->whole);
    snprintf(buf, len, "%zu processes of %s (%zu analysed, %zu skipped): %zu with leak suspects%s",
             g->processes, program_name(g), g->fitted, g->processes - g->fitted, g->suspect, whole);
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
        {"drops", (double)t->drops},
        {"floor_rate_per_hour", t->sawtooth ? t->floor_rate * 3600 : NAN},
        {"floor_rate_per_hour_stderr", t->sawtooth ? t->floor_se * 3600 : NAN},
    };
    fprintf(f, "\"verdict\": ");
    hs_cli_json_string(f, hs_trend_class_name(t->cls));
    fprintf(f, ", \"ceiling_tested\": %s", t->tested ? "true" : "false");
    fprintf(f, ", \"sawtooth\": %s", t->sawtooth ? "true" : "false");
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

static void print_json(FILE *f, const hs_leak_analysis_t *a, const hs_cli_opts_t *o)
{
    fprintf(f, "{\"sigma\": ");
    hs_cli_json_number(f, o->sigma);
    fprintf(f, ", \"by\": \"%s\", \"processes\": [", hs_sites_by_name(o->by));
    for (size_t pi = 0; pi < a->nprocs; pi++) {
        const hs_leak_process_t *p = &a->procs[pi];
        const hs_series_t *s = &p->series;
        fprintf(f, "%s\n {\"pid\": ", pi ? "," : "");
        if (p->pid >= 0)
            fprintf(f, "%ld", p->pid);
        else
            fprintf(f, "null");
        fprintf(f, ", \"program\": ");
        if (p->program[0])
            hs_cli_json_string(f, p->program);
        else
            fprintf(f, "null");
        fprintf(f, ", \"profiles\": %zu", p->nfiles);
        if (p->skipped) {
            fprintf(f, ", \"skipped\": ");
            hs_cli_json_string(f, p->why);
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
    fprintf(f, "\n], \"programs\": [");
    for (size_t k = 0; k < a->nprograms; k++) {
        const hs_leak_program_t *g = &a->programs[k];
        fprintf(f, "%s\n {\"program\": ", k ? "," : "");
        if (g->name[0])
            hs_cli_json_string(f, g->name);
        else
            fprintf(f, "null");
        fprintf(f,
                ", \"processes\": %zu, \"analysed\": %zu, \"skipped\": %zu, "
                "\"with_leak_suspects\": %zu, \"whole_process_leak_suspects\": %zu, \"pids\": [",
                g->processes, g->fitted, g->processes - g->fitted, g->suspect, g->whole);
        for (size_t i = 0, n = 0; i < a->nprocs; i++) {
            const hs_leak_process_t *p = &a->procs[i];
            if (strcmp(p->program, g->name) == 0)
                fprintf(f, "%s%ld", n++ ? ", " : "", p->pid);
        }
        fprintf(f, "],\n  \"leak_suspects\": [");
        size_t n = program_rows(g, o);
        for (size_t i = 0; i < n; i++) {
            const hs_leak_site_summary_t *e = &g->sites[i];
            fprintf(f, "%s\n   {\"site\": ", i ? "," : "");
            hs_cli_json_string(f, e->name);
            fprintf(f, ", \"processes\": %zu, \"pid\": %ld, \"growth_per_hour\": ", e->processes,
                    e->pid);
            hs_cli_json_number(f, e->growth * 3600);
            fprintf(f, ", \"growth_per_hour_stderr\": ");
            hs_cli_json_number(f, e->growth_se * 3600);
            fprintf(f, "}");
        }
        fprintf(f, "], \"not_shown\": %zu}", g->nsites - n);
    }
    fprintf(f, "\n]}\n");
}

/* Per program of several processes: how many, how many leak, the worst sites across them. */
static void print_programs(FILE *f, const hs_leak_analysis_t *a, const hs_cli_opts_t *o)
{
    const char *u = NULL;
    for (size_t i = 0; i < a->nprocs && !u; i++)
        if (!a->procs[i].skipped)
            u = a->procs[i].series.unit;
    for (size_t k = 0; k < a->nprograms; k++) {
        const hs_leak_program_t *g = &a->programs[k];
        char line[512];
        if (g->processes < 2)
            continue;
        program_line(line, sizeof line, g);
        fprintf(f, "\nheapsampler leaks: %s\n", line);
        if (g->nsites == 0) {
            fprintf(f, "  no site is a leak suspect in any of them\n");
            continue;
        }
        size_t n = program_rows(g, o);
        const char **full = malloc(n * sizeof *full);
        for (size_t i = 0; full && i < n; i++)
            full[i] = g->sites[i].name;
        char **names = full ? hs_cli_short_names(full, n, HS_CLI_SITE_WIDTH) : NULL;
        fprintf(f, "  %-15s  %14s      \u00b1 1 sigma  %8s  %s\n", "leak suspect in",
                "largest growth", "in pid", "site");
        for (size_t i = 0; i < n; i++) {
            const hs_leak_site_summary_t *e = &g->sites[i];
            char x[64], y[64], count[32];
            snprintf(count, sizeof count, "%zu process%s", e->processes,
                     e->processes == 1 ? "" : "es");
            fprintf(f, "  %-15s  %14s  \u00b1 %11s  %8ld  %s\n", count,
                    hs_cli_fmt_rate(x, sizeof x, e->growth, u),
                    hs_cli_fmt_rate(y, sizeof y, e->growth_se, u), e->pid,
                    names ? names[i] : e->name);
        }
        if (n < g->nsites)
            fprintf(f, "  ... %zu more site%s (--top 0 shows all)\n", g->nsites - n,
                    g->nsites - n == 1 ? "" : "s");
        free(names);
        free(full);
    }
}

void hs_leak_report_print(FILE *f, const hs_leak_analysis_t *a, const hs_cli_opts_t *o)
{
    if (o->json) {
        print_json(f, a, o);
        return;
    }
    for (size_t i = 0; i < a->nprocs; i++) {
        if (i)
            fprintf(f, "\n");
        print_series(f, &a->procs[i], o);
    }
    print_programs(f, a, o);
}

/* ---- HTML -------------------------------------------------------------------------------- */

/* Per program of several processes, as print_programs: a line and a table. */
static void html_programs(hs_html_t *h, const hs_leak_analysis_t *a, const hs_cli_opts_t *o)
{
    const char *u = NULL;
    for (size_t i = 0; i < a->nprocs && !u; i++)
        if (!a->procs[i].skipped)
            u = a->procs[i].series.unit;
    for (size_t k = 0; k < a->nprograms; k++) {
        const hs_leak_program_t *g = &a->programs[k];
        char line[512];
        if (g->processes < 2)
            continue;
        program_line(line, sizeof line, g);
        hs_html_text(h, g->suspect ? "verdict bad" : "verdict good", "%s", line);
        if (g->nsites == 0)
            continue;
        const char *header[] = {"leak suspect in", "largest growth", "\u00b1 1 sigma", "in pid",
                                "site"};
        hs_html_table_begin(h, header, 5);
        for (size_t i = 0, n = program_rows(g, o); i < n; i++) {
            const hs_leak_site_summary_t *e = &g->sites[i];
            char x[64], y[64], count[32], pid[32];
            snprintf(count, sizeof count, "%zu process%s", e->processes,
                     e->processes == 1 ? "" : "es");
            snprintf(pid, sizeof pid, "%ld", e->pid);
            const char *cells[] = {count, hs_cli_fmt_rate(x, sizeof x, e->growth, u),
                                   hs_cli_fmt_rate(y, sizeof y, e->growth_se, u), pid, e->name};
            hs_html_table_row(h, "leak", cells, 5);
        }
        hs_html_table_end(h);
    }
}

int hs_leak_report_html(const char *cmd, const hs_leak_analysis_t *la, const hs_cli_opts_t *o)
{
    hs_html_t *h = hs_html_open(cmd, o->html, "heapsampler leaks");
    if (!h)
        return HS_CLI_EXIT_FAILURE;
    html_programs(h, la, o);
    for (size_t pi = 0; pi < la->nprocs; pi++) {
        const hs_leak_process_t *p = &la->procs[pi];
        const hs_series_t *s = &p->series;
        char who[64], a[64], b[64], c[64], d[64], e[64], g[64], hh[64], note[512];
        process_name(p, who, sizeof who);
        if (p->skipped) {
            hs_html_text(h, "meta", "%s: %s; skipped", who, p->why);
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
