/* hist.h - log-linear latency histograms (HdrHistogram's idea): exact
 * buckets below 64 ns, then 32 buckets per power of two up to 2^37 ns
 * (137 s; larger values count in the last bucket). A bucket's midpoint is
 * within 1/64 (1.6%) of any value in it, so quantiles have at most that
 * relative error.
 *
 * Recording is lock-free: relaxed RMWs on the counters when several
 * workers may update them at once (a parallel or keyed topic), relaxed loads
 * and stores when one worker at a time does (an ordered topic). Reading merges nothing and locks nothing: a snapshot taken while
 * samples arrive may miss the newest ones, never tears a counter. */
#ifndef BUS_HIST_H
#define BUS_HIST_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

enum {
    HIST_SUB_BITS = 5,                          /* 32 buckets per octave */
    HIST_EXACT = 2 << HIST_SUB_BITS,            /* values below 64 ns: exact */
    HIST_MAX_BIT = 36,                          /* last octave: [2^36, 2^37) */
    HIST_BUCKETS = HIST_EXACT + (HIST_MAX_BIT - HIST_SUB_BITS) * (1 << HIST_SUB_BITS),
};

/* Buckets come in chunks of 32 (one octave, or 32 exact values), each
 * allocated when a sample first lands in it: a histogram whose samples span
 * a few octaves costs a few hundred bytes, not the 8 KiB of every bucket. */
enum { HIST_CHUNK_BITS = HIST_SUB_BITS, HIST_CHUNKS = HIST_BUCKETS >> HIST_CHUNK_BITS };

struct hist {
    _Atomic uint64_t count, sum, max;
    _Atomic uint64_t *_Atomic chunks[HIST_CHUNKS];
};

/* Records @ns. Any thread, lock-free. @shared: other threads may record
 * into @h at the same time (RMWs); else the caller is its only writer for
 * now (an ordered topic's worker), and plain loads and stores do. A sample
 * whose chunk cannot be allocated is not recorded (not counted either). */
void bus__hist_record(struct hist *h, uint64_t ns, bool shared);

/* Frees @h and its chunks (NULL is fine); nobody may record any more. */
void bus__hist_free(struct hist *h);

/* The bucket @ns falls in, and the smallest and largest values of bucket
 * @index (inclusive). */
unsigned bus__hist_bucket(uint64_t ns);
uint64_t bus__hist_bucket_low(unsigned index);
uint64_t bus__hist_bucket_high(unsigned index);

/* A histogram's counts read once, to answer several quantiles from one
 * consistent-enough view. */
struct hist_view {
    uint64_t count, sum, max;
    uint64_t buckets[HIST_BUCKETS];
};

/* Adds @h's counters to @view (zero it first; several histograms may be
 * merged into one view). */
void bus__hist_read(const struct hist *h, struct hist_view *view);

/* The value at quantile @q (0 to 1) of @view: the midpoint of the bucket
 * holding the sample of rank ceil(q * count), never above max; 0 when
 * empty. */
uint64_t bus__hist_quantile(const struct hist_view *view, double q);

#endif
