/* rates.c - the bus's sampler of topic counters and the rates computed from
 * the samples (rates.h). */
#include <stddef.h>
#include <stdlib.h>

#include "clock.h"
#include "internal.h"
#include "rates.h"

/* The sampler's work on one topic, on the timer thread: the only writer of
 * the topic's samples, which it allocates at the first one. */
static int sample_topic(struct bus_topic *t, void *arg)
{
    uint64_t now_ns = *(const uint64_t *)arg;
    /* relaxed: the sampler is the only thread that stores it. */
    struct rates *r = atomic_load_explicit(&t->rates, memory_order_relaxed);
    if (!r) {
        r = calloc(1, sizeof(*r));
        if (!r)
            return 0; /* no rates for this topic until memory is found */
        /* release: readers (acquire in bus__rates_read) see the zeroed
         * samples. */
        atomic_store_explicit(&t->rates, r, memory_order_release);
    }
    bus_topic_stats_t st;
    bus_topic_stats(t, &st);
    /* relaxed, all: the seqlock orders them for readers. */
    uint64_t taken = atomic_load_explicit(&r->taken, memory_order_relaxed);
    struct rate_sample *s = &r->samples[taken % RATES_SAMPLES];
    seqlock_write_begin(&r->seq);
    atomic_store_explicit(&s->ns, now_ns, memory_order_relaxed);
    atomic_store_explicit(&s->published, st.published, memory_order_relaxed);
    atomic_store_explicit(&s->delivered, st.delivered, memory_order_relaxed);
    atomic_store_explicit(&r->taken, taken + 1, memory_order_relaxed);
    seqlock_write_end(&r->seq);
    return 0;
}

static void arm(struct bus *bus, uint64_t deadline_ns);

/* The timer entry firing: samples every topic, then arms the next tick. */
static void tick(struct timer_entry *e)
{
    struct bus *bus = (struct bus *)((char *)e - offsetof(struct bus, rates_tick));
    uint64_t now_ns = clock_now_ns();
    bus__topics_walk(bus, false, sample_topic, &now_ns);
    /* Ticks keep their cadence; one that came late does not cause a burst. */
    uint64_t next = e->deadline_ns + RATES_PERIOD_NS;
    arm(bus, next > now_ns ? next : now_ns + RATES_PERIOD_NS);
}

/* Arms the sampler's entry; when that fails (shutdown, no memory), the
 * sampler stops and the next metrics read may start it again. */
static void arm(struct bus *bus, uint64_t deadline_ns)
{
    bus__timer_entry_init(&bus->rates_tick, deadline_ns, tick);
    if (bus__timer_reserve(&bus->timers) == 0 && bus__timer_arm(&bus->timers, &bus->rates_tick))
        return;
    /* release: our uses of the entry happen before the next starter's
     * (its acquire CAS). */
    atomic_store_explicit(&bus->rates_on, false, memory_order_release);
}

void bus__rates_start(struct bus *bus)
{
    /* relaxed: a quick look; the CAS decides. */
    if (atomic_load_explicit(&bus->rates_on, memory_order_relaxed))
        return;
    bool off = false;
    /* acquire: pairs with the release in arm, when a sampler stopped. */
    if (atomic_compare_exchange_strong_explicit(&bus->rates_on, &off, true,
                                                memory_order_acquire, memory_order_relaxed))
        arm(bus, clock_now_ns()); /* the first sample at once */
}

/* The sample a rate over a window starts from: the newest one at least
 * the window old, else the oldest one kept (the history there is) if it is
 * a period old: a sample taken a moment ago would make a burst of one
 * event look like a rate. */
struct origin {
    uint64_t ns, published, delivered;
};

static void find_origins(struct rates *r, uint64_t now_ns, struct origin *second,
                         struct origin *ten)
{
    static const uint64_t windows[2] = {1000000000u, 10000000000u};
    struct origin *origins[2] = {second, ten};
    uint64_t s;
    do {
        s = seqlock_read_begin(&r->seq);
        /* relaxed, all: seqlock_read_retry checks they belong together. */
        uint64_t taken = atomic_load_explicit(&r->taken, memory_order_relaxed);
        uint64_t oldest = taken > RATES_SAMPLES ? taken - RATES_SAMPLES : 0;
        for (int w = 0; w < 2; w++) {
            *origins[w] = (struct origin){0};
            for (uint64_t i = taken; i > oldest;) {
                struct rate_sample *x = &r->samples[--i % RATES_SAMPLES];
                uint64_t ns = atomic_load_explicit(&x->ns, memory_order_relaxed);
                uint64_t age = ns <= now_ns ? now_ns - ns : 0;
                if (age < windows[w] && !(i == oldest && age >= RATES_PERIOD_NS))
                    continue; /* too young: an older one may do */
                origins[w]->ns = ns;
                origins[w]->published = atomic_load_explicit(&x->published, memory_order_relaxed);
                origins[w]->delivered = atomic_load_explicit(&x->delivered, memory_order_relaxed);
                break;
            }
        }
    } while (seqlock_read_retry(&r->seq, s));
}

/* Events per second from @from to @to over @ns; 0 without a span. */
static double per_second(uint64_t from, uint64_t to, uint64_t ns)
{
    return ns && to > from ? (double)(to - from) * 1e9 / (double)ns : 0.0;
}

void bus__rates_read(const struct bus_topic *topic, const bus_topic_stats_t *now,
                     uint64_t now_ns, bus_topic_metrics_t *out)
{
    /* acquire: pairs with the sampler's release; the samples are zeroed. */
    struct rates *r = atomic_load_explicit(&((struct bus_topic *)topic)->rates,
                                           memory_order_acquire);
    if (!r)
        return;
    struct origin second, ten;
    find_origins(r, now_ns, &second, &ten);
    if (second.ns) {
        out->publish_rate_1s = per_second(second.published, now->published, now_ns - second.ns);
        out->deliver_rate_1s = per_second(second.delivered, now->delivered, now_ns - second.ns);
    }
    if (ten.ns) {
        out->publish_rate_10s = per_second(ten.published, now->published, now_ns - ten.ns);
        out->deliver_rate_10s = per_second(ten.delivered, now->delivered, now_ns - ten.ns);
    }
}

void bus__rates_free(struct bus_topic *topic)
{
    /* relaxed: the topic is being freed; nobody samples or reads it. */
    free(atomic_load_explicit(&topic->rates, memory_order_relaxed));
}
