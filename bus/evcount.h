/* evcount.h - an eventcount: sleep until another thread reports progress,
 * without a lock and without a syscall on the reporting side unless someone
 * sleeps.
 *
 * A waiter announces itself (evcount_prepare), re-checks its condition, then
 * sleeps (evcount_wait) or gives up (evcount_cancel). A notifier changes the
 * state the waiter checks, then calls evcount_notify. The notifier's fence and
 * the waiter's seq_cst announcement make sure that either the waiter's
 * re-check sees the change or the notifier sees the waiter (Dekker), and a
 * notification between prepare and wait makes the futex wait return at once.
 * Used to park idle workers (sched.c) and producers or flushers waiting for a
 * topic to drain (publish.c, bus.c). */
#ifndef BUS_EVCOUNT_H
#define BUS_EVCOUNT_H

#include <stdatomic.h>
#include <stdint.h>

struct evcount {
    _Atomic uint32_t seq;     /* futex word, bumped by each notification */
    _Atomic uint32_t waiters; /* threads between prepare and wait/cancel */
};

static inline uint32_t evcount_prepare(struct evcount *e)
{
    /* seq_cst: the key is read before we announce ourselves, so a
     * notification after this point changes seq and the wait returns. */
    uint32_t key = atomic_load_explicit(&e->seq, memory_order_seq_cst);
    /* seq_cst: pairs with the notifier's fence (Dekker, see above). */
    atomic_fetch_add_explicit(&e->waiters, 1, memory_order_seq_cst);
    return key;
}

static inline void evcount_cancel(struct evcount *e)
{
    /* relaxed: a hint for notifiers; a stale count costs one spurious wake. */
    atomic_fetch_sub_explicit(&e->waiters, 1, memory_order_relaxed);
}

/* Sleeps unless notified since evcount_prepare returned @key; may return
 * spuriously. Then cancels the announcement. */
void bus__evcount_wait(struct evcount *e, uint32_t key);

/* bus__evcount_wait() that also returns at @deadline_ns (CLOCK_MONOTONIC;
 * UINT64_MAX = none). */
void bus__evcount_wait_until(struct evcount *e, uint32_t key, uint64_t deadline_ns);

/* Wakes up to @count waiters (INT_MAX: all), if any are announced. */
void bus__evcount_wake(struct evcount *e, int count);

static inline void evcount_notify(struct evcount *e, int count)
{
    /* seq_cst fence: orders the caller's state change before the load of
     * waiters (the notifier's half of the Dekker pairing). */
    atomic_thread_fence(memory_order_seq_cst);
    /* relaxed: ordered by the fence. */
    if (atomic_load_explicit(&e->waiters, memory_order_relaxed) != 0)
        bus__evcount_wake(e, count);
}

/* evcount_notify() for a notifier whose state change was a seq_cst
 * read-modify-write that waiters re-check with a seq_cst load after
 * evcount_prepare(): the single order of seq_cst operations pairs the two
 * (either our load of waiters follows the waiter's announcement, or its
 * re-check follows our change), so no fence is needed. On x86 the change is
 * a locked instruction whatever its order, and this load a plain one. */
static inline void evcount_notify_after_rmw(struct evcount *e, int count)
{
    /* seq_cst: our half of the pairing above. */
    if (atomic_load_explicit(&e->waiters, memory_order_seq_cst) != 0)
        bus__evcount_wake(e, count);
}

#endif
