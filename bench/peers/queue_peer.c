/* queue_peer.c - the parts every queue-based peer shares. */
#include "queue_peer.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../harness.h"
#include "parking.h"

struct worker_arg {
    struct queue_peer *peer;
    unsigned index;
};

struct peer_msg *peer_msg_new(struct reg_topic *t, const void *data, size_t size)
{
    struct peer_msg *m = malloc(sizeof(*m) + size);
    if (!m)
        return NULL;
    m->topic = t;
    m->size = size;
    if (size)
        memcpy(m->data, data, size);
    return m;
}

void queue_peer_handle(struct queue_peer *p, struct reg_topic *t, const void *data, size_t size)
{
    registry_deliver(t, data, size, !p->ops->dispatch_unlocked);
    counter_add(&p->handled, 1);
}

void queue_peer_handle_msg(struct queue_peer *p, struct peer_msg *m)
{
    queue_peer_handle(p, m->topic, m->data, m->size);
    free(m);
}

void queue_peer_poll(struct queue_peer *p, struct parking *parking,
                     bool (*take_one)(struct queue_peer *p, void *queue),
                     bool (*has_work)(void *queue), void *queue)
{
    unsigned idle_rounds = 0;
    for (;;) {
        if (take_one(p, queue))
            idle_rounds = 0;
        else if (queue_peer_stopping(p))
            return; /* stopping and empty: nothing can arrive any more */
        else
            parking_idle(parking, &idle_rounds, has_work, queue);
    }
}

static void *worker_main(void *arg)
{
    struct worker_arg a = *(struct worker_arg *)arg;
    free(arg);
    a.peer->ops->serve(a.peer, a.index);
    return NULL;
}

static int start_workers(struct queue_peer *p)
{
    p->threads = calloc(p->nworkers, sizeof(*p->threads));
    if (!p->threads)
        return -ENOMEM;
    for (unsigned i = 0; i < p->nworkers; i++) {
        struct worker_arg *a = malloc(sizeof(*a));
        if (!a) {
            p->nworkers = i; /* join only those that started */
            return -ENOMEM;
        }
        *a = (struct worker_arg){p, i};
        if (pthread_create(&p->threads[i], NULL, worker_main, a) != 0) {
            free(a);
            p->nworkers = i; /* join only those that started */
            return -ENOMEM;
        }
    }
    return 0;
}

static void stop_workers(struct queue_peer *p)
{
    /* release: pairs with queue_peer_stopping's acquire. */
    atomic_store_explicit(&p->stopping, true, memory_order_release);
    p->ops->stop(p);
    for (unsigned i = 0; p->threads && i < p->nworkers; i++)
        pthread_join(p->threads[i], NULL);
    free(p->threads);
}

int queue_peer_create(const struct queue_ops *ops, const struct sut_config *cfg, void **sys)
{
    struct queue_peer *p = aligned_alloc(64, round_up(sizeof(*p) + ops->state_size, 64));
    if (!p)
        return -ENOMEM;
    memset(p, 0, sizeof(*p) + ops->state_size);
    p->ops = ops;
    p->nworkers = ops->serve ? cfg->workers : 0;
    int rc = registry_init(&p->reg, cfg->max_topics);
    if (rc) {
        free(p);
        return rc;
    }
    rc = ops->init(p, cfg);
    if (rc) {
        ops->fini(p); /* fini copes with a half-done init */
        registry_fini(&p->reg);
        free(p);
        return rc;
    }
    rc = p->nworkers ? start_workers(p) : 0;
    if (rc) {
        queue_peer_destroy(p);
        return rc;
    }
    *sys = p;
    return 0;
}

int queue_peer_topic_open(void *sys, const char *name, const struct sut_topic_config *cfg,
                          void **topic)
{
    (void)name; /* scenarios never reopen a topic: no lookup needed */
    struct queue_peer *p = sys;
    return registry_open(&p->reg, cfg, (struct reg_topic **)topic);
}

int queue_peer_subscribe(void *sys, void *topic, sut_handler_fn fn, void *ctx, void **sub)
{
    (void)sys;
    return registry_subscribe(topic, fn, ctx, (struct reg_sub **)sub);
}

int queue_peer_unsubscribe(void *sys, void *sub)
{
    (void)sys;
    registry_unsubscribe(sub);
    return 0;
}

int queue_peer_publish(void *sys, void *topic, const void *data, size_t size)
{
    struct queue_peer *p = sys;
    struct reg_topic *t = topic;
    if (size > t->cfg.max_payload)
        return -EMSGSIZE;
    int rc = p->ops->push(p, t, data, size);
    if (rc == 0)
        counter_add(&p->published, 1);
    return rc;
}

int queue_peer_flush(void *sys)
{
    struct queue_peer *p = sys;
    uint64_t target = counter_sum(&p->published);
    unsigned rounds = 0;
    while (counter_sum(&p->handled) < target)
        backoff_step(&rounds);
    return 0;
}

void queue_peer_destroy(void *sys)
{
    struct queue_peer *p = sys;
    stop_workers(p);
    p->ops->fini(p);
    registry_fini(&p->reg);
    free(p);
}
