/* mpmc.h - a bounded multi-producer multi-consumer queue of pointers that
 * holds exactly `capacity` items (Dmitry Vyukov's bounded MPMC queue: a
 * sequence number per cell says whose turn it is).
 *
 * Why not ck_ring (Concurrency Kit, which we link for the benchmark): an
 * inbox must hold exactly the capacity its user asked for, any number (a
 * ck_ring holds size - 1 of a power of two), and a producer under
 * BUS_INBOX_DROP_OLDEST must take the oldest item itself; ck_ring's MPMC
 * dequeue would allow that, but its enqueue spins until every earlier
 * producer has finished, so a preempted worker would stall the others.
 * Here a producer or consumer that is preempted between its CAS and its
 * cell store only holds up the one cell it claimed.
 *
 * Positions only grow (64 bits never wrap); position p uses cell
 * p % capacity, whose seq says whose turn it is: 2p when it is free for the
 * producer at p, 2p + 1 once that producer filled it; the consumer at p
 * then sets 2(p + capacity), free for the producer one lap later. (Vyukov
 * uses p and p + 1, which cannot tell full from free when the capacity is
 * 1.) Cell c starts with seq 2c. */
#ifndef BUS_INBOX_MPMC_H
#define BUS_INBOX_MPMC_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct mpmc_cell {
    _Atomic uint64_t seq;
    void *item; /* published by seq's release store, read after its acquire */
};

struct mpmc {
    alignas(64) _Atomic uint64_t tail; /* next position to fill */
    alignas(64) _Atomic uint64_t head; /* next position to take */
    alignas(64) uint64_t capacity;
    struct mpmc_cell *cells;
};

/* 0 or -ENOMEM. */
int bus__mpmc_init(struct mpmc *q, uint32_t capacity);
void bus__mpmc_fini(struct mpmc *q);
/* Adds @item at the tail: false if the queue is full. *@at (if not NULL)
 * receives the position it tried last (where it put @item, or the one it
 * found full). */
bool bus__mpmc_push(struct mpmc *q, void *item, uint64_t *at);
/* Takes the item at the head, or NULL if the queue is empty. */
void *bus__mpmc_pop(struct mpmc *q);

/* After a push found position @pos full: whether a consumer has claimed
 * the item in its cell (its store that frees the cell may still be under
 * way), so that a retry will find room. seq_cst: pairs with the consumer's
 * claim (bus__mpmc_pop). */
static inline bool mpmc_freeing(const struct mpmc *q, uint64_t pos)
{
    return atomic_load_explicit(&q->head, memory_order_seq_cst) + q->capacity > pos;
}

/* Items in the queue, near: positions taken by producers and consumers
 * whose cell stores may still be under way. relaxed: a statistic. */
static inline uint64_t mpmc_size(const struct mpmc *q)
{
    uint64_t head = atomic_load_explicit(&q->head, memory_order_relaxed);
    uint64_t tail = atomic_load_explicit(&q->tail, memory_order_relaxed);
    return tail > head ? tail - head : 0;
}

#endif
