/* config.c - bus_nats_config_t's defaults and the command-line flags. */
#include <errno.h>
#include <string.h>

#include "bridge.h"

void bus_nats_config_init(bus_nats_config_t *cfg)
{
    if (!cfg)
        return;
    memset(cfg, 0, sizeof(*cfg));
    cfg->connect_timeout_ms = 2000;
    cfg->max_reconnect = 60;
    cfg->reconnect_wait_ms = 2000;
    cfg->reconnect_buf_bytes = 8 << 20;
    cfg->export_buf_bytes = 4 << 20;
    cfg->request_timeout_ms = 5000;
    cfg->pending_msgs = 65536;
    cfg->max_deliver = -1;
}

/* NATS subject syntax: tokens separated by single dots, no spaces; `*` a
 * whole token, `>` a whole last token. */
static bool valid_pattern(const char *p)
{
    if (!*p)
        return false;
    for (const char *tok = p;;) {
        size_t n = strcspn(tok, ".");
        if (n == 0)
            return false;
        for (size_t i = 0; i < n; i++)
            if (tok[i] <= ' ' || tok[i] > '~' || ((tok[i] == '*' || tok[i] == '>') && n != 1))
                return false;
        if (tok[n] == '\0')
            return true;
        if (tok[0] == '>' && n == 1)
            return false; /* `>` must be the last token */
        tok += n + 1;
    }
}

static int copy(char *dst, size_t cap, const char *src, size_t n, const char *what)
{
    if (n >= cap)
        return bus__nats_fail_text(-ENOSPC, what);
    memcpy(dst, src, n);
    dst[n] = '\0';
    return 0;
}

static int parse_servers(bus_nats_config_t *cfg, const char *value)
{
    /* Each URL non-empty and without spaces; cnats checks the rest. */
    for (const char *u = value;; u++) {
        size_t n = strcspn(u, ",");
        if (n == 0 || strcspn(u, " \t") < n)
            return bus__nats_fail_text(-EINVAL, "--nats: an empty URL or one with a space");
        u += n;
        if (!*u)
            break;
    }
    return copy(cfg->servers, sizeof(cfg->servers), value, strlen(value),
                "--nats: the server list is over 1023 bytes");
}

static int parse_export(bus_nats_config_t *cfg, const char *value)
{
    if (cfg->n_exports == BUS_NATS_MAX_PATTERNS)
        return bus__nats_fail_text(-ENOSPC, "--export: more than 16 exports");
    if (!valid_pattern(value))
        return bus__nats_fail_text(-EINVAL, "--export: not a NATS subject pattern");
    int rc = copy(cfg->exports[cfg->n_exports], BUS_NATS_NAME_MAX, value, strlen(value),
                  "--export: pattern over 255 bytes");
    if (rc == 0)
        cfg->n_exports++;
    return rc;
}

static int parse_import(bus_nats_config_t *cfg, const char *value)
{
    if (cfg->n_imports == BUS_NATS_MAX_PATTERNS)
        return bus__nats_fail_text(-ENOSPC, "--import: more than 16 imports");
    bus_nats_import_t *imp = &cfg->imports[cfg->n_imports];
    const char *at = strchr(value, '@');
    size_t n = at ? (size_t)(at - value) : strlen(value);
    int rc = copy(imp->pattern, sizeof(imp->pattern), value, n, "--import: pattern over 255 bytes");
    if (rc)
        return rc;
    if (!valid_pattern(imp->pattern))
        return bus__nats_fail_text(-EINVAL, "--import: not a NATS subject pattern");
    imp->group[0] = '\0';
    if (at) {
        if (!at[1] || strpbrk(at + 1, " \t.*>@"))
            return bus__nats_fail_text(-EINVAL, "--import: empty or malformed queue group");
        rc = copy(imp->group, sizeof(imp->group), at + 1, strlen(at + 1),
                  "--import: group over 255 bytes");
        if (rc)
            return rc;
    }
    cfg->n_imports++;
    return 0;
}

int bus_nats_config_parse(bus_nats_config_t *cfg, const char *flag, const char *value)
{
    if (!cfg || !flag || !value)
        return bus__nats_fail_text(-EINVAL, "bus_nats_config_parse: NULL argument");
    if (strcmp(flag, "--nats") == 0)
        return parse_servers(cfg, value);
    if (strcmp(flag, "--export") == 0)
        return parse_export(cfg, value);
    if (strcmp(flag, "--import") == 0)
        return parse_import(cfg, value);
    if (strcmp(flag, "--nats-prefix") == 0) {
        size_t n = strlen(value);
        if (n && (value[n - 1] != '.' || strpbrk(value, "*> \t")))
            return bus__nats_fail_text(-EINVAL, "--nats-prefix: wildcards, or no final dot");
        return copy(cfg->subject_prefix, sizeof(cfg->subject_prefix), value, strlen(value),
                    "--nats-prefix: over 255 bytes");
    }
    if (strcmp(flag, "--jetstream") == 0) {
        if (!*value || strpbrk(value, ".*> \t"))
            return bus__nats_fail_text(-EINVAL, "--jetstream: not a stream name");
        cfg->jetstream = true;
        return copy(cfg->stream, sizeof(cfg->stream), value, strlen(value),
                    "--jetstream: over 255 bytes");
    }
    return -ENOENT;
}
