/* sut_zmq.c - ZeroMQ inproc PUB/SUB.
 *
 * Each worker owns a SUB socket bound to its own inproc endpoint and
 * subscribed to a one-byte prefix, its index; a topic is served by worker
 * (topic index mod W), so topics are ordered and never parallel. ZeroMQ
 * sockets are single-threaded, so every publishing thread gets its own XPUB
 * socket (created on first use) connected to every worker. XPUB_NODROP
 * turns a full pipe into EAGAIN, which we retry: back-pressure instead of
 * PUB's silent drops, so every event arrives and counts can be checked. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "../harness.h"
#include "queue_peer.h"

enum { ZMQ_HWM = 4096, SUBSCRIBE_TIMEOUT_MS = 5000 };
enum frame_kind { FRAME_EVENT, FRAME_STOP };

/* Frame: worker prefix byte, kind byte, padding, topic pointer, payload. */
struct frame_header {
    uint8_t worker;
    uint8_t kind;
    uint8_t pad[6];
    struct reg_topic *topic;
};

struct zmq_queue {
    void *ctx;
    uint64_t id; /* tells this peer's sockets from an earlier peer's */
    unsigned nworkers;
    void **subs; /* one per worker, used only by that worker once started */
    pthread_mutex_t pubs_lock;
    void **pubs; /* every XPUB made, closed at destroy */
    unsigned npubs;
};

static struct zmq_queue *queue_of(struct queue_peer *p)
{
    return (struct zmq_queue *)p->queue_state;
}

static void endpoint(const struct zmq_queue *q, unsigned worker, char *buf, size_t size)
{
    snprintf(buf, size, "inproc://bench-zmq-%llu-%u", (unsigned long long)q->id, worker);
}

static int bind_worker(struct zmq_queue *q, unsigned w)
{
    char name[64];
    uint8_t prefix = (uint8_t)w;
    int hwm = ZMQ_HWM;
    q->subs[w] = zmq_socket(q->ctx, ZMQ_SUB);
    endpoint(q, w, name, sizeof(name));
    if (!q->subs[w] || zmq_setsockopt(q->subs[w], ZMQ_RCVHWM, &hwm, sizeof(hwm)) ||
        zmq_setsockopt(q->subs[w], ZMQ_SUBSCRIBE, &prefix, 1) || zmq_bind(q->subs[w], name))
        return -EIO;
    return 0;
}

static int zmq_peer_init(struct queue_peer *p, const struct sut_config *cfg)
{
    static _Atomic uint64_t next_id;
    struct zmq_queue *q = queue_of(p);
    if (cfg->workers > 256)
        return -EINVAL; /* the prefix is one byte */
    /* relaxed: only uniqueness matters. */
    q->id = atomic_fetch_add_explicit(&next_id, 1, memory_order_relaxed);
    q->nworkers = cfg->workers;
    q->ctx = zmq_ctx_new();
    q->subs = calloc(cfg->workers, sizeof(*q->subs));
    pthread_mutex_init(&q->pubs_lock, NULL);
    if (!q->ctx || !q->subs)
        return -ENOMEM;
    for (unsigned w = 0; w < cfg->workers; w++)
        if (bind_worker(q, w))
            return -EIO;
    return 0;
}

static void zmq_peer_fini(struct queue_peer *p)
{
    struct zmq_queue *q = queue_of(p);
    int linger = 0;
    for (unsigned i = 0; i < q->npubs; i++) {
        zmq_setsockopt(q->pubs[i], ZMQ_LINGER, &linger, sizeof(linger));
        zmq_close(q->pubs[i]);
    }
    for (unsigned w = 0; q->subs && w < q->nworkers; w++)
        if (q->subs[w])
            zmq_close(q->subs[w]);
    if (q->ctx)
        zmq_ctx_term(q->ctx);
    free(q->pubs);
    free(q->subs);
    pthread_mutex_destroy(&q->pubs_lock);
}

/* The SUB socket of the worker running on this thread, if any. */
static _Thread_local void *own_sub;

/* Waits until every worker's subscription reached @pub: before that, PUB
 * sockets drop what they send (the "slow joiner"). A worker publishing from a
 * handler must also let its own SUB socket process the connection, which
 * only happens inside a ZeroMQ call on that socket: ZMQ_EVENTS is one. */
static int await_subscriptions(struct zmq_queue *q, void *pub)
{
    uint64_t deadline = now_ns() + (uint64_t)SUBSCRIBE_TIMEOUT_MS * 1000000u;
    for (unsigned got = 0; got < q->nworkers;) {
        int events;
        size_t len = sizeof(events);
        if (own_sub)
            zmq_getsockopt(own_sub, ZMQ_EVENTS, &events, &len);
        zmq_pollitem_t item = {.socket = pub, .events = ZMQ_POLLIN};
        if (zmq_poll(&item, 1, 1) > 0) {
            char note[8];
            got += zmq_recv(pub, note, sizeof(note), ZMQ_DONTWAIT) > 0;
        }
        if (now_ns() > deadline)
            return -EIO;
    }
    return 0;
}

static void *new_publisher(struct zmq_queue *q)
{
    void *pub = zmq_socket(q->ctx, ZMQ_XPUB);
    int one = 1, hwm = ZMQ_HWM;
    if (!pub)
        return NULL;
    zmq_setsockopt(pub, ZMQ_XPUB_NODROP, &one, sizeof(one));
    zmq_setsockopt(pub, ZMQ_SNDHWM, &hwm, sizeof(hwm));
    for (unsigned w = 0; w < q->nworkers; w++) {
        char name[64];
        endpoint(q, w, name, sizeof(name));
        zmq_connect(pub, name);
    }
    pthread_mutex_lock(&q->pubs_lock);
    void **pubs = realloc(q->pubs, (q->npubs + 1) * sizeof(*pubs));
    if (pubs)
        (q->pubs = pubs)[q->npubs++] = pub; /* closed at destroy from now on */
    pthread_mutex_unlock(&q->pubs_lock);
    if (!pubs) {
        zmq_close(pub);
        return NULL;
    }
    return await_subscriptions(q, pub) ? NULL : pub;
}

/* This thread's XPUB socket for @q. */
static void *thread_publisher(struct zmq_queue *q)
{
    static _Thread_local struct {
        uint64_t id_plus_one;
        void *pub;
    } mine;
    if (mine.id_plus_one != q->id + 1) {
        mine.pub = new_publisher(q);
        mine.id_plus_one = mine.pub ? q->id + 1 : 0;
    }
    return mine.pub;
}

static int send_frame(struct zmq_queue *q, const struct frame_header *h, const void *data,
                      size_t size)
{
    void *pub = thread_publisher(q);
    zmq_msg_t msg;
    if (!pub || zmq_msg_init_size(&msg, sizeof(*h) + size))
        return -EIO;
    memcpy(zmq_msg_data(&msg), h, sizeof(*h));
    if (size)
        memcpy((char *)zmq_msg_data(&msg) + sizeof(*h), data, size);
    unsigned rounds = 0;
    while (zmq_msg_send(&msg, pub, 0) < 0) {
        if (zmq_errno() != EAGAIN && zmq_errno() != EINTR) {
            zmq_msg_close(&msg);
            return -EIO;
        }
        backoff_step(&rounds); /* the worker's pipe is full */
    }
    return 0;
}

static int zmq_peer_push(struct queue_peer *p, struct reg_topic *t, const void *data, size_t size)
{
    struct zmq_queue *q = queue_of(p);
    struct frame_header h = {.worker = (uint8_t)(t->index % q->nworkers), .kind = FRAME_EVENT,
                             .topic = t};
    return send_frame(q, &h, data, size);
}

static void zmq_peer_serve(struct queue_peer *p, unsigned index)
{
    void *sub = queue_of(p)->subs[index];
    own_sub = sub;
    zmq_msg_t msg;
    zmq_msg_init(&msg);
    for (;;) {
        if (zmq_msg_recv(&msg, sub, 0) < 0) {
            if (zmq_errno() == EINTR)
                continue;
            break;
        }
        struct frame_header h;
        memcpy(&h, zmq_msg_data(&msg), sizeof(h));
        if (h.kind == FRAME_STOP)
            break;
        queue_peer_handle(p, h.topic, (char *)zmq_msg_data(&msg) + sizeof(h),
                          zmq_msg_size(&msg) - sizeof(h));
    }
    zmq_msg_close(&msg);
    own_sub = NULL;
}

/* Sent after the final flush, so each worker has handled all its events. */
static void zmq_peer_stop(struct queue_peer *p)
{
    struct zmq_queue *q = queue_of(p);
    for (unsigned w = 0; w < q->nworkers; w++) {
        struct frame_header h = {.worker = (uint8_t)w, .kind = FRAME_STOP};
        send_frame(q, &h, NULL, 0);
    }
}

static const struct queue_ops zmq_queue_ops = {
    .state_size = sizeof(struct zmq_queue),
    .init = zmq_peer_init,
    .fini = zmq_peer_fini,
    .push = zmq_peer_push,
    .serve = zmq_peer_serve,
    .stop = zmq_peer_stop,
};

static int zmq_peer_create(const struct sut_config *cfg, void **sys)
{
    return queue_peer_create(&zmq_queue_ops, cfg, sys);
}

const struct sut_ops sut_zmq_ops =
    QUEUE_PEER_OPS("zmq", "ZeroMQ inproc XPUB->SUB per worker, topic pinned to a worker",
                   SUT_CAN_CHURN, 0, zmq_peer_create);
