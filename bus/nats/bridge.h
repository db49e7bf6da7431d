/* bridge.h - the bridge's state, shared by its files: connect (bridge.c),
 * export (export.c), import (import.c), counters (stats.c). */
#ifndef BUS_NATS_BRIDGE_H
#define BUS_NATS_BRIDGE_H

#include <nats/nats.h>
#include <pthread.h>
#include <stdatomic.h>

#include "bus/nats.h"

/* Headers of forwarded requests and of error replies. */
#define HDR_ORIGIN "Bus-Origin"         /* the forwarding bridge's id */
#define HDR_TIMEOUT "Bus-Timeout-Ms"    /* the time the request has left */
#define HDR_STATUS "Bus-Status"         /* a negative errno instead of a reply */

/* Counters: relaxed atomics, each an independent total (stats.c reads a
 * near snapshot, as bus_topic_stats() does). */
struct nats_counters {
    _Atomic uint64_t exported, imported, echo_skipped, requests_out, requests_in,
        no_responders, dropped_reconnect_buffer, dropped_closed, dropped_local_full,
        dropped_local_error, disconnects, reconnects, js_failed, js_resent, js_acked, js_nacked;
};

/* export_queue.c: plain events on their way from the export handler to
 * cnats (core mode). */
struct export_batch {
    char *data;
    size_t len, cap; /* bytes used, allocated */
    uint64_t records;
};

struct export_queue {
    pthread_mutex_t lock; /* guards everything below but thread and limit */
    pthread_cond_t more;     /* the exporter waits for events */
    pthread_cond_t progress; /* handlers wait for room, flushes for the drain */
    struct export_batch fill;  /* handlers append here */
    struct export_batch spare; /* the exporter's: being published, or empty */
    size_t limit;              /* bytes in fill at most (export_buf_bytes / 2) */
    uint64_t queued, done;     /* events appended; handed to cnats (or refused) */
    bool exporter_sleeping, stop; /* sleeping: until a handler wakes it */
    bool started; /* the thread runs: written before and after it only */
    pthread_t thread;
};

struct bus_nats {
    bus_t *bus;
    /* Events and their subscriptions: batched by cnats' flusher. */
    natsConnection *nc;
    /* Requests and replies: sent at once (SendAsap), not after the
     * flusher's 1 ms of batching. */
    natsConnection *asap;
    jsCtx *js; /* JetStream mode, else NULL */
    natsSubscription *discovery; /* on asap: answers with description */
    char *description;           /* JSON, see bus_nats_discover() */
    /* bus_nats_discover()'s side (discovery.c): one subscription for the
     * bridge's life on answers_prefix + ".*", each call waiting for the
     * answers on its own token. */
    natsSubscription *answers;
    char answers_prefix[64];
    pthread_mutex_t discover_lock; /* guards calls and next_call */
    struct discover_call *calls;   /* the calls waiting, a list */
    uint64_t next_call;
    char id[64]; /* in HDR_ORIGIN: this bridge's own forwarded requests */
    char prefix[BUS_NATS_NAME_MAX];
    size_t prefix_len;
    bus_topic_config_t import_topic;
    bool has_import_topic;
    uint32_t request_timeout_ms;
    int64_t max_deliver;  /* JetStream imports' deliveries; <= 0 = no limit */
    uint64_t *backoff_ns; /* JetStream imports' redelivery delays (copied) */
    uint32_t backoff_count;
    struct export_queue queue;
    bus_sub_t *exports[BUS_NATS_MAX_PATTERNS];
    unsigned n_exports;
    natsSubscription *imports[BUS_NATS_MAX_PATTERNS];
    unsigned n_imports;
    struct nats_counters count;
    /* Imports in progress (a cnats callback running, an imported event or
     * request not completed yet) and import subscriptions not yet closed:
     * bus_nats_destroy() waits for both to reach 0. */
    _Atomic uint64_t inflight;
    _Atomic unsigned open_subs;
    _Atomic bool closing;
    unsigned open_conns; /* under lock: connections whose closed callback is due */
    /* With idle: the waits of bus_nats_destroy() (inflight and
     * open_subs at 0) and bus_nats_wait_connected() (a state change). */
    pthread_mutex_t lock;
    pthread_cond_t idle;
};

static inline void count(_Atomic uint64_t *c)
{
    /* relaxed: a total; nothing is published through it. */
    atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

/* export.c: the handler of the export subscriptions. */
int bus__nats_export(const bus_event_t *ev, void *ctx);
/* import.c: subscribe one import; whether an event came from this bridge. */
natsStatus bus__nats_import(struct bus_nats *b, const bus_nats_import_t *imp, int pending_msgs,
                            natsSubscription **out);
bool bus__nats_imported_by(const struct bus_nats *b, const bus_event_source_t *src);
/* import.c, shared with jetstream.c: an import begins (counted in
 * inflight; false: dropped and ended, the bridge is closing or the topic
 * cannot be opened); a subscription's pending limit and close watch. */
bool bus__nats_import_begin(struct bus_nats *b, natsMsg *msg, bus_topic_t **topic);
natsStatus bus__nats_watch_sub(struct bus_nats *b, natsSubscription *sub, int pending_msgs);
/* export_queue.c: the exporter thread (start: 0 or -errno; stop: after
 * the export subscriptions ended, publishes what is left, then joins);
 * enqueue one event (0, or -1 counted as refused); drain: wait until
 * everything queued before the call is handed to cnats (@until NULL =
 * forever; 0 or -ETIMEDOUT). */
int bus__nats_export_start(struct bus_nats *b, size_t limit);
void bus__nats_export_stop(struct bus_nats *b);
int bus__nats_export_enqueue(struct bus_nats *b, const char *subject, const void *data,
                             size_t size);
int bus__nats_export_drain(struct bus_nats *b, const struct timespec *until);
/* export.c: counts a publish's outcome; 0, or -1 (a handler error). */
int bus__nats_count_publish(struct bus_nats *b, natsStatus s);
/* jetstream.c: the JetStream mode's context and stream, its exports,
 * imports, resends after a reconnect, and its own imported events. */
natsStatus bus__nats_js_start(struct bus_nats *b, const bus_nats_config_t *cfg);
int bus__nats_js_export(struct bus_nats *b, const bus_event_t *ev, const char *subject,
                        bool acknowledged);
natsStatus bus__nats_js_import(struct bus_nats *b, const bus_nats_config_t *cfg, unsigned i,
                               natsSubscription **out);
void bus__nats_js_resend(struct bus_nats *b);
bool bus__nats_js_imported_by(const struct bus_nats *b, const bus_event_source_t *src);
/* bridge.c: one import finished (bus_nats_destroy() may be waiting). */
void bus__nats_import_done(struct bus_nats *b);
/* state.c: cnats' connection callbacks on @opts: closing (both
 * connections), counters and wake-ups (@main, the events' connection). */
natsStatus bus__nats_watch_state(natsOptions *opts, struct bus_nats *b, bool main);
/* state.c: the absolute CLOCK_REALTIME time @ns from now, for
 * pthread_cond_timedwait; false if it does not fit (wait forever). */
bool bus__nats_deadline(uint64_t ns, struct timespec *ts);
/* state.c: retry_on_failed_connect, in the background. */
natsStatus bus__nats_retry_connect(natsOptions *opts, struct bus_nats *b);
/* discovery.c: the description and the discovery subscription. */
natsStatus bus__nats_discovery_start(struct bus_nats *b, const bus_nats_config_t *cfg);
/* error.c: errno for a cnats status; records the detail; returns -errno. */
int bus__nats_fail(natsStatus s, const char *what);
int bus__nats_fail_text(int err, const char *what);
/* tls.c: the TLS files checked (readable, in pairs, loadable), 0 or an
 * error with bus_nats_last_error() naming the file; and whether the
 * server's INFO says it verifies client certificates (a probe, for the
 * words of a failed connect). */
int bus__nats_check_tls(const bus_nats_config_t *cfg);
bool bus__nats_server_verifies_clients(const bus_nats_config_t *cfg);

#endif
