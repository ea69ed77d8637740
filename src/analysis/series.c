/*
 * series.c - per-site series over a process's profiles (see series.h).
 *
 * Every per-point array is allocated for max_points and zeroed, so a site or a row that first
 * appears in a later profile reads as 0 before it (a row with no sample yet). Several samples
 * of one profile with the same row key are summed. After all points are in, hs_series_fit()
 * applies one time-order permutation to every per-point array, then fits each site with
 * trend.h using its rows for the covariances. Invariants: site->y[i] is the sum of its rows'
 * values in profile i; row->site is valid; npoints <= max_points.
 *
 * Single-threaded; allocates (CLI and tests only).
 */
#include "series.h"

#include "breakdown.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

hs_err_t hs_series_init(hs_series_t *s, size_t max_points)
{
    memset(s, 0, sizeof *s);
    s->max_points = max_points;
    s->allocs_known = true;
    size_t m = max_points ? max_points : 1;
    s->time_nanos = calloc(m, sizeof *s->time_nanos);
    s->added = calloc(m, sizeof *s->added);
    s->t = calloc(m, sizeof *s->t);
    s->total = calloc(m, sizeof *s->total);
    s->total_var = calloc(m, sizeof *s->total_var);
    s->parts_known = s->alloc_known = true;
    bool parts_ok = true;
    for (int k = 0; k < HS_NPARTS; k++) {
        s->part[k] = calloc(m, sizeof *s->part[k]);
        s->part_var[k] = calloc(m, sizeof *s->part_var[k]);
        parts_ok = parts_ok && s->part[k] && s->part_var[k];
    }
    if (!s->time_nanos || !s->added || !s->t || !s->total || !s->total_var || !parts_ok) {
        hs_series_free(s);
        return HS_ERR_NOMEM;
    }
    return HS_OK;
}

static hs_err_t site_of(hs_series_t *s, const char *name, size_t *out)
{
    bool added;
    if (hs_keymap_named(&s->site_map, (void **)&s->sites, &s->nsites, &s->sites_cap,
                        sizeof *s->sites, name, out, &added) != HS_OK)
        return HS_ERR_NOMEM;
    if (added) {
        /* On failure the site stays with NULL arrays; the caller frees the whole series. */
        hs_series_site_t *site = &s->sites[*out];
        site->y = calloc(s->max_points, sizeof *site->y);
        site->var = calloc(s->max_points, sizeof *site->var);
        if (!site->y || !site->var)
            return HS_ERR_NOMEM;
    }
    return HS_OK;
}

static hs_err_t row_of(hs_series_t *s, uint64_t key, size_t site, double unit_var, size_t *out)
{
    size_t i = hs_keymap_find(&s->row_map, key, NULL, NULL, NULL);
    if (i != HS_KEYMAP_NONE) {
        *out = i;
        return HS_OK;
    }
    hs_series_site_t *st = &s->sites[site];
    if (hs_array_reserve((void **)&s->rows, &s->rows_cap, s->nrows + 1, sizeof *s->rows, 256) !=
            HS_OK ||
        hs_array_reserve((void **)&st->rows, &st->rows_cap, st->nrows + 1, sizeof *st->rows, 8) !=
            HS_OK)
        return HS_ERR_NOMEM;
    hs_series_row_t *r = &s->rows[s->nrows];
    r->key = key;
    r->site = site;
    r->unit_var = unit_var;
    r->live = calloc(s->max_points, sizeof *r->live);
    r->allocs = calloc(s->max_points, sizeof *r->allocs);
    if (!r->live || !r->allocs || hs_keymap_insert(&s->row_map, key, s->nrows) != HS_OK) {
        free(r->live);
        free(r->allocs);
        return HS_ERR_NOMEM;
    }
    st->rows[st->nrows++] = s->nrows;
    *out = s->nrows++;
    return HS_OK;
}

static uint32_t sat_add(uint32_t a, uint32_t b)
{
    return a > UINT32_MAX - 1 - b ? UINT32_MAX - 1 : a + b;
}

const char *hs_series_part_name(hs_series_part_t part)
{
    static const char *const names[HS_NPARTS] = {"rss",      "heap",        "allocator_free",
                                                 "mmap",     "file",        "thread_stacks",
                                                 "profiler", "unattributed"};
    return (unsigned)part < HS_NPARTS ? names[part] : "?";
}

/* The parts of RSS at point pt, from the profile's accounting (breakdown.h). */
static void add_parts(hs_series_t *s, const hs_sites_t *p, size_t pt)
{
    hs_breakdown_t b;
    hs_breakdown_read(&p->meta, &b);
    const hs_reconcile_t *r = &b.parts;
    if (!b.in.has_rss)
        s->parts_known = false;
    if (!b.in.has_alloc_inuse)
        s->alloc_known = false;
    snprintf(s->allocator, sizeof s->allocator, "%s", b.allocator);
    double heap = r->heap, heap_var = b.in.heap_stderr * b.in.heap_stderr;
    if (b.in.has_alloc_inuse) {
        heap = r->heap + r->overhead + r->unseen; /* the allocator's own figure: exact */
        heap_var = 0;
    }
    s->part[HS_PART_RSS][pt] = (double)b.in.rss;
    s->part[HS_PART_HEAP][pt] = heap;
    s->part_var[HS_PART_HEAP][pt] = heap_var;
    s->part[HS_PART_FREE][pt] = r->free;
    s->part[HS_PART_MMAP][pt] = r->mmap;
    s->part_var[HS_PART_MMAP][pt] = b.in.mmap_stderr * b.in.mmap_stderr;
    s->part[HS_PART_FILE][pt] = r->file;
    s->part[HS_PART_STACKS][pt] = r->stacks;
    s->part[HS_PART_PROFILER][pt] = r->profiler;
    /* The rest, so that the parts add up to RSS: the heap's noise is the rest's too. */
    s->part[HS_PART_UNATTRIBUTED][pt] = r->unattributed;
    s->part_var[HS_PART_UNATTRIBUTED][pt] = heap_var + s->part_var[HS_PART_MMAP][pt];
}

hs_err_t hs_series_add(hs_series_t *s, const hs_sites_t *p, char *why, size_t why_len)
{
    if (s->npoints >= s->max_points) {
        hs_reason(why, why_len, "more profiles than announced");
        return HS_ERR_FULL;
    }
    if (!s->type) {
        s->type = strdup(p->type);
        s->unit = strdup(p->unit);
        if (!s->type || !s->unit)
            goto fail_nomem;
    } else if (strcmp(s->type, p->type) != 0) {
        hs_reason(why, why_len, "its sample type is %s, the series' is %s", p->type, s->type);
        return HS_ERR_INVALID;
    }
    if (p->unknown_why && !s->unknown_why)
        s->unknown_why = p->unknown_why;
    size_t pt = s->npoints;
    add_parts(s, p, pt);
    s->time_nanos[pt] = p->time_nanos;
    s->added[pt] = pt;
    s->total[pt] = p->total;
    s->total_var[pt] = p->total_variance;
    for (size_t i = 0; i < p->nrows; i++) {
        const hs_sites_row_t *pr = &p->rows[i];
        size_t site, row;
        if (site_of(s, p->sites[pr->site].name, &site) != HS_OK ||
            row_of(s, pr->key, site, pr->unit_var, &row) != HS_OK)
            goto fail_nomem;
        hs_series_site_t *st = &s->sites[site];
        hs_series_row_t *r = &s->rows[row];
        st->y[pt] += pr->value;
        st->var[pt] += pr->variance;
        r->live[pt] = sat_add(r->live[pt], pr->live);
        if (pr->allocs == UINT32_MAX)
            s->allocs_known = false;
        else
            r->allocs[pt] = sat_add(r->allocs[pt], pr->allocs);
        if (isnan(pr->unit_var))
            r->unit_var = NAN;
    }
    /* A site absent from this profile has y = 0 there; its variance is unknown if the
     * profile's is. */
    if (p->unknown_why)
        for (size_t i = 0; i < s->nsites; i++)
            s->sites[i].var[pt] = NAN;
    s->npoints++;
    return HS_OK;

fail_nomem:
    hs_reason(why, why_len, "out of memory");
    return HS_ERR_NOMEM;
}

/* ---- fitting ----------------------------------------------------------------------------- */

static const int64_t *sort_times;

static int point_cmp(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    if (sort_times[x] != sort_times[y])
        return sort_times[x] < sort_times[y] ? -1 : 1;
    return x < y ? -1 : x > y; /* stable: equal times keep the order they were added in */
}

#define PERMUTE(type, arr, perm, n, tmp)                                                           \
    do {                                                                                           \
        type *t_ = (type *)(tmp);                                                                  \
        for (size_t i_ = 0; i_ < (n); i_++)                                                        \
            t_[i_] = (arr)[(perm)[i_]];                                                            \
        memcpy((arr), t_, (n) * sizeof(type));                                                     \
    } while (0)

static hs_err_t order_points(hs_series_t *s)
{
    size_t n = s->npoints;
    size_t *perm = malloc(n * sizeof *perm);
    void *tmp = malloc(n * sizeof(double));
    if (!perm || !tmp) {
        free(perm);
        free(tmp);
        return HS_ERR_NOMEM;
    }
    for (size_t i = 0; i < n; i++)
        perm[i] = i;
    sort_times = s->time_nanos;
    qsort(perm, n, sizeof *perm, point_cmp);
    sort_times = NULL;
    PERMUTE(int64_t, s->time_nanos, perm, n, tmp);
    PERMUTE(size_t, s->added, perm, n, tmp);
    PERMUTE(double, s->total, perm, n, tmp);
    PERMUTE(double, s->total_var, perm, n, tmp);
    for (size_t k = 0; k < s->nsites; k++) {
        PERMUTE(double, s->sites[k].y, perm, n, tmp);
        PERMUTE(double, s->sites[k].var, perm, n, tmp);
    }
    for (size_t k = 0; k < s->nrows; k++) {
        PERMUTE(uint32_t, s->rows[k].live, perm, n, tmp);
        PERMUTE(uint32_t, s->rows[k].allocs, perm, n, tmp);
    }
    for (int k = 0; k < HS_NPARTS; k++) {
        PERMUTE(double, s->part[k], perm, n, tmp);
        PERMUTE(double, s->part_var[k], perm, n, tmp);
    }
    for (size_t i = 0; i < n; i++)
        s->t[i] = (double)(s->time_nanos[i] - s->time_nanos[0]) / 1e9;
    free(perm);
    free(tmp);
    return HS_OK;
}

/* Rank: leak suspects by growth, plateaus and transients by peak, stable by last, noise. */
static int rank_key(const hs_trend_t *t)
{
    switch (t->cls) {
    case HS_TREND_LEAK:
        return 0;
    case HS_TREND_PLATEAU:
        return 1;
    case HS_TREND_TRANSIENT:
        return 2;
    case HS_TREND_STABLE:
        return 3;
    case HS_TREND_NOISE:
        break;
    }
    return 4;
}

static int site_rank_cmp(const void *a, const void *b)
{
    const hs_series_site_t *x = a, *y = b;
    int rx = rank_key(&x->trend), ry = rank_key(&y->trend);
    if (rx != ry)
        return rx - ry;
    double vx, vy;
    switch (x->trend.cls) {
    case HS_TREND_LEAK:
        vx = x->trend.slope;
        vy = y->trend.slope;
        break;
    case HS_TREND_STABLE:
        vx = x->trend.last;
        vy = y->trend.last;
        break;
    default:
        vx = x->trend.peak;
        vy = y->trend.peak;
        break;
    }
    if (vx != vy)
        return vx > vy ? -1 : 1;
    return strcmp(x->name, y->name);
}

static hs_err_t fit_one(const hs_series_t *s, const double *y, const double *var,
                        const size_t *rows, size_t nrows, double sigma, hs_trend_t *out)
{
    bool known = !s->unknown_why;
    hs_trend_row_t *tr = NULL;
    if (known) {
        tr = malloc((nrows ? nrows : 1) * sizeof *tr);
        if (!tr)
            return HS_ERR_NOMEM;
        for (size_t i = 0; i < nrows; i++) {
            const hs_series_row_t *r = &s->rows[rows ? rows[i] : i];
            tr[i].unit_var = r->unit_var;
            tr[i].live = r->live;
            tr[i].allocs = s->allocs_known ? r->allocs : NULL;
        }
    }
    hs_trend_series_t ts = {
        .n = s->npoints,
        .t = s->t,
        .y = y,
        .var = known ? var : NULL,
        .rows = tr,
        .nrows = known ? nrows : 0,
    };
    hs_err_t err = hs_trend_fit(&ts, sigma, out);
    free(tr);
    return err;
}

hs_err_t hs_series_fit(hs_series_t *s, double sigma, char *why, size_t why_len)
{
    if (s->npoints < 3) {
        hs_reason(why, why_len, "a trend needs at least 3 profiles (got %zu)", s->npoints);
        return HS_ERR_INVALID;
    }
    if (order_points(s) != HS_OK)
        goto fail_nomem;
    if (!(s->t[s->npoints - 1] > 0)) {
        hs_reason(why, why_len, "the %zu profiles all have the same time stamp", s->npoints);
        return HS_ERR_INVALID;
    }
    hs_err_t err = HS_OK;
    for (size_t k = 0; k < s->nsites; k++) {
        hs_series_site_t *st = &s->sites[k];
        err = fit_one(s, st->y, st->var, st->rows, st->nrows, sigma, &st->trend);
        if (err != HS_OK)
            goto fail_err;
    }
    err = fit_one(s, s->total, s->total_var, NULL, s->nrows, sigma, &s->total_trend);
    if (err != HS_OK)
        goto fail_err;
    /* The parts of RSS: independent points (each profile reads them afresh). */
    for (int k = 0; k < HS_NPARTS && s->parts_known; k++) {
        hs_trend_series_t ts = {.n = s->npoints, .t = s->t, .y = s->part[k], .var = s->part_var[k]};
        err = hs_trend_fit(&ts, sigma, &s->part_trend[k]);
        if (err != HS_OK)
            goto fail_err;
    }
    /* Ranking moves sites: rows[].site and the site map follow. */
    qsort(s->sites, s->nsites, sizeof *s->sites, site_rank_cmp);
    hs_keymap_free(&s->site_map);
    for (size_t k = 0; k < s->nsites; k++) {
        if (hs_keymap_insert(&s->site_map, hs_hash_str(s->sites[k].name), k) != HS_OK)
            goto fail_nomem;
        for (size_t i = 0; i < s->sites[k].nrows; i++)
            s->rows[s->sites[k].rows[i]].site = k;
    }
    return HS_OK;

fail_err:
    if (err == HS_ERR_NOMEM)
        goto fail_nomem;
    hs_reason(why, why_len, "cannot fit a trend to these profiles");
    return err;
fail_nomem:
    hs_reason(why, why_len, "out of memory");
    return HS_ERR_NOMEM;
}

void hs_series_free(hs_series_t *s)
{
    for (size_t k = 0; k < s->nsites; k++) {
        free(s->sites[k].name);
        free(s->sites[k].y);
        free(s->sites[k].var);
        free(s->sites[k].rows);
    }
    for (size_t k = 0; k < s->nrows; k++) {
        free(s->rows[k].live);
        free(s->rows[k].allocs);
    }
    free(s->sites);
    free(s->rows);
    free(s->time_nanos);
    free(s->added);
    free(s->t);
    free(s->total);
    free(s->total_var);
    for (int k = 0; k < HS_NPARTS; k++) {
        free(s->part[k]);
        free(s->part_var[k]);
    }
    free(s->type);
    free(s->unit);
    hs_keymap_free(&s->site_map);
    hs_keymap_free(&s->row_map);
    memset(s, 0, sizeof *s);
}
