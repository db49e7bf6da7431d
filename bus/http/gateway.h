/* gateway.h - the gateway's state, shared by the files of bus/http/. */
#ifndef BUS_HTTP_GATEWAY_H
#define BUS_HTTP_GATEWAY_H

#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "bus/http.h"
#include "cluster.h"
#include "config.h"
#include "dash_history.h"
#include "idem.h"
#include "route.h"
#include "strbuf.h"
#include "window.h"

/* A topic served over HTTP: its bus topic and replay window. Lives until
 * the gateway stops. */
struct served {
    struct served *next; /* hash chain */
    struct bus_http *gw;
    char *name;
    bus_topic_t *topic;
    bus_sub_t *sub; /* feeds the window */
    bus_topic_config_t cfg; /* the bus topic's */
    bool durable; /* reads behind the window come from its journal (backlog.c) */
    struct window win;
};

#define SERVED_BUCKETS 256
#define STATUS_MIN 100
#define STATUS_MAX 599

enum wait_kind { WAIT_POLL, WAIT_STREAM, WAIT_REQUEST, WAIT_KINDS };

struct bus_http {
    bus_t *bus;
    struct gw_config cfg;
    struct MHD_Daemon *daemon;
    uint16_t port;

    pthread_rwlock_t served_lock; /* the table; entries never leave it */
    struct served *served[SERVED_BUCKETS];
    uint32_t nserved;

    struct idem idem;
    struct webhooks *hooks;
    struct cluster *cluster; /* the NATS bridge; NULL without NATS */
    /* Dashboard streams parked between snapshots (dash.c); no events. */
    struct window dash;
    struct dash_history history;

    /* Requests parked for a reply (call.c), so that a stop can answer
     * them; under call.c's lock. */
    struct call *calls;

    /* The timer: wakes parked clients at their deadline. */
    pthread_t timer;
    pthread_mutex_t timer_lock;
    pthread_cond_t timer_cond;
    bool timer_stop;

    /* seq_cst: the stop sets it, then sweeps every window under its lock;
     * a client parks under that lock after reading it, so either it sees
     * the flag or the sweep sees it parked. Relaxed would do with the
     * lock; seq_cst keeps the argument simple on a path that is not hot. */
    atomic_bool stopping;

    /* Requests between their first callback and their completion; the stop
     * waits for 0. */
    pthread_mutex_t flight_lock;
    pthread_cond_t flight_cond;
    uint32_t in_flight;

    /* Metrics; relaxed: counters and gauges, ordered with nothing. */
    atomic_uint_fast64_t requests[ROUTE_KINDS][STATUS_MAX - STATUS_MIN + 1];
    atomic_int_fast64_t connections;
    atomic_int_fast64_t waiting[WAIT_KINDS];
    atomic_uint_fast64_t idempotent_replays;
};

/* One request's state, from its first callback to its completion. */
struct conn {
    struct bus_http *gw;
    struct route route;
    struct served *topic;
    uint64_t start_ns;
    int status; /* answered with; 0 = not yet */
    /* Body of a POST, up to `limit` bytes; `over` once more came. */
    char *body;
    size_t len, limit;
    bool over;
    bool json; /* Content-Type: application/json */
    /* Parked: a long poll or stream on its topic's window, a request. */
    struct waiter waiter;
    int parked_as; /* enum wait_kind, -1 = not counted as waiting */
    uint64_t deadline_ns;
    /* Long poll and stream */
    uint64_t after;
    bool after_given;
    uint32_t limit_events;
    /* Long poll: the window's `acked` when the poll first looked (0 = not
     * yet, or nothing acknowledged): it answers once the window holds it,
     * waiting up to POLL_CATCH_UP_NS for that even with wait=0. */
    uint64_t must_see;
    bool must_see_read;
    /* Stream: bytes formatted and not yet taken by libmicrohttpd; the
     * dashboard's stream: next_heartbeat_ns is its next snapshot */
    struct strbuf out;
    size_t out_sent;
    uint64_t next_heartbeat_ns;
    bool ending; /* the stream says why it ends, then ends */
    /* Request */
    struct call *call;
};

/* Routes (post.c, poll.c, stream.c, call.c, info.c). Each answers the
 * request (or parks it) and returns what libmicrohttpd's callback returns. */
enum MHD_Result post_events(struct conn *cn, struct MHD_Connection *c);
enum MHD_Result poll_events(struct conn *cn, struct MHD_Connection *c);
enum MHD_Result stream_events(struct conn *cn, struct MHD_Connection *c);
enum MHD_Result call_request(struct conn *cn, struct MHD_Connection *c);
enum MHD_Result info_healthz(struct conn *cn, struct MHD_Connection *c);
enum MHD_Result info_metrics(struct conn *cn, struct MHD_Connection *c);
enum MHD_Result info_topics(struct conn *cn, struct MHD_Connection *c);
enum MHD_Result info_topic(struct conn *cn, struct MHD_Connection *c);
/* The dashboard's files and its stream (dash.c). */
enum MHD_Result dash_file(struct conn *cn, struct MHD_Connection *c);
enum MHD_Result dash_stream(struct conn *cn, struct MHD_Connection *c);
enum MHD_Result dash_snapshot(struct conn *cn, struct MHD_Connection *c);
/* A Server-Sent Events response (sse.c): its bytes are what @fill puts in
 * cn->out, a block of up to @block bytes at a time. @fill returns false
 * when it parked the connection (it is called again once resumed); true
 * with cn->out empty and cn->ending set ends the stream. */
typedef bool (*sse_fill_fn)(struct conn *cn, struct MHD_Connection *c);
enum MHD_Result sse_reply(struct conn *cn, struct MHD_Connection *c, size_t block,
                          sse_fill_fn fill);
/* The webhook routes (webhook_api.c). */
enum MHD_Result webhook_route(struct conn *cn, struct MHD_Connection *c);

/* Shared by the long poll and the stream (poll.c). poll_setup: the first
 * call's topic and query (`after`; `limit` and `wait` too when
 * @with_limit); false after answering. Under the window's lock: poll_gone,
 * whether `after` is older than what is retained; poll_first, the first seq
 * to send. poll_render_event: one event as the JSON object the long poll
 * lists ({"seq","time_ns","data" or "data_b64"}), on one line. */
bool poll_setup(struct conn *cn, struct MHD_Connection *c, bool with_limit);
bool poll_gone(const struct window *w, const struct conn *cn);
uint64_t poll_first(const struct window *w, const struct conn *cn);
void poll_render_event(struct strbuf *b, const struct event *ev);
/* Reads the query number @name (untouched when absent; @given says, may
 * be NULL); answers 400 and returns false when malformed (poll.c). */
bool query_number(struct conn *cn, struct MHD_Connection *c, const char *name, uint64_t min,
                  uint64_t max, uint64_t *out, bool *given);
/* Whether @len bytes at @body are one JSON value (post.c). */
bool json_valid(const char *body, size_t len);
/* 410 {"error","code":"gone","oldest"} */
enum MHD_Result poll_reply_gone(struct conn *cn, struct MHD_Connection *c, uint64_t oldest);

/* A durable topic's events behind its window, from its journal
 * (backlog.c). backlog_wanted, under the window's lock: whether the
 * events after cn->after are read from the journal (the window holds none
 * of them: older than its oldest, or it is empty since the start).
 * backlog_gone: whether the event after @after was deleted by the
 * journal's retention (*@oldest: the oldest left). backlog_read: up to
 * @limit events after @after, each given to @emit (valid during the call),
 * with no lock held; their number (0: none yet), -ENODATA when the first
 * is gone (*@oldest set), -ENOMEM. */
bool backlog_wanted(const struct served *s, const struct conn *cn);
bool backlog_gone(const struct served *s, uint64_t after, uint64_t *oldest);
int backlog_read(struct served *s, uint64_t after, uint32_t limit,
                 void (*emit)(const struct event *ev, void *arg), void *arg, uint64_t *oldest);

/* Stream and call state, freed with the request. */
void call_release(struct conn *cn);
/* At stop: answer every parked request (503). */
void call_wake_all(struct bus_http *gw);

/* Served topics (served.c). Finds @name, or serves it (auto_create or a
 * declared topic). 0, -ENOENT (unknown, not auto-created), -ENOSPC
 * (max_topics), -ENOTSUP (a keyed or parallel topic: its seqs are not one
 * ordered sequence), -EEXIST (declared differently by the program),
 * -ENOMEM, -ESHUTDOWN. */
int served_get(struct bus_http *gw, const char *name, bool create, struct served **out);
/* Calls @fn for each served topic, under the table's read lock. */
void served_foreach(struct bus_http *gw, void (*fn)(struct served *s, void *arg), void *arg);
void served_free_all(struct bus_http *gw);

/* Auth (auth.c): 0 when the request may go on, else the status to answer
 * (401, 403). @right: "publish", "subscribe", "webhooks", or NULL for any
 * token. */
int auth_check(const struct bus_http *gw, struct MHD_Connection *c, const char *right,
               const char *topic);

/* Answers (reply.c). Each queues the response and counts it. */
enum MHD_Result reply(struct conn *cn, struct MHD_Connection *c, int status,
                      struct MHD_Response *r);
/* A response of the body built in @b (taken), with its content type; NULL
 * when memory ran out. error_response: {"error": @msg, "code": @code}. */
struct MHD_Response *response_of(struct strbuf *b, const char *type);
struct MHD_Response *error_response(const char *code, const char *msg);
/* A body built in @b (taken), with its content type. */
enum MHD_Result reply_text(struct conn *cn, struct MHD_Connection *c, int status,
                           struct strbuf *b, const char *type);
/* {"error": @msg, "code": @code} */
enum MHD_Result reply_error(struct conn *cn, struct MHD_Connection *c, int status,
                            const char *code, const char *msg);
/* The answer to a bus or served-topic error @err (-ENOENT: unknown topic,
 * -EAGAIN: full, -EMSGSIZE: too large, -ESHUTDOWN, ...; 500 for others). */
enum MHD_Result reply_bus_error(struct conn *cn, struct MHD_Connection *c, int err);
/* The topic of the request, per its route; NULL after answering. */
struct served *topic_of(struct conn *cn, struct MHD_Connection *c, bool create);

/* Appends the Prometheus text that @fn writes as bus_metrics_prometheus()
 * does (buffer, capacity, length; -ENOSPC when short) for @src (info.c). */
typedef int (*prometheus_fn)(void *src, char *buf, size_t cap, size_t *len);
void prometheus_text(struct strbuf *b, prometheus_fn fn, void *src);

/* Parked-client accounting for the metrics (@kind: enum wait_kind). */
void waiting_add(struct bus_http *gw, int kind, int delta);

/* CLOCK_REALTIME ns of an event stamped @publish_ns (CLOCK_MONOTONIC). */
uint64_t wall_time_of(uint64_t publish_ns);

#endif /* BUS_HTTP_GATEWAY_H */
