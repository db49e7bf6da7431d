/* idem.c - Idempotency-Key: a table of (topic, key) -> first answer, each
 * entry kept for the window, the oldest evicted first when it is full (a
 * bounded table cannot promise more: the limit is in the config). */
#include "idem.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "../clock.h"

struct idem_entry {
    struct idem_entry *chain;       /* bucket */
    struct idem_entry *older, *newer; /* insertion order */
    uint64_t hash, expires_ns, seq;
    bool done;
    char key[]; /* "topic\nkey" */
};

int idem_init(struct idem *t, size_t max_keys, uint64_t window_ns)
{
    memset(t, 0, sizeof(*t));
    t->nbuckets = 1;
    while (t->nbuckets < max_keys)
        t->nbuckets <<= 1;
    t->buckets = calloc(t->nbuckets, sizeof(*t->buckets));
    if (!t->buckets)
        return -ENOMEM;
    t->max = max_keys;
    t->window_ns = window_ns;
    pthread_mutex_init(&t->lock, NULL);
    return 0;
}

void idem_destroy(struct idem *t)
{
    for (struct idem_entry *e = t->oldest, *next; e; e = next) {
        next = e->newer;
        free(e);
    }
    free(t->buckets);
    pthread_mutex_destroy(&t->lock);
}

/* FNV-1a over "topic\nkey". */
static uint64_t hash_of(const char *topic, const char *key)
{
    uint64_t h = 1469598103934665603ull;
    for (const char *p = topic; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    h = (h ^ '\n') * 1099511628211ull;
    for (const char *p = key; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    return h;
}

static bool same(const struct idem_entry *e, uint64_t h, const char *topic, const char *key)
{
    size_t tn = strlen(topic);
    return e->hash == h && !strncmp(e->key, topic, tn) && e->key[tn] == '\n' &&
           !strcmp(e->key + tn + 1, key);
}

static struct idem_entry **slot_of(struct idem *t, uint64_t h, const char *topic,
                                   const char *key)
{
    struct idem_entry **p = &t->buckets[h & (t->nbuckets - 1)];
    while (*p && !same(*p, h, topic, key))
        p = &(*p)->chain;
    return p;
}

static void unlink_entry(struct idem *t, struct idem_entry *e)
{
    struct idem_entry **p = &t->buckets[e->hash & (t->nbuckets - 1)];
    while (*p != e)
        p = &(*p)->chain;
    *p = e->chain;
    if (e->older)
        e->older->newer = e->newer;
    else
        t->oldest = e->newer;
    if (e->newer)
        e->newer->older = e->older;
    else
        t->newest = e->older;
    t->count--;
    free(e);
}

/* Drops expired entries, then the oldest while full. In-flight entries
 * (not done) expire too: a request stuck that long has been answered. */
static void trim(struct idem *t, uint64_t now)
{
    while (t->oldest && (t->oldest->expires_ns <= now || t->count >= t->max))
        unlink_entry(t, t->oldest);
}

enum idem_state idem_begin(struct idem *t, const char *topic, const char *key, uint64_t *seq)
{
    uint64_t h = hash_of(topic, key), now = clock_now_ns();
    pthread_mutex_lock(&t->lock);
    trim(t, now);
    struct idem_entry **p = slot_of(t, h, topic, key);
    enum idem_state state = IDEM_NEW;
    if (*p) {
        state = (*p)->done ? IDEM_SEEN : IDEM_BUSY;
        *seq = (*p)->seq;
    } else {
        size_t tn = strlen(topic), kn = strlen(key);
        struct idem_entry *e = calloc(1, sizeof(*e) + tn + kn + 2);
        if (e) {
            e->hash = h;
            e->expires_ns = now + t->window_ns;
            memcpy(e->key, topic, tn);
            e->key[tn] = '\n';
            memcpy(e->key + tn + 1, key, kn + 1);
            *p = e;
            e->older = t->newest;
            if (t->newest)
                t->newest->newer = e;
            else
                t->oldest = e;
            t->newest = e;
            t->count++;
        }
        /* Out of memory: published without the guard, as without a key. */
    }
    pthread_mutex_unlock(&t->lock);
    return state;
}

void idem_done(struct idem *t, const char *topic, const char *key, uint64_t seq)
{
    uint64_t h = hash_of(topic, key);
    pthread_mutex_lock(&t->lock);
    struct idem_entry *e = *slot_of(t, h, topic, key);
    if (e) {
        e->seq = seq;
        e->done = true;
    }
    pthread_mutex_unlock(&t->lock);
}

void idem_abort(struct idem *t, const char *topic, const char *key)
{
    uint64_t h = hash_of(topic, key);
    pthread_mutex_lock(&t->lock);
    struct idem_entry *e = *slot_of(t, h, topic, key);
    if (e && !e->done)
        unlink_entry(t, e);
    pthread_mutex_unlock(&t->lock);
}
