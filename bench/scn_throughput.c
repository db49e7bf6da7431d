/* scn_throughput.c - P producers, W workers, S subscribers per topic, T
 * topics: events per second from the first publish to the end of the flush. */
#include <stdlib.h>

#include "load.h"
#include "scenarios.h"

static void run_throughput(const struct sut_ops *ops, const struct run_params *p, bool parallel,
                           unsigned burst, struct result *r)
{
    struct fixture f;
    struct sink *sinks = aligned_alloc(64, sizeof(*sinks) * p->topics * p->subs);
    int rc = sinks ? fixture_create(&f, ops, p, p->topics + 1) : -1;
    if (rc) {
        free(sinks);
        result_fail(r, "create: %d", rc);
        return;
    }
    struct sut_topic_config cfg = busy_topic_config(p, parallel);
    rc = fixture_open_topics(&f, "load", p->topics, &cfg);
    for (unsigned i = 0; rc == 0 && i < p->topics * p->subs; i++) {
        atomic_init(&sinks[i].count, 0);
        rc = fixture_subscribe(&f, f.topics[i / p->subs], sink_count, &sinks[i]);
    }
    if (rc) {
        result_fail(r, "setup: %d", rc);
    } else {
        struct load_spec spec = load_spec_from(p, p->topics, burst);
        struct load_outcome out;
        load_run(&f, &spec, &out);
        if (out.error)
            result_fail(r, "publish/flush: %d", out.error);
        uint64_t handled = 0;
        for (unsigned i = 0; i < p->topics * p->subs; i++)
            handled += sink_read(&sinks[i]);
        result_check_counts(r, load_total(&out) * p->subs, handled);
        r->published = load_total(&out);
        r->seconds = out.seconds;
        r->rate = (double)out.published / out.seconds;
        result_extra(r, "handler_calls_per_s", (double)(out.published * p->subs) / out.seconds);
    }
    fixture_destroy(&f);
    free(sinks);
}

void scenario_throughput(const struct sut_ops *ops, const struct run_params *p, struct result *r)
{
    run_throughput(ops, p, false, 1, r);
}

void scenario_throughput_parallel(const struct sut_ops *ops, const struct run_params *p,
                                  struct result *r)
{
    run_throughput(ops, p, true, 1, r);
}

void scenario_throughput_batch(const struct sut_ops *ops, const struct run_params *p,
                               struct result *r)
{
    run_throughput(ops, p, false, BATCH_EVENTS, r);
}
