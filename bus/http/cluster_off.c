/* cluster_off.c - the gateway built without the NATS bridge (no libnats):
 * NATS in the configuration is refused at the start, GET /v1/cluster
 * answers 404 and says why. */
#include "gateway.h"

#include <errno.h>
#include <stdio.h>

int cluster_config_key(struct cluster_cfg **cfg, const char *key, const char *value, char *why,
                       size_t why_size)
{
    (void)cfg;
    (void)value;
    snprintf(why, why_size, "[nats] %s: NATS is not available in this build (libnats-dev)", key);
    return -ENOTSUP;
}

int cluster_config_args(struct cluster_cfg **cfg, const char *const *args, unsigned nargs,
                        char *why, size_t why_size)
{
    (void)cfg;
    (void)nargs;
    snprintf(why, why_size,
             "%s: unknown option (the NATS flags need a build with libnats-dev)", args[0]);
    return -EINVAL;
}

void cluster_config_free(struct cluster_cfg *cfg)
{
    (void)cfg;
}

int cluster_start(struct bus_http *gw, char *why, size_t why_size)
{
    (void)gw;
    (void)why;
    (void)why_size;
    return 0;
}

void cluster_stop(struct bus_http *gw)
{
    (void)gw;
}

bool cluster_feeds(const struct bus_http *gw, const char *name)
{
    (void)gw;
    (void)name;
    return false;
}

void cluster_metrics(struct bus_http *gw, struct strbuf *b)
{
    (void)gw;
    (void)b;
}

enum MHD_Result cluster_info(struct conn *cn, struct MHD_Connection *c)
{
    return reply_error(cn, c, MHD_HTTP_NOT_FOUND, "nats_not_configured",
                       "this gateway is not in a cluster: it was built without NATS");
}
