/*
 * estimate.c - per-allocation unbiasing of Poisson byte sampling (see estimate.h).
 */
#include "estimate.h"

#include <math.h>

double hs_estimate_prob(uint64_t size, uint64_t rate)
{
    if (rate <= 1)
        return 1.0;
    if (size == 0)
        return 0.0;
    /* -expm1(-x) keeps precision for small x = size/rate. */
    return -expm1(-(double)size / (double)rate);
}

void hs_estimate_row(uint64_t rate, uint64_t size, uint64_t count, double *objects, double *bytes)
{
    double p = hs_estimate_prob(size, rate);
    if (p <= 0.0) {
        /* Only exact mode samples zero-byte allocations; be defensive anyway. */
        *objects = (double)count;
        *bytes = 0.0;
        return;
    }
    *objects = (double)count / p;
    *bytes = (double)count * (double)size / p;
}

double hs_estimate_bytes_variance(uint64_t rate, uint64_t size, uint64_t count)
{
    double p = hs_estimate_prob(size, rate);
    if (p <= 0.0 || p >= 1.0)
        return 0.0;
    double w = (double)size / p;
    return (double)count * w * w * (1.0 - p);
}

double hs_estimate_objects_variance(uint64_t rate, uint64_t size, uint64_t count)
{
    double p = hs_estimate_prob(size, rate);
    if (p <= 0.0 || p >= 1.0)
        return 0.0;
    return (double)count * (1.0 - p) / (p * p);
}
