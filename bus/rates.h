/* rates.h - published/s and delivered/s of each topic over the last 1 s and
 * 10 s (bus_topic_metrics()), from counters the bus samples.
 *
 * One sampler per bus, not a thread per topic: a timer entry on the bus's
 * timer thread (timer.h) that fires every RATES_PERIOD_NS, walks the topics
 * and appends (time, published, delivered) to each topic's ring of
 * samples. It starts with the first metrics read of the bus, so a bus
 * nobody reads metrics from costs no wake-up, and stops with the timer
 * thread at shutdown. A rate compares the counters read now with the
 * newest sample at least a window old. */
#ifndef BUS_RATES_H
#define BUS_RATES_H

#include <stdatomic.h>
#include <stdint.h>

#include "bus.h"
#include "seqlock.h"

enum {
    RATES_PERIOD_NS = 100000000, /* 100 ms: a 1 s window is 1 to 1.1 s */
    RATES_SAMPLES = 128          /* 12.8 s of history: enough for 10 s */
};

struct rate_sample {
    _Atomic uint64_t ns, published, delivered;
};

/* Written by the sampler only, read by any metrics reader; relaxed atomics
 * under the seqlock. */
struct rates {
    seqlock_t seq;
    _Atomic uint64_t taken; /* samples appended; the newest is (taken - 1) % RATES_SAMPLES */
    struct rate_sample samples[RATES_SAMPLES];
};

struct bus;
struct bus_topic;

/* Starts the bus's sampler unless it runs (any thread). */
void bus__rates_start(struct bus *bus);
/* Sets @out's rates from @now (@topic's counters read at @now_ns). */
void bus__rates_read(const struct bus_topic *topic, const bus_topic_stats_t *now,
                     uint64_t now_ns, bus_topic_metrics_t *out);
/* Frees @topic's samples (with the topic). */
void bus__rates_free(struct bus_topic *topic);

#endif
