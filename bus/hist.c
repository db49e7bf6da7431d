/* hist.c - log-linear latency histograms (hist.h). */
#include <stdlib.h>

#include "counter.h"
#include "hist.h"

unsigned bus__hist_bucket(uint64_t ns)
{
    if (ns < HIST_EXACT)
        return (unsigned)ns;
    unsigned msb = 63u - (unsigned)__builtin_clzll(ns);
    if (msb > HIST_MAX_BIT)
        return HIST_BUCKETS - 1;
    unsigned shift = msb - HIST_SUB_BITS;
    /* ns >> shift is in [32, 64): the sub-bucket plus 32. */
    return HIST_EXACT + (msb - HIST_SUB_BITS - 1) * (1u << HIST_SUB_BITS) +
           (unsigned)(ns >> shift) - (1u << HIST_SUB_BITS);
}

uint64_t bus__hist_bucket_low(unsigned index)
{
    if (index < HIST_EXACT)
        return index;
    unsigned octave = (index - HIST_EXACT) >> HIST_SUB_BITS; /* 0: msb 6 */
    unsigned sub = (index - HIST_EXACT) & ((1u << HIST_SUB_BITS) - 1);
    unsigned shift = octave + 1;
    return ((uint64_t)(sub + (1u << HIST_SUB_BITS))) << shift;
}

uint64_t bus__hist_bucket_high(unsigned index)
{
    if (index == HIST_BUCKETS - 1)
        return UINT64_MAX; /* the last bucket also holds the overflow */
    return bus__hist_bucket_low(index + 1) - 1;
}

/* The chunk in @slot, allocated by the first recorder that needs it. */
static _Atomic uint64_t *chunk_at(_Atomic uint64_t *_Atomic *slot)
{
    /* acquire: pairs with the release of the CAS below; the zeroed chunk is
     * visible before it is added to. */
    _Atomic uint64_t *chunk = atomic_load_explicit(slot, memory_order_acquire);
    if (chunk)
        return chunk;
    _Atomic uint64_t *fresh = calloc(1u << HIST_CHUNK_BITS, sizeof(*fresh));
    if (!fresh)
        return NULL;
    /* release: publishes the zeroed chunk; acquire on failure, as above,
     * for the one another recorder installed. */
    if (atomic_compare_exchange_strong_explicit(slot, &chunk, fresh, memory_order_acq_rel,
                                                memory_order_acquire))
        return fresh;
    free(fresh);
    return chunk;
}

void bus__hist_record(struct hist *h, uint64_t ns, bool shared)
{
    unsigned index = bus__hist_bucket(ns);
    _Atomic uint64_t *chunk = chunk_at(&h->chunks[index >> HIST_CHUNK_BITS]);
    if (!chunk)
        return;
    counter_add(&chunk[index & ((1u << HIST_CHUNK_BITS) - 1)], 1, shared);
    counter_add(&h->count, 1, shared);
    counter_add(&h->sum, ns, shared);
    /* relaxed: as above; the CAS only keeps the larger value. */
    uint64_t max = atomic_load_explicit(&h->max, memory_order_relaxed);
    while (ns > max && !atomic_compare_exchange_weak_explicit(&h->max, &max, ns,
                                                              memory_order_relaxed,
                                                              memory_order_relaxed))
        ;
}

void bus__hist_free(struct hist *h)
{
    if (!h)
        return;
    for (unsigned i = 0; i < HIST_CHUNKS; i++)
        /* relaxed: the caller is the last user. */
        free(atomic_load_explicit(&h->chunks[i], memory_order_relaxed));
    free(h);
}

void bus__hist_read(const struct hist *h, struct hist_view *view)
{
    /* relaxed: see bus__hist_record. The buckets are summed for the count,
     * so that quantiles see exactly the samples counted in them. acquire on
     * a chunk pointer: as in chunk_at. */
    uint64_t count = 0;
    for (unsigned c = 0; c < HIST_CHUNKS; c++) {
        _Atomic uint64_t *chunk = atomic_load_explicit(
            (_Atomic uint64_t *_Atomic *)&h->chunks[c], memory_order_acquire);
        for (unsigned i = 0; chunk && i < (1u << HIST_CHUNK_BITS); i++) {
            uint64_t n = atomic_load_explicit(&chunk[i], memory_order_relaxed);
            view->buckets[(c << HIST_CHUNK_BITS) + i] += n;
            count += n;
        }
    }
    view->count += count;
    view->sum += atomic_load_explicit(&h->sum, memory_order_relaxed);
    uint64_t max = atomic_load_explicit(&h->max, memory_order_relaxed);
    if (max > view->max)
        view->max = max;
}

uint64_t bus__hist_quantile(const struct hist_view *view, double q)
{
    if (view->count == 0)
        return 0;
    double want = q * (double)view->count;
    uint64_t rank = (uint64_t)want; /* ceil, without libm */
    if ((double)rank < want)
        rank++;
    if (rank == 0)
        rank = 1;
    uint64_t seen = 0;
    for (unsigned i = 0; i < HIST_BUCKETS; i++) {
        seen += view->buckets[i];
        if (seen >= rank) {
            if (i == HIST_BUCKETS - 1)
                return view->max; /* the last bucket holds the overflow */
            uint64_t low = bus__hist_bucket_low(i);
            uint64_t mid = i < HIST_EXACT ? low : low + (bus__hist_bucket_low(i + 1) - low) / 2;
            return mid < view->max ? mid : view->max;
        }
    }
    return view->max;
}
