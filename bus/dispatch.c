/* dispatch.c - a worker's turn on one topic: call every subscriber for
 * batches of events while the topic has some and no other topic waits, then
 * hand the topic back.
 *
 * Scheduling protocol. `scheduled` is 1 while the topic is on the ready queue
 * and, for ordered topics, until the worker that popped it hands it back; so
 * an ordered topic is dispatched by one worker at a time. A parallel
 * topic clears the flag as soon as it is popped, so another worker may pop it
 * again and claim the next events while the first is still handling its own.
 * Publishers mark their slots ready, issue a seq_cst fence and load the flag
 * (seq_cst); a worker stores 0 to the flag (seq_cst) then loads the ready
 * mark of the first ticket it has not consumed (seq_cst). One of the two
 * sees the other. Only that first ticket matters: a later ticket's producer
 * may miss the worker's store, but the worker never gets past the first
 * ticket without it, and the first ticket's producer does the pairing. So no
 * committed event is left unscheduled. */
#include <limits.h>

#include "internal.h"
#include "tsan.h"

char bus__rcu_grace;

enum { LINGER_SPINS = 64 }; /* polls of an empty ordered topic before handing it back */

void bus__topic_schedule(struct bus_topic *t)
{
    int idle = 0;
    /* acq_rel: acquire pairs with the worker's store of 0 (it finished with
     * the topic before we queue it again); release hands our view to the
     * worker that pops it. */
    if (atomic_compare_exchange_strong_explicit(&t->scheduled, &idle, 1,
                                                memory_order_acq_rel,
                                                memory_order_relaxed))
        bus__sched_push(&t->bus->sched, t, t->level);
}

/* True when no other topic waits for a worker. */
static bool nothing_else_ready(struct bus_topic *t)
{
    return bus__sched_empty(&t->bus->sched);
}

/* An ordered topic that just ran dry: wait a moment for the next commit
 * before giving the topic up, as long as no other topic is waiting. Handing a
 * topic back and forth for every event costs far more than this spin when a
 * producer is publishing steadily. True if ticket @head got committed. */
static bool linger(struct bus_topic *t, uint64_t head)
{
    for (int i = 0; i < LINGER_SPINS && nothing_else_ready(t); i++) {
        if (ring_ready(&t->ring, head))
            return true;
        cpu_relax();
    }
    return false;
}

/* One batch of an ordered topic. Returns true if nothing else is ready: the
 * worker keeps the topic. */
static bool ordered_batch(struct bus_topic *t, uint64_t batch)
{
    struct ring *r = &t->ring;
    /* acquire: pairs with the previous owner's release of released. Only the
     * worker owning the topic writes it; the hand-over through the ready
     * queue orders it too. */
    uint64_t head = atomic_load_explicit(&r->released, memory_order_acquire);
    uint64_t n = bus__deliver_ready(t, head, batch);
    if (n == 0) {
        if (!linger(t, head))
            return false;
        n = bus__deliver_ready(t, head, batch);
    }
    ring_release_upto(r, head + n);
    evcount_notify(&t->progress, INT_MAX);
    return nothing_else_ready(t);
}

static void ordered_hand_back(struct bus_topic *t)
{
    struct ring *r = &t->ring;
    /* seq_cst: see the protocol above. */
    atomic_store_explicit(&t->scheduled, 0, memory_order_seq_cst);
    /* relaxed on released: we wrote it last. */
    if (ring_ready(r, atomic_load_explicit(&r->released, memory_order_relaxed)))
        bus__topic_schedule(t);
}

static bool unclaimed(struct ring *r)
{
    /* relaxed on claimed: at least the value this worker's last claim saw.
     * A worker that moved it further checks the mark at its own, newer
     * position right after its claim (parallel_batch), so a stale value here
     * only adds a check (or a needless schedule) to the one that worker makes. */
    return ring_ready(r, atomic_load_explicit(&r->claimed, memory_order_relaxed));
}

/* One batch of a parallel topic; if events remain unclaimed the topic goes
 * back on the ready queue, so another worker can claim them while we handle
 * ours. Returns true if the worker keeps going. */
static bool parallel_batch(struct bus_topic *t, uint64_t batch)
{
    struct ring *r = &t->ring;
    uint64_t first;
    uint64_t n = bus__ring_claim(r, batch, &first);
    if (n == 0)
        return false;
    if (unclaimed(r))
        bus__topic_schedule(t);
    bus__deliver(t, first, n);
    bus__ring_complete(r, first, n);
    evcount_notify(&t->progress, INT_MAX);
    return nothing_else_ready(t);
}

static void parallel_hand_back(struct bus_topic *t)
{
    if (unclaimed(&t->ring))
        bus__topic_schedule(t);
}

void bus__topic_dispatch(struct bus_topic *t)
{
    /* seq_cst: counted before `scheduled` can go back to 0 (below, or at
     * hand-back), so a closer that takes `scheduled` from 0 sees this
     * worker here (close.c). */
    atomic_fetch_add_explicit(&t->dispatchers, 1, memory_order_seq_cst);
    uint64_t batch = t->bus->cfg.batch;
    bool parallel = t->cfg.flags & BUS_TOPIC_PARALLEL;
    /* A parallel topic may be queued again at once (see above). seq_cst:
     * the protocol above. */
    if (parallel)
        atomic_store_explicit(&t->scheduled, 0, memory_order_seq_cst);
    bool keep;
    do {
        /* One read-side section per batch (a few microseconds), so that grace
         * periods end within liburcu's busy-wait of a synchronize_rcu() (it
         * sleeps 10 ms after 100 polls) while a topic stays busy: a
         * synchronous unsubscribe then takes microseconds, not milliseconds. */
        rcu_read_lock();
        keep = parallel ? parallel_batch(t, batch) : ordered_batch(t, batch);
        /* The section's end happens before any grace period that waits for it. */
        TSAN_RELEASE(&bus__rcu_grace);
        rcu_read_unlock();
    } while (keep);
    if (parallel)
        parallel_hand_back(t);
    else
        ordered_hand_back(t);
    /* release: this worker's last use of the topic happens before a
     * closer's free (its acquire load). */
    atomic_fetch_sub_explicit(&t->dispatchers, 1, memory_order_release);
}
