/*
 * baseline_report.c - how a comparison of a candidate with its baseline is shown (see
 * baseline_report.h). The table lists the sites that grow faster first, then the others ranked
 * by how close they come to it; --top limits the rows (every faster site is shown whatever
 * --top says: those are the answer). Rates are per hour, as in `leaks`. Single-threaded.
 */
#include "baseline_report.h"

#include <math.h>
#include <string.h>

/* What a side is: "2 processes, 40 profiles (the profiles in base/)". */
static void side_text(char *buf, size_t len, const hs_leak_analysis_t *a, const char *source)
{
    size_t procs = 0, files = 0, skipped = 0;
    for (size_t i = 0; i < a->nprocs; i++) {
        if (a->procs[i].skipped) {
            skipped += !a->procs[i].unmatched;
            continue;
        }
        procs++;
        files += a->procs[i].nfiles;
    }
    size_t at = (size_t)snprintf(buf, len, "%zu process%s, %zu profiles (%s)", procs,
                                 procs == 1 ? "" : "es", files, source);
    if (skipped && at < len)
        snprintf(buf + at, len - at, "; %zu process%s skipped: too few profiles", skipped,
                 skipped == 1 ? "" : "es");
}

/* Where each side comes from, in words. */
static void sources(const hs_cli_opts_t *o, char *cand, char *base, size_t len)
{
    const char *b = o->baseline;
    if (strncmp(b, "label:", 6) != 0) {
        snprintf(base, len, "the profiles in %s", b);
        snprintf(cand, len, "the profiles given");
        return;
    }
    const char *eq = strchr(b, '=');
    int klen = (int)(eq - (b + 6));
    snprintf(base, len, "the samples with %s", b + 6);
    if (o->candidate)
        snprintf(cand, len, "the samples with %s", o->candidate + 6);
    else
        snprintf(cand, len, "the samples with another %.*s", klen, b + 6);
}

/* A difference of rates, signed: "+6.66 GiB/h". */
static const char *signed_rate(char *buf, size_t len, double per_second, const char *unit)
{
    char v[48];
    snprintf(buf, len, "%s/h", hs_cli_fmt_change(v, sizeof v, per_second * 3600, unit));
    return buf;
}

const char *hs_baseline_report_difference(char *buf, size_t len, const hs_baseline_site_t *s,
                                          const char *unit)
{
    char d[64], e[64];
    snprintf(buf, len, "%s (%s \u00b1 %s)", s->name, signed_rate(d, sizeof d, s->diff, unit),
             hs_cli_fmt_rate(e, sizeof e, s->diff_se, unit));
    return buf;
}

static size_t shown_count(const hs_baseline_t *b, const hs_cli_opts_t *o)
{
    size_t faster = hs_baseline_faster(b);
    size_t n = o->top && o->top < b->nsites ? o->top : b->nsites;
    return n > faster ? n : faster;
}

/* The cells of one row: verdict, rates with errors, difference with error. */
static void row_cells(const hs_baseline_site_t *s, const char *u, char cells[7][64])
{
    snprintf(cells[0], 64, "%s", hs_baseline_verdict_name(s->verdict));
    hs_cli_fmt_rate(cells[1], 64, s->cand.rate, u);
    hs_cli_fmt_rate(cells[2], 64, s->cand.se, u);
    hs_cli_fmt_rate(cells[3], 64, s->base.rate, u);
    hs_cli_fmt_rate(cells[4], 64, s->base.se, u);
    signed_rate(cells[5], 64, s->diff, u);
    hs_cli_fmt_rate(cells[6], 64, s->diff_se, u);
}

static void header_lines(FILE *f, const char *cmd, const hs_baseline_t *b,
                         const hs_leak_analysis_t *cand, const hs_leak_analysis_t *base,
                         const hs_cli_opts_t *o)
{
    char c[512], bs[512], ct[768], bt[768], by[1024];
    sources(o, c, bs, sizeof c);
    side_text(ct, sizeof ct, cand, c);
    side_text(bt, sizeof bt, base, bs);
    const char *type = "inuse_space";
    for (size_t i = 0; i < cand->nprocs; i++)
        if (!cand->procs[i].skipped)
            type = cand->procs[i].series.type;
    fprintf(f, "heapsampler %s: the candidate against its baseline\n", cmd);
    fprintf(f, "  candidate: %s\n  baseline:  %s\n", ct, bt);
    fprintf(f, "  %s (%s) by %s; %s of each process, the mean of a side; errors are 1 sigma\n",
            type, b->unit, hs_cli_grouping(&o->q, by, sizeof by),
            b->late ? "growth in the last third of the series" : "growth over the whole series");
    fprintf(f, "  faster: by more than %g%% of the baseline's growth and %g sigma\n",
            100 * b->tolerance, b->sigma);
}

static void print_text(FILE *f, const char *cmd, const hs_baseline_t *b,
                       const hs_leak_analysis_t *cand, const hs_leak_analysis_t *base,
                       const hs_cli_opts_t *o)
{
    const char *u = b->unit;
    char cells[7][64], d[256];
    header_lines(f, cmd, b, cand, base, o);
    row_cells(&b->total, u, cells);
    fprintf(f,
            "  whole process: candidate %s \u00b1 %s, baseline %s \u00b1 %s: %s \u00b1 %s, %s\n\n",
            cells[1], cells[2], cells[3], cells[4], cells[5], cells[6], cells[0]);
    size_t shown = shown_count(b, o);
    if (shown == 0) {
        fprintf(f, "  (no site in either series)\n");
    } else {
        fprintf(f,
                "  %-7s  %12s      \u00b1 1 sigma  %12s      \u00b1 1 sigma  %12s      \u00b1 1 "
                "sigma  %s\n",
                "verdict", "candidate", "baseline", "difference", "site");
        for (size_t i = 0; i < shown; i++) {
            const hs_baseline_site_t *s = &b->sites[i];
            row_cells(s, u, cells);
            fprintf(f, "  %-7s  %12s  \u00b1 %12s  %12s  \u00b1 %12s  %12s  \u00b1 %12s  %s\n",
                    cells[0], cells[1], cells[2], cells[3], cells[4], cells[5], cells[6], s->name);
        }
        if (shown < b->nsites)
            fprintf(f, "  ... %zu more site%s (--top 0 shows all)\n", b->nsites - shown,
                    b->nsites - shown == 1 ? "" : "s");
    }
    size_t faster = hs_baseline_faster(b);
    fprintf(f, "\nverdict: ");
    if (faster == 0 && b->total.verdict != HS_BASELINE_FASTER) {
        fprintf(f, "the candidate grows no faster than its baseline\n");
        return;
    }
    if (faster == 0) {
        fprintf(f, "the whole process grows faster than its baseline: %s\n",
                hs_baseline_report_difference(d, sizeof d, &b->total, u));
        return;
    }
    fprintf(f, "%zu site%s grow%s faster than the baseline:", faster, faster == 1 ? "" : "s",
            faster == 1 ? "s" : "");
    for (size_t i = 0; i < faster && i < 5; i++)
        fprintf(f, "%s %s", i ? "," : "",
                hs_baseline_report_difference(d, sizeof d, &b->sites[i], u));
    fprintf(f, "%s\n", faster > 5 ? ", ..." : "");
}

static void json_site(FILE *f, const hs_baseline_site_t *s)
{
    const struct {
        const char *name;
        double v;
    } fields[] = {
        {"candidate_per_hour", s->cand.rate * 3600},
        {"candidate_per_hour_stderr", s->cand.se * 3600},
        {"baseline_per_hour", s->base.rate * 3600},
        {"baseline_per_hour_stderr", s->base.se * 3600},
        {"difference_per_hour", s->diff * 3600},
        {"difference_per_hour_stderr", s->diff_se * 3600},
        {"z", s->z},
    };
    fprintf(f, "{\"site\": ");
    hs_cli_json_string(f, s->name);
    fprintf(f, ", \"verdict\": \"%s\"", hs_baseline_verdict_name(s->verdict));
    for (size_t i = 0; i < HS_ARRAY_LEN(fields); i++) {
        fprintf(f, ", \"%s\": ", fields[i].name);
        hs_cli_json_number(f, fields[i].v);
    }
    fprintf(f, ", \"candidate_processes\": %zu, \"baseline_processes\": %zu}", s->cand.present,
            s->base.present);
}

static void print_json(FILE *f, const hs_baseline_t *b, const hs_cli_opts_t *o)
{
    fprintf(f, "{\"baseline\": ");
    hs_cli_json_string(f, o->baseline);
    fprintf(f, ", \"candidate\": ");
    if (o->candidate)
        hs_cli_json_string(f, o->candidate);
    else
        fprintf(f, "null");
    hs_cli_json_grouping(f, &o->q);
    fprintf(f, ", \"sigma\": ");
    hs_cli_json_number(f, b->sigma);
    fprintf(f, ", \"tolerance\": ");
    hs_cli_json_number(f, b->tolerance);
    fprintf(f, ", \"unit\": ");
    hs_cli_json_string(f, b->unit);
    fprintf(f, ", \"rates\": \"%s\", \"candidate_processes\": %zu, \"baseline_processes\": %zu",
            b->late ? "late" : "slope", b->cand_procs, b->base_procs);
    fprintf(f, ",\n \"total\": ");
    json_site(f, &b->total);
    fprintf(f, ",\n \"sites\": [");
    size_t shown = shown_count(b, o);
    for (size_t i = 0; i < shown; i++) {
        fprintf(f, "%s\n  ", i ? "," : "");
        json_site(f, &b->sites[i]);
    }
    fprintf(f, "],\n \"not_shown\": %zu, \"faster\": %zu}\n", b->nsites - shown,
            hs_baseline_faster(b));
}

void hs_baseline_report_print(FILE *f, const char *cmd, const hs_baseline_t *b,
                              const hs_leak_analysis_t *cand, const hs_leak_analysis_t *base,
                              const hs_cli_opts_t *o)
{
    if (o->json)
        print_json(f, b, o);
    else
        print_text(f, cmd, b, cand, base, o);
}

int hs_baseline_report_html(const char *cmd, const hs_baseline_t *b, const hs_leak_analysis_t *cand,
                            const hs_leak_analysis_t *base, const hs_cli_opts_t *o)
{
    hs_html_t *h = hs_html_open(cmd, o->html, "heapsampler: the candidate against its baseline");
    if (!h)
        return HS_CLI_EXIT_FAILURE;
    char c[512], bs[512], ct[768], bt[768], cells[7][64];
    sources(o, c, bs, sizeof c);
    side_text(ct, sizeof ct, cand, c);
    side_text(bt, sizeof bt, base, bs);
    hs_html_text(h, "process", "candidate: %s", ct);
    hs_html_text(h, "process", "baseline: %s", bt);
    hs_html_text(h, "meta",
                 "%s of each process, the mean of a side; errors are 1 sigma; faster: by more "
                 "than %g%% of the baseline's growth and %g sigma",
                 b->late ? "growth in the last third of the series"
                         : "growth over the whole series",
                 100 * b->tolerance, b->sigma);
    row_cells(&b->total, b->unit, cells);
    hs_html_text(h, b->total.verdict == HS_BASELINE_FASTER ? "verdict bad" : "verdict good",
                 "whole process: candidate %s \u00b1 %s, baseline %s \u00b1 %s: %s \u00b1 %s, %s",
                 cells[1], cells[2], cells[3], cells[4], cells[5], cells[6], cells[0]);
    const char *header[] = {"verdict",        "candidate",  "\u00b1 1 sigma", "baseline",
                            "\u00b1 1 sigma", "difference", "\u00b1 1 sigma", "site"};
    hs_html_table_begin(h, header, 8);
    size_t shown = shown_count(b, o);
    for (size_t i = 0; i < shown; i++) {
        const hs_baseline_site_t *s = &b->sites[i];
        row_cells(s, b->unit, cells);
        const char *row[] = {cells[0], cells[1], cells[2], cells[3],
                             cells[4], cells[5], cells[6], s->name};
        hs_html_table_row(h, s->verdict == HS_BASELINE_FASTER ? "leak" : "stable", row, 8);
    }
    hs_html_table_end(h);
    return hs_html_close(h);
}
