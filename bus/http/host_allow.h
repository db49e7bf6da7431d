/* host_allow.h - where webhooks may go ([webhooks] allow_hosts and
 * deny_private): checked on the URL when a webhook is defined, and on the
 * address each connection is about to use, after DNS (so that a listed
 * name that resolves to an internal address, DNS rebinding included, is
 * refused). Built once at start, read-only after: any thread reads it. */
#ifndef BUS_HTTP_HOST_ALLOW_H
#define BUS_HTTP_HOST_ALLOW_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "config.h"

/* An IP address or network of allow_hosts. IPv4 is kept as IPv4. */
struct allow_net {
    int family; /* AF_INET or AF_INET6 */
    unsigned char addr[16];
    unsigned prefix; /* bits */
};

struct host_allow {
    char **names;  /* allow_hosts as written (borrowed from the config) */
    size_t nnames; /* 0: any host */
    struct allow_net *nets;
    size_t nnets;
    bool deny_private;
};

/* Reads cfg->allow_hosts: each entry is a host name, an IPv4 or IPv6
 * address (brackets allowed) or a network in CIDR notation. 0, -EINVAL
 * (with the entry in @why: a slash that is not a CIDR), -ENOMEM. */
int host_allow_init(struct host_allow *a, const struct webhooks_cfg *cfg, char *why,
                    size_t why_size);
void host_allow_free(struct host_allow *a);

/* A URL's host (as libcurl's URL API gives it: IPv6 in brackets) may be
 * defined: with a list, a listed name or an address of its networks;
 * without, any name, and any address host_allow_address() accepts. */
bool host_allow_url(const struct host_allow *a, const char *host);

/* A connection to @sa may be made: an address of the list's networks; or
 * else, when there is a list or deny_private is set, a public address (not
 * loopback, private, link-local, CGNAT, multicast or reserved); any
 * address when neither. IPv4-mapped IPv6 addresses count as their IPv4. */
bool host_allow_address(const struct host_allow *a, const struct sockaddr *sa);

#endif /* BUS_HTTP_HOST_ALLOW_H */
