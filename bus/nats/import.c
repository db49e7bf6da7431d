/* import.c - NATS to local topics: the callback of the import
 * subscriptions, on cnats' delivery threads. A message becomes an event of
 * the topic of the same name, published with a completion callback of the
 * bridge (that is how the export recognises it: no echo); a request
 * becomes a local request whose answer goes back on the SendAsap
 * connection. A full BUS_FULL_BLOCK topic blocks the delivery thread, and
 * cnats' pending limit then drops (counted); other full policies refuse
 * at once (counted). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge.h"

/* An imported request: who answers, and where. */
struct imported_request {
    struct bus_nats *bridge;
    char reply[]; /* the requester's reply subject */
};

static void imported_done(const bus_completion_t *c, void *arg)
{
    (void)c;
    bus__nats_import_done(arg);
}

static void send_status(struct bus_nats *b, const char *reply, int status)
{
    natsMsg *m = NULL;
    char text[16];
    snprintf(text, sizeof(text), "%d", status);
    if (natsMsg_Create(&m, reply, NULL, NULL, 0) == NATS_OK &&
        natsMsgHeader_Set(m, HDR_STATUS, text) == NATS_OK)
        natsConnection_PublishMsg(b->asap, m);
    natsMsg_Destroy(m);
}

static void imported_reply(int status, const void *data, size_t size, void *arg)
{
    struct imported_request *r = arg;
    if (status == 0)
        natsConnection_Publish(r->bridge->asap, r->reply, data, (int)size);
    else
        send_status(r->bridge, r->reply, status);
    struct bus_nats *b = r->bridge;
    free(r);
    bus__nats_import_done(b);
}

bool bus__nats_imported_by(const struct bus_nats *b, const bus_event_source_t *src)
{
    if (src->on_complete == imported_done)
        return src->arg == b;
    if (src->on_reply == imported_reply)
        return ((const struct imported_request *)src->reply_arg)->bridge == b;
    return bus__nats_js_imported_by(b, src);
}

static uint64_t request_timeout_ns(struct bus_nats *b, natsMsg *msg)
{
    const char *text = NULL;
    uint64_t ms = b->request_timeout_ms;
    if (natsMsgHeader_Get(msg, HDR_TIMEOUT, &text) == NATS_OK && text)
        ms = strtoull(text, NULL, 10);
    return ms * 1000000u;
}

/* Returns true if the request is in the bus's hands (it answers). */
static bool import_request(struct bus_nats *b, bus_topic_t *topic, natsMsg *msg)
{
    const char *origin = NULL;
    if (natsMsgHeader_Get(msg, HDR_ORIGIN, &origin) == NATS_OK && origin &&
        strcmp(origin, b->id) == 0) {
        count(&b->count.echo_skipped); /* our own, sent on the other connection */
        return false;
    }
    const char *reply = natsMsg_GetReply(msg);
    size_t n = strlen(reply) + 1;
    struct imported_request *r = malloc(sizeof(*r) + n);
    if (!r) {
        count(&b->count.dropped_local_error);
        return false;
    }
    r->bridge = b;
    memcpy(r->reply, reply, n);
    count(&b->count.requests_in);
    int rc = bus_request(topic, natsMsg_GetData(msg), (size_t)natsMsg_GetDataLength(msg),
                         request_timeout_ns(b, msg), imported_reply, r);
    if (rc) {
        count(rc == -EAGAIN ? &b->count.dropped_local_full : &b->count.dropped_local_error);
        send_status(b, reply, rc);
        free(r);
        return false;
    }
    count(&b->count.imported);
    return true;
}

static bool import_event(struct bus_nats *b, bus_topic_t *topic, natsMsg *msg)
{
    bus_publish_options_t opts = {.on_complete = imported_done, .arg = b};
    int rc = bus_publish_ex(topic, natsMsg_GetData(msg), (size_t)natsMsg_GetDataLength(msg), &opts);
    if (rc) {
        count(rc == -EAGAIN ? &b->count.dropped_local_full : &b->count.dropped_local_error);
        return false;
    }
    count(&b->count.imported);
    return true;
}

bool bus__nats_import_begin(struct bus_nats *b, natsMsg *msg, bus_topic_t **topic)
{
    /* Counted before the check of closing: bus_nats_destroy() sets closing,
     * then waits for inflight (both seq_cst), so either it waits for this
     * call or this call sees closing. */
    atomic_fetch_add_explicit(&b->inflight, 1, memory_order_seq_cst);
    if (atomic_load_explicit(&b->closing, memory_order_seq_cst)) {
        bus__nats_import_done(b);
        return false;
    }
    /* import_topic configures the topics an import creates; one that
     * exists (declared by the program) is taken as it is. */
    const char *name = natsMsg_GetSubject(msg);
    const bus_topic_config_t *cfg = b->has_import_topic ? &b->import_topic : NULL;
    if (bus_topic_find(b->bus, name, topic) != 0 && bus_topic_open(b->bus, name, cfg, topic)) {
        count(&b->count.dropped_local_error);
        bus__nats_import_done(b);
        return false;
    }
    return true;
}

static void on_message(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void)nc;
    (void)sub;
    struct bus_nats *b = closure;
    bus_topic_t *topic;
    if (bus__nats_import_begin(b, msg, &topic)) {
        bool handed = natsMsg_GetReply(msg) ? import_request(b, topic, msg)
                                            : import_event(b, topic, msg);
        if (!handed) /* else its completion or reply ends it */
            bus__nats_import_done(b);
    }
    natsMsg_Destroy(msg);
}

static void on_closed(void *closure)
{
    struct bus_nats *b = closure;
    pthread_mutex_lock(&b->lock);
    /* relaxed: under the lock the waiter reads it with. */
    atomic_fetch_sub_explicit(&b->open_subs, 1, memory_order_relaxed);
    pthread_cond_broadcast(&b->idle);
    pthread_mutex_unlock(&b->lock);
}

natsStatus bus__nats_watch_sub(struct bus_nats *b, natsSubscription *sub, int pending_msgs)
{
    natsStatus s = natsSubscription_SetPendingLimits(sub, pending_msgs, -1);
    if (s == NATS_OK) {
        atomic_fetch_add_explicit(&b->open_subs, 1, memory_order_relaxed);
        s = natsSubscription_SetOnCompleteCB(sub, on_closed, b);
        if (s != NATS_OK)
            atomic_fetch_sub_explicit(&b->open_subs, 1, memory_order_relaxed);
    }
    return s;
}

natsStatus bus__nats_import(struct bus_nats *b, const bus_nats_import_t *imp, int pending_msgs,
                            natsSubscription **out)
{
    natsSubscription *sub = NULL;
    natsStatus s = imp->group[0]
                       ? natsConnection_QueueSubscribe(&sub, b->nc, imp->pattern, imp->group,
                                                       on_message, b)
                       : natsConnection_Subscribe(&sub, b->nc, imp->pattern, on_message, b);
    if (s == NATS_OK)
        s = bus__nats_watch_sub(b, sub, pending_msgs);
    if (s != NATS_OK) {
        natsSubscription_Destroy(sub);
        return s;
    }
    *out = sub;
    return NATS_OK;
}
