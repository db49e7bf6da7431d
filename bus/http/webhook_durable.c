/* webhook_durable.c - webhooks of durable topics (docs/gateway.md,
 * "Webhooks of durable topics").
 *
 * A webhook whose pattern matches durable topics declared in the config
 * gets their events from a named durable consumer per topic
 * ("webhook-<id>"), not from its pattern subscription. The consumer's
 * handler queues the delivery and writes its line to the state_dir's log
 * (webhook_store.c), then returns 0: the event is acknowledged (the
 * consumer's position passes it) once a restart would find it in the log,
 * not when the receiver took it. So no consumer thread waits out a retry
 * schedule of hours, and:
 *  - an event answered 202 is in the journal; until its line is in the log
 *    the consumer's position is before it: a kill -9 at any moment loses
 *    no delivery (at least once);
 *  - a kill between the log line and the position's store has the event
 *    delivered again by the consumer after the restart: its webhook-id is
 *    made of the topic and the seq, so queued_already() (webhook.c) finds it
 *    and it is queued once; an attempt in flight at the kill is sent again,
 *    with the same webhook-id (receivers dedupe on it).
 * A full queue (max_pending), a disabled endpoint or a failed log write:
 * the handler fails, the consumer tries the event again after a delay, the
 * later events wait (backpressure; the journal keeps them until the
 * endpoint is enabled again, or its retention deletes them). */
#include "webhook.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus/journal.h"
#include "route.h"

struct hook_durable {
    bus_topic_t *topic;
    uint64_t start_seq; /* a new webhook's first event: the journal's next */
    bus_sub_t *sub;     /* NULL until attached */
};

/* Waits before a refused event is tried again; the last one repeats. */
static const uint64_t retry_ns[] = {100000000, 1000000000};

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 14695981039346656037ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

void hook_durable_id(const struct webhook *h, const char *topic, uint64_t seq,
                     char out[WEBHOOK_DELIVERY_ID_MAX])
{
    snprintf(out, WEBHOOK_DELIVERY_ID_MAX, "msg_%s_%016" PRIx64 "_%" PRIu64, h->id,
             fnv1a(topic), seq);
}

/* "webhook-<id>", or for an id too long for a consumer's 64 bytes
 * "webhook-<hash of the id>". */
static void consumer_name(const struct webhook *h, char out[72])
{
    if (strlen(h->id) <= 56)
        snprintf(out, 72, "webhook-%s", h->id);
    else
        snprintf(out, 72, "webhook-%016" PRIx64, fnv1a(h->id));
}

static int on_durable_event(const bus_event_t *ev, void *ctx)
{
    /* Refused (-EAGAIN: disabled, full, not logged; -EPIPE: the webhook is
     * not listed yet, as webhook_add() subscribes before it lists, or is
     * being retired, its consumer stops while it waits): not acknowledged,
     * tried again after the delay. */
    return webhook_queue(ctx, ev, true) == 0 ? 0 : -1;
}

int hook_durable_plan(struct webhooks *w, struct webhook *h)
{
    const struct gw_config *c = w->gw_cfg;
    h->durable = calloc(c->ntopics ? c->ntopics : 1, sizeof(*h->durable));
    if (!h->durable)
        return -ENOMEM;
    for (size_t i = 0; i < c->ntopics; i++) {
        const struct topic_cfg *t = &c->topics[i];
        struct hook_durable *d = &h->durable[h->ndurable];
        bus_journal_stats_t st;
        if (!t->durable || !subject_matches(h->pattern, t->name) ||
            bus_topic_find(w->bus, t->name, &d->topic) ||
            bus_journal_stats(d->topic, &st))
            continue;
        d->start_seq = st.last_seq + 1;
        h->ndurable++;
    }
    return 0;
}

int hook_durable_attach(struct webhook *h, bool newest)
{
    char name[72];
    consumer_name(h, name);
    bus_sub_options_t opts;
    bus_sub_options_init(&opts);
    opts.max_deliver = UINT32_MAX; /* never dead-lettered: tried until queued */
    opts.backoff_ns = retry_ns;
    opts.backoff_count = sizeof(retry_ns) / sizeof(retry_ns[0]);
    for (size_t i = 0; i < h->ndurable; i++) {
        struct hook_durable *d = &h->durable[i];
        if (d->sub)
            continue;
        opts.start = newest ? BUS_START_SEQ : BUS_START_STORED;
        opts.start_seq = d->start_seq;
        int rc = bus_subscribe_durable(d->topic, name, on_durable_event, h, &opts, &d->sub);
        if (rc)
            return rc;
    }
    return 0;
}

void hook_durable_detach(struct webhook *h, bool forget)
{
    char name[72];
    consumer_name(h, name);
    for (size_t i = 0; i < h->ndurable; i++) {
        struct hook_durable *d = &h->durable[i];
        if (d->sub)
            bus_unsubscribe(d->sub); /* stores its position */
        if (forget)
            bus_durable_forget(d->topic, name);
    }
    free(h->durable);
    h->durable = NULL;
    h->ndurable = 0;
}

bool hook_durable_covers(const struct webhook *h, const bus_topic_t *topic)
{
    for (size_t i = 0; i < h->ndurable; i++)
        if (h->durable[i].topic == topic)
            return true;
    return false;
}
