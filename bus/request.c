/* request.c - request-reply on top of acknowledged publish.
 *
 * A request is an event published with a completion callback whose argument
 * is a request record. A handler's bus_reply() finds the record through the
 * event's slot and answers; the completion (after every subscriber has had
 * the event) answers "no responders" or "no reply" if nobody did; a timer
 * answers -ETIMEDOUT. A CAS on `answered` makes the first answer the only one.
 *
 * Publish first, arm the timer after. A refused publish (full BUS_FULL_FAIL
 * ring, shutdown during a blocked publish) then has no timer that could
 * answer it: the error return is its only answer. What can fail in arming
 * (heap room, starting the thread) is reserved before the publish, so
 * nothing fails after it.
 *
 * A timed request holds two references: the dispatch side's, dropped by
 * on_dispatched, and the timer side's, which bus_request holds until the arm
 * hands it to the heap; the timer drops it when it fires, on_dispatched when
 * it cancels the armed timer, bus_request when the arm does nothing. The
 * timer lock orders arm, cancel and fire. Every interleaving:
 *  1. The publish fails: on_dispatched never runs (bus_publish_ex's
 *     contract) and nothing was armed; bus_request gives the reservation
 *     back, frees the record and returns the error. No on_reply call.
 *  2. The dispatch completes before the arm (a quick worker, or a drop by a
 *     full BUS_FULL_DROP ring, inside the publish): on_dispatched answers,
 *     its cancel finds the entry not armed yet and marks it cancelled
 *     (false: not its reference to drop), and it drops its own. The arm
 *     sees the mark and does nothing; bus_request drops the timer
 *     reference, the last one. Until then that reference kept the record
 *     alive for bus_request.
 *  3. The arm, then the dispatch before the deadline: on_dispatched answers
 *     (unless a handler replied), cancels the armed entry (true) and drops
 *     both references. bus_request no longer touches the record once armed.
 *  4. The arm, then the deadline: the timer takes the entry out of the heap,
 *     answers -ETIMEDOUT (unless a handler replied) and drops its reference;
 *     on_dispatched, before, during or after, finds the entry fired (false)
 *     and drops its own. Replies and on_dispatched's answer race the timer's
 *     through the CAS; the last reference dropped frees.
 *  5. Shutdown: a publish that succeeded took its ticket before the rings
 *     were sealed, so bus_shutdown waits for its dispatch (2 to 4) before it
 *     stops the timers; a reservation after the stop fails (-ESHUTDOWN,
 *     before publishing), an arm after it does nothing (as in 2). */
#include <stdlib.h>
#include <string.h>

#include "backoff.h"
#include "clock.h"
#include "internal.h"

struct request {
    _Atomic bool answered;
    _Atomic int refs; /* the dispatch side's and (timed) the timer side's, see above */
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
    uint64_t deadline = timeout_ns ? clock_deadline_ns(timeout_ns) : CLOCK_NEVER;
    bool timed = deadline != CLOCK_NEVER;
    struct request *r = malloc(sizeof(*r));
    if (!r)
        return -ENOMEM;
    atomic_init(&r->answered, false);
    atomic_init(&r->refs, timed ? 2 : 1);
    r->fn = on_reply;
    r->arg = arg;
    r->timers = &topic->bus->timers;
    r->timed = timed;
    if (timed) {
        bus__timer_entry_init(&r->timer, deadline, on_timeout);
        int rc = bus__timer_reserve(r->timers);
        if (rc) {
            free(r);
            return rc;
        }
    }
    bus_publish_options_t opts = {.on_complete = on_dispatched, .arg = r};
    int rc = bus_publish_ex(topic, data, size, &opts);
    if (rc) { /* case 1 above */
        if (timed)
            bus__timer_unreserve(r->timers);
        free(r);
        return rc;
    }
    if (timed && !bus__timer_arm(r->timers, &r->timer))
        request_put(r); /* case 2: the dispatch came first */
    return 0;
}

/* The request record of @ev, NULL if @ev is not a request being handled
 * on this thread. The event's slot stays ours while its handlers run. */
static struct request *request_of(const bus_event_t *ev)
{
    const struct ring_slot *slot = bus__dispatching_slot(ev);
    if (!slot || !(slot->flags & SLOT_COMPLETE) || slot->complete != on_dispatched)
        return NULL;
    return slot->complete_arg;
}

int bus_reply(const bus_event_t *ev, const void *data, size_t size)
{
    struct request *r = request_of(ev);
    if (!r || (!data && size))
        return -EINVAL;
    return answer(r, 0, data, size) ? 0 : -EALREADY;
}

int bus_reply_error(const bus_event_t *ev, int status)
{
    struct request *r = request_of(ev);
    if (!r || status >= 0)
        return -EINVAL;
    return answer(r, status, NULL, 0) ? 0 : -EALREADY;
}

int bus_event_source(const bus_event_t *ev, bus_event_source_t *out)
{
    if (!ev || !out)
        return -EINVAL;
    *out = (bus_event_source_t){.deadline_ns = 0};
    /* Only events with a completion are recorded while dispatched (plain
     * ones cost nothing): no record, a plain publish. */
    const struct ring_slot *slot = bus__dispatching_slot(ev);
    if (!slot || !(slot->flags & SLOT_COMPLETE))
        return 0;
    const struct request *r = request_of(ev);
    if (!r) {
        out->on_complete = slot->complete;
        out->arg = slot->complete_arg;
        return 0;
    }
    /* The record lives until on_dispatched, after this handler. */
    out->on_reply = r->fn;
    out->reply_arg = r->arg;
    out->deadline_ns = r->timed ? r->timer.deadline_ns : UINT64_MAX;
    return 0;
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
    size_t fits = size < w->buf_size ? size : w->buf_size;
    if (fits) /* buf may be NULL when buf_size is 0 */
        memcpy(w->buf, reply, fits);
    if (status == 0 && size > w->buf_size)
        w->status = -ENOBUFS;
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
    /* A worker could wait for itself; the timer thread (an on_reply after
     * a timeout) for the timeout only it can fire. */
    if (bus__current_worker_bus() == topic->bus || bus__timers_on_thread(&topic->bus->timers))
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
