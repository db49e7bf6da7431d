/* seqlock.h - a sequence count for data with one writer and many readers
 * that must not see it half written (rates.c's samples, a worker's busy and
 * idle time). The data are atomics written and read relaxed: no data race,
 * and the count tells a reader whether what it read was consistent.
 *
 * Writer: seqlock_write_begin(); relaxed stores; seqlock_write_end().
 * Reader: do { s = seqlock_read_begin(); relaxed loads; }
 *         while (seqlock_read_retry(s)); */
#ifndef BUS_SEQLOCK_H
#define BUS_SEQLOCK_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "backoff.h"

/* Odd while the writer writes. */
typedef _Atomic uint64_t seqlock_t;

static inline void seqlock_write_begin(seqlock_t *seq)
{
    /* relaxed: only this writer stores the count. */
    uint64_t s = atomic_load_explicit(seq, memory_order_relaxed);
    atomic_store_explicit(seq, s + 1, memory_order_relaxed);
    /* release fence: a reader whose loads see a store made after this fence
     * (its acquire fence in seqlock_read_retry) sees the odd count. */
    atomic_thread_fence(memory_order_release);
}

static inline void seqlock_write_end(seqlock_t *seq)
{
    /* relaxed load: only this writer stores the count; release store: the
     * data written are visible to a reader that sees the new count. */
    uint64_t s = atomic_load_explicit(seq, memory_order_relaxed);
    atomic_store_explicit(seq, s + 1, memory_order_release);
}

static inline uint64_t seqlock_read_begin(seqlock_t *seq)
{
    for (;;) {
        /* acquire: pairs with seqlock_write_end; the loads that follow see
         * at least the data of that write. */
        uint64_t s = atomic_load_explicit(seq, memory_order_acquire);
        if (!(s & 1))
            return s;
        cpu_relax(); /* a write in progress: a few stores */
    }
}

/* True if a write overlapped the loads since seqlock_read_begin() returned
 * @begin: the reader must read again. */
static inline bool seqlock_read_retry(seqlock_t *seq, uint64_t begin)
{
    /* acquire fence: if the loads before it saw any store of a later write,
     * the relaxed load below sees that write's odd count (or later). */
    atomic_thread_fence(memory_order_acquire);
    return atomic_load_explicit(seq, memory_order_relaxed) != begin;
}

#endif
