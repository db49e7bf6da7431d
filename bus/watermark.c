/* watermark.c - per-topic depth watermarks: one callback when the depth of a
 * ring rises to its high mark, one when it falls to its low mark or under
 * (bus_topic_watermarks()).
 *
 * The fast paths read one threshold each with a relaxed load, after a seq_cst
 * fence they issue anyway: a publisher compares its reservation's depth bound
 * with `wm_rise_at` after ring_commit's fence; a worker that freed slots
 * looks at `wm_fall_under` after evcount_notify's fence. A threshold is
 * UINT64_MAX (rise) or 0 (fall) unless the state waits for that crossing, so
 * with the marks off, below the high mark, or above it with no slot freed,
 * nothing more is read.
 *
 * A crossing is reported by whoever takes WM_BUSY on the state word (a CAS)
 * while the depth it reads still crosses: it flips the state, arms the
 * thresholds of the new state, calls the callback, and gives WM_BUSY back.
 * Exactly one thread wins each crossing, and calls never overlap, so they
 * alternate above, below. A thread that finds WM_BUSY set leaves the work to
 * the holder, which reads the depth again once it lets go. That cannot miss
 * a crossing: the holder stores the state, issues a seq_cst fence and reads
 * the ring's positions; a publisher moves `reserve` and a worker `released`,
 * then each issues its fence and reads the threshold and the state. Of two
 * seq_cst fences one comes first, so either the holder reads the new
 * position, or the other thread reads the armed threshold and the state
 * without WM_BUSY and reports the crossing itself (Dekker).
 * bus_topic_watermarks() and bus_topic_close() take WM_BUSY too (waiting for
 * a callback in progress) to change the marks, or to end them for good
 * (WM_CLOSED). */
#include "internal.h"

enum { WM_OFF, WM_BELOW, WM_ABOVE, WM_CLOSED, WM_BUSY = 4 };

/* The topic whose callback the calling thread is running, for -EDEADLK. */
static _Thread_local const struct bus_topic *calling;

/* Keyed lanes report as their keyed topic. */
static struct bus_topic *owner(struct bus_topic *t)
{
    return t->parent ? t->parent : t;
}

/* Sets the thresholds the fast paths compare with in state @s. Only the
 * holder of WM_BUSY writes them. relaxed: read after a seq_cst fence, and
 * the holder's give_back() fence follows these stores (see the top). */
static void arm(struct bus_topic *t, uint32_t s)
{
    uint64_t rise = s == WM_BELOW ? t->wm.high : UINT64_MAX;
    uint64_t fall = s == WM_ABOVE ? (uint64_t)t->wm.low + 1 : 0;
    atomic_store_explicit(&t->wm_rise_at, rise, memory_order_relaxed);
    atomic_store_explicit(&t->wm_fall_under, fall, memory_order_relaxed);
}

/* Whether the depth of @t's ring, read into @depth, crossed the mark that
 * state @s waits for. Without WM_BUSY the thresholds may be changing: the
 * caller asks again once it holds it. */
static bool crossed(struct bus_topic *t, uint32_t s, uint64_t *depth)
{
    if (s != WM_BELOW && s != WM_ABOVE)
        return false;
    *depth = ring_depth(&t->ring);
    /* relaxed: see arm(). */
    if (s == WM_BELOW)
        return *depth >= atomic_load_explicit(&t->wm_rise_at, memory_order_relaxed);
    return *depth < atomic_load_explicit(&t->wm_fall_under, memory_order_relaxed);
}

/* Takes WM_BUSY if the state is still @*s; else false, with the state now in
 * @*s. acquire: the previous holder's writes (marks, callback, thresholds)
 * happen before ours (its release in give_back()). */
static bool take(struct watermark *w, uint32_t *s)
{
    return atomic_compare_exchange_weak_explicit(&w->state, s, *s | WM_BUSY,
                                                 memory_order_acquire, memory_order_acquire);
}

/* Lets go of WM_BUSY, leaving state @s. release: pairs with take()'s
 * acquire. seq_cst fence: the holder's half of the pairing at the top,
 * before its next read of the depth. */
static void give_back(struct watermark *w, uint32_t s)
{
    atomic_store_explicit(&w->state, s, memory_order_release);
    atomic_thread_fence(memory_order_seq_cst);
}

/* Reports every crossing of @t's marks not reported yet, one call each,
 * unless another thread holds WM_BUSY: it will look again. */
static void settle(struct bus_topic *t)
{
    struct watermark *w = &t->wm;
    /* acquire: as take(). */
    uint32_t s = atomic_load_explicit(&w->state, memory_order_acquire);
    uint64_t depth;
    while (crossed(t, s, &depth)) {
        if (!take(w, &s))
            continue;
        /* Again, now that the marks cannot change under us. */
        if (crossed(t, s, &depth)) {
            s = s == WM_BELOW ? WM_ABOVE : WM_BELOW;
            arm(t, s);
            const struct bus_topic *outer = calling;
            calling = owner(t);
            w->fn(owner(t), (uint32_t)depth, s == WM_ABOVE, w->ctx);
            calling = outer;
        }
        give_back(w, s);
    }
}

void bus__watermark_rise(struct bus_topic *t)
{
    /* The reservation's bound is measured against the producers' copy of
     * the consumers' position, which moves only when the ring looks full:
     * update it, so that the next publishes measure the real depth and stay
     * on the fast path until it nears the mark again. relaxed: the value
     * only decides whether to store. */
    ring_released_refresh(&t->ring,
                          atomic_load_explicit(&t->ring.released_cache, memory_order_relaxed));
    settle(t);
}

void bus__watermark_settle(struct bus_topic *t)
{
    settle(t);
}

/* Waits until no callback of @t runs and takes WM_BUSY, leaving the state it
 * had in @s; false once the marks are closed. */
static bool hold(struct watermark *w, uint32_t *s)
{
    struct backoff wait = BACKOFF_INIT;
    /* acquire: as take(). */
    *s = atomic_load_explicit(&w->state, memory_order_acquire);
    for (;;) {
        if (*s == WM_CLOSED)
            return false;
        if (*s & WM_BUSY) {
            backoff_wait(&wait);
            *s = atomic_load_explicit(&w->state, memory_order_acquire);
        } else if (take(w, s)) {
            return true;
        }
    }
}

/* Installs @marks on one ring, below them, and reports the depth if it is
 * at the high mark already. */
static int set_marks(struct bus_topic *t, const struct watermark *marks)
{
    uint32_t s;
    if (!hold(&t->wm, &s))
        return bus__fail(-EPIPE, "bus_topic_watermarks: the topic is being closed");
    t->wm.high = marks->high;
    t->wm.low = marks->low;
    t->wm.fn = marks->fn;
    t->wm.ctx = marks->ctx;
    s = marks->fn ? WM_BELOW : WM_OFF;
    arm(t, s);
    give_back(&t->wm, s);
    settle(t);
    return 0;
}

int bus_topic_watermarks(bus_topic_t *t, uint32_t high, uint32_t low, bus_watermark_fn fn,
                         void *ctx)
{
    if (!t)
        return bus__fail(-EINVAL, "bus_topic_watermarks: topic is NULL");
    bool on = high && fn;
    /* A keyed topic's events are in its lanes, all of one capacity. */
    uint64_t capacity = t->nlanes ? t->lanes[0]->ring.capacity : t->ring.capacity;
    if (on && (high > capacity || low >= high))
        return bus__fail(-EINVAL,
                         "bus_topic_watermarks: high over the ring's capacity, or low not under high");
    if (calling == t)
        return bus__fail(-EDEADLK, "bus_topic_watermarks: called from the topic's own callback");
    struct watermark marks = {.high = high, .low = low, .fn = on ? fn : NULL, .ctx = ctx};
    if (!t->nlanes)
        return set_marks(t, &marks);
    for (uint32_t i = 0; i < t->nlanes; i++) {
        int rc = set_marks(t->lanes[i], &marks);
        if (rc)
            return rc;
    }
    return 0;
}

bool bus__watermark_calling(const struct bus_topic *t)
{
    return calling == t;
}

void bus__watermark_close(struct bus_topic *t)
{
    uint32_t s;
    if (!hold(&t->wm, &s))
        return;
    arm(t, WM_CLOSED);
    give_back(&t->wm, WM_CLOSED);
}
