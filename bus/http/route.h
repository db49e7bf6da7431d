/* route.h - what a request asks for: its method and path, its numbers. Pure
 * functions of their input (the fuzz target drives them directly). */
#ifndef BUS_HTTP_ROUTE_H
#define BUS_HTTP_ROUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum route_kind {
    ROUTE_HEALTHZ,    /* GET /healthz */
    ROUTE_METRICS,    /* GET /metrics */
    ROUTE_TOPICS,     /* GET /v1/topics */
    ROUTE_TOPIC,      /* GET /v1/topics/{name} */
    ROUTE_PUBLISH,    /* POST /v1/topics/{name}/events */
    ROUTE_POLL,       /* GET /v1/topics/{name}/events */
    ROUTE_STREAM,     /* GET /v1/topics/{name}/stream */
    ROUTE_REQUEST,    /* POST /v1/topics/{name}/request */
    ROUTE_WEBHOOK_CREATE, /* POST /v1/webhooks */
    ROUTE_WEBHOOK_LIST,   /* GET /v1/webhooks */
    ROUTE_WEBHOOK_GET,    /* GET /v1/webhooks/{id} */
    ROUTE_WEBHOOK_DELETE, /* DELETE /v1/webhooks/{id} */
    ROUTE_WEBHOOK_ENABLE, /* POST /v1/webhooks/{id}/enable */
    ROUTE_DASHBOARD,      /* GET /, /dashboard.js, /dashboard.css */
    ROUTE_DASH_STREAM,    /* GET /v1/dashboard/stream */
    ROUTE_DASH_SNAPSHOT,  /* GET /v1/dashboard/snapshot */
    ROUTE_CLUSTER,        /* GET /v1/cluster */
    ROUTE_NOT_FOUND,  /* no such path: 404 */
    ROUTE_BAD_METHOD, /* a path we serve, another method: 405 */
    ROUTE_BAD_TOPIC,  /* a topic path with a malformed or reserved name: 400 */
    ROUTE_KINDS
};

/* The route's name as the metrics label it (`publish`, `poll`, ...). */
const char *route_label(enum route_kind kind);

#define ROUTE_TOPIC_MAX 255

struct route {
    enum route_kind kind;
    char topic[ROUTE_TOPIC_MAX + 1]; /* the topic routes' topic, a webhook's id,
                                        a dashboard file's name */
    const char *allow;               /* ROUTE_BAD_METHOD: the Allow header */
};

/* Parses @method and @path (the path without its query, as libmicrohttpd
 * gives it: percent-decoded) into @r. Never fails: unknown input makes
 * ROUTE_NOT_FOUND, ROUTE_BAD_METHOD or ROUTE_BAD_TOPIC. */
void route_parse(const char *method, const char *path, struct route *r);

/* A topic name as bus_topic_open() accepts it (1 to 255 bytes of tokens
 * split by single dots; printable non-space ASCII other than . * >). */
bool topic_name_valid(const char *s, size_t n);

/* A subscription pattern: tokens as in topic names, or `*`, or `>` as
 * the last token; not one of the bus's own (first token `bus`). */
bool topic_pattern_valid(const char *s);

/* A webhook's id: 1 to 63 of A-Z a-z 0-9 _ - (no dot: Standard Webhooks
 * ids never hold one). */
bool webhook_id_valid(const char *s);

/* Names whose first token is `bus`: the bus's own topics, not served. */
bool topic_name_reserved(const char *s);

/* A decimal number of 1 to 20 digits, nothing else (no sign, no space),
 * at most @max. 0, or -EINVAL (not a number), -ERANGE (over @max). */
int parse_u64(const char *s, uint64_t max, uint64_t *out);

/* The token of an `Authorization: Bearer TOKEN` header; false when the
 * header is missing or of another scheme. */
bool parse_bearer(const char *header, const char **token, size_t *len);

/* NATS subject matching on topic names: in @pattern, a token `*` matches
 * one token, a last token `>` one or more. */
bool subject_matches(const char *pattern, const char *name);

#endif /* BUS_HTTP_ROUTE_H */
