/* counter.c - shard assignment for sharded counters. */
#include "counter.h"

unsigned counter_shard_of_thread(void)
{
    static _Atomic unsigned next_shard;
    static _Thread_local unsigned shard_plus_one;
    if (!shard_plus_one)
        /* relaxed: only uniqueness matters, which the RMW gives. */
        shard_plus_one = atomic_fetch_add_explicit(&next_shard, 1, memory_order_relaxed) %
                             COUNTER_SHARDS + 1;
    return shard_plus_one - 1;
}
