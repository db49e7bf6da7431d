/* dash_history.c - the dashboard's last minutes: every
 * dashboard_interval_ms, once a dashboard has asked, the gateway's timer
 * thread records a sample
 *   {"time_ms":T,"topics":{"NAME":[publish/s,deliver/s],...},
 *    "webhooks":{"ID":delivered,...}}
 * (the served topics' 1 s rates, the webhooks' delivered counters) in a
 * ring of DASH_HISTORY_SAMPLES; GET /v1/dashboard/snapshot carries them as
 * "history", and the page seeds its charts with them. */
#include "dash_history.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gateway.h"
#include "webhook.h"

int dash_history_init(struct dash_history *h)
{
    memset(h, 0, sizeof(*h));
    return -pthread_mutex_init(&h->lock, NULL);
}

void dash_history_destroy(struct dash_history *h)
{
    for (size_t i = 0; i < DASH_HISTORY_SAMPLES; i++)
        free(h->samples[i]);
    pthread_mutex_destroy(&h->lock);
}

void dash_history_start(struct bus_http *gw)
{
    struct dash_history *h = &gw->history;
    pthread_mutex_lock(&h->lock);
    h->recording = true; /* next_ns 0 the first time: a sample at the next tick */
    pthread_mutex_unlock(&h->lock);
}

static void rates_of(struct served *s, void *arg)
{
    struct strbuf *b = arg;
    bus_topic_metrics_t m;
    /* A failed buffer may have no byte at all to look back at. */
    if (b->failed || bus_topic_metrics(s->topic, &m))
        return;
    if (b->p[b->len - 1] != '{')
        sb_puts(b, ",");
    sb_json_string(b, s->name, strlen(s->name));
    sb_printf(b, ":[%.1f,%.1f]", m.publish_rate_1s, m.deliver_rate_1s);
}

void dash_history_tick(struct bus_http *gw, uint64_t now_ns)
{
    struct dash_history *h = &gw->history;
    pthread_mutex_lock(&h->lock);
    bool due = h->recording && now_ns >= h->next_ns;
    if (due)
        h->next_ns = now_ns + (uint64_t)gw->cfg.dashboard_interval_ms * 1000000u;
    pthread_mutex_unlock(&h->lock);
    if (!due)
        return;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct strbuf b = {0};
    sb_printf(&b, "{\"time_ms\":%lld,\"topics\":{",
              (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
    served_foreach(gw, rates_of, &b);
    sb_puts(&b, "},\"webhooks\":");
    webhook_render_delivered(gw->hooks, &b);
    sb_puts(&b, "}");
    size_t len;
    char *sample = sb_take(&b, &len);
    if (!sample)
        return; /* out of memory: a gap in the charts */
    pthread_mutex_lock(&h->lock);
    char **slot = &h->samples[h->taken++ % DASH_HISTORY_SAMPLES];
    free(*slot);
    *slot = sample;
    pthread_mutex_unlock(&h->lock);
}

void dash_history_render(struct bus_http *gw, struct strbuf *b)
{
    struct dash_history *h = &gw->history;
    pthread_mutex_lock(&h->lock);
    uint64_t kept = h->taken < DASH_HISTORY_SAMPLES ? h->taken : DASH_HISTORY_SAMPLES;
    sb_puts(b, "[");
    for (uint64_t i = h->taken - kept; i < h->taken; i++) {
        if (i != h->taken - kept)
            sb_puts(b, ",");
        sb_puts(b, h->samples[i % DASH_HISTORY_SAMPLES]);
    }
    sb_puts(b, "]");
    pthread_mutex_unlock(&h->lock);
}
