/* config.c - the gateway's configuration: defaults, and an INI file read
 * with inih. Sections: [gateway] (limits, auto_create), [defaults] (topics
 * created on first use), [topic NAME], [token NAME], [nats] (cluster.c). */
#include "config.h"

#include <errno.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cluster.h"
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
    bus_journal_config_init(&c->defaults.journal);
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
    c->dashboard_interval_ms = 1000;
    c->request_timeout_ms = 5000;
    c->request_timeout_max_ms = 60000;
    c->idempotency_window_s = 300;
    c->idempotency_keys = 100000;
    /* As Svix and Standard Webhooks: 8 attempts over about 27 h. */
    static const uint64_t schedule_s[] = {5, 300, 1800, 7200, 18000, 36000, 36000};
    for (size_t i = 0; i < sizeof(schedule_s) / sizeof(schedule_s[0]); i++)
        c->hooks.schedule_ms[i] = schedule_s[i] * 1000;
    c->hooks.nschedule = sizeof(schedule_s) / sizeof(schedule_s[0]);
    c->hooks.timeout_ms = 15000;
    c->hooks.connect_timeout_ms = 5000;
    c->hooks.disable_after_s = 5 * 86400;
    c->hooks.max_in_flight = 16;
    c->hooks.max_pending = 10000;
    c->hooks.max_webhooks = 1024;
}

/* The parse in progress: inih calls back with it. */
struct parse {
    struct gw_config *c;
    char *why;
    size_t why_size;
    int err;       /* the first error a key made ... */
    int err_line;  /* ... and its line */
    FILE *file;
    int line;      /* lines read so far */
    int long_line; /* the first line longer than inih's buffer; 0 = none */
    int max_line;  /* that buffer's size */
};

static int fail(struct parse *p, int err, const char *section, const char *key,
                const char *what)
{
    if (!p->err) { /* inih goes on after an error: keep the first */
        snprintf(p->why, p->why_size, "[%s] %s: %s", section, key, what);
        p->err = err;
        p->err_line = p->line;
    }
    return 0; /* inih: report this line */
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

/* A durable topic's name is its journal's directory name. */
static bool dir_name(const char *name)
{
    for (const char *c = name; *c; c++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-", *c))
            return false;
    return true;
}

/* The keys of a durable topic ([topic NAME], or [defaults] for the
 * journal's settings of every declared durable topic). *@handled: whether
 * @key is one of them; returns 0 after a failure. */
static int journal_key(struct parse *p, struct topic_cfg *t, const char *section,
                       const char *key, const char *v, bool *handled)
{
    bus_journal_config_t *j = &t->journal;
    uint64_t n;
    *handled = true;
    if (!strcmp(key, "durable")) {
        if (!boolean(v, &t->durable))
            return fail(p, -EINVAL, section, key, "true or false");
        if (t->durable && !t->name)
            return fail(p, -EINVAL, section, key,
                        "durable topics are declared one by one, in [topic NAME]");
        if (t->durable && !dir_name(t->name))
            return fail(p, -EINVAL, section, key,
                        "a durable topic's name is a directory's: A-Z a-z 0-9 _ . - only");
        return 1;
    } else if (!strcmp(key, "sync")) {
        if (!strcmp(v, "none"))
            j->sync = BUS_SYNC_NONE;
        else if (!strcmp(v, "interval"))
            j->sync = BUS_SYNC_INTERVAL;
        else if (!strcmp(v, "always"))
            j->sync = BUS_SYNC_ALWAYS;
        else
            return fail(p, -EINVAL, section, key, "none, interval or always");
    } else if (!strcmp(key, "sync_interval_ms")) {
        if (parse_u64(v, 3600000, &n) || n == 0)
            return fail(p, -EINVAL, section, key, "a number of ms from 1 to 3600000");
        j->sync_interval_ms = (uint32_t)n;
    } else if (!strcmp(key, "segment_bytes")) {
        if (parse_u64(v, 1ull << 40, &n) || n < 4096)
            return fail(p, -EINVAL, section, key, "a number of bytes from 4096 to 2^40");
        j->segment_bytes = n;
    } else if (!strcmp(key, "retain_bytes")) {
        if (parse_u64(v, UINT64_MAX, &j->retain_bytes))
            return fail(p, -EINVAL, section, key, "a number of bytes (0: no limit)");
    } else if (!strcmp(key, "retain_ns")) {
        if (parse_u64(v, UINT64_MAX, &j->retain_ns))
            return fail(p, -EINVAL, section, key, "a number of ns (0: no limit)");
    } else {
        *handled = false;
        return 1;
    }
    /* Checked once the file is read: durable = true may come later. */
    if (t->name && !t->journal_line) {
        t->journal_line = p->line;
        snprintf(t->journal_key, sizeof(t->journal_key), "%s", key);
    }
    return 1;
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
    } else {
        bool handled;
        int rc = journal_key(p, t, section, key, v, &handled);
        return handled ? rc : fail(p, -EINVAL, section, key, "unknown key");
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
    {"dashboard_interval_ms", offsetof(struct gw_config, dashboard_interval_ms), 50, 60000},
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
    if (!strcmp(key, "data_dir")) {
        free(p->c->data_dir);
        p->c->data_dir = strdup(v);
        if (!p->c->data_dir)
            p->err = -ENOMEM;
        return p->c->data_dir != NULL;
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
    } else if (!strcmp(key, "webhooks")) {
        if (!boolean(v, &t->webhooks))
            return fail(p, -EINVAL, section, key, "true or false");
    } else {
        return fail(p, -EINVAL, section, key, "unknown key");
    }
    if (rc) {
        p->err = rc;
        return 0;
    }
    return 1;
}

/* A duration: a number with a unit (ms, s, m, h). */
static bool duration_ms(const char *v, uint64_t *out)
{
    static const struct {
        const char *unit;
        uint64_t ms;
    } units[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}};
    size_t digits = strspn(v, "0123456789");
    char number_part[21];
    if (digits == 0 || digits >= sizeof(number_part))
        return false;
    memcpy(number_part, v, digits);
    number_part[digits] = '\0';
    uint64_t n;
    if (parse_u64(number_part, 100u * 86400 * 1000, &n))
        return false;
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (!strcmp(v + digits, units[i].unit)) {
            *out = n * units[i].ms;
            return true;
        }
    }
    return false;
}

static int schedule(struct parse *p, const char *v)
{
    struct webhooks_cfg *h = &p->c->hooks;
    char *copy = strdup(v);
    if (!copy) {
        p->err = -ENOMEM;
        return 0;
    }
    size_t n = 0;
    bool ok = true;
    char *save = NULL;
    for (char *tok = strtok_r(copy, ", \t", &save); tok && ok;
         tok = strtok_r(NULL, ", \t", &save))
        ok = n < WEBHOOK_SCHEDULE_MAX && duration_ms(tok, &h->schedule_ms[n++]);
    free(copy);
    if (!ok)
        return fail(p, -EINVAL, "webhooks", "schedule",
                    "up to 32 durations such as 500ms, 5s, 5m, 2h");
    h->nschedule = n;
    return 1;
}

static const struct {
    const char *key;
    size_t offset;
    uint32_t min, max;
} hook_limits[] = {
    {"timeout_ms", offsetof(struct webhooks_cfg, timeout_ms), 1, 3600000},
    {"connect_timeout_ms", offsetof(struct webhooks_cfg, connect_timeout_ms), 1, 3600000},
    {"disable_after_s", offsetof(struct webhooks_cfg, disable_after_s), 1, 365 * 86400},
    {"max_in_flight", offsetof(struct webhooks_cfg, max_in_flight), 1, 4096},
    {"max_pending", offsetof(struct webhooks_cfg, max_pending), 1, 1u << 24},
    {"max_webhooks", offsetof(struct webhooks_cfg, max_webhooks), 1, 1u << 20},
};

static int webhooks_key(struct parse *p, const char *key, const char *v)
{
    struct webhooks_cfg *h = &p->c->hooks;
    if (!strcmp(key, "allow_hosts")) {
        int rc = patterns(v, &h->allow_hosts, &h->nallow_hosts);
        if (rc)
            p->err = rc;
        return !rc;
    }
    if (!strcmp(key, "deny_private")) {
        if (!boolean(v, &h->deny_private))
            return fail(p, -EINVAL, "webhooks", key, "true or false");
        return 1;
    }
    if (!strcmp(key, "schedule"))
        return schedule(p, v);
    if (!strcmp(key, "state_dir")) {
        free(h->state_dir);
        h->state_dir = strdup(v);
        if (!h->state_dir)
            p->err = -ENOMEM;
        return h->state_dir != NULL;
    }
    for (size_t i = 0; i < sizeof(hook_limits) / sizeof(hook_limits[0]); i++) {
        if (strcmp(key, hook_limits[i].key) != 0)
            continue;
        uint32_t n;
        if (!number(v, hook_limits[i].max, &n) || n < hook_limits[i].min)
            return fail(p, -EINVAL, "webhooks", key, "a number out of range");
        *(uint32_t *)((char *)h + hook_limits[i].offset) = n;
        return 1;
    }
    return fail(p, -EINVAL, "webhooks", key, "unknown key");
}

static struct webhook_cfg *webhook_entry(struct parse *p, const char *name)
{
    struct gw_config *c = p->c;
    if (c->nwebhooks && !strcmp(c->webhooks[c->nwebhooks - 1].name, name))
        return &c->webhooks[c->nwebhooks - 1];
    for (size_t i = 0; i < c->nwebhooks; i++) {
        if (!strcmp(c->webhooks[i].name, name)) {
            fail(p, -EINVAL, name, "section", "declared twice");
            return NULL;
        }
    }
    static const struct webhook_cfg none;
    return append_named(p, (void **)&c->webhooks, &c->nwebhooks, sizeof(*c->webhooks),
                        &none, name);
}

static int webhook_key(struct parse *p, struct webhook_cfg *h, const char *section,
                       const char *key, const char *v)
{
    char **field = !strcmp(key, "pattern") ? &h->pattern
                   : !strcmp(key, "url")   ? &h->url
                   : !strcmp(key, "secret") ? &h->secret
                                            : NULL;
    if (field) {
        free(*field);
        *field = strdup(v);
        if (!*field)
            p->err = -ENOMEM;
        return *field != NULL;
    }
    if (!strcmp(key, "ordered")) {
        if (!boolean(v, &h->ordered))
            return fail(p, -EINVAL, section, key, "true or false");
        return 1;
    }
    if (!strcmp(key, "max_in_flight")) {
        if (!number(v, 4096, &h->max_in_flight) || h->max_in_flight == 0)
            return fail(p, -EINVAL, section, key, "a number from 1 to 4096");
        return 1;
    }
    return fail(p, -EINVAL, section, key, "unknown key");
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
    if (!strcmp(section, "webhooks"))
        return webhooks_key(p, key, v);
    if (!strcmp(section, "nats")) {
        p->err = cluster_config_key(&p->c->nats, key, v, p->why, p->why_size);
        return !p->err;
    }
    if (!strncmp(section, "webhook ", 8)) {
        const char *name = section + 8;
        if (!webhook_id_valid(name))
            return fail(p, -EINVAL, section, key,
                        "a webhook's name: 1 to 63 of A-Z a-z 0-9 _ -");
        struct webhook_cfg *h = webhook_entry(p, name);
        return h ? webhook_key(p, h, section, key, v) : 0;
    }
    return fail(p, -EINVAL, section, key, "unknown section");
}

/* inih's reader, fgets() as inih calls it, but a whole line at a time:
 * inih reads a line longer than its buffer (@num bytes, INI_MAX_LINE: 200
 * in Debian's build) as several lines, so a long value would be cut, or
 * its tail taken as a key. Such a line, or a key's error, ends the file
 * here (inih would go on after an error). */
static char *read_line(char *str, int num, void *arg)
{
    struct parse *p = arg;
    if (p->err)
        return NULL;
    size_t n = 0;
    int ch = 0;
    while (n + 1 < (size_t)num && (ch = getc(p->file)) != EOF) {
        str[n++] = (char)ch;
        if (ch == '\n')
            break;
    }
    if (n == 0)
        return NULL;
    str[n] = '\0';
    p->line++;
    if (str[n - 1] != '\n' && (ch = getc(p->file)) != EOF && ch != '\n') {
        p->long_line = p->line;
        p->max_line = num;
        return NULL;
    }
    return str;
}

int config_load(struct gw_config *c, const char *path, char *why, size_t why_size)
{
    struct parse p = {.c = c, .why = why, .why_size = why_size};
    p.file = fopen(path, "r");
    if (!p.file) {
        snprintf(why, why_size, "%s: cannot open", path);
        return -ENOENT;
    }
    int line = ini_parse_stream(read_line, &p, on_entry, &p);
    fclose(p.file);
    if (line == -2)
        return -ENOMEM;
    if (p.long_line && !line) { /* else an error came before it */
        snprintf(why, why_size, "%s:%d: a line longer than %d characters (inih's limit)",
                 path, p.long_line, p.max_line - 1);
        return -EINVAL;
    }
    if (line > 0) {
        char detail[256];
        bool key_error = p.err && (!p.err_line || p.err_line <= line);
        snprintf(detail, sizeof(detail), "%s", key_error ? why : "not key = value");
        snprintf(why, why_size, "%s:%d: %s", path, key_error && p.err_line ? p.err_line : line,
                 detail);
        return key_error ? p.err : -EINVAL;
    }
    for (size_t i = 0; i < c->ntopics; i++) {
        const struct topic_cfg *t = &c->topics[i];
        if (t->journal_line && !t->durable) {
            snprintf(why, why_size, "%s:%d: [topic %s] %s: a journal setting, for a topic with "
                     "durable = true only", path, t->journal_line, t->name, t->journal_key);
            return -EINVAL;
        }
    }
    for (size_t i = 0; i < c->ntokens; i++) {
        if (!c->tokens[i].secret) {
            snprintf(why, why_size, "%s: [token %s] has no secret", path, c->tokens[i].name);
            return -EINVAL;
        }
    }
    for (size_t i = 0; i < c->nwebhooks; i++) {
        const struct webhook_cfg *h = &c->webhooks[i];
        if (!h->pattern || !h->url || !h->secret) {
            snprintf(why, why_size, "%s: [webhook %s] needs pattern, url and secret", path,
                     h->name);
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
    for (size_t i = 0; i < c->nwebhooks; i++) {
        struct webhook_cfg *h = &c->webhooks[i];
        free(h->name);
        free(h->pattern);
        free(h->url);
        free(h->secret);
    }
    free(c->webhooks);
    free_list(c->hooks.allow_hosts, c->hooks.nallow_hosts);
    free(c->hooks.state_dir);
    free(c->data_dir);
    cluster_config_free(c->nats);
    memset(c, 0, sizeof(*c));
}

const struct topic_cfg *config_topic(const struct gw_config *c, const char *name)
{
    for (size_t i = 0; i < c->ntopics; i++)
        if (!strcmp(c->topics[i].name, name))
            return &c->topics[i];
    return NULL;
}
