/* scn_patterns.c - the delivery patterns, each beside its own baseline
 * measured in the same run on the same system:
 *  - request-reply: round trip of a blocking request to a responder that
 *    echoes the payload (compare latency-pingpong, the same trip built from
 *    two topics and a spinning wait);
 *  - queue-group: throughput of a parallel topic whose events go to one of
 *    2 group members, vs the same topic with 1 plain subscriber;
 *  - keyed: throughput of a keyed topic with 1,000 keys, vs a parallel topic
 *    fed the same keyed publishes (the key is ignored there); the handler
 *    checks per-key order, which the keyed topic must keep. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hist.h"
#include "load.h"
#include "scenarios.h"

enum { GROUP_MEMBERS = 2, KEYS = 1000 };

void scenario_request_reply(const struct sut_ops *ops, const struct run_params *p,
                            struct result *r)
{
    struct fixture f;
    int rc = fixture_create(&f, ops, p, 2);
    struct sut_topic_config cfg = busy_topic_config(p, false);
    if (rc == 0)
        rc = fixture_open_topics(&f, "rpc", 1, &cfg);
    if (rc == 0 && (rc = ops->subscribe_echo(f.sys, f.topics[0], &f.subs[0])) == 0)
        f.nsubs = 1;
    struct hist *h = hist_new();
    unsigned char *request = calloc(2, cfg.max_payload);
    if (rc == 0 && !(h && request))
        rc = -ENOMEM;
    unsigned char *reply = request + cfg.max_payload;
    uint64_t asked = 0, answered = 0;
    if (p->pin)
        pin_thread(0);
    uint64_t start = now_ns();
    struct round_trips trips = round_trips_plan(p, true);
    for (uint64_t seq = 1; rc == 0 && round_trips_more(&trips, seq); seq++) {
        memcpy(request, &seq, sizeof(seq));
        uint64_t t0 = now_ns();
        asked++;
        rc = ops->request(f.sys, f.topics[0], request, cfg.max_payload, reply, cfg.max_payload);
        uint64_t t1 = now_ns();
        if (rc)
            break;
        if (memcmp(reply, request, cfg.max_payload) != 0) {
            result_fail(r, "reply %llu is not its request's echo", (unsigned long long)seq);
            break;
        }
        answered++;
        if (seq > trips.warmup)
            hist_record(h, t1 - t0);
    }
    r->seconds = (double)(now_ns() - start) / 1e9;
    if (rc == 0)
        rc = ops->flush(f.sys);
    if (rc)
        result_fail(r, "setup/request/flush: %d", rc);
    result_check_counts(r, asked, answered);
    r->published = answered;
    if (h)
        record_latency(r, h);
    result_extra(r, "round_trips_per_s", (double)answered / r->seconds);
    fixture_destroy(&f);
    free(request);
    free(h);
}

/* Runs the command line's load on fixture topic @topic alone; returns its
 * rate (0 on error, recorded in @r) and adds its events to *@published. */
static double load_one_topic(const struct fixture *f, const struct run_params *p, unsigned topic,
                             unsigned keys, uint64_t *published, struct result *r)
{
    struct load_spec spec = load_spec_from(p, 1, 1);
    spec.first_topic = topic;
    spec.keys = keys;
    return load_rate(f, &spec, published, r);
}

void scenario_queue_group(const struct sut_ops *ops, const struct run_params *p,
                          struct result *r)
{
    struct fixture f;
    struct sink *sinks = aligned_alloc(64, sizeof(*sinks) * (1 + GROUP_MEMBERS));
    int rc = sinks ? fixture_create(&f, ops, p, 3) : -ENOMEM;
    if (rc) {
        free(sinks);
        result_fail(r, "create: %d", rc);
        return;
    }
    /* Topic 0: one plain subscriber (sinks[0]); topic 1: the group. */
    struct sut_topic_config cfg = busy_topic_config(p, true);
    rc = fixture_open_topics(&f, "group", 2, &cfg);
    for (unsigned i = 0; i <= GROUP_MEMBERS; i++)
        atomic_init(&sinks[i].count, 0);
    if (rc == 0)
        rc = fixture_subscribe(&f, f.topics[0], sink_count, &sinks[0]);
    for (unsigned i = 1; rc == 0 && i <= GROUP_MEMBERS; i++) {
        rc = ops->subscribe_group(f.sys, f.topics[1], "members", sink_count, &sinks[i],
                                  &f.subs[f.nsubs]);
        f.nsubs += rc == 0;
    }
    if (rc) {
        result_fail(r, "setup: %d", rc);
    } else {
        uint64_t alone = 0, grouped = 0;
        double one_sub_rate = load_one_topic(&f, p, 0, 0, &alone, r);
        r->seconds = 0;
        r->rate = load_one_topic(&f, p, 1, 0, &grouped, r);
        uint64_t member_calls = 0, fewest = UINT64_MAX;
        for (unsigned i = 1; i <= GROUP_MEMBERS; i++) {
            uint64_t n = sink_read(&sinks[i]);
            member_calls += n;
            fewest = n < fewest ? n : fewest;
        }
        /* Exactly once: the members' calls add up to the events, no more. */
        result_check_counts(r, alone + grouped, sink_read(&sinks[0]) + member_calls);
        r->published = alone + grouped;
        result_extra(r, "one_sub_rate", one_sub_rate);
        result_extra(r, "ratio", one_sub_rate > 0 ? r->rate / one_sub_rate : 0);
        result_extra(r, "least_member_share", grouped ? (double)fewest / (double)grouped : 0);
    }
    fixture_destroy(&f);
    free(sinks);
}

/* Handler state of the keyed scenario: the last stamp seen per key. */
struct key_order {
    unsigned producers;
    _Atomic uint64_t *last_plus_one; /* per key; 0 = none yet */
    alignas(64) _Atomic uint64_t out_of_order;
    struct sink handled;
};

static void check_key_order(void *ctx, const void *data, size_t size)
{
    struct key_order *ko = ctx;
    uint64_t stamp;
    memcpy(&stamp, data, sizeof(stamp));
    uint64_t key = load_key_of(stamp, ko->producers, KEYS);
    /* relaxed: on a keyed topic the bus orders the calls of one key (each
     * happens before the next); on a parallel topic the count is only shown. */
    uint64_t before = atomic_exchange_explicit(&ko->last_plus_one[key], stamp + 1,
                                               memory_order_relaxed);
    if (before > stamp)
        atomic_fetch_add_explicit(&ko->out_of_order, 1, memory_order_relaxed);
    sink_count(&ko->handled, data, size);
}

static struct key_order *key_order_new(unsigned producers)
{
    struct key_order *ko = aligned_alloc(64, sizeof(*ko));
    if (!ko)
        return NULL;
    memset(ko, 0, sizeof(*ko));
    ko->producers = producers;
    ko->last_plus_one = calloc(KEYS, sizeof(*ko->last_plus_one));
    if (!ko->last_plus_one) {
        free(ko);
        return NULL;
    }
    return ko;
}

static void key_order_free(struct key_order *ko)
{
    if (ko)
        free(ko->last_plus_one);
    free(ko);
}

void scenario_keyed(const struct sut_ops *ops, const struct run_params *p, struct result *r)
{
    /* Keys are split among producers: at most 256 producers (the stamp's
     * low byte), which leaves each of them KEYS / 256 >= 1 keys. */
    _Static_assert((int)KEYS >= (int)LOAD_MAX_KEYED_PRODUCERS, "every producer needs a key");
    if (p->payload < sizeof(uint64_t) || p->producers > LOAD_MAX_KEYED_PRODUCERS) {
        result_fail(r, "needs payload >= 8 bytes and at most %d producers",
                    LOAD_MAX_KEYED_PRODUCERS);
        return;
    }
    struct fixture f;
    /* [0] on the parallel topic, [1] on the keyed one. */
    struct key_order *orders[2] = {key_order_new(p->producers), key_order_new(p->producers)};
    /* Room for the hidden lanes of a keyed topic (the bus: up to 16). */
    int rc = orders[0] && orders[1] ? fixture_create(&f, ops, p, 64) : -ENOMEM;
    if (rc) {
        key_order_free(orders[0]);
        key_order_free(orders[1]);
        result_fail(r, "create: %d", rc);
        return;
    }
    struct sut_topic_config parallel = busy_topic_config(p, true), keyed = busy_topic_config(p, false);
    keyed.keyed = true;
    rc = fixture_open_topics(&f, "parallel", 1, &parallel);
    if (rc == 0)
        rc = fixture_open_topics(&f, "keyed", 1, &keyed);
    for (unsigned t = 0; rc == 0 && t < 2; t++)
        rc = fixture_subscribe(&f, f.topics[t], check_key_order, orders[t]);
    if (rc) {
        result_fail(r, "setup: %d", rc);
    } else {
        uint64_t counts[2] = {0, 0};
        double parallel_rate = load_one_topic(&f, p, 0, KEYS, &counts[0], r);
        r->seconds = 0;
        r->rate = load_one_topic(&f, p, 1, KEYS, &counts[1], r);
        for (unsigned t = 0; t < 2; t++)
            result_check_counts(r, counts[t], sink_read(&orders[t]->handled));
        /* relaxed (here and for the parallel count below): read after the
         * flush, which orders the handlers' adds. */
        uint64_t keyed_disorder =
            atomic_load_explicit(&orders[1]->out_of_order, memory_order_relaxed);
        if (keyed_disorder)
            result_fail(r, "%llu events of the keyed topic out of key order",
                        (unsigned long long)keyed_disorder);
        r->published = counts[0] + counts[1];
        result_extra(r, "parallel_rate", parallel_rate);
        result_extra(r, "ratio", parallel_rate > 0 ? r->rate / parallel_rate : 0);
        result_extra(r, "parallel_out_of_key_order",
                     (double)atomic_load_explicit(&orders[0]->out_of_order,
                                                  memory_order_relaxed));
    }
    fixture_destroy(&f);
    key_order_free(orders[0]);
    key_order_free(orders[1]);
}
