/* call.c - POST /v1/topics/{name}/request?timeout_ms=T: request-reply
 * through the bus (bus_request()); the connection is parked until the
 * reply, the bus's timeout or the gateway's stop. */
#include "gateway.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A request between its publish and its answer. It is shared by the
 * connection and the bus's on_reply, which may come after the gateway is
 * gone (the bus times requests out on its own): so the lock is this
 * file's, not the gateway's, and on_reply touches the gateway's list only
 * while the call is parked, which the stop ends. */
struct call {
    struct call *prev, *next; /* gw->calls, while parked */
    struct bus_http *gw;
    struct MHD_Connection *c;
    int refs;     /* the connection's, and on_reply's until it runs */
    bool parked;  /* on gw->calls, connection suspended */
    bool answered;
    int status;   /* bus_reply_fn's, or -ESHUTDOWN: the gateway stopped */
    void *reply;
    size_t size;
};

static pthread_mutex_t calls_lock = PTHREAD_MUTEX_INITIALIZER;

static void put(struct call *k)
{
    if (--k->refs == 0) {
        free(k->reply);
        free(k);
    }
}

/* Under calls_lock: answer once, and resume the connection if parked. */
static void answer(struct call *k, int status, const void *reply, size_t size)
{
    if (!k->answered) {
        k->answered = true;
        k->status = status;
        if (status == 0 && size) {
            k->reply = malloc(size);
            if (k->reply)
                memcpy(k->reply, reply, size);
            else
                k->status = -ENOMEM;
        }
        k->size = size;
    }
    if (k->parked) {
        if (k->prev)
            k->prev->next = k->next;
        else
            k->gw->calls = k->next;
        if (k->next)
            k->next->prev = k->prev;
        k->parked = false;
        MHD_resume_connection(k->c);
    }
}

static void on_reply(int status, const void *reply, size_t size, void *arg)
{
    struct call *k = arg;
    pthread_mutex_lock(&calls_lock);
    answer(k, status, reply, size);
    put(k);
    pthread_mutex_unlock(&calls_lock);
}

void call_wake_all(struct bus_http *gw)
{
    pthread_mutex_lock(&calls_lock);
    while (gw->calls)
        answer(gw->calls, -ESHUTDOWN, NULL, 0);
    pthread_mutex_unlock(&calls_lock);
}

void call_release(struct conn *cn)
{
    if (!cn->call)
        return;
    pthread_mutex_lock(&calls_lock);
    put(cn->call);
    pthread_mutex_unlock(&calls_lock);
    cn->call = NULL;
}

static enum MHD_Result answered(struct conn *cn, struct MHD_Connection *c)
{
    struct call *k = cn->call;
    switch (k->status) {
    case 0: {
        struct MHD_Response *r = MHD_create_response_from_buffer(
            k->size, k->reply ? k->reply : (void *)"", MHD_RESPMEM_MUST_COPY);
        if (r)
            MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                                    "application/octet-stream");
        return reply(cn, c, MHD_HTTP_OK, r);
    }
    case -ETIMEDOUT:
        return reply_error(cn, c, MHD_HTTP_GATEWAY_TIMEOUT, "timeout",
                           "no reply within timeout_ms");
    case -ENOENT:
    case -ENOMSG:
        /* The window's own subscription is a listener that never replies:
         * "nobody replied" is "nobody listens" here. */
        return reply_error(cn, c, MHD_HTTP_SERVICE_UNAVAILABLE, "no_responders",
                           "nobody answers requests on this topic");
    default:
        return reply_bus_error(cn, c, k->status);
    }
}

/* Parks the connection and publishes the request. */
static enum MHD_Result start_call(struct conn *cn, struct MHD_Connection *c,
                                  uint64_t timeout_ms)
{
    struct call *k = calloc(1, sizeof(*k));
    if (!k)
        return MHD_NO;
    k->gw = cn->gw;
    k->c = c;
    k->refs = 2;
    cn->call = k;
    pthread_mutex_lock(&calls_lock);
    if (atomic_load_explicit(&cn->gw->stopping, memory_order_seq_cst)) {
        k->answered = true;
        k->status = -ESHUTDOWN;
        k->refs = 1;
        pthread_mutex_unlock(&calls_lock);
        return answered(cn, c);
    }
    k->parked = true;
    k->next = cn->gw->calls;
    if (k->next)
        k->next->prev = k;
    cn->gw->calls = k;
    MHD_suspend_connection(c);
    cn->parked_as = WAIT_REQUEST;
    waiting_add(cn->gw, WAIT_REQUEST, 1);
    pthread_mutex_unlock(&calls_lock);
    int rc = bus_request(cn->topic->topic, cn->len ? cn->body : NULL, cn->len,
                         timeout_ms * 1000000u, on_reply, k);
    if (rc) {
        pthread_mutex_lock(&calls_lock);
        answer(k, rc, NULL, 0); /* on_reply will not come */
        put(k);
        pthread_mutex_unlock(&calls_lock);
    }
    return MHD_YES;
}

enum MHD_Result call_request(struct conn *cn, struct MHD_Connection *c)
{
    if (cn->call) { /* resumed: answered */
        if (cn->parked_as >= 0) {
            waiting_add(cn->gw, cn->parked_as, -1);
            cn->parked_as = -1;
        }
        return answered(cn, c);
    }
    if (cn->over)
        return reply_bus_error(cn, c, -EMSGSIZE);
    uint64_t timeout_ms = cn->gw->cfg.request_timeout_ms;
    const char *v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "timeout_ms");
    if (v && (parse_u64(v, cn->gw->cfg.request_timeout_max_ms, &timeout_ms) || !timeout_ms)) {
        char msg[96];
        snprintf(msg, sizeof(msg), "timeout_ms must be a whole number from 1 to %u",
                 cn->gw->cfg.request_timeout_max_ms);
        return reply_error(cn, c, MHD_HTTP_BAD_REQUEST, "bad_query", msg);
    }
    return start_call(cn, c, timeout_ms);
}
