/* dispatch.c - a worker's turn on one topic: call every subscriber for
 * batches of events while the topic has some and no other topic waits, then
 * hand the topic back.
 *
 * Scheduling protocol. `scheduled` says whether a worker will look at the
 * topic: SCHED_QUEUED while the topic is on the ready queue, plus, for
 * parallel topics, SCHED_ACTIVE for each worker dispatching it. An ordered
 * topic keeps SCHED_QUEUED (1) from its push until the worker that popped it
 * hands it back, so one worker at a time dispatches it. A parallel topic
 * trades SCHED_QUEUED for SCHED_ACTIVE when it is popped (one RMW), so it
 * can be queued again for a helper while it is being dispatched
 * (bus__topic_recruit), and reads 0 only once no worker is on it.
 * Publishers mark their slots ready, issue a seq_cst fence and load the word
 * (seq_cst); when it is 0 they queue the topic. The worker that takes the
 * word to 0 (ordered: store; parallel: the last worker's decrement; both
 * seq_cst) then loads the ready mark of the first ticket it has not consumed
 * (seq_cst). One of the two sees the other. Only that first ticket matters:
 * a later ticket's producer may miss the worker's store, but the worker
 * never gets past the first ticket without it, and the first ticket's
 * producer does the pairing. So no committed event is left unscheduled. */
#include <limits.h>

#include "clock.h"
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

/* Parallel topics. One worker drains the topic as an ordered topic would
 * (claiming batches, lingering when it runs dry) as long as it keeps up;
 * another worker joins (bus__topic_recruit) when it does not: a batch of its
 * handlers took longer than SLOW_BATCH_NS with events waiting behind it, or
 * the ring is full and a publisher waits long for room or is refused (a
 * handler stuck on one event). Re-queuing the topic after every claim, as a
 * first version did, made every claim a ready-queue push, a wake-up and a
 * write to the line publishers read `scheduled` from; calling a helper
 * whenever 64 events waited, as a second did, put two workers on a cheap
 * handler that one worker drains, and on 2 cores they only took the CPU from
 * the producers (docs/performance.md). */

enum { SLOW_BATCH_NS = 50000 }; /* 50 us: ~1,000 times a cheap handler's batch */

void bus__topic_recruit(struct bus_topic *t)
{
    if (!(t->cfg.flags & BUS_TOPIC_PARALLEL))
        return;
    /* relaxed: the CAS decides; the ready queue's push and pop order the
     * hand-over as for bus__topic_schedule. */
    int s = atomic_load_explicit(&t->scheduled, memory_order_relaxed);
    while (!(s & SCHED_QUEUED) && (unsigned)s / SCHED_ACTIVE < t->bus->cfg.workers) {
        /* acq_rel: as in bus__topic_schedule. */
        if (atomic_compare_exchange_weak_explicit(&t->scheduled, &s, s | SCHED_QUEUED,
                                                  memory_order_acq_rel,
                                                  memory_order_relaxed)) {
            bus__sched_push(&t->bus->sched, t, t->level);
            return;
        }
    }
}

/* One batch of a parallel topic. Returns true if the worker keeps going. */
static bool parallel_batch(struct bus_topic *t, uint64_t batch)
{
    struct ring *r = &t->ring;
    uint64_t first;
    uint64_t n = bus__ring_claim(r, batch, &first);
    if (n == 0) {
        /* relaxed on claimed: a stale position only ends the linger early
         * (its ticket is ready) and costs one more claim attempt. */
        if (!linger(t, atomic_load_explicit(&r->claimed, memory_order_relaxed)))
            return false;
        n = bus__ring_claim(r, batch, &first);
        if (n == 0)
            return false;
    }
    uint64_t start = clock_now_ns();
    bus__deliver(t, first, n);
    bus__ring_complete(r, first, n);
    evcount_notify(&t->progress, INT_MAX);
    /* relaxed on claimed: a hint; a stale position only calls a helper that
     * finds little to do. */
    if (clock_now_ns() - start > SLOW_BATCH_NS &&
        ring_ready(r, atomic_load_explicit(&r->claimed, memory_order_relaxed)))
        bus__topic_recruit(t);
    return nothing_else_ready(t);
}

static void parallel_hand_back(struct bus_topic *t)
{
    struct ring *r = &t->ring;
    /* seq_cst: see the protocol above. Only the last worker to leave (the
     * word drops to 0) checks; while another worker is on the topic or it
     * is queued, that worker will. Its claims happen before its decrement,
     * which precedes ours in the word's modification order (acquire side of
     * this RMW), so `claimed` below is exact: no stale, reused slot. */
    int left = atomic_fetch_sub_explicit(&t->scheduled, SCHED_ACTIVE, memory_order_seq_cst) -
               SCHED_ACTIVE;
    /* relaxed on claimed: see above. */
    if (left == 0 && ring_ready(r, atomic_load_explicit(&r->claimed, memory_order_relaxed)))
        bus__topic_schedule(t);
}

void bus__topic_dispatch(struct bus_topic *t)
{
    uint64_t batch = t->bus->cfg.batch;
    bool parallel = t->cfg.flags & BUS_TOPIC_PARALLEL;
    /* A parallel topic goes from queued to active, so that a helper may
     * queue it again (see above). seq_cst: the protocol above. */
    if (parallel)
        atomic_fetch_add_explicit(&t->scheduled, SCHED_ACTIVE - SCHED_QUEUED,
                                  memory_order_seq_cst);
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
}
