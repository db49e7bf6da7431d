/* json.c - the bus's metrics as one JSON object (bus_metrics_json), for
 * the HTTP gateway: every topic's bus_topic_metrics() and the whole bus's
 * bus_metrics(). */
#include <errno.h>

#include "internal.h"
#include "textbuf.h"

/* A JSON string: `"`, `\` and control characters escaped; other bytes,
 * UTF-8 included, as they are. */
static void put_string(struct textbuf *o, const char *s)
{
    bus__textbuf_put(o, "\"");
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if (*c == '"' || *c == '\\')
            bus__textbuf_put(o, "\\%c", *c);
        else if (*c < 0x20)
            bus__textbuf_put(o, "\\u%04x", *c);
        else
            bus__textbuf_put(o, "%c", *c);
    }
    bus__textbuf_put(o, "\"");
}

/* A named counter of a metrics struct, as a JSON member. */
struct field {
    const char *name;
    uint64_t value;
};

#define FIELDS(...) ((const struct field[]){__VA_ARGS__})
#define NFIELDS(...) (sizeof(FIELDS(__VA_ARGS__)) / sizeof(struct field))
/* `,"name":value` for each field, in order. */
#define PUT_FIELDS(o, ...) put_fields(o, FIELDS(__VA_ARGS__), NFIELDS(__VA_ARGS__))

static void put_fields(struct textbuf *o, const struct field *f, size_t n)
{
    for (size_t i = 0; i < n; i++)
        bus__textbuf_put(o, ",\"%s\":%llu", f[i].name, (unsigned long long)f[i].value);
}

static void put_rates(struct textbuf *o, double pub_1s, double pub_10s, double del_1s,
                      double del_10s)
{
    bus__textbuf_put(o,
                     ",\"publish_rate_1s\":%.3f,\"publish_rate_10s\":%.3f"
                     ",\"deliver_rate_1s\":%.3f,\"deliver_rate_10s\":%.3f",
                     pub_1s, pub_10s, del_1s, del_10s);
}

static void put_latency(struct textbuf *o, const char *name, const bus_latency_t *l)
{
    bus__textbuf_put(o, ",\"%s\":{\"count\":%llu", name, (unsigned long long)l->count);
    PUT_FIELDS(o, {"sum_ns", l->sum_ns}, {"p50_ns", l->p50_ns}, {"p90_ns", l->p90_ns},
               {"p99_ns", l->p99_ns}, {"p999_ns", l->p999_ns}, {"max_ns", l->max_ns});
    bus__textbuf_put(o, "}");
}

struct topics_walk {
    struct textbuf *o;
    bool first;
};

static int put_topic(struct bus_topic *t, void *arg)
{
    struct topics_walk *w = arg;
    struct textbuf *o = w->o;
    bus_topic_metrics_t m;
    bus_topic_metrics(t, &m);
    bus__textbuf_put(o, "%s{\"name\":", w->first ? "" : ",");
    w->first = false;
    put_string(o, t->name);
    const bus_topic_stats_t *st = &m.stats;
    PUT_FIELDS(o, {"published", st->published}, {"delivered", st->delivered},
               {"dropped", st->dropped}, {"handler_errors", st->handler_errors},
               {"blocked", st->blocked}, {"depth", st->depth}, {"high_water", st->high_water},
               {"retries", st->retries}, {"redelivered", st->redelivered},
               {"dead_lettered", st->dead_lettered}, {"retries_dropped", st->retries_dropped},
               {"retries_pending", st->retries_pending});
    put_rates(o, m.publish_rate_1s, m.publish_rate_10s, m.deliver_rate_1s, m.deliver_rate_10s);
    PUT_FIELDS(o, {"oldest_age_ns", m.oldest_age_ns});
    put_latency(o, "wait", &m.wait);
    put_latency(o, "handler", &m.handler);
    bus__textbuf_put(o, "}");
    return 0;
}

static void put_bus(struct textbuf *o, const bus_metrics_t *m)
{
    bus__textbuf_put(o, "\"bus\":{\"topics\":%u", m->topics);
    PUT_FIELDS(o, {"workers", m->workers}, {"published", m->published},
               {"delivered", m->delivered}, {"dropped", m->dropped},
               {"handler_errors", m->handler_errors}, {"blocked", m->blocked},
               {"depth", m->depth});
    put_rates(o, m->publish_rate_1s, m->publish_rate_10s, m->deliver_rate_1s,
              m->deliver_rate_10s);
    PUT_FIELDS(o, {"oldest_age_ns", m->oldest_age_ns}, {"busy_ns", m->busy_ns},
               {"idle_ns", m->idle_ns});
    bus__textbuf_put(o, "}");
}

int bus_metrics_json(bus_t *bus, char *buf, size_t cap, size_t *len)
{
    if (!bus || (!buf && cap) || !len)
        return bus__fail(-EINVAL, "bus_metrics_json: bus or len is NULL, or buf is NULL "
                                  "with cap > 0");
    struct textbuf o = {buf, cap, 0};
    bus_metrics_t m;
    bus_metrics(bus, &m);
    bus__textbuf_put(&o, "{");
    put_bus(&o, &m);
    bus__textbuf_put(&o, ",\"topics\":[");
    struct topics_walk w = {&o, true};
    bus__topics_walk(bus, false, put_topic, &w);
    bus__textbuf_put(&o, "]}\n");
    return bus__textbuf_end(&o, len);
}
