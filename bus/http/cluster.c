/* cluster.c - the gateway's NATS bridge (docs/scale-out.md): its
 * configuration ([nats] and the command line), its life (started after the
 * topics the config declares, destroyed before the windows), and what it
 * shows: GET /v1/cluster (the bridges that answer discovery) and its
 * counters in /metrics. */
#include "gateway.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../clock.h"

#define DISCOVER_TIMEOUT_MAX_MS 10000

static struct cluster_cfg *cfg_of(struct cluster_cfg **cfg)
{
    if (!*cfg) {
        *cfg = calloc(1, sizeof(**cfg));
        if (*cfg) {
            bus_nats_config_init(&(*cfg)->nats);
            (*cfg)->discover_timeout_ms = 500;
        }
    }
    return *cfg;
}

static int fail(char *why, size_t why_size, int err, const char *key, const char *what)
{
    snprintf(why, why_size, "[nats] %s: %s", key, what);
    return err;
}

/* A list of patterns (commas and/or spaces), each through @flag. */
static int parse_list(bus_nats_config_t *n, const char *flag, const char *v, const char *key,
                      char *why, size_t why_size)
{
    char *copy = strdup(v);
    if (!copy)
        return -ENOMEM;
    int rc = 0;
    char *save = NULL;
    for (char *tok = strtok_r(copy, ", \t", &save); tok && !rc;
         tok = strtok_r(NULL, ", \t", &save))
        rc = bus_nats_config_parse(n, flag, tok);
    free(copy);
    return rc ? fail(why, why_size, rc, key, bus_nats_last_error()) : 0;
}

/* The keys that are strings of the bridge's config: copies of ours. */
static const struct {
    const char *key;
    size_t offset;
} strings[] = {
    {"name", offsetof(bus_nats_config_t, name)},
    {"token", offsetof(bus_nats_config_t, token)},
    {"user", offsetof(bus_nats_config_t, user)},
    {"password", offsetof(bus_nats_config_t, password)},
    {"tls_ca_file", offsetof(bus_nats_config_t, tls_ca_file)},
    {"tls_cert_file", offsetof(bus_nats_config_t, tls_cert_file)},
    {"tls_key_file", offsetof(bus_nats_config_t, tls_key_file)},
};
#define NSTRINGS (sizeof(strings) / sizeof(strings[0]))

static const char **string_at(struct cluster_cfg *c, size_t i)
{
    return (const char **)((char *)&c->nats + strings[i].offset);
}

/* The keys that are numbers: connection attempts and discovery. */
static bool is_number_key(const char *key)
{
    static const char *const keys[] = {"connect_timeout_ms", "reconnect_wait_ms",
                                       "max_reconnect", "discover_timeout_ms"};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        if (!strcmp(key, keys[i]))
            return true;
    return false;
}

static int number_key(struct cluster_cfg *c, const char *key, const char *v, char *why,
                      size_t why_size)
{
    uint64_t n = 0;
    bool forever = !strcmp(key, "max_reconnect") && !strcmp(v, "-1");
    if (!forever && parse_u64(v, 86400000, &n))
        return fail(why, why_size, -EINVAL, key, "a whole number (max_reconnect: or -1)");
    if (!strcmp(key, "connect_timeout_ms") && n)
        c->nats.connect_timeout_ms = (uint32_t)n;
    else if (!strcmp(key, "reconnect_wait_ms"))
        c->nats.reconnect_wait_ms = (uint32_t)n;
    else if (!strcmp(key, "max_reconnect"))
        c->nats.max_reconnect = forever ? -1 : (int)n;
    else if (!strcmp(key, "discover_timeout_ms") && n && n <= DISCOVER_TIMEOUT_MAX_MS)
        c->discover_timeout_ms = (uint32_t)n;
    else
        return fail(why, why_size, -EINVAL, key, "out of range");
    return 0;
}

int cluster_config_key(struct cluster_cfg **cfg, const char *key, const char *value, char *why,
                       size_t why_size)
{
    struct cluster_cfg *c = cfg_of(cfg);
    if (!c)
        return -ENOMEM;
    static const struct {
        const char *key, *flag;
        bool list; /* several per line, and lines that add up (servers: see below) */
    } flags[] = {
        {"servers", "--nats", false},      {"export", "--export", true},
        {"import", "--import", true},      {"prefix", "--nats-prefix", false},
        {"jetstream", "--jetstream", false},
    };
    for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
        if (strcmp(key, flags[i].key) != 0)
            continue;
        if (flags[i].list)
            return parse_list(&c->nats, flags[i].flag, value, key, why, why_size);
        /* servers lines add up (comma-joined): a line holds 199 characters
         * at most (inih), a list of servers may need more. */
        char joined[sizeof(c->nats.servers) * 2];
        if (!strcmp(key, "servers") && c->nats.servers[0]) {
            snprintf(joined, sizeof(joined), "%s,%s", c->nats.servers, value);
            value = joined;
        }
        int rc = bus_nats_config_parse(&c->nats, flags[i].flag, value);
        return rc ? fail(why, why_size, rc, key, bus_nats_last_error()) : 0;
    }
    for (size_t i = 0; i < NSTRINGS; i++) {
        if (strcmp(key, strings[i].key) != 0)
            continue;
        const char **field = string_at(c, i);
        free((char *)*field);
        *field = strdup(value);
        return *field ? 0 : -ENOMEM;
    }
    if (!strcmp(key, "retry_on_failed_connect")) {
        bool yes = !strcmp(value, "true");
        if (!yes && strcmp(value, "false") != 0)
            return fail(why, why_size, -EINVAL, key, "true or false");
        c->nats.retry_on_failed_connect = yes;
        return 0;
    }
    if (is_number_key(key))
        return number_key(c, key, value, why, why_size);
    return fail(why, why_size, -EINVAL, key, "unknown key");
}

int cluster_config_args(struct cluster_cfg **cfg, const char *const *args, unsigned nargs,
                        char *why, size_t why_size)
{
    struct cluster_cfg *c = cfg_of(cfg);
    if (!c)
        return -ENOMEM;
    /* The TLS files: strings of ours (see strings[]), set as [nats]'s. */
    static const struct {
        const char *flag, *key;
    } tls_flags[] = {{"--nats-tls-ca", "tls_ca_file"},
                     {"--nats-tls-cert", "tls_cert_file"},
                     {"--nats-tls-key", "tls_key_file"}};
    for (unsigned i = 0; i + 1 < nargs; i += 2) {
        size_t t = 0;
        while (t < sizeof(tls_flags) / sizeof(tls_flags[0]) && strcmp(args[i], tls_flags[t].flag))
            t++;
        if (t < sizeof(tls_flags) / sizeof(tls_flags[0])) {
            int rc = cluster_config_key(cfg, tls_flags[t].key, args[i + 1], why, why_size);
            if (rc)
                return rc;
            continue;
        }
        int rc = bus_nats_config_parse(&c->nats, args[i], args[i + 1]);
        if (rc == -ENOENT) {
            snprintf(why, why_size, "%s: unknown option", args[i]);
            return -EINVAL;
        }
        if (rc) {
            snprintf(why, why_size, "%s", bus_nats_last_error());
            return -EINVAL;
        }
    }
    return 0;
}

void cluster_config_free(struct cluster_cfg *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < NSTRINGS; i++)
        free((char *)*string_at(c, i));
    free(c);
}

/* The server list as it may be shown: the credentials of a URL
 * (user:password@ or token@) replaced by ***. */
static void masked_servers(const char *list, char *out, size_t cap)
{
    char copy[sizeof(((bus_nats_config_t *)0)->servers)];
    snprintf(copy, sizeof(copy), "%s", list);
    size_t len = 0;
    out[0] = '\0';
    char *save = NULL;
    for (char *u = strtok_r(copy, ",", &save); u && len < cap; u = strtok_r(NULL, ",", &save)) {
        const char *at = strrchr(u, '@'), *scheme = strstr(u, "://");
        int keep = at && scheme && scheme < at ? (int)(scheme + 3 - u) : 0;
        len += (size_t)(at ? snprintf(out + len, cap - len, "%s%.*s***@%s", len ? "," : "", keep,
                                      u, at + 1)
                           : snprintf(out + len, cap - len, "%s%s", len ? "," : "", u));
    }
}

int cluster_start(struct bus_http *gw, char *why, size_t why_size)
{
    struct cluster_cfg *c = gw->cfg.nats;
    if (!c)
        return 0;
    if (!c->nats.servers[0]) {
        snprintf(why, why_size, "NATS exports or imports without a server: give --nats URL "
                                "or [nats] servers");
        return -EINVAL;
    }
    bus_nats_config_t *n = &c->nats;
    /* Imported topics are created as the HTTP clients' would be. */
    n->import_topic = &gw->cfg.defaults.bus;
    gw->cluster = calloc(1, sizeof(*gw->cluster));
    if (!gw->cluster)
        return -ENOMEM;
    pthread_mutex_init(&gw->cluster->discovery, NULL);
    /* The feeds first: they see each imported topic from its creation. */
    int rc = cluster_feed_start(gw);
    if (rc) {
        snprintf(why, why_size, "NATS imports: cannot subscribe to their topics");
        return rc;
    }
    rc = bus_nats_create(gw->bus, n, &gw->cluster->bridge);
    if (rc == -ENOENT) /* a TLS file not there: a bad configuration (exit 2), */
        rc = -EINVAL;  /* and not the bus's -ENOENT (no subscriber) */
    if (rc) {
        char servers[sizeof(n->servers) + 64];
        masked_servers(n->servers, servers, sizeof(servers));
        snprintf(why, why_size, "NATS (%s): %s", servers, bus_nats_last_error());
    }
    return rc;
}

void cluster_stop(struct bus_http *gw)
{
    if (!gw->cluster)
        return;
    bus_nats_destroy(gw->cluster->bridge); /* its imported events handled */
    cluster_feed_stop(gw);
    pthread_mutex_destroy(&gw->cluster->discovery);
    free(gw->cluster->last_answer);
    free(gw->cluster);
    gw->cluster = NULL;
}

static int bridge_text(void *bridge, char *buf, size_t cap, size_t *len)
{
    return bus_nats_prometheus(bridge, buf, cap, len);
}

void cluster_metrics(struct bus_http *gw, struct strbuf *b)
{
    if (gw->cluster)
        prometheus_text(b, bridge_text, gw->cluster->bridge);
}

static void add_peer(const char *text, size_t len, void *peers)
{
    /* What another process says: kept only if it is a JSON object. */
    json_t *peer = json_loadb(text, len, 0, NULL);
    if (json_is_object(peer))
        json_array_append(peers, peer);
    json_decref(peer);
}

static json_t *servers_of(const char *list)
{
    char masked[sizeof(((bus_nats_config_t *)0)->servers) + 64];
    masked_servers(list, masked, sizeof(masked));
    json_t *arr = json_array();
    char *save = NULL;
    for (char *u = strtok_r(masked, ",", &save); u && arr; u = strtok_r(NULL, ",", &save))
        json_array_append_new(arr, json_string(u));
    return arr;
}

static json_t *self_of(struct cluster *cl)
{
    size_t len = 0;
    bus_nats_describe(cl->bridge, NULL, 0, &len);
    char *text = malloc(len + 1);
    json_t *self = text && bus_nats_describe(cl->bridge, text, len + 1, &len) == 0
                       ? json_loadb(text, len, 0, NULL)
                       : NULL;
    free(text);
    return self;
}

/* This bridge and the peers that answer discovery within @timeout_ms, as
 * JSON text (malloc'd); NULL when memory ran out. */
static char *discover(struct bus_http *gw, uint64_t timeout_ms, uint64_t max)
{
    bus_nats_stats_t st;
    bus_nats_stats(gw->cluster->bridge, &st);
    json_t *peers = json_array();
    /* Blocks this HTTP thread for timeout_ms at most (max answers stop it
     * sooner): an operator's question, not a hot path. */
    int rc = peers ? bus_nats_discover(gw->cluster->bridge, timeout_ms * 1000000u,
                                       (unsigned)max, add_peer, peers)
                   : -ENOMEM;
    json_t *self = self_of(gw->cluster);
    if (rc == -ENOMEM || !self) {
        json_decref(peers);
        json_decref(self);
        return NULL;
    }
    json_object_set_new(self, "connected", json_boolean(st.connected));
    json_object_set_new(self, "servers", servers_of(gw->cfg.nats->nats.servers));
    json_object_set_new(self, "peers", peers);
    char *text = json_dumps(self, JSON_COMPACT);
    json_decref(self);
    return text;
}

/* @text (JSON) as a 200, with Age (seconds) when it comes from the cache. */
static enum MHD_Result answer(struct conn *cn, struct MHD_Connection *c, const char *text,
                              int64_t age_s)
{
    struct strbuf b = {0};
    sb_printf(&b, "%s\n", text);
    struct MHD_Response *r = response_of(&b, "application/json");
    if (r && age_s >= 0) {
        char age[24];
        snprintf(age, sizeof(age), "%lld", (long long)age_s);
        MHD_add_response_header(r, MHD_HTTP_HEADER_AGE, age);
    }
    return reply(cn, c, MHD_HTTP_OK, r);
}

enum MHD_Result cluster_info(struct conn *cn, struct MHD_Connection *c)
{
    struct bus_http *gw = cn->gw;
    if (!gw->cluster)
        return reply_error(cn, c, MHD_HTTP_NOT_FOUND, "nats_not_configured",
                           "this gateway is not in a cluster: start it with --nats URL "
                           "or a [nats] section");
    uint64_t timeout_ms = gw->cfg.nats->discover_timeout_ms, max = 0;
    if (!query_number(cn, c, "timeout_ms", 1, DISCOVER_TIMEOUT_MAX_MS, &timeout_ms, NULL) ||
        !query_number(cn, c, "max", 1, 1000000, &max, NULL))
        return MHD_YES; /* answered */
    struct cluster *cl = gw->cluster;
    uint64_t now = clock_now_ns();
    pthread_mutex_lock(&cl->discovery);
    if (cl->discovering) { /* a few calls must not take every HTTP thread */
        uint64_t age = now - cl->last_answer_ns;
        char *cached = cl->last_answer && age < gw->cfg.nats->discover_timeout_ms * 1000000ull
                           ? strdup(cl->last_answer)
                           : NULL;
        pthread_mutex_unlock(&cl->discovery);
        if (cached) {
            enum MHD_Result rc = answer(cn, c, cached, (int64_t)(age / 1000000000u));
            free(cached);
            return rc;
        }
        return reply_error(cn, c, MHD_HTTP_SERVICE_UNAVAILABLE, "busy",
                           "another GET /v1/cluster is discovering; retry later");
    }
    cl->discovering = true;
    pthread_mutex_unlock(&cl->discovery);

    char *text = discover(gw, timeout_ms, max);
    pthread_mutex_lock(&cl->discovery);
    cl->discovering = false;
    if (text) {
        free(cl->last_answer);
        cl->last_answer = strdup(text);
        cl->last_answer_ns = clock_now_ns();
    }
    pthread_mutex_unlock(&cl->discovery);
    if (!text)
        return reply_bus_error(cn, c, -ENOMEM);
    enum MHD_Result rc = answer(cn, c, text, -1);
    free(text);
    return rc;
}
