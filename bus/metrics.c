/* metrics.c - latency of sampled events (timing.h) and the snapshots of
 * bus_topic_metrics() and bus_sub_metrics(). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "internal.h"
#include "timing.h"

_Thread_local uint64_t bus__timing_countdown __attribute__((tls_model("initial-exec")));
/* With the slow handler check on: events until the next one recorded in the
 * histograms (the countdown above then fires at every event). */
static _Thread_local uint64_t sample_countdown;

static uint64_t sample_period(const struct bus *bus)
{
    uint32_t every = bus->cfg.timing_sample;
    return every ? every : UINT64_MAX;
}

void bus__timing_start(const struct bus *bus)
{
    sample_countdown = sample_period(bus);
    bus__timing_countdown = bus->cfg.slow_handler_ns ? 1 : sample_period(bus);
}

unsigned bus__timing_rearm(const struct bus *bus)
{
    if (!bus->cfg.slow_handler_ns) {
        bus__timing_countdown = sample_period(bus);
        return TIMING_RECORD;
    }
    bus__timing_countdown = 1;
    if (--sample_countdown != 0)
        return TIMING_SLOW;
    sample_countdown = sample_period(bus);
    return TIMING_SLOW | TIMING_RECORD;
}

/* The histogram in @slot, allocated by the first worker that needs it. */
static struct hist *hist_at(struct hist *_Atomic *slot)
{
    /* acquire: pairs with the release of the CAS below; the zeroed
     * histogram is visible before its counters are added to. */
    struct hist *h = atomic_load_explicit(slot, memory_order_acquire);
    if (h)
        return h;
    struct hist *fresh = calloc(1, sizeof(*fresh));
    if (!fresh)
        return NULL;
    /* release: publishes the zeroed histogram; acquire on failure: as the
     * load above, for the one another worker installed. */
    if (atomic_compare_exchange_strong_explicit(slot, &h, fresh, memory_order_acq_rel,
                                                memory_order_acquire))
        return fresh;
    free(fresh);
    return h;
}

/* Several workers record into a parallel or keyed topic's histograms, and
 * its subscriptions', at once; one at a time into an ordered topic's (the
 * hand-over through `scheduled` orders them, as for its counters). */
static void record(struct hist *_Atomic *slot, const struct bus_topic *topic, uint64_t ns)
{
    struct hist *h = hist_at(slot);
    if (h)
        bus__hist_record(h, ns, topic->cfg.flags & (BUS_TOPIC_PARALLEL | BUS_TOPIC_KEYED));
}

void bus__timing_wait(struct bus_topic *topic, uint64_t publish_ns, uint64_t start_ns)
{
    /* Both stamps come from CLOCK_MONOTONIC, across threads: never
     * backwards, but keep a stale stamp from wrapping. */
    record(&topic->wait_time, topic, start_ns > publish_ns ? start_ns - publish_ns : 0);
}

void bus__timing_call(struct bus_topic *topic, struct bus_sub *sub, uint64_t ns)
{
    record(&topic->call_time, topic, ns);
    record(&sub->call_time, topic, ns);
}

/* Adds the histogram in @slot, if any, to @view. */
static void read_hist(struct hist *_Atomic const *slot, struct hist_view *view)
{
    /* acquire: as in hist_at. */
    const struct hist *h = atomic_load_explicit((struct hist *_Atomic *)slot,
                                                memory_order_acquire);
    if (h)
        bus__hist_read(h, view);
}

static void latency_of(const struct hist_view *view, bus_latency_t *out)
{
    out->count = view->count;
    out->sum_ns = view->sum;
    out->p50_ns = bus__hist_quantile(view, 0.5);
    out->p90_ns = bus__hist_quantile(view, 0.9);
    out->p99_ns = bus__hist_quantile(view, 0.99);
    out->p999_ns = bus__hist_quantile(view, 0.999);
    out->max_ns = view->max;
}

/* How long the oldest event of @t's ring (of its lanes, keyed) has waited
 * at @now_ns; 0 when none waits. */
static uint64_t oldest_age(const struct bus_topic *t, uint64_t now_ns)
{
    uint64_t oldest = ring_oldest_stamp(&t->ring);
    uint64_t age = oldest && now_ns > oldest ? now_ns - oldest : 0;
    for (uint32_t i = 0; i < t->nlanes; i++) {
        uint64_t lane = oldest_age(t->lanes[i], now_ns);
        age = lane > age ? lane : age;
    }
    return age;
}

void bus__topic_metrics_now(const struct bus_topic *t, uint64_t now_ns,
                            bus_topic_metrics_t *out)
{
    memset(out, 0, sizeof(*out));
    bus_topic_stats(t, &out->stats);
    bus__rates_read(t, &out->stats, now_ns, out);
    out->oldest_age_ns = oldest_age(t, now_ns);
}

int bus_topic_metrics(const bus_topic_t *topic, bus_topic_metrics_t *out)
{
    if (!topic || !out)
        return bus__fail(-EINVAL, "bus_topic_metrics: topic or out is NULL");
    /* 8 KiB: on the stack, so that a snapshot cannot fail for memory. */
    struct hist_view view = {0};
    bus__rates_start(topic->bus);
    bus__topic_metrics_now(topic, clock_now_ns(), out);
    read_hist(&topic->wait_time, &view);
    latency_of(&view, &out->wait);
    memset(&view, 0, sizeof(view));
    read_hist(&topic->call_time, &view);
    latency_of(&view, &out->handler);
    return 0;
}

/* What bus_sub_metrics() sums over a pattern subscription's topics. */
struct sub_sums {
    struct hist_view view;
    bus_sub_metrics_t *out;
};

static void add_sub(const struct bus_sub *sub, void *arg)
{
    struct sub_sums *sums = arg;
    read_hist(&sub->call_time, &sums->view);
    /* relaxed: statistics, a near snapshot. */
    sums->out->slow_calls += atomic_load_explicit(&sub->slow_calls, memory_order_relaxed);
    sums->out->paused_skips += atomic_load_explicit(&sub->paused_skips, memory_order_relaxed);
    sums->out->paused |= atomic_load_explicit(&sub->paused, memory_order_relaxed);
}

int bus_sub_metrics(const bus_sub_t *sub, bus_sub_metrics_t *out)
{
    if (!sub || !out)
        return bus__fail(-EINVAL, "bus_sub_metrics: sub or out is NULL");
    struct sub_sums sums = {.out = out}; /* the view: as in bus_topic_metrics */
    memset(out, 0, sizeof(*out));
    bus_sub_stats(sub, &out->stats);
    bus__sub_each(sub, add_sub, &sums);
    latency_of(&sums.view, &out->handler);
    return 0;
}
