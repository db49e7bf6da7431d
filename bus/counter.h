/* counter.h - adding to a statistics counter. */
#ifndef BUS_COUNTER_H
#define BUS_COUNTER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* Adds @n to @counter. @shared: several threads may add at once (a parallel
 * or keyed topic's workers): an RMW. Else the caller is the only writer for
 * now (an ordered topic's worker, handed the topic through `scheduled`): a
 * relaxed load and store, no locked instruction. relaxed: statistics,
 * ordered with nothing; readers see each counter whole. */
static inline void counter_add(_Atomic uint64_t *counter, uint64_t n, bool shared)
{
    if (shared)
        atomic_fetch_add_explicit(counter, n, memory_order_relaxed);
    else
        atomic_store_explicit(counter,
                              atomic_load_explicit(counter, memory_order_relaxed) + n,
                              memory_order_relaxed);
}

#endif
