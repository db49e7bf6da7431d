/*
 * bus/http.h - an HTTP gateway in front of a bus: clients outside the
 * process publish, long-poll, stream (Server-Sent Events) and make requests
 * over HTTP/1.1 (docs/gateway.md lists the endpoints).
 *
 * A layer above the core: its own library (libbus-http, pkg-config
 * `bus-http`), which brings libmicrohttpd, jansson and inih; a program that
 * uses only bus.h never links them. The program bus-gateway is this library
 * plus a command line.
 *
 * Each topic served over HTTP keeps a bounded replay window in memory (its
 * last N events and bytes), filled by an ordinary subscription: long polls
 * and streams read from it (and, on a durable topic, from its journal
 * behind it), and waiting clients are parked connections of libmicrohttpd
 * (suspended, no thread each), woken when the window grows.
 *
 * Conventions as bus.h: 0 or a negative errno; after a failed start,
 * bus_http_last_error() says why.
 */
#ifndef BUS_HTTP_H
#define BUS_HTTP_H

#include <stdint.h>

#include "bus.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct bus_http bus_http_t; /* opaque */

typedef struct bus_http_config {
    /* The address to listen on: an IPv4 address ("127.0.0.1", "0.0.0.0"),
     * copied. NULL = 127.0.0.1. */
    const char *host;
    uint16_t port;    /* 0 = a free port, chosen by the system (bus_http_port()) */
    unsigned threads; /* HTTP threads (libmicrohttpd's pool, epoll each);
                         0 = 2; at most 256 */
    /* An INI file (docs/gateway.md, "Configuration"): topics, tokens and
     * their rights, limits. Read by bus_http_start() only. NULL = defaults:
     * topics created on first use, no auth. */
    const char *config_file;
    /* Where durable topics keep their journals (topics/NAME) and webhooks
     * their state (webhooks/, unless [webhooks] state_dir says otherwise);
     * created if missing; copied. NULL = [gateway] data_dir of the config
     * file, which this overrides; a config declaring a durable topic needs
     * one or the other. */
    const char *data_dir;
    /* Scale-out through NATS (docs/scale-out.md): the flags of
     * bus_nats_config_parse() (--nats URL[,URL...], --export PATTERN,
     * --import PATTERN[@GROUP], --nats-prefix PREFIX, --jetstream STREAM)
     * as flag, value, flag, value... (@nats_nargs strings), applied after
     * the config file's [nats] section: --nats replaces its servers,
     * --export and --import add to its lists. Read by bus_http_start()
     * only. NULL, 0 = none; a build without the bridge (libbus-nats)
     * refuses any. */
    const char *const *nats_args;
    unsigned nats_nargs;
} bus_http_config_t;

/**
 * bus_http_config_init - fill @cfg with the defaults (127.0.0.1, a free
 * port, 2 threads, no config file). @cfg NULL is ignored.
 * Thread-safety: any thread.
 */
BUS_API void bus_http_config_init(bus_http_config_t *cfg);

/**
 * bus_http_start - read the configuration, open the topics it declares on
 * @bus, bind the address and serve until bus_http_stop().
 * @bus: the caller's; it must outlive the gateway (stop it first). The
 *   gateway opens topics and subscribes to them (one subscription per topic
 *   served, for its replay window); it never shuts the bus down.
 * @out: receives the gateway; untouched on error.
 * Thread-safety: any thread that is not a worker of @bus.
 * With NATS configured (a [nats] section or nats_args), it connects the
 * bridge (bus_nats_create()): the topics matching an import are served
 * from their first imported event, the exports go out, GET /v1/cluster
 * and /metrics show the bridge; bus_http_stop() destroys it.
 * Errors: -EINVAL (NULL argument, bad host, a config file that does not
 * parse or holds a bad value: bus_http_last_error() names the line, a
 * malformed NATS flag or URL, a durable topic declared and no data
 * directory), -ENOTSUP (the config asks for NATS: not in this build), the
 * errors of bus_topic_open() and bus_topic_open_durable() for declared
 * topics (-EEXIST: open with another configuration; -EBUSY: the journal is
 * open in another process; -EBADMSG: a journal damaged before its end),
 * what mkdir returns for the data directory, -EADDRINUSE or another bind
 * error, the errors of bus_nats_create() (-ECONNREFUSED: no NATS server
 * reachable, -EACCES), -ENOMEM.
 */
BUS_API int bus_http_start(bus_t *bus, const bus_http_config_t *cfg, bus_http_t **out);

/**
 * bus_http_port - the port the gateway listens on (the one chosen when the
 * config asked for 0). Thread-safety: any thread while @gw is valid.
 */
BUS_API uint16_t bus_http_port(const bus_http_t *gw);

/**
 * bus_http_stop - stop gracefully and free @gw: stop accepting connections
 * (a new one is closed at once, unanswered; the listening socket closes
 * before the call returns), answer the clients that wait (long polls with
 * the events they have, possibly none; streams end; requests still
 * unanswered get 503), let the
 * requests in flight finish, for at most @grace_ns (then the connections
 * left are closed), unsubscribe from the topics and free everything. The
 * bus and its topics stay as they are: the caller drains them
 * (bus_shutdown()).
 * Thread-safety: any thread that is not a worker of the bus, once.
 * Errors: -EINVAL (gw NULL).
 */
BUS_API int bus_http_stop(bus_http_t *gw, uint64_t grace_ns);

/**
 * bus_http_last_error - why the calling thread's last bus_http_start()
 * failed, in words (a config file's line number included); "" if none
 * failed. Valid until the thread's next bus_http_start().
 * Thread-safety: any thread; each thread has its own.
 */
BUS_API const char *bus_http_last_error(void);

/* Webhooks (docs/gateway.md, "Webhooks"): the gateway POSTs each event of
 * a matching topic to a URL, signed as Standard Webhooks v1 asks: headers
 * webhook-id (the same on every retry of one event), webhook-timestamp
 * (Unix seconds of the attempt) and webhook-signature "v1,<base64 of
 * HMAC-SHA256(key, id "." timestamp "." body)>", where the key is the
 * base64 decoding of the secret's part after "whsec_". A receiver checks
 * them with bus_http_webhook_verify(). */

#define BUS_HTTP_WEBHOOK_TOLERANCE_S 300 /* 5 minutes, as Standard Webhooks */
#define BUS_HTTP_WEBHOOK_SIGNATURE_MAX 48 /* "v1," + 44 base64 chars + NUL */

/**
 * bus_http_webhook_sign - the signature @out ("v1,<base64>", NUL-terminated,
 * at most BUS_HTTP_WEBHOOK_SIGNATURE_MAX bytes with its NUL) of @body
 * (@len bytes) sent with id @msg_id at Unix time @timestamp, under
 * @secret ("whsec_<base64 of 1 to 64 bytes>").
 * Thread-safety: any thread. Errors: -EINVAL (NULL argument, a secret
 * that is not whsec_ and base64, an id empty or holding a '.'), -ENOSPC
 * (@cap too small).
 */
BUS_API int bus_http_webhook_sign(const char *secret, const char *msg_id, int64_t timestamp,
                                  const void *body, size_t len, char *out, size_t cap);

/**
 * bus_http_webhook_verify - check a webhook as received: @signatures is the
 * webhook-signature header (space-separated "v1,<base64>" entries; one
 * that matches is enough, so a sender may rotate keys), @msg_id and
 * @timestamp the webhook-id and webhook-timestamp headers, @body the raw
 * body. The timestamp must be within @tolerance_s of @now (Unix seconds)
 * either way: a replayed old webhook fails. Compares in constant time.
 * Thread-safety: any thread.
 * Errors: -EINVAL (NULL argument, bad secret, a timestamp that is not a
 * number), -ERANGE (timestamp out of tolerance), -EBADMSG (no signature
 * matches).
 */
BUS_API int bus_http_webhook_verify(const char *secret, const char *msg_id,
                                    const char *timestamp, const char *signatures,
                                    const void *body, size_t len, int64_t now,
                                    uint32_t tolerance_s);

#ifdef __cplusplus
}
#endif

#endif /* BUS_HTTP_H */
