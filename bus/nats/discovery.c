/* discovery.c - service discovery: each bridge answers requests on
 * BUS_NATS_DISCOVERY_SUBJECT with its description (exports, imports and
 * groups as JSON, written once at bus_nats_create()); bus_nats_discover()
 * asks and gathers the answers (scatter-gather: each call's answers come
 * on a subject of its own under the bridge's answers subscription). */
#include <errno.h>
#include <inttypes.h>
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

/* One answer, waiting for its call to take it. */
struct answer {
    struct answer *next;
    natsMsg *msg;
};

/* A bus_nats_discover() in progress: its answers come on
 * answers_prefix.<token>. Under discover_lock. */
struct discover_call {
    struct discover_call *next;
    uint64_t token;
    pthread_cond_t arrived;
    struct answer *head, **tail;
};

/* On cnats' delivery thread: hands the answer to its call, or drops it
 * when the call has ended (a late answer). */
static void on_answer(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void)nc;
    (void)sub;
    struct bus_nats *b = closure;
    const char *subject = natsMsg_GetSubject(msg);
    size_t skip = strlen(b->answers_prefix) + 1; /* the subscription's own prefix and "." */
    uint64_t token = strlen(subject) > skip ? strtoull(subject + skip, NULL, 10) : 0;
    struct answer *a = malloc(sizeof(*a));
    pthread_mutex_lock(&b->discover_lock);
    struct discover_call *c = b->calls;
    while (c && c->token != token)
        c = c->next;
    if (c && a) {
        *a = (struct answer){.msg = msg};
        *c->tail = a;
        c->tail = &a->next;
        pthread_cond_signal(&c->arrived);
        a = NULL;
        msg = NULL;
    }
    pthread_mutex_unlock(&b->discover_lock);
    free(a);
    natsMsg_Destroy(msg);
}

/* The answers' subscription lives as long as the bridge: a subscription
 * per call would be destroyed while cnats' reader may still hold it. */
static natsStatus answers_start(struct bus_nats *b)
{
    natsInbox *inbox = NULL;
    natsStatus s = natsInbox_Create(&inbox);
    if (s != NATS_OK)
        return s;
    snprintf(b->answers_prefix, sizeof(b->answers_prefix), "%s", inbox);
    natsInbox_Destroy(inbox);
    char subject[sizeof(b->answers_prefix) + 2];
    snprintf(subject, sizeof(subject), "%s.*", b->answers_prefix);
    s = natsConnection_Subscribe(&b->answers, b->asap, subject, on_answer, b);
    return s == NATS_OK ? bus__nats_watch_sub(b, b->answers, 1024) : s;
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
    /* bus_nats_destroy() waits for their close as for the imports'. */
    if (s == NATS_OK)
        s = bus__nats_watch_sub(b, b->discovery, 1024);
    if (s == NATS_OK)
        s = answers_start(b);
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

/* Calls @fn for the answers of @call until @max of them or @end. */
static int gather(struct bus_nats *b, struct discover_call *call, const struct timespec *end,
                  unsigned max, bus_nats_peer_fn fn, void *arg)
{
    int answers = 0;
    pthread_mutex_lock(&b->discover_lock);
    while (!max || (unsigned)answers < max) {
        if (!call->head) {
            if (pthread_cond_timedwait(&call->arrived, &b->discover_lock, end) == ETIMEDOUT &&
                !call->head)
                break;
            continue;
        }
        struct answer *a = call->head;
        call->head = a->next;
        if (!call->head)
            call->tail = &call->head;
        pthread_mutex_unlock(&b->discover_lock); /* @fn runs unlocked */
        fn(natsMsg_GetData(a->msg), (size_t)natsMsg_GetDataLength(a->msg), arg);
        natsMsg_Destroy(a->msg);
        free(a);
        answers++;
        pthread_mutex_lock(&b->discover_lock);
    }
    pthread_mutex_unlock(&b->discover_lock);
    return answers;
}

static void call_begin(struct bus_nats *b, struct discover_call *call)
{
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&call->arrived, &attr);
    pthread_condattr_destroy(&attr);
    call->head = NULL;
    call->tail = &call->head;
    pthread_mutex_lock(&b->discover_lock);
    call->token = ++b->next_call;
    call->next = b->calls;
    b->calls = call;
    pthread_mutex_unlock(&b->discover_lock);
}

/* Unlists @call and drops the answers it did not take. */
static void call_end(struct bus_nats *b, struct discover_call *call)
{
    pthread_mutex_lock(&b->discover_lock);
    struct discover_call **p = &b->calls;
    while (*p != call)
        p = &(*p)->next;
    *p = call->next;
    pthread_mutex_unlock(&b->discover_lock);
    while (call->head) {
        struct answer *a = call->head;
        call->head = a->next;
        natsMsg_Destroy(a->msg);
        free(a);
    }
    pthread_cond_destroy(&call->arrived);
}

int bus_nats_discover(bus_nats_t *b, uint64_t timeout_ns, unsigned max, bus_nats_peer_fn fn,
                      void *arg)
{
    if (!b || !fn)
        return -EINVAL;
    if (natsConnection_Status(b->asap) != NATS_CONN_STATUS_CONNECTED)
        return -ENOTCONN;
    uint64_t limit = timeout_ns > 3600 * 1000000000ull ? 3600 * 1000000000ull : timeout_ns;
    struct timespec end;
    clock_gettime(CLOCK_MONOTONIC, &end);
    end.tv_sec += (time_t)(limit / 1000000000u);
    end.tv_nsec += (long)(limit % 1000000000u);
    if (end.tv_nsec >= 1000000000) {
        end.tv_sec++;
        end.tv_nsec -= 1000000000;
    }
    struct discover_call call;
    call_begin(b, &call);
    char reply[sizeof(b->answers_prefix) + 24];
    snprintf(reply, sizeof(reply), "%s.%" PRIu64, b->answers_prefix, call.token);
    natsStatus s = natsConnection_PublishRequest(b->asap, BUS_NATS_DISCOVERY_SUBJECT, reply, NULL, 0);
    int rc = s == NATS_OK ? gather(b, &call, &end, max, fn, arg)
                          : s == NATS_NO_MEMORY ? -ENOMEM : -ENOTCONN;
    call_end(b, &call);
    return rc;
}
