/* jetstream.c - the JetStream mode (bus_nats_config_t.jetstream): the
 * stream for the exports, exports with publish acknowledgments and
 * Nats-Msg-Id, durable consumers whose messages are acknowledged once the
 * local handlers returned 0 and given back (nak) otherwise. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge.h"

static const char *stream_name(const bus_nats_config_t *cfg)
{
    return cfg->stream[0] ? cfg->stream : "BUS";
}

/* The server refused an asynchronous export, or never acknowledged it. */
static void on_publish_error(jsCtx *js, jsPubAckErr *pae, void *closure)
{
    (void)js, (void)pae;
    count(&((struct bus_nats *)closure)->count.js_failed);
}

/* The stream of the exports' subjects, made unless it exists (then it is
 * the operator's: its subjects are left alone). */
static natsStatus ensure_stream(struct bus_nats *b, const bus_nats_config_t *cfg)
{
    char subjects[BUS_NATS_MAX_PATTERNS][2 * BUS_NATS_NAME_MAX];
    const char *list[BUS_NATS_MAX_PATTERNS];
    for (unsigned i = 0; i < cfg->n_exports; i++) {
        snprintf(subjects[i], sizeof(subjects[i]), "%s%s", b->prefix, cfg->exports[i]);
        list[i] = subjects[i];
    }
    jsStreamConfig sc;
    jsStreamConfig_Init(&sc);
    sc.Name = stream_name(cfg);
    sc.Subjects = list;
    sc.SubjectsLen = (int)cfg->n_exports;
    sc.Storage = js_FileStorage;
    jsErrCode err = 0;
    natsStatus s = js_AddStream(NULL, b->js, &sc, NULL, &err);
    return s != NATS_OK && err == JSStreamNameExistErr ? NATS_OK : s;
}

natsStatus bus__nats_js_start(struct bus_nats *b, const bus_nats_config_t *cfg)
{
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.PublishAsync.ErrHandler = on_publish_error;
    jo.PublishAsync.ErrHandlerClosure = b;
    /* Bounded: beyond, an export waits for acknowledgments (back-pressure
     * on the topic) up to StallWait and then fails, counted; unbounded, an
     * absent stream would grow the pending list. cnats' 200 ms lost
     * events of a merely slow stream on a loaded machine (nats-bench). */
    jo.PublishAsync.MaxPending = 4096;
    jo.PublishAsync.StallWait = 5000;
    natsStatus s = natsConnection_JetStream(&b->js, b->nc, &jo);
    /* Without a server yet (retry_on_failed_connect), the stream must
     * exist by the time it comes. */
    if (s == NATS_OK && cfg->n_exports &&
        natsConnection_Status(b->nc) == NATS_CONN_STATUS_CONNECTED)
        s = ensure_stream(b, cfg);
    return s;
}

int bus__nats_js_export(struct bus_nats *b, const bus_event_t *ev, const char *subject,
                        bool acknowledged)
{
    char id[sizeof(b->id) + BUS_NATS_NAME_MAX + 24];
    snprintf(id, sizeof(id), "%s.%s.%" PRIu64, b->id, bus_topic_name(ev->topic), ev->seq);
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MsgId = id;
    if (!acknowledged)
        return bus__nats_count_publish(
            b, js_PublishAsync(b->js, subject, ev->data, (int)ev->size, &po));
    /* The publisher's on_complete runs after this handler: waiting for the
     * stream here makes it fire once the event is stored. */
    jsErrCode err = 0;
    natsStatus s = js_Publish(NULL, b->js, subject, ev->data, (int)ev->size, &po, &err);
    if (s != NATS_OK && err) {
        count(&b->count.js_failed);
        return -1;
    }
    return bus__nats_count_publish(b, s);
}

void bus__nats_js_resend(struct bus_nats *b)
{
    /* Unacknowledged exports may or may not have been stored before the
     * outage: sent again, the stream drops the copies (Nats-Msg-Id). */
    natsMsgList pending = {0};
    if (js_PublishAsyncGetPendingList(&pending, b->js) != NATS_OK)
        return;
    for (int i = 0; i < pending.Count; i++)
        count(js_PublishMsgAsync(b->js, &pending.Msgs[i], NULL) == NATS_OK ? &b->count.js_resent
                                                                         : &b->count.js_failed);
    natsMsgList_Destroy(&pending); /* the ones not sent again */
}

/* An imported message until its local handlers are done. */
struct js_import {
    struct bus_nats *bridge;
    natsMsg *msg;
    uint64_t delivered; /* NATS's deliveries of it, this one included */
    bool last;          /* max_deliver reached: NATS gives up after this one */
};

/* How many times NATS has delivered @msg, this time included (its
 * metadata); 1 if it cannot tell. */
static uint64_t deliveries(natsMsg *msg)
{
    jsMsgMetaData *meta = NULL;
    if (natsMsg_GetMetaData(&meta, msg) != NATS_OK)
        return 1;
    uint64_t n = meta->NumDelivered ? meta->NumDelivered : 1;
    jsMsgMetaData_Destroy(meta);
    return n;
}

/* The delay before the next delivery of a message delivered @n times, in
 * ms: backoff_ns[n - 1], the last entry repeating. */
static int64_t backoff_ms(const struct bus_nats *b, uint64_t n)
{
    if (!b->backoff_count)
        return 0;
    uint64_t i = n - 1 < b->backoff_count - 1 ? n - 1 : b->backoff_count - 1;
    return (int64_t)(b->backoff_ns[i] / 1000000u);
}

/* A failure of the last delivery is final (terminated: the local dead
 * letters have the event, and NATS redelivers nothing even if the consumer
 * allows more); an earlier one is given back after its backoff. */
static void settle(struct js_import *r, bool ok)
{
    struct bus_nats *b = r->bridge;
    int64_t delay;
    if (ok)
        natsMsg_Ack(r->msg, NULL);
    else if (r->last)
        natsMsg_Term(r->msg, NULL);
    else if ((delay = backoff_ms(b, r->delivered)) > 0)
        natsMsg_NakWithDelay(r->msg, delay, NULL);
    else
        natsMsg_Nak(r->msg, NULL);
    count(ok ? &b->count.js_acked : &b->count.js_nacked);
    natsMsg_Destroy(r->msg);
    free(r);
    bus__nats_import_done(b);
}

/* Acknowledged once every local handler returned 0 (and there was one);
 * otherwise NATS delivers it again. */
static void js_imported_done(const bus_completion_t *c, void *arg)
{
    settle(arg, c->status == 0 && c->failed == 0 && c->handled > 0);
}

bool bus__nats_js_imported_by(const struct bus_nats *b, const bus_event_source_t *src)
{
    return src->on_complete == js_imported_done &&
           ((const struct js_import *)src->arg)->bridge == b;
}

static void on_js_message(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void)nc, (void)sub;
    struct bus_nats *b = closure;
    bus_topic_t *topic;
    if (!bus__nats_import_begin(b, msg, &topic)) {
        natsMsg_Nak(msg, NULL); /* to another member, or later */
        natsMsg_Destroy(msg);
        return;
    }
    struct js_import *r = malloc(sizeof(*r));
    if (!r) {
        count(&b->count.dropped_local_error);
        natsMsg_Nak(msg, NULL);
        natsMsg_Destroy(msg);
        bus__nats_import_done(b);
        return;
    }
    uint64_t n = deliveries(msg);
    *r = (struct js_import){b, msg, n, b->max_deliver > 0 && n >= (uint64_t)b->max_deliver};
    /* Handlers see NATS's count; only the last delivery's failure reaches
     * the local dead letters (once, with that count): before it, NATS
     * delivers the message again. */
    bus_publish_options_t o = {.on_complete = js_imported_done,
                               .arg = r,
                               .attempt = n < UINT32_MAX ? (uint32_t)n : UINT32_MAX,
                               .publisher_redelivers = !r->last};
    int rc = bus_publish_ex(topic, natsMsg_GetData(msg), (size_t)natsMsg_GetDataLength(msg), &o);
    if (rc) {
        count(rc == -EAGAIN ? &b->count.dropped_local_full : &b->count.dropped_local_error);
        settle(r, false); /* redelivered later */
        return;
    }
    count(&b->count.imported);
}

/* Durable names: no dots, spaces or wildcards. */
static void durable_name(char *out, size_t cap, const char *name, unsigned i)
{
    snprintf(out, cap, "%s-%u", name, i);
    for (char *c = out; *c; c++)
        if (*c == '.' || *c == '*' || *c == '>' || *c <= ' ' || *c > '~')
            *c = '_';
}

natsStatus bus__nats_js_import(struct bus_nats *b, const bus_nats_config_t *cfg, unsigned i,
                               natsSubscription **out)
{
    const bus_nats_import_t *imp = &cfg->imports[i];
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = stream_name(cfg);
    so.ManualAck = true;
    char durable[BUS_NATS_NAME_MAX + 16];
    if (imp->group[0]) {
        so.Queue = imp->group; /* cnats names the durable consumer after it */
    } else if (cfg->name) {
        durable_name(durable, sizeof(durable), cfg->name, i);
        so.Config.Durable = durable;
    }
    so.Config.AckPolicy = js_AckExplicit;
    so.Config.DeliverPolicy = js_DeliverAll;
    so.Config.MaxDeliver = cfg->max_deliver;
    if (cfg->ack_wait_ms)
        so.Config.AckWait = (int64_t)cfg->ack_wait_ms * 1000000;
    natsSubscription *sub = NULL;
    jsErrCode err = 0;
    natsStatus s = js_Subscribe(&sub, b->js, imp->pattern, on_js_message, b, NULL, &so, &err);
    if (s == NATS_OK)
        s = bus__nats_watch_sub(b, sub, cfg->pending_msgs);
    if (s != NATS_OK) {
        natsSubscription_Destroy(sub);
        return s;
    }
    *out = sub;
    return NATS_OK;
}
