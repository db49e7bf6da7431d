/* discovery.c - service discovery: each bridge answers requests on
 * BUS_NATS_DISCOVERY_SUBJECT with its description (exports, imports and
 * groups as JSON, written once at bus_nats_create()); bus_nats_discover()
 * asks and gathers the answers (scatter-gather on an inbox of its own). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bridge.h"

/* A JSON string; names hold no control characters (they are checked as
 * subjects), only quotes and backslashes need escaping. */
static int put_string(char *out, size_t cap, const char *s)
{
    size_t n = 0;
    if (n < cap)
        out[n] = '"';
    n++;
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') {
            if (n < cap)
                out[n] = '\\';
            n++;
        }
        if (n < cap)
            out[n] = *s;
        n++;
    }
    if (n < cap)
        out[n] = '"';
    return (int)n + 1;
}

#define PUT(...) (len += snprintf(len < cap ? out + len : NULL, len < cap ? cap - len : 0, __VA_ARGS__))
#define PUT_STRING(s) (len += (size_t)put_string(len < cap ? out + len : NULL, len < cap ? cap - len : 0, (s)))

/* The description of the bridge; its length (needs cap > it to fit). */
static size_t describe(const struct bus_nats *b, const bus_nats_config_t *cfg, char *out,
                       size_t cap)
{
    size_t len = 0;
    PUT("{\"id\":");
    PUT_STRING(b->id);
    PUT(",\"name\":");
    PUT_STRING(cfg->name ? cfg->name : "");
    PUT(",\"jetstream\":%s,\"prefix\":", cfg->jetstream ? "true" : "false");
    PUT_STRING(cfg->subject_prefix);
    PUT(",\"exports\":[");
    for (unsigned i = 0; i < cfg->n_exports; i++) {
        PUT(i ? "," : "");
        PUT_STRING(cfg->exports[i]);
    }
    PUT("],\"imports\":[");
    for (unsigned i = 0; i < cfg->n_imports; i++) {
        PUT("%s{\"pattern\":", i ? "," : "");
        PUT_STRING(cfg->imports[i].pattern);
        PUT(",\"group\":");
        PUT_STRING(cfg->imports[i].group);
        PUT("}");
    }
    PUT("]}");
    return len;
}

static void on_discover(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void)sub;
    struct bus_nats *b = closure;
    const char *reply = natsMsg_GetReply(msg);
    if (reply)
        natsConnection_Publish(nc, reply, b->description, (int)strlen(b->description));
    natsMsg_Destroy(msg);
}

natsStatus bus__nats_discovery_start(struct bus_nats *b, const bus_nats_config_t *cfg)
{
    size_t len = describe(b, cfg, NULL, 0);
    b->description = malloc(len + 1);
    if (!b->description)
        return NATS_NO_MEMORY;
    describe(b, cfg, b->description, len + 1);
    natsStatus s = natsConnection_Subscribe(&b->discovery, b->asap, BUS_NATS_DISCOVERY_SUBJECT,
                                            on_discover, b);
    /* bus_nats_destroy() waits for its close as for the imports'. */
    if (s == NATS_OK)
        s = bus__nats_watch_sub(b, b->discovery, 1024);
    /* Registered by the time bus_nats_create() returns. */
    if (s == NATS_OK && natsConnection_Status(b->asap) == NATS_CONN_STATUS_CONNECTED)
        s = natsConnection_FlushTimeout(b->asap, 5000);
    return s;
}

int bus_nats_describe(bus_nats_t *b, char *buf, size_t cap, size_t *len)
{
    if (!b || !len || (!buf && cap))
        return -EINVAL;
    *len = strlen(b->description);
    if (*len >= cap)
        return -ENOSPC;
    memcpy(buf, b->description, *len + 1);
    return 0;
}

int bus_nats_discover(bus_nats_t *b, uint64_t timeout_ns, unsigned max, bus_nats_peer_fn fn,
                      void *arg)
{
    if (!b || !fn)
        return -EINVAL;
    if (natsConnection_Status(b->asap) != NATS_CONN_STATUS_CONNECTED)
        return -ENOTCONN;
    char inbox[128];
    natsInbox *name = NULL;
    natsSubscription *sub = NULL;
    natsStatus s = natsInbox_Create(&name);
    if (s == NATS_OK) {
        snprintf(inbox, sizeof(inbox), "%s", name);
        natsInbox_Destroy(name);
        s = natsConnection_SubscribeSync(&sub, b->asap, inbox);
    }
    if (s == NATS_OK)
        s = natsConnection_PublishRequest(b->asap, BUS_NATS_DISCOVERY_SUBJECT, inbox, NULL, 0);
    if (s != NATS_OK) {
        natsSubscription_Destroy(sub);
        return s == NATS_NO_MEMORY ? -ENOMEM : -ENOTCONN;
    }
    struct timespec now, end;
    clock_gettime(CLOCK_MONOTONIC, &end);
    uint64_t limit = timeout_ns > 3600 * 1000000000ull ? 3600 * 1000000000ull : timeout_ns;
    int64_t end_ms = (int64_t)end.tv_sec * 1000 + end.tv_nsec / 1000000 + (int64_t)(limit / 1000000);
    int answers = 0;
    while (!max || (unsigned)answers < max) {
        clock_gettime(CLOCK_MONOTONIC, &now);
        int64_t left = end_ms - ((int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000);
        natsMsg *m = NULL;
        if (left <= 0 || natsSubscription_NextMsg(&m, sub, left) != NATS_OK)
            break;
        fn(natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m), arg);
        natsMsg_Destroy(m);
        answers++;
    }
    natsSubscription_Unsubscribe(sub);
    natsSubscription_Destroy(sub);
    return answers;
}
