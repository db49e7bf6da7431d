/* export.c - local events to NATS: the handler of the bridge's pattern
 * subscriptions, on the bus's workers. Plain events go to the export queue
 * (export_queue.c), which the exporter thread hands to cnats; requests go
 * out on the SendAsap connection and hold the worker until the reply or
 * the request's deadline. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "bridge.h"

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A refused publish: counted by cause, and a handler error for the bus
 * (the subscription's handler_errors, a dead letter if configured). */
int bus__nats_count_publish(struct bus_nats *b, natsStatus s)
{
    if (s == NATS_OK) {
        count(&b->count.exported);
        return 0;
    }
    count(s == NATS_INSUFFICIENT_BUFFER ? &b->count.dropped_reconnect_buffer
                                        : &b->count.dropped_closed);
    return -1;
}

/* The answer of the remote side: a reply, or HDR_STATUS with an errno. */
static void pass_reply(const bus_event_t *ev, natsMsg *reply)
{
    const char *status = NULL;
    if (natsMsgHeader_Get(reply, HDR_STATUS, &status) == NATS_OK && status) {
        int err = (int)strtol(status, NULL, 10);
        bus_reply_error(ev, err < 0 ? err : -EIO);
        return;
    }
    bus_reply(ev, natsMsg_GetData(reply), (size_t)natsMsg_GetDataLength(reply));
}

static int forward_request(struct bus_nats *b, const bus_event_t *ev, const char *subject,
                           uint64_t deadline_ns)
{
    uint64_t now = now_ns();
    if (deadline_ns <= now)
        return 0; /* the local timer answers -ETIMEDOUT */
    int64_t timeout_ms = deadline_ns == UINT64_MAX ? (int64_t)b->request_timeout_ms
                                                   : (int64_t)((deadline_ns - now + 999999) / 1000000);
    char timeout[24];
    snprintf(timeout, sizeof(timeout), "%" PRId64, timeout_ms);
    natsMsg *req = NULL, *reply = NULL;
    natsStatus s = natsMsg_Create(&req, subject, NULL, ev->data, (int)ev->size);
    if (s == NATS_OK)
        s = natsMsgHeader_Set(req, HDR_ORIGIN, b->id);
    if (s == NATS_OK)
        s = natsMsgHeader_Set(req, HDR_TIMEOUT, timeout);
    if (s == NATS_OK) {
        count(&b->count.requests_out);
        s = natsConnection_RequestMsg(&reply, b->asap, req, timeout_ms);
    }
    natsMsg_Destroy(req);
    switch (s) {
    case NATS_OK:
        count(&b->count.exported);
        pass_reply(ev, reply);
        natsMsg_Destroy(reply);
        return 0;
    case NATS_NO_RESPONDERS:
        count(&b->count.exported);
        count(&b->count.no_responders);
        bus_reply_error(ev, -ENOENT);
        return 0;
    case NATS_TIMEOUT:
        count(&b->count.exported);
        bus_reply_error(ev, -ETIMEDOUT);
        return 0;
    default:
        bus_reply_error(ev, -ENOTCONN);
        return bus__nats_count_publish(b, s);
    }
}

int bus__nats_export(const bus_event_t *ev, void *ctx)
{
    struct bus_nats *b = ctx;
    bus_event_source_t src = {0};
    if (bus_event_source(ev, &src) == 0 && bus__nats_imported_by(b, &src)) {
        count(&b->count.echo_skipped);
        return 0;
    }
    char subject[2 * BUS_NATS_NAME_MAX];
    const char *name = bus_topic_name(ev->topic);
    size_t n = strlen(name);
    memcpy(subject, b->prefix, b->prefix_len);
    memcpy(subject + b->prefix_len, name, n + 1);
    if (b->js) /* requests are not forwarded: see bus_nats_config_t */
        return src.on_reply ? 0 : bus__nats_js_export(b, ev, subject, src.on_complete != NULL);
    if (src.on_reply)
        return forward_request(b, ev, subject, src.deadline_ns);
    return bus__nats_export_enqueue(b, subject, ev->data, ev->size);
}
