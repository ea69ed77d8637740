/*
 * leak_report.c - how `leaks` and `check` show a leak analysis (leak_analysis.h): per process a
 * header (profiles, time span, what the errors are, the whole process's trend), the table of
 * sites ranked as the analysis ranked them, and a one-line verdict; or JSON with every number
 * and every site's series; or the HTML report with charts.
 *
 * Sites within the sampling noise are left out unless --all; --top limits the rows. The table
 * formats are fixed (tests/cli/golden). Single-threaded.
 */
#include "leak_report.h"

#include "reach_report.h"

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

/*
 * "3 memory (70%, 85%, 95% of 128 MiB), 12 interval, 1 exit": the reasons of p's profiles in the
 * order they first appear, with the details of each reason (a common " of <limit>" said once);
 * "" when none says why it was written.
 */
static void reasons_of(const hs_leak_analysis_t *a, const hs_leak_process_t *p, char *buf,
                       size_t len)
{
    const hs_leak_file_t *files = a->files + p->first;
    size_t o = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < p->nfiles; i++) {
        const char *reason = files[i].origin.reason;
        bool seen = !reason[0];
        for (size_t j = 0; j < i && !seen; j++)
            seen = strcmp(files[j].origin.reason, reason) == 0;
        if (seen)
            continue;
        size_t count = 0, ndetails = 0;
        const char *details[6], *tail = NULL;
        for (size_t j = i; j < p->nfiles; j++) {
            const hs_sites_origin_t *r = &files[j].origin;
            if (strcmp(r->reason, reason) != 0)
                continue;
            count++;
            bool dup = !r->detail[0];
            for (size_t k = 0; k < ndetails && !dup; k++)
                dup = strcmp(details[k], r->detail) == 0;
            if (!dup && ndetails < HS_ARRAY_LEN(details))
                details[ndetails++] = r->detail;
        }
        /* A suffix " of ..." that every detail shares is said once, after the last. */
        const char *of = ndetails ? strstr(details[0], " of ") : NULL;
        for (size_t k = 1; k < ndetails && of; k++) {
            const char *other = strstr(details[k], " of ");
            if (!other || strcmp(other, of) != 0)
                of = NULL;
        }
        tail = of ? of : "";
        o += (size_t)snprintf(buf + o, o < len ? len - o : 0, "%s%zu %s", o ? ", " : "", count,
                              reason);
        for (size_t k = 0; k < ndetails && o < len; k++) {
            int dlen =
                of ? (int)(strstr(details[k], " of ") - details[k]) : (int)strlen(details[k]);
            o += (size_t)snprintf(buf + o, len - o, "%s%.*s", k ? ", " : " (", dlen, details[k]);
        }
        if (ndetails && o < len)
            o += (size_t)snprintf(buf + o, len - o, "%s%s)", tail,
                                  ndetails == HS_ARRAY_LEN(details) ? ", ..." : "");
        if (o >= len)
            break;
    }
}

/* What the profiles say of why they were written and of the memory limit (when they do). */
static void print_origins(FILE *f, const hs_leak_analysis_t *a, const hs_leak_process_t *p)
{
    char reasons[1024], mem[256];
    reasons_of(a, p, reasons, sizeof reasons);
    if (!reasons[0])
        return;
    /* The memory figures of the latest profile that has them. */
    const hs_sites_origin_t *last = NULL;
    const hs_series_t *s = &p->series;
    for (size_t i = 0; i < s->npoints; i++) {
        const hs_sites_origin_t *r = &a->files[p->first + s->added[i]].origin;
        if (r->limit)
            last = r;
    }
    fprintf(f, "  profiles written for: %s\n", reasons);
    if (last)
        fprintf(f, "  %s at the last profile\n", hs_cli_fmt_memory(mem, sizeof mem, last));
    if (p->peak >= 0) {
        const hs_leak_file_t *peak = &a->peaks[p->peak];
        hs_cli_fmt_reason(mem, sizeof mem, &peak->origin);
        fprintf(f, "  peak profile: %s%s%s\n", peak->path, mem[0] ? ", written for " : "", mem);
    }
}

/*
 * Of each leak suspect, the share no pointer reached in the process's last profile, when that
 * profile carries a reachability scan (the exit profile, by default), and its largest holder:
 * lost memory (a missing free) or memory still held (a growing list, map or registry).
 */
static void print_reach(FILE *f, const hs_leak_analysis_t *la, const hs_leak_process_t *p,
                        const hs_cli_opts_t *o)
{
    const hs_series_t *s = &p->series;
    const hs_leak_file_t *last = &la->files[p->first + p->nfiles - 1];
    bool any = false;
    for (size_t i = 0; i < s->nsites && !any; i++)
        any = s->sites[i].trend.cls == HS_TREND_LEAK;
    if (!any || strncmp(s->type, "inuse_", 6) != 0)
        return;
    hs_sites_query_t q = o->q;
    q.type = s->type;
    hs_reach_view_t rv;
    if (hs_reach_view_load("leaks", last->path, &q, true, &rv) != 0 || !rv.scanned) {
        hs_reach_view_free(&rv);
        return;
    }
    fprintf(f, "lost or held (%s's reachability scan%s):\n",
            strcmp(last->origin.reason, "exit") == 0 ? "the exit profile" : "the last profile",
            rv.complete ? "" : ", stopped at its time budget: some blocks unclassified");
    for (size_t i = 0; i < s->nsites; i++) {
        const hs_series_site_t *st = &s->sites[i];
        const hs_trend_t *t = &st->trend;
        if (t->cls != HS_TREND_LEAK)
            continue;
        char a[32], b[32], c[32], d[16];
        const hs_site_t *u = hs_reach_view_unreferenced(&rv, st->name);
        double lost = u ? u->value : 0, lost_se = u ? sqrt(u->variance) : 0;
        double last_y = st->y[s->npoints - 1];
        fprintf(f, "  %s: unreferenced %s \u00b1 %s of %s (%s)", st->name,
                hs_cli_fmt_value(a, sizeof a, lost, s->unit),
                hs_cli_fmt_value(b, sizeof b, lost_se, s->unit),
                hs_cli_fmt_value(c, sizeof c, last_y, s->unit),
                percent(d, sizeof d, last_y > 0 ? lost / last_y : NAN));
        const hs_site_t *h[1];
        const char *hn[1];
        size_t hl[1];
        if (hs_reach_view_holders(&rv, st->name, h, hn, hl, 1))
            fprintf(f, "; the rest mostly held by %.*s (%s)", (int)hl[0], hn[0],
                    hs_cli_fmt_value(b, sizeof b, h[0]->value, s->unit));
        fprintf(f, "\n");
    }
    hs_reach_view_free(&rv);
}

static void print_series(FILE *f, const hs_leak_analysis_t *la, const hs_leak_process_t *p,
                         const hs_cli_opts_t *o)
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
    char by[1024];
    fprintf(f, "  %s (%s) by %s; %s; verdicts at %g sigma\n", s->type, u,
            hs_cli_grouping(&o->q, by, sizeof by), error_note(s, note, sizeof note), o->sigma);
    print_origins(f, la, p);
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
    print_reach(f, la, p, o);
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

static void print_json(FILE *f, const hs_leak_analysis_t *a, const hs_cli_opts_t *o)
{
    fprintf(f, "{\"sigma\": ");
    hs_cli_json_number(f, o->sigma);
    hs_cli_json_grouping(f, &o->q);
    fprintf(f, ", \"processes\": [");
    for (size_t pi = 0; pi < a->nprocs; pi++) {
        const hs_leak_process_t *p = &a->procs[pi];
        const hs_series_t *s = &p->series;
        fprintf(f, "%s\n {\"pid\": ", pi ? "," : "");
        if (p->pid >= 0)
            fprintf(f, "%ld", p->pid);
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
        fprintf(f, "],\n  \"files\": [");
        for (size_t i = 0; i < s->npoints; i++) {
            const hs_leak_file_t *file = &a->files[p->first + s->added[i]];
            fprintf(f, "%s\n   {\"file\": ", i ? "," : "");
            hs_cli_json_string(f, file->path);
            hs_cli_json_origin(f, &file->origin);
            fprintf(f, "}");
        }
        fprintf(f, "],\n  \"peak\": ");
        if (p->peak >= 0) {
            fprintf(f, "{\"file\": ");
            hs_cli_json_string(f, a->peaks[p->peak].path);
            hs_cli_json_origin(f, &a->peaks[p->peak].origin);
            fprintf(f, "}");
        } else {
            fprintf(f, "null");
        }
        fprintf(f, ",\n  \"total\": {\"values\": ");
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

void hs_leak_report_print(FILE *f, const hs_leak_analysis_t *a, const hs_cli_opts_t *o)
{
    if (o->json) {
        print_json(f, a, o);
        return;
    }
    for (size_t i = 0; i < a->nprocs; i++) {
        if (i)
            fprintf(f, "\n");
        print_series(f, a, &a->procs[i], o);
    }
}

/* ---- HTML -------------------------------------------------------------------------------- */

int hs_leak_report_html(const char *cmd, const hs_leak_analysis_t *la, const hs_cli_opts_t *o)
{
    hs_html_t *h = hs_html_open(cmd, o->html, "heapsampler leaks");
    if (!h)
        return HS_CLI_EXIT_FAILURE;
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
        char by[1024];
        hs_html_text(h, "meta", "%s (%s) by %s; %s; verdicts at %g sigma", s->type, u,
                     hs_cli_grouping(&o->q, by, sizeof by), error_note(s, note, sizeof note),
                     o->sigma);
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
