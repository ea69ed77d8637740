/*
 * baseline.c - a candidate's growth against its baseline's, per site (see baseline.h).
 *
 * Gathering: every site name of every fitted process of both sides goes into one list (a
 * keymap by name); per site and side the sums of the processes' rates, squared rates and
 * variances are kept, a process without the site adding nothing (rate 0, no error). The mean
 * over the side's processes and its variance follow at the end, the process's total likewise.
 *
 * Why the larger of the two variances, not their sum: when processes differ only by sampling,
 * their spread estimates the same variance as the model (and with few processes, badly); when
 * they differ for real (load, data), the spread is the right error and the model's is part of
 * it. With one process a side has no spread: the model alone.
 *
 * Single-threaded; allocates (CLI and tests only).
 */
#include "baseline.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "keymap.h"

/* A side's sums for one site, before the means. */
typedef struct hs_baseline_sums {
    double rate, rate2, var;
    size_t present;
} hs_baseline_sums_t;

typedef struct hs_baseline_build {
    hs_baseline_t *out;
    hs_keymap_t map;
    hs_baseline_sums_t (*sums)[2]; /* per site: [0] candidate, [1] baseline */
    size_t sums_cap;
    hs_baseline_sums_t total[2];
} hs_baseline_build_t;

const char *hs_baseline_verdict_name(hs_baseline_verdict_t v)
{
    static const char *const names[] = {"same", "faster", "slower"};
    return (unsigned)v < HS_ARRAY_LEN(names) ? names[v] : "?";
}

/* Late rates only if every fitted process of both sides has them. */
static bool hs_baseline_all_late(const hs_leak_analysis_t *a)
{
    for (size_t i = 0; i < a->nprocs; i++)
        if (!a->procs[i].skipped && !a->procs[i].series.total_trend.tested)
            return false;
    return true;
}

static void hs_baseline_add(hs_baseline_sums_t *s, const hs_trend_t *t, bool late)
{
    double r = late ? t->late_rate : t->slope, se = late ? t->late_se : t->slope_se;
    s->rate += r;
    s->rate2 += r * r;
    s->var += se * se;
    s->present++;
}

/* Add the sites of one side's fitted processes. */
static hs_err_t hs_baseline_side(hs_baseline_build_t *b, const hs_leak_analysis_t *a, int side,
                                 size_t *nprocs)
{
    hs_baseline_t *out = b->out;
    *nprocs = 0;
    for (size_t i = 0; i < a->nprocs; i++) {
        const hs_leak_process_t *p = &a->procs[i];
        if (p->skipped)
            continue;
        (*nprocs)++;
        hs_baseline_add(&b->total[side], &p->series.total_trend, out->late);
        for (size_t k = 0; k < p->series.nsites; k++) {
            const hs_series_site_t *site = &p->series.sites[k];
            size_t index;
            bool added;
            if (hs_keymap_named(&b->map, (void **)&out->sites, &out->nsites, &out->sites_cap,
                                sizeof *out->sites, site->name, &index, &added) != HS_OK ||
                hs_array_reserve((void **)&b->sums, &b->sums_cap, out->nsites, sizeof *b->sums,
                                 64) != HS_OK)
                return HS_ERR_NOMEM;
            if (added)
                memset(b->sums[index], 0, sizeof b->sums[index]);
            hs_baseline_add(&b->sums[index][side], &site->trend, out->late);
        }
    }
    return HS_OK;
}

/* Mean and standard error over n processes (see the file comment). */
static hs_baseline_rate_t hs_baseline_mean(const hs_baseline_sums_t *s, size_t n)
{
    hs_baseline_rate_t r = {.present = s->present};
    double mean = s->rate / (double)n;
    double var = s->var / ((double)n * (double)n);
    if (n >= 2) {
        double spread = (s->rate2 - (double)n * mean * mean) / (double)(n - 1) / (double)n;
        if (spread > var)
            var = spread;
    }
    r.rate = mean;
    r.se = var > 0 ? sqrt(var) : 0;
    return r;
}

static void hs_baseline_judge(hs_baseline_site_t *site, const hs_baseline_sums_t sums[2],
                              const hs_baseline_t *b)
{
    site->cand = hs_baseline_mean(&sums[0], b->cand_procs);
    site->base = hs_baseline_mean(&sums[1], b->base_procs);
    site->diff = site->cand.rate - site->base.rate;
    site->diff_se = sqrt(site->cand.se * site->cand.se + site->base.se * site->base.se);
    /* Rates within rounding of each other are the same, whatever their (zero) errors say. */
    double scale = 1e-9 * (fabs(site->cand.rate) + fabs(site->base.rate));
    double faster = site->diff - b->tolerance * fabs(site->base.rate);
    double slower = -site->diff - b->tolerance * fabs(site->cand.rate);
    site->z = site->diff_se > 0 ? faster / site->diff_se : faster > 0 ? INFINITY : -INFINITY;
    if (faster > b->sigma * site->diff_se && faster > scale)
        site->verdict = HS_BASELINE_FASTER;
    else if (slower > b->sigma * site->diff_se && slower > scale)
        site->verdict = HS_BASELINE_SLOWER;
    else
        site->verdict = HS_BASELINE_SAME;
}

static int hs_baseline_cmp(const void *a, const void *b)
{
    const hs_baseline_site_t *x = a, *y = b;
    int fx = x->verdict == HS_BASELINE_FASTER, fy = y->verdict == HS_BASELINE_FASTER;
    if (fx != fy)
        return fy - fx;
    if (x->z != y->z)
        return x->z > y->z ? -1 : 1;
    return strcmp(x->name, y->name);
}

hs_err_t hs_baseline_compare(const hs_leak_analysis_t *cand, const hs_leak_analysis_t *base,
                             double sigma, double tolerance, hs_baseline_t *out, char *why,
                             size_t why_len)
{
    memset(out, 0, sizeof *out);
    out->sigma = sigma;
    out->tolerance = tolerance;
    out->late = hs_baseline_all_late(cand) && hs_baseline_all_late(base);
    const char *types[2] = {NULL, NULL};
    for (int side = 0; side < 2; side++) {
        const hs_leak_analysis_t *a = side ? base : cand;
        for (size_t i = 0; i < a->nprocs && !types[side]; i++)
            if (!a->procs[i].skipped) {
                types[side] = a->procs[i].series.type;
                if (!side)
                    out->unit = a->procs[i].series.unit;
            }
        if (!types[side]) {
            size_t unmatched = 0;
            for (size_t i = 0; i < a->nprocs; i++)
                unmatched += a->procs[i].unmatched;
            hs_reason(why, why_len, "the %s has no process with a trend (3 profiles or more)%s",
                      side ? "baseline" : "candidate",
                      unmatched == a->nprocs ? ": no sample has its label" : "");
            return HS_ERR_INVALID;
        }
    }
    if (strcmp(types[0], types[1]) != 0) {
        hs_reason(why, why_len, "the candidate's sample type is %s, the baseline's %s", types[0],
                  types[1]);
        return HS_ERR_INVALID;
    }

    hs_baseline_build_t b = {.out = out};
    hs_err_t err = hs_baseline_side(&b, cand, 0, &out->cand_procs);
    if (err == HS_OK)
        err = hs_baseline_side(&b, base, 1, &out->base_procs);
    if (err == HS_OK) {
        for (size_t i = 0; i < out->nsites; i++)
            hs_baseline_judge(&out->sites[i], b.sums[i], out);
        out->total.name = strdup("whole process");
        if (!out->total.name)
            err = HS_ERR_NOMEM;
        else
            hs_baseline_judge(&out->total, b.total, out);
        qsort(out->sites, out->nsites, sizeof *out->sites, hs_baseline_cmp);
    }
    free(b.sums);
    hs_keymap_free(&b.map);
    if (err != HS_OK) {
        hs_baseline_free(out);
        hs_reason(why, why_len, "out of memory");
    }
    return err;
}

size_t hs_baseline_faster(const hs_baseline_t *b)
{
    size_t n = 0;
    for (size_t i = 0; i < b->nsites; i++)
        n += b->sites[i].verdict == HS_BASELINE_FASTER;
    return n;
}

void hs_baseline_free(hs_baseline_t *b)
{
    for (size_t i = 0; i < b->nsites; i++)
        free(b->sites[i].name);
    free(b->sites);
    free(b->total.name);
    memset(b, 0, sizeof *b);
}
