/* sut_mutex.c - the bus users write themselves: a linked list under a mutex,
 * a condition variable to wake the pool, one malloc'd copy per event. */
#include <errno.h>
#include <stdlib.h>

#include "queue_peer.h"

struct mutex_queue {
    pthread_mutex_t lock;
    pthread_cond_t nonempty;
    struct peer_msg *head, *tail;
    unsigned waiting; /* workers in cond_wait: signal only when needed */
};

static struct mutex_queue *queue_of(struct queue_peer *p)
{
    return (struct mutex_queue *)p->queue_state;
}

static int mutex_init(struct queue_peer *p, const struct sut_config *cfg)
{
    (void)cfg;
    struct mutex_queue *q = queue_of(p);
    pthread_mutex_init(&q->lock, NULL);
    pthread_cond_init(&q->nonempty, NULL);
    return 0;
}

static void mutex_fini(struct queue_peer *p)
{
    struct mutex_queue *q = queue_of(p);
    pthread_cond_destroy(&q->nonempty);
    pthread_mutex_destroy(&q->lock);
}

static int mutex_push(struct queue_peer *p, struct reg_topic *t, const void *data, size_t size)
{
    struct mutex_queue *q = queue_of(p);
    struct peer_msg *m = peer_msg_new(t, data, size);
    if (!m)
        return -ENOMEM;
    m->link.next = NULL;
    pthread_mutex_lock(&q->lock);
    if (q->tail)
        q->tail->link.next = m;
    else
        q->head = m;
    q->tail = m;
    if (q->waiting)
        pthread_cond_signal(&q->nonempty);
    pthread_mutex_unlock(&q->lock);
    return 0;
}

/* The next message, waiting for one; NULL once stopping and empty. */
static struct peer_msg *mutex_pop(struct queue_peer *p)
{
    struct mutex_queue *q = queue_of(p);
    pthread_mutex_lock(&q->lock);
    while (!q->head && !queue_peer_stopping(p)) {
        q->waiting++;
        pthread_cond_wait(&q->nonempty, &q->lock);
        q->waiting--;
    }
    struct peer_msg *m = q->head;
    if (m) {
        q->head = m->link.next;
        if (!q->head)
            q->tail = NULL;
    }
    pthread_mutex_unlock(&q->lock);
    return m;
}

static void mutex_serve(struct queue_peer *p, unsigned index)
{
    (void)index;
    struct peer_msg *m;
    while ((m = mutex_pop(p)))
        queue_peer_handle_msg(p, m);
}

static void mutex_stop(struct queue_peer *p)
{
    struct mutex_queue *q = queue_of(p);
    pthread_mutex_lock(&q->lock);
    pthread_cond_broadcast(&q->nonempty);
    pthread_mutex_unlock(&q->lock);
}

static const struct queue_ops mutex_queue_ops = {
    .state_size = sizeof(struct mutex_queue),
    .init = mutex_init,
    .fini = mutex_fini,
    .push = mutex_push,
    .serve = mutex_serve,
    .stop = mutex_stop,
};

static int mutex_create(const struct sut_config *cfg, void **sys)
{
    return queue_peer_create(&mutex_queue_ops, cfg, sys);
}

const struct sut_ops sut_mutex_ops =
    QUEUE_PEER_OPS("mutex", "linked list + pthread mutex/condvar + thread pool, malloc per event",
                   SUT_CAN_CHURN | SUT_CAN_FORWARD, 0, mutex_create);
