/* gateway.c - the gateway's life: start (config, topics, libmicrohttpd in
 * epoll thread-pool mode), the request callbacks, the timer that wakes
 * parked clients, and the graceful stop. */
#include "gateway.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "../clock.h"
#include "data_dir.h"
#include "webhook.h"

#define WEBHOOK_BODY_MAX 16384 /* a webhook's definition */

static _Thread_local char last_error[512];

const char *bus_http_last_error(void)
{
    return last_error;
}

static int start_fail(int err, const char *fmt, const char *detail)
{
    snprintf(last_error, sizeof(last_error), fmt, detail);
    return err;
}

void bus_http_config_init(bus_http_config_t *cfg)
{
    if (cfg)
        *cfg = (bus_http_config_t){.host = "127.0.0.1", .threads = 2};
}

uint16_t bus_http_port(const bus_http_t *gw)
{
    return gw ? gw->port : 0;
}

void waiting_add(struct bus_http *gw, int kind, int delta)
{
    atomic_fetch_add_explicit(&gw->waiting[kind], delta, memory_order_relaxed);
}

uint64_t wall_time_of(uint64_t publish_ns)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t wall = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    uint64_t age = clock_now_ns() - publish_ns;
    return wall > age ? wall - age : 0;
}

/* A POST's body, kept up to the limit; the rest is counted, not kept. */
static void take_body(struct conn *cn, const char *data, size_t n)
{
    if (cn->over || n > cn->limit - cn->len) {
        cn->over = true;
        return;
    }
    if (!cn->body) {
        cn->body = malloc(cn->limit ? cn->limit : 1);
        if (!cn->body) {
            cn->over = true; /* answered 413: better than a crash */
            return;
        }
    }
    memcpy(cn->body + cn->len, data, n);
    cn->len += n;
}

/* The first callback of a POST with a body: its limit, from the topic's
 * max_payload; a declared length over it is answered at once. */
static enum MHD_Result begin_post(struct conn *cn, struct MHD_Connection *c)
{
    cn->topic = topic_of(cn, c, true);
    if (!cn->topic)
        return MHD_YES; /* answered */
    cn->limit = cn->topic->cfg.max_payload;
    const char *declared = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                       MHD_HTTP_HEADER_CONTENT_LENGTH);
    uint64_t n;
    if (declared && parse_u64(declared, UINT64_MAX, &n) == 0 && n > cn->limit)
        return reply_bus_error(cn, c, -EMSGSIZE);
    const char *type = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                   MHD_HTTP_HEADER_CONTENT_TYPE);
    cn->json = type && strncasecmp(type, "application/json", 16) == 0 &&
               (type[16] == '\0' || type[16] == ';' || type[16] == ' ');
    return MHD_YES;
}

/* The checks every request passes before its route runs: answers and
 * returns false when one fails. */
static bool admitted(struct conn *cn, struct MHD_Connection *c)
{
    static const char *const right[ROUTE_KINDS] = {
        [ROUTE_PUBLISH] = "publish", [ROUTE_REQUEST] = "publish",
        [ROUTE_POLL] = "subscribe",  [ROUTE_STREAM] = "subscribe",
        [ROUTE_TOPIC] = "subscribe",
        [ROUTE_WEBHOOK_CREATE] = "webhooks", [ROUTE_WEBHOOK_LIST] = "webhooks",
        [ROUTE_WEBHOOK_GET] = "webhooks",    [ROUTE_WEBHOOK_DELETE] = "webhooks",
        [ROUTE_WEBHOOK_ENABLE] = "webhooks",
    };
    struct route *r = &cn->route;
    if (r->kind == ROUTE_NOT_FOUND) {
        reply_error(cn, c, MHD_HTTP_NOT_FOUND, "not_found", "no such path");
        return false;
    }
    if (r->kind == ROUTE_BAD_METHOD) {
        struct MHD_Response *resp = error_response("method_not_allowed",
                                                   "method not allowed");
        if (resp)
            MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, r->allow);
        reply(cn, c, MHD_HTTP_METHOD_NOT_ALLOWED, resp);
        return false;
    }
    if (r->kind == ROUTE_BAD_TOPIC) {
        reply_error(cn, c, MHD_HTTP_BAD_REQUEST, "bad_topic",
                    "malformed or reserved topic name");
        return false;
    }
    /* The dashboard's files hold no data: a browser loads them without a
     * token, its stream asks for one (?token= too, EventSource sets no
     * header). */
    if (r->kind != ROUTE_HEALTHZ && r->kind != ROUTE_DASHBOARD) {
        int status = auth_check(cn->gw, c, right[r->kind], r->topic);
        if (status) {
            reply_error(cn, c, status, status == 401 ? "unauthorized" : "forbidden",
                        status == 401 ? "a valid Bearer token is required"
                                      : "the token has no right on this topic");
            return false;
        }
    }
    return true;
}

static enum MHD_Result run_route(struct conn *cn, struct MHD_Connection *c)
{
    switch (cn->route.kind) {
    case ROUTE_HEALTHZ: return info_healthz(cn, c);
    case ROUTE_METRICS: return info_metrics(cn, c);
    case ROUTE_TOPICS: return info_topics(cn, c);
    case ROUTE_TOPIC: return info_topic(cn, c);
    case ROUTE_PUBLISH: return post_events(cn, c);
    case ROUTE_POLL: return poll_events(cn, c);
    case ROUTE_STREAM: return stream_events(cn, c);
    case ROUTE_REQUEST: return call_request(cn, c);
    case ROUTE_WEBHOOK_CREATE:
    case ROUTE_WEBHOOK_LIST:
    case ROUTE_WEBHOOK_GET:
    case ROUTE_WEBHOOK_DELETE:
    case ROUTE_WEBHOOK_ENABLE: return webhook_route(cn, c);
    case ROUTE_DASHBOARD: return dash_file(cn, c);
    case ROUTE_DASH_STREAM: return dash_stream(cn, c);
    case ROUTE_DASH_SNAPSHOT: return dash_snapshot(cn, c);
    case ROUTE_CLUSTER: return cluster_info(cn, c);
    default: return MHD_NO;
    }
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload, size_t *upload_size, void **state)
{
    (void)version;
    struct bus_http *gw = cls;
    struct conn *cn = *state;
    if (!cn) {
        cn = calloc(1, sizeof(*cn));
        if (!cn)
            return MHD_NO;
        cn->gw = gw;
        cn->start_ns = clock_now_ns();
        cn->parked_as = -1;
        *state = cn;
        pthread_mutex_lock(&gw->flight_lock);
        gw->in_flight++;
        pthread_mutex_unlock(&gw->flight_lock);
        route_parse(method, url, &cn->route);
        if (!admitted(cn, c))
            return MHD_YES;
        if (cn->route.kind == ROUTE_PUBLISH || cn->route.kind == ROUTE_REQUEST)
            return begin_post(cn, c);
        if (cn->route.kind == ROUTE_WEBHOOK_CREATE)
            cn->limit = WEBHOOK_BODY_MAX;
        return MHD_YES;
    }
    if (cn->status)
        return MHD_YES; /* answered; libmicrohttpd discards the rest of the body */
    if (*upload_size) {
        /* Slow bodies (slowloris): past the deadline the connection is
         * closed; the body can no longer be answered, HTTP-wise. */
        if (clock_now_ns() - cn->start_ns > (uint64_t)gw->cfg.body_timeout_ms * 1000000u)
            return MHD_NO;
        take_body(cn, upload, *upload_size);
        *upload_size = 0;
        return MHD_YES;
    }
    return run_route(cn, c);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **state,
                         enum MHD_RequestTerminationCode why)
{
    (void)c;
    (void)why;
    struct bus_http *gw = cls;
    struct conn *cn = *state;
    if (!cn)
        return;
    call_release(cn);
    if (cn->parked_as >= 0)
        waiting_add(gw, cn->parked_as, -1);
    sb_free(&cn->out);
    free(cn->body);
    free(cn);
    *state = NULL;
    pthread_mutex_lock(&gw->flight_lock);
    if (--gw->in_flight == 0)
        pthread_cond_broadcast(&gw->flight_cond);
    pthread_mutex_unlock(&gw->flight_lock);
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_state,
                          enum MHD_ConnectionNotificationCode code)
{
    (void)c;
    (void)socket_state;
    struct bus_http *gw = cls;
    atomic_fetch_add_explicit(&gw->connections, code == MHD_CONNECTION_NOTIFY_STARTED ? 1 : -1,
                              memory_order_relaxed);
}

/* Accepts a connection only under connection_limit and while the gateway
 * is not stopping: otherwise the connection is closed at once, a clean
 * refusal (libmicrohttpd's own limit, set higher, would leave the excess
 * waiting in the listen backlog). The count is the open connections as
 * notified, so threads accepting at the same moment may overshoot by one
 * each. */
static enum MHD_Result on_accept(void *cls, const struct sockaddr *addr, socklen_t len)
{
    (void)addr;
    (void)len;
    struct bus_http *gw = cls;
    /* relaxed: a connection accepted as the stop begins is served like
     * one accepted just before it (within the grace), or cut at the end. */
    if (atomic_load_explicit(&gw->stopping, memory_order_relaxed))
        return MHD_NO;
    int64_t open = atomic_load_explicit(&gw->connections, memory_order_relaxed);
    return open < (int64_t)gw->cfg.connection_limit ? MHD_YES : MHD_NO;
}

/* Every 20 ms: wake the parked clients whose deadline passed (long-poll
 * timeouts, stream heartbeats). A scan, not a heap: a few thousand parked
 * clients cost microseconds, and the tick bounds how late a timeout is. */
static void expire_one(struct served *s, void *now)
{
    window_expire(&s->win, *(uint64_t *)now);
}

static void *timer_main(void *arg)
{
    struct bus_http *gw = arg;
    pthread_mutex_lock(&gw->timer_lock);
    while (!gw->timer_stop) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_nsec += 20 * 1000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&gw->timer_cond, &gw->timer_lock, &ts);
        if (gw->timer_stop)
            break;
        pthread_mutex_unlock(&gw->timer_lock);
        uint64_t now = clock_now_ns();
        served_foreach(gw, expire_one, &now);
        window_expire(&gw->dash, now);
        dash_history_tick(gw, now);
        pthread_mutex_lock(&gw->timer_lock);
    }
    pthread_mutex_unlock(&gw->timer_lock);
    return NULL;
}

/* Opens the topics the config declares. */
static int serve_declared(struct bus_http *gw)
{
    for (size_t i = 0; i < gw->cfg.ntopics; i++) {
        struct served *s;
        int rc = served_get(gw, gw->cfg.topics[i].name, true, &s);
        if (rc && gw->cfg.topics[i].durable) {
            snprintf(last_error, sizeof(last_error), "durable topic %s: %s (%s)",
                     gw->cfg.topics[i].name, bus_strerror(rc), bus_last_error());
            return rc;
        }
        if (rc)
            return start_fail(rc, "topic %s: cannot be served (exists with another "
                                  "configuration, keyed or parallel, or no memory)",
                              gw->cfg.topics[i].name);
    }
    return 0;
}

static int start_daemon(struct bus_http *gw, const bus_http_config_t *cfg)
{
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(cfg->port)};
    if (inet_pton(AF_INET, cfg->host ? cfg->host : "127.0.0.1", &addr.sin_addr) != 1)
        return start_fail(-EINVAL, "host %s: not an IPv4 address", cfg->host);
    unsigned threads = cfg->threads ? cfg->threads : 2;
    const struct gw_config *c = &gw->cfg;
    /* One thread: the polling thread itself (a pool of 1 is refused). */
    struct MHD_OptionItem pool[] = {
        {threads > 1 ? MHD_OPTION_THREAD_POOL_SIZE : MHD_OPTION_END, threads, NULL},
        {MHD_OPTION_END, 0, NULL},
    };
    gw->daemon = MHD_start_daemon(
        MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG, 0,
        on_accept, gw, on_request, gw,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
        MHD_OPTION_ARRAY, pool,
        /* Split among the threads by libmicrohttpd: room for all on each,
         * on_accept keeps the total. */
        MHD_OPTION_CONNECTION_LIMIT, (unsigned int)(c->connection_limit + 1) * threads,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned int)c->per_ip_limit,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)c->connection_timeout_s,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)c->memory_limit,
        MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned int)1024,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, gw,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, gw,
        MHD_OPTION_END);
    if (!gw->daemon)
        return start_fail(-EADDRINUSE, "cannot listen on %s (in use, or not this host's)",
                          cfg->host ? cfg->host : "127.0.0.1");
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(gw->daemon,
                                                           MHD_DAEMON_INFO_BIND_PORT);
    gw->port = info ? info->port : cfg->port;
    return 0;
}

static void free_gateway(struct bus_http *gw)
{
    cluster_stop(gw); /* before the windows its feeds fill */
    if (gw->hooks)
        webhooks_stop(gw->hooks);
    served_free_all(gw);
    window_destroy(&gw->dash);
    dash_history_destroy(&gw->history);
    idem_destroy(&gw->idem);
    config_free(&gw->cfg);
    pthread_rwlock_destroy(&gw->served_lock);
    pthread_mutex_destroy(&gw->timer_lock);
    pthread_cond_destroy(&gw->timer_cond);
    pthread_mutex_destroy(&gw->flight_lock);
    pthread_cond_destroy(&gw->flight_cond);
    free(gw);
}

int bus_http_start(bus_t *bus, const bus_http_config_t *cfg, bus_http_t **out)
{
    last_error[0] = '\0';
    bus_http_config_t defaults;
    bus_http_config_init(&defaults);
    if (!cfg)
        cfg = &defaults;
    if (!bus || !out)
        return start_fail(-EINVAL, "bus_http_start: %s is NULL", bus ? "out" : "bus");
    if (cfg->threads > 256)
        return start_fail(-EINVAL, "bus_http_start: %s", "threads over 256");
    struct bus_http *gw = calloc(1, sizeof(*gw));
    if (!gw)
        return -ENOMEM;
    gw->bus = bus;
    pthread_rwlock_init(&gw->served_lock, NULL);
    pthread_mutex_init(&gw->timer_lock, NULL);
    pthread_mutex_init(&gw->flight_lock, NULL);
    /* Both conditions wait on CLOCK_MONOTONIC deadlines. */
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&gw->flight_cond, &ca);
    pthread_cond_init(&gw->timer_cond, &ca);
    pthread_condattr_destroy(&ca);
    config_defaults(&gw->cfg);
    int rc = window_init(&gw->dash, 1, 1);
    if (!rc)
        rc = dash_history_init(&gw->history);
    if (!rc && cfg->config_file)
        rc = config_load(&gw->cfg, cfg->config_file, last_error, sizeof(last_error));
    if (!rc && cfg->nats_nargs)
        rc = cluster_config_args(&gw->cfg.nats, cfg->nats_args, cfg->nats_nargs, last_error,
                                 sizeof(last_error));
    if (!rc)
        rc = data_dir_prepare(&gw->cfg, cfg->data_dir, last_error, sizeof(last_error));
    if (!rc)
        rc = idem_init(&gw->idem, gw->cfg.idempotency_keys,
                       (uint64_t)gw->cfg.idempotency_window_s * 1000000000u);
    if (!rc)
        rc = serve_declared(gw);
    if (!rc)
        rc = webhooks_start(&gw->hooks, bus, &gw->cfg, last_error, sizeof(last_error));
    if (!rc)
        rc = cluster_start(gw, last_error, sizeof(last_error));
    if (!rc)
        rc = start_daemon(gw, cfg);
    if (!rc && pthread_create(&gw->timer, NULL, timer_main, gw) != 0) {
        MHD_stop_daemon(gw->daemon);
        rc = -ENOMEM;
    }
    if (rc) {
        free_gateway(gw);
        return rc;
    }
    *out = gw;
    return 0;
}

static void wake_one(struct served *s, void *arg)
{
    (void)arg;
    window_wake_all(&s->win);
}

int bus_http_stop(bus_http_t *gw, uint64_t grace_ns)
{
    if (!gw)
        return -EINVAL;
    /* Stop accepting: from now on on_accept() closes each new connection
     * at once; connections open stay served until the end of the grace,
     * and the listening socket closes with MHD_stop_daemon. Not
     * MHD_quiesce_daemon(): with epoll worker threads it removes the
     * listening socket from each worker's epoll set while the worker may
     * be removing it too, and libmicrohttpd (0.9.75, an open defect) then
     * aborts the process ("Failed to remove listen FD from epoll set": CI
     * under ASan, 1 stop in about 150). */
    atomic_store_explicit(&gw->stopping, true, memory_order_seq_cst);
    /* Parked clients are answered now: long polls with what they have,
     * streams end, requests get 503. */
    served_foreach(gw, wake_one, NULL);
    window_wake_all(&gw->dash);
    call_wake_all(gw);
    uint64_t deadline = clock_deadline_ns(grace_ns);
    struct timespec until = {.tv_sec = (time_t)(deadline / 1000000000u),
                             .tv_nsec = (long)(deadline % 1000000000u)};
    pthread_mutex_lock(&gw->flight_lock);
    while (gw->in_flight &&
           pthread_cond_timedwait(&gw->flight_cond, &gw->flight_lock, &until) != ETIMEDOUT)
        ;
    pthread_mutex_unlock(&gw->flight_lock);
    pthread_mutex_lock(&gw->timer_lock);
    gw->timer_stop = true;
    pthread_cond_signal(&gw->timer_cond);
    pthread_mutex_unlock(&gw->timer_lock);
    pthread_join(gw->timer, NULL);
    /* Clients parked after the sweep (none: they see `stopping`) and
     * requests still in flight past the grace are cut here. */
    served_foreach(gw, wake_one, NULL);
    window_wake_all(&gw->dash);
    call_wake_all(gw);
    MHD_stop_daemon(gw->daemon);
    free_gateway(gw);
    return 0;
}
