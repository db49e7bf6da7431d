/* put.c - the worker's side of an inbox: copy the event, make room as the
 * full policy says, queue it, and wake the taker if it went idle. */
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>

#include "../clock.h"
#include "state.h"

static struct inbox_msg *copy_event(const bus_event_t *ev)
{
    const char *name = bus_topic_name(ev->topic);
    size_t name_size = strlen(name) + 1;
    struct inbox_msg *m = malloc(sizeof(*m) + ev->size + name_size);
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
 * block_ns has passed or the inbox closes. */
static bool push_waiting(struct bus_inbox *in, struct inbox_msg *m)
{
    /* relaxed: a hint; a stale value costs one wait or one drop, and the
     * taker that clears it frees a cell we then see. */
    if (atomic_load_explicit(&in->overrun, memory_order_relaxed))
        return false;
    atomic_fetch_add_explicit(&in->blocked, 1, memory_order_relaxed); /* statistic */
    uint64_t deadline = clock_deadline_ns(in->block_ns);
    for (;;) {
        uint32_t key = evcount_prepare(&in->room);
        if (bus__mpmc_push(&in->queue, m)) {
            evcount_cancel(&in->room);
            return true; /* even if the inbox is closing: its drain frees it */
        }
        /* relaxed: bus_inbox_close sets it before its notify, which our
         * prepare pairs with (evcount.h). */
        if (atomic_load_explicit(&in->closing, memory_order_relaxed)) {
            evcount_cancel(&in->room);
            return false;
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

/* Queues @m as the full policy says; false if it was dropped. */
static bool push(struct bus_inbox *in, struct inbox_msg *m)
{
    if (bus__mpmc_push(&in->queue, m))
        return true;
    switch (in->full) {
    case BUS_INBOX_DROP_OLDEST:
        /* Each turn frees a cell; another worker may take it first. */
        do {
            struct inbox_msg *old = bus__mpmc_pop(&in->queue);
            if (old) {
                count_drop(in);
                free(old);
            }
        } while (!bus__mpmc_push(&in->queue, m));
        return true;
    case BUS_INBOX_BLOCK:
        return push_waiting(in, m);
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

static void note_depth(struct bus_inbox *in)
{
    uint32_t depth = (uint32_t)mpmc_size(&in->queue);
    /* relaxed: a statistic; a racing worker may store a smaller maximum
     * once, as topics' high_water does. */
    if (depth > atomic_load_explicit(&in->high_water, memory_order_relaxed))
        atomic_store_explicit(&in->high_water, depth, memory_order_relaxed);
}

int bus__inbox_put(const bus_event_t *ev, void *ctx)
{
    struct bus_inbox *in = ctx;
    struct inbox_msg *m = copy_event(ev);
    if (!m || !push(in, m)) {
        free(m);
        count_drop(in);
        return 0; /* counted here: not a handler error, not a dead letter */
    }
    atomic_fetch_add_explicit(&in->received, 1, memory_order_relaxed); /* statistic */
    note_depth(in);
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
