/* ring.h - a topic's bounded ring of in-place event slots.
 *
 * Producers take tickets with a CAS on `reserve` (as in ck_ring's MPMC
 * enqueue), write their slot, and mark it ready by storing ticket + 1 in the
 * slot (as in the LMAX Disruptor's multi-producer sequencer). No producer
 * waits for another: a producer preempted between reserve and commit only
 * delays the consumers, which stop at the first slot that is not ready. Why
 * not ck_ring itself (docs/design.md):
 *  - 64-bit tickets, so a ticket is the event's seq and never wraps;
 *  - the ring holds exactly `capacity` events (ck_ring holds size - 1);
 *  - consumers read slots in place and free them afterwards (release), so a
 *    payload is copied once, at publish, and handlers read it in the ring;
 *  - ck_ring's commit spins until every earlier producer has committed, so on
 *    a machine with more threads than cores one preempted producer stalls
 *    all the others; and the head can be sealed so that no ticket is handed
 *    out once the bus shuts down.
 *
 * Ticket t lives in slot t & mask. Indices only grow:
 *   released <= claimed <= reserve (without RING_SEALED)
 * released: slots below are free; claimed: tickets below are taken by a
 * consumer (parallel topics only; ordered topics have one consumer at a time
 * and use released). A ticket is committed once its slot's `ready` is
 * ticket + 1; the slots start zeroed, and no ticket + 1 is zero.
 */
#ifndef BUS_RING_H
#define BUS_RING_H

#include <errno.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "bus.h"

#define RING_SEALED (UINT64_C(1) << 63)
#define RING_CACHELINE 64

enum {
    SLOT_EXTERNAL = 1u << 0, /* zero copy: the payload is at `external` */
    SLOT_COMPLETE = 1u << 1, /* call `complete` once the event is handled */
    /* No event: a durable publish that failed after its reservation (its
     * journal's sync failed); workers skip it and count it dropped. */
    SLOT_VOID = 1u << 2,
    /* With SLOT_COMPLETE: a failed call is neither dead-lettered nor
     * redelivered (bus_publish_options_t.publisher_redelivers). */
    SLOT_PUBLISHER_REDELIVERS = 1u << 3
};

struct ring_slot {
    _Atomic uint64_t ready; /* ticket + 1 once the event is written */
    /* Stored with slot_stamp: see there. */
    uint64_t publish_ns;
    uint64_t size;
    uint32_t flags; /* SLOT_*; the fields below are set only if flagged */
    uint32_t attempt; /* SLOT_COMPLETE: ev->attempt (in flags' padding) */
    const void *external;
    bus_complete_fn complete;
    void *complete_arg;
    alignas(16) unsigned char data[];
};

/* Stamps the slot with its event's publish time. A relaxed atomic store (a
 * plain store on x86 and arm64): bus_topic_metrics() reads the oldest
 * slot's stamp (ring_oldest_stamp) while a producer may reuse that slot;
 * both sides atomic, that is no data race. The consumer's plain read needs
 * nothing: ready and released order it with both stores. The field stays
 * plain for that read (deliver.c); hence the builtins rather than _Atomic. */
static inline void slot_stamp(struct ring_slot *slot, uint64_t ns)
{
    __atomic_store_n(&slot->publish_ns, ns, __ATOMIC_RELAXED);
}

static inline const void *slot_payload(const struct ring_slot *slot)
{
    return (slot->flags & SLOT_EXTERNAL) ? slot->external : slot->data;
}

struct ring {
    alignas(RING_CACHELINE) _Atomic uint64_t reserve; /* written by producers */
    /* A recent value of released, kept on the producers' line so that they
     * read the consumers' line only when the ring looks full. */
    _Atomic uint64_t released_cache;
    alignas(RING_CACHELINE) _Atomic uint64_t released; /* written by consumers */
    alignas(RING_CACHELINE) _Atomic uint64_t claimed;  /* parallel consumers */
    /* Read-only after bus__ring_init. */
    alignas(RING_CACHELINE) uint64_t mask;
    uint64_t capacity;
    size_t stride;
    unsigned char *slots;
    void *slots_alloc; /* what slots was carved from (aligned) */
    size_t slots_bytes; /* its size */
    unsigned alloc_flags; /* BUS_TOPIC_PRETOUCH, BUS_TOPIC_LOCKED */
    /* Parallel topics: done[t & mask] == t + 1 once ticket t is handled. */
    _Atomic uint64_t *done;
};

/* Allocates capacity slots of max_payload bytes, and the done marks of a
 * BUS_TOPIC_PARALLEL ring, touched or locked as @flags (topic flags) ask.
 * -EINVAL if the size overflows, -ENOMEM, -EPERM (BUS_TOPIC_LOCKED refused). */
int bus__ring_init(struct ring *r, uint32_t capacity, uint32_t max_payload, unsigned flags);
void bus__ring_fini(struct ring *r);

/* Starts a new ring's tickets at @ticket (a durable topic's seqs go on
 * from its journal's), before anyone uses it. */
void bus__ring_start_at(struct ring *r, uint64_t ticket);

/* Stops handing out tickets: later reservations fail with -ESHUTDOWN. */
void bus__ring_seal(struct ring *r);

/* Tickets handed out so far: a bound of the events published before the
 * call (a ticket is committed soon after it is handed out). relaxed: a
 * publish that happens before the caller's call is seen by coherence. */
static inline uint64_t ring_handed_out(const struct ring *r)
{
    return atomic_load_explicit(&r->reserve, memory_order_relaxed) & ~RING_SEALED;
}

static inline struct ring_slot *ring_slot(const struct ring *r, uint64_t ticket)
{
    return (struct ring_slot *)(r->slots + (ticket & r->mask) * r->stride);
}

/* Reads the consumers' position and, if it moved past @cached (the
 * producers' cached copy as the caller read it), updates the copy, so that
 * reservations measure the depth against it. */
static inline uint64_t ring_released_refresh(struct ring *r, uint64_t cached)
{
    /* acquire: pairs with the consumers' release of released
     * (ring_release_upto, bus__ring_complete). */
    uint64_t now = atomic_load_explicit(&r->released, memory_order_acquire);
    /* release: passes the acquire above on to other producers (the acquire
     * load of the cache in ring_reserve). A racing producer may store an
     * older value: still a position the consumers have passed. */
    if (now != cached)
        atomic_store_explicit(&r->released_cache, now, memory_order_release);
    return now;
}

/* Takes up to @want consecutive tickets (at least 1) with one CAS. Returns
 * the number taken, with the first ticket and an upper bound of the depth
 * the ring has once they are committed (measured against the producers'
 * cached consumer position, which may lag); -EAGAIN when full; -ESHUTDOWN
 * once sealed. The count goes up to the capacity, 2^31: an int would turn
 * 2^31 into a negative "error" after the tickets were taken. */
static inline int64_t ring_reserve(struct ring *r, uint64_t want, uint64_t *first,
                                   uint64_t *depth)
{
    /* relaxed: the tickets only need to be unique (the CAS gives that); the
     * slots' reuse is ordered through released (below). */
    uint64_t pos = atomic_load_explicit(&r->reserve, memory_order_relaxed);
    /* acquire: pairs with the release store of the cache below (by us or
     * another producer), which follows an acquire load of released: so the
     * consumer's reads of a slot happen before our reuse of it. */
    uint64_t released = atomic_load_explicit(&r->released_cache, memory_order_acquire);
    for (;;) {
        if (pos & RING_SEALED)
            return -ESHUTDOWN;
        if (pos - released >= r->capacity) {
            /* Looks full: read the consumers' real position. */
            uint64_t now = ring_released_refresh(r, released);
            if (now != released) {
                released = now;
                continue;
            }
            /* Full, unless pos was stale (older than released): look again. */
            now = atomic_load_explicit(&r->reserve, memory_order_relaxed);
            if (now == pos)
                return -EAGAIN;
            pos = now;
            continue;
        }
        uint64_t room = r->capacity - (pos - released);
        uint64_t n = want < room ? want : room;
        if (atomic_compare_exchange_weak_explicit(&r->reserve, &pos, pos + n,
                                                  memory_order_relaxed,
                                                  memory_order_relaxed)) {
            *first = pos;
            *depth = pos + n - released;
            return (int64_t)n;
        }
    }
}

/* Marks the slots of tickets [first, first + n), written by the caller,
 * ready for consumers. */
static inline void ring_commit(struct ring *r, uint64_t first, uint64_t n)
{
    for (uint64_t t = first; t < first + n; t++)
        /* release: the slot's contents are visible to a consumer that sees
         * ready (its acquire load). */
        atomic_store_explicit(&ring_slot(r, t)->ready, t + 1, memory_order_release);
    /* seq_cst fence: the publisher then loads the topic's scheduling state,
     * and a worker that went idle stores that state then loads the ready
     * mark of its next ticket (seq_cst, ring_ready). The fence and the
     * worker's seq_cst operations mean one of them sees the other, so an
     * event is never left without a worker (Dekker; dispatch.c). */
    atomic_thread_fence(memory_order_seq_cst);
}

/* True once ticket @ticket is committed. seq_cst: the worker's half of the
 * Dekker pairing in ring_commit; acquire for the slot's contents. */
static inline bool ring_ready(struct ring *r, uint64_t ticket)
{
    return atomic_load_explicit(&ring_slot(r, ticket)->ready, memory_order_seq_cst) ==
           ticket + 1;
}

/* The first ticket from @from that is not committed, looking at no more than
 * @max tickets: [from, result) can be consumed. */
static inline uint64_t ring_ready_upto(struct ring *r, uint64_t from, uint64_t max)
{
    uint64_t t = from;
    /* acquire: pairs with ring_commit's release; the slots are written. */
    while (t - from < max &&
           atomic_load_explicit(&ring_slot(r, t)->ready, memory_order_acquire) == t + 1)
        t++;
    return t;
}

/* Ordered consumers: the one consumer frees every ticket below @upto.
 * release: our reads of those slots happen before a producer reuses them. */
static inline void ring_release_upto(struct ring *r, uint64_t upto)
{
    atomic_store_explicit(&r->released, upto, memory_order_release);
}

/* Parallel consumers: claims up to @max committed tickets starting at *first.
 * Returns how many (0 when there is nothing to claim). */
uint64_t bus__ring_claim(struct ring *r, uint64_t max, uint64_t *first);

/* Parallel consumers: marks [first, first + n) handled and frees every slot
 * that is handled with all earlier ones. */
void bus__ring_complete(struct ring *r, uint64_t first, uint64_t n);

/* Events in the ring now: handed out (reserved, being written or handled
 * included) and not yet freed. acquire on released keeps the load of
 * reserve after it, and reserve >= released at all times, so it never
 * underflows. */
static inline uint64_t ring_depth(const struct ring *r)
{
    uint64_t released = atomic_load_explicit(&r->released, memory_order_acquire);
    return ring_handed_out(r) - released;
}

/* The publish time of the oldest event in the ring, or 0 when the ring is
 * empty or that event is still being written. Read while events flow: if
 * its slot is freed and reused meanwhile, the stamp may be a younger
 * event's, never a torn one. */
static inline uint64_t ring_oldest_stamp(const struct ring *r)
{
    /* acquire: pairs with the consumers' release; the ticket is handed out. */
    uint64_t oldest = atomic_load_explicit(&r->released, memory_order_acquire);
    if (ring_handed_out(r) == oldest)
        return 0;
    const struct ring_slot *slot = ring_slot(r, oldest);
    /* acquire: pairs with ring_commit's release; the stamp is written. */
    if (atomic_load_explicit(&slot->ready, memory_order_acquire) != oldest + 1)
        return 0;
    /* relaxed: see slot_stamp. */
    return __atomic_load_n(&slot->publish_ns, __ATOMIC_RELAXED);
}

/* True once every ticket below @upto has been handled and freed.
 * acquire: pairs with the consumers' release of `released`, so what the
 * handlers did happens before the caller goes on (bus_flush). */
static inline bool ring_drained(struct ring *r, uint64_t upto)
{
    return atomic_load_explicit(&r->released, memory_order_acquire) >= upto;
}

#endif
