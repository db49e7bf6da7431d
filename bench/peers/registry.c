/* registry.c - topics and subscriber lists for the peers. */
#include "registry.h"

#include <errno.h>
#include <stdlib.h>

int registry_init(struct registry *reg, uint32_t max_topics)
{
    reg->topics = calloc(max_topics ? max_topics : 1, sizeof(*reg->topics));
    if (!reg->topics)
        return -ENOMEM;
    reg->count = 0;
    reg->max = max_topics;
    pthread_mutex_init(&reg->lock, NULL);
    return 0;
}

static void topic_free(struct reg_topic *t)
{
    for (uint32_t i = 0; i < t->nsubs; i++)
        free(t->subs[i]);
    free(t->subs);
    pthread_rwlock_destroy(&t->lock);
    free(t);
}

void registry_fini(struct registry *reg)
{
    for (uint32_t i = 0; i < reg->count; i++)
        topic_free(reg->topics[i]);
    free(reg->topics);
    pthread_mutex_destroy(&reg->lock);
}

int registry_open(struct registry *reg, const struct sut_topic_config *cfg,
                  struct reg_topic **out)
{
    struct reg_topic *t = calloc(1, sizeof(*t));
    if (!t)
        return -ENOMEM;
    /* Writer preference: with readers on every event, glibc's default (reader
     * preference) can starve an unsubscribe for as long as events flow. */
    pthread_rwlockattr_t attr;
    pthread_rwlockattr_init(&attr);
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&t->lock, &attr);
    pthread_rwlockattr_destroy(&attr);
    t->cfg = *cfg;
    pthread_mutex_lock(&reg->lock);
    int rc = reg->count < reg->max ? 0 : -ENOSPC;
    if (rc == 0) {
        t->index = reg->count;
        reg->topics[reg->count++] = t;
    }
    pthread_mutex_unlock(&reg->lock);
    if (rc) {
        topic_free(t);
        return rc;
    }
    *out = t;
    return 0;
}

int registry_subscribe(struct reg_topic *t, sut_handler_fn fn, void *ctx, struct reg_sub **out)
{
    struct reg_sub *sub = malloc(sizeof(*sub));
    if (!sub)
        return -ENOMEM;
    *sub = (struct reg_sub){.fn = fn, .ctx = ctx, .topic = t};
    pthread_rwlock_wrlock(&t->lock);
    struct reg_sub **subs = realloc(t->subs, (t->nsubs + 1) * sizeof(*subs));
    if (subs) {
        t->subs = subs;
        subs[t->nsubs++] = sub;
    }
    pthread_rwlock_unlock(&t->lock);
    if (!subs) {
        free(sub);
        return -ENOMEM;
    }
    *out = sub;
    return 0;
}

void registry_unsubscribe(struct reg_sub *sub)
{
    struct reg_topic *t = sub->topic;
    pthread_rwlock_wrlock(&t->lock);
    for (uint32_t i = 0; i < t->nsubs; i++) {
        if (t->subs[i] == sub) {
            t->subs[i] = t->subs[--t->nsubs];
            break;
        }
    }
    pthread_rwlock_unlock(&t->lock);
    free(sub);
}

void registry_deliver(struct reg_topic *t, const void *data, size_t size, bool locked)
{
    if (locked)
        pthread_rwlock_rdlock(&t->lock);
    for (uint32_t i = 0; i < t->nsubs; i++)
        t->subs[i]->fn(t->subs[i]->ctx, data, size);
    if (locked)
        pthread_rwlock_unlock(&t->lock);
}
