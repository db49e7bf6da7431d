/* dispatch.c - a worker's turn on one topic: call every subscriber for
 * batches of events while the topic has some and no other topic waits, then
 * hand the topic back.
 *
 * Scheduling protocol. `scheduled` holds two bits. SCHED_QUEUED: an entry
 * for the topic is in a ready queue; set by a CAS from 0, so a topic is
 * queued at most once. SCHED_HELD (ordered topics): a worker dispatches the
 * topic, so an ordered topic is dispatched by one worker at a time. The
 * worker that pops an ordered topic swaps the word to HELD; if HELD was set
 * already, a helper (a worker draining it from inside a handler, help.c)
 * holds it and will hand it back, so the popper walks away. A helper takes
 * an unheld topic by setting HELD (QUEUED may stay set); when it lets go
 * while QUEUED is still set it clears HELD only, and the queued entry is
 * dispatched as usual. A parallel topic uses QUEUED only: it is cleared as
 * soon as the topic is popped, so another worker may pop it again and claim
 * the next events while the first is still handling its own.
 * Publishers mark their slots ready, issue a seq_cst fence and load the word
 * (seq_cst); a worker handing a topic back stores 0 (seq_cst) then loads the
 * ready mark of the first ticket it has not consumed (seq_cst). One of the
 * two sees the other. Only that first ticket matters: a later ticket's
 * producer may miss the worker's store, but the worker never gets past the
 * first ticket without it, and the first ticket's producer does the pairing.
 * So no committed event is left unscheduled. */
#include <limits.h>

#include "help.h"
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
    if (atomic_compare_exchange_strong_explicit(&t->scheduled, &idle, SCHED_QUEUED,
                                                memory_order_acq_rel,
                                                memory_order_relaxed))
        bus__sched_push(&t->bus->sched, t, t->level);
}

bool bus__topic_idle(struct bus_topic *t)
{
    /* acquire: pairs with the hand-back's store of 0, so what the last
     * dispatch did is visible to the caller. */
    return atomic_load_explicit(&t->scheduled, memory_order_acquire) == 0 &&
           (!(t->cfg.flags & BUS_TOPIC_PARALLEL) ||
            atomic_load_explicit(&t->ring.released, memory_order_acquire) ==
                atomic_load_explicit(&t->ring.claimed, memory_order_relaxed));
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

/* Delivers and frees up to @batch committed events of an ordered topic the
 * caller holds; with @wait, lingers when there are none. Returns how many. */
static uint64_t ordered_deliver(struct bus_topic *t, uint64_t batch, bool wait)
{
    struct ring *r = &t->ring;
    /* acquire: pairs with the previous holder's release of released. Only the
     * worker holding the topic writes it; the hand-over through `scheduled`
     * orders it too. */
    uint64_t head = atomic_load_explicit(&r->released, memory_order_acquire);
    uint64_t n = bus__deliver_ready(t, head, batch);
    if (n == 0) {
        if (!wait || !linger(t, head))
            return 0;
        n = bus__deliver_ready(t, head, batch);
    }
    ring_release_upto(r, head + n);
    evcount_notify(&t->progress, INT_MAX);
    return n;
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

/* Lets go of an ordered topic held by the caller. Still queued (a helper
 * took it off a queued entry): clear HELD only, the entry's popper
 * dispatches what is left; else hand it back. */
static void ordered_let_go(struct bus_topic *t)
{
    int held_queued = SCHED_HELD | SCHED_QUEUED;
    /* release: our deliveries and our store of released happen before the
     * popper's acquire swap. Fails when not queued (relaxed: nothing read). */
    if (atomic_load_explicit(&t->scheduled, memory_order_relaxed) == held_queued &&
        atomic_compare_exchange_strong_explicit(&t->scheduled, &held_queued, SCHED_QUEUED,
                                                memory_order_release,
                                                memory_order_relaxed))
        return;
    ordered_hand_back(t);
}

static bool unclaimed(struct ring *r)
{
    /* relaxed on claimed: at least the value this worker's last claim saw.
     * A worker that moved it further checks the mark at its own, newer
     * position right after its claim (parallel_deliver), so a stale value
     * here only adds a check (or a needless schedule) to the one that worker
     * makes. */
    return ring_ready(r, atomic_load_explicit(&r->claimed, memory_order_relaxed));
}

/* Claims, delivers and completes up to @batch events of a parallel topic; if
 * events remain unclaimed the topic goes back on the ready queue, so another
 * worker can claim them while we handle ours. Returns how many. */
static uint64_t parallel_deliver(struct bus_worker *me, struct bus_topic *t, uint64_t batch)
{
    struct ring *r = &t->ring;
    uint64_t first;
    uint64_t n = bus__ring_claim(r, batch, &first);
    if (n == 0)
        return 0;
    frame_claim(me, first, first + n);
    if (unclaimed(r))
        bus__topic_schedule(t);
    bus__deliver(t, first, n);
    bus__ring_complete(r, first, n);
    evcount_notify(&t->progress, INT_MAX);
    return n;
}

static void parallel_hand_back(struct bus_topic *t)
{
    if (unclaimed(&t->ring))
        bus__topic_schedule(t);
}

/* An ordered topic just popped from a ready queue: QUEUED -> HELD. False if a
 * helper holds it (it hands the topic back): walk away. */
static bool take_popped(struct bus_topic *t)
{
    /* acq_rel: acquire pairs with the previous holder's hand-back (its
     * deliveries and `released`); release is for a helper's CAS that sees
     * HELD. Nobody else changes the word while QUEUED is set except a
     * helper adding HELD, so HELD is right in both cases. */
    return !(atomic_exchange_explicit(&t->scheduled, SCHED_HELD, memory_order_acq_rel) &
             SCHED_HELD);
}

/* One batch inside an RCU read-side section; returns how many events it
 * delivered. One section per batch (a few microseconds), so that grace
 * periods end within liburcu's busy-wait of a synchronize_rcu() (it sleeps
 * 10 ms after 100 polls) while a topic stays busy: a synchronous unsubscribe
 * then takes microseconds, not milliseconds. Sections nest, so a nested
 * dispatch (help) is fine. @linger: an ordered topic may wait a moment for
 * its next event. */
static uint64_t batch_in_section(struct bus_worker *me, struct bus_topic *t, bool parallel,
                                 bool linger)
{
    uint64_t batch = t->bus->cfg.batch;
    rcu_read_lock();
    uint64_t n = parallel ? parallel_deliver(me, t, batch) : ordered_deliver(t, batch, linger);
    /* The section's end happens before any grace period that waits for it. */
    TSAN_RELEASE(&bus__rcu_grace);
    rcu_read_unlock();
    return n;
}

void bus__topic_dispatch(struct bus_topic *t)
{
    struct bus_worker *me = bus__current_worker();
    bool parallel = t->cfg.flags & BUS_TOPIC_PARALLEL;
    if (parallel)
        /* May be queued again at once (see above). seq_cst: the protocol
         * above. */
        atomic_store_explicit(&t->scheduled, 0, memory_order_seq_cst);
    else if (!take_popped(t))
        return;
    /* Keep the topic while it has events and no other topic waits. */
    frame_push(me, t);
    while (batch_in_section(me, t, parallel, true) && nothing_else_ready(t))
        ;
    frame_pop(me);
    if (parallel)
        parallel_hand_back(t);
    else
        ordered_hand_back(t);
}

/* Takes an ordered topic nobody holds, queued or not. */
static bool try_hold(struct bus_topic *t)
{
    int s = atomic_load_explicit(&t->scheduled, memory_order_relaxed);
    /* acq_rel: acquire pairs with the previous holder's hand-back; release
     * for the popper's swap. relaxed on failure: we look again. */
    while (!(s & SCHED_HELD))
        if (atomic_compare_exchange_weak_explicit(&t->scheduled, &s, s | SCHED_HELD,
                                                  memory_order_acq_rel,
                                                  memory_order_relaxed))
            return true;
    return false;
}

bool bus__topic_help(struct bus_worker *me, struct bus_topic *t)
{
    bool parallel = t->cfg.flags & BUS_TOPIC_PARALLEL;
    if (!parallel && !try_hold(t))
        return false;
    frame_push(me, t);
    uint64_t n = batch_in_section(me, t, parallel, false);
    frame_pop(me);
    if (!parallel)
        ordered_let_go(t);
    return n > 0;
}
