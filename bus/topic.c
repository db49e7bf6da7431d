/* topic.c - topic names, the registry of a bus's topics, and topic stats. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

enum { NAME_MAX_BYTES = 255 };

void bus_topic_config_init(bus_topic_config_t *cfg)
{
    if (!cfg)
        return;
    cfg->capacity = 4096;
    cfg->max_payload = 256;
    cfg->full_policy = BUS_FULL_BLOCK;
    cfg->flags = 0;
}

static bool token_char(unsigned char c)
{
    /* Printable, non-space ASCII; '.' separates tokens, '*' and '>' are
     * reserved for wildcards. */
    return c > ' ' && c < 0x7f && c != '.' && c != '*' && c != '>';
}

/* Returns the name's length, or 0 if it is not a valid topic name. */
static size_t valid_name(const char *name)
{
    size_t len = 0;
    bool token_empty = true;
    for (; name[len]; len++) {
        if (len == NAME_MAX_BYTES)
            return 0;
        unsigned char c = (unsigned char)name[len];
        if (c == '.') {
            if (token_empty)
                return 0;
            token_empty = true;
        } else if (token_char(c)) {
            token_empty = false;
        } else {
            return 0;
        }
    }
    return token_empty ? 0 : len;
}

enum {
    KNOWN_FLAGS = BUS_TOPIC_PARALLEL | BUS_TOPIC_HIGH_PRIORITY | BUS_TOPIC_LOW_PRIORITY |
                  BUS_TOPIC_KEYED | BUS_TOPIC_PRETOUCH | BUS_TOPIC_LOCKED
};

static bool valid_config(const bus_topic_config_t *cfg)
{
    uint32_t cap = cfg->capacity;
    unsigned both = BUS_TOPIC_HIGH_PRIORITY | BUS_TOPIC_LOW_PRIORITY;
    return cap >= 2 && cap <= (UINT32_C(1) << 31) && (cap & (cap - 1)) == 0 &&
           cfg->full_policy >= BUS_FULL_BLOCK && cfg->full_policy <= BUS_FULL_DROP &&
           (cfg->flags & ~(unsigned)KNOWN_FLAGS) == 0 && (cfg->flags & both) != both &&
           !((cfg->flags & BUS_TOPIC_KEYED) && (cfg->flags & BUS_TOPIC_PARALLEL));
}

/* The ready-queue level of a topic: 0 high, 1 normal, 2 low. */
static unsigned priority_level(unsigned flags)
{
    if (flags & BUS_TOPIC_HIGH_PRIORITY)
        return 0;
    return flags & BUS_TOPIC_LOW_PRIORITY ? 2 : 1;
}

static bool same_config(const bus_topic_config_t *a, const bus_topic_config_t *b)
{
    return a->capacity == b->capacity && a->max_payload == b->max_payload &&
           a->full_policy == b->full_policy && a->flags == b->flags;
}

/* FNV-1a: short names, no adversary to defend against inside one process. */
static uint32_t name_hash(const char *name)
{
    uint32_t h = 2166136261u;
    for (; *name; name++)
        h = (h ^ (unsigned char)*name) * 16777619u;
    return h;
}

/* The slot where @name is, or the empty slot where it would go. */
static struct bus_topic **table_slot(struct bus_topic **table, uint32_t size, const char *name)
{
    uint32_t i = name_hash(name) & (size - 1);
    while (table[i] && strcmp(table[i]->name, name) != 0)
        i = (i + 1) & (size - 1);
    return &table[i];
}

/* Keeps the table at most half full, so probes stay short. */
static int table_make_room(struct bus *bus)
{
    /* relaxed: only written under registry_lock, which we hold (or bus_destroy). */
    uint32_t count = atomic_load_explicit(&bus->ntopics, memory_order_relaxed);
    if ((count + 1) * 2 <= bus->table_size)
        return 0;
    uint32_t size = bus->table_size ? bus->table_size * 2 : 64;
    struct bus_topic **table = calloc(size, sizeof(*table));
    if (!table)
        return -ENOMEM;
    for (uint32_t i = 0; i < count; i++)
        *table_slot(table, size, bus->topics[i]->name) = bus->topics[i];
    free(bus->table);
    bus->table = table;
    bus->table_size = size;
    return 0;
}

void bus__topic_free(struct bus_topic *t)
{
    bus__subs_free(t);
    free(t->lanes); /* the lanes themselves are topics of the bus */
    pthread_mutex_destroy(&t->subs_lock);
    bus__ring_fini(&t->ring);
    free(t->name);
    free(t);
}

int bus__topic_new(struct bus *bus, const char *name, size_t len,
                   const bus_topic_config_t *cfg, struct bus_topic **out)
{
    struct bus_topic *t = aligned_alloc(RING_CACHELINE, sizeof(*t));
    if (!t)
        return -ENOMEM;
    memset(t, 0, sizeof(*t));
    /* A keyed topic's events live in its lanes: its own ring stays empty. */
    bool keyed = cfg->flags & BUS_TOPIC_KEYED;
    int rc = bus__ring_init(&t->ring, keyed ? 2 : cfg->capacity, keyed ? 0 : cfg->max_payload,
                            cfg->flags);
    if (rc) {
        free(t);
        return rc;
    }
    t->name = malloc(len + 1);
    t->subs = calloc(1, sizeof(struct sub_table));
    if (!t->name || !t->subs) {
        free(t->name);
        free(t->subs);
        bus__ring_fini(&t->ring);
        free(t);
        return -ENOMEM;
    }
    memcpy(t->name, name, len + 1);
    pthread_mutex_init(&t->subs_lock, NULL);
    t->bus = bus;
    t->cfg = *cfg;
    t->level = priority_level(cfg->flags);
    *out = t;
    return 0;
}

static int open_locked(struct bus *bus, const char *name, size_t len,
                       const bus_topic_config_t *cfg, bus_topic_t **out)
{
    /* relaxed: registry_lock orders stopping against bus_destroy. */
    if (atomic_load_explicit(&bus->stopping, memory_order_relaxed))
        return -ESHUTDOWN;
    if (bus->table_size) {
        struct bus_topic *found = *table_slot(bus->table, bus->table_size, name);
        if (found) {
            if (!same_config(&found->cfg, cfg))
                return -EEXIST;
            *out = found;
            return 0;
        }
    }
    /* relaxed: only written under registry_lock, which we hold (or bus_destroy). */
    uint32_t count = atomic_load_explicit(&bus->ntopics, memory_order_relaxed);
    if (bus->cfg.max_topics - count < 1 + bus__keyed_lane_count(cfg))
        return -ENOSPC;
    int rc = table_make_room(bus);
    struct bus_topic *t = NULL;
    if (rc == 0)
        rc = bus__topic_new(bus, name, len, cfg, &t);
    if (rc == 0 && (cfg->flags & BUS_TOPIC_KEYED))
        rc = bus__keyed_lanes_new(t);
    /* Wildcard subscriptions attach before anyone can publish. */
    if (rc == 0)
        rc = bus__patterns_attach(bus, t);
    if (rc) {
        if (t) {
            bus__keyed_lanes_free(t);
            bus__topic_free(t);
        }
        return rc;
    }
    *table_slot(bus->table, bus->table_size, name) = t;
    bus->topics[count++] = t;
    for (uint32_t i = 0; i < t->nlanes; i++)
        bus->topics[count++] = t->lanes[i];
    /* release: bus_flush walks topics[0, ntopics) without the lock. */
    atomic_store_explicit(&bus->ntopics, count, memory_order_release);
    *out = t;
    return 0;
}

int bus_topic_open(bus_t *bus, const char *name, const bus_topic_config_t *cfg,
                   bus_topic_t **out)
{
    bus_topic_config_t defaults;
    if (!cfg) {
        bus_topic_config_init(&defaults);
        cfg = &defaults;
    }
    size_t len;
    if (!bus || !name || !out || !(len = valid_name(name)) || !valid_config(cfg))
        return -EINVAL;

    pthread_mutex_lock(&bus->registry_lock);
    int rc = open_locked(bus, name, len, cfg, out);
    pthread_mutex_unlock(&bus->registry_lock);
    return rc;
}

const char *bus_topic_name(const bus_topic_t *topic)
{
    return topic ? topic->name : NULL;
}

void bus__topics_free(struct bus *bus)
{
    bus__patterns_free(bus);
    /* relaxed: only written under registry_lock, which we hold (or bus_destroy). */
    uint32_t count = atomic_load_explicit(&bus->ntopics, memory_order_relaxed);
    for (uint32_t i = 0; i < count; i++)
        bus__topic_free(bus->topics[i]);
    free(bus->table);
    free(bus->topics);
}

/* Adds topic @t's counters to @out. */
void bus__topic_stats_add(const struct bus_topic *t, bus_topic_stats_t *out)
{
    /* A near snapshot, as documented: an event counts as published (and in
     * the depth) from its reservation. acquire on released keeps the load of
     * reserve after it, and reserve >= released at all times, so depth never
     * underflows; the counters are relaxed. */
    uint64_t released = atomic_load_explicit(&t->ring.released, memory_order_acquire);
    uint64_t tail = ring_handed_out(&t->ring);
    out->published += tail;
    out->delivered += atomic_load_explicit(&t->delivered, memory_order_relaxed);
    out->dropped += atomic_load_explicit(&t->dropped, memory_order_relaxed);
    out->handler_errors += atomic_load_explicit(&t->handler_errors, memory_order_relaxed);
    out->depth += (uint32_t)(tail - released);
    uint32_t high = atomic_load_explicit(&t->high_water, memory_order_relaxed);
    if (high > out->high_water)
        out->high_water = high;
}

int bus_topic_stats(const bus_topic_t *topic, bus_topic_stats_t *out)
{
    if (!topic || !out)
        return -EINVAL;
    memset(out, 0, sizeof(*out));
    bus__topic_stats_add(topic, out);
    for (uint32_t i = 0; i < topic->nlanes; i++)
        bus__topic_stats_add(topic->lanes[i], out);
    return 0;
}
