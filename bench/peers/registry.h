/* registry.h - topics and their subscribers for the peers, which have no
 * notion of topics or handlers of their own (the bus has both).
 * This is what a user writes around a queue: subscriber lists under a
 * read-write lock, read for every event, written on (un)subscribe. */
#ifndef BENCH_REGISTRY_H
#define BENCH_REGISTRY_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "../sut.h"

struct reg_sub {
    sut_handler_fn fn;
    void *ctx;
    struct reg_topic *topic;
};

struct reg_topic {
    pthread_rwlock_t lock; /* guards subs and nsubs */
    struct reg_sub **subs;
    uint32_t nsubs;
    uint32_t index; /* position in the registry */
    struct sut_topic_config cfg;
};

struct registry {
    pthread_mutex_t lock; /* guards count during opens */
    struct reg_topic **topics;
    uint32_t count, max;
};

int registry_init(struct registry *reg, uint32_t max_topics);
void registry_fini(struct registry *reg);
int registry_open(struct registry *reg, const struct sut_topic_config *cfg,
                  struct reg_topic **out);
int registry_subscribe(struct reg_topic *t, sut_handler_fn fn, void *ctx, struct reg_sub **out);
/* When it returns, no call of the handler is running (the write lock waits
 * for readers). */
void registry_unsubscribe(struct reg_sub *sub);

/* Calls every subscriber of @t; @locked false skips the read lock, for peers
 * whose subscribers never change while events flow. */
void registry_deliver(struct reg_topic *t, const void *data, size_t size, bool locked);

#endif
