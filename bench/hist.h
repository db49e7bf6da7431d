/* hist.h - a log-linear latency histogram (HdrHistogram's layout).
 *
 * Values below 128 have a bucket each; above, every power of two is split
 * into 128 equal buckets, so a bucket is at most 1/128 of its values wide
 * and a reported value (the bucket's midpoint) is within 0.4% of the true
 * one, well inside the 1% we promise. Recording is one relaxed atomic add,
 * so workers may record concurrently. */
#ifndef BENCH_HIST_H
#define BENCH_HIST_H

#include <stdatomic.h>
#include <stdint.h>

enum {
    HIST_SUB_BITS = 7,
    HIST_SUB = 1 << HIST_SUB_BITS,
    HIST_BUCKETS = HIST_SUB + (64 - HIST_SUB_BITS) * HIST_SUB
};

struct hist {
    _Atomic uint64_t count[HIST_BUCKETS];
    _Atomic uint64_t total;
    _Atomic uint64_t max;
};

/* Allocated zeroed; free with free(). */
struct hist *hist_new(void);
void hist_record(struct hist *h, uint64_t value);
uint64_t hist_total(const struct hist *h);
/* The value at quantile @q (0..1), within 1%; exact max for q >= 1. */
double hist_quantile(const struct hist *h, double q);

/* The largest relative error of a reported value over a sweep of values:
 * must stay under 0.01 (checked by --quick). */
double hist_self_check(void);

/* Exposed for the self-check. */
unsigned hist_bucket_of(uint64_t value);
double hist_bucket_mid(unsigned bucket);

#endif
