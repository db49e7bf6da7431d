/* ring.c - allocation, sealing and the parallel consumer side of a ring. */
#include "ring.h"

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* include/bus.h gives the memory cost of a ring with this header size. */
_Static_assert(sizeof(struct ring_slot) == 64, "bus.h documents 64-byte slot headers");

#include "lasterr.h"

static size_t round_up(size_t n, size_t to)
{
    return (n + to - 1) / to * to;
}

/* Zeroed memory for @bytes of ring. BUS_TOPIC_LOCKED: a mapping of its own,
 * so that unlocking it at the end cannot unlock a neighbour sharing a page,
 * locked; otherwise calloc, whose large blocks stay unbacked until used.
 * BUS_TOPIC_PRETOUCH or LOCKED: one write per page now, so the first lap
 * takes no page fault (mlock faults the pages in already, but the
 * sanitizers turn it into a no-op). -ENOMEM, or -EPERM when the lock is
 * refused (RLIMIT_MEMLOCK). */
static int ring_alloc(void **out, size_t bytes, unsigned flags)
{
    unsigned char *p;
    if (flags & BUS_TOPIC_LOCKED) {
        p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
            return -ENOMEM;
        if (mlock(p, bytes) != 0) {
            /* EPERM (limit 0) or ENOMEM (over the limit): both mean the
             * limit is too low; say so with one code. */
            int rc = errno == EPERM || errno == ENOMEM ? -EPERM : -errno;
            munmap(p, bytes);
            return rc;
        }
    } else {
        p = calloc(1, bytes);
        if (!p)
            return -ENOMEM;
    }
    if (flags & (BUS_TOPIC_PRETOUCH | BUS_TOPIC_LOCKED)) {
        size_t page = (size_t)sysconf(_SC_PAGESIZE);
        /* volatile: a store of the zero the memory holds already, which the
         * compiler would drop; the write is what backs the page. */
        for (size_t i = 0; i < bytes; i += page)
            ((volatile unsigned char *)p)[i] = 0;
    }
    *out = p;
    return 0;
}

static void ring_free(void *p, size_t bytes, unsigned flags)
{
    if (flags & BUS_TOPIC_LOCKED)
        munmap(p, bytes); /* unlocks too */
    else
        free(p);
}

int bus__ring_init(struct ring *r, uint32_t capacity, uint32_t max_payload, unsigned flags)
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
    r->alloc_flags = flags & (BUS_TOPIC_PRETOUCH | BUS_TOPIC_LOCKED);
    /* Zeroed, so no slot starts out ready. Aligned by hand: there is no
     * aligned calloc. */
    r->slots_bytes = bytes + RING_CACHELINE;
    int rc = ring_alloc(&r->slots_alloc, r->slots_bytes, r->alloc_flags);
    if (rc)
        return rc;
    r->slots = (unsigned char *)round_up((uintptr_t)r->slots_alloc, RING_CACHELINE);
    if (flags & BUS_TOPIC_PARALLEL) {
        /* Zero never equals a ticket + 1, so no slot starts out "done". */
        rc = ring_alloc((void **)&r->done, capacity * sizeof(*r->done), r->alloc_flags);
        if (rc) {
            ring_free(r->slots_alloc, r->slots_bytes, r->alloc_flags);
            return rc;
        }
    }
    return 0;
}

void bus__ring_fini(struct ring *r)
{
    ring_free(r->slots_alloc, r->slots_bytes, r->alloc_flags);
    if (r->done)
        ring_free(r->done, r->capacity * sizeof(*r->done), r->alloc_flags);
}

void bus__ring_start_at(struct ring *r, uint64_t ticket)
{
    /* relaxed: the ring is not shared yet; the topic's publication orders
     * these stores. Slots start zeroed, and no ticket + 1 is 0, so no slot
     * looks committed. */
    atomic_store_explicit(&r->reserve, ticket, memory_order_relaxed);
    atomic_store_explicit(&r->released_cache, ticket, memory_order_relaxed);
    atomic_store_explicit(&r->released, ticket, memory_order_relaxed);
    atomic_store_explicit(&r->claimed, ticket, memory_order_relaxed);
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
    /* acquire: pairs with the release that moved released to where it is:
     * the reads of the slots below happened before. */
    uint64_t released = atomic_load_explicit(&r->released, memory_order_acquire);
    if (released == first) {
        /* Ours is the oldest outstanding claim (the common case with one
         * worker on the topic): nobody else can move released past `first`,
         * whose done mark only we would write, so free ours at once without
         * marking them. release: our reads of the slots happen before a
         * producer reuses them. */
        released = first + n;
        atomic_store_explicit(&r->released, released, memory_order_release);
    } else {
        for (uint64_t t = first; t < first + n; t++)
            /* release: our reads of the slot happen before whoever sees it
             * done frees it (its acquire load below). */
            atomic_store_explicit(&r->done[t & r->mask], t + 1, memory_order_release);
    }

    /* Advance released over every handled ticket. Whoever completes the
     * oldest outstanding ticket moves released; others stop at the gap.
     * seq_cst fences, here and after a successful CAS: a consumer that marks
     * a ticket done then reads released, and one that moves released then
     * reads the done marks, must not both miss the other's write (Dekker),
     * or a handled ticket would never be freed. */
    atomic_thread_fence(memory_order_seq_cst);
    released = atomic_load_explicit(&r->released, memory_order_acquire);
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
