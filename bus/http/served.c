/* served.c - the topics the gateway serves: found by name, served on first
 * use (or at start, when declared), each with its replay window fed by an
 * ordinary subscription. */
#include "gateway.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bus/journal.h"
#include "data_dir.h"

static unsigned bucket_of(const char *name)
{
    unsigned h = 2166136261u;
    for (const char *p = name; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    return h % SERVED_BUCKETS;
}

static struct served *lookup(struct bus_http *gw, const char *name)
{
    for (struct served *s = gw->served[bucket_of(name)]; s; s = s->next)
        if (!strcmp(s->name, name))
            return s;
    return NULL;
}

/* The window's subscription: every event of the topic, in seq order (the
 * topic is ordered: one worker at a time). */
static int feed_window(const bus_event_t *ev, void *ctx)
{
    struct served *s = ctx;
    window_append(&s->win, ev->seq, wall_time_of(ev->publish_ns), ev->data, ev->size, false);
    return 0;
}

/* The configuration of an open topic (its flags and max_payload). */
struct find_cfg {
    const bus_topic_t *topic;
    bus_topic_config_t cfg;
};

static int match_cfg(const bus_topic_info_t *info, void *ctx)
{
    struct find_cfg *f = ctx;
    if (info->topic != f->topic)
        return 0;
    f->cfg = info->cfg;
    return 1;
}

/* Opens the bus topic: the declared configuration, else the program's own
 * topic as it is, else a new one with the [defaults]. *@created: whether
 * this call made the topic (then serve() closes it again if it fails). */
static int open_topic(struct bus_http *gw, const char *name, const struct topic_cfg *tc,
                      bus_topic_t **out, bool *created)
{
    *created = false;
    if (tc->durable) {
        bus_journal_config_t j = tc->journal;
        char *dir = data_dir_journal(&gw->cfg, name);
        if (!dir)
            return -ENOMEM;
        j.dir = dir;
        int rc = bus_topic_open_durable(gw->bus, name, &tc->bus, &j, out);
        free(dir);
        *created = rc == 0; /* -EEXIST when a topic of that name is open */
        return rc;
    }
    for (;;) {
        bus_topic_t *found;
        bool existed = bus_topic_find(gw->bus, name, &found) == 0;
        if (existed && tc == &gw->cfg.defaults) {
            *out = found;
            return 0;
        }
        /* A declared topic is opened anyway: -EEXIST if the program's own
         * is configured otherwise. */
        int rc = bus_topic_open(gw->bus, name, &tc->bus, out);
        if (rc == 0)
            *created = !existed;
        if (rc != -EEXIST || tc != &gw->cfg.defaults)
            return rc;
        /* -EEXIST with the [defaults]: opened meanwhile, differently: find it */
    }
}

static int serve(struct bus_http *gw, const char *name, struct served **out)
{
    const struct topic_cfg *tc = config_topic(&gw->cfg, name);
    if (!tc)
        tc = &gw->cfg.defaults;
    bus_topic_t *topic;
    bool created;
    int rc = open_topic(gw, name, tc, &topic, &created);
    if (rc)
        return rc;
    struct find_cfg f = {.topic = topic};
    if (bus_topics_foreach(gw->bus, match_cfg, &f) != 1)
        return -ENOENT; /* closed by the program meanwhile: nothing to close */
    struct served *s = NULL;
    if (f.cfg.flags & (BUS_TOPIC_KEYED | BUS_TOPIC_PARALLEL)) {
        rc = -ENOTSUP;
        goto fail;
    }
    s = calloc(1, sizeof(*s));
    if (!s) {
        rc = -ENOMEM;
        goto fail;
    }
    s->gw = gw;
    s->topic = topic;
    s->cfg = f.cfg;
    bus_journal_stats_t st;
    s->durable = bus_journal_stats(topic, &st) == 0; /* the program's own too */
    s->name = strdup(name);
    rc = s->name ? window_init(&s->win, tc->retention_events, tc->retention_bytes) : -ENOMEM;
    /* A topic that the cluster imports is fed by cluster_feed.c, from its
     * creation on: no event imported before it is served is missed. */
    if (!rc && !cluster_feeds(gw, name)) {
        rc = bus_subscribe(topic, feed_window, s, &s->sub);
        if (rc)
            window_destroy(&s->win);
    }
    if (rc)
        goto fail;
    *out = s;
    return 0;
fail:
    if (s)
        free(s->name);
    free(s);
    /* A topic opened here and not served is closed: a durable one would
     * keep its journal directory locked. The program's own stays open. */
    if (created)
        bus_topic_close(topic, BUS_CLOSE_DROP, NULL);
    return rc;
}

int served_get(struct bus_http *gw, const char *name, bool create, struct served **out)
{
    pthread_rwlock_rdlock(&gw->served_lock);
    struct served *s = lookup(gw, name);
    pthread_rwlock_unlock(&gw->served_lock);
    if (s) {
        *out = s;
        return 0;
    }
    if (!create && !config_topic(&gw->cfg, name))
        return -ENOENT;
    pthread_rwlock_wrlock(&gw->served_lock);
    int rc = 0;
    s = lookup(gw, name);
    if (!s) {
        rc = gw->nserved >= gw->cfg.max_topics ? -ENOSPC : serve(gw, name, &s);
        if (!rc) {
            unsigned b = bucket_of(name);
            s->next = gw->served[b];
            gw->served[b] = s;
            gw->nserved++;
        }
    }
    pthread_rwlock_unlock(&gw->served_lock);
    if (!rc)
        *out = s;
    return rc;
}

void served_foreach(struct bus_http *gw, void (*fn)(struct served *s, void *arg), void *arg)
{
    pthread_rwlock_rdlock(&gw->served_lock);
    for (unsigned b = 0; b < SERVED_BUCKETS; b++)
        for (struct served *s = gw->served[b]; s; s = s->next)
            fn(s, arg);
    pthread_rwlock_unlock(&gw->served_lock);
}

void served_free_all(struct bus_http *gw)
{
    for (unsigned b = 0; b < SERVED_BUCKETS; b++) {
        for (struct served *s = gw->served[b], *next; s; s = next) {
            next = s->next;
            if (s->sub)
                bus_unsubscribe(s->sub); /* waits for a feed in progress */
            window_destroy(&s->win);
            free(s->name);
            free(s);
        }
        gw->served[b] = NULL;
    }
}
