/* info.c - GET /healthz, /metrics, /v1/topics, /v1/topics/{name}. */
#include "gateway.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bus/journal.h"

enum MHD_Result info_healthz(struct conn *cn, struct MHD_Connection *c)
{
    /* relaxed: a report, ordered with nothing. */
    bool stopping = atomic_load_explicit(&cn->gw->stopping, memory_order_relaxed);
    struct strbuf b = {0};
    sb_puts(&b, stopping ? "{\"status\":\"stopping\"}\n" : "{\"status\":\"ok\"}\n");
    return reply_text(cn, c, stopping ? MHD_HTTP_SERVICE_UNAVAILABLE : MHD_HTTP_OK, &b,
                      "application/json");
}

void prometheus_text(struct strbuf *b, prometheus_fn fn, void *src)
{
    size_t need = 16384, len = 0;
    for (;;) {
        char *text = malloc(need + 1);
        if (!text) {
            b->failed = true;
            return;
        }
        int rc = fn(src, text, need + 1, &len);
        if (rc == 0)
            sb_put(b, text, len);
        free(text);
        if (rc != -ENOSPC)
            return;
        need = len + 4096; /* topics may open meanwhile */
    }
}

static int bus_text(void *bus, char *buf, size_t cap, size_t *len)
{
    return bus_metrics_prometheus(bus, buf, cap, len);
}

static void gateway_text(struct bus_http *gw, struct strbuf *b)
{
    sb_puts(b, "# HELP bus_http_requests_total HTTP requests answered, by route and status.\n"
               "# TYPE bus_http_requests_total counter\n");
    for (int r = 0; r < ROUTE_KINDS; r++)
        for (int s = 0; s <= STATUS_MAX - STATUS_MIN; s++) {
            uint64_t n = atomic_load_explicit(&gw->requests[r][s], memory_order_relaxed);
            if (n)
                sb_printf(b, "bus_http_requests_total{route=\"%s\",code=\"%d\"} %llu\n",
                          route_label((enum route_kind)r), s + STATUS_MIN,
                          (unsigned long long)n);
        }
    sb_printf(b,
              "# HELP bus_http_connections Open HTTP connections.\n"
              "# TYPE bus_http_connections gauge\n"
              "bus_http_connections %lld\n",
              (long long)atomic_load_explicit(&gw->connections, memory_order_relaxed));
    static const char *const kinds[WAIT_KINDS] = {"poll", "stream", "request"};
    sb_puts(b, "# HELP bus_http_waiting_clients Clients parked for events or a reply.\n"
               "# TYPE bus_http_waiting_clients gauge\n");
    for (int k = 0; k < WAIT_KINDS; k++)
        sb_printf(b, "bus_http_waiting_clients{kind=\"%s\"} %lld\n", kinds[k],
                  (long long)atomic_load_explicit(&gw->waiting[k], memory_order_relaxed));
    sb_printf(b,
              "# HELP bus_http_idempotent_replays_total Publishes answered from the "
              "Idempotency-Key table.\n"
              "# TYPE bus_http_idempotent_replays_total counter\n"
              "bus_http_idempotent_replays_total %llu\n",
              (unsigned long long)atomic_load_explicit(&gw->idempotent_replays,
                                                       memory_order_relaxed));
}

enum MHD_Result info_metrics(struct conn *cn, struct MHD_Connection *c)
{
    struct strbuf b = {0};
    prometheus_text(&b, bus_text, cn->gw->bus);
    gateway_text(cn->gw, &b);
    cluster_metrics(cn->gw, &b);
    return reply_text(cn, c, MHD_HTTP_OK, &b, "text/plain; version=0.0.4; charset=utf-8");
}

static const char *policy_name(int policy)
{
    return policy == BUS_FULL_FAIL ? "fail" : policy == BUS_FULL_DROP ? "drop" : "block";
}

/* A durable topic's journal ("journal": null for the others). */
static void journal_json(struct served *s, struct strbuf *b)
{
    bus_journal_stats_t j;
    if (!s->durable || bus_journal_stats(s->topic, &j)) {
        sb_puts(b, ",\"journal\":null");
        return;
    }
    sb_printf(b,
              ",\"journal\":{\"first_seq\":%llu,\"last_seq\":%llu,\"synced_seq\":%llu,"
              "\"segments\":%llu,\"bytes\":%llu,\"syncs\":%llu,\"deleted_segments\":%llu}",
              (unsigned long long)j.first_seq, (unsigned long long)j.last_seq,
              (unsigned long long)j.synced_seq, (unsigned long long)j.segments,
              (unsigned long long)j.bytes, (unsigned long long)j.syncs,
              (unsigned long long)j.deleted_segments);
}

/* One served topic as a JSON object: its config, its window, its journal,
 * its metrics. */
static void topic_json(struct served *s, struct strbuf *b)
{
    bus_topic_metrics_t m = {0};
    bus_topic_metrics(s->topic, &m);
    struct window *w = &s->win;
    pthread_mutex_lock(&w->lock);
    uint64_t oldest = w->oldest, next = w->next, bytes = w->bytes;
    uint32_t parked = w->nparked;
    pthread_mutex_unlock(&w->lock);
    sb_puts(b, "{\"name\":");
    sb_json_string(b, s->name, strlen(s->name));
    sb_printf(b,
              ",\"config\":{\"capacity\":%u,\"max_payload\":%u,\"full\":\"%s\","
              "\"retention_events\":%u,\"retention_bytes\":%zu}",
              s->cfg.capacity, s->cfg.max_payload, policy_name(s->cfg.full_policy),
              w->max_events, w->max_bytes);
    sb_printf(b,
              ",\"window\":{\"oldest\":%llu,\"next\":%llu,\"events\":%llu,\"bytes\":%llu,"
              "\"waiting\":%u}",
              (unsigned long long)oldest, (unsigned long long)next,
              (unsigned long long)(next - oldest), (unsigned long long)bytes, parked);
    journal_json(s, b);
    sb_printf(b,
              ",\"stats\":{\"published\":%llu,\"delivered\":%llu,\"dropped\":%llu,"
              "\"handler_errors\":%llu,\"depth\":%u,\"high_water\":%u,\"blocked\":%llu,"
              "\"publish_rate_1s\":%.3f,\"publish_rate_10s\":%.3f,"
              "\"wait_p50_ns\":%llu,\"wait_p99_ns\":%llu,\"oldest_age_ns\":%llu}}",
              (unsigned long long)m.stats.published, (unsigned long long)m.stats.delivered,
              (unsigned long long)m.stats.dropped, (unsigned long long)m.stats.handler_errors,
              m.stats.depth, m.stats.high_water, (unsigned long long)m.stats.blocked,
              m.publish_rate_1s, m.publish_rate_10s, (unsigned long long)m.wait.p50_ns,
              (unsigned long long)m.wait.p99_ns, (unsigned long long)m.oldest_age_ns);
}

struct listing {
    struct strbuf *b;
    bool first;
};

static void list_one(struct served *s, void *arg)
{
    struct listing *l = arg;
    if (!l->first)
        sb_puts(l->b, ",");
    l->first = false;
    topic_json(s, l->b);
}

enum MHD_Result info_topics(struct conn *cn, struct MHD_Connection *c)
{
    struct strbuf b = {0};
    struct listing l = {&b, true};
    sb_puts(&b, "{\"topics\":[");
    served_foreach(cn->gw, list_one, &l);
    sb_puts(&b, "]}\n");
    return reply_text(cn, c, MHD_HTTP_OK, &b, "application/json");
}

enum MHD_Result info_topic(struct conn *cn, struct MHD_Connection *c)
{
    struct served *s = topic_of(cn, c, false);
    if (!s)
        return MHD_YES;
    struct strbuf b = {0};
    topic_json(s, &b);
    sb_puts(&b, "\n");
    return reply_text(cn, c, MHD_HTTP_OK, &b, "application/json");
}
