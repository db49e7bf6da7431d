/* sut_floor.c - the floor: events handed between threads through one
 * Concurrency Kit MPMC ring, copied inline into the ring's 64-byte entries,
 * and the handlers called straight from the entry: no per-event allocation,
 * no subscriber lock, no per-topic ordering or scheduling. What is left is
 * the cost of moving an event from one core to another. */
#include <ck_ring.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../harness.h"
#include "parking.h"
#include "queue_peer.h"

enum { FLOOR_RING_ENTRIES = 8192, FLOOR_INLINE_PAYLOAD = 48 };

struct floor_event {
    struct reg_topic *topic;
    uint32_t size;
    unsigned char data[FLOOR_INLINE_PAYLOAD];
};

CK_RING_PROTOTYPE(floor_event, floor_event)

struct floor_queue {
    ck_ring_t ring;
    struct floor_event *entries;
    struct parking parking;
};

static struct floor_queue *queue_of(struct queue_peer *p)
{
    return (struct floor_queue *)p->queue_state;
}

static int floor_init(struct queue_peer *p, const struct sut_config *cfg)
{
    struct floor_queue *q = queue_of(p);
    q->entries = aligned_alloc(64, FLOOR_RING_ENTRIES * sizeof(*q->entries));
    if (!q->entries)
        return -ENOMEM;
    ck_ring_init(&q->ring, FLOOR_RING_ENTRIES);
    parking_init(&q->parking, cfg->wait);
    return 0;
}

static void floor_fini(struct queue_peer *p)
{
    free(queue_of(p)->entries);
}

static int floor_push(struct queue_peer *p, struct reg_topic *t, const void *data, size_t size)
{
    struct floor_queue *q = queue_of(p);
    struct floor_event ev = {.topic = t, .size = (uint32_t)size};
    if (size > sizeof(ev.data))
        return -EMSGSIZE;
    memcpy(ev.data, data, size);
    unsigned rounds = 0;
    while (!ck_ring_enqueue_mpmc_floor_event(&q->ring, q->entries, &ev))
        backoff_step(&rounds); /* full: wait for the consumers */
    parking_notify(&q->parking);
    return 0;
}

static bool floor_has_work(void *queue)
{
    return ck_ring_size(&((struct floor_queue *)queue)->ring) > 0;
}

static bool floor_take_one(struct queue_peer *p, void *queue)
{
    struct floor_queue *q = queue;
    struct floor_event ev;
    if (!ck_ring_dequeue_mpmc_floor_event(&q->ring, q->entries, &ev))
        return false;
    queue_peer_handle(p, ev.topic, ev.data, ev.size);
    return true;
}

static void floor_serve(struct queue_peer *p, unsigned index)
{
    (void)index;
    struct floor_queue *q = queue_of(p);
    queue_peer_poll(p, &q->parking, floor_take_one, floor_has_work, q);
}

static void floor_stop(struct queue_peer *p)
{
    parking_notify_all(&queue_of(p)->parking);
}

static const struct queue_ops floor_queue_ops = {
    .state_size = sizeof(struct floor_queue),
    .dispatch_unlocked = true,
    .init = floor_init,
    .fini = floor_fini,
    .push = floor_push,
    .serve = floor_serve,
    .stop = floor_stop,
};

static int floor_create(const struct sut_config *cfg, void **sys)
{
    return queue_peer_create(&floor_queue_ops, cfg, sys);
}

const struct sut_ops sut_floor_ops =
    QUEUE_PEER_OPS("ckring", "floor: ck_ring MPMC of inline 64-byte events, no dispatch layer",
                   0, FLOOR_INLINE_PAYLOAD, floor_create);
