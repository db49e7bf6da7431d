/* slow.c - slow handler calls: counting, pausing after pause_after in a
 * row, reporting at most once per second per subscription (plus every
 * pause), and bus_sub_resume(). */
#include <errno.h>

#include "clock.h"
#include "internal.h"
#include "slow.h"

/* Reports of one subscription's slow calls are at least this far apart
 * (the first, and pauses, excepted). */
#define REPORT_INTERVAL_NS 1000000000u

/* True if a report of @sub is due now (@now_ns), claiming it: one of the
 * workers that race for it wins. relaxed: a rate limit; the report carries
 * its own data, nothing is published through the stamp. */
static bool report_due(struct bus_sub *sub, uint64_t now_ns)
{
    uint64_t last = atomic_load_explicit(&sub->slow_reported_ns, memory_order_relaxed);
    if (last && now_ns - last < REPORT_INTERVAL_NS)
        return false;
    return atomic_compare_exchange_strong_explicit(&sub->slow_reported_ns, &last,
                                                   now_ns ? now_ns : 1, memory_order_relaxed,
                                                   memory_order_relaxed);
}

/* True if this call, the pause_after'th slow one in a row, pauses @sub;
 * exactly one call pauses it (the exchange). relaxed: see slow_paused(). */
static bool pauses(struct bus_sub *sub, uint32_t streak)
{
    return sub->pause_after && streak >= sub->pause_after &&
           !atomic_exchange_explicit(&sub->paused, true, memory_order_relaxed);
}

void bus__slow_call(struct bus_topic *topic, struct bus_sub *sub, uint64_t ns)
{
    /* relaxed: statistics and a heuristic count, ordered with nothing. */
    uint64_t calls = atomic_fetch_add_explicit(&sub->slow_calls, 1, memory_order_relaxed) + 1;
    uint32_t streak = atomic_fetch_add_explicit(&sub->slow_streak, 1, memory_order_relaxed) + 1;
    bool paused = pauses(sub, streak);
    bool due = report_due(sub, clock_now_ns());
    const bus_config_t *cfg = &topic->bus->cfg;
    if (!(paused || due) || !cfg->on_slow_handler)
        return;
    bus_slow_call_t call = {.topic = topic, .sub = sub->handle, .ns = ns,
                            .slow_calls = calls, .paused = paused};
    cfg->on_slow_handler(&call, cfg->slow_handler_arg);
}

void bus__slow_skipped(struct bus_sub *sub)
{
    /* relaxed: statistics. */
    atomic_fetch_add_explicit(&sub->paused_skips, 1, memory_order_relaxed);
}

static void resume_one(const struct bus_sub *one, void *arg)
{
    (void)arg;
    /* bus__sub_each() hands out const views; the children are the
     * pattern's own, writable objects. */
    struct bus_sub *sub = (struct bus_sub *)one;
    /* relaxed: see slow_paused(); the run is a heuristic count, and a
     * slow call racing with the resume may count from 1 instead of 0. */
    atomic_store_explicit(&sub->slow_streak, 0, memory_order_relaxed);
    atomic_store_explicit(&sub->paused, false, memory_order_relaxed);
}

int bus_sub_resume(bus_sub_t *sub)
{
    if (!sub)
        return bus__fail(-EINVAL, "bus_sub_resume: sub is NULL");
    bus__sub_each(sub, resume_one, NULL);
    return 0;
}
