/* publish.h - the producer side's steps shared by the in-memory path
 * (publish.c) and the durable one (journal/publish.c): filling and
 * committing slots, and the full-ring policy. */
#ifndef BUS_PUBLISH_H
#define BUS_PUBLISH_H

#include <string.h>

#include "internal.h"

/* Remembers the largest depth seen, for tickets [first, end) just committed.
 * @estimate (from the producers' cached consumer position) can only be too
 * high; only when it beats the record is the real position read, so the
 * common case stays off the consumers' cache line. relaxed: a statistic,
 * ordered with nothing; the CAS only keeps the maximum. */
static inline void note_depth(struct bus_topic *t, uint64_t estimate, uint64_t end)
{
    uint32_t seen = atomic_load_explicit(&t->high_water, memory_order_relaxed);
    if (estimate <= seen)
        return;
    uint64_t released = atomic_load_explicit(&t->ring.released, memory_order_relaxed);
    uint64_t depth = released < end ? end - released : 0;
    while (depth > seen &&
           !atomic_compare_exchange_weak_explicit(&t->high_water, &seen, (uint32_t)depth,
                                                  memory_order_relaxed,
                                                  memory_order_relaxed))
        ;
}

static inline void count_dropped(struct bus_topic *t, uint64_t n)
{
    /* relaxed: a statistic. */
    atomic_fetch_add_explicit(&t->dropped, n, memory_order_relaxed);
}

/* A reservation attempt, as a condition bus__topic_await can wait on. */
struct reservation {
    uint64_t want, first, depth;
    int64_t rc; /* ring_reserve's: a count up to 2^31, or an error */
};

/* memcpy for payloads, inlined for the small sizes events usually have:
 * two overlapping fixed-size copies cover any size in (n/2, n], so no call
 * and no loop. */
static inline void copy_payload(unsigned char *dst, const void *src, size_t size)
{
    const unsigned char *s = src;
    if (size > 32) {
        memcpy(dst, src, size);
    } else if (size > 16) {
        memcpy(dst, s, 16);
        memcpy(dst + size - 16, s + size - 16, 16);
    } else if (size >= 8) {
        memcpy(dst, s, 8);
        memcpy(dst + size - 8, s + size - 8, 8);
    } else {
        for (size_t i = 0; i < size; i++)
            dst[i] = s[i];
    }
}

static inline void fill(struct bus_topic *t, uint64_t ticket, uint64_t now, const void *data,
                 size_t size, const bus_publish_options_t *opts)
{
    struct ring_slot *slot = ring_slot(&t->ring, ticket);
    slot_stamp(slot, now);
    slot->size = size;
    slot->flags = 0;
    if (opts) {
        if (opts->on_complete) {
            slot->flags |= SLOT_COMPLETE;
            slot->complete = opts->on_complete;
            slot->complete_arg = opts->arg;
            slot->attempt = opts->attempt ? opts->attempt : 1;
            if (opts->publisher_redelivers)
                slot->flags |= SLOT_PUBLISHER_REDELIVERS;
        }
        if (opts->zero_copy) {
            slot->flags |= SLOT_EXTERNAL;
            slot->external = data;
            return;
        }
    }
    copy_payload(slot->data, data, size);
}

/* Commits [first, first + n) and makes sure a worker will dispatch them. */
__attribute__((always_inline)) static inline void
commit(struct bus_topic *t, const struct reservation *r, uint64_t n)
{
    ring_commit(&t->ring, r->first, n);
    note_depth(t, r->depth, r->first + n);
    bus__watermark_published(t, r->depth);
    /* seq_cst: see the scheduling protocol in dispatch.c. */
    if (!atomic_load_explicit(&t->scheduled, memory_order_seq_cst))
        bus__topic_schedule(t);
}

/* Tells the publisher its event was dropped by a full BUS_FULL_DROP ring. */
static inline void report_drop(struct bus_topic *t, const void *data,
                        const bus_publish_options_t *opts)
{
    if (opts && opts->on_complete) {
        bus_completion_t c = {.topic = t, .status = -EAGAIN, .data = data};
        opts->on_complete(&c, opts->arg);
    }
}

/* The ring was full: apply the topic's policy. With BUS_FULL_BLOCK, waits
 * (helping, from a handler) until @ready(t, arg) holds and returns 1; 0 when
 * the events are to be dropped (BUS_FULL_DROP); or a negative error. */
int bus__publish_full(struct bus_topic *t, bool (*ready)(struct bus_topic *, void *), void *arg);

/* A reservation found the ring sealed: -EPIPE (topic closing) or
 * -ESHUTDOWN. */
int bus__publish_sealed(struct bus_topic *t);

#endif
