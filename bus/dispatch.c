/* dispatch.c - a worker's turn on one topic: call every subscriber for
 * batches of events while the topic has some and no other topic waits, then
 * hand the topic back.
 *
 * Scheduling protocol. `scheduled` (SCHED_* in internal.h) says whether a
 * worker will look at the topic. SCHED_QUEUED: an entry for the topic is in
 * a ready queue; set only from 0 (bus__topic_schedule) or, for a parallel
 * topic, from "workers on it but not queued" (bus__topic_recruit), so a
 * topic is queued at most once.
 * Ordered topics add SCHED_HELD while a worker dispatches the topic, so one
 * worker at a time dispatches it. The worker that pops an ordered topic
 * swaps the word to HELD; if HELD was set already, a helper (a worker
 * draining it from inside a handler, help.c) holds it and will hand it
 * back, so the popper walks away. A helper takes an unheld topic by setting
 * HELD (QUEUED may stay set); when it lets go while QUEUED is still set it
 * clears HELD only, and the queued entry is dispatched as usual.
 * Parallel topics add SCHED_ACTIVE for each worker dispatching them: the
 * popper trades QUEUED for ACTIVE (one RMW), so the topic can be queued
 * again for one more worker while it is dispatched (bus__topic_recruit); a
 * helper adds ACTIVE for its nested batch. The word reads 0 only once no
 * worker is on the topic.
 * Publishers mark their slots ready, issue a seq_cst fence and load the word
 * (seq_cst); when it is 0 they queue the topic. The worker that takes the
 * word to 0 (ordered: its store; parallel: the last worker's decrement; both
 * seq_cst) then loads the ready mark of the first ticket it has not consumed
 * (seq_cst). One of the two sees the other. Only that first ticket matters:
 * a later ticket's producer may miss the worker's store, but the worker
 * never gets past the first ticket without it, and the first ticket's
 * producer does the pairing. So no committed event is left unscheduled.
 * Closing (close.c) takes the word from 0 to SCHED_QUEUED for good, with no
 * entry queued; it relies on two rules: QUEUED is set while a queue may
 * hold the topic, and a popped topic's word goes back to 0 only from a
 * worker counted in `dispatchers` (helpers run inside a handler's read-side
 * section instead, which the free waits for). */
#include <limits.h>

#include "clock.h"
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

/* After freeing slots: wake the producers and flushers waiting for room or
 * a drain, then look for a fall under the low watermark (its check relies
 * on evcount_notify's seq_cst fence). */
static void slots_freed(struct bus_topic *t)
{
    evcount_notify(&t->progress, INT_MAX);
    bus__watermark_freed(t);
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
    slots_freed(t);
    return n;
}

static void ordered_hand_back(struct bus_topic *t)
{
    struct ring *r = &t->ring;
    /* seq_cst: see the protocol above, and retry.h's. */
    atomic_store_explicit(&t->scheduled, 0, memory_order_seq_cst);
    /* relaxed on released: we wrote it last. */
    if (bus__retries_want_worker(
            t, ring_ready(r, atomic_load_explicit(&r->released, memory_order_relaxed))))
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

/* Claims, delivers and completes up to @batch events of a parallel topic the
 * caller is active on; with @wait, lingers when there are none. Calls one
 * more worker after a slow batch with events waiting. Returns how many. */
static uint64_t parallel_deliver(struct bus_worker *me, struct bus_topic *t, uint64_t batch,
                                 bool wait)
{
    struct ring *r = &t->ring;
    uint64_t first;
    uint64_t n = bus__ring_claim(r, batch, &first);
    if (n == 0) {
        /* relaxed on claimed: a stale position only ends the linger early
         * (its ticket is ready) and costs one more claim attempt. */
        if (!wait || !linger(t, atomic_load_explicit(&r->claimed, memory_order_relaxed)))
            return 0;
        n = bus__ring_claim(r, batch, &first);
        if (n == 0)
            return 0;
    }
    frame_claim(me, first, first + n);
    uint64_t start = clock_now_ns();
    bus__deliver(t, first, n);
    bus__ring_complete(r, first, n);
    slots_freed(t);
    /* relaxed on claimed: a hint; a stale position only calls a helper that
     * finds little to do. */
    if (clock_now_ns() - start > SLOW_BATCH_NS &&
        ring_ready(r, atomic_load_explicit(&r->claimed, memory_order_relaxed)))
        bus__topic_recruit(t);
    return n;
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
    /* relaxed on claimed: see above. Parallel rings are never held. */
    if (left == 0 &&
        bus__retries_want_worker(
            t, ring_ready(r, atomic_load_explicit(&r->claimed, memory_order_relaxed))))
        bus__topic_schedule(t);
}

/* The caller becomes one more worker on a parallel topic: the worker that
 * @popped it trades QUEUED for ACTIVE, a helper adds ACTIVE. */
static void parallel_join(struct bus_topic *t, bool popped)
{
    /* seq_cst: the protocol above; the word stays non-zero until the last
     * worker leaves (parallel_hand_back), which then checks for events. */
    atomic_fetch_add_explicit(&t->scheduled, SCHED_ACTIVE - (popped ? SCHED_QUEUED : 0),
                              memory_order_seq_cst);
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
 * dispatch (help) is fine. @linger: the worker may wait a moment for the
 * topic's next event. */
static uint64_t batch_in_section(struct bus_worker *me, struct bus_topic *t, bool parallel,
                                 bool linger)
{
    uint64_t batch = t->bus->cfg.batch, n = 0;
    bool held = false;
    rcu_read_lock();
    /* Retries the timer handed back run first; an in-order one that is
     * still pending holds the ring's events (retry.h). */
    if (__builtin_expect(bus__retry_waiting(t), 0)) {
        n = bus__retries_run(t);
        held = bus__retries_hold(t);
    }
    if (!held)
        n += parallel ? parallel_deliver(me, t, batch, linger)
                      : ordered_deliver(t, batch, linger);
    /* The section's end happens before any grace period that waits for it. */
    TSAN_RELEASE(&bus__rcu_grace);
    rcu_read_unlock();
    return n;
}

/* A popped topic's turn; see the protocol above. */
static void dispatch_popped(struct bus_worker *me, struct bus_topic *t)
{
    bool parallel = t->cfg.flags & BUS_TOPIC_PARALLEL;
    if (parallel)
        parallel_join(t, true);
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

void bus__topic_dispatch(struct bus_topic *t)
{
    /* seq_cst: counted before `scheduled` can go back to 0 (at hand-back),
     * so a closer that takes `scheduled` from 0 sees this worker here
     * (close.c). */
    atomic_fetch_add_explicit(&t->dispatchers, 1, memory_order_seq_cst);
    dispatch_popped(bus__current_worker(), t);
    /* release: this worker's last use of the topic happens before a
     * closer's free (its acquire load). */
    atomic_fetch_sub_explicit(&t->dispatchers, 1, memory_order_release);
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
    if (parallel)
        parallel_join(t, false);
    else if (!try_hold(t))
        return false;
    frame_push(me, t);
    /* The handlers run here are not the calling handler's module's code
     * (module/track.c). */
    struct bus_modver *module = bus__module_enter(NULL);
    uint64_t n = batch_in_section(me, t, parallel, false);
    bus__module_enter(module);
    frame_pop(me);
    if (parallel)
        parallel_hand_back(t);
    else
        ordered_let_go(t);
    return n > 0;
}
