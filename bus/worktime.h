/* worktime.h - how a worker's time splits between dispatching (busy) and
 * waiting for work (idle: polling, yielding or parked), for bus_metrics().
 *
 * The worker reads the clock once per switch between the two (a pop after
 * waiting, an empty pop after dispatching), never per event, and adds the
 * stretch that ended to its total. A reader adds the stretch in progress,
 * so a worker busy for a minute does not show idle. The worker is the only
 * writer; the seqlock keeps a reader from counting a stretch twice (once in
 * the total, once as the stretch in progress).
 *
 * A reader's estimate of the stretch in progress can run ahead of the
 * worker's own account: the worker reads the clock, then publishes the
 * switch, and a reader between the two counts the old stretch up to its
 * own, later, clock read (by as long as the worker is preempted there).
 * So that figures never go back (Prometheus-style counters), each total
 * is reported as the largest any reader has returned. */
#ifndef BUS_WORKTIME_H
#define BUS_WORKTIME_H

#include <stdatomic.h>
#include <stdint.h>

#include "clock.h"
#include "seqlock.h"

enum worktime_state { WORKTIME_IDLE, WORKTIME_BUSY, WORKTIME_STOPPED };

struct worktime {
    seqlock_t seq;
    /* Relaxed atomics under seq: totals of the stretches that ended, and
     * the one in progress (its state and start). */
    _Atomic uint64_t busy_ns, idle_ns, since_ns;
    _Atomic uint32_t state;
    /* The largest totals a reader returned (written by readers only). */
    _Atomic uint64_t shown_busy_ns, shown_idle_ns;
};

/* The worker ends its current stretch at @now_ns and starts one in @state. */
static inline void worktime_switch(struct worktime *wt, enum worktime_state state,
                                   uint64_t now_ns)
{
    seqlock_write_begin(&wt->seq);
    /* relaxed, all: the seqlock orders them for readers; the worker is the
     * only writer. */
    uint64_t since = atomic_load_explicit(&wt->since_ns, memory_order_relaxed);
    uint32_t was = atomic_load_explicit(&wt->state, memory_order_relaxed);
    _Atomic uint64_t *total = was == WORKTIME_BUSY ? &wt->busy_ns
                              : was == WORKTIME_IDLE ? &wt->idle_ns
                                                     : NULL;
    if (total && now_ns > since)
        atomic_store_explicit(total,
                              atomic_load_explicit(total, memory_order_relaxed) + now_ns - since,
                              memory_order_relaxed);
    atomic_store_explicit(&wt->since_ns, now_ns, memory_order_relaxed);
    atomic_store_explicit(&wt->state, (uint32_t)state, memory_order_relaxed);
    seqlock_write_end(&wt->seq);
}

/* @estimate, or the largest figure returned from @shown before if that is
 * larger; records the result as the largest. */
static inline uint64_t worktime_not_less(_Atomic uint64_t *shown, uint64_t estimate)
{
    /* relaxed: the figure is all that is shared, nothing is published
     * with it; the CAS keeps the largest. */
    uint64_t prev = atomic_load_explicit(shown, memory_order_relaxed);
    while (prev < estimate &&
           !atomic_compare_exchange_weak_explicit(shown, &prev, estimate, memory_order_relaxed,
                                                  memory_order_relaxed))
        ;
    return prev > estimate ? prev : estimate;
}

/* Adds the worker's busy and idle time up to now to *@busy and *@idle. */
static inline void worktime_read(struct worktime *wt, uint64_t *busy, uint64_t *idle)
{
    uint64_t b, i, since, s, now_ns;
    uint32_t state;
    do {
        s = seqlock_read_begin(&wt->seq);
        /* relaxed, all: seqlock_read_retry checks they belong together. */
        b = atomic_load_explicit(&wt->busy_ns, memory_order_relaxed);
        i = atomic_load_explicit(&wt->idle_ns, memory_order_relaxed);
        since = atomic_load_explicit(&wt->since_ns, memory_order_relaxed);
        state = atomic_load_explicit(&wt->state, memory_order_relaxed);
        /* Inside the section: as close to the worker's state as we can. */
        now_ns = clock_now_ns();
    } while (seqlock_read_retry(&wt->seq, s));
    uint64_t running = now_ns > since ? now_ns - since : 0;
    *busy += worktime_not_less(&wt->shown_busy_ns, b + (state == WORKTIME_BUSY ? running : 0));
    *idle += worktime_not_less(&wt->shown_idle_ns, i + (state == WORKTIME_IDLE ? running : 0));
}

#endif
