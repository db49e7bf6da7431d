/*
 * bus/nats.h - scale-out: a bridge between a bus and a NATS cluster.
 *
 * Library bus-nats (pkg-config bus-nats), on top of bus (bus.h) and the NATS
 * C client (cnats, libnats). The core never links NATS; a program that
 * wants topics shared by several processes or machines links this.
 *
 * Model (docs/scale-out.md):
 *  - Export: every local topic matching an export pattern is published to
 *    the NATS subject of the same name, after an optional prefix. The bridge
 *    takes the events through a subscription of its own (a pattern
 *    subscription), on the bus's workers, and copies them into its export
 *    queue, which a thread of its own hands to cnats in batches: neither
 *    local publishers nor the local subscribers of the topic wait for the
 *    network, unless the queue is full (export_buf_bytes), the topic fills
 *    and its full policy is to block.
 *  - Import: NATS subjects matching an import pattern (wildcards allowed)
 *    are published onto the local topic of the same name, optionally as a
 *    member of a NATS queue group: each message then goes to one process of
 *    the group.
 *  - No echo: the connection does not receive its own messages (NATS "no
 *    echo"), and the export subscription skips the events the bridge
 *    imported itself (it recognises them by the completion callback they
 *    were published with, bus_event_source()), so a topic exported and
 *    imported by several processes is not sent round in circles.
 *  - Request-reply: bus_request() on an exported topic is sent as a NATS
 *    request with the time it has left; a process that imports the subject
 *    publishes it as a local request and sends the first reply back. The
 *    requester's on_reply gets the reply, -ETIMEDOUT, or -ENOENT when NATS
 *    knows no responder (or the remote bus had none).
 *  - Loss: core NATS is at most once. What the bridge could not hand to NATS
 *    (reconnect buffer full, connection closed) and what it could not
 *    publish locally (full topic, cnats' pending limit) is counted in
 *    bus_nats_stats(), never dropped silently; messages a server loses when
 *    it dies are beyond any client's sight.
 */
#ifndef BUS_NATS_H
#define BUS_NATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bus.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct bus_nats bus_nats_t; /* opaque */

enum {
    BUS_NATS_MAX_PATTERNS = 16, /* exports, and imports, per bridge */
    BUS_NATS_NAME_MAX = 256     /* a pattern or group, with its NUL */
};

/* One import: NATS subjects matching @pattern become local topics; with a
 * @group (non-empty), as a member of that NATS queue group. */
typedef struct bus_nats_import {
    char pattern[BUS_NATS_NAME_MAX];
    char group[BUS_NATS_NAME_MAX]; /* "" = every process gets every message */
} bus_nats_import_t;

/* The bridge's configuration: a plain struct, filled by
 * bus_nats_config_init() and then by hand or by bus_nats_config_parse(). */
typedef struct bus_nats_config {
    /* Servers, comma-separated: "nats://host:port[,nats://host:port...]"
     * (also tls://, and user:password@ or token@ in a URL). Required. */
    char servers[1024];
    /* Read by bus_nats_create() only (copied), NULL = none. */
    const char *name;     /* connection name, as the server shows it; also in
                             discovery answers, and the durable consumer
                             names of JetStream imports without a group */
    const char *token;    /* token authentication */
    const char *user;     /* user/password authentication */
    const char *password;
    /* TLS: used when a URL says tls:// or the server requires it (cnats
     * switches by itself); the CA file verifies the server (NULL = the
     * system's CAs), the certificate and key (PEM, both or neither)
     * authenticate the client to a server that verifies clients (mutual
     * TLS; NULL = none). bus_nats_create() reads them before connecting. */
    const char *tls_ca_file;
    const char *tls_cert_file;
    const char *tls_key_file;
    /* Exports: local topic patterns (NATS syntax, as
     * bus_subscribe_pattern()); each topic goes to subject
     * subject_prefix + name. */
    char exports[BUS_NATS_MAX_PATTERNS][BUS_NATS_NAME_MAX];
    unsigned n_exports;
    char subject_prefix[BUS_NATS_NAME_MAX]; /* e.g. "site1."; "" = none */
    bus_nats_import_t imports[BUS_NATS_MAX_PATTERNS];
    unsigned n_imports;
    /* Connecting and reconnecting. */
    uint32_t connect_timeout_ms;  /* per attempt; default 2000 */
    int max_reconnect;            /* attempts per outage; -1 = forever; default 60 */
    uint32_t reconnect_wait_ms;   /* between attempts on one server; default 2000 */
    /* Bytes of messages kept while disconnected, sent on reconnect; what
     * does not fit is refused and counted (dropped_reconnect_buffer).
     * Default 8 MiB (cnats'). */
    int64_t reconnect_buf_bytes;
    /* Bytes of exported events waiting for the bridge's exporter thread,
     * which hands them to cnats (core mode): the export handler copies an
     * event there and returns, so the local subscribers of an exported
     * topic do not wait for the network. A handler that finds it full
     * waits for room: the topic fills, and its full policy decides, as for
     * any slow subscriber. Default 4 MiB. */
    int64_t export_buf_bytes;
    /* A server down at the start: false (default) = bus_nats_create()
     * fails (-ECONNREFUSED); true = it returns a bridge that keeps trying
     * as for a reconnect (max_reconnect, reconnect_wait_ms), exporting into
     * the reconnect buffer meanwhile. */
    bool retry_on_failed_connect;
    /* Requests forwarded without a deadline (bus_request() with timeout 0)
     * wait this long for the remote reply; default 5000. */
    uint32_t request_timeout_ms;
    /* Messages an import may hold in cnats before the local topic takes
     * them; beyond, cnats drops them (dropped_slow_consumer). Default
     * 65536 (cnats'). */
    int pending_msgs;
    /* Configuration of the local topics an import creates; NULL = the
     * bus's defaults. Read by bus_nats_create() (copied). */
    const bus_topic_config_t *import_topic;
    /* JetStream mode (at least once; docs/scale-out.md): exports are
     * stored in a stream, imports read through durable consumers.
     *  - Export: an acknowledged publish (bus_publish_ex() with
     *    on_complete) waits in the bridge's handler for the stream's
     *    acknowledgment, so on_complete fires once the stream has stored
     *    the event (failed = 1 if it refused); other events are published
     *    asynchronously (refusals counted in js_failed) and resent after
     *    a reconnect if unacknowledged. Each carries Nats-Msg-Id
     *    "<bridge id>.<topic>.<seq>": the stream drops duplicates within
     *    its window (2 min by default). Requests are not forwarded (the
     *    stream itself would answer them with its acknowledgment).
     *  - Import: a durable push consumer per import (named after the
     *    group, or after `name` and the import's index; without either,
     *    ephemeral), explicit acks: an event is acknowledged once every
     *    local handler returned 0, else given back to NATS (nak) to be
     *    delivered again after backoff_ns, up to max_deliver deliveries:
     *    the semantics of bus_sub_options_t's fields of the same names,
     *    across processes. Handlers read NATS's delivery count in
     *    ev->attempt. A failed delivery before the last is neither
     *    dead-lettered nor redelivered locally (NATS redelivers it); a
     *    failure of the last one goes to the local dead letters
     *    (bus_dead_letter_topic()) once, with that count as its attempts
     *    (after a local subscription's own max_deliver, if it allows more),
     *    and the message is terminated: NATS gives up on it. */
    bool jetstream;
    /* The stream: created at bus_nats_create() for the exports' subjects
     * if missing (file storage); imports bind to it. "" = "BUS". */
    char stream[BUS_NATS_NAME_MAX];
    int64_t max_deliver; /* deliveries of one message; default -1 = no limit */
    /* The delay before the n-th redelivery of a failed import:
     * backoff_ns[min(n - 1, backoff_count - 1)] (the last repeats);
     * count 0 = at once. Copied by bus_nats_create(). */
    const uint64_t *backoff_ns;
    uint32_t backoff_count;
    uint32_t ack_wait_ms; /* redelivery after a silence; 0 = NATS's (30 s) */
} bus_nats_config_t;

/**
 * bus_nats_config_init - fill @cfg with the defaults (no server, no export,
 * no import). Thread-safety: any thread. @cfg NULL is ignored.
 */
BUS_API void bus_nats_config_init(bus_nats_config_t *cfg);

/**
 * bus_nats_config_parse - apply one command-line flag to @cfg:
 * `--nats URL[,URL...]` (sets servers), `--export PATTERN` (adds an
 * export), `--import PATTERN[@GROUP]` (adds an import, in a queue group if
 * @GROUP is given), `--nats-prefix PREFIX` (subject_prefix). @flag is the
 * flag with its dashes, @value its argument. Patterns are checked as
 * bus_subscribe_pattern() would.
 * Thread-safety: any thread, on its own @cfg.
 * Errors: -EINVAL (NULL argument, malformed value; bus_nats_last_error()
 * says which), -ENOSPC (more than BUS_NATS_MAX_PATTERNS, or a value too
 * long), -ENOENT (@flag is none of these: not an error of the value, let
 * the caller try its own flags).
 */
BUS_API int bus_nats_config_parse(bus_nats_config_t *cfg, const char *flag, const char *value);

/**
 * bus_nats_create - connect @bus to NATS as @cfg says, subscribe the
 * imports on NATS and the exports on the bus.
 * @out: receives the bridge; it lives until bus_nats_destroy(), which must
 *   come before bus_destroy().
 * Returns once the server has registered the imports (a round trip), so
 * that a message published anywhere after the return reaches them; with
 * retry_on_failed_connect and no server up, at once.
 * Thread-safety: any thread except a worker of @bus.
 * Errors: -EINVAL (NULL argument, no server, a malformed URL or pattern,
 * export_buf_bytes under 2, tls_cert_file without tls_key_file or the
 * reverse, a TLS file that is not PEM or a key not the certificate's;
 * bus_nats_last_error() says which), the errno of open() for a TLS file
 * that cannot be read (-ENOENT, -EACCES: before any connection attempt;
 * bus_nats_last_error() names the file), -ECONNREFUSED (no server
 * reachable, retry_on_failed_connect false), -EACCES (authentication or
 * TLS refused; a server that requires a client certificate and got none,
 * or refused it, is named as such: its INFO says tls_verify), -EAGAIN
 * (the exporter thread cannot be created), -ENOMEM, and the errors of
 * bus_subscribe_pattern().
 */
BUS_API int bus_nats_create(bus_t *bus, const bus_nats_config_t *cfg, bus_nats_t **out);

/**
 * bus_nats_destroy - stop exporting (waits for export handlers running,
 * then hands what they queued to cnats and stops the exporter thread),
 * stop importing, wait for the imported events still queued on the bus to
 * be handled (their replies and acknowledgements go out), flush what is
 * buffered for the server, and close the connection. NULL is ignored.
 * Thread-safety: any thread except a worker of the bridge's bus; not
 * concurrently with other calls on @nats.
 */
BUS_API void bus_nats_destroy(bus_nats_t *nats);

/**
 * bus_nats_flush - return once the server has everything the bridge sent
 * before the call (exported events, and after a reconnect its imports
 * registered again): the export queue handed to cnats (into its reconnect
 * buffer while disconnected), then a round trip on each connection; in JetStream mode,
 * also every export acknowledged by the stream (or counted in js_failed). Call it after
 * bus_flush() to know that the exports of the events flushed have reached
 * the server; while disconnected it waits for the reconnect.
 * @timeout_ns: relative; UINT64_MAX = forever.
 * Thread-safety: any thread except a worker of the bridge's bus.
 * Errors: -EINVAL (nats NULL), -ETIMEDOUT, -ENOTCONN (the connection is
 * closed for good: max_reconnect attempts failed).
 */
BUS_API int bus_nats_flush(bus_nats_t *nats, uint64_t timeout_ns);

/**
 * bus_nats_wait_connected - wait until the bridge's connection is
 * @connected (true: connected, after the first connect or a reconnect;
 * false: lost, reconnecting or closed). Woken by cnats' connection
 * callbacks, no polling. For tests and for programs that want to report
 * an outage.
 * @timeout_ns: relative; UINT64_MAX = forever.
 * Thread-safety: any thread.
 * Errors: -EINVAL (nats NULL), -ETIMEDOUT, -ENOTCONN (waiting for true on
 * a connection closed for good).
 */
BUS_API int bus_nats_wait_connected(bus_nats_t *nats, bool connected, uint64_t timeout_ns);

/* The subject where every bridge answers who it is (service discovery). */
#define BUS_NATS_DISCOVERY_SUBJECT "_BUS.discover"

/* One answer of bus_nats_discover(): a bridge's description as JSON,
 * {"id":"...","name":"...","jetstream":false,"prefix":"...",
 *  "exports":["orders.>"],"imports":[{"pattern":"jobs.>","group":"workers"}]}
 * ("group":"" for a plain import). Valid during the call only. */
typedef void (*bus_nats_peer_fn)(const char *json, size_t len, void *arg);

/**
 * bus_nats_discover - ask every other bridge on the cluster which topics it
 * exports and imports, and in which queue groups (a request on
 * BUS_NATS_DISCOVERY_SUBJECT, answered by each bridge on its own; this
 * bridge does not hear itself). Calls @fn(json, len, @arg) on the calling
 * thread for each answer, until @max answers came (0 = no limit) or
 * @timeout_ns passed. Returns the number of answers.
 * Thread-safety: any thread except a worker of the bridge's bus, until
 * bus_nats_destroy(); calls may overlap (each has a reply subject of its
 * own; an answer that comes after its call ended is dropped).
 * Errors: -EINVAL (nats or fn NULL), -ENOTCONN (not connected), -ENOMEM.
 */
BUS_API int bus_nats_discover(bus_nats_t *nats, uint64_t timeout_ns, unsigned max,
                              bus_nats_peer_fn fn, void *arg);

/**
 * bus_nats_describe - this bridge's own description, as it answers
 * bus_nats_discover() (the JSON above: its id, name, exports, imports),
 * copied to @buf (NUL-terminated) and its length to *@len.
 * Thread-safety: any thread, until bus_nats_destroy().
 * Errors: -EINVAL (nats or len NULL, buf NULL with cap > 0), -ENOSPC
 * (@cap too small: *@len says the length, without the NUL).
 */
BUS_API int bus_nats_describe(bus_nats_t *nats, char *buf, size_t cap, size_t *len);

/* Counters of a bridge (totals since bus_nats_create()). */
typedef struct bus_nats_stats {
    uint64_t exported;          /* events handed to NATS (requests included) */
    uint64_t imported;          /* messages published onto local topics */
    uint64_t echo_skipped;      /* events the export skipped: imported here */
    uint64_t requests_out;      /* local requests forwarded to NATS */
    uint64_t requests_in;       /* NATS requests published as local requests */
    uint64_t no_responders;     /* forwarded requests NATS found no responder for */
    /* Lost, by cause: */
    uint64_t dropped_reconnect_buffer; /* export refused: buffer full while disconnected */
    uint64_t dropped_closed;           /* export refused: connection closed or failed,
                                          or no memory to queue the event */
    uint64_t dropped_local_full;       /* import refused by a full local topic */
    uint64_t dropped_local_error;      /* import refused otherwise (bad name, closed topic) */
    uint64_t dropped_slow_consumer;    /* dropped by cnats at the pending limit */
    /* The connection. */
    uint64_t disconnects;
    uint64_t reconnects;
    bool connected;
    /* JetStream mode. */
    uint64_t js_failed;  /* exports the stream refused or never acknowledged */
    uint64_t js_resent;  /* unacknowledged exports sent again after a reconnect */
    uint64_t js_acked;   /* imports acknowledged: every local handler returned 0 */
    uint64_t js_nacked;  /* imports given back for redelivery, or ended
                            after their last delivery (max_deliver) */
    /* A gauge: messages received for the imports and not handled yet:
     * held by cnats (at most pending_msgs per import; beyond, dropped), or
     * on their way through the bus (requests: until answered). */
    uint64_t import_pending;
} bus_nats_stats_t;

/**
 * bus_nats_stats - copy the bridge's counters to @out (a near snapshot
 * while events flow). Thread-safety: any thread, handlers included, until
 * bus_nats_destroy(). Errors: -EINVAL (NULL argument).
 */
BUS_API int bus_nats_stats(bus_nats_t *nats, bus_nats_stats_t *out);

/**
 * bus_nats_prometheus - the counters of bus_nats_stats() as Prometheus text
 * (format 0.0.4), to append to bus_metrics_prometheus()'s:
 * `bus_nats_exported_total`, `bus_nats_imported_total`,
 * `bus_nats_echo_skipped_total`, `bus_nats_requests_total{direction}`,
 * `bus_nats_no_responders_total`, `bus_nats_dropped_total{cause}`,
 * `bus_nats_disconnects_total`, `bus_nats_reconnects_total`, the JetStream
 * counters, and the gauges `bus_nats_import_pending` and
 * `bus_nats_connected`.
 * @buf, @cap, @len: as bus_metrics_prometheus() (-ENOSPC: *@len says the
 *   length needed). Thread-safety: as bus_nats_stats().
 * Errors: -EINVAL (nats or len NULL, buf NULL with cap > 0), -ENOSPC.
 */
BUS_API int bus_nats_prometheus(bus_nats_t *nats, char *buf, size_t cap, size_t *len);

/**
 * bus_nats_last_error - what was wrong, in words, when a bus_nats_*() call
 * on the calling thread last failed (the server's or cnats' words for a
 * connection failure). "" if none. A static or thread-local string.
 */
BUS_API const char *bus_nats_last_error(void);

#ifdef __cplusplus
}
#endif

#endif /* BUS_NATS_H */
