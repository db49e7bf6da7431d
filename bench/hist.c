/* hist.c - log-linear histogram. */
#include "hist.h"

#include <math.h>
#include <stdlib.h>

struct hist *hist_new(void)
{
    return calloc(1, sizeof(struct hist));
}

unsigned hist_bucket_of(uint64_t value)
{
    if (value < HIST_SUB)
        return (unsigned)value;
    unsigned msb = 63u - (unsigned)__builtin_clzll(value);
    unsigned shift = msb - HIST_SUB_BITS;
    /* The HIST_SUB_BITS bits below the top bit pick the sub-bucket. */
    unsigned sub = (unsigned)(value >> shift) & (HIST_SUB - 1);
    return HIST_SUB + shift * HIST_SUB + sub;
}

double hist_bucket_mid(unsigned bucket)
{
    if (bucket < HIST_SUB)
        return bucket;
    unsigned shift = (bucket - HIST_SUB) / HIST_SUB;
    unsigned sub = (bucket - HIST_SUB) % HIST_SUB;
    double low = ldexp((double)(HIST_SUB + sub), (int)shift);
    return low + ldexp(1.0, (int)shift) / 2;
}

void hist_record(struct hist *h, uint64_t value)
{
    /* relaxed: counts read after the recording threads are joined or
     * flushed, which orders them. */
    atomic_fetch_add_explicit(&h->count[hist_bucket_of(value)], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->total, 1, memory_order_relaxed);
    uint64_t seen = atomic_load_explicit(&h->max, memory_order_relaxed);
    while (value > seen &&
           !atomic_compare_exchange_weak_explicit(&h->max, &seen, value, memory_order_relaxed,
                                                  memory_order_relaxed))
        ;
}

uint64_t hist_total(const struct hist *h)
{
    return atomic_load_explicit(&h->total, memory_order_relaxed);
}

double hist_quantile(const struct hist *h, double q)
{
    uint64_t total = hist_total(h);
    double max = (double)atomic_load_explicit(&h->max, memory_order_relaxed);
    if (total == 0)
        return 0;
    if (q >= 1)
        return max;
    /* The smallest value with at least ceil(q * total) values at or below. */
    uint64_t rank = (uint64_t)ceil(q * (double)total);
    if (rank == 0)
        rank = 1;
    uint64_t seen = 0;
    for (unsigned b = 0; b < HIST_BUCKETS; b++) {
        seen += atomic_load_explicit(&h->count[b], memory_order_relaxed);
        if (seen >= rank) {
            double mid = hist_bucket_mid(b);
            return mid < max ? mid : max;
        }
    }
    return max;
}

double hist_self_check(void)
{
    double worst = 0;
    /* Every value up to 2^16, then a geometric sweep to 2^62. */
    for (uint64_t v = 1; v < (UINT64_C(1) << 62); v = v < 65536 ? v + 1 : v + v / 977 + 1) {
        double err = fabs(hist_bucket_mid(hist_bucket_of(v)) - (double)v) / (double)v;
        if (err > worst)
            worst = err;
    }
    return worst;
}
