/* data_dir.h - the gateway's data directory (docs/gateway.md, "Durable
 * topics"): topics/NAME holds durable topic NAME's journal, webhooks/ the
 * webhooks' state unless [webhooks] state_dir names another place. */
#ifndef BUS_HTTP_DATA_DIR_H
#define BUS_HTTP_DATA_DIR_H

#include <stddef.h>

#include "config.h"

/* Settles @c's data directory: @flag (--data-dir, bus_http_config_t's
 * data_dir) over [gateway] data_dir; creates it and topics/ when set, and
 * makes webhooks/ in it the default state_dir. 0, or -EINVAL with the
 * reason in @why (a durable topic declared and no data directory), -ENOMEM,
 * or what mkdir returns. */
int data_dir_prepare(struct gw_config *c, const char *flag, char *why, size_t why_size);

/* The journal directory of durable topic @name (malloc'd), NULL when
 * memory ran out. */
char *data_dir_journal(const struct gw_config *c, const char *name);

#endif /* BUS_HTTP_DATA_DIR_H */
