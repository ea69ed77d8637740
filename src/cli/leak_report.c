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

#include "reach_report.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rss_growth.h"

/* ---- text -------------------------------------------------------------------------------- */

#define HS_LEAK_REPORT_TITLE_MAX 100 /* characters of a command line shown */

const char *hs_leak_report_who(const hs_leak_process_t *p, char *buf, size_t len)
{
    const char *name = p->title ? p->title : p->program;
    int n;
    if (p->pid >= 0)
        n = snprintf(buf, len, "pid %ld", p->pid);
    else
        n = snprintf(buf, len, "profiles without a pid in their names");
    if (!name || n < 0 || (size_t)n >= len)
        return buf;
    size_t shown =
        strlen(name) > HS_LEAK_REPORT_TITLE_MAX ? HS_LEAK_REPORT_TITLE_MAX - 3 : SIZE_MAX;
    snprintf(buf + n, len - (size_t)n, "%s%.*s%s", p->pid >= 0 ? " " : " of ",
             shown == SIZE_MAX ? (int)strlen(name) : (int)shown, name,
             shown == SIZE_MAX ? "" : "...");
    return buf;
}

const char *hs_leak_report_idle(const hs_leak_process_t *p, char *buf, size_t len)
{
    char a[32], b[32];
    if (p->idle_after >= 0)
        snprintf(buf, len, "no allocation sampled after its first %s (of %s): stable",
                 hs_cli_fmt_duration(a, sizeof a, p->idle_after),
                 hs_cli_fmt_duration(b, sizeof b, p->life));
    else
        snprintf(buf, len, "no allocation of its own sampled in its %s: stable",
                 hs_cli_fmt_duration(b, sizeof b, p->life));
    return buf;
}

/* The latest point of a series that was not fitted (its points are in file order). */
static size_t latest_point(const hs_series_t *s)
{
    size_t last = 0;
    for (size_t i = 1; i < s->npoints; i++)
        if (s->time_nanos[i] >= s->time_nanos[last])
            last = i;
    return last;
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

static void json_array(FILE *f, const double *v, size_t n);

/* The RSS line and its parts (rss_growth.h), when the profiles carry the accounting. */
static void print_rss(FILE *f, const hs_series_t *s, double sigma)
{
    char a[64], b[64], c[64];
    hs_rss_growth_t g;
    hs_rss_growth(s, sigma, &g);
    if (!g.known)
        return;
    const hs_trend_t *rt = &s->part_trend[HS_PART_RSS];
    fprintf(f, "  resident set: %s at the end, growing %s \u00b1 %s",
            hs_cli_fmt_value(a, sizeof a, rt->last, "bytes"),
            hs_cli_fmt_rate(b, sizeof b, rt->slope, "bytes"),
            hs_cli_fmt_rate(c, sizeof c, rt->slope_se, "bytes"));
    if (g.growing && g.explains != HS_PART_RSS)
        fprintf(f, ", %.0f%% of it %s\n", 100 * g.share, hs_series_part_name(g.explains));
    else
        fprintf(f, "%s\n", g.growing ? "" : ": not growing");
    fprintf(f, "    parts:");
    for (int k = HS_PART_HEAP; k < HS_NPARTS; k++) {
        const hs_trend_t *t = &s->part_trend[k];
        fprintf(f, "%s %s %s \u00b1 %s", k == HS_PART_HEAP ? "" : ",",
                hs_series_part_name((hs_series_part_t)k),
                hs_cli_fmt_rate(a, sizeof a, t->slope, "bytes"),
                hs_cli_fmt_rate(b, sizeof b, t->slope_se, "bytes"));
    }
    fprintf(f, "\n");
    const char *advice = hs_rss_growth_advice(&g, s->allocator);
    if (advice[0])
        fprintf(f, "  %s\n", advice);
}

static void json_rss(FILE *f, const hs_series_t *s, double sigma)
{
    hs_rss_growth_t g;
    hs_rss_growth(s, sigma, &g);
    fprintf(f, ",\n  \"rss\": ");
    if (!g.known) {
        fprintf(f, "null");
        return;
    }
    fprintf(f, "{\"growing\": %s, \"explained_by\": ", g.growing ? "true" : "false");
    if (g.growing && g.explains != HS_PART_RSS)
        hs_cli_json_string(f, hs_series_part_name(g.explains));
    else
        fprintf(f, "null");
    fprintf(f, ", \"share\": ");
    hs_cli_json_number(f, g.share);
    fprintf(f, ", \"allocator\": ");
    hs_cli_json_string(f, s->allocator);
    fprintf(f, ", \"advice\": ");
    hs_cli_json_string(f, hs_rss_growth_advice(&g, s->allocator));
    fprintf(f, ", \"parts\": {");
    for (int k = 0; k < HS_NPARTS; k++) {
        const hs_trend_t *t = &s->part_trend[k];
        fprintf(f, "%s\"%s\": {\"values\": ", k ? ", " : "",
                hs_series_part_name((hs_series_part_t)k));
        json_array(f, s->part[k], s->npoints);
        fprintf(f, ", \"slope\": ");
        hs_cli_json_number(f, t->slope);
        fprintf(f, ", \"slope_stderr\": ");
        hs_cli_json_number(f, t->slope_se);
        fprintf(f, "}");
    }
    fprintf(f, "}}");
}

/*
 * Lost or held: of each leak suspect, the share no pointer reached in the process's last
 * profile, when that profile carries a reachability scan (the exit profile, by default), and
 * its largest holder: lost memory (a missing free) or memory still held (a growing list, map
 * or registry). Said in text, HTML and JSON from the same figures (site_reach).
 */

/* The scan of the process's last profile (in-use series only); false, rv empty, when none. */
static bool load_reach(const hs_leak_analysis_t *la, const hs_leak_process_t *p,
                       const hs_cli_opts_t *o, hs_reach_view_t *rv)
{
    memset(rv, 0, sizeof *rv);
    const hs_series_t *s = &p->series;
    if (strncmp(s->type, "inuse_", 6) != 0)
        return false;
    const hs_leak_file_t *last = &la->files[p->first + p->nfiles - 1];
    hs_sites_query_t q = o->q;
    q.type = s->type;
    if (hs_reach_view_load("leaks", last->path, &q, true, rv) != 0 || !rv->scanned) {
        hs_reach_view_free(rv);
        return false;
    }
    return true;
}

/* A site's part of the scan: unreferenced ± its error, and its largest holder (if any). */
typedef struct site_reach {
    double lost, lost_se;
    const char *holder; /* NULL: none */
    int holder_len;
    double held;
} site_reach_t;

static site_reach_t site_reach(const hs_reach_view_t *rv, const char *name)
{
    const hs_site_t *u = hs_reach_view_unreferenced(rv, name);
    site_reach_t r = {.lost = u ? u->value : 0, .lost_se = u ? sqrt(u->variance) : 0};
    const hs_site_t *h[1];
    const char *hn[1];
    size_t hl[1];
    if (hs_reach_view_holders(rv, name, h, hn, hl, 1)) {
        r.holder = hn[0];
        r.holder_len = (int)hl[0];
        r.held = h[0]->value;
    }
    return r;
}

/* One leak suspect's part of the scan, formatted. */
typedef struct reach_row {
    const char *site;
    char lost[32], lost_se[32], of[32], share[16];
    char holder[256]; /* "heap (12.0 MiB)", or empty */
} reach_row_t;

/* How a report writes that part: its heading, then a row per leak suspect. */
typedef struct reach_out {
    void (*head)(void *ctx, const char *heading);
    void (*row)(void *ctx, const reach_row_t *r);
    void *ctx;
} reach_out_t;

/*
 * The last profile's scan, for each leak suspect of a process: nothing when it has none, or
 * no scan; else out's heading and a row for each suspect.
 */
static void each_suspect_reach(const hs_leak_analysis_t *la, const hs_leak_process_t *p,
                               const hs_cli_opts_t *o, const reach_out_t *out)
{
    const hs_series_t *s = &p->series;
    bool any = false;
    for (size_t i = 0; i < s->nsites && !any; i++)
        any = s->sites[i].trend.cls == HS_TREND_LEAK;
    hs_reach_view_t rv;
    if (!any || !load_reach(la, p, o, &rv))
        return;
    const hs_leak_file_t *last = &la->files[p->first + p->nfiles - 1];
    char heading[160];
    snprintf(heading, sizeof heading, "lost or held (%s's reachability scan%s):",
             strcmp(last->origin.reason, "exit") == 0 ? "the exit profile" : "the last profile",
             rv.complete ? "" : ", stopped at its time budget: some blocks unclassified");
    out->head(out->ctx, heading);
    for (size_t i = 0; i < s->nsites; i++) {
        const hs_series_site_t *st = &s->sites[i];
        if (st->trend.cls != HS_TREND_LEAK)
            continue;
        reach_row_t r = {.site = st->name};
        site_reach_t sr = site_reach(&rv, st->name);
        double last_y = st->y[s->npoints - 1];
        hs_cli_fmt_value(r.lost, sizeof r.lost, sr.lost, s->unit);
        hs_cli_fmt_value(r.lost_se, sizeof r.lost_se, sr.lost_se, s->unit);
        hs_cli_fmt_value(r.of, sizeof r.of, last_y, s->unit);
        percent(r.share, sizeof r.share, last_y > 0 ? sr.lost / last_y : NAN);
        if (sr.holder) {
            char v[32];
            snprintf(r.holder, sizeof r.holder, "%.*s (%s)", sr.holder_len, sr.holder,
                     hs_cli_fmt_value(v, sizeof v, sr.held, s->unit));
        }
        out->row(out->ctx, &r);
    }
    hs_reach_view_free(&rv);
}

static void text_reach_row(void *ctx, const reach_row_t *r)
{
    FILE *f = ctx;
    fprintf(f, "  %s: unreferenced %s \u00b1 %s of %s (%s)%s%s\n", r->site, r->lost, r->lost_se,
            r->of, r->share, r->holder[0] ? "; the rest mostly held by " : "", r->holder);
}

static void text_reach_head(void *ctx, const char *heading)
{
    fprintf(ctx, "%s\n", heading);
}

static void print_reach(FILE *f, const hs_leak_analysis_t *la, const hs_leak_process_t *p,
                        const hs_cli_opts_t *o)
{
    each_suspect_reach(la, p, o, &(reach_out_t){text_reach_head, text_reach_row, f});
}

static void print_series(FILE *f, const hs_leak_analysis_t *la, const hs_leak_process_t *p,
                         const hs_cli_opts_t *o)
{
    const hs_series_t *s = &p->series;
    char who[HS_LEAK_REPORT_WHO_MAX], a[64], b[64], c[64], d[64], e[64], g[64], h[64], note[512];
    hs_leak_report_who(p, who, sizeof who);
    if (p->skipped) {
        fprintf(f, "heapsampler leaks: %s: %s; skipped\n", who, p->why);
        return;
    }
    if (p->idle) {
        fprintf(f, "heapsampler leaks: %s: %zu profile%s, %s at the end; %s\n", who, p->nfiles,
                p->nfiles == 1 ? "" : "s",
                hs_cli_fmt_value(a, sizeof a, s->total[latest_point(s)], s->unit),
                hs_leak_report_idle(p, note, sizeof note));
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
    print_rss(f, s, o->sigma);
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
    print_reach(f, la, p, o);
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

/* `, "key": "value"`, or null when there is no value. */
static void json_field(FILE *f, const char *key, const char *value)
{
    fprintf(f, ", \"%s\": ", key);
    if (value)
        hs_cli_json_string(f, value);
    else
        fprintf(f, "null");
}

/* A site's part of the last profile's scan: unreferenced (± its error) and its top holder. */
static void json_site_reach(FILE *f, const hs_reach_view_t *rv, const char *name)
{
    site_reach_t sr = site_reach(rv, name);
    fprintf(f, ", \"unreferenced\": ");
    hs_cli_json_number(f, sr.lost);
    fprintf(f, ", \"unreferenced_stderr\": ");
    hs_cli_json_number(f, sr.lost_se);
    fprintf(f, ", \"held_by\": ");
    if (sr.holder) {
        fprintf(f, "{\"holder\": ");
        char holder[256];
        snprintf(holder, sizeof holder, "%.*s", sr.holder_len, sr.holder);
        hs_cli_json_string(f, holder);
        fprintf(f, ", \"value\": ");
        hs_cli_json_number(f, sr.held);
        fprintf(f, "}");
    } else {
        fprintf(f, "null");
    }
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
        json_field(f, "program", p->image);
        json_field(f, "title", p->title);
        fprintf(f, ", \"profiles\": %zu", p->nfiles);
        if (p->skipped) {
            fprintf(f, ", \"skipped\": ");
            hs_cli_json_string(f, p->why);
            fprintf(f, "}");
            continue;
        }
        if (p->idle) {
            fprintf(f, ", \"verdict\": \"stable\", \"idle\": {\"last_sample_after\": ");
            hs_cli_json_number(f, p->idle_after < 0 ? NAN : p->idle_after);
            fprintf(f, ", \"life\": ");
            hs_cli_json_number(f, p->life);
            fprintf(f, ", \"last\": ");
            hs_cli_json_number(f, s->total[latest_point(s)]);
            fprintf(f, "}}");
            continue;
        }
        fprintf(f, ", \"type\": ");
        hs_cli_json_string(f, s->type);
        fprintf(f, ", \"unit\": ");
        hs_cli_json_string(f, s->unit);
        json_field(f, "error_unknown", s->unknown_why);
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
        fprintf(f, "}");
        json_rss(f, s, o->sigma);
        hs_reach_view_t rv;
        bool reach = load_reach(a, p, o, &rv);
        fprintf(f, ",\n  \"reach\": ");
        if (reach) {
            fprintf(f, "{\"file\": ");
            hs_cli_json_string(f, a->files[p->first + p->nfiles - 1].path);
            fprintf(f, ", \"complete\": %s, \"unscanned_blocks\": %llu}",
                    rv.complete ? "true" : "false", (unsigned long long)rv.unscanned);
        } else {
            fprintf(f, "null");
        }
        fprintf(f, ",\n  \"sites\": [");
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
            if (reach)
                json_site_reach(f, &rv, st->name);
            fprintf(f, "}");
        }
        hs_reach_view_free(&rv);
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
            if (strcmp(p->image ? p->image : "", g->name) == 0)
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

/* The unit of the programs' summaries: the series' of the first process with a trend. */
static const char *programs_unit(const hs_leak_analysis_t *a)
{
    for (size_t i = 0; i < a->nprocs; i++)
        if (!a->procs[i].skipped)
            return a->procs[i].series.unit;
    return NULL;
}

/* "1 process", "3 processes". */
static void processes_text(char *buf, size_t len, size_t n)
{
    snprintf(buf, len, "%zu process%s", n, n == 1 ? "" : "es");
}

/* Per program of several processes: how many, how many leak, the worst sites across them. */
static void print_programs(FILE *f, const hs_leak_analysis_t *a, const hs_cli_opts_t *o)
{
    const char *u = programs_unit(a);
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
            processes_text(count, sizeof count, e->processes);
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
        print_series(f, a, &a->procs[i], o);
    }
    print_programs(f, a, o);
}

/* ---- HTML -------------------------------------------------------------------------------- */

/* Per program of several processes, as print_programs: a line and a table. */
static void html_programs(hs_html_t *h, const hs_leak_analysis_t *a, const hs_cli_opts_t *o)
{
    const char *u = programs_unit(a);
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
            processes_text(count, sizeof count, e->processes);
            snprintf(pid, sizeof pid, "%ld", e->pid);
            const char *cells[] = {count, hs_cli_fmt_rate(x, sizeof x, e->growth, u),
                                   hs_cli_fmt_rate(y, sizeof y, e->growth_se, u), pid, e->name};
            hs_html_table_row(h, "leak", cells, 5);
        }
        hs_html_table_end(h);
    }
}

typedef struct html_reach_ctx {
    hs_html_t *h;
    bool opened; /* the table is begun */
} html_reach_ctx_t;

static void html_reach_head(void *ctx, const char *heading)
{
    static const char *const header[] = {"site", "unreferenced", "\u00b1 1 sigma",
                                         "of",   "share",        "the rest mostly held by"};
    html_reach_ctx_t *c = ctx;
    hs_html_text(c->h, "meta", "%s", heading);
    hs_html_table_begin(c->h, header, 6);
    c->opened = true;
}

static void html_reach_row(void *ctx, const reach_row_t *r)
{
    const char *cells[] = {r->site, r->lost, r->lost_se, r->of, r->share, r->holder};
    hs_html_table_row(((html_reach_ctx_t *)ctx)->h, "leak", cells, 6);
}

/* The leak suspects' part of the last profile's scan, as print_reach says it in text. */
static void html_reach(hs_html_t *h, const hs_leak_analysis_t *la, const hs_leak_process_t *p,
                       const hs_cli_opts_t *o)
{
    html_reach_ctx_t c = {.h = h};
    each_suspect_reach(la, p, o, &(reach_out_t){html_reach_head, html_reach_row, &c});
    if (c.opened)
        hs_html_table_end(h);
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
        char who[HS_LEAK_REPORT_WHO_MAX], a[64], b[64], c[64], d[64], e[64], g[64], hh[64],
            note[512];
        hs_leak_report_who(p, who, sizeof who);
        if (p->skipped) {
            hs_html_text(h, "meta", "%s: %s; skipped", who, p->why);
            continue;
        }
        if (p->idle) {
            hs_html_text(h, "verdict good", "%s: %s", who,
                         hs_leak_report_idle(p, note, sizeof note));
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
        hs_rss_growth_t rg;
        hs_rss_growth(s, o->sigma, &rg);
        if (rg.known) {
            const hs_trend_t *rt = &s->part_trend[HS_PART_RSS];
            hs_html_text(h, "meta", "resident set: %s at the end, growing %s \u00b1 %s%s%s. %s",
                         hs_cli_fmt_value(a, sizeof a, rt->last, "bytes"),
                         hs_cli_fmt_rate(b, sizeof b, rt->slope, "bytes"),
                         hs_cli_fmt_rate(c, sizeof c, rt->slope_se, "bytes"),
                         rg.growing && rg.explains != HS_PART_RSS ? ", mostly " : "",
                         rg.growing && rg.explains != HS_PART_RSS ? hs_series_part_name(rg.explains)
                                                                  : "",
                         hs_rss_growth_advice(&rg, s->allocator));
        }
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
        html_reach(h, la, p, o);
        hs_html_rss_chart(h, s);
        hs_html_series_charts(h, s, o->top ? (o->top < 8 ? o->top : 8) : 8, o->all);
    }
    return hs_html_close(h);
}
