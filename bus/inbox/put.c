/* put.c - the worker's side of an inbox: copy the event, make room as the
 * full policy says, queue it, and wake the taker if it went idle. */
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>

#include "../clock.h"
#include "state.h"

static struct inbox_msg *copy_event(struct bus_inbox *in, const bus_event_t *ev)
{
    const char *name = bus_topic_name(ev->topic);
    size_t name_size = strlen(name) + 1;
    struct inbox_msg *m = bus__inbox_msg_new(in->pool, ev->size + name_size);
    if (!m)
        return NULL;
    if (ev->size)
        memcpy(m->bytes, ev->data, ev->size);
    memcpy(m->bytes + ev->size, name, name_size);
    m->pub = (bus_inbox_msg_t){.topic = (const char *)m->bytes + ev->size,
                               .data = m->bytes,
                               .size = ev->size,
                               .seq = ev->seq,
                               .publish_ns = ev->publish_ns};
    return m;
}

static void count_drop(struct bus_inbox *in)
{
    /* relaxed: a statistic. */
    atomic_fetch_add_explicit(&in->dropped, 1, memory_order_relaxed);
}

/* BUS_INBOX_BLOCK on a full queue: wait for a taker to free a cell, until
 * block_ns has passed or the inbox closes. A taker notifies only if it sees
 * a waiter, with no fence: the claim of its pop (the head's CAS) and our
 * load of the head in mpmc_freeing are both seq_cst, after our seq_cst
 * announcement (evcount_prepare) and before its seq_cst load of the
 * waiters. In their single order, either its load follows our announcement
 * (it notifies, after freeing the cell) or our load follows its claim (we
 * see the cell being freed and retry instead of sleeping). */
static bool push_waiting(struct bus_inbox *in, struct inbox_msg *m, uint64_t *pos)
{
    /* relaxed: a hint; a stale value costs one wait or one drop, and the
     * taker that clears it frees a cell we then see. */
    if (atomic_load_explicit(&in->overrun, memory_order_relaxed))
        return false;
    atomic_fetch_add_explicit(&in->blocked, 1, memory_order_relaxed); /* statistic */
    uint64_t deadline = clock_deadline_ns(in->block_ns);
    for (;;) {
        uint32_t key = evcount_prepare(&in->room);
        if (bus__mpmc_push(&in->queue, m, pos)) {
            evcount_cancel(&in->room);
            return true; /* even if the inbox is closing: its drain frees it */
        }
        /* relaxed: bus_inbox_close sets it before its notify, whose fence
         * our prepare pairs with (evcount.h). */
        if (atomic_load_explicit(&in->closing, memory_order_relaxed)) {
            evcount_cancel(&in->room);
            return false;
        }
        if (mpmc_freeing(&in->queue, *pos)) {
            /* A taker is between its claim and its store: a few
             * instructions, unless it was preempted. */
            evcount_cancel(&in->room);
            sched_yield();
            continue;
        }
        if (clock_now_ns() >= deadline) {
            evcount_cancel(&in->room);
            /* relaxed: see the load above. */
            atomic_store_explicit(&in->overrun, true, memory_order_relaxed);
            return false;
        }
        bus__evcount_wait_until(&in->room, key, deadline);
    }
}

/* Queues @m as the full policy says, at *@pos; false if it was dropped. */
static bool push(struct bus_inbox *in, struct inbox_msg *m, uint64_t *pos)
{
    if (bus__mpmc_push(&in->queue, m, pos))
        return true;
    switch (in->full) {
    case BUS_INBOX_DROP_OLDEST:
        /* Each turn frees a cell; another worker may take it first. */
        do {
            struct inbox_msg *old = bus__mpmc_pop(&in->queue);
            if (old) {
                count_drop(in);
                bus__inbox_msg_free(old);
            }
        } while (!bus__mpmc_push(&in->queue, m, pos));
        return true;
    case BUS_INBOX_BLOCK:
        return push_waiting(in, m, pos);
    default:
        return false;
    }
}

void bus__inbox_wake(struct bus_inbox *in)
{
    /* relaxed: a statistic. */
    atomic_fetch_add_explicit(&in->wakeups, 1, memory_order_relaxed);
    /* Cannot fail: the counter would need 2^64 - 1 writes without a read. */
    eventfd_write(in->efd, 1);
}

/* Raises the high water for a push at @pos, reading the head (the takers'
 * cache line) only when the push may beat it: the limit is a head a worker
 * saw plus the high water then, and both only grow, so a push at a
 * position under the limit holds fewer events than the high water. */
static void note_depth(struct bus_inbox *in, uint64_t pos)
{
    /* relaxed, all: a statistic. Any limit a worker stores is a head it
     * saw plus a high water it saw, so a stale or smaller one is still a
     * bound; it only costs a look at the head. */
    uint64_t end = pos + 1;
    if (end <= atomic_load_explicit(&in->high_water_limit, memory_order_relaxed))
        return;
    uint64_t head = atomic_load_explicit(&in->queue.head, memory_order_relaxed);
    uint32_t depth = end > head ? (uint32_t)(end - head) : 0;
    uint32_t high = atomic_load_explicit(&in->high_water, memory_order_relaxed);
    /* A maximum: a racing worker's smaller depth fails the CAS and stops. */
    while (depth > high && !atomic_compare_exchange_weak_explicit(&in->high_water, &high, depth,
                                                                  memory_order_relaxed,
                                                                  memory_order_relaxed))
        ;
    atomic_store_explicit(&in->high_water_limit, head + (depth > high ? depth : high),
                          memory_order_relaxed);
}

int bus__inbox_put(const bus_event_t *ev, void *ctx)
{
    struct bus_inbox *in = ctx;
    struct inbox_msg *m = copy_event(in, ev);
    uint64_t pos;
    if (!m || !push(in, m, &pos)) {
        if (m)
            bus__inbox_msg_free(m);
        count_drop(in);
        return 0; /* counted here: not a handler error, not a dead letter */
    }
    atomic_fetch_add_explicit(&in->received, 1, memory_order_relaxed); /* statistic */
    note_depth(in, pos);
    /* seq_cst fence: our push (the cell's release store) before the load
     * of idle; the taker's fence orders its store of idle before its look
     * at the queue (Dekker, state.h). relaxed loads: ordered by the fence;
     * the exchange only elects one writer. */
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load_explicit(&in->idle, memory_order_relaxed) &&
        atomic_exchange_explicit(&in->idle, false, memory_order_relaxed))
        bus__inbox_wake(in);
    return 0;
}
