/* route.c - what a request asks for: its method and path, its numbers. */
#include "route.h"

#include <errno.h>
#include <string.h>
#include <strings.h>

const char *route_label(enum route_kind kind)
{
    static const char *const labels[ROUTE_KINDS] = {
        [ROUTE_HEALTHZ] = "healthz",   [ROUTE_METRICS] = "metrics",
        [ROUTE_TOPICS] = "topics",     [ROUTE_TOPIC] = "topic",
        [ROUTE_PUBLISH] = "publish",   [ROUTE_POLL] = "poll",
        [ROUTE_STREAM] = "stream",     [ROUTE_REQUEST] = "request",
        [ROUTE_WEBHOOK_CREATE] = "webhook_create", [ROUTE_WEBHOOK_LIST] = "webhook_list",
        [ROUTE_WEBHOOK_GET] = "webhook_get", [ROUTE_WEBHOOK_DELETE] = "webhook_delete",
        [ROUTE_WEBHOOK_ENABLE] = "webhook_enable",
        [ROUTE_DASHBOARD] = "dashboard", [ROUTE_DASH_STREAM] = "dashboard_stream",
        [ROUTE_DASH_SNAPSHOT] = "dashboard_snapshot", [ROUTE_CLUSTER] = "cluster",
        [ROUTE_NOT_FOUND] = "unknown", [ROUTE_BAD_METHOD] = "bad_method",
        [ROUTE_BAD_TOPIC] = "bad_topic",
    };
    return kind < ROUTE_KINDS ? labels[kind] : "unknown";
}

bool topic_name_valid(const char *s, size_t n)
{
    if (n == 0 || n > ROUTE_TOPIC_MAX)
        return false;
    bool token_empty = true;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '.') {
            if (token_empty)
                return false;
            token_empty = true;
        } else if (c <= ' ' || c >= 0x7f || c == '*' || c == '>') {
            return false;
        } else {
            token_empty = false;
        }
    }
    return !token_empty;
}

bool topic_pattern_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > ROUTE_TOPIC_MAX || topic_name_reserved(s))
        return false;
    for (const char *t = s;;) {
        size_t len = strcspn(t, ".");
        bool last = t[len] == '\0';
        bool wild = len == 1 && (t[0] == '*' || (t[0] == '>' && last));
        if (!wild && !topic_name_valid(t, len))
            return false;
        if (last)
            return true;
        t += len + 1;
    }
}

bool webhook_id_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= 64)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return false;
    }
    return true;
}

bool topic_name_reserved(const char *s)
{
    return strncmp(s, "bus", 3) == 0 && (s[3] == '\0' || s[3] == '.');
}

/* One of the methods a path takes: sets @r for it, or a 405. */
static void method_route(struct route *r, bool get, bool post, const char *method,
                        enum route_kind on_get, enum route_kind on_post)
{
    if (get && strcmp(method, "GET") == 0)
        r->kind = on_get;
    else if (post && strcmp(method, "POST") == 0)
        r->kind = on_post;
    else {
        r->kind = ROUTE_BAD_METHOD;
        r->allow = get && post ? "GET, POST" : get ? "GET" : "POST";
    }
}

/* /v1/webhooks[/{id}[/enable]] and the dashboard's paths; false for
 * other paths. */
static bool parse_other(const char *method, const char *path, struct route *r)
{
    static const char hooks[] = "/v1/webhooks";
    bool get = strcmp(method, "GET") == 0;
    if (!strcmp(path, hooks) || !strcmp(path, "/v1/webhooks/")) {
        bool post = strcmp(method, "POST") == 0;
        r->kind = get ? ROUTE_WEBHOOK_LIST : post ? ROUTE_WEBHOOK_CREATE : ROUTE_BAD_METHOD;
        r->allow = "GET, POST";
        return true;
    }
    if (!strncmp(path, hooks, sizeof(hooks) - 1) && path[sizeof(hooks) - 1] == '/') {
        const char *id = path + sizeof(hooks);
        const char *slash = strchr(id, '/');
        size_t n = slash ? (size_t)(slash - id) : strlen(id);
        if (n > ROUTE_TOPIC_MAX || (slash && strcmp(slash, "/enable") != 0))
            return true; /* 404 */
        memcpy(r->topic, id, n);
        r->topic[n] = '\0';
        if (!webhook_id_valid(r->topic)) {
            r->topic[0] = '\0';
            return true; /* 404 */
        }
        if (slash) {
            r->kind = !strcmp(method, "POST") ? ROUTE_WEBHOOK_ENABLE : ROUTE_BAD_METHOD;
            r->allow = "POST";
            return true;
        }
        bool del = strcmp(method, "DELETE") == 0;
        r->kind = get ? ROUTE_WEBHOOK_GET : del ? ROUTE_WEBHOOK_DELETE : ROUTE_BAD_METHOD;
        r->allow = "GET, DELETE";
        return true;
    }
    static const char *const files[] = {"/", "/dashboard.js", "/dashboard.css"};
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        if (!strcmp(path, files[i])) {
            r->kind = get ? ROUTE_DASHBOARD : ROUTE_BAD_METHOD;
            r->allow = "GET";
            strcpy(r->topic, i ? files[i] + 1 : "dashboard.html");
            return true;
        }
    }
    bool stream = !strcmp(path, "/v1/dashboard/stream");
    if (stream || !strcmp(path, "/v1/dashboard/snapshot")) {
        r->kind = !get ? ROUTE_BAD_METHOD : stream ? ROUTE_DASH_STREAM : ROUTE_DASH_SNAPSHOT;
        r->allow = "GET";
        return true;
    }
    return false;
}

void route_parse(const char *method, const char *path, struct route *r)
{
    memset(r, 0, sizeof(*r));
    r->kind = ROUTE_NOT_FOUND;
    static const struct {
        const char *path;
        enum route_kind kind;
    } fixed[] = {
        {"/healthz", ROUTE_HEALTHZ},
        {"/metrics", ROUTE_METRICS},
        {"/v1/topics", ROUTE_TOPICS},
        {"/v1/topics/", ROUTE_TOPICS},
        {"/v1/cluster", ROUTE_CLUSTER},
    };
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
        if (strcmp(path, fixed[i].path) == 0) {
            method_route(r, true, false, method, fixed[i].kind, fixed[i].kind);
            return;
        }
    }
    if (parse_other(method, path, r))
        return;
    static const char prefix[] = "/v1/topics/";
    if (strncmp(path, prefix, sizeof(prefix) - 1) != 0)
        return;
    const char *name = path + sizeof(prefix) - 1;
    const char *slash = strchr(name, '/');
    size_t n = slash ? (size_t)(slash - name) : strlen(name);
    const char *rest = slash ? slash + 1 : "";
    if (strcmp(rest, "") == 0)
        method_route(r, true, false, method, ROUTE_TOPIC, ROUTE_TOPIC);
    else if (strcmp(rest, "events") == 0)
        method_route(r, true, true, method, ROUTE_POLL, ROUTE_PUBLISH);
    else if (strcmp(rest, "stream") == 0)
        method_route(r, true, false, method, ROUTE_STREAM, ROUTE_STREAM);
    else if (strcmp(rest, "request") == 0)
        method_route(r, false, true, method, ROUTE_REQUEST, ROUTE_REQUEST);
    else
        return; /* 404 */
    if (r->kind == ROUTE_BAD_METHOD)
        return;
    if (!topic_name_valid(name, n)) {
        r->kind = ROUTE_BAD_TOPIC;
        return;
    }
    memcpy(r->topic, name, n);
    r->topic[n] = '\0';
    if (topic_name_reserved(r->topic))
        r->kind = ROUTE_BAD_TOPIC;
}

int parse_u64(const char *s, uint64_t max, uint64_t *out)
{
    if (!s || !*s)
        return -EINVAL;
    uint64_t v = 0;
    bool over = false;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return -EINVAL;
        unsigned d = (unsigned)(*p - '0');
        if (v > (UINT64_MAX - d) / 10)
            over = true;
        else
            v = v * 10 + d;
    }
    if (over || v > max)
        return -ERANGE;
    *out = v;
    return 0;
}

bool parse_bearer(const char *header, const char **token, size_t *len)
{
    if (!header || strncasecmp(header, "Bearer ", 7) != 0)
        return false;
    const char *t = header + 7;
    while (*t == ' ')
        t++;
    size_t n = strlen(t);
    while (n && t[n - 1] == ' ')
        n--;
    if (n == 0)
        return false;
    *token = t;
    *len = n;
    return true;
}

/* The length of the token at @s (up to a dot or the end). */
static size_t token_len(const char *s)
{
    const char *dot = strchr(s, '.');
    return dot ? (size_t)(dot - s) : strlen(s);
}

bool subject_matches(const char *pattern, const char *name)
{
    for (;;) {
        size_t pn = token_len(pattern), nn = token_len(name);
        if (pn == 1 && pattern[0] == '>' && pattern[1] == '\0')
            return nn > 0; /* one or more tokens left */
        bool same = pn == 1 && pattern[0] == '*' ? nn > 0
                    : pn == nn && memcmp(pattern, name, pn) == 0;
        if (!same)
            return false;
        pattern += pn;
        name += nn;
        if (!*pattern || !*name)
            return !*pattern && !*name;
        pattern++; /* the dots */
        name++;
    }
}
