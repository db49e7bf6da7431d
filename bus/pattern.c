/* pattern.c - wildcard subscriptions with NATS subject syntax.
 *
 * A pattern subscription owns one plain subscription (a child) on every
 * topic whose name matches: `*` matches one token, `>` one or more trailing
 * tokens. Matching happens when a pattern is added (against the existing
 * topics) and when a topic is created (against the patterns), under the
 * registry lock, never per event: dispatch sees only ordinary children.
 *
 * A bound subscription (bus__subscribe_bound) is a pattern whose only match
 * is one topic: its handle outlives that topic's close, as a pattern's
 * does, where a plain subscription's handle is freed by the close. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct pattern {
    char *text;
    /* A bound subscription's topic; NULL once it closed. */
    bool bound;
    struct bus_topic *only;
    struct sub_end end;
    struct bus *bus;
    struct bus_sub *owner; /* the handle the user holds */
    struct bus_sub **children;
    uint32_t count, capacity;
    struct pattern *next; /* in bus->patterns */
};

static size_t token_length(const char *s)
{
    const char *dot = strchr(s, '.');
    return dot ? (size_t)(dot - s) : strlen(s);
}

/* True if topic @name matches @pattern, token by token. */
static bool tokens_match(const char *pattern, const char *name)
{
    for (;;) {
        if (strcmp(pattern, ">") == 0)
            return *name != '\0';
        size_t p = token_length(pattern), n = token_length(name);
        bool star = p == 1 && pattern[0] == '*';
        if (!star && (p != n || memcmp(pattern, name, p) != 0))
            return false;
        if (pattern[p] == '\0' || name[n] == '\0')
            return pattern[p] == '\0' && name[n] == '\0';
        pattern += p + 1;
        name += n + 1;
    }
}

static const char RESERVED_TOKEN[] = "bus";

static bool first_token_is(const char *s, const char *token)
{
    size_t n = strlen(token);
    return strncmp(s, token, n) == 0 && (s[n] == '.' || s[n] == '\0');
}

/* True if topic @name matches @pattern. The bus's own topics (first token
 * `bus`) match only patterns that name `bus` first: wildcards never reach
 * them by accident (NATS's $SYS rule). */
static bool matches(const char *pattern, const char *name)
{
    if (first_token_is(name, RESERVED_TOKEN) && !first_token_is(pattern, RESERVED_TOKEN))
        return false;
    return tokens_match(pattern, name);
}

/* True if @p takes a child on topic @t. */
static bool pattern_matches(const struct pattern *p, const struct bus_topic *t)
{
    return p->bound ? p->only == t : matches(p->text, t->name);
}

/* A topic name in which a token may also be `*`, and the last one `>`. */
bool bus__valid_pattern(const char *pattern)
{
    size_t len = strnlen(pattern, 256);
    if (len == 0 || len > 255)
        return false;
    for (const char *token = pattern;; token += token_length(token) + 1) {
        size_t n = token_length(token);
        if (n == 0)
            return false;
        bool wild = n == 1 && (token[0] == '*' || token[0] == '>');
        for (size_t i = 0; i < n && !wild; i++) {
            unsigned char c = (unsigned char)token[i];
            if (c <= ' ' || c >= 0x7f || c == '*' || c == '>')
                return false;
        }
        if (token[n] == '\0')
            return true;
        if (token[0] == '>' && n == 1)
            return false; /* `>` only at the end */
    }
}

/* Attaches a child on @t; @live false makes it a child that skips every
 * event until it is made live (see bus_subscribe_pattern). */
static int add_child(struct pattern *p, struct bus_topic *t, bool live)
{
    if (p->count == p->capacity) {
        uint32_t capacity = p->capacity ? 2 * p->capacity : 8;
        struct bus_sub **children = realloc(p->children, capacity * sizeof(*children));
        if (!children)
            return -ENOMEM;
        p->children = children;
        p->capacity = capacity;
    }
    const struct bus_sub *owner = p->owner;
    bus_sub_options_t opts;
    bus__sub_options_of(owner, &opts);
    struct bus_sub *child = bus__sub_new(t, owner->fn, owner->ctx, &opts);
    if (!child)
        return -ENOMEM;
    /* Slow calls on this topic are reported as the user's subscription's. */
    child->handle = p->owner;
    /* Not shared yet: attaching publishes it (release of the table). */
    atomic_init(&child->dead, !live);
    child->pattern_child = !p->bound;
    int rc = bus__sub_attach(child);
    if (rc) {
        bus__sub_free(child);
        return rc;
    }
    p->children[p->count++] = child;
    return 0;
}

static void report_end(struct pattern *p, int why)
{
    if (p->end.fn)
        p->end.fn(p->end.arg, why);
}

void bus__patterns_forget(struct bus *bus, struct bus_topic *t)
{
    for (struct pattern *p = bus->patterns; p; p = p->next) {
        for (uint32_t i = 0; i < p->count;) {
            if (p->children[i]->topic == t)
                p->children[i] = p->children[--p->count];
            else
                i++;
        }
    }
}

void bus__patterns_closed(struct bus *bus, struct bus_topic *t)
{
    for (struct pattern *p = bus->patterns; p; p = p->next) {
        if (p->bound && p->only == t) {
            /* Never matches again, even a topic that reuses the memory. */
            p->only = NULL;
            report_end(p, -EPIPE);
        }
    }
}

void bus__patterns_end(struct bus *bus)
{
    pthread_mutex_lock(&bus->registry_lock);
    for (struct pattern *p = bus->patterns; p; p = p->next)
        report_end(p, -ESHUTDOWN);
    pthread_mutex_unlock(&bus->registry_lock);
}

int bus__patterns_attach(struct bus *bus, struct bus_topic *t)
{
    for (struct pattern *p = bus->patterns; p; p = p->next) {
        if (!pattern_matches(p, t))
            continue;
        /* Nobody can publish on @t yet: the child can be live at once. */
        int rc = add_child(p, t, true);
        if (rc) {
            bus__patterns_forget(bus, t);
            return rc;
        }
    }
    return 0;
}

uint32_t bus__patterns_matching(struct bus *bus, const char *name)
{
    uint32_t n = 0;
    for (struct pattern *p = bus->patterns; p; p = p->next)
        n += !p->bound && matches(p->text, name);
    return n;
}

/* Takes @p off the bus (if it is on) and its children off their topics;
 * registry_lock held, so that no close frees a child meanwhile (a close
 * forgets the children of the patterns on the bus only). */
static void detach_locked(struct pattern *p)
{
    for (struct pattern **link = &p->bus->patterns; *link; link = &(*link)->next) {
        if (*link == p) {
            *link = p->next;
            break;
        }
    }
    for (uint32_t i = 0; i < p->count; i++) {
        p->children[i]->detached = bus__sub_detach(p->children[i]);
        bus__retries_forget(p->children[i]);
    }
}

/* Subscribes @p's owner on every open topic @p matches and adds @p to the
 * bus, or undoes it all: see bus_subscribe_pattern. Takes @p. */
static int subscribe_matching(struct bus *bus, struct pattern *p, bus_sub_t **out)
{
    int rc = 0;
    pthread_mutex_lock(&bus->registry_lock);
    /* relaxed: registry_lock orders it against bus_shutdown. */
    if (atomic_load_explicit(&bus->stopping, memory_order_relaxed))
        rc = -ESHUTDOWN;
    /* relaxed, here and below: registry_lock orders it; a closing topic
     * takes no child. */
    else if (p->bound && atomic_load_explicit(&p->only->closed, memory_order_relaxed))
        rc = -EPIPE;
    /* The children skip every event until all are attached, so that a
     * call failing part way has had no effect: no handler call ran. */
    bus__for_each_topic(bus, t) {
        if (rc == 0 && !atomic_load_explicit(&t->closed, memory_order_relaxed) &&
            pattern_matches(p, t))
            rc = add_child(p, t, false);
    }
    if (rc) {
        detach_locked(p); /* before the unlock: see detach_locked */
    } else {
        for (uint32_t i = 0; i < p->count; i++)
            /* relaxed: a worker reaches the child through the table it
             * loaded with acquire, which published the child's fields; an
             * event published after we return reaches the worker with the
             * ring's release/acquire, which orders this store before it. */
            atomic_store_explicit(&p->children[i]->dead, false, memory_order_relaxed);
        p->next = bus->patterns;
        bus->patterns = p;
    }
    pthread_mutex_unlock(&bus->registry_lock);
    if (rc) {
        /* The children attached so far never ran and are detached: free them
         * after a grace period (workers may still hold their tables). */
        bus__sub_retire(p->owner);
        return rc;
    }
    *out = p->owner;
    return 0;
}

/* A pattern and its owner, the handle the user gets: NULL on -ENOMEM. */
static struct pattern *pattern_new(struct bus *bus, const char *text, bus_handler_fn fn,
                                   void *ctx, const bus_sub_options_t *opts)
{
    struct pattern *p = calloc(1, sizeof(*p));
    struct bus_sub *owner = bus__sub_new(NULL, fn, ctx, opts);
    if (!p || !owner || !(p->text = strdup(text))) {
        free(p);
        if (owner)
            bus__sub_free(owner);
        return NULL;
    }
    p->bus = bus;
    p->owner = owner;
    owner->pattern = p;
    return p;
}

int bus__subscribe_matching(bus_t *bus, const char *pattern, bus_handler_fn fn, void *ctx,
                            const bus_sub_options_t *opts, const struct sub_end *end,
                            bus_sub_t **out)
{
    struct pattern *p = pattern_new(bus, pattern, fn, ctx, opts);
    if (!p)
        return -ENOMEM;
    if (end)
        p->end = *end;
    return subscribe_matching(bus, p, out);
}

int bus__subscribe_bound(struct bus_topic *t, bus_handler_fn fn, void *ctx,
                         const bus_sub_options_t *opts, const struct sub_end *end,
                         bus_sub_t **out)
{
    struct pattern *p = pattern_new(t->bus, t->name, fn, ctx, opts);
    if (!p)
        return -ENOMEM;
    p->bound = true;
    p->only = t;
    if (end)
        p->end = *end;
    return subscribe_matching(t->bus, p, out);
}

int bus_subscribe_pattern(bus_t *bus, const char *pattern, bus_handler_fn fn, void *ctx,
                          const bus_sub_options_t *opts, bus_sub_t **out)
{
    if (!bus || !pattern || !fn || !out)
        return bus__fail(-EINVAL, "bus_subscribe_pattern: bus, pattern, fn or out is NULL");
    if (!bus__valid_pattern(pattern))
        return bus__fail(-EINVAL, "bus_subscribe_pattern: malformed pattern (tokens as in "
                                  "topic names, `*`, or `>` as the last token only)");
    if (!bus__valid_group(opts))
        return bus__fail(-EINVAL, "bus_subscribe_pattern: group is \"\" or over 255 bytes");
    if (!bus__valid_pause(bus, opts))
        return bus__fail(-EINVAL, "bus_subscribe_pattern: pause_after without slow_handler_ns");
    const char *why = bus__invalid_redelivery(opts);
    if (why)
        return bus__fail(-EINVAL, why);
    struct pattern *p = pattern_new(bus, pattern, fn, ctx, opts);
    if (!p)
        return -ENOMEM;
    /* The user's: owned by the module whose code runs, if any (an inbox's
     * is not: the inbox is). Its children copy its fn and ctx. */
    struct bus_modver *module = bus__module_current(bus);
    if (module)
        bus__module_wrap(p->owner, module);
    int rc = subscribe_matching(bus, p, out);
    if (rc == 0)
        bus__module_adopt(bus, &(*out)->owned, &bus__sub_owned_ops);
    return rc;
}

struct bus *bus__pattern_bus(const struct bus_sub *sub)
{
    return sub->pattern->bus;
}

void bus__pattern_detach(struct bus_sub *sub)
{
    struct pattern *p = sub->pattern;
    pthread_mutex_lock(&p->bus->registry_lock);
    detach_locked(p);
    pthread_mutex_unlock(&p->bus->registry_lock);
}

static void pattern_free(struct pattern *p)
{
    free(p->children);
    free(p->text);
    free(p);
}

void bus__pattern_free(struct bus_sub *sub)
{
    struct pattern *p = sub->pattern;
    for (uint32_t i = 0; i < p->count; i++)
        if (p->children[i]->detached)
            bus__sub_free(p->children[i]);
    pattern_free(p);
    bus__sub_free(sub);
}

void bus__pattern_each_child(const struct bus_sub *sub,
                             void (*fn)(const struct bus_sub *child, void *arg), void *arg)
{
    struct pattern *p = sub->pattern;
    pthread_mutex_lock(&p->bus->registry_lock);
    for (uint32_t i = 0; i < p->count; i++)
        fn(p->children[i], arg);
    pthread_mutex_unlock(&p->bus->registry_lock);
}

/* At bus_destroy: the children are freed with their topics' tables. */
void bus__patterns_free(struct bus *bus)
{
    while (bus->patterns) {
        struct pattern *p = bus->patterns;
        bus->patterns = p->next;
        bus__sub_free(p->owner);
        pattern_free(p);
    }
}
