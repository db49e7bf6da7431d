/* take.c - the taker's side of an inbox: pop events, wait on the eventfd
 * when there are none, and reset it when the inbox is found empty
 * (state.h has the protocol). */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>

#include "../clock.h"
#include "../internal.h"
#include "state.h"

static struct inbox_msg *pop(struct bus_inbox *in)
{
    struct inbox_msg *m = bus__mpmc_pop(&in->queue);
    if (!m)
        return NULL;
    /* relaxed: a statistic. */
    atomic_fetch_add_explicit(&in->taken, 1, memory_order_relaxed);
    if (in->full == BUS_INBOX_BLOCK) {
        /* relaxed: a hint for workers (put.c). */
        if (atomic_load_explicit(&in->overrun, memory_order_relaxed))
            atomic_store_explicit(&in->overrun, false, memory_order_relaxed);
        /* A worker waiting for room may push now. No fence: our claim
         * was a seq_cst CAS (bus__mpmc_pop), which a worker that found
         * the queue full checks after announcing itself (put.c). */
        evcount_notify_after_rmw(&in->room, 1);
    }
    return m;
}

/* The queue looked empty: go idle (reset the descriptor, set idle), then
 * look once more. Returns an event that second look found, or NULL. */
static struct inbox_msg *quiesce(struct bus_inbox *in)
{
    /* relaxed: an ended inbox's descriptor stays readable for good; the
     * acquire in take_stop ordered what matters. */
    if (atomic_load_explicit(&in->ended, memory_order_relaxed) == 0) {
        eventfd_t ignored;
        eventfd_read(in->efd, &ignored); /* EAGAIN if not readable: fine */
        /* seq_cst, and the fence below: our half of the Dekker pairing
         * with the worker's fence in bus__inbox_put. */
        atomic_store_explicit(&in->idle, true, memory_order_seq_cst);
    }
    atomic_thread_fence(memory_order_seq_cst);
    struct inbox_msg *m = pop(in);
    /* Workers that pushed before our store of idle did not write, and we
     * reset the descriptor: if events are left besides ours, make it
     * readable again (once: the exchange elects one writer), so that a
     * level-triggered loop comes back for them. relaxed: as in put.c. */
    if (m && mpmc_size(&in->queue) > 0 &&
        atomic_exchange_explicit(&in->idle, false, memory_order_relaxed))
        bus__inbox_wake(in);
    return m;
}

/* Why a take with an empty queue returns at once: -EINTR (the interrupt
 * is consumed), -EPIPE or -ESHUTDOWN (ended), or 0. */
static int take_stop(struct bus_inbox *in)
{
    /* relaxed: the exchange only makes one take see each interrupt. */
    if (atomic_load_explicit(&in->interrupted, memory_order_relaxed) &&
        atomic_exchange_explicit(&in->interrupted, false, memory_order_relaxed))
        return -EINTR;
    /* acquire: pairs with the release in inbox_ended (open.c); the last
     * events were queued before it, so the look after this one finds them. */
    return atomic_load_explicit(&in->ended, memory_order_acquire);
}

/* Waits until the descriptor is readable or @deadline_ns. */
static void wait_readable(struct bus_inbox *in, uint64_t deadline_ns)
{
    struct pollfd pfd = {.fd = in->efd, .events = POLLIN};
    struct timespec ts, *limit = NULL;
    if (deadline_ns != CLOCK_NEVER) {
        uint64_t now = clock_now_ns(), left = deadline_ns > now ? deadline_ns - now : 0;
        ts = (struct timespec){.tv_sec = (time_t)(left / 1000000000u),
                               .tv_nsec = (long)(left % 1000000000u)};
        limit = &ts;
    }
    ppoll(&pfd, 1, limit, NULL); /* EINTR (a signal) just means: look again */
}

/* The next event, waiting as bus_inbox_next() says. */
static int take(struct bus_inbox *in, int64_t timeout_ns, struct inbox_msg **out)
{
    uint64_t deadline = timeout_ns < 0 ? CLOCK_NEVER : clock_deadline_ns((uint64_t)timeout_ns);
    for (;;) {
        struct inbox_msg *m = pop(in);
        if (!m) {
            int stop = take_stop(in);
            if (stop == -EINTR)
                return stop;
            m = quiesce(in);
            if (!m && stop)
                return stop;
        }
        if (m) {
            *out = m;
            return 0;
        }
        if (timeout_ns == 0)
            return -EAGAIN;
        if (bus__current_worker_bus())
            return bus__fail(-EDEADLK, "bus_inbox_next: a handler may only poll (timeout 0)");
        if (clock_now_ns() >= deadline)
            return -ETIMEDOUT;
        wait_readable(in, deadline);
    }
}

int bus_inbox_next(bus_inbox_t *inbox, int64_t timeout_ns, bus_inbox_msg_t **msg)
{
    if (!inbox || !msg)
        return bus__fail(-EINVAL, "bus_inbox_next: inbox or msg is NULL");
    struct inbox_msg *m;
    int rc = take(inbox, timeout_ns, &m);
    if (rc == 0)
        *msg = &m->pub;
    return rc;
}

int bus_inbox_next_batch(bus_inbox_t *inbox, int64_t timeout_ns, bus_inbox_msg_t **msgs,
                         size_t max)
{
    if (!inbox || !msgs || max == 0)
        return bus__fail(-EINVAL, "bus_inbox_next_batch: inbox or msgs is NULL, or max is 0");
    if (max > INT32_MAX)
        max = INT32_MAX; /* the count is returned as an int */
    struct inbox_msg *m;
    int rc = take(inbox, timeout_ns, &m);
    if (rc)
        return rc;
    size_t n = 0;
    msgs[n++] = &m->pub;
    while (n < max && (m = pop(inbox)))
        msgs[n++] = &m->pub;
    return (int)n;
}

void bus_inbox_release(bus_inbox_msg_t *msg)
{
    /* The public view is the message's first member. */
    if (msg)
        bus__inbox_msg_free((struct inbox_msg *)msg);
}

int bus_inbox_read(bus_inbox_t *inbox, int64_t timeout_ns, void *buf, size_t cap,
                   bus_inbox_info_t *info)
{
    if (!inbox || !info || (!buf && cap > 0))
        return bus__fail(-EINVAL, "bus_inbox_read: inbox or info is NULL, or buf is NULL "
                                  "with cap > 0");
    struct inbox_msg *m;
    int rc = take(inbox, timeout_ns, &m);
    if (rc)
        return rc;
    const bus_inbox_msg_t *msg = &m->pub;
    size_t copied = msg->size < cap ? msg->size : cap;
    if (copied)
        memcpy(buf, msg->data, copied);
    /* Topic names are at most 255 bytes: the name always fits. */
    snprintf(info->topic, sizeof(info->topic), "%s", msg->topic);
    info->size = msg->size;
    info->truncated = msg->size > cap;
    info->seq = msg->seq;
    info->publish_ns = msg->publish_ns;
    bus__inbox_msg_free(m);
    return 0;
}

int bus_inbox_interrupt(bus_inbox_t *inbox)
{
    if (!inbox)
        return bus__fail(-EINVAL, "bus_inbox_interrupt: inbox is NULL");
    /* relaxed: the eventfd write and the waiter's poll order it. The
     * descriptor stays readable until a take finds the inbox empty. */
    atomic_store_explicit(&inbox->interrupted, true, memory_order_relaxed);
    bus__inbox_wake(inbox);
    return 0;
}

uint32_t bus__inbox_drain(struct bus_inbox *in)
{
    uint32_t n = 0;
    for (struct inbox_msg *m; (m = bus__mpmc_pop(&in->queue)); n++)
        bus__inbox_msg_free(m);
    return n;
}
