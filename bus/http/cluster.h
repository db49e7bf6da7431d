/* cluster.h - the gateway in a cluster (docs/scale-out.md): its NATS
 * bridge, configured by the [nats] section and the NATS flags, shown by
 * GET /v1/cluster and in /metrics. Built with bus-nats (cluster.c: the
 * bridge and its routes; cluster_feed.c: imported topics into the replay
 * windows) or without (cluster_off.c: NATS is refused, the route says so). */
#ifndef BUS_HTTP_CLUSTER_H
#define BUS_HTTP_CLUSTER_H

#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>

#include "bus/nats.h"

struct bus_http;
struct conn;
struct strbuf;

/* The NATS part of the configuration (config.h's gw_config.nats; NULL
 * when neither the file nor the command line mentions NATS). */
struct cluster_cfg {
    bus_nats_config_t nats; /* its strings (name, token, ...) are ours: freed */
    uint32_t discover_timeout_ms; /* GET /v1/cluster's default wait for answers */
};

/* The feed of the topics of one import: a pattern subscription. */
struct cluster_feed {
    struct bus_http *gw;
    unsigned index; /* the import's */
    bus_sub_t *sub;
};

/* The running bridge (struct bus_http's `cluster`; NULL without NATS). */
struct cluster {
    bus_nats_t *bridge;
    struct cluster_feed feeds[BUS_NATS_MAX_PATTERNS]; /* one per import */
    unsigned nfeeds;
    /* GET /v1/cluster: one discovery at a time (it holds an HTTP thread);
     * the calls meanwhile get its last answer, if younger than
     * discover_timeout_ms. Under `discovery`. */
    pthread_mutex_t discovery;
    bool discovering;
    char *last_answer; /* JSON; NULL: none yet */
    uint64_t last_answer_ns;
};

/* One key of the [nats] section, into *@cfg (made at its first key).
 * 0, or a negative errno with the reason in @why. */
int cluster_config_key(struct cluster_cfg **cfg, const char *key, const char *value, char *why,
                       size_t why_size);
/* The command line's NATS flags (@args: flag, value, flag, value...),
 * applied after the file: --nats replaces its servers, --export and
 * --import add to its lists. 0, or -EINVAL with the reason in @why. */
int cluster_config_args(struct cluster_cfg **cfg, const char *const *args, unsigned nargs,
                        char *why, size_t why_size);
void cluster_config_free(struct cluster_cfg *cfg);

/* Connects the bridge and feeds the imported topics to their windows;
 * nothing without NATS in the configuration. 0, or a negative errno
 * (bus_nats_create()'s) with the reason in @why. */
int cluster_start(struct bus_http *gw, char *why, size_t why_size);
/* Stops the bridge (its imports in progress end), then the feeds. */
void cluster_stop(struct bus_http *gw);

/* Whether the served topic @name is fed by the cluster (it matches an
 * import): then it takes no subscription of its own (served.c). */
bool cluster_feeds(const struct bus_http *gw, const char *name);
/* cluster_feed.c: subscribe and unsubscribe the feeds. */
int cluster_feed_start(struct bus_http *gw);
void cluster_feed_stop(struct bus_http *gw);

/* The bridge's counters in Prometheus text, after the gateway's. */
void cluster_metrics(struct bus_http *gw, struct strbuf *b);
/* GET /v1/cluster. */
enum MHD_Result cluster_info(struct conn *cn, struct MHD_Connection *c);

#endif /* BUS_HTTP_CLUSTER_H */
