/*
 * test_sampler.c - the sampling distribution and the estimator, with fixed seeds and bounds
 * derived from the math, plus the sampler's recording path through the real tables.
 *
 * Bounds: a mean of N Exp(R) draws has standard deviation R/sqrt(N); the sample variance of
 * Exp(R) has standard deviation about R^2 sqrt(8/N) (fourth central moment 9R^4). The
 * estimator's total over many allocations has the variance the estimator itself reports
 * (sum over samples of w^2 (1-p)). Every bound below is 5 sigma.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "dump.h"
#include "estimate.h"
#include "live_table.h"
#include "sampler.h"
#include "snapshot.h"
#include "stack_table.h"

static hs_thread_t thread_with_seed(uint64_t seed)
{
    hs_thread_t t;
    memset(&t, 0, sizeof t);
    hs_rng_seed(t.rng, seed);
    return t;
}

Test(sampler, exponential_mean_and_variance)
{
    const uint64_t R = 524288;
    const int N = 200000;
    hs_thread_t t = thread_with_seed(42);
    double sum = 0, sumsq = 0;
    for (int i = 0; i < N; i++) {
        int64_t d = hs_sampler_next_countdown(&t, R);
        cr_assert(d >= 1);
        sum += (double)d;
        sumsq += (double)d * (double)d;
    }
    double mean = sum / N;
    double var = sumsq / N - mean * mean;
    double sd_mean = (double)R / sqrt(N);
    double sd_var = (double)R * (double)R * sqrt(8.0 / N);
    cr_assert(fabs(mean - (double)R) < 5 * sd_mean, "mean %.1f vs %llu (sd %.1f)", mean,
              (unsigned long long)R, sd_mean);
    cr_assert(fabs(var - (double)R * R) < 5 * sd_var, "variance %.4g vs %.4g (sd %.3g)", var,
              (double)R * R, sd_var);
}

Test(sampler, exact_mode_draws_zero)
{
    hs_thread_t t = thread_with_seed(1);
    for (int i = 0; i < 100; i++)
        cr_assert_eq(hs_sampler_next_countdown(&t, 1), 0);
}

Test(sampler, seed_reproducible)
{
    hs_thread_t a = thread_with_seed(7), b = thread_with_seed(7), c = thread_with_seed(8);
    int differ = 0;
    for (int i = 0; i < 1000; i++) {
        int64_t x = hs_sampler_next_countdown(&a, 4096);
        cr_assert_eq(x, hs_sampler_next_countdown(&b, 4096));
        differ += x != hs_sampler_next_countdown(&c, 4096);
    }
    cr_assert(differ > 900);
}

Test(estimate, probability_edges)
{
    cr_assert_eq(hs_estimate_prob(100, 1), 1.0);
    cr_assert_eq(hs_estimate_prob(0, 524288), 0.0);
    cr_assert(fabs(hs_estimate_prob(524288, 524288) - (1 - exp(-1))) < 1e-12);
    cr_assert(hs_estimate_prob(1ull << 40, 524288) == 1.0);
    double o, b;
    hs_estimate_row(1, 100, 7, &o, &b);
    cr_assert_eq(o, 7.0);
    cr_assert_eq(b, 700.0);
    cr_assert_eq(hs_estimate_bytes_variance(1, 100, 7), 0.0);
    hs_estimate_row(524288, 524288, 1, &o, &b);
    cr_assert(fabs(o - 1 / (1 - exp(-1))) < 1e-9);
    cr_assert(fabs(b - 524288 / (1 - exp(-1))) < 1e-3);
}

/*
 * Simulate the sampler over a stream of allocations with very different sizes, and unbias per
 * allocation: the estimate of total bytes and objects must be within 5 sigma of the truth for
 * every seed, and the average over seeds within 5 sigma of the mean.
 */
Test(estimate, unbiased_on_mixed_sizes)
{
    static const uint64_t sizes[] = {16, 48, 100, 4096, 65536, 300000, 2u << 20};
    static const int counts[] = {40000, 20000, 20000, 4000, 800, 100, 20};
    const uint64_t R = 524288;
    const int seeds = 30;
    double true_bytes = 0, true_objects = 0;
    for (size_t k = 0; k < 7; k++) {
        true_bytes += (double)sizes[k] * counts[k];
        true_objects += counts[k];
    }
    double sum_rel = 0, sum_var_rel = 0;
    for (int seed = 1; seed <= seeds; seed++) {
        hs_thread_t t = thread_with_seed((uint64_t)seed);
        int64_t countdown = hs_sampler_next_countdown(&t, R);
        double est_b = 0, est_o = 0, var_b = 0;
        /* Interleave the sizes as a program would. */
        int left[7];
        memcpy(left, counts, sizeof left);
        for (int remaining = (int)true_objects; remaining > 0;) {
            for (size_t k = 0; k < 7; k++) {
                if (!left[k])
                    continue;
                left[k]--;
                remaining--;
                countdown -= (int64_t)sizes[k];
                if (countdown <= 0) {
                    double o, b;
                    hs_estimate_row(R, sizes[k], 1, &o, &b);
                    est_o += o;
                    est_b += b;
                    var_b += hs_estimate_bytes_variance(R, sizes[k], 1);
                    countdown = hs_sampler_next_countdown(&t, R);
                }
            }
        }
        double sd = sqrt(var_b);
        cr_assert(fabs(est_b - true_bytes) < 5 * sd, "seed %d: %.0f vs %.0f (sd %.0f)", seed, est_b,
                  true_bytes, sd);
        sum_rel += (est_b - true_bytes) / true_bytes;
        sum_var_rel += var_b / (true_bytes * true_bytes);
        cr_assert(est_o > 0);
    }
    double mean_rel = sum_rel / seeds;
    double sd_mean_rel = sqrt(sum_var_rel) / seeds;
    cr_assert(fabs(mean_rel) < 5 * sd_mean_rel, "mean relative error %.4f (sd %.4f)", mean_rel,
              sd_mean_rel);
}

/* The recording path: exact mode, through unwinding, the tables and a snapshot. */
static void setup_tables(void)
{
    cr_assert_eq(hs_stack_table_init(1024, 1024), HS_OK);
    cr_assert_eq(hs_live_init(1 << 20), HS_OK);
    hs_sampler_configure(1, 99, 16);
    hs_sampler_set_active(1);
}

static char fake_heap[4096];

static __attribute__((noinline)) void alloc_site_a(int i)
{
    hs_sampler_on_alloc(&fake_heap[i * 16], 16);
}

static __attribute__((noinline)) void alloc_site_b(int i)
{
    hs_sampler_on_alloc(&fake_heap[2048 + i * 16], 32);
}

Test(sampler, records_and_frees_exactly, .init = setup_tables)
{
    for (int i = 0; i < 10; i++)
        alloc_site_a(i);
    for (int i = 0; i < 5; i++)
        alloc_site_b(i);
    cr_assert_eq(hs_live_count(), 15);
    for (int i = 0; i < 4; i++)
        hs_sampler_on_free(&fake_heap[i * 16]);
    hs_sampler_on_free(&fake_heap[1000]); /* never sampled: no effect */
    cr_assert_eq(hs_live_count(), 11);
    /* The running in-use estimate is exact in exact mode: 6 x 16 B + 5 x 32 B live. */
    cr_assert_eq(hs_sampler_inuse_estimate(), 6 * 16 + 5 * 32);

    hs_snapshot_t snap;
    cr_assert_eq(hs_dump_snapshot(&snap), HS_OK);
    cr_assert_eq(snap.rate, 1);
    cr_assert_eq(snap.samples, 15);
    uint64_t a_allocs = 0, a_live = 0, b_allocs = 0, b_live = 0;
    for (size_t i = 0; i < snap.nrows; i++) {
        const hs_snapshot_row_t *r = &snap.rows[i];
        cr_assert(r->stack_id < snap.nstacks);
        cr_assert_not_null(snap.stacks[r->stack_id].frames);
        if (r->size == 16) {
            a_allocs += r->allocs;
            a_live += r->live;
        } else if (r->size == 32) {
            b_allocs += r->allocs;
            b_live += r->live;
        }
    }
    cr_assert_eq(a_allocs, 10);
    cr_assert_eq(a_live, 6);
    cr_assert_eq(b_allocs, 5);
    cr_assert_eq(b_live, 5);
    hs_snapshot_free(&snap);
}

Test(sampler, realloc_forget_and_restore, .init = setup_tables)
{
    alloc_site_a(0);
    void *p = &fake_heap[0];
    uint32_t site = hs_sampler_realloc_forget(p);
    cr_assert_neq(site, HS_LIVE_NO_SITE);
    cr_assert_eq(hs_live_count(), 0);
    hs_sampler_realloc_done(p, site, 0); /* realloc failed: p is live again */
    cr_assert_eq(hs_live_count(), 1);
    site = hs_sampler_realloc_forget(p);
    hs_sampler_realloc_done(p, site, 1); /* realloc moved it: freed */
    cr_assert_eq(hs_live_count(), 0);
    cr_assert_eq(hs_sampler_realloc_forget(&fake_heap[3000]), HS_LIVE_NO_SITE);
    hs_sampler_stats_t st;
    hs_sampler_get_stats(&st);
    cr_assert_eq(st.samples, 1);
    cr_assert_eq(st.frees, 1);
}

Test(sampler, inactive_passes_through, .init = setup_tables)
{
    hs_sampler_set_active(0);
    for (int i = 0; i < 10; i++)
        alloc_site_a(i);
    cr_assert_eq(hs_live_count(), 0);
    hs_sampler_stats_t st;
    hs_sampler_get_stats(&st);
    cr_assert_eq(st.samples, 0);
}

/* Regression: a request of 2^63 bytes or more (it can only fail) used to be subtracted from the
 * countdown as a negative number, adding up to 2^63 to it: the thread then never sampled
 * again. It must take the slow path and leave a countdown that still samples. */
Test(sampler, huge_requests_never_stop_sampling, .init = setup_tables)
{
    const size_t huge[] = {SIZE_MAX, SIZE_MAX - 4096, ((size_t)1 << 63) + ((size_t)1 << 62),
                           (size_t)1 << 63, (size_t)PTRDIFF_MAX};
    hs_sampler_configure(4096, 7, 16);
    for (size_t i = 0; i < HS_ARRAY_LEN(huge); i++) {
        cr_assert(hs_sampler_charge(huge[i]), "size %zu", huge[i]);
        hs_sampler_alloc_slow(NULL, huge[i]); /* the failed request: nothing recorded */
        hs_thread_t *t = hs_thread_get();
        cr_assert_eq(t->state, HS_THREAD_ACTIVE);
        /* A fresh Exp(4096) countdown: below 4096 * 64 but with probability 1 - e^-64. */
        cr_assert(t->countdown > 0 && t->countdown < 4096 * 64, "countdown %lld",
                  (long long)t->countdown);
    }
    hs_sampler_stats_t st;
    hs_sampler_get_stats(&st);
    cr_assert_eq(st.samples, 0);
    /* And ordinary allocations are sampled again within a bounded number of bytes. */
    int sampled = 0;
    for (int i = 0; i < 4096 && !sampled; i++)
        sampled = hs_sampler_charge(1024);
    cr_assert(sampled);
}
