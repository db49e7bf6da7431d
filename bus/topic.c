/* topic.c - topic names, the registry of a bus's topics, and topic stats.
 *
 * The registry is a name table (open addressing, linear probing) and a list
 * of the named topics, both changed under registry_lock: topics are opened
 * and closed rarely, next to the cost of allocating or freeing a ring, and
 * nothing on the publish or dispatch path looks a name up. Walkers that wait
 * (bus_flush) pin the topics they walk instead of holding the lock; a closer
 * frees a topic only once it is unpinned (close.c). A lock-free table
 * (liburcu's cds_lfht) would buy lock-free lookups nobody needs here, and a
 * second library to link. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backoff.h"
#include "clock.h"
#include "internal.h"
#include "journal/durable.h"

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

bool bus__valid_topic_name(const char *name)
{
    return valid_name(name) != 0;
}

enum {
    KNOWN_FLAGS = BUS_TOPIC_PARALLEL | BUS_TOPIC_HIGH_PRIORITY | BUS_TOPIC_LOW_PRIORITY |
                  BUS_TOPIC_KEYED | BUS_TOPIC_PRETOUCH | BUS_TOPIC_LOCKED
};

/* Returns what is wrong with @cfg (for bus_last_error), or NULL. */
static const char *config_problem(const bus_topic_config_t *cfg)
{
    uint32_t cap = cfg->capacity;
    unsigned both = BUS_TOPIC_HIGH_PRIORITY | BUS_TOPIC_LOW_PRIORITY;
    if (cap < 2 || cap > (UINT32_C(1) << 31) || (cap & (cap - 1)) != 0)
        return "bus_topic_open: capacity is not a power of two from 2 to 2^31";
    if (cfg->full_policy < BUS_FULL_BLOCK || cfg->full_policy > BUS_FULL_DROP)
        return "bus_topic_open: full_policy is not a BUS_FULL_* value";
    if ((cfg->flags & ~(unsigned)KNOWN_FLAGS) != 0)
        return "bus_topic_open: flags has bits that are no BUS_TOPIC_* flag";
    if ((cfg->flags & both) == both)
        return "bus_topic_open: flags has both priority flags";
    if ((cfg->flags & BUS_TOPIC_KEYED) && (cfg->flags & BUS_TOPIC_PARALLEL))
        return "bus_topic_open: flags has both BUS_TOPIC_KEYED and BUS_TOPIC_PARALLEL";
    return NULL;
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

/* Keeps the table at most half full, so probes stay short. Lanes count
 * too: a bound that needs no second counter. */
static int table_make_room(struct bus *bus)
{
    if ((bus->ntopics + 1) * 2 <= bus->table_size)
        return 0;
    uint32_t size = bus->table_size ? bus->table_size * 2 : 64;
    struct bus_topic **table = calloc(size, sizeof(*table));
    if (!table)
        return -ENOMEM;
    bus__for_each_topic(bus, t)
        /* relaxed: registry_lock orders it; a closing topic left the table. */
        if (!atomic_load_explicit(&t->closed, memory_order_relaxed))
            *table_slot(table, size, t->name) = t;
    free(bus->table);
    bus->table = table;
    bus->table_size = size;
    return 0;
}

/* Removes @t from the table: backward-shift deletion, so that linear probing
 * needs no tombstones. */
static void table_remove(struct bus *bus, struct bus_topic *t)
{
    uint32_t mask = bus->table_size - 1;
    uint32_t hole = (uint32_t)(table_slot(bus->table, bus->table_size, t->name) - bus->table);
    bus->table[hole] = NULL;
    for (uint32_t i = (hole + 1) & mask; bus->table[i]; i = (i + 1) & mask) {
        uint32_t home = name_hash(bus->table[i]->name) & mask;
        /* The entry may move to the hole unless its home lies cyclically in
         * (hole, i]. */
        if (((i - home) & mask) >= ((i - hole) & mask)) {
            bus->table[hole] = bus->table[i];
            bus->table[i] = NULL;
            hole = i;
        }
    }
}

static void list_add(struct bus *bus, struct bus_topic *t)
{
    t->prev = NULL;
    t->next = bus->first;
    if (bus->first)
        bus->first->prev = t;
    bus->first = t;
}

static void list_remove(struct bus *bus, struct bus_topic *t)
{
    if (t->prev)
        t->prev->next = t->next;
    else
        bus->first = t->next;
    if (t->next)
        t->next->prev = t->prev;
}

void bus__registry_init(struct bus *bus)
{
    pthread_mutex_init(&bus->registry_lock, NULL);
    /* CLOCK_MONOTONIC: bus_shutdown_timeout's deadline (clock.h). */
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&bus->closes_done, &attr);
    pthread_condattr_destroy(&attr);
}

void bus__registry_fini(struct bus *bus)
{
    pthread_cond_destroy(&bus->closes_done);
    pthread_mutex_destroy(&bus->registry_lock);
}

void bus__topic_free(struct bus_topic *t)
{
    bus__subs_free(t);
    /* relaxed: nobody else touches the topic any more. */
    bus__hist_free(atomic_load_explicit(&t->wait_time, memory_order_relaxed));
    bus__hist_free(atomic_load_explicit(&t->call_time, memory_order_relaxed));
    bus__rates_free(t);
    free(t->lanes); /* the lanes themselves are topics of the bus */
    pthread_mutex_destroy(&t->subs_lock);
    pthread_mutex_destroy(&t->retry_lock);
    bus__ring_fini(&t->ring);
    if (t->durable)
        bus__durable_free(t->durable);
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
    pthread_mutex_init(&t->retry_lock, NULL);
    t->bus = bus;
    t->cfg = *cfg;
    t->level = priority_level(cfg->flags);
    /* relaxed: not shared yet. Marks off: no publisher looks. */
    atomic_store_explicit(&t->wm_rise_at, UINT64_MAX, memory_order_relaxed);
    *out = t;
    return 0;
}

struct bus_topic *bus__topic_lookup(struct bus *bus, const char *name)
{
    return bus->table_size ? *table_slot(bus->table, bus->table_size, name) : NULL;
}

/* @cfg NULL: the topic as it is, or a new one with the defaults. @durable:
 * NULL, or a new durable topic only, its seqs going on from its journal's. */
static int open_locked(struct bus *bus, const char *name, size_t len,
                       const bus_topic_config_t *cfg, struct durable *durable,
                       bus_topic_t **out)
{
    /* relaxed: registry_lock orders stopping against bus_destroy. */
    if (atomic_load_explicit(&bus->stopping, memory_order_relaxed))
        return -ESHUTDOWN;
    struct bus_topic *found = bus__topic_lookup(bus, name);
    if (found) {
        if (durable || (cfg && !same_config(&found->cfg, cfg)))
            return -EEXIST;
        *out = found;
        return 0;
    }
    bus_topic_config_t defaults;
    if (!cfg) {
        bus_topic_config_init(&defaults);
        cfg = &defaults;
    }
    if (bus->cfg.max_topics - bus->ntopics < 1 + bus__keyed_lane_count(cfg))
        return -ENOSPC;
    int rc = table_make_room(bus);
    struct bus_topic *t = NULL;
    if (rc == 0)
        rc = bus__topic_new(bus, name, len, cfg, &t);
    if (rc == 0 && durable) {
        t->durable = durable;
        t->seq_base = bus__durable_next_seq(durable) - 1;
        bus__ring_start_at(&t->ring, t->seq_base);
    }
    if (rc == 0 && (cfg->flags & BUS_TOPIC_KEYED))
        rc = bus__keyed_lanes_new(t);
    /* Wildcard subscriptions attach before anyone can publish. */
    if (rc == 0)
        rc = bus__patterns_attach(bus, t);
    if (rc) {
        if (t) {
            t->durable = NULL; /* the caller's still */
            bus__keyed_lanes_free(t);
            bus__topic_free(t);
        }
        return rc;
    }
    *table_slot(bus->table, bus->table_size, name) = t;
    list_add(bus, t);
    bus->ntopics += 1 + t->nlanes;
    *out = t;
    return 0;
}

int bus_topic_open(bus_t *bus, const char *name, const bus_topic_config_t *cfg,
                   bus_topic_t **out)
{
    size_t len;
    if (!bus || !name || !out)
        return bus__fail(-EINVAL, "bus_topic_open: bus, name or out is NULL");
    if (!(len = valid_name(name)))
        return bus__fail(-EINVAL, "bus_topic_open: malformed name (1 to 255 bytes of "
                                  "tokens separated by single dots, no `*` or `>`)");
    const char *problem = cfg ? config_problem(cfg) : NULL;
    if (problem)
        return bus__fail(-EINVAL, problem);

    pthread_mutex_lock(&bus->registry_lock);
    int rc = open_locked(bus, name, len, cfg, NULL, out);
    pthread_mutex_unlock(&bus->registry_lock);
    return rc;
}

int bus__topic_open_new(struct bus *bus, const char *name, const bus_topic_config_t *cfg,
                        struct durable *durable, struct bus_topic **out)
{
    size_t len = valid_name(name);
    if (!len)
        return bus__fail(-EINVAL, "bus_topic_open_durable: malformed name");
    const char *problem = config_problem(cfg);
    if (problem)
        return bus__fail(-EINVAL, problem);
    pthread_mutex_lock(&bus->registry_lock);
    int rc = open_locked(bus, name, len, cfg, durable, out);
    pthread_mutex_unlock(&bus->registry_lock);
    return rc;
}

int bus_topic_find(bus_t *bus, const char *name, bus_topic_t **out)
{
    if (!bus || !name || !out)
        return bus__fail(-EINVAL, "bus_topic_find: bus, name or out is NULL");
    if (!valid_name(name))
        return bus__fail(-EINVAL, "bus_topic_find: malformed name");
    pthread_mutex_lock(&bus->registry_lock);
    struct bus_topic *found = bus__topic_lookup(bus, name);
    pthread_mutex_unlock(&bus->registry_lock);
    if (!found)
        return -ENOENT;
    *out = found;
    return 0;
}

const char *bus_topic_name(const bus_topic_t *topic)
{
    return topic ? topic->name : NULL;
}

void bus__topics_free(struct bus *bus)
{
    bus__patterns_free(bus);
    while (bus->first) {
        struct bus_topic *t = bus->first;
        bus->first = t->next;
        bus__keyed_lanes_free(t);
        bus__topic_free(t);
    }
    free(bus->table);
}

static void topic_pin(struct bus_topic *t)
{
    /* relaxed: the pinner holds the topic alive by other means while it
     * pins (an RCU read-side section, or registry_lock). */
    atomic_fetch_add_explicit(&t->pins, 1, memory_order_relaxed);
}

static void topic_unpin(struct bus_topic *t)
{
    /* release: the pinner's uses of the topic happen before the closer's
     * free (its acquire load of pins, bus__topic_delist). The topic may be freed as
     * soon as this returns. */
    atomic_fetch_sub_explicit(&t->pins, 1, memory_order_release);
}

/* Walkers pin under registry_lock and reach a topic only through the list;
 * a closer takes it off the list under the same lock once no pin is left
 * (bus__topic_delist), so a pinned topic's `next` is always listed. */
int bus__topics_walk(struct bus *bus, bool lanes, int (*fn)(struct bus_topic *t, void *arg),
                     void *arg)
{
    int rc = 0;
    pthread_mutex_lock(&bus->registry_lock);
    struct bus_topic *t = bus->first;
    if (t)
        topic_pin(t);
    while (t) {
        /* relaxed: registry_lock orders it with the close's unregister. */
        if (!atomic_load_explicit(&t->closed, memory_order_relaxed)) {
            pthread_mutex_unlock(&bus->registry_lock);
            rc = fn(t, arg);
            for (uint32_t i = 0; lanes && rc == 0 && i < t->nlanes; i++)
                rc = fn(t->lanes[i], arg);
            pthread_mutex_lock(&bus->registry_lock);
        }
        struct bus_topic *next = rc == 0 ? t->next : NULL;
        if (next)
            topic_pin(next);
        topic_unpin(t);
        t = next;
    }
    pthread_mutex_unlock(&bus->registry_lock);
    return rc;
}

void bus__topic_delist(struct bus_topic *t)
{
    struct bus *bus = t->bus;
    struct backoff wait = BACKOFF_INIT;
    pthread_mutex_lock(&bus->registry_lock);
    /* acquire: pairs with the release in topic_unpin, so the walker's
     * uses of the topic happen before its free. A new pin needs this lock. */
    while (atomic_load_explicit(&t->pins, memory_order_acquire) != 0) {
        pthread_mutex_unlock(&bus->registry_lock);
        if (!backoff_wait(&wait)) {
            struct timespec ms = {0, 1000000};
            nanosleep(&ms, NULL);
        }
        pthread_mutex_lock(&bus->registry_lock);
    }
    list_remove(bus, t);
    bus__patterns_closed(bus, t);
    pthread_mutex_unlock(&bus->registry_lock);
}

int bus__topics_stop(struct bus *bus, uint64_t deadline_ns)
{
    int rc = 0;
    pthread_mutex_lock(&bus->registry_lock);
    /* relaxed: registry_lock and the subs locks publish it. */
    atomic_store_explicit(&bus->stopping, true, memory_order_relaxed);
    /* A close in progress still needs the workers; none starts from now. It
     * waits for its topic's handlers, so this wait has the caller's
     * deadline. */
    while (bus->closing && rc == 0) {
        if (deadline_ns == CLOCK_NEVER) {
            pthread_cond_wait(&bus->closes_done, &bus->registry_lock);
            continue;
        }
        struct timespec until = {(time_t)(deadline_ns / 1000000000u),
                                 (long)(deadline_ns % 1000000000u)};
        if (pthread_cond_timedwait(&bus->closes_done, &bus->registry_lock, &until) ==
                ETIMEDOUT &&
            bus->closing)
            rc = -ETIMEDOUT;
    }
    pthread_mutex_unlock(&bus->registry_lock);
    return rc;
}

int bus__topic_unregister(struct bus_topic *t)
{
    struct bus *bus = t->bus;
    int rc = 0;
    pthread_mutex_lock(&bus->registry_lock);
    /* relaxed: registry_lock orders both flags. */
    if (atomic_load_explicit(&bus->stopping, memory_order_relaxed)) {
        rc = -ESHUTDOWN;
    } else if (atomic_load_explicit(&t->closed, memory_order_relaxed)) {
        rc = -EPIPE; /* another close is under way */
    } else {
        /* release: a producer whose reservation fails on the seal, which
         * follows, sees it (acquire fence in publish.c). */
        atomic_store_explicit(&t->closed, true, memory_order_release);
        /* Off the list later, once no walker pins it (bus__topic_delist). */
        table_remove(bus, t);
        bus__patterns_forget(bus, t);
        /* relaxed: registry_lock orders it with bus_dead_letter_topic;
         * workers that loaded the old value are waited for by the close's
         * grace periods. */
        if (atomic_load_explicit(&bus->dead_letters, memory_order_relaxed) == t)
            atomic_store_explicit(&bus->dead_letters, NULL, memory_order_relaxed);
        bus->closing++;
    }
    pthread_mutex_unlock(&bus->registry_lock);
    return rc;
}

int bus__dead_letters_install(struct bus *bus, struct bus_topic *t)
{
    int rc = 0;
    pthread_mutex_lock(&bus->registry_lock);
    /* relaxed: registry_lock orders it with the unregister that clears
     * dead_letters, so a closed topic is never installed again. */
    if (atomic_load_explicit(&t->closed, memory_order_relaxed))
        rc = -EPIPE;
    else
        /* release: pairs with the acquire in bus__dead_letter; the topic is
         * fully built before a worker routes to it. */
        atomic_store_explicit(&bus->dead_letters, t, memory_order_release);
    pthread_mutex_unlock(&bus->registry_lock);
    return rc;
}

void bus__topic_unregistered(struct bus_topic *t)
{
    struct bus *bus = t->bus;
    pthread_mutex_lock(&bus->registry_lock);
    bus->ntopics -= 1 + t->nlanes;
    if (--bus->closing == 0)
        pthread_cond_broadcast(&bus->closes_done);
    pthread_mutex_unlock(&bus->registry_lock);
}

/* Adds topic @t's counters to @out. */
void bus__topic_stats_add(const struct bus_topic *t, bus_topic_stats_t *out)
{
    /* A near snapshot, as documented: an event counts as published (and in
     * the depth) from its reservation; the counters are relaxed. */
    out->depth += (uint32_t)ring_depth(&t->ring);
    out->published += ring_handed_out(&t->ring) - t->seq_base;
    out->delivered += atomic_load_explicit(&t->delivered, memory_order_relaxed);
    out->dropped += atomic_load_explicit(&t->dropped, memory_order_relaxed);
    out->blocked += atomic_load_explicit(&t->blocked, memory_order_relaxed);
    out->handler_errors += atomic_load_explicit(&t->handler_errors, memory_order_relaxed);
    out->retries += atomic_load_explicit(&t->retries, memory_order_relaxed);
    out->redelivered += atomic_load_explicit(&t->redelivered, memory_order_relaxed);
    out->dead_lettered += atomic_load_explicit(&t->dead_lettered, memory_order_relaxed);
    out->retries_dropped += atomic_load_explicit(&t->retries_dropped, memory_order_relaxed);
    out->retries_pending += atomic_load_explicit(&t->retries_pending, memory_order_relaxed);
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
