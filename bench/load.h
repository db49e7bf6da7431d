/* load.h - the producer side of the throughput-style scenarios: P threads
 * publishing into a fixture's topics, for a number of events or seconds,
 * then a flush. Shared by throughput, churn and scale. */
#ifndef BENCH_LOAD_H
#define BENCH_LOAD_H

#include "harness.h"

struct load_spec {
    unsigned producers;
    unsigned first_topic, ntopics; /* publish to fixture topics [first, first + n) */
    unsigned burst;    /* events per call: 1 = publish, more = one batch publish */
    unsigned keys;     /* > 0: publish_keyed over this many keys (burst 1) */
    uint64_t events;   /* total over all producers; 0 = run for `seconds` */
    double seconds;
    uint32_t payload;
    bool pin;
    unsigned flushes; /* flushes after the producers (0: 1); a graph whose
                         handlers forward needs one per stage */
    /* After the flushes, inside the timed window: waits until the phase's
     * @published events reached a consumer no flush waits for (an inbox's
     * taker). Returns 0, or an error. NULL: nothing to wait for. */
    int (*settle)(void *ctx, uint64_t published);
    void *settle_ctx;
};

struct load_outcome {
    uint64_t warmup_published; /* published before the timed phase */
    uint64_t published;        /* published in the timed phase */
    double seconds; /* from the start gate to the end of the flush */
    int error;      /* first publish or flush error, or 0 */
};

/* Warms up, then publishes, waits for the producers and flushes, timed;
 * fills @out. Every event of both phases reaches the handlers. */
void load_run(const struct fixture *f, const struct load_spec *spec, struct load_outcome *out);

/* Stamps, the first 8 bytes of each payload: the producer's sequence
 * number of the event, or with keys, (seq << 8 | producer index). The timed
 * phase numbers from LOAD_TIMED_SEQ, so stamps grow across both phases. */
#define LOAD_TIMED_SEQ (UINT64_C(1) << 40)
enum { LOAD_MAX_KEYED_PRODUCERS = 256 };

/* The key of a keyed event from its stamp: each producer owns keys / producers
 * keys of its own, so every key's events come from one producer, in stamp
 * order. */
static inline uint64_t load_key_of(uint64_t stamp, unsigned producers, unsigned keys)
{
    uint64_t producer = stamp & 0xff, seq = stamp >> 8;
    return producer + producers * (seq % (keys / producers));
}

/* Events published in both phases: what the handlers must have seen. */
static inline uint64_t load_total(const struct load_outcome *out)
{
    return out->warmup_published + out->published;
}

/* Runs @spec (load_run) and returns its timed rate, events/s, or 0 on an
 * error, recorded in @r; adds its events (both phases) to *@published and
 * its time to r->seconds. */
double load_rate(const struct fixture *f, const struct load_spec *spec, uint64_t *published,
                 struct result *r);

/* The spec the command line asks for, over all of the fixture's topics. */
struct load_spec load_spec_from(const struct run_params *p, unsigned ntopics, unsigned burst);

#endif
