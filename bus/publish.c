/* publish.c - the producer side: copy an event into its topic's ring. */
#include <string.h>

#include "clock.h"
#include "internal.h"

/* Remembers the largest depth seen. relaxed: a statistic, ordered with
 * nothing; the CAS only keeps the maximum. */
static void note_depth(struct bus_topic *t, uint64_t depth)
{
    uint32_t seen = atomic_load_explicit(&t->high_water, memory_order_relaxed);
    while (depth > seen &&
           !atomic_compare_exchange_weak_explicit(&t->high_water, &seen, (uint32_t)depth,
                                                  memory_order_relaxed,
                                                  memory_order_relaxed))
        ;
}

enum { DROPPED = 1 };

/* A reservation attempt, as a condition bus__topic_await can wait on. */
struct reservation {
    uint64_t ticket, depth;
    int rc;
};

static bool reserved_or_refused(struct bus_topic *t, void *arg)
{
    struct reservation *r = arg;
    r->rc = ring_reserve(&t->ring, &r->ticket, &r->depth);
    return r->rc != -EAGAIN;
}

/* The ring was full: apply the topic's policy. Returns 0 with a ticket,
 * DROPPED, or a negative error. */
static int on_full(struct bus_topic *t, uint64_t *ticket, uint64_t *depth)
{
    switch (t->cfg.full_policy) {
    case BUS_FULL_DROP:
        /* relaxed: a statistic. */
        atomic_fetch_add_explicit(&t->dropped, 1, memory_order_relaxed);
        return DROPPED;
    case BUS_FULL_FAIL:
        return -EAGAIN;
    default:
        /* A handler must not wait: its own worker may be the one that would
         * drain the topic. */
        if (bus__current_worker_bus())
            return -EAGAIN;
        struct reservation r;
        bus__topic_await(t, reserved_or_refused, &r);
        *ticket = r.ticket;
        *depth = r.depth;
        return r.rc;
    }
}

int bus_publish(bus_topic_t *t, const void *data, size_t size)
{
    if (!t || (!data && size))
        return -EINVAL;
    if (size > t->cfg.max_payload)
        return -EMSGSIZE;

    uint64_t now = clock_now_ns();
    uint64_t ticket, depth;
    int rc = ring_reserve(&t->ring, &ticket, &depth);
    if (rc == -EAGAIN)
        rc = on_full(t, &ticket, &depth);
    if (rc)
        return rc == DROPPED ? 0 : rc;

    struct ring_slot *slot = ring_slot(&t->ring, ticket);
    slot->publish_ns = now;
    slot->size = (uint32_t)size;
    if (size)
        memcpy(slot->data, data, size);
    ring_commit(&t->ring, ticket);

    note_depth(t, depth);
    /* seq_cst: see the scheduling protocol in dispatch.c. */
    if (!atomic_load_explicit(&t->scheduled, memory_order_seq_cst))
        bus__topic_schedule(t);
    return 0;
}
