/* mpmc.c - the inbox queue (mpmc.h). */
#include <errno.h>
#include <stdlib.h>

#include "mpmc.h"

int bus__mpmc_init(struct mpmc *q, uint32_t capacity)
{
    q->cells = malloc((size_t)capacity * sizeof(*q->cells));
    if (!q->cells)
        return -ENOMEM;
    q->capacity = capacity;
    for (uint32_t i = 0; i < capacity; i++) {
        atomic_init(&q->cells[i].seq, 2 * (uint64_t)i);
        q->cells[i].item = NULL;
    }
    atomic_init(&q->tail, 0);
    atomic_init(&q->head, 0);
    return 0;
}

void bus__mpmc_fini(struct mpmc *q)
{
    free(q->cells);
}

bool bus__mpmc_push(struct mpmc *q, void *item, uint64_t *at)
{
    /* relaxed: the position only picks a cell; the cell's seq (acquire)
     * says whether it is ours to fill, the CAS makes it ours alone. */
    uint64_t pos = atomic_load_explicit(&q->tail, memory_order_relaxed);
    for (;;) {
        struct mpmc_cell *cell = &q->cells[pos % q->capacity];
        /* acquire: pairs with the consumer's release below, so its read of
         * the old item happens before our write of the new one. */
        uint64_t seq = atomic_load_explicit(&cell->seq, memory_order_acquire);
        int64_t lap = (int64_t)(seq - 2 * pos);
        if (lap == 0) {
            if (atomic_compare_exchange_weak_explicit(&q->tail, &pos, pos + 1,
                                                      memory_order_relaxed,
                                                      memory_order_relaxed)) {
                cell->item = item;
                /* release: the consumer that sees 2 pos + 1 sees the item. */
                atomic_store_explicit(&cell->seq, 2 * pos + 1, memory_order_release);
                if (at)
                    *at = pos;
                return true;
            }
        } else if (lap < 0) {
            if (at)
                *at = pos;
            return false; /* the cell still holds an item from a lap ago */
        } else {
            pos = atomic_load_explicit(&q->tail, memory_order_relaxed);
        }
    }
}

void *bus__mpmc_pop(struct mpmc *q)
{
    /* relaxed: as in push, the cell's seq decides. */
    uint64_t pos = atomic_load_explicit(&q->head, memory_order_relaxed);
    for (;;) {
        struct mpmc_cell *cell = &q->cells[pos % q->capacity];
        /* acquire: pairs with the producer's release, for the item. */
        uint64_t seq = atomic_load_explicit(&cell->seq, memory_order_acquire);
        int64_t lap = (int64_t)(seq - (2 * pos + 1));
        if (lap == 0) {
            /* seq_cst on success: a producer that found the queue full
             * reads the head seq_cst after announcing that it waits
             * (mpmc_freeing), so either it sees this claim or the
             * consumer's seq_cst load of the waiters after it sees the
             * producer (take.c). A locked instruction on x86 either way.
             * relaxed on failure: we only retry. */
            if (atomic_compare_exchange_weak_explicit(&q->head, &pos, pos + 1,
                                                      memory_order_seq_cst,
                                                      memory_order_relaxed)) {
                void *item = cell->item;
                /* release: our read of the item happens before the producer
                 * of the next lap writes the cell. */
                atomic_store_explicit(&cell->seq, 2 * (pos + q->capacity), memory_order_release);
                return item;
            }
        } else if (lap < 0) {
            return NULL; /* not filled yet: empty (or a producer is writing) */
        } else {
            pos = atomic_load_explicit(&q->head, memory_order_relaxed);
        }
    }
}
