/*
 * trend.c - leak or cache? The statistics of one site's in-use series (see trend.h).
 *
 * Input: points (t_i, y_i), y_i the site's estimated in-use bytes in the profile written at
 * t_i, and the rows (stack + size) that make up y_i with their sample counts.
 *
 * Sampling error of a combination. Every quantity below (a slope, a mean, a difference of
 * means) is a linear combination sum_i w_i y_i, so its error follows from the covariances of
 * the y_i. One sampled allocation that is live at several dumps is counted in each of them, so
 * its contribution to y is the same at each: the errors of the points are correlated, strongly
 * so for a leak (every sample stays) and not at all under full turnover. For one row (a fixed
 * size, hence a fixed per-sample variance u = (s/p)^2 (1-p)), the profiles give per point the
 * live samples n_i and the sampled allocations so far a_i (cumulative), hence the sampled
 * frees so far b_i = a_i - n_i. Which samples a free hit is not recorded; we take every live
 * sample to be equally likely to be freed (random removal) at a constant rate between two
 * points, the A = a_{i+1} - a_i new samples arriving evenly. A sample live at point i is then
 * still live at i+1 with the probability s_i that solves n_{i+1} = n_i s + A (1 - s) / (-ln s)
 * (survival()), at j > i with S(i,j) = s_i ... s_{j-1}, and Cov(y_i, y_j) = u n_i S(i,j). The
 * variance of the combination,
 *     sum_i w_i^2 u n_i + 2 sum_{i<j} w_i w_j u n_i S(i,j),
 * costs O(points) per row with the recursion B_j = B_{j-1} s_{j-1} + w_j n_j. Random removal
 * is exact for a leak (nothing is freed: s = 1) and for data allocated once. For a FIFO cache
 * or full turnover between dumps it assumes a spread of lifetimes that is not there; a spread
 * makes slow, correlated wobbles, so there it errs towards larger errors of a slope (in the
 * simulations of tests/unit/test_trend.c, 79% of slopes fall within 1 sigma where 68% is
 * nominal). The opposite choice, FIFO, fixes every lifetime and gave slope errors 1.4 times
 * too small for a program that replaces random buffers (tests/preload/targets/trend.c noise).
 * Without allocation counts, points are taken as independent; without sizes or a period the
 * sampling error is unknown.
 *
 * Real fluctuation. The sampling model does not cover fluctuation of the program itself
 * (requests in flight at the moment of a dump, a pool that follows the load): a real wobble
 * is real memory, but not a trend. The differences d_i = y_{i+1} - y_i are compared with
 * their sampling variances (samples live at exactly one of the two points); when they scatter
 * more, the variances used to test growth (slope, rise, late rate) are multiplied by that
 * overdispersion factor (dispersion(): a median, robust to the few large steps of a cache
 * filling up; a linear trend shifts every d_i alike and does not count). Levels and falls keep
 * the pure sampling error. Without a sampling model (unknown, or exact mode where it is zero)
 * the points are taken as independent, with the scatter sigma_p of the d_i (scatter_sd) as
 * their standard error.
 *
 * Statistics (k = sigma, "significant" = more than k standard errors above zero):
 *  - slope: least squares over all points, with R^2 and the monotone fraction (rising steps
 *    among steps that changed) as descriptions; they do not decide anything, because both
 *    depend on how many samples a site has as much as on its shape.
 *  - thirds of the points in time order (by count, so that irregular dump times still leave
 *    points in each): A, B, C; m_B, m_C the means of B and C.
 *    early rate = (m_B - y_0) / (mean t of B - t_0): growth before the last third, measured
 *    from the first point so that a cache that fills within the first few dumps still shows
 *    it. late rate = (m_C - m_B) / (mean t of C - mean t of B): growth in the last third.
 *    Means of thirds rather than slopes within thirds: a difference of means over a long lever
 *    arm has a far smaller error than a slope fitted inside a third.
 *  - rise = m_C - y_0; fall = peak - m_C.
 *  - the floor (fit_floor): memory that rises and falls back repeatedly (a cache evicting in
 *    bulk, a list dropped whole) is a sawtooth, and the means of thirds say nothing about it:
 *    their difference depends on where in a tooth each third ends. Its troughs do: a drop is a
 *    significant fall from the highest point since the last trough, its trough the lowest
 *    point after it, confirmed by a significant rise; the floor's rate is the least-squares
 *    slope through the troughs, its error the larger of the sampling error and the troughs'
 *    own scatter (scaled by Student's t, so that three or four troughs need a clear line).
 *    A series is judged by its floor when it has at least HS_TREND_MIN_TROUGHS troughs, enough
 *    points to test a ceiling, and its last drop in the last third.
 * Verdicts, in this order:
 *  - noise: no point is significantly above zero (fewer than about k^2 samples at its
 *    highest): nothing can be said, the site is left out.
 *  - a sawtooth is a leak suspect when its floor rises significantly and still rises through
 *    the later half of the troughs (at least half the floor's rate: a floor that rose while a
 *    cache warmed up and then stayed is not a leak); a plateau when its floor rose by less than
 *    half a drop over the whole series (it keeps coming back to where it was); otherwise (a
 *    floor that rose a lot but not clearly, such as a leak with large dips) the rules below
 *    decide. In simulations a flat-floor sawtooth is never a leak suspect (14% were before the
 *    floor was judged) and one whose cleanups keep a tenth of each tooth is one 98% of the time
 *    (54% before).
 *  - transient: the fall is significant, the last third holds at most half the peak, and the
 *    late rate is not significantly positive.
 *  - stable: neither the slope nor the rise is significant.
 *  - leak suspect: it grew (the slope or the rise is significant), and it still grows in the
 *    last third: the late rate is significant at 2/3 k (2 sigma at the default k = 3) and
 *    either at least half the early rate (closer to "still growing as before" than to "flat")
 *    or significant at k by itself. The lower bar applies only to sites whose growth is
 *    already significant at k: it decides between leak and plateau, not whether anything
 *    grows. In simulations of Poisson sampling (tests/unit/test_trend.c) a cache that filled
 *    in its first quarter is never called a leak, and a weakly sampled leak (~15 samples in
 *    all) is called a plateau 8% of the time. A growth that slowed to under half its earlier
 *    rate, and is not clearly significant on its own, counts as levelled off. And the floor
 *    must have risen too: the lowest point of the last third above the lowest point of the
 *    middle third (the last point aside, and the trailing points of a teardown at exit:
 *    teardown_points). Memory that keeps coming back down to where it was (a large block that
 *    lives at one profile now and then, a sawtooth too short to show three troughs) is not
 *    accumulating, however its means fall; a leak's floor rises with it (the weak leak above
 *    loses 0.2 points of its detection to this).
 *  - plateau: it grew and is no longer growing as above: a cache or a pool that filled up.
 *  - With fewer than 6 points, the ceiling cannot be tested and a significant growth is a leak
 *    suspect (tested = false).
 * A significant change also has to exceed 1e-9 of the site's scale, so that rounding in exact
 * mode (no sampling error) is not a trend.
 */
#include "trend.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const class_names[HS_TREND_NCLASSES] = {"noise", "stable", "transient",
                                                           "plateau", "leak suspect"};

const char *hs_trend_class_name(hs_trend_class_t c)
{
    return (unsigned)c < HS_TREND_NCLASSES ? class_names[c] : "?";
}

/* A row's cumulative allocations a and frees b, made consistent: both nondecreasing, each
 * a_i - b_i = n_i (rounded estimates can disagree by one). */
static void consistent_counts(const hs_trend_row_t *r, size_t n, uint64_t *a, uint64_t *b)
{
    for (size_t i = 0; i < n; i++) {
        uint64_t ai = r->allocs[i] == UINT32_MAX ? 0 : r->allocs[i];
        if (i > 0 && ai < a[i - 1])
            ai = a[i - 1];
        if (ai < r->live[i])
            ai = r->live[i];
        uint64_t bi = ai - r->live[i];
        if (i > 0 && bi < b[i - 1]) {
            bi = b[i - 1];
            ai = bi + r->live[i];
        }
        a[i] = ai;
        b[i] = bi;
    }
}

/*
 * Survival from point i to i + 1 under random removal: a constant hazard over the interval,
 * the A new samples arriving evenly, so that n_{i+1} = n_i s + A (1 - s) / (-ln s); solved
 * for s by bisection (the right side grows with s, from 0 to n_i + A).
 */
static double survival(double n0, double added, double n1)
{
    if (n1 >= n0 + added)
        return 1; /* nothing freed */
    if (n1 <= 0)
        return 0;
    if (added <= 0)
        return n1 / n0;
    double lo = 0, hi = 1;
    for (int k = 0; k < 60; k++) {
        double mid = (lo + hi) / 2;
        double g = n0 * mid + added * (1 - mid) / -log(mid) - n1;
        if (g > 0)
            hi = mid;
        else
            lo = mid;
    }
    return (lo + hi) / 2;
}

/* The sampling model of a series, built once per fit. */
typedef struct model {
    const hs_trend_series_t *s;
    double *surv; /* per row, n - 1 survivals (0 for rows without allocation counts) */
} model_t;

static void model_free(model_t *m)
{
    free(m->surv);
    m->surv = NULL;
}

static hs_err_t model_init(model_t *m, const hs_trend_series_t *s)
{
    size_t n = s->n;
    m->s = s;
    m->surv = NULL;
    if (!s->rows || s->nrows == 0)
        return HS_OK;
    m->surv = calloc(s->nrows * (n - 1) + 1, sizeof *m->surv);
    uint64_t *ab = malloc(2 * n * sizeof *ab);
    if (!m->surv || !ab) {
        free(ab);
        model_free(m);
        return HS_ERR_NOMEM;
    }
    for (size_t r = 0; r < s->nrows; r++) {
        const hs_trend_row_t *row = &s->rows[r];
        if (!row->allocs || !(row->unit_var > 0))
            continue;
        uint64_t *a = ab, *b = ab + n;
        consistent_counts(row, n, a, b);
        for (size_t i = 0; i + 1 < n; i++)
            m->surv[r * (n - 1) + i] =
                survival(row->live[i], (double)(a[i + 1] - a[i]), row->live[i + 1]);
    }
    free(ab);
    return HS_OK;
}

/*
 * sum_i w_i^2 u n_i + 2 sum_{i<j} w_i w_j u n_i S(i,j) over the rows, with the recursion
 * carry_j = carry_{j-1} s_{j-1} + w_j n_j; without rows, var[] as independent points.
 */
static double model_variance(const model_t *m, const double *w)
{
    const hs_trend_series_t *s = m->s;
    size_t n = s->n;
    double v = 0;
    if (!s->rows) {
        if (!s->var)
            return NAN;
        for (size_t i = 0; i < n; i++)
            v += w[i] * w[i] * s->var[i];
        return v;
    }
    for (size_t r = 0; r < s->nrows; r++) {
        const hs_trend_row_t *row = &s->rows[r];
        if (!(row->unit_var > 0))
            continue; /* exact: no sampling error (NAN rows never reach here) */
        const double *sv = m->surv + r * (n - 1);
        double rv = 0, carry = 0, scale = 0;
        for (size_t j = 0; j < n; j++) {
            if (j > 0)
                carry *= sv[j - 1];
            rv += w[j] * w[j] * row->live[j] + 2 * w[j] * carry;
            scale += fabs(w[j]) * row->live[j];
            carry += w[j] * row->live[j];
        }
        /* Samples live at every point cancel exactly in a slope; keep rounding out of it. */
        if (rv < 1e-12 * scale * scale)
            rv = 0;
        v += row->unit_var * rv;
    }
    return v;
}

/* Sampling variance of each difference y[i+1] - y[i]: u (n_i + n_{i+1} - 2 n_i s_i). */
static void model_diff_variances(const model_t *m, double *out)
{
    const hs_trend_series_t *s = m->s;
    size_t n = s->n;
    for (size_t i = 0; i + 1 < n; i++)
        out[i] = s->rows ? 0 : s->var[i] + s->var[i + 1];
    if (!s->rows)
        return;
    for (size_t r = 0; r < s->nrows; r++) {
        const hs_trend_row_t *row = &s->rows[r];
        if (!(row->unit_var > 0))
            continue;
        const double *sv = m->surv + r * (n - 1);
        for (size_t i = 0; i + 1 < n; i++)
            out[i] += row->unit_var *
                      ((double)row->live[i] + row->live[i + 1] - 2.0 * row->live[i] * sv[i]);
    }
}

double hs_trend_variance(const hs_trend_series_t *s, const double *w)
{
    model_t m;
    if (model_init(&m, s) != HS_OK)
        return NAN;
    double v = model_variance(&m, w);
    model_free(&m);
    return v;
}

/* ---- fitting ----------------------------------------------------------------------------- */

/* Sampling variance of one point (the diagonal of the model). */
static double point_var(const hs_trend_series_t *s, size_t i)
{
    if (s->var)
        return s->var[i];
    double v = 0;
    for (size_t r = 0; r < s->nrows; r++)
        if (s->rows[r].unit_var > 0)
            v += s->rows[r].unit_var * s->rows[r].live[i];
    return v;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/*
 * Robust sd of the point-to-point scatter; 0 with fewer than two differences. The root mean
 * square of the centred differences without their largest fifth (the steps of a cache filling
 * up), scaled so that it estimates the sd for normal noise: for Z ~ N(0,1) and c = 1.2816 (the
 * 90% quantile), E[Z^2 | |Z| < c] = 1 - 2 c phi(c) / 0.8 = 0.4377, so the factor is
 * 1 / sqrt(0.4377) = 1.5115; divided by sqrt 2 because a difference holds two points' noise.
 */
static double scatter_sd(const double *y, size_t n, double *tmp)
{
    if (n < 3)
        return 0;
    size_t m = n - 1;
    for (size_t i = 0; i < m; i++)
        tmp[i] = y[i + 1] - y[i];
    double med = median(tmp, m);
    for (size_t i = 0; i < m; i++)
        tmp[i] = fabs(tmp[i] - med);
    qsort(tmp, m, sizeof *tmp, cmp_double);
    size_t keep = m - m / 5;
    double ss = 0;
    for (size_t i = 0; i < keep; i++)
        ss += tmp[i] * tmp[i];
    return 1.5115 * sqrt(ss / (double)keep) / sqrt(2.0);
}

/*
 * Overdispersion: how much more the differences between consecutive points scatter than the
 * sampling model says, as a factor on the variances (at least 1). The standardised
 * differences r_i = (d_i - median d) / sd(d_i) would be N(0,1) under the model, so r_i^2
 * would have the median 0.4549 of a chi-square with one degree of freedom; the factor is
 * median(r_i^2) / 0.4549. The median ignores up to half of the differences, so the steps of a
 * cache filling up or of a leak's bursts do not count as scatter. Differences without
 * sampling variance (no sample changed) count as r_i = 0 when nothing changed. 1 when fewer
 * than 5 differences have a sampling variance.
 */
static double dispersion(const model_t *model, double *dv, double *tmp)
{
    const hs_trend_series_t *s = model->s;
    size_t n = s->n, m = 0;
    model_diff_variances(model, dv);
    for (size_t i = 0; i + 1 < n; i++)
        if (dv[i] > 0)
            tmp[m++] = s->y[i + 1] - s->y[i];
    if (m < 5)
        return 1;
    double med = median(tmp, m);
    m = 0;
    for (size_t i = 0; i + 1 < n; i++) {
        double d = s->y[i + 1] - s->y[i];
        if (dv[i] > 0)
            tmp[m++] = (d - med) * (d - med) / dv[i];
        else if (d == 0)
            tmp[m++] = 0;
    }
    double phi = median(tmp, m) / 0.4549;
    return phi > 1 ? phi : 1;
}

/* What one fit works with: the series, its error model, scratch and the scales of rounding. */
typedef struct ctx {
    const hs_trend_series_t *s;
    model_t model;
    bool known;        /* the sampling error is known (rows or variances, none NAN) */
    bool sampled;      /* a known sampling model with some variance: errors come from it */
    double dispersion; /* factor >= 1 on the model's variances */
    double scatter;    /* otherwise: the sd of independent noise at every point */
    double *w, *tmp;   /* scratch, n each: the weights of a combination */
    size_t *troughs;   /* n: the indices of the troughs found (fit_floor) */
    double *prod;      /* one per row: survivals for diff_var_walk (sampled with rows only) */
    double ymax_abs;   /* the largest |y|: what "more than rounding" is measured against */
    double rate_scale; /* the same for rates: ymax_abs over the time span */
} ctx_t;

/*
 * The points in thirds by count (see the file comment): A = [0, cut1), B = [cut1, cut2),
 * C = [cut2, end), with the mean time and the mean value of B and C; the points from end on
 * are a teardown at exit (teardown_points), in no third.
 */
typedef struct thirds {
    size_t cut1, cut2, end, nb, nc;
    double tb, tc, mb, mc;
    double low_mid, low_late; /* the lowest point of B and of C */
} thirds_t;

static void ctx_free(ctx_t *c)
{
    model_free(&c->model);
    free(c->w);
    free(c->tmp);
    free(c->troughs);
    free(c->prod);
}

/* Scratch and the error model: the sampling model with its overdispersion, or the scatter. */
static hs_err_t ctx_init(ctx_t *c, const hs_trend_series_t *s)
{
    size_t n = s->n;
    memset(c, 0, sizeof *c);
    c->s = s;
    c->dispersion = 1;
    c->w = calloc(n, sizeof *c->w);
    c->tmp = malloc(n * sizeof *c->tmp);
    c->troughs = malloc(n * sizeof *c->troughs);
    if (!c->w || !c->tmp || !c->troughs)
        goto fail_nomem;
    c->scatter = scatter_sd(s->y, n, c->tmp);
    c->known = s->rows || s->var;
    if (s->rows)
        for (size_t r = 0; r < s->nrows; r++)
            if (isnan(s->rows[r].unit_var))
                c->known = false;
    if (!c->known)
        return HS_OK;
    for (size_t i = 0; i < n && !c->sampled; i++)
        c->sampled = point_var(s, i) > 0;
    if (!c->sampled)
        return HS_OK;
    if (model_init(&c->model, s) != HS_OK)
        goto fail_nomem;
    if (s->rows && !(c->prod = malloc((s->nrows ? s->nrows : 1) * sizeof *c->prod)))
        goto fail_nomem;
    c->dispersion = dispersion(&c->model, c->w, c->tmp);
    return HS_OK;

fail_nomem:
    ctx_free(c);
    return HS_ERR_NOMEM;
}

/*
 * Standard error of sum w_i y_i. growth: for the tests of growth, where real fluctuation must
 * not pass for a trend, the variances carry the overdispersion; levels and falls do not.
 */
static double stderr_of(const ctx_t *c, const double *w, bool growth)
{
    if (c->sampled)
        return sqrt((growth ? c->dispersion : 1) * model_variance(&c->model, w));
    double sw2 = 0;
    for (size_t i = 0; i < c->s->n; i++)
        sw2 += w[i] * w[i];
    return c->scatter * sqrt(sw2);
}

/* Is x significantly above zero: more than k standard errors and more than rounding? */
static bool significant(double k, double x, double se, double scale)
{
    return x > k * se && x > 1e-9 * scale;
}

/* First, last and peak values, and the scales of rounding. */
static void fit_levels(ctx_t *c, hs_trend_t *out)
{
    const hs_trend_series_t *s = c->s;
    size_t n = s->n;
    out->first = s->y[0];
    out->last = s->y[n - 1];
    out->peak = s->y[0];
    for (size_t i = 0; i < n; i++) {
        if (s->y[i] > out->peak) {
            out->peak = s->y[i];
            out->peak_index = i;
        }
        if (fabs(s->y[i]) > c->ymax_abs)
            c->ymax_abs = fabs(s->y[i]);
    }
    c->rate_scale = c->ymax_abs / (s->t[n - 1] - s->t[0]);
}

/* The least-squares line with its error, R^2 and the monotone fraction (descriptions). */
static void fit_line(const ctx_t *c, hs_trend_t *out)
{
    const double *t = c->s->t, *y = c->s->y;
    size_t n = c->s->n;
    double tm = 0, ym = 0, stt = 0, syy = 0, sty = 0;
    for (size_t i = 0; i < n; i++) {
        tm += t[i];
        ym += y[i];
    }
    tm /= (double)n;
    ym /= (double)n;
    for (size_t i = 0; i < n; i++) {
        stt += (t[i] - tm) * (t[i] - tm);
        syy += (y[i] - ym) * (y[i] - ym);
        sty += (t[i] - tm) * (y[i] - ym);
    }
    for (size_t i = 0; i < n; i++)
        c->w[i] = (t[i] - tm) / stt;
    out->slope = sty / stt;
    out->slope_se = stderr_of(c, c->w, true);
    out->r2 = syy > 0 ? sty * sty / (stt * syy) : NAN;
    size_t up = 0, down = 0;
    for (size_t i = 0; i + 1 < n; i++) {
        up += y[i + 1] > y[i];
        down += y[i + 1] < y[i];
    }
    out->monotone = up + down ? (double)up / (double)(up + down) : NAN;
}

/*
 * A teardown at exit over more than one profile: a program that frees its data as it exits
 * (an interpreter's finalisation) ends at nothing, and a periodic profile written while it ran
 * is at nothing too. The trailing points (at most half of the last third, the last point
 * included) that are all at most half of the lowest point of the last third before them, when
 * that fall is significant at sigma, are left out of the thirds: the fall says nothing of
 * whether the memory accumulated while the program ran. (A single such point is left out of
 * the late floor only, below, as before.) 0 when there is none.
 */
static size_t teardown_points(const ctx_t *c, double sigma)
{
    const hs_trend_series_t *s = c->s;
    size_t n = s->n;
    if (n < 6)
        return 0;
    size_t cut2 = n - n / 3, most = (n / 3) / 2, best = 0, ref_at = 0;
    for (size_t k = 2; k <= most; k++) {
        size_t ref = cut2;
        for (size_t i = cut2; i < n - k; i++)
            if (s->y[i] < s->y[ref])
                ref = i;
        bool low = s->y[ref] > 0;
        for (size_t i = n - k; i < n && low; i++)
            low = s->y[i] <= 0.5 * s->y[ref];
        if (low) {
            best = k;
            ref_at = ref;
        }
    }
    if (!best)
        return 0;
    double *w = c->w;
    memset(w, 0, n * sizeof *w);
    w[ref_at] = 1;
    w[n - 1] = -1;
    double se = stderr_of(c, w, false);
    return s->y[ref_at] - s->y[n - 1] > sigma * se ? best : 0;
}

/*
 * Thirds of the points in time order: C = the last n/3, B = the n/3 before them. By count
 * rather than by time, so that dumps at irregular times (on demand, on a signal) still leave
 * points in every third. n >= 3, so B and C hold at least one point each; n >= 6, two.
 */
static void split_thirds(const hs_trend_series_t *s, size_t teardown, thirds_t *th)
{
    size_t n = s->n - teardown;
    memset(th, 0, sizeof *th);
    th->end = n;
    th->cut2 = n - n / 3;
    th->cut1 = n - 2 * (n / 3);
    for (size_t i = 0; i < n; i++) {
        if (i >= th->cut2) {
            th->nc++;
            th->tc += s->t[i];
            th->mc += s->y[i];
        } else if (i >= th->cut1) {
            th->nb++;
            th->tb += s->t[i];
            th->mb += s->y[i];
        }
    }
    /*
     * The last point is left out of the late floor when the last third has others: a program
     * that frees its data as it exits (an interpreter's teardown) ends at nothing, and that
     * fall says nothing of whether the memory accumulated while it ran. (A teardown over
     * several points is out of the thirds already.)
     */
    size_t floor_end = !teardown && n - 1 > th->cut2 ? n - 1 : n;
    th->low_mid = th->low_late = INFINITY;
    for (size_t i = th->cut1; i < floor_end; i++) {
        double *low = i >= th->cut2 ? &th->low_late : &th->low_mid;
        if (s->y[i] < *low)
            *low = s->y[i];
    }
    th->tc /= (double)th->nc;
    th->tb /= (double)th->nb;
    th->mb /= (double)th->nb;
    th->mc /= (double)th->nc;
}

/*
 * What the thirds say, each with its error: rise = m_C - y_0, fall = peak - m_C, the early
 * rate (m_B - y_0) / (t_B - t_0) and the late rate (m_C - m_B) / (t_C - t_B); and the errors
 * of the last point and of the peak (for display and the noise test).
 */
static void fit_thirds(const ctx_t *c, const thirds_t *th, hs_trend_t *out)
{
    const hs_trend_series_t *s = c->s;
    size_t n = s->n;
    double *w = c->w, t0 = s->t[0];
    out->tested = n >= 6 && th->tc > th->tb && th->tb > t0;
    out->late_mean = th->mc;
    out->low_mid = th->low_mid;
    out->low_late = th->low_late;

    memset(w, 0, n * sizeof *w);
    w[n - 1] = 1;
    out->last_se = stderr_of(c, w, false);
    w[n - 1] = 0;
    w[out->peak_index] = 1;
    out->peak_se = stderr_of(c, w, false);

    for (size_t i = 0; i < n; i++)
        w[i] = (i == out->peak_index) - (i >= th->cut2 && i < th->end ? 1.0 / (double)th->nc : 0);
    out->fall = out->peak - th->mc;
    out->fall_se = stderr_of(c, w, false);
    for (size_t i = 0; i < n; i++)
        w[i] = (i >= th->cut2 && i < th->end ? 1.0 / (double)th->nc : 0) - (i == 0);
    out->rise = th->mc - s->y[0];
    out->rise_se = stderr_of(c, w, true);

    if (!out->tested) {
        out->early_rate = out->late_rate = out->slope;
        out->late_se = out->slope_se;
        return;
    }
    out->early_rate = (th->mb - s->y[0]) / (th->tb - t0);
    out->late_rate = (th->mc - th->mb) / (th->tc - th->tb);
    for (size_t i = 0; i < n; i++) {
        double wi = 0;
        if (i >= th->end)
            ; /* a teardown: in no third */
        else if (i >= th->cut2)
            wi = 1.0 / (double)th->nc;
        else if (i >= th->cut1)
            wi = -1.0 / (double)th->nb;
        w[i] = wi / (th->tc - th->tb);
    }
    out->late_se = stderr_of(c, w, true);
}

/* ---- the floor of a sawtooth ------------------------------------------------------------- */

/*
 * P(T > t) for Student's t with nu >= 1 degrees of freedom, from the closed forms of
 * P(|T| < t) for integer nu (Abramowitz and Stegun 26.7.3 and 26.7.4), with theta =
 * atan(t / sqrt(nu)):
 *   nu odd:  (2/pi) (theta + sin theta (cos theta + 2/3 cos^3 theta + ...
 *            + (2 4 ... (nu-3)) / (1 3 ... (nu-2)) cos^(nu-2) theta))   (2 theta / pi for nu = 1)
 *   nu even: sin theta (1 + 1/2 cos^2 theta + ... + (1 3 ... (nu-3)) / (2 4 ... (nu-2))
 *            cos^(nu-2) theta)
 */
static double t_upper_tail(double t, int nu)
{
    double theta = atan(t / sqrt((double)nu)), c = cos(theta), c2 = c * c, inside;
    if (nu % 2) {
        double term = c, sum = nu > 1 ? c : 0;
        for (int k = 2; k <= nu - 3; k += 2) {
            term *= c2 * k / (k + 1);
            sum += term;
        }
        inside = 2 / M_PI * (theta + sin(theta) * sum);
    } else {
        double term = 1, sum = 1;
        for (int k = 1; k <= nu - 3; k += 2) {
            term *= c2 * k / (k + 1);
            sum += term;
        }
        inside = sin(theta) * sum;
    }
    return (1 - inside) / 2;
}

/*
 * The t of Student's distribution with nu degrees of freedom that has the normal tail of k
 * standard errors above it: P(T > t) = P(Z > k). By bisection on a logarithmic scale.
 */
static double t_quantile(double k, int nu)
{
    double p = 0.5 * erfc(k / sqrt(2.0)), lo = 1e-6, hi = 1e9;
    if (nu > 1000 || !(p > 0))
        return k;
    for (int i = 0; i < 200 && hi / lo > 1 + 1e-9; i++) {
        double mid = sqrt(lo * hi);
        if (t_upper_tail(mid, nu) > p)
            lo = mid;
        else
            hi = mid;
    }
    return sqrt(lo * hi);
}

/*
 * Sampling variance of y[i] - y[ref] as the reference point moves forward through the series:
 * prod[r] holds row r's survival S(ref, i) = s_ref ... s_{i-1}, restarted at 1 whenever ref
 * changes (the caller calls with i = ref then) and advanced one step per call, so a whole walk
 * costs O(rows) per point. The samples live at both points cancel: u (n_ref + n_i - 2 n_ref
 * S(ref, i)) per row, as in model_diff_variances; var[] as independent points without rows.
 */
static double diff_var_walk(const model_t *m, double *prod, size_t ref, size_t i)
{
    const hs_trend_series_t *s = m->s;
    if (!s->rows)
        return s->var[ref] + s->var[i];
    size_t n = s->n;
    double v = 0;
    for (size_t r = 0; r < s->nrows; r++) {
        const hs_trend_row_t *row = &s->rows[r];
        if (!(row->unit_var > 0))
            continue;
        if (i == ref)
            prod[r] = 1;
        else
            prod[r] *= m->surv[r * (n - 1) + i - 1];
        v += row->unit_var *
             ((double)row->live[ref] + row->live[i] - 2.0 * row->live[ref] * prod[r]);
    }
    return v > 0 ? v : 0;
}

/*
 * The troughs of the series. Walking the points in time order, a drop is a fall from the
 * highest point since the last trough that is significant at k, and its trough the lowest point
 * after it, confirmed once the series has risen significantly from there. A difference's error
 * is the sampling model's (the samples live at both points cancel) with the overdispersion, so
 * that the requests in flight of a busy server do not make a sawtooth; without a sampling
 * model, the scatter of two independent points. Fills c->troughs with the confirmed troughs
 * and returns how many; *drops gets the significant drops (the last may still be falling),
 * *last_low the lowest point after the last drop (n when there was none), *depth the mean fall
 * of the drops.
 */
static size_t find_troughs(ctx_t *c, double k, size_t *drops, size_t *last_low, double *depth)
{
    const hs_trend_series_t *s = c->s;
    const double *y = s->y;
    size_t n = s->n, m = 0, ref = 0, peak = 0, low = 0;
    bool falling = false;
    double fallen = 0, *prod = c->prod;
    *drops = 0;
    *last_low = n;
    if (prod)
        diff_var_walk(&c->model, prod, 0, 0);
    for (size_t i = 1; i < n; i++) {
        double se = c->sampled ? sqrt(c->dispersion * diff_var_walk(&c->model, prod, ref, i))
                               : c->scatter * sqrt(2.0);
        size_t moved = ref;
        if (!falling) {
            if (y[i] >= y[peak]) {
                moved = peak = i;
            } else if (significant(k, y[peak] - y[i], se, c->ymax_abs)) {
                falling = true;
                moved = low = i;
                (*drops)++;
            }
        } else if (y[i] < y[low]) {
            moved = low = i;
        } else if (significant(k, y[i] - y[low], se, c->ymax_abs)) {
            fallen += y[peak] - y[low];
            c->troughs[m++] = low;
            falling = false;
            moved = peak = i;
        }
        if (moved != ref) {
            ref = moved;
            if (prod)
                diff_var_walk(&c->model, prod, ref, ref);
        }
        if (falling)
            *last_low = low;
    }
    if (falling)
        fallen += y[peak] - y[low];
    *depth = *drops ? fallen / (double)*drops : 0;
    return m;
}

/*
 * The floor: a site that rises and falls back repeatedly (a cache that evicts in bulk, a list
 * that is dropped whole) is judged by its troughs rather than by its means, whose difference
 * between thirds depends on where in a tooth each third happens to end. It is a sawtooth when
 * the series can test a ceiling (tested), has at least HS_TREND_MIN_TROUGHS confirmed troughs,
 * and its last drop reaches into the last third (a series that stopped dropping long ago is
 * judged as before). The floor's rate is the least-squares slope through the troughs; its
 * error is the larger of the sampling error of that slope (with the overdispersion) and the
 * scatter of the troughs around their line (they also move for reasons of their own: where in
 * the refill the profile caught them), the latter scaled by Student's t with m - 2 degrees of
 * freedom to the tail of k normal standard errors, so that few troughs need a clear line.
 * late_floor_rate is the same slope through the later half of the troughs.
 */
static void fit_floor(ctx_t *c, double k, const thirds_t *th, hs_trend_t *out)
{
    const hs_trend_series_t *s = c->s;
    size_t n = s->n, drops, last_low;
    double depth;
    size_t m = find_troughs(c, k, &drops, &last_low, &depth);
    out->drops = drops;
    out->troughs = m;
    out->drop_depth = depth;
    out->sawtooth =
        out->tested && m >= HS_TREND_MIN_TROUGHS && last_low < n && last_low >= th->cut2;
    if (!out->sawtooth)
        return;
    for (int half = 0; half < 2; half++) {
        size_t from = half ? m / 2 : 0, count = m - from;
        double tm = 0, stt = 0, zm = 0;
        for (size_t j = from; j < m; j++) {
            tm += s->t[c->troughs[j]] / (double)count;
            zm += s->y[c->troughs[j]] / (double)count;
        }
        for (size_t j = from; j < m; j++)
            stt += (s->t[c->troughs[j]] - tm) * (s->t[c->troughs[j]] - tm);
        double b = 0;
        memset(c->w, 0, n * sizeof *c->w);
        for (size_t j = from; j < m && stt > 0; j++) {
            c->w[c->troughs[j]] = (s->t[c->troughs[j]] - tm) / stt;
            b += c->w[c->troughs[j]] * s->y[c->troughs[j]];
        }
        if (half) {
            out->late_floor_rate = b;
            break;
        }
        double se = stderr_of(c, c->w, true), rss = 0;
        for (size_t j = 0; j < m; j++) {
            double r = s->y[c->troughs[j]] - zm - b * (s->t[c->troughs[j]] - tm);
            rss += r * r;
        }
        double se_scatter = stt > 0 ? sqrt(rss / (double)(m - 2) / stt) : INFINITY;
        double scaled = k > 0 ? se_scatter * t_quantile(k, (int)(m - 2)) / k : se_scatter;
        out->floor_rate = b;
        out->floor_se = scaled > se ? scaled : se;
    }
}

/* The verdict, in the order of the file comment. */
static hs_trend_class_t classify(const ctx_t *c, double sigma, const hs_trend_t *t)
{
    const hs_trend_series_t *s = c->s;
    bool late_growing = significant(sigma, t->late_rate, t->late_se, c->rate_scale);
    bool visible = false;
    for (size_t i = 0; i < s->n && !visible; i++)
        visible = significant(sigma, s->y[i], c->known ? sqrt(point_var(s, i)) : 0, c->ymax_abs);
    bool grew = significant(sigma, t->slope, t->slope_se, c->rate_scale) ||
                significant(sigma, t->rise, t->rise_se, c->ymax_abs);
    if (!visible)
        return HS_TREND_NOISE;
    if (t->sawtooth) {
        if (significant(sigma, t->floor_rate, t->floor_se, c->rate_scale) &&
            t->late_floor_rate >= 0.5 * t->floor_rate)
            return HS_TREND_LEAK;
        if (t->floor_rate * (s->t[s->n - 1] - s->t[0]) < 0.5 * t->drop_depth)
            return HS_TREND_PLATEAU;
    }
    if (significant(sigma, t->fall, t->fall_se, c->ymax_abs) && t->late_mean <= 0.5 * t->peak &&
        !late_growing)
        return HS_TREND_TRANSIENT;
    if (!grew)
        return HS_TREND_STABLE;
    if (!t->tested)
        return HS_TREND_LEAK;
    if (significant(sigma * 2 / 3, t->late_rate, t->late_se, c->rate_scale) &&
        (t->late_rate >= 0.5 * t->early_rate || late_growing) && t->low_late > t->low_mid)
        return HS_TREND_LEAK;
    return HS_TREND_PLATEAU;
}

hs_err_t hs_trend_fit(const hs_trend_series_t *s, double sigma, hs_trend_t *out)
{
    memset(out, 0, sizeof *out);
    size_t n = s->n;
    if (n < 3 || !(s->t[n - 1] > s->t[0]) || !(sigma >= 0))
        return HS_ERR_INVALID;
    ctx_t c;
    if (ctx_init(&c, s) != HS_OK)
        return HS_ERR_NOMEM;
    out->error_known = c.known;
    out->scatter = c.scatter;
    out->dispersion = c.dispersion;
    thirds_t th;
    fit_levels(&c, out);
    fit_line(&c, out);
    split_thirds(s, teardown_points(&c, sigma), &th);
    fit_thirds(&c, &th, out);
    fit_floor(&c, sigma, &th, out);
    out->cls = classify(&c, sigma, out);
    ctx_free(&c);
    return HS_OK;
}
