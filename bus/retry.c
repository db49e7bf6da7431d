/* retry.c - redelivery of failed handler calls: the records, their timer,
 * their hand-back to the ring, and dropping them (see retry.h). */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "help.h"
#include "internal.h"

_Thread_local struct retry_scope bus__retry_scope __attribute__((tls_model("initial-exec")));

static struct bus_topic *owner_of(struct bus_topic *t)
{
    return t->parent ? t->parent : t;
}

uint64_t bus__retry_backoff(const struct bus_sub *sub, uint32_t n)
{
    if (!sub->backoff_count)
        return 0;
    return sub->backoff_ns[n - 1 < sub->backoff_count ? n - 1 : sub->backoff_count - 1];
}

/* A record for @ev, which @sub failed on @t: the payload and, for a queue
 * group member, the group's name copied in. */
static struct retry *retry_new(struct bus_topic *t, const struct bus_sub *sub,
                               const bus_event_t *ev)
{
    size_t group = sub->group ? strlen(sub->group) + 1 : 0;
    struct retry *r = malloc(sizeof(*r) + ev->size + group);
    if (!r)
        return NULL;
    memset(r, 0, sizeof(*r));
    r->ring = t;
    r->seq = ev->seq;
    r->publish_ns = ev->publish_ns;
    r->size = ev->size;
    if (ev->size)
        memcpy(r->data, ev->data, ev->size);
    if (group)
        r->group = memcpy(r->data + ev->size, sub->group, group);
    else
        r->sub_id = sub->id;
    r->attempt = ev->attempt;
    r->in_order = sub->in_order && !(owner_of(t)->cfg.flags & BUS_TOPIC_PARALLEL);
    return r;
}

/* Live list, under retry_lock. An in-order record holds the ring from
 * here: seq_cst on retry_holds, the workers' half of the hand-back pairing
 * (retry.h). */
static void live_add(struct bus_topic *t, struct retry *r)
{
    r->live_prev = NULL;
    r->live_next = t->retry_live;
    if (t->retry_live)
        t->retry_live->live_prev = r;
    t->retry_live = r;
    /* relaxed: a flusher reads it after its acquire of `released`, which
     * the worker stores after this (retry_pending). */
    atomic_fetch_add_explicit(&t->retries_pending, 1, memory_order_relaxed);
    if (r->in_order)
        atomic_fetch_add_explicit(&t->retry_holds, 1, memory_order_seq_cst);
}

/* Takes @r off the live list; true if it held the ring. */
static bool live_remove(struct bus_topic *t, struct retry *r)
{
    if (r->live_prev)
        r->live_prev->live_next = r->live_next;
    else
        t->retry_live = r->live_next;
    if (r->live_next)
        r->live_next->live_prev = r->live_prev;
    /* release: what the handlers did before happens before a flusher that
     * reads 0 (its acquire) returns. */
    atomic_fetch_sub_explicit(&t->retries_pending, 1, memory_order_release);
    if (r->in_order)
        atomic_fetch_sub_explicit(&t->retry_holds, 1, memory_order_seq_cst);
    return r->in_order;
}

/* Queues @t for a worker: a retry is ready or a hold ended. The seq_cst
 * fence pairs with the worker's seq_cst store of `scheduled` and loads
 * (bus__retries_want_worker); flushers and closers waiting are woken. */
static void wake_ring(struct bus_topic *t)
{
    atomic_thread_fence(memory_order_seq_cst);
    bus__topic_schedule(t);
    evcount_notify(&t->progress, INT_MAX);
}

/* The timer thread: the delay is over, hand the record to the ring. The
 * read-side section keeps @t allocated until the schedule is done: once
 * the record is pushed, a worker may resolve it and a closer free @t. */
static void on_fire(struct timer_entry *e)
{
    struct retry *r = caa_container_of(e, struct retry, timer);
    struct bus_topic *t = r->ring;
    rcu_read_lock();
    pthread_mutex_lock(&t->retry_lock);
    r->armed = false;
    pthread_mutex_unlock(&t->retry_lock);
    /* relaxed load: the CAS decides. seq_cst CAS: release publishes the
     * record to the worker's acquire exchange; seq_cst for the pairing. */
    struct retry *head = atomic_load_explicit(&t->retry_ready, memory_order_relaxed);
    do
        r->next = head;
    while (!atomic_compare_exchange_weak_explicit(&t->retry_ready, &head, r,
                                                  memory_order_seq_cst, memory_order_relaxed));
    wake_ring(t);
    bus__read_unlock();
}

/* Arms @r to fire in @delay_ns; a @fresh record joins the live list first
 * (so that unsubscribe and close see it). False if the timer cannot take
 * it (no memory, or stopped): then a fresh record is off the list again. */
static bool arm(struct bus_topic *t, struct retry *r, uint64_t delay_ns, bool fresh)
{
    struct timers *tm = &t->bus->timers;
    if (bus__timer_reserve(tm))
        return false;
    bus__timer_entry_init(&r->timer, clock_deadline_ns(delay_ns), on_fire);
    pthread_mutex_lock(&t->retry_lock);
    if (fresh)
        live_add(t, r);
    /* Under retry_lock: a cancel sees armed and the entry agree. */
    r->armed = bus__timer_arm(tm, &r->timer);
    bool armed = r->armed;
    if (!armed && fresh)
        live_remove(t, r); /* our own hold: nobody waited on it yet */
    pthread_mutex_unlock(&t->retry_lock);
    return armed;
}

/* Counts on the subscription and the ring; RMWs: parallel rings' workers
 * and the timer's runs may count at once, and this is the failure path. */
static void count(_Atomic uint64_t *sub, _Atomic uint64_t *ring)
{
    /* relaxed: statistics. */
    atomic_fetch_add_explicit(sub, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(ring, 1, memory_order_relaxed);
}

void bus__call_failed(struct bus_sub *sub, const bus_event_t *ev, int rc)
{
    /* The publisher delivers it again: its on_complete hears the failure. */
    const struct ring_slot *slot = bus__dispatching_slot(ev);
    if (slot && (slot->flags & SLOT_PUBLISHER_REDELIVERS))
        return;
    struct retry_scope *scope = &bus__retry_scope;
    struct retry *running = scope->ev == ev ? scope->retry : NULL;
    struct bus_topic *t = frame_topic(bus__current_worker());
    uint32_t made = ev->attempt; /* deliveries so far, this one included */
    if (made < sub->max_deliver) {
        struct retry *r = running ? running : retry_new(t, sub, ev);
        bool fresh = !running;
        /* Read before arm: once armed, the record may fire, run on another
         * worker and be freed before arm returns here. */
        bool in_order = r && r->in_order;
        if (r && arm(t, r, bus__retry_backoff(sub, made), fresh)) {
            if (fresh && in_order)
                bus__batch_end = ev->seq; /* the failed ticket's successor */
            else if (!fresh)
                scope->again = true; /* from here on the record is the timer's */
            count(&sub->retries, &t->retries);
            return;
        }
        if (fresh)
            free(r);
        /* No memory or no timer: the event goes to the dead letters now. */
    }
    if (made > 1 || sub->max_deliver > 1)
        count(&sub->dead_lettered, &t->dead_lettered);
    bus__dead_letter(ev, rc, made);
}

bool bus__retries_hold(struct bus_topic *t)
{
    /* seq_cst: the hand-back pairing (retry.h); elsewhere a plain read. */
    return atomic_load_explicit(&t->retry_holds, memory_order_seq_cst) != 0;
}

bool bus__retries_want_worker(struct bus_topic *t, bool ring_ready)
{
    /* seq_cst: the worker's half of the pairing with on_fire and wake_ring. */
    return atomic_load_explicit(&t->retry_ready, memory_order_seq_cst) ||
           (ring_ready && !bus__retries_hold(t));
}

/* Frees a resolved record; a hold it had ends. @on_worker: the caller
 * dispatches the ring and goes on with it itself. */
static void resolve(struct bus_topic *t, struct retry *r, bool on_worker)
{
    pthread_mutex_lock(&t->retry_lock);
    bool held = live_remove(t, r);
    pthread_mutex_unlock(&t->retry_lock);
    free(r);
    if (held && !on_worker)
        wake_ring(t);
}

uint64_t bus__retries_run(struct bus_topic *t)
{
    /* acquire: pairs with on_fire's CAS; the records are written. */
    struct retry *r = atomic_exchange_explicit(&t->retry_ready, NULL, memory_order_acquire);
    if (!r)
        return 0;
    struct retry *fifo = NULL; /* the stack, reversed: the order they fired */
    while (r) {
        struct retry *next = r->next;
        r->next = fifo;
        fifo = r;
        r = next;
    }
    uint64_t n = 0;
    for (r = fifo; r; n++) {
        struct retry *next = r->next;
        enum retry_result done = bus__deliver_retry(t, r);
        if (done == RETRY_DROPPED) /* relaxed: statistics */
            atomic_fetch_add_explicit(&t->retries_dropped, 1, memory_order_relaxed);
        if (done != RETRY_AGAIN)
            resolve(t, r, true);
        r = next;
    }
    evcount_notify(&t->progress, INT_MAX); /* flushers and closers */
    return n;
}

bool bus__retries_pending(struct bus_topic *t, uint64_t upto)
{
    /* acquire: pairs with live_remove's release. */
    if (atomic_load_explicit(&t->retries_pending, memory_order_acquire) == 0)
        return false;
    if (upto == UINT64_MAX)
        return true;
    bool pending = false;
    pthread_mutex_lock(&t->retry_lock);
    for (struct retry *r = t->retry_live; r && !pending; r = r->live_next)
        pending = r->seq <= upto;
    pthread_mutex_unlock(&t->retry_lock);
    return pending;
}

/* Drops @t's armed retries of subscription @sub_id (0: every one), counted
 * in retries_dropped. One that is firing cannot be cancelled: the worker
 * that runs it drops it (its subscription gone, or the table closed). */
static void drop_armed(struct bus_topic *t, uint64_t sub_id)
{
    struct retry *dropped = NULL;
    bool held = false;
    pthread_mutex_lock(&t->retry_lock);
    for (struct retry *r = t->retry_live, *next; r; r = next) {
        next = r->live_next;
        if ((sub_id && r->sub_id != sub_id) || !r->armed ||
            !bus__timer_cancel(&t->bus->timers, &r->timer))
            continue;
        held |= live_remove(t, r);
        r->next = dropped;
        dropped = r;
    }
    pthread_mutex_unlock(&t->retry_lock);
    while (dropped) {
        struct retry *next = dropped->next;
        free(dropped);
        /* relaxed: statistics. */
        atomic_fetch_add_explicit(&t->retries_dropped, 1, memory_order_relaxed);
        dropped = next;
    }
    if (held)
        wake_ring(t);
    else
        evcount_notify(&t->progress, INT_MAX);
}

void bus__retries_forget(const struct bus_sub *sub)
{
    struct bus_topic *t = sub->topic;
    if (sub->max_deliver < 2 || sub->group)
        return; /* no retries of its own; a group's go on to its members */
    drop_armed(t, sub->id);
    for (uint32_t i = 0; i < t->nlanes; i++)
        drop_armed(t->lanes[i], sub->id);
}

void bus__retries_drop(struct bus_topic *t)
{
    drop_armed(t, 0);
}
