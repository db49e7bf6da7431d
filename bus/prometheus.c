/* prometheus.c - the bus's metrics in the Prometheus text exposition format
 * 0.0.4 (bus_metrics_prometheus). One walk of the topics per metric family,
 * so that each family's samples are grouped under one HELP and TYPE, as the
 * format requires. */
#include <errno.h>
#include <string.h>

#include "internal.h"
#include "textbuf.h"

/* A label value: `\`, `"` and newlines escaped. Topic names have no
 * newline, but the escaping is the format's, not ours to assume away. */
static void put_label(struct textbuf *o, const char *value)
{
    for (const char *c = value; *c; c++) {
        if (*c == '\\' || *c == '"')
            bus__textbuf_put(o, "\\%c", *c);
        else if (*c == '\n')
            bus__textbuf_put(o, "\\n");
        else
            bus__textbuf_put(o, "%c", *c);
    }
}

static void put_header(struct textbuf *o, const char *name, const char *type, const char *help)
{
    bus__textbuf_put(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* One family: its name, and how to read its value from a topic's stats. */
struct family {
    const char *name, *type, *help;
    size_t offset; /* of a uint64_t or uint32_t field of bus_topic_stats_t */
    bool is_32;
};

#define FIELD(f) offsetof(bus_topic_stats_t, f), sizeof(((bus_topic_stats_t *)0)->f) == 4

static const struct family families[] = {
    {"bus_topic_published_total", "counter", "Events accepted onto the topic.",
     FIELD(published)},
    {"bus_topic_delivered_total", "counter", "Handler calls that returned 0.",
     FIELD(delivered)},
    {"bus_topic_handler_errors_total", "counter", "Handler calls that returned non-zero.",
     FIELD(handler_errors)},
    {"bus_topic_dropped_total", "counter",
     "Events refused by a full ring under BUS_FULL_DROP or discarded by a closing topic.",
     FIELD(dropped)},
    {"bus_topic_blocked_total", "counter", "Publishes that waited for room in a full ring.",
     FIELD(blocked)},
    {"bus_topic_depth", "gauge", "Events in the ring now, being handled included.",
     FIELD(depth)},
    {"bus_topic_high_water", "gauge", "The largest depth a publisher has seen.",
     FIELD(high_water)},
    {"bus_topic_retries_total", "counter", "Failed handler calls given another try.",
     FIELD(retries)},
    {"bus_topic_redelivered_total", "counter", "Handler calls of redeliveries.",
     FIELD(redelivered)},
    {"bus_topic_dead_lettered_total", "counter",
     "Events given up after their last try (redelivery).", FIELD(dead_lettered)},
    {"bus_topic_retries_dropped_total", "counter",
     "Retries discarded untried: subscription gone or topic closed.", FIELD(retries_dropped)},
    {"bus_topic_retries_pending", "gauge", "Retries waiting for their time or a worker.",
     FIELD(retries_pending)},
};

struct family_walk {
    struct textbuf *o;
    const struct family *f;
};

static int put_counter(struct bus_topic *t, void *arg)
{
    struct family_walk *w = arg;
    bus_topic_stats_t st;
    bus_topic_stats(t, &st);
    const char *field = (const char *)&st + w->f->offset;
    uint64_t value;
    if (w->f->is_32) {
        uint32_t v32;
        memcpy(&v32, field, sizeof(v32));
        value = v32;
    } else {
        memcpy(&value, field, sizeof(value));
    }
    bus__textbuf_put(w->o, "%s{topic=\"", w->f->name);
    put_label(w->o, t->name);
    bus__textbuf_put(w->o, "\"} %llu\n", (unsigned long long)value);
    return 0;
}

/* A latency histogram family: which of the topic's histograms. */
struct hist_walk {
    struct textbuf *o;
    const char *name;
    bool wait; /* wait_time, else call_time */
};

/* Prometheus buckets: the octave edges 2^k ns from 64 ns to 2^37 ns (137 s),
 * which are edges of our buckets too, so each count is exact. */
enum { EDGE_FIRST = HIST_SUB_BITS + 1, EDGE_LAST = HIST_MAX_BIT + 1 };

static int put_histogram(struct bus_topic *t, void *arg)
{
    struct hist_walk *w = arg;
    /* acquire: pairs with the release that installed the histogram
     * (metrics.c), so its zeroed contents are visible. */
    const struct hist *h = atomic_load_explicit(w->wait ? &t->wait_time : &t->call_time,
                                                memory_order_acquire);
    struct hist_view view = {0}; /* 8 KiB on the stack: no allocation */
    if (h)
        bus__hist_read(h, &view);
    uint64_t cumulative = 0;
    unsigned bucket = 0;
    for (unsigned k = EDGE_FIRST; k <= EDGE_LAST; k++) {
        uint64_t edge = UINT64_C(1) << k;
        for (; bucket < HIST_BUCKETS && bus__hist_bucket_high(bucket) < edge; bucket++)
            cumulative += view.buckets[bucket];
        bus__textbuf_put(w->o, "%s_bucket{topic=\"", w->name);
        put_label(w->o, t->name);
        bus__textbuf_put(w->o, "\",le=\"%.9g\"} %llu\n", (double)(edge - 1) / 1e9,
            (unsigned long long)cumulative);
    }
    bus__textbuf_put(w->o, "%s_bucket{topic=\"", w->name);
    put_label(w->o, t->name);
    bus__textbuf_put(w->o, "\",le=\"+Inf\"} %llu\n", (unsigned long long)view.count);
    bus__textbuf_put(w->o, "%s_sum{topic=\"", w->name);
    put_label(w->o, t->name);
    bus__textbuf_put(w->o, "\"} %.9f\n", (double)view.sum / 1e9);
    bus__textbuf_put(w->o, "%s_count{topic=\"", w->name);
    put_label(w->o, t->name);
    bus__textbuf_put(w->o, "\"} %llu\n", (unsigned long long)view.count);
    return 0;
}

int bus_metrics_prometheus(bus_t *bus, char *buf, size_t cap, size_t *len)
{
    if (!bus || (!buf && cap) || !len)
        return bus__fail(-EINVAL, "bus_metrics_prometheus: bus or len is NULL, or buf "
                                  "is NULL with cap > 0");
    struct textbuf o = {buf, cap, 0};
    for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++) {
        struct family_walk w = {&o, &families[i]};
        put_header(&o, families[i].name, families[i].type, families[i].help);
        bus__topics_walk(bus, false, put_counter, &w);
    }
    struct hist_walk hw[] = {
        {&o, "bus_topic_wait_seconds", true},
        {&o, "bus_topic_handler_seconds", false},
    };
    put_header(&o, hw[0].name, "histogram",
               "Timed events' wait in the ring, publish to the start of their handler calls.");
    bus__topics_walk(bus, false, put_histogram, &hw[0]);
    put_header(&o, hw[1].name, "histogram", "Timed handler calls, every subscriber's.");
    bus__topics_walk(bus, false, put_histogram, &hw[1]);
    return bus__textbuf_end(&o, len);
}
