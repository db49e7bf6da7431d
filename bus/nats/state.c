/* state.c - the connection's state: cnats' callbacks count disconnects and
 * reconnects and wake bus_nats_wait_connected(); bus_nats_flush() waits
 * for the server's answer on both connections. */
#include <errno.h>
#include <time.h>

#include "bridge.h"

static void wake(struct bus_nats *b)
{
    pthread_mutex_lock(&b->lock);
    pthread_cond_broadcast(&b->idle);
    pthread_mutex_unlock(&b->lock);
}

static void on_disconnected(natsConnection *nc, void *closure)
{
    (void)nc;
    count(&((struct bus_nats *)closure)->count.disconnects);
    wake(closure);
}

static void on_reconnected(natsConnection *nc, void *closure)
{
    (void)nc;
    struct bus_nats *b = closure;
    count(&b->count.reconnects);
    if (b->js)
        bus__nats_js_resend(b);
    wake(closure);
}

/* The first connect, when it came from retry_on_failed_connect. */
static void on_connected(natsConnection *nc, void *closure)
{
    (void)nc;
    wake(closure);
}

/* The last callback cnats makes for a connection (it queues them in
 * order): bus_nats_destroy() frees the bridge only after it. */
static void on_closed(natsConnection *nc, void *closure)
{
    (void)nc;
    struct bus_nats *b = closure;
    pthread_mutex_lock(&b->lock);
    b->open_conns--;
    pthread_cond_broadcast(&b->idle);
    pthread_mutex_unlock(&b->lock);
}

natsStatus bus__nats_watch_state(natsOptions *o, struct bus_nats *b, bool main)
{
    natsStatus s = natsOptions_SetClosedCB(o, on_closed, b);
    if (s == NATS_OK && main)
        s = natsOptions_SetDisconnectedCB(o, on_disconnected, b);
    if (s == NATS_OK && main)
        s = natsOptions_SetReconnectedCB(o, on_reconnected, b);
    return s;
}

natsStatus bus__nats_retry_connect(natsOptions *o, struct bus_nats *b)
{
    /* With a callback, natsConnection_Connect() returns at once and
     * retries in the background (without, it would block). */
    return natsOptions_SetRetryOnFailedConnect(o, true, on_connected, b);
}

bool bus__nats_deadline(uint64_t ns, struct timespec *ts)
{
    if (ns > (uint64_t)INT32_MAX * 1000000000u)
        return false;
    clock_gettime(CLOCK_REALTIME, ts);
    uint64_t t = (uint64_t)ts->tv_nsec + ns % 1000000000u;
    ts->tv_sec += (time_t)(ns / 1000000000u + t / 1000000000u);
    ts->tv_nsec = (long)(t % 1000000000u);
    return true;
}

int bus_nats_wait_connected(bus_nats_t *b, bool connected, uint64_t timeout_ns)
{
    if (!b)
        return -EINVAL;
    struct timespec until;
    bool timed = bus__nats_deadline(timeout_ns, &until);
    int rc = 0;
    pthread_mutex_lock(&b->lock);
    for (;;) {
        natsConnStatus st = natsConnection_Status(b->nc);
        if ((st == NATS_CONN_STATUS_CONNECTED) == connected)
            break;
        if (connected && st == NATS_CONN_STATUS_CLOSED) {
            rc = -ENOTCONN;
            break;
        }
        int w = timed ? pthread_cond_timedwait(&b->idle, &b->lock, &until)
                      : pthread_cond_wait(&b->idle, &b->lock);
        if (w == ETIMEDOUT) {
            rc = -ETIMEDOUT;
            break;
        }
    }
    pthread_mutex_unlock(&b->lock);
    return rc;
}

/* What is left of @timeout_ns, counted from @t0 (CLOCK_MONOTONIC). */
static uint64_t left_ns(const struct timespec *t0, uint64_t timeout_ns)
{
    if (timeout_ns == UINT64_MAX)
        return UINT64_MAX;
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    uint64_t spent = (uint64_t)(t1.tv_sec - t0->tv_sec) * 1000000000u + (uint64_t)t1.tv_nsec -
                     (uint64_t)t0->tv_nsec;
    return timeout_ns > spent ? timeout_ns - spent : 0;
}

int bus_nats_flush(bus_nats_t *b, uint64_t timeout_ns)
{
    if (!b)
        return -EINVAL;
    struct timespec t0, until;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    /* The exports queued so far reach cnats (its reconnect buffer while
     * disconnected), then the server. */
    int rc = bus__nats_export_drain(b, bus__nats_deadline(timeout_ns, &until) ? &until : NULL);
    if (rc == 0)
        rc = bus_nats_wait_connected(b, true, left_ns(&t0, timeout_ns));
    if (rc)
        return rc;
    uint64_t left = left_ns(&t0, timeout_ns);
    int64_t left_ms = left == UINT64_MAX ? INT64_MAX / 2 : (int64_t)(left / 1000000u) + 1;
    natsStatus s = natsConnection_FlushTimeout(b->nc, left_ms);
    if (s == NATS_OK)
        s = natsConnection_FlushTimeout(b->asap, left_ms);
    if (s == NATS_OK && b->js) { /* and the stream acknowledged the exports */
        jsPubOptions po;
        jsPubOptions_Init(&po);
        po.MaxWait = left_ms;
        s = js_PublishAsyncComplete(b->js, &po);
    }
    if (s == NATS_OK)
        return 0;
    return s == NATS_TIMEOUT ? -ETIMEDOUT : bus__nats_fail(s, "bus_nats_flush");
}
