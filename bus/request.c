/* request.c - request-reply on top of acknowledged publish.
 *
 * A request is an event published with a completion callback whose argument
 * is a request record. A handler's bus_reply() finds the record through the
 * event's slot and answers; the completion (after every subscriber has had
 * the event) answers "no responders" or "no reply" if nobody did; a timer
 * answers -ETIMEDOUT. A CAS on `answered` makes the first answer the only one.
 * The record is freed by whichever of the dispatch side and the timer side
 * lets go of it last. */
#include <stdlib.h>
#include <string.h>

#include "backoff.h"
#include "clock.h"
#include "internal.h"

struct request {
    _Atomic bool answered;
    _Atomic int refs; /* the event's completion, and the armed timer */
    bus_reply_fn fn;
    void *arg;
    struct timers *timers;
    bool timed;
    struct timer_entry timer;
};

static void request_put(struct request *r)
{
    /* acq_rel: the last owner frees, after every other owner's use. */
    if (atomic_fetch_sub_explicit(&r->refs, 1, memory_order_acq_rel) == 1)
        free(r);
}

/* The first answer wins; later ones return false. */
static bool answer(struct request *r, int status, const void *data, size_t size)
{
    bool no = false;
    /* acq_rel: one winner; nothing else is published through the flag. */
    if (!atomic_compare_exchange_strong_explicit(&r->answered, &no, true,
                                                 memory_order_acq_rel,
                                                 memory_order_relaxed))
        return false;
    r->fn(status, data, size, r->arg);
    return true;
}

static void on_timeout(struct timer_entry *e)
{
    struct request *r = (struct request *)((char *)e - offsetof(struct request, timer));
    answer(r, -ETIMEDOUT, NULL, 0);
    request_put(r);
}

/* Drops the timer's reference if the timer had not fired yet. */
static void disarm(struct request *r)
{
    if (r->timed && bus__timer_cancel(r->timers, &r->timer))
        request_put(r);
}

static void on_dispatched(const bus_completion_t *c, void *arg)
{
    struct request *r = arg;
    int status = c->status ? c->status : c->handled + c->failed ? -ENOMSG : -ENOENT;
    answer(r, status, NULL, 0); /* nothing happens if a handler replied */
    disarm(r);
    request_put(r);
}

int bus_request(bus_topic_t *topic, const void *data, size_t size, uint64_t timeout_ns,
                bus_reply_fn on_reply, void *arg)
{
    if (!topic || !on_reply)
        return -EINVAL;
    struct request *r = malloc(sizeof(*r));
    if (!r)
        return -ENOMEM;
    atomic_init(&r->answered, false);
    atomic_init(&r->refs, timeout_ns ? 2 : 1);
    r->fn = on_reply;
    r->arg = arg;
    r->timers = &topic->bus->timers;
    r->timed = timeout_ns != 0;
    if (r->timed) {
        r->timer.deadline_ns = clock_now_ns() + timeout_ns;
        r->timer.fire = on_timeout;
        int rc = bus__timer_arm(r->timers, &r->timer);
        if (rc) {
            free(r);
            return rc;
        }
    }
    bus_publish_options_t opts = {.on_complete = on_dispatched, .arg = r};
    int rc = bus_publish_ex(topic, data, size, &opts);
    if (rc) {
        /* The caller gets the error, so on_reply must never run: claim the
         * answer before the timer can. relaxed: only this flag matters. */
        atomic_store_explicit(&r->answered, true, memory_order_relaxed);
        disarm(r);
        request_put(r);
    }
    return rc;
}

int bus_reply(const bus_event_t *ev, const void *data, size_t size)
{
    if (!data && size)
        return -EINVAL;
    /* The event's slot stays ours while its handlers run. */
    const struct ring_slot *slot = bus__dispatching_slot(ev);
    if (!slot || !(slot->flags & SLOT_COMPLETE) || slot->complete != on_dispatched)
        return -EINVAL;
    return answer(slot->complete_arg, 0, data, size) ? 0 : -EALREADY;
}

/* bus_request_wait's rendezvous with the answer: a flag the waiter spins
 * on first (an answer often comes within microseconds, sooner than a
 * futex sleep and wake-up), then the condition variable. */
struct waiter {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    _Atomic bool done; /* written under lock */
    int status;
    void *buf;
    size_t buf_size, reply_size;
};

static void wake_waiter(int status, const void *reply, size_t size, void *arg)
{
    struct waiter *w = arg;
    pthread_mutex_lock(&w->lock);
    w->status = status;
    w->reply_size = size;
    if (size)
        memcpy(w->buf, reply, size < w->buf_size ? size : w->buf_size);
    if (status == 0 && size > w->buf_size)
        w->status = -EMSGSIZE;
    /* release: the fields above are visible to a waiter that sees done
     * without taking the lock (spinning). */
    atomic_store_explicit(&w->done, true, memory_order_release);
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

int bus_request_wait(bus_topic_t *topic, const void *data, size_t size, uint64_t timeout_ns,
                     void *buf, size_t buf_size, size_t *reply_size)
{
    if (!topic || (!buf && buf_size) || !reply_size)
        return -EINVAL;
    if (bus__current_worker_bus() == topic->bus)
        return -EDEADLK;
    struct waiter w = {.buf = buf, .buf_size = buf_size};
    pthread_mutex_init(&w.lock, NULL);
    pthread_cond_init(&w.cond, NULL);
    int rc = bus_request(topic, data, size, timeout_ns, wake_waiter, &w);
    if (rc == 0) {
        struct backoff b = BACKOFF_INIT;
        /* acquire: pairs with wake_waiter's release. */
        while (!atomic_load_explicit(&w.done, memory_order_acquire) && backoff_wait(&b))
            continue;
        /* Taken even when done was seen: the waker may still be inside the
         * lock (signalling), and w dies when this function returns.
         * relaxed: the lock orders the flag and the fields. */
        pthread_mutex_lock(&w.lock);
        while (!atomic_load_explicit(&w.done, memory_order_relaxed))
            pthread_cond_wait(&w.cond, &w.lock);
        pthread_mutex_unlock(&w.lock);
        rc = w.status;
        *reply_size = w.reply_size;
    }
    pthread_cond_destroy(&w.cond);
    pthread_mutex_destroy(&w.lock);
    return rc;
}
