/* slow.h - slow handler calls (bus_config_t.slow_handler_ns): the check a
 * worker makes after each call it timed, and the skip of a paused
 * subscription. With the threshold on, every event is timed (timing.h), so
 * every call is checked; with it off, no call is, and none of this runs. */
#ifndef BUS_SLOW_H
#define BUS_SLOW_H

#include <stdbool.h>
#include <stdint.h>

#include "internal.h"

/* The slow path of slow_check(): counts the call, pauses @sub after
 * pause_after in a row, and reports (slow.c). */
void bus__slow_call(struct bus_topic *topic, struct bus_sub *sub, uint64_t ns);

/* Counts an event that paused @sub skipped. */
void bus__slow_skipped(struct bus_sub *sub);

/* After a call of @sub that ran @ns: true if it was slow (and the slow path
 * ran, which the next call's time must not include). */
static inline bool slow_check(struct bus_topic *topic, struct bus_sub *sub, uint64_t ns,
                              uint64_t threshold_ns)
{
    if (__builtin_expect(ns > threshold_ns, 0)) {
        bus__slow_call(topic, sub, ns);
        return true;
    }
    /* A fast call ends a run of slow ones. relaxed: a heuristic count,
     * ordered with nothing; the load keeps a fast call from writing the
     * shared line while there is no run to end. */
    if (__builtin_expect(atomic_load_explicit(&sub->slow_streak, memory_order_relaxed) != 0, 0))
        atomic_store_explicit(&sub->slow_streak, 0, memory_order_relaxed);
    return false;
}

/* True if @sub is paused: its event is skipped. relaxed: the flag publishes
 * no data; a worker that sees a pause or a resume late makes or skips one
 * more call, which the contract allows. */
static inline bool slow_paused(const struct bus_sub *sub)
{
    return atomic_load_explicit(&sub->paused, memory_order_relaxed);
}

#endif
