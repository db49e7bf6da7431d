/* readyq.c - the ready queue's push and pop. */
#include "readyq.h"

#include <errno.h>
#include <sys/mman.h>

#include "backoff.h"

int bus__readyq_init(struct readyq *q, uint32_t capacity)
{
    uint64_t size = 2;
    while (size < capacity)
        size *= 2;
    /* Zeroed cells are free for the first lap (readyq.h). An anonymous
     * mapping is zero pages the kernel backs on first touch, whatever the
     * allocator; calloc also writes them under some (MALLOC_PERTURB_,
     * ThreadSanitizer's). */
    void *cells = mmap(NULL, size * sizeof(*q->cells), PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (cells == MAP_FAILED)
        return -ENOMEM;
    q->cells = cells;
    q->mask = size - 1;
    atomic_init(&q->tail, 0);
    atomic_init(&q->head, 0);
    return 0;
}

void bus__readyq_fini(struct readyq *q)
{
    munmap(q->cells, (q->mask + 1) * sizeof(*q->cells));
}

/* Position @pos's sequence value as its cell stores it (minus the cell's
 * index, readyq.h): the start of pos's lap. */
static inline uint64_t lap(const struct readyq *q, uint64_t pos)
{
    return pos & ~q->mask;
}

void bus__readyq_push(struct readyq *q, struct bus_topic *t)
{
    struct backoff wait = BACKOFF_INIT;
    /* relaxed: the CAS below decides who owns a position. */
    uint64_t pos = atomic_load_explicit(&q->tail, memory_order_relaxed);
    for (;;) {
        struct readyq_cell *cell = &q->cells[pos & q->mask];
        /* acquire: pairs with the consumer's release that freed the cell, so
         * its read of the old entry happens before our write. */
        uint64_t seq = atomic_load_explicit(&cell->seq, memory_order_acquire);
        int64_t lag = (int64_t)(seq - lap(q, pos));
        if (lag == 0) {
            if (atomic_compare_exchange_weak_explicit(&q->tail, &pos, pos + 1,
                                                      memory_order_relaxed,
                                                      memory_order_relaxed)) {
                /* relaxed: published by the release store of seq. */
                atomic_store_explicit(&cell->topic, t, memory_order_relaxed);
                /* release: the entry (and what the pusher did before, such
                 * as committing events) is visible to the consumer that sees
                 * this sequence (its acquire load). */
                atomic_store_explicit(&cell->seq, lap(q, pos) + 1, memory_order_release);
                return;
            }
        } else if (lag < 0) {
            /* The cell still holds last lap's entry, or a consumer that has
             * taken it has not freed it yet: wait, never drop a topic. */
            backoff_wait(&wait);
            pos = atomic_load_explicit(&q->tail, memory_order_relaxed);
        } else {
            /* Another producer took pos: look again (relaxed, as above). */
            pos = atomic_load_explicit(&q->tail, memory_order_relaxed);
        }
    }
}

struct bus_topic *bus__readyq_pop(struct readyq *q)
{
    /* relaxed: the CAS below decides who owns a position. */
    uint64_t pos = atomic_load_explicit(&q->head, memory_order_relaxed);
    for (;;) {
        struct readyq_cell *cell = &q->cells[pos & q->mask];
        /* acquire: pairs with the producer's release of seq (see push). */
        uint64_t seq = atomic_load_explicit(&cell->seq, memory_order_acquire);
        int64_t lag = (int64_t)(seq - (lap(q, pos) + 1));
        if (lag == 0) {
            if (atomic_compare_exchange_weak_explicit(&q->head, &pos, pos + 1,
                                                      memory_order_relaxed,
                                                      memory_order_relaxed)) {
                struct bus_topic *t =
                    atomic_load_explicit(&cell->topic, memory_order_relaxed);
                /* release: our read of the entry happens before a producer
                 * reuses the cell one lap later. */
                atomic_store_explicit(&cell->seq, lap(q, pos) + q->mask + 1,
                                      memory_order_release);
                return t;
            }
        } else if (lag < 0) {
            return NULL; /* empty, or the oldest entry is still being pushed */
        } else {
            pos = atomic_load_explicit(&q->head, memory_order_relaxed);
        }
    }
}
