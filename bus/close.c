/* close.c - closing a topic while producers, workers and other callers may
 * still hold it.
 *
 * The steps, each waiting for the users the previous one can no longer
 * reach:
 *  1. Unregister (topic.c): the name is free, wildcards, dead-letter routing
 *     and bus_flush() no longer find the topic, subscribe fails (-EPIPE).
 *  2. BUS_CLOSE_DROP: install the closed table, under which workers take
 *     events without a handler call and count them as dropped.
 *  3. Seal the rings: every later reservation fails (-EPIPE); wake blocked
 *     producers. BUS_CLOSE_DROP: drop the armed retries (retry.h); those
 *     firing meanwhile find the closed table and are dropped too.
 *  4. Wait until every ticket is handled (delivered, or dropped under the
 *     closed table) and every retry resolved (BUS_CLOSE_DRAIN: through its
 *     schedule), then until no walker (bus_flush(), bus_topics_foreach())
 *     pins the topic, and take it off the registry's list. A worker frees a ticket only after its handler calls have
 *     returned, so from here no handler runs for the topic and none will
 *     (the unsubscribe guarantee: no ticket is left to call them for).
 *  5. BUS_CLOSE_DRAIN: install the closed table now (for the rest of the
 *     close, a subscribe or unsubscribe must not change it). A worker may
 *     still load the old table and find no event: it is freed with the
 *     topic, after a grace period.
 *  6. Off the queues: take `scheduled` from 0 to SCHED_QUEUED for good, so
 *     that nobody queues the topic again, then wait until no worker is inside
 *     bus__topic_dispatch() for it (dispatch.c).
 *  7. Count it out of the registry and free it after a grace period
 *     (call_rcu), behind the deferred frees already queued that may touch
 *     its subscriptions. Who may still touch the topic then runs in a
 *     read-side section: a handler that publishes onto it, a worker that
 *     routes a dead letter to it, a caller holding the topics
 *     (bus_hold_begin(); callers without a hold must not race, bus.h).
 * No step waits for a grace period, so a close takes as long as the drain. */
#include <limits.h>

#include "internal.h"
#include "journal/durable.h"
#include "tsan.h"

/* The topic and its keyed lanes: what is scheduled and has a ring. */
static void for_each_ring(struct bus_topic *t, void (*fn)(struct bus_topic *))
{
    fn(t);
    for (uint32_t i = 0; i < t->nlanes; i++)
        fn(t->lanes[i]);
}

static void seal(struct bus_topic *t)
{
    bus__ring_seal(&t->ring);
    /* Producers asleep on a full ring wake up and see the seal. */
    evcount_notify(&t->progress, INT_MAX);
}

/* Every ticket handled, and no retry left (retry.h). */
static bool drained(struct bus_topic *t, void *arg)
{
    (void)arg;
    return ring_drained(&t->ring, ring_handed_out(&t->ring)) &&
           !bus__retries_pending(t, UINT64_MAX);
}

static void wait_drained(struct bus_topic *t)
{
    bus__topic_await(t, drained, NULL);
}

static void wait_off_queues(struct bus_topic *t)
{
    struct backoff wait = BACKOFF_INIT;
    int idle = 0;
    /* seq_cst: a worker counts itself in `dispatchers` (seq_cst) before its
     * hand-back takes the word to 0; reading that 0, we see its count. On
     * failure relaxed: we only retry. At 0 no queue holds the topic, no
     * worker holds it or is active on it; holding SCHED_QUEUED with no
     * entry queued, nobody queues it again (bus__topic_schedule needs 0,
     * bus__topic_recruit a clear QUEUED), and a late helper (a handler whose
     * publish found the ring full before the seal) only adds and removes
     * its own HELD or ACTIVE, inside its read-side section, which the free
     * waits for. */
    while (!atomic_compare_exchange_weak_explicit(&t->scheduled, &idle, SCHED_QUEUED,
                                                  memory_order_seq_cst,
                                                  memory_order_relaxed)) {
        idle = 0;
        backoff_wait(&wait);
    }
    /* acquire: pairs with the release decrement at the end of dispatch. */
    while (atomic_load_explicit(&t->dispatchers, memory_order_acquire) != 0)
        backoff_wait(&wait);
}

static void free_closed(struct rcu_head *head)
{
    struct bus_topic *t = caa_container_of(head, struct bus_topic, rcu);
    TSAN_ACQUIRE(head);
    TSAN_ACQUIRE(&bus__rcu_grace);
    bus__keyed_lanes_free(t);
    bus__topic_free(t);
}

void bus_hold_begin(void)
{
    rcu_read_lock();
}

void bus_hold_end(void)
{
    bus__read_unlock();
}

int bus_topic_close(bus_topic_t *t, int mode, bus_topic_stats_t *final)
{
    if (!t || t->parent || (mode != BUS_CLOSE_DRAIN && mode != BUS_CLOSE_DROP))
        return -EINVAL;
    /* A handler's worker, or the timer thread a handler in
     * bus_request_wait() may need, would be waited for by the drain. */
    if (bus__current_worker_bus() == t->bus || bus__timers_on_thread(&t->bus->timers))
        return -EDEADLK;
    /* Its watermark callback: the close would wait for it. A listing's
     * callback pins a topic: two of them closing each other's would wait
     * for each other. A durable consumer's handler: the close of its topic
     * would join it (any topic: keep the rule simple, as for workers). */
    if (bus__watermark_calling(t) || bus__in_topics_visit() ||
        bus__durable_on_thread(t->bus))
        return -EDEADLK;
    int rc = bus__topic_unregister(t);
    if (rc)
        return rc;
    /* No watermark callback once the close returns (none for the drain). */
    for_each_ring(t, bus__watermark_close);
    struct sub_table *subs = NULL;
    if (mode == BUS_CLOSE_DROP)
        subs = bus__subs_close(t);
    for_each_ring(t, seal);
    if (mode == BUS_CLOSE_DROP)
        for_each_ring(t, bus__retries_drop);
    for_each_ring(t, wait_drained);
    bus__topic_delist(t);
    if (mode == BUS_CLOSE_DRAIN)
        subs = bus__subs_close(t);
    for_each_ring(t, wait_off_queues);
    /* Durable: its consumers stop, its journal is synced and closed (the
     * directory can be opened again once the close returns). */
    if (t->durable)
        bus__durable_close(t);
    if (final)
        bus_topic_stats(t, final);
    /* Before the free is queued: an unload never touches them after. */
    bus__subs_disown(t->bus, subs);
    /* relaxed: no reader is left; bus__topic_free frees the old table and
     * the subscriptions in it. */
    atomic_store_explicit(&t->subs, subs, memory_order_relaxed);
    bus__topic_unregistered(t);
    TSAN_RELEASE(&t->rcu);
    call_rcu(&t->rcu, free_closed);
    return 0;
}
