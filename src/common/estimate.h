/*
 * estimate.h - the sampling estimator, shared by the profiler and the CLI.
 *
 * Allocations are sampled as a Poisson process over bytes with mean `rate`: an allocation of
 * size s is sampled with probability p(s) = 1 - exp(-s/rate). Unbiasing is per allocation:
 * a sample stands for 1/p objects and s/p bytes. A row of n samples that all have size s is
 * therefore estimated as n/p objects and n*s/p bytes, with variance n * (s/p)^2 * (1 - p)
 * (each sample's Horvitz-Thompson weight squared times 1-p). rate == 1 is exact mode: every
 * allocation is sampled, p = 1, the variance is 0.
 *
 * Pure functions, no state; safe anywhere.
 */
#ifndef HS_ESTIMATE_H
#define HS_ESTIMATE_H

#include <stdint.h>

/* Probability that an allocation of `size` bytes is sampled at this rate. */
double hs_estimate_prob(uint64_t size, uint64_t rate);

/* Unbiased estimates for `count` samples of `size` bytes each. */
void hs_estimate_row(uint64_t rate, uint64_t size, uint64_t count, double *objects, double *bytes);

/* Variance of the bytes estimate of that row (square root = its standard error). */
double hs_estimate_bytes_variance(uint64_t rate, uint64_t size, uint64_t count);

/* Variance of the objects estimate of that row: count * (1/p)^2 * (1 - p). */
double hs_estimate_objects_variance(uint64_t rate, uint64_t size, uint64_t count);

#endif
