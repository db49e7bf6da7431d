/* scn_scale.c - one busy topic among 100,000 idle ones: the busy topic's
 * rate against its rate alone, and the memory an idle topic costs. */
#include <stdlib.h>

#include "load.h"
#include "scenarios.h"

enum { IDLE_TOPICS = 100000, SCALE_MAX_TOPICS = 131072 };

struct scale_memory {
    double heap_per_topic, rss_per_topic;
    double quiet_flush_us; /* one flush of the quiet system, all topics open */
};

/* Rate of one busy topic, after opening @idle idle topics; measures what the
 * idle topics cost into *mem. */
static double busy_rate(const struct sut_ops *ops, const struct run_params *p, unsigned idle,
                        struct result *r, struct scale_memory *mem)
{
    struct fixture f;
    int rc = fixture_create(&f, ops, p, SCALE_MAX_TOPICS);
    if (rc) {
        result_fail(r, "create: %d", rc);
        return 0;
    }
    struct sut_topic_config idle_cfg = {.capacity = 2, .max_payload = 8, .parallel = false};
    struct sut_topic_config busy_cfg = busy_topic_config(p, false);
    uint64_t heap0 = heap_bytes(), rss0 = rss_bytes();
    rc = fixture_open_topics(&f, "idle", idle, &idle_cfg);
    if (idle) {
        mem->heap_per_topic = ((double)heap_bytes() - (double)heap0) / idle;
        mem->rss_per_topic = ((double)rss_bytes() - (double)rss0) / idle;
    }
    struct sink *sink = aligned_alloc(64, sizeof(*sink));
    if (rc == 0 && !sink)
        rc = -1;
    if (rc == 0) {
        atomic_init(&sink->count, 0);
        rc = fixture_open_topics(&f, "busy", 1, &busy_cfg);
    }
    if (rc == 0)
        rc = fixture_subscribe(&f, f.topics[idle], sink_count, sink);
    double rate = 0;
    if (rc) {
        result_fail(r, "setup: %d", rc);
    } else {
        struct load_spec spec = load_spec_from(p, 1, 1);
        spec.first_topic = idle;
        struct load_outcome out;
        load_run(&f, &spec, &out);
        if (out.error)
            result_fail(r, "publish/flush: %d", out.error);
        result_check_counts(r, load_total(&out), sink_read(sink));
        r->published += load_total(&out);
        r->seconds = out.seconds;
        rate = (double)out.published / out.seconds;
        uint64_t t0 = now_ns();
        f.ops->flush(f.sys);
        mem->quiet_flush_us = (double)(now_ns() - t0) / 1e3;
    }
    fixture_destroy(&f);
    free(sink);
    return rate;
}

void scenario_scale(const struct sut_ops *ops, const struct run_params *p, struct result *r)
{
    struct scale_memory alone_mem = {0}, mem = {0};
    double alone = busy_rate(ops, p, 0, r, &alone_mem);
    r->rate = busy_rate(ops, p, IDLE_TOPICS, r, &mem);
    result_extra(r, "rate_alone", alone);
    result_extra(r, "ratio", alone > 0 ? r->rate / alone : 0);
    result_extra(r, "heap_bytes_per_topic", mem.heap_per_topic);
    result_extra(r, "rss_bytes_per_topic", mem.rss_per_topic);
    result_extra(r, "flush_us_alone", alone_mem.quiet_flush_us);
    result_extra(r, "flush_us_100k_idle", mem.quiet_flush_us);
}
