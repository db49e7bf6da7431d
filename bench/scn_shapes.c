/* scn_shapes.c - the LMAX Disruptor's test shapes (its 2011 table), built
 * from topics whose handlers pass events on with the system's own publish,
 * on 1,024-slot rings so that back-pressure happens:
 *  - unicast 1P-1C: one topic, one consumer;
 *  - pipeline 1P-3C: a -> b -> c, the handlers of a and b forward;
 *  - multicast 1P-3C: one topic, three consumers;
 *  - sequencer 3P-1C: three producers onto one topic, one consumer;
 *  - diamond 1P-3C: two consumers of a each forward the event to a join
 *    topic, whose consumer sees both copies.
 * The rate is events published by the producers per second, through the
 * whole graph (up to the end of the flushes). Every event must reach every
 * consumer: a lost one, or a failed publish in a handler, fails the run. */
#include <stdlib.h>

#include "load.h"
#include "scenarios.h"

enum {
    SHAPE_CAPACITY = 1024,
    SHAPE_MAX_TOPICS = 3,
    SHAPE_MAX_EDGES = 3
};

struct edge {
    unsigned from, to;
};

struct shape {
    unsigned producers, ntopics;
    unsigned nforwards;
    struct edge forwards[SHAPE_MAX_EDGES]; /* a handler of `from` publishes onto `to` */
    unsigned nsinks;
    unsigned sinks[SHAPE_MAX_EDGES]; /* topics with a counting consumer */
    unsigned copies; /* sink calls per published event */
    unsigned depth;  /* topics on the longest path: one flush each */
};

/* A handler that publishes each event onto the next topic. */
struct forwarder {
    const struct sut_ops *ops;
    void *sys, *next;
    alignas(64) _Atomic int error;
};

static void forward(void *ctx, const void *data, size_t size)
{
    struct forwarder *fw = ctx;
    int rc = fw->ops->publish(fw->sys, fw->next, data, size);
    int none = 0;
    /* relaxed: read after the flushes, which order the handlers' writes. */
    if (rc)
        atomic_compare_exchange_strong_explicit(&fw->error, &none, rc, memory_order_relaxed,
                                                memory_order_relaxed);
}

static void run_shape(const struct sut_ops *ops, const struct run_params *p,
                      const struct shape *s, struct result *r)
{
    struct fixture f;
    struct sink *sinks = aligned_alloc(64, sizeof(*sinks) * SHAPE_MAX_EDGES);
    struct forwarder *fws = aligned_alloc(64, sizeof(*fws) * SHAPE_MAX_EDGES);
    int rc = sinks && fws ? fixture_create(&f, ops, p, s->ntopics + 1) : -1;
    if (rc) {
        free(sinks);
        free(fws);
        result_fail(r, "create: %d", rc);
        return;
    }
    struct sut_topic_config cfg = busy_topic_config(p, false);
    cfg.capacity = SHAPE_CAPACITY;
    rc = fixture_open_topics(&f, "stage", s->ntopics, &cfg);
    for (unsigned i = 0; rc == 0 && i < s->nforwards; i++) {
        fws[i].ops = ops;
        fws[i].sys = f.sys;
        fws[i].next = f.topics[s->forwards[i].to];
        atomic_init(&fws[i].error, 0);
        rc = fixture_subscribe(&f, f.topics[s->forwards[i].from], forward, &fws[i]);
    }
    for (unsigned i = 0; rc == 0 && i < s->nsinks; i++) {
        atomic_init(&sinks[i].count, 0);
        rc = fixture_subscribe(&f, f.topics[s->sinks[i]], sink_count, &sinks[i]);
    }
    if (rc) {
        result_fail(r, "setup: %d", rc);
    } else {
        struct load_spec spec = load_spec_from(p, 1, 1);
        spec.producers = s->producers;
        spec.flushes = s->depth;
        struct load_outcome out;
        load_run(&f, &spec, &out);
        if (out.error)
            result_fail(r, "publish/flush: %d", out.error);
        for (unsigned i = 0; i < s->nforwards; i++) {
            int e = atomic_load_explicit(&fws[i].error, memory_order_relaxed);
            if (e)
                result_fail(r, "publish from a handler: %d", e);
        }
        uint64_t handled = 0;
        for (unsigned i = 0; i < s->nsinks; i++)
            handled += sink_read(&sinks[i]);
        result_check_counts(r, load_total(&out) * s->copies, handled);
        r->published = load_total(&out);
        r->seconds = out.seconds;
        r->rate = (double)out.published / out.seconds;
        r->params.producers = s->producers;
    }
    fixture_destroy(&f);
    free(sinks);
    free(fws);
}

void scenario_shape_unicast(const struct sut_ops *ops, const struct run_params *p,
                            struct result *r)
{
    static const struct shape s = {.producers = 1, .ntopics = 1, .nsinks = 1, .sinks = {0},
                                   .copies = 1, .depth = 1};
    run_shape(ops, p, &s, r);
}

void scenario_shape_pipeline(const struct sut_ops *ops, const struct run_params *p,
                             struct result *r)
{
    static const struct shape s = {.producers = 1, .ntopics = 3, .nforwards = 2,
                                   .forwards = {{0, 1}, {1, 2}}, .nsinks = 1, .sinks = {2},
                                   .copies = 1, .depth = 3};
    run_shape(ops, p, &s, r);
}

void scenario_shape_multicast(const struct sut_ops *ops, const struct run_params *p,
                              struct result *r)
{
    static const struct shape s = {.producers = 1, .ntopics = 1, .nsinks = 3,
                                   .sinks = {0, 0, 0}, .copies = 3, .depth = 1};
    run_shape(ops, p, &s, r);
}

void scenario_shape_sequencer(const struct sut_ops *ops, const struct run_params *p,
                              struct result *r)
{
    static const struct shape s = {.producers = 3, .ntopics = 1, .nsinks = 1, .sinks = {0},
                                   .copies = 1, .depth = 1};
    run_shape(ops, p, &s, r);
}

void scenario_shape_diamond(const struct sut_ops *ops, const struct run_params *p,
                            struct result *r)
{
    static const struct shape s = {.producers = 1, .ntopics = 2, .nforwards = 2,
                                   .forwards = {{0, 1}, {0, 1}}, .nsinks = 1, .sinks = {1},
                                   .copies = 2, .depth = 2};
    run_shape(ops, p, &s, r);
}
