/*
 * test_baseline.c - a candidate against its baseline (baseline.h) on simulated processes with
 * known answers.
 *
 * A process is simulated as the profiler would see it: each allocation of size s is sampled
 * with probability p = 1 - exp(-s/R) (R = 64 KiB), and every point of the series is what a
 * profile carries (live samples and sampled allocations per row, estimates s/p per sample).
 * Three sites: a leak (40 blocks of 4 KiB per second, never freed), a cache that fills in five
 * seconds and then replaces its oldest blocks, and garbage (blocks live for less than a
 * second), over 20 one-second points; the candidate of the regression has a fourth site, a
 * second leak. The sides of a comparison are independent processes.
 *
 * False alarms: both sides the same program. With calibrated errors a site is called faster
 * by noise alone with probability P(Z > 3) = 0.00135 (one-sided, sigma 3), and a comparison has
 * 4 chances (3 sites and the whole process), so at most ~0.54% of comparisons, 5.4 expected of
 * 1000; the errors of trend.c err towards the large side for caches and churn, so the rate is
 * lower. The test allows 15 of 1000 (Poisson with mean 5.4 exceeds 15 with probability < 0.1%),
 * with the seed fixed, so a run is reproducible. Power: the extra leak (100 blocks of 8 KiB a
 * second, ~12 samples a second) adds ~78 samples between the middle and the last third, whose
 * difference has a standard error of ~9 samples: about 9 sigma, found in all of 200 comparisons.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "baseline.h"
#include "estimate.h"
#include "series.h"

#define RATE   65536
#define POINTS 20
#define NSITES 4
#define MAXOBJ 20000

static uint64_t rng = 1;

static double urand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (double)(rng >> 11) * (1.0 / 9007199254740992.0);
}

static const char *const names[NSITES] = {"leak", "cache", "garbage", "new_leak"};
static const uint64_t sizes[NSITES] = {4096, 16384, 1024, 8192};

/* Live objects of one site: whether each was sampled, oldest first. */
typedef struct objects {
    unsigned char sampled[MAXOBJ];
    size_t head, n;
    uint32_t allocs; /* sampled allocations so far */
} objects_t;

static void alloc_objects(objects_t *o, uint64_t size, int count)
{
    double p = hs_estimate_prob(size, RATE);
    for (int k = 0; k < count && o->n < MAXOBJ; k++) {
        unsigned char s = urand() < p;
        o->sampled[(o->head + o->n++) % MAXOBJ] = s;
        o->allocs += s;
    }
}

static void free_oldest(objects_t *o, int count)
{
    for (int k = 0; k < count && o->n; k++) {
        o->head = (o->head + 1) % MAXOBJ;
        o->n--;
    }
}

static uint32_t live_samples(const objects_t *o)
{
    uint32_t n = 0;
    for (size_t k = 0; k < o->n; k++)
        n += o->sampled[(o->head + k) % MAXOBJ];
    return n;
}

/* One simulated process, fitted, as a leak analysis of one process. */
static void simulate(hs_leak_analysis_t *a, bool regression, int nprocs)
{
    static objects_t obj[NSITES];
    memset(a, 0, sizeof *a);
    a->procs = calloc((size_t)nprocs, sizeof *a->procs);
    cr_assert_not_null(a->procs);
    for (int pi = 0; pi < nprocs; pi++) {
        hs_leak_process_t *p = &a->procs[a->nprocs++];
        memset(obj, 0, sizeof obj);
        cr_assert_eq(hs_series_init(&p->series, POINTS), HS_OK);
        for (int i = 0; i < POINTS; i++) {
            alloc_objects(&obj[0], sizes[0], 40);
            alloc_objects(&obj[1], sizes[1], 40);
            if (obj[1].n > 200)
                free_oldest(&obj[1], (int)obj[1].n - 200);
            free_oldest(&obj[2], (int)obj[2].n);
            alloc_objects(&obj[2], sizes[2], 300);
            if (regression)
                alloc_objects(&obj[3], sizes[3], 100);
            hs_site_t sites[NSITES];
            hs_sites_row_t rows[NSITES];
            hs_sites_t s = {.type = "inuse_space",
                            .unit = "bytes",
                            .period = RATE,
                            .time_nanos = (int64_t)(1 + i) * 1000000000,
                            .sites = sites,
                            .rows = rows};
            for (int k = 0; k < NSITES; k++) {
                if (k == 3 && !regression)
                    continue;
                double o, b;
                uint32_t live = live_samples(&obj[k]);
                hs_estimate_row(RATE, sizes[k], live, &o, &b);
                double u = hs_estimate_bytes_variance(RATE, sizes[k], 1);
                sites[s.nsites] = (hs_site_t){
                    .name = (char *)names[k], .value = b, .variance = u * live, .nrows = 1};
                rows[s.nrows] = (hs_sites_row_t){.site = s.nsites,
                                                 .key = (uint64_t)k + 1,
                                                 .value = b,
                                                 .variance = u * live,
                                                 .live = live,
                                                 .allocs = obj[k].allocs,
                                                 .unit_var = u};
                s.total += b;
                s.total_variance += u * live;
                s.nsites++;
                s.nrows++;
            }
            char why[128];
            cr_assert_eq(hs_series_add(&p->series, &s, why, sizeof why), HS_OK, "%s", why);
        }
        char why[128];
        cr_assert_eq(hs_series_fit(&p->series, 3, why, sizeof why), HS_OK, "%s", why);
        a->fitted++;
    }
}

static void release(hs_leak_analysis_t *a)
{
    for (size_t i = 0; i < a->nprocs; i++)
        hs_series_free(&a->procs[i].series);
    free(a->procs);
}

/* Faster verdicts in one comparison: sites (by name) and the whole process. */
static int compare(bool regression, int nprocs, double tolerance, int *new_leak_found)
{
    hs_leak_analysis_t cand, base;
    simulate(&cand, regression, nprocs);
    simulate(&base, false, nprocs);
    hs_baseline_t b;
    char why[128];
    cr_assert_eq(hs_baseline_compare(&cand, &base, 3, tolerance, &b, why, sizeof why), HS_OK, "%s",
                 why);
    cr_assert(b.late, "20 points: the rates are late rates");
    cr_assert_eq(b.cand_procs, (size_t)nprocs);
    int faster = (int)hs_baseline_faster(&b) + (b.total.verdict == HS_BASELINE_FASTER);
    for (size_t i = 0; i < b.nsites; i++)
        if (strcmp(b.sites[i].name, "new_leak") == 0) {
            *new_leak_found += b.sites[i].verdict == HS_BASELINE_FASTER;
            cr_assert_eq(b.sites[i].base.present, 0);
            cr_assert_eq(b.sites[i].cand.present, (size_t)nprocs);
        }
    hs_baseline_free(&b);
    release(&cand);
    release(&base);
    return faster;
}

Test(baseline, same_program_rarely_differs, .timeout = 120)
{
    rng = 11;
    int alarms = 0, unused = 0;
    for (int run = 0; run < 1000; run++)
        alarms += compare(false, 1, 0, &unused) > 0;
    cr_log_info("same against same: %d false alarms in 1000 comparisons", alarms);
    cr_assert_leq(alarms, 15, "%d of 1000", alarms);
}

Test(baseline, same_program_with_several_processes, .timeout = 120)
{
    rng = 12;
    int alarms = 0, unused = 0;
    for (int run = 0; run < 300; run++)
        alarms += compare(false, 3, 0, &unused) > 0;
    cr_log_info("3 processes a side: %d false alarms in 300 comparisons", alarms);
    cr_assert_leq(alarms, 7, "%d of 300", alarms); /* mean <= 1.6 */
}

Test(baseline, an_extra_leak_is_found, .timeout = 120)
{
    rng = 13;
    int found = 0;
    for (int run = 0; run < 200; run++)
        compare(true, 1, HS_BASELINE_DEFAULT_TOLERANCE, &found);
    cr_assert_eq(found, 200, "found in %d of 200", found);
}

/* Exact numbers: one process a side, whose trends are given. */
Test(baseline, rates_and_verdicts)
{
    hs_leak_analysis_t cand = {0}, base = {0};
    hs_leak_process_t pc = {0}, pb = {0};
    cand.procs = &pc;
    cand.nprocs = 1;
    base.procs = &pb;
    base.nprocs = 1;
    hs_series_site_t cs[3] = {{.name = "a"}, {.name = "b"}, {.name = "c"}};
    hs_series_site_t bs[2] = {{.name = "b"}, {.name = "a"}};
    pc.series = (hs_series_t){.sites = cs, .nsites = 3, .type = "inuse_space", .unit = "bytes"};
    pb.series = (hs_series_t){.sites = bs, .nsites = 2, .type = "inuse_space", .unit = "bytes"};
    pc.series.total_trend = (hs_trend_t){.tested = true, .late_rate = 130, .late_se = 3};
    pb.series.total_trend = (hs_trend_t){.tested = true, .late_rate = 100, .late_se = 4};
    cs[0].trend = (hs_trend_t){.tested = true, .late_rate = 100, .late_se = 3}; /* a: same */
    bs[1].trend = (hs_trend_t){.tested = true, .late_rate = 90, .late_se = 4};
    cs[1].trend = (hs_trend_t){.tested = true, .late_rate = 10, .late_se = 1}; /* b: slower */
    bs[0].trend = (hs_trend_t){.tested = true, .late_rate = 50, .late_se = 1};
    cs[2].trend = (hs_trend_t){.tested = true, .late_rate = 20, .late_se = 2}; /* c: new */
    hs_baseline_t b;
    cr_assert_eq(hs_baseline_compare(&cand, &base, 3, 0, &b, NULL, 0), HS_OK);
    cr_assert_eq(b.nsites, 3);
    cr_assert_str_eq(b.sites[0].name, "c", "faster first");
    cr_assert_eq(b.sites[0].verdict, HS_BASELINE_FASTER);
    cr_assert_float_eq(b.sites[0].diff, 20, 1e-9);
    cr_assert_float_eq(b.sites[0].diff_se, 2, 1e-9);
    cr_assert_eq(b.sites[0].base.present, 0);
    cr_assert_str_eq(b.sites[1].name, "a");
    cr_assert_eq(b.sites[1].verdict, HS_BASELINE_SAME, "10 < 3 x 5");
    cr_assert_float_eq(b.sites[1].diff_se, 5, 1e-9);
    cr_assert_eq(b.sites[2].verdict, HS_BASELINE_SLOWER);
    cr_assert_eq(b.total.verdict, HS_BASELINE_FASTER, "30 > 3 x 5");
    hs_baseline_free(&b);
    /* A tolerance of 25% of the baseline's rate: 130 - 125 = 5 is within it. */
    cr_assert_eq(hs_baseline_compare(&cand, &base, 3, 0.25, &b, NULL, 0), HS_OK);
    cr_assert_eq(b.total.verdict, HS_BASELINE_SAME);
    cr_assert_eq(b.sites[0].verdict, HS_BASELINE_FASTER, "nothing to be tolerant of");
    hs_baseline_free(&b);

    /* Fewer than 6 profiles somewhere: slopes. */
    pb.series.total_trend.tested = false;
    cs[2].trend.slope = 7;
    cs[2].trend.slope_se = 1;
    cr_assert_eq(hs_baseline_compare(&cand, &base, 3, 0, &b, NULL, 0), HS_OK);
    cr_assert(!b.late);
    cr_assert_float_eq(b.sites[0].cand.rate, 7, 1e-9);
    hs_baseline_free(&b);

    /* A side without a fitted process, or another sample type, is no comparison. */
    char why[128];
    pb.skipped = true;
    cr_assert_eq(hs_baseline_compare(&cand, &base, 3, 0, &b, why, sizeof why), HS_ERR_INVALID);
    cr_assert(strstr(why, "baseline has no process"), "%s", why);
    pb.skipped = false;
    pb.series.type = "inuse_objects";
    cr_assert_eq(hs_baseline_compare(&cand, &base, 3, 0, &b, why, sizeof why), HS_ERR_INVALID);
    cr_assert(strstr(why, "sample type"), "%s", why);
}

/* Several processes a side: the mean, and the spread between them when it is the larger. */
Test(baseline, processes_spread)
{
    hs_leak_analysis_t cand = {0}, base = {0};
    hs_leak_process_t pc[3] = {{0}}, pb[1] = {{0}};
    hs_series_site_t cs[3][1] = {{{.name = "x"}}, {{.name = "x"}}, {{.name = "y"}}};
    hs_series_site_t bs[1][1] = {{{.name = "x"}}};
    double rates[3] = {100, 140, 0};
    for (int i = 0; i < 3; i++) {
        pc[i].series = (hs_series_t){.sites = cs[i], .nsites = 1, .type = "t", .unit = "bytes"};
        pc[i].series.total_trend = (hs_trend_t){.tested = true};
        cs[i][0].trend = (hs_trend_t){.tested = true, .late_rate = rates[i], .late_se = 1};
    }
    pb[0].series = (hs_series_t){.sites = bs[0], .nsites = 1, .type = "t", .unit = "bytes"};
    pb[0].series.total_trend = (hs_trend_t){.tested = true};
    bs[0][0].trend = (hs_trend_t){.tested = true, .late_rate = 60, .late_se = 1};
    cand = (hs_leak_analysis_t){.procs = pc, .nprocs = 3};
    base = (hs_leak_analysis_t){.procs = pb, .nprocs = 1};
    hs_baseline_t b;
    cr_assert_eq(hs_baseline_compare(&cand, &base, 3, 0, &b, NULL, 0), HS_OK);
    const hs_baseline_site_t *x = strcmp(b.sites[0].name, "x") == 0 ? &b.sites[0] : &b.sites[1];
    /* x: 100, 140 and 0 (absent) -> mean 80; spread var = 5200 / 3 >> model 3 / 9. */
    cr_assert_float_eq(x->cand.rate, 80, 1e-9);
    cr_assert_float_eq(x->cand.se, sqrt(5200.0 / 3), 1e-9);
    cr_assert_eq(x->cand.present, 2);
    cr_assert_eq(x->verdict, HS_BASELINE_SAME, "20 < 3 x 41.6");
    hs_baseline_free(&b);
}
