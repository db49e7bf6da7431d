/* host_allow.c - where webhooks may go: allow_hosts parsed into names and
 * networks, and the checks of a URL's host and of a connection's address
 * (host_allow.h). */
#include "host_allow.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "route.h"

/* An address, brackets allowed around IPv6, into @n (prefix: all bits). */
static bool parse_address(const char *s, size_t len, struct allow_net *n)
{
    char text[INET6_ADDRSTRLEN + 2];
    if (len >= 2 && s[0] == '[' && s[len - 1] == ']') {
        s++;
        len -= 2;
    }
    if (len == 0 || len >= sizeof(text))
        return false;
    memcpy(text, s, len);
    text[len] = '\0';
    struct allow_net parsed = {AF_INET, {0}, 32};
    if (inet_pton(AF_INET, text, parsed.addr) != 1) {
        parsed = (struct allow_net){AF_INET6, {0}, 128};
        if (inet_pton(AF_INET6, text, parsed.addr) != 1)
            return false;
    }
    *n = parsed;
    return true;
}

/* "ADDRESS/BITS" */
static bool parse_network(const char *s, struct allow_net *n)
{
    const char *slash = strchr(s, '/');
    uint64_t bits;
    if (!slash || !parse_address(s, (size_t)(slash - s), n) ||
        parse_u64(slash + 1, n->prefix, &bits))
        return false;
    n->prefix = (unsigned)bits;
    return true;
}

int host_allow_init(struct host_allow *a, const struct webhooks_cfg *cfg, char *why,
                    size_t why_size)
{
    *a = (struct host_allow){.names = cfg->allow_hosts, .nnames = cfg->nallow_hosts,
                             .deny_private = cfg->deny_private};
    if (!a->nnames)
        return 0;
    a->nets = calloc(a->nnames, sizeof(*a->nets));
    if (!a->nets)
        return -ENOMEM;
    for (size_t i = 0; i < a->nnames; i++) {
        const char *e = a->names[i];
        struct allow_net *n = &a->nets[a->nnets];
        if (strchr(e, '/') ? parse_network(e, n) : parse_address(e, strlen(e), n)) {
            a->nnets++;
        } else if (strchr(e, '/')) {
            snprintf(why, why_size, "[webhooks] allow_hosts: %s: not a network (ADDRESS/BITS)",
                     e);
            host_allow_free(a);
            return -EINVAL;
        }
    }
    return 0;
}

void host_allow_free(struct host_allow *a)
{
    free(a->nets);
    a->nets = NULL;
    a->nnets = 0;
}

static bool in_net(const struct allow_net *n, int family, const unsigned char *addr)
{
    if (n->family != family)
        return false;
    unsigned whole = n->prefix / 8, rest = n->prefix % 8;
    if (memcmp(n->addr, addr, whole) != 0)
        return false;
    unsigned char mask = (unsigned char)(0xff00u >> rest);
    return !rest || ((n->addr[whole] ^ addr[whole]) & mask) == 0;
}

/* Loopback, private, link-local, CGNAT, benchmarking, multicast, reserved:
 * the addresses a client of the gateway must not make it call. */
static bool is_internal(int family, const unsigned char *addr)
{
    static const struct allow_net internal[] = {
        {AF_INET, {0}, 8},                  /* "this network" */
        {AF_INET, {10}, 8},
        {AF_INET, {100, 64}, 10},           /* CGNAT */
        {AF_INET, {127}, 8},
        {AF_INET, {169, 254}, 16},          /* link-local, cloud metadata */
        {AF_INET, {172, 16}, 12},
        {AF_INET, {192, 0, 0}, 24},
        {AF_INET, {192, 168}, 16},
        {AF_INET, {198, 18}, 15},           /* benchmarking */
        {AF_INET, {224}, 3},                /* multicast, reserved, broadcast */
        {AF_INET6, {0}, 127},               /* :: and ::1 */
        {AF_INET6, {0xfc}, 7},              /* unique local */
        {AF_INET6, {0xfe, 0x80}, 10},       /* link-local */
        {AF_INET6, {0xff}, 8},              /* multicast */
    };
    for (size_t i = 0; i < sizeof(internal) / sizeof(internal[0]); i++)
        if (in_net(&internal[i], family, addr))
            return true;
    /* IPv6 addresses that a NAT64 (64:ff9b::/96, the IPv4 in the last 4
     * bytes) or a 6to4 relay (2002::/16, the IPv4 in bytes 2 to 5) turns
     * into an IPv4 one: as that IPv4 address. */
    static const struct allow_net nat64 = {AF_INET6, {0, 0x64, 0xff, 0x9b}, 96};
    static const struct allow_net six_to_four = {AF_INET6, {0x20, 0x02}, 16};
    if (in_net(&nat64, family, addr))
        return is_internal(AF_INET, addr + 12);
    if (in_net(&six_to_four, family, addr))
        return is_internal(AF_INET, addr + 2);
    return false;
}

/* In one of the list's networks; an IPv4-mapped IPv6 address as its IPv4
 * (the kernel connects ::ffff:127.0.0.1 to 127.0.0.1). */
static bool listed(const struct host_allow *a, int *family, const unsigned char **addr)
{
    static const unsigned char v4_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (*family == AF_INET6 && !memcmp(*addr, v4_mapped, sizeof(v4_mapped))) {
        *family = AF_INET;
        *addr += sizeof(v4_mapped);
    }
    for (size_t i = 0; i < a->nnets; i++)
        if (in_net(&a->nets[i], *family, *addr))
            return true;
    return false;
}

static bool address_allowed(const struct host_allow *a, int family, const unsigned char *addr)
{
    if (listed(a, &family, &addr))
        return true;
    if (!a->nnames && !a->deny_private)
        return true;
    return !is_internal(family, addr);
}

bool host_allow_url(const struct host_allow *a, const char *host)
{
    struct allow_net literal;
    if (parse_address(host, strlen(host), &literal)) {
        int family = literal.family;
        const unsigned char *addr = literal.addr;
        return a->nnames ? listed(a, &family, &addr) : address_allowed(a, family, addr);
    }
    if (!a->nnames)
        return true;
    for (size_t i = 0; i < a->nnames; i++)
        if (!strcasecmp(a->names[i], host))
            return true;
    return false;
}

bool host_allow_address(const struct host_allow *a, const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET)
        return address_allowed(a, AF_INET,
                               (const unsigned char *)&((const struct sockaddr_in *)sa)->sin_addr);
    if (sa->sa_family == AF_INET6)
        return address_allowed(
            a, AF_INET6, (const unsigned char *)&((const struct sockaddr_in6 *)sa)->sin6_addr);
    return false; /* a Unix socket or else: not an address to check */
}
