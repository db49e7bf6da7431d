/* export_queue.c - between the export handler and cnats: the handler
 * copies each plain event (subject and payload) into the queue and
 * returns; the bridge's exporter thread hands the queue's contents to
 * cnats a batch at a time. Without it the handler called
 * natsConnection_Publish() on the worker, which takes the connection's
 * lock and, when cnats' buffer is full, writes to the socket there: on an
 * ordered topic every local subscriber then waited for the network. Now
 * only a full queue holds the handler (back-pressure: the topic fills and
 * its full policy decides, as for any slow subscriber).
 *
 * Two buffers: handlers append to `fill` under the lock while the exporter
 * publishes `spare` without it; the exporter swaps them when `spare` is
 * done. The lock is held for a copy of one event, never for a cnats call. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bridge.h"

/* One queued event: this header, the subject with its NUL, the payload,
 * padded to the header's alignment. */
struct record {
    uint32_t subject_len; /* with the NUL */
    uint32_t size;
};

static size_t record_len(size_t subject_len, size_t size)
{
    size_t n = sizeof(struct record) + subject_len + size;
    return (n + _Alignof(struct record) - 1) & ~(_Alignof(struct record) - 1);
}

/* Room for @n bytes more in @b (grown up to the limit, or beyond it for
 * one record larger than the limit in an empty buffer). */
static bool reserve(struct export_batch *b, size_t n)
{
    if (b->len + n <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + n)
        cap *= 2;
    char *data = realloc(b->data, cap);
    if (!data)
        return false;
    b->data = data;
    b->cap = cap;
    return true;
}

int bus__nats_export_enqueue(struct bus_nats *b, const char *subject, const void *data,
                             size_t size)
{
    struct export_queue *q = &b->queue;
    size_t subject_len = strlen(subject) + 1;
    size_t n = record_len(subject_len, size);
    pthread_mutex_lock(&q->lock);
    /* Full: wait for the exporter to take the buffer (an event larger
     * than the whole limit goes alone into an empty buffer). */
    while (q->fill.len && q->fill.len + n > q->limit)
        pthread_cond_wait(&q->progress, &q->lock);
    if (!reserve(&q->fill, n)) {
        pthread_mutex_unlock(&q->lock);
        count(&b->count.dropped_closed); /* no memory: refused, as by a closed connection */
        return -1;
    }
    struct record r = {(uint32_t)subject_len, (uint32_t)size};
    char *at = q->fill.data + q->fill.len;
    memcpy(at, &r, sizeof(r));
    memcpy(at + sizeof(r), subject, subject_len);
    memcpy(at + sizeof(r) + subject_len, data, size);
    q->fill.len += n;
    q->fill.records++;
    q->queued++;
    if (q->exporter_sleeping)
        pthread_cond_signal(&q->more);
    pthread_mutex_unlock(&q->lock);
    return 0;
}

/* Hands @batch to cnats: buffered there, sent by its flusher (or in place
 * when its buffer is full: on this thread, not a worker). */
static void publish_batch(struct bus_nats *b, struct export_batch *batch)
{
    for (size_t off = 0; off < batch->len;) {
        struct record r;
        memcpy(&r, batch->data + off, sizeof(r));
        const char *subject = batch->data + off + sizeof(r);
        bus__nats_count_publish(b, natsConnection_Publish(b->nc, subject,
                                                          subject + r.subject_len, (int)r.size));
        off += record_len(r.subject_len, r.size);
    }
}

/* While events flow the exporter looks for more every POLL_NS, so that the
 * handlers need not wake it (a futex call, and often the worker preempted
 * by the thread it woke, before the local subscribers of the event ran);
 * once a look found nothing, it sleeps until a handler wakes it. */
enum { POLL_NS = 200000 };

static void wait_for_events(struct export_queue *q, bool flowing)
{
    if (flowing) {
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_nsec += POLL_NS;
        if (until.tv_nsec >= 1000000000) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&q->more, &q->lock, &until);
        return;
    }
    q->exporter_sleeping = true;
    pthread_cond_wait(&q->more, &q->lock);
    q->exporter_sleeping = false;
}

static void *exporter_main(void *arg)
{
    struct bus_nats *b = arg;
    struct export_queue *q = &b->queue;
    bool flowing = false; /* the last look found events */
    pthread_mutex_lock(&q->lock);
    for (;;) {
        while (!q->fill.len && !q->stop) {
            wait_for_events(q, flowing);
            flowing = false;
        }
        if (!q->fill.len) /* stopping, and everything is out */
            break;
        flowing = true;
        struct export_batch taken = q->fill;
        q->fill = q->spare; /* empty, its memory reused */
        q->spare = (struct export_batch){0};
        pthread_cond_broadcast(&q->progress); /* room for the handlers */
        pthread_mutex_unlock(&q->lock);
        publish_batch(b, &taken);
        pthread_mutex_lock(&q->lock);
        q->done += taken.records;
        taken.len = 0;
        taken.records = 0;
        q->spare = taken;
        pthread_cond_broadcast(&q->progress); /* bus__nats_export_drain() */
    }
    pthread_mutex_unlock(&q->lock);
    return NULL;
}

int bus__nats_export_start(struct bus_nats *b, size_t limit)
{
    struct export_queue *q = &b->queue;
    pthread_mutex_init(&q->lock, NULL);
    pthread_condattr_t monotonic; /* the polls' deadlines */
    pthread_condattr_init(&monotonic);
    pthread_condattr_setclock(&monotonic, CLOCK_MONOTONIC);
    pthread_cond_init(&q->more, &monotonic);
    pthread_condattr_destroy(&monotonic);
    pthread_cond_init(&q->progress, NULL);
    q->limit = limit;
    int rc = pthread_create(&q->thread, NULL, exporter_main, b);
    if (rc) {
        pthread_cond_destroy(&q->progress);
        pthread_cond_destroy(&q->more);
        pthread_mutex_destroy(&q->lock);
        return -rc;
    }
    q->started = true;
    return 0;
}

int bus__nats_export_drain(struct bus_nats *b, const struct timespec *until)
{
    struct export_queue *q = &b->queue;
    if (!q->started)
        return 0;
    int rc = 0;
    pthread_mutex_lock(&q->lock);
    uint64_t target = q->queued;
    while (q->done < target && rc == 0)
        rc = until ? pthread_cond_timedwait(&q->progress, &q->lock, until)
                   : pthread_cond_wait(&q->progress, &q->lock);
    pthread_mutex_unlock(&q->lock);
    return rc == ETIMEDOUT ? -ETIMEDOUT : 0;
}

void bus__nats_export_stop(struct bus_nats *b)
{
    struct export_queue *q = &b->queue;
    if (q->started) {
        pthread_mutex_lock(&q->lock);
        q->stop = true; /* the exporter publishes what is left, then ends */
        pthread_cond_signal(&q->more);
        pthread_mutex_unlock(&q->lock);
        pthread_join(q->thread, NULL);
        pthread_cond_destroy(&q->progress);
        pthread_cond_destroy(&q->more);
        pthread_mutex_destroy(&q->lock);
        q->started = false;
    }
    free(q->fill.data);
    free(q->spare.data);
    q->fill = q->spare = (struct export_batch){0};
}
