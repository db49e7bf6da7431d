/* counter.h - an event counter that many threads add to without sharing a
 * cache line: each thread adds to its own shard, readers sum the shards.
 * The peers use it to implement flush (published vs handled) without adding a
 * contended atomic to their hot path that the real queue would not have. */
#ifndef BENCH_COUNTER_H
#define BENCH_COUNTER_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stdint.h>

enum { COUNTER_SHARDS = 64 };

struct sharded_counter {
    struct {
        alignas(64) _Atomic uint64_t value;
    } shard[COUNTER_SHARDS];
};

/* This thread's shard, assigned round-robin on first use. */
unsigned counter_shard_of_thread(void);

/* release: what the caller did before (e.g. run a handler) happens before
 * a reader's acquire sum that sees the addition. */
static inline void counter_add(struct sharded_counter *c, uint64_t n)
{
    atomic_fetch_add_explicit(&c->shard[counter_shard_of_thread()].value, n,
                              memory_order_release);
}

/* acquire: pairs with counter_add's release. */
static inline uint64_t counter_sum(struct sharded_counter *c)
{
    uint64_t sum = 0;
    for (unsigned i = 0; i < COUNTER_SHARDS; i++)
        sum += atomic_load_explicit(&c->shard[i].value, memory_order_acquire);
    return sum;
}

#endif
