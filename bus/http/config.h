/* config.h - the gateway's configuration: defaults, and an INI file read
 * with inih (docs/gateway.md, "Configuration"). */
#ifndef BUS_HTTP_CONFIG_H
#define BUS_HTTP_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bus.h"
#include "bus/journal.h"

/* A topic as the gateway serves it. */
struct topic_cfg {
    char *name;                /* NULL for [defaults] */
    bus_topic_config_t bus;    /* ring, max_payload, full policy */
    uint32_t retention_events; /* replay window: last N events ... */
    uint32_t retention_bytes;  /* ... and at most this many payload bytes */
    bool durable;              /* a journal under data_dir/topics/NAME */
    bus_journal_config_t journal; /* its settings; dir set at the open */
    int journal_line;          /* [topic NAME]: the line of its first journal key (0: none), */
    char journal_key[24];      /* and the key: refused at the end unless durable */
};

struct token_cfg {
    char *name;
    char *secret;
    char **publish, **subscribe; /* topic patterns, NATS wildcard syntax */
    size_t npublish, nsubscribe;
    bool webhooks; /* may create, list and delete webhooks */
};

/* A webhook endpoint, declared ([webhook NAME]) or posted. */
struct webhook_cfg {
    char *name; /* its id */
    char *pattern, *url, *secret;
    bool ordered;
    uint32_t max_in_flight; /* 0 = webhooks_cfg.max_in_flight */
};

#define WEBHOOK_SCHEDULE_MAX 32

/* [webhooks]: what every endpoint shares. */
struct webhooks_cfg {
    char **allow_hosts; /* names, addresses, networks; none: any host */
    size_t nallow_hosts;
    bool deny_private;  /* without allow_hosts: public addresses only */
    uint64_t schedule_ms[WEBHOOK_SCHEDULE_MAX]; /* waits before attempts 2, 3, ... */
    size_t nschedule;
    uint32_t timeout_ms;         /* one attempt, connection included */
    uint32_t connect_timeout_ms;
    uint32_t disable_after_s;    /* failing this long disables an endpoint */
    uint32_t max_in_flight;      /* attempts at once per endpoint */
    uint32_t max_pending;        /* deliveries queued per endpoint */
    uint32_t max_webhooks;
    char *state_dir;             /* posted endpoints and pending deliveries;
                                    NULL: in memory only */
};

struct cluster_cfg; /* cluster.h */

struct gw_config {
    bool auto_create;     /* topics created on first use */
    char *data_dir;       /* durable topics' journals, the webhooks' state;
                             NULL: none (no durable topic may be declared) */
    uint32_t max_topics;  /* topics the gateway serves at most */
    struct topic_cfg defaults;
    struct topic_cfg *topics;
    size_t ntopics;
    struct token_cfg *tokens; /* none: no auth */
    size_t ntokens;
    struct webhooks_cfg hooks;
    struct webhook_cfg *webhooks; /* declared */
    size_t nwebhooks;
    struct cluster_cfg *nats; /* [nats]; NULL = no NATS */
    /* Limits */
    uint32_t connection_limit;     /* connections open at once */
    uint32_t per_ip_limit;         /* connections from one address */
    uint32_t connection_timeout_s; /* idle connection closed after */
    uint32_t body_timeout_ms;      /* a request body must arrive within */
    uint32_t memory_limit;         /* bytes per connection for headers */
    uint32_t max_wait_s;           /* long poll `wait` cap */
    uint32_t heartbeat_ms;         /* SSE comment line every */
    uint32_t dashboard_interval_ms; /* a metrics snapshot to the dashboard every */
    uint32_t request_timeout_ms;   /* request-reply default ... */
    uint32_t request_timeout_max_ms; /* ... and cap */
    uint32_t idempotency_window_s; /* a key is remembered for */
    uint32_t idempotency_keys;     /* at most this many keys */
};

/* The defaults (no file). */
void config_defaults(struct gw_config *c);

/* Reads @path into @c (started from config_defaults()). 0, or -EINVAL with
 * the reason (and the line) in @why, -ENOENT when the file cannot be opened,
 * -ENOMEM. */
int config_load(struct gw_config *c, const char *path, char *why, size_t why_size);

void config_free(struct gw_config *c);

/* The declared topic called @name, else NULL. */
const struct topic_cfg *config_topic(const struct gw_config *c, const char *name);

#endif /* BUS_HTTP_CONFIG_H */
