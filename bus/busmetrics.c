/* busmetrics.c - bus_metrics(): the whole bus, its topics summed and its
 * workers' busy and idle time. */
#include <errno.h>
#include <string.h>

#include "clock.h"
#include "help.h"
#include "internal.h"

struct totals {
    bus_metrics_t *out;
    uint64_t now_ns;
};

static int add_topic(struct bus_topic *t, void *arg)
{
    struct totals *tot = arg;
    bus_metrics_t *out = tot->out;
    bus_topic_metrics_t m;
    bus__topic_metrics_now(t, tot->now_ns, &m);
    out->topics++;
    out->published += m.stats.published;
    out->delivered += m.stats.delivered;
    out->dropped += m.stats.dropped;
    out->handler_errors += m.stats.handler_errors;
    out->blocked += m.stats.blocked;
    out->depth += m.stats.depth;
    out->publish_rate_1s += m.publish_rate_1s;
    out->publish_rate_10s += m.publish_rate_10s;
    out->deliver_rate_1s += m.deliver_rate_1s;
    out->deliver_rate_10s += m.deliver_rate_10s;
    if (m.oldest_age_ns > out->oldest_age_ns)
        out->oldest_age_ns = m.oldest_age_ns;
    return 0;
}

int bus_metrics(bus_t *bus, bus_metrics_t *out)
{
    if (!bus || !out)
        return bus__fail(-EINVAL, "bus_metrics: bus or out is NULL");
    memset(out, 0, sizeof(*out));
    bus__rates_start(bus);
    struct totals tot = {out, clock_now_ns()};
    bus__topics_walk(bus, false, add_topic, &tot);
    /* The records live until bus_destroy (worker.c); nthreads is fixed
     * once bus_create returned. */
    out->workers = bus->nthreads;
    for (unsigned i = 0; i < bus->nthreads; i++)
        worktime_read(&bus->workers[i].time, &out->busy_ns, &out->idle_ns);
    return 0;
}
