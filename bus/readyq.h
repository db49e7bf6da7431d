/* readyq.h - a bounded MPMC queue of topic pointers in which no producer
 * ever waits for another.
 *
 * Each cell carries a sequence number (the design of Dmitry Vyukov's bounded
 * MPMC queue): a producer claims position p with a CAS on `tail` when cell
 * p's sequence says it is free, writes the pointer, then publishes it by
 * setting the sequence to p + 1; a consumer claims position p with a CAS on
 * `head` when the sequence says it is full, and frees the cell for the next
 * lap by setting it to p + size.
 *
 * Unlike Vyukov's, a cell stores its sequence minus its own index, so that
 * the initial state (sequence = index) is all zeroes: the cells are an
 * anonymous mapping, zero pages the kernel backs on first touch, and a queue
 * sized for max_topics = 2^24 costs no memory until positions reach its
 * cells. (Pushes walk the cells in order, lap after lap: a busy queue ends
 * up touching all of them, 16 bytes a cell.) The memory orders are Vyukov's,
 * unchanged: the encoding only shifts the compared values.
 *
 * We used ck_ring's MPMC enqueue here first. It waits, spinning with no
 * yield, until every producer that claimed an earlier slot has committed; on
 * a 2-core machine with more publishing threads than cores a producer
 * preempted inside that window stalled every other one for a time slice
 * (measured: 12.6 -> 0.9 M events/s with 2 producers and 2 workers;
 * tests/stress/repro_ready_queue_convoy). Here a preempted producer only
 * delays its own entry: consumers see the queue as empty up to that cell
 * until it finishes, and its push then wakes a worker as usual. */
#ifndef BUS_READYQ_H
#define BUS_READYQ_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct bus_topic;

struct readyq_cell {
    _Atomic uint64_t seq; /* the sequence minus the cell's index */
    struct bus_topic *_Atomic topic;
};

struct readyq {
    alignas(64) _Atomic uint64_t tail; /* producers */
    alignas(64) _Atomic uint64_t head; /* consumers */
    alignas(64) uint64_t mask;
    struct readyq_cell *cells;
};

/* Room for @capacity entries at once (rounded up to a power of two). Size it
 * for every entry that can be queued at once plus one per consumer: a cell
 * taken by a consumer is free only once that consumer has read it. */
int bus__readyq_init(struct readyq *q, uint32_t capacity);
void bus__readyq_fini(struct readyq *q);

/* Queues @t. With the sizing above a cell is always free or about to be:
 * waits (spin, then yield) for a consumer still reading it, never fails. */
void bus__readyq_push(struct readyq *q, struct bus_topic *t);

/* Returns NULL when empty (or when the oldest entry is still being pushed). */
struct bus_topic *bus__readyq_pop(struct readyq *q);

/* True when no entry is queued (a near snapshot). */
static inline bool readyq_empty(struct readyq *q)
{
    /* relaxed: a hint for idle decisions; push and park order themselves
     * through the eventcount (sched.c). */
    return atomic_load_explicit(&q->head, memory_order_relaxed) ==
           atomic_load_explicit(&q->tail, memory_order_relaxed);
}

#endif
