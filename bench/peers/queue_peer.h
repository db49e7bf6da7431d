/* queue_peer.h - a peer built from a queue of events and a pool of workers,
 * the shape users give their own event buses: the queue differs (mutex and
 * condvar, ck_ring, wfcqueue, GLib, ZeroMQ), everything else (topics,
 * subscriber lists, worker threads, flush) is this file's, shared. */
#ifndef BENCH_QUEUE_PEER_H
#define BENCH_QUEUE_PEER_H

#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>

#include <urcu/wfcqueue.h>

#include "counter.h"
#include "registry.h"

struct queue_peer;

struct queue_ops {
    size_t state_size;      /* bytes of the queue's own state (queue_state) */
    bool dispatch_unlocked; /* subscribers never change while events flow */
    int (*init)(struct queue_peer *p, const struct sut_config *cfg);
    void (*fini)(struct queue_peer *p);
    /* Queues a copy of the event. */
    int (*push)(struct queue_peer *p, struct reg_topic *t, const void *data, size_t size);
    /* Worker @index: calls queue_peer_handle for each event until the peer is
     * stopping and nothing is left. NULL when the queue has its own threads. */
    void (*serve)(struct queue_peer *p, unsigned index);
    /* Wakes the workers so that they notice `stopping`. */
    void (*stop)(struct queue_peer *p);
};

struct queue_peer {
    const struct queue_ops *ops;
    struct registry reg;
    struct sharded_counter published, handled;
    _Atomic bool stopping;
    unsigned nworkers;
    pthread_t *threads;
    alignas(64) unsigned char queue_state[];
};

/* An event copied into its own allocation, for the queues that hold
 * pointers (what users of those queues do). */
struct peer_msg {
    union {
        struct peer_msg *next;
        struct cds_wfcq_node node;
    } link;
    struct reg_topic *topic;
    size_t size;
    alignas(16) unsigned char data[];
};

struct peer_msg *peer_msg_new(struct reg_topic *t, const void *data, size_t size);

/* Calls the event's subscribers and counts it handled. */
void queue_peer_handle(struct queue_peer *p, struct reg_topic *t, const void *data, size_t size);

/* queue_peer_handle, then frees the message. */
void queue_peer_handle_msg(struct queue_peer *p, struct peer_msg *m);

/* acquire: pairs with the release store in destroy; the serve loops read it
 * to decide to exit once the queue is empty. */
static inline bool queue_peer_stopping(struct queue_peer *p)
{
    return atomic_load_explicit(&p->stopping, memory_order_acquire);
}

struct parking;

/* The serve loop of the polling queues (ck_ring floor, wfcqueue): @take_one
 * handles one event and returns true, or returns false when the queue is
 * empty; then the worker exits if the peer is stopping, or idles on @parking
 * (which sleeps only while @has_work is false). */
void queue_peer_poll(struct queue_peer *p, struct parking *parking,
                     bool (*take_one)(struct queue_peer *p, void *queue),
                     bool (*has_work)(void *queue), void *queue);

/* The sut_ops functions every queue peer shares. */
int queue_peer_create(const struct queue_ops *ops, const struct sut_config *cfg, void **sys);
int queue_peer_topic_open(void *sys, const char *name, const struct sut_topic_config *cfg,
                          void **topic);
int queue_peer_subscribe(void *sys, void *topic, sut_handler_fn fn, void *ctx, void **sub);
int queue_peer_unsubscribe(void *sys, void *sub);
int queue_peer_publish(void *sys, void *topic, const void *data, size_t size);
int queue_peer_flush(void *sys);
void queue_peer_destroy(void *sys);

#define QUEUE_PEER_OPS(NAME, SUMMARY, CAPS, MAX_PAYLOAD, CREATE)                         \
    {                                                                                    \
        .name = NAME, .summary = SUMMARY, .caps = CAPS, .max_payload = MAX_PAYLOAD,      \
        .create = CREATE, .topic_open = queue_peer_topic_open,                           \
        .subscribe = queue_peer_subscribe, .unsubscribe = queue_peer_unsubscribe,        \
        .publish = queue_peer_publish, .flush = queue_peer_flush,                        \
        .destroy = queue_peer_destroy,                                                   \
    }

#endif
