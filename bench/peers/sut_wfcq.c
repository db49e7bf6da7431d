/* sut_wfcq.c - liburcu's wait-free concurrent queue (wfcqueue): wait-free
 * enqueue of a malloc'd event, dequeue under the queue's head lock, idle
 * workers parked on a futex. */
#define _LGPL_SOURCE /* inline wfcqueue functions: header only */
#include <errno.h>
#include <stdlib.h>

#include "parking.h"
#include "queue_peer.h"

struct wfcq_queue {
    struct cds_wfcq_head head;
    struct cds_wfcq_tail tail;
    struct parking parking;
};

static struct wfcq_queue *queue_of(struct queue_peer *p)
{
    return (struct wfcq_queue *)p->queue_state;
}

static int wfcq_init(struct queue_peer *p, const struct sut_config *cfg)
{
    struct wfcq_queue *q = queue_of(p);
    cds_wfcq_init(&q->head, &q->tail);
    parking_init(&q->parking, cfg->wait);
    return 0;
}

static void wfcq_fini(struct queue_peer *p)
{
    struct wfcq_queue *q = queue_of(p);
    cds_wfcq_destroy(&q->head, &q->tail);
}

static int wfcq_push(struct queue_peer *p, struct reg_topic *t, const void *data, size_t size)
{
    struct wfcq_queue *q = queue_of(p);
    struct peer_msg *m = peer_msg_new(t, data, size);
    if (!m)
        return -ENOMEM;
    cds_wfcq_node_init(&m->link.node);
    cds_wfcq_enqueue(&q->head, &q->tail, &m->link.node);
    parking_notify(&q->parking);
    return 0;
}

static bool wfcq_has_work(void *queue)
{
    struct wfcq_queue *q = queue;
    return !cds_wfcq_empty(&q->head, &q->tail);
}

static bool wfcq_take_one(struct queue_peer *p, void *queue)
{
    struct wfcq_queue *q = queue;
    struct cds_wfcq_node *node = cds_wfcq_dequeue_blocking(&q->head, &q->tail);
    if (!node)
        return false;
    queue_peer_handle_msg(p, caa_container_of(node, struct peer_msg, link.node));
    return true;
}

static void wfcq_serve(struct queue_peer *p, unsigned index)
{
    (void)index;
    struct wfcq_queue *q = queue_of(p);
    queue_peer_poll(p, &q->parking, wfcq_take_one, wfcq_has_work, q);
}

static void wfcq_stop(struct queue_peer *p)
{
    parking_notify_all(&queue_of(p)->parking);
}

static const struct queue_ops wfcq_queue_ops = {
    .state_size = sizeof(struct wfcq_queue),
    .init = wfcq_init,
    .fini = wfcq_fini,
    .push = wfcq_push,
    .serve = wfcq_serve,
    .stop = wfcq_stop,
};

static int wfcq_create(const struct sut_config *cfg, void **sys)
{
    return queue_peer_create(&wfcq_queue_ops, cfg, sys);
}

const struct sut_ops sut_wfcq_ops =
    QUEUE_PEER_OPS("wfcq", "liburcu wfcqueue + futex wake-up + thread pool, malloc per event",
                   SUT_CAN_CHURN | SUT_CAN_FORWARD, 0, wfcq_create);
