/* ring.c - allocation, sealing and the parallel consumer side of a ring. */
#include "ring.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lasterr.h"

static size_t round_up(size_t n, size_t to)
{
    return (n + to - 1) / to * to;
}

int bus__ring_init(struct ring *r, uint32_t capacity, uint32_t max_payload, bool parallel)
{
    size_t stride = round_up(sizeof(struct ring_slot) + (size_t)max_payload,
                             alignof(struct ring_slot));
    size_t bytes;
    /* No object may exceed PTRDIFF_MAX bytes: larger is a bad configuration,
     * never a short allocation. */
    if (__builtin_mul_overflow(stride, (size_t)capacity, &bytes) ||
        bytes > PTRDIFF_MAX - RING_CACHELINE)
        return bus__fail(-EINVAL,
                         "bus_topic_open: capacity * slot size is over PTRDIFF_MAX bytes");

    memset(r, 0, sizeof(*r));
    r->mask = capacity - 1;
    r->capacity = capacity;
    r->stride = stride;
    /* Zeroed, so no slot starts out ready; calloc's large blocks come from
     * mmap and stay unbacked until used. Aligned by hand: there is no
     * aligned calloc. */
    r->slots_alloc = calloc(1, bytes + RING_CACHELINE);
    if (!r->slots_alloc)
        return -ENOMEM;
    r->slots = (unsigned char *)round_up((uintptr_t)r->slots_alloc, RING_CACHELINE);
    if (parallel) {
        /* Zero never equals a ticket + 1, so no slot starts out "done". */
        r->done = calloc(capacity, sizeof(*r->done));
        if (!r->done) {
            free(r->slots_alloc);
            return -ENOMEM;
        }
    }
    return 0;
}

void bus__ring_fini(struct ring *r)
{
    free(r->slots_alloc);
    free(r->done);
}

void bus__ring_seal(struct ring *r)
{
    /* seq_cst RMW: every producer CAS on reserve after it fails and sees the
     * seal, so no ticket is handed out once this returns. */
    atomic_fetch_or_explicit(&r->reserve, RING_SEALED, memory_order_seq_cst);
}

uint64_t bus__ring_claim(struct ring *r, uint64_t max, uint64_t *first)
{
    /* relaxed: the CAS below decides; the slots are ordered by the acquire
     * loads of their ready marks. */
    uint64_t start = atomic_load_explicit(&r->claimed, memory_order_relaxed);
    for (;;) {
        uint64_t end = ring_ready_upto(r, start, max);
        if (end == start) {
            /* Nothing committed at start, or start was stale. */
            uint64_t now = atomic_load_explicit(&r->claimed, memory_order_relaxed);
            if (now == start)
                return 0;
            start = now;
            continue;
        }
        if (atomic_compare_exchange_weak_explicit(&r->claimed, &start, end,
                                                  memory_order_relaxed,
                                                  memory_order_relaxed)) {
            *first = start;
            return end - start;
        }
    }
}

void bus__ring_complete(struct ring *r, uint64_t first, uint64_t n)
{
    for (uint64_t t = first; t < first + n; t++)
        /* release: our reads of the slot happen before whoever sees it done
         * frees it (its acquire load below). */
        atomic_store_explicit(&r->done[t & r->mask], t + 1, memory_order_release);

    /* Advance released over every handled ticket. Whoever completes the
     * oldest outstanding ticket moves released; others stop at the gap.
     * seq_cst fences, here and after a successful CAS: a consumer that marks
     * a ticket done then reads released, and one that moves released then
     * reads the done marks, must not both miss the other's write (Dekker),
     * or a handled ticket would never be freed. */
    atomic_thread_fence(memory_order_seq_cst);
    uint64_t released = atomic_load_explicit(&r->released, memory_order_acquire);
    for (;;) {
        uint64_t end = released;
        /* acquire: pairs with the release above (another consumer's reads of
         * that slot end before we free it to producers). */
        while (atomic_load_explicit(&r->done[end & r->mask], memory_order_acquire) ==
               end + 1)
            end++;
        if (end == released)
            return;
        /* release: the slots' reads (ours and, via the acquires above, the
         * other consumers') happen before a producer reuses them. On failure
         * acquire, to rescan from the new value. */
        if (atomic_compare_exchange_strong_explicit(&r->released, &released, end,
                                                    memory_order_release,
                                                    memory_order_acquire)) {
            released = end;
            atomic_thread_fence(memory_order_seq_cst);
        }
    }
}
