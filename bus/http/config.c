/* config.c - the gateway's configuration: defaults, and an INI file read
 * with inih. Sections: [gateway] (limits, auto_create), [defaults] (topics
 * created on first use), [topic NAME], [token NAME]. */
#include "config.h"

#include <errno.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "route.h"

void config_defaults(struct gw_config *c)
{
    memset(c, 0, sizeof(*c));
    c->auto_create = true;
    /* Memory of topics created on first use, at worst (every event of the
     * largest size): max_topics * (capacity * max_payload + retention_bytes)
     * = 256 * (16 MiB + 1 MiB); small events touch one page per slot. */
    c->max_topics = 256;
    bus_topic_config_init(&c->defaults.bus);
    c->defaults.bus.capacity = 1024;
    c->defaults.bus.max_payload = 16384;
    c->defaults.bus.full_policy = BUS_FULL_FAIL;
    c->defaults.retention_events = 1024;
    c->defaults.retention_bytes = 1u << 20;
    c->connection_limit = 10000;
    c->per_ip_limit = 1024;
    c->connection_timeout_s = 30;
    c->body_timeout_ms = 10000;
    c->memory_limit = 32768;
    c->max_wait_s = 60;
    c->heartbeat_ms = 15000;
    c->request_timeout_ms = 5000;
    c->request_timeout_max_ms = 60000;
    c->idempotency_window_s = 300;
    c->idempotency_keys = 100000;
}

/* The parse in progress: inih calls back with it. */
struct parse {
    struct gw_config *c;
    char *why;
    size_t why_size;
    int err;
};

static int fail(struct parse *p, int err, const char *section, const char *key,
                const char *what)
{
    snprintf(p->why, p->why_size, "[%s] %s: %s", section, key, what);
    p->err = err;
    return 0; /* inih: stop, report this line */
}

static bool number(const char *v, uint64_t max, uint32_t *out)
{
    uint64_t n;
    if (parse_u64(v, max, &n))
        return false;
    *out = (uint32_t)n;
    return true;
}

static bool boolean(const char *v, bool *out)
{
    if (!strcasecmp(v, "true") || !strcasecmp(v, "yes") || !strcmp(v, "1"))
        *out = true;
    else if (!strcasecmp(v, "false") || !strcasecmp(v, "no") || !strcmp(v, "0"))
        *out = false;
    else
        return false;
    return true;
}

/* Splits a list of patterns (commas and/or spaces) into @out. */
static int patterns(const char *v, char ***out, size_t *n)
{
    char *copy = strdup(v);
    if (!copy)
        return -ENOMEM;
    int rc = 0;
    char *save = NULL;
    for (char *tok = strtok_r(copy, ", \t", &save); tok; tok = strtok_r(NULL, ", \t", &save)) {
        char **grown = realloc(*out, (*n + 1) * sizeof(**out));
        char *dup = grown ? strdup(tok) : NULL;
        if (grown)
            *out = grown;
        if (!dup) {
            rc = -ENOMEM;
            break;
        }
        (*out)[(*n)++] = dup;
    }
    free(copy);
    return rc;
}

static int topic_key(struct parse *p, struct topic_cfg *t, const char *section,
                     const char *key, const char *v)
{
    uint32_t n;
    if (!strcmp(key, "capacity")) {
        if (!number(v, 1u << 31, &n) || n < 2 || (n & (n - 1)))
            return fail(p, -EINVAL, section, key, "a power of two from 2 to 2^31");
        t->bus.capacity = n;
    } else if (!strcmp(key, "max_payload")) {
        if (!number(v, 64u << 20, &n))
            return fail(p, -EINVAL, section, key, "a number of bytes up to 64 MiB");
        t->bus.max_payload = n;
    } else if (!strcmp(key, "full")) {
        if (!strcmp(v, "fail"))
            t->bus.full_policy = BUS_FULL_FAIL;
        else if (!strcmp(v, "block"))
            t->bus.full_policy = BUS_FULL_BLOCK;
        else if (!strcmp(v, "drop"))
            t->bus.full_policy = BUS_FULL_DROP;
        else
            return fail(p, -EINVAL, section, key, "fail, block or drop");
    } else if (!strcmp(key, "retention_events")) {
        if (!number(v, 1u << 24, &n) || n == 0)
            return fail(p, -EINVAL, section, key, "a number of events from 1 to 2^24");
        t->retention_events = n;
    } else if (!strcmp(key, "retention_bytes")) {
        if (!number(v, UINT32_MAX, &n) || n == 0)
            return fail(p, -EINVAL, section, key, "a number of bytes from 1 to 2^32 - 1");
        t->retention_bytes = n;
    } else if (!strcmp(key, "durable")) {
        bool durable;
        if (!boolean(v, &durable))
            return fail(p, -EINVAL, section, key, "true or false");
        if (durable)
            return fail(p, -ENOTSUP, section, key,
                        "durable topics are not available in this build");
    } else {
        return fail(p, -EINVAL, section, key, "unknown key");
    }
    return 1;
}

static const struct {
    const char *key;
    size_t offset;
    uint32_t min, max;
} limits[] = {
    {"max_topics", offsetof(struct gw_config, max_topics), 1, 1u << 24},
    {"connection_limit", offsetof(struct gw_config, connection_limit), 1, 1u << 20},
    {"per_ip_limit", offsetof(struct gw_config, per_ip_limit), 1, 1u << 20},
    {"connection_timeout_s", offsetof(struct gw_config, connection_timeout_s), 1, 86400},
    {"body_timeout_ms", offsetof(struct gw_config, body_timeout_ms), 1, 86400000},
    {"memory_limit", offsetof(struct gw_config, memory_limit), 4096, 1u << 24},
    {"max_wait_s", offsetof(struct gw_config, max_wait_s), 0, 60},
    {"heartbeat_ms", offsetof(struct gw_config, heartbeat_ms), 10, 3600000},
    {"request_timeout_ms", offsetof(struct gw_config, request_timeout_ms), 1, 3600000},
    {"request_timeout_max_ms", offsetof(struct gw_config, request_timeout_max_ms), 1, 3600000},
    {"idempotency_window_s", offsetof(struct gw_config, idempotency_window_s), 1, 86400},
    {"idempotency_keys", offsetof(struct gw_config, idempotency_keys), 1, 1u << 24},
};

static int gateway_key(struct parse *p, const char *key, const char *v)
{
    if (!strcmp(key, "auto_create")) {
        if (!boolean(v, &p->c->auto_create))
            return fail(p, -EINVAL, "gateway", key, "true or false");
        return 1;
    }
    for (size_t i = 0; i < sizeof(limits) / sizeof(limits[0]); i++) {
        if (strcmp(key, limits[i].key) != 0)
            continue;
        uint32_t n;
        if (!number(v, limits[i].max, &n) || n < limits[i].min)
            return fail(p, -EINVAL, "gateway", key, "a number out of range");
        *(uint32_t *)((char *)p->c + limits[i].offset) = n;
        return 1;
    }
    return fail(p, -EINVAL, "gateway", key, "unknown key");
}

/* Appends a copy of @init named @name to *@items (*@count entries of @size
 * bytes, each starting with its `char *name`); NULL when memory ran out. */
static void *append_named(struct parse *p, void **items, size_t *count, size_t size,
                          const void *init, const char *name)
{
    char *copy = strdup(name);
    void *grown = copy ? realloc(*items, (*count + 1) * size) : NULL;
    if (!grown) {
        free(copy);
        p->err = -ENOMEM;
        return NULL;
    }
    *items = grown;
    char *entry = (char *)grown + *count * size;
    memcpy(entry, init, size);
    memcpy(entry, &copy, sizeof(copy));
    ++*count;
    return entry;
}

/* A section's entry: created at its first key, found again at the next
 * ones; a section that comes back later is an error. */
static struct topic_cfg *topic_entry(struct parse *p, const char *name)
{
    struct gw_config *c = p->c;
    if (c->ntopics && !strcmp(c->topics[c->ntopics - 1].name, name))
        return &c->topics[c->ntopics - 1];
    if (config_topic(c, name)) {
        fail(p, -EINVAL, name, "section", "declared twice");
        return NULL;
    }
    return append_named(p, (void **)&c->topics, &c->ntopics, sizeof(*c->topics),
                        &c->defaults, name);
}

static struct token_cfg *token_entry(struct parse *p, const char *name)
{
    struct gw_config *c = p->c;
    if (c->ntokens && !strcmp(c->tokens[c->ntokens - 1].name, name))
        return &c->tokens[c->ntokens - 1];
    for (size_t i = 0; i < c->ntokens; i++) {
        if (!strcmp(c->tokens[i].name, name)) {
            fail(p, -EINVAL, name, "section", "declared twice");
            return NULL;
        }
    }
    static const struct token_cfg none;
    return append_named(p, (void **)&c->tokens, &c->ntokens, sizeof(*c->tokens), &none,
                        name);
}

static int token_key(struct parse *p, struct token_cfg *t, const char *section,
                     const char *key, const char *v)
{
    int rc = 0;
    if (!strcmp(key, "secret")) {
        if (strlen(v) < 8)
            return fail(p, -EINVAL, section, key, "at least 8 characters");
        free(t->secret);
        t->secret = strdup(v);
        rc = t->secret ? 0 : -ENOMEM;
    } else if (!strcmp(key, "publish")) {
        rc = patterns(v, &t->publish, &t->npublish);
    } else if (!strcmp(key, "subscribe")) {
        rc = patterns(v, &t->subscribe, &t->nsubscribe);
    } else {
        return fail(p, -EINVAL, section, key, "unknown key");
    }
    if (rc) {
        p->err = rc;
        return 0;
    }
    return 1;
}

static int on_entry(void *user, const char *section, const char *key, const char *v)
{
    struct parse *p = user;
    if (!strcmp(section, "gateway"))
        return gateway_key(p, key, v);
    if (!strcmp(section, "defaults"))
        return topic_key(p, &p->c->defaults, section, key, v);
    if (!strncmp(section, "topic ", 6)) {
        const char *name = section + 6;
        if (!topic_name_valid(name, strlen(name)) || topic_name_reserved(name))
            return fail(p, -EINVAL, section, key, "not a topic name the gateway serves");
        struct topic_cfg *t = topic_entry(p, name);
        return t ? topic_key(p, t, section, key, v) : 0;
    }
    if (!strncmp(section, "token ", 6)) {
        struct token_cfg *t = token_entry(p, section + 6);
        return t ? token_key(p, t, section, key, v) : 0;
    }
    return fail(p, -EINVAL, section, key, "unknown section");
}

int config_load(struct gw_config *c, const char *path, char *why, size_t why_size)
{
    struct parse p = {.c = c, .why = why, .why_size = why_size};
    int line = ini_parse(path, on_entry, &p);
    if (line == -1) {
        snprintf(why, why_size, "%s: cannot open", path);
        return -ENOENT;
    }
    if (line == -2)
        return -ENOMEM;
    if (line > 0) {
        char detail[256];
        snprintf(detail, sizeof(detail), "%s", p.err ? why : "not key = value");
        snprintf(why, why_size, "%s:%d: %s", path, line, detail);
        return p.err ? p.err : -EINVAL;
    }
    for (size_t i = 0; i < c->ntokens; i++) {
        if (!c->tokens[i].secret) {
            snprintf(why, why_size, "%s: [token %s] has no secret", path, c->tokens[i].name);
            return -EINVAL;
        }
    }
    if (c->request_timeout_ms > c->request_timeout_max_ms) {
        snprintf(why, why_size, "%s: request_timeout_ms over request_timeout_max_ms", path);
        return -EINVAL;
    }
    return 0;
}

static void free_list(char **list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(list[i]);
    free(list);
}

void config_free(struct gw_config *c)
{
    for (size_t i = 0; i < c->ntopics; i++)
        free(c->topics[i].name);
    free(c->topics);
    for (size_t i = 0; i < c->ntokens; i++) {
        struct token_cfg *t = &c->tokens[i];
        free(t->name);
        free(t->secret);
        free_list(t->publish, t->npublish);
        free_list(t->subscribe, t->nsubscribe);
    }
    free(c->tokens);
    memset(c, 0, sizeof(*c));
}

const struct topic_cfg *config_topic(const struct gw_config *c, const char *name)
{
    for (size_t i = 0; i < c->ntopics; i++)
        if (!strcmp(c->topics[i].name, name))
            return &c->topics[i];
    return NULL;
}
