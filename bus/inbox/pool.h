/* pool.h - an inbox's messages and the pool that recycles them.
 *
 * A worker copies each event into a message; the taker's release gives it
 * back. With malloc on one thread and free on another, glibc moves every
 * chunk between the threads' caches and arenas (16% of the samples of
 * throughput-inbox). So messages whose payload and topic name fit in
 * POOL_INLINE bytes are slots of one size that the release pushes onto the
 * pool's free list and the next put pops, both lock-free (the inbox queue's
 * MPMC ring, mpmc.h); a bigger message is malloc'ed to its size and freed on
 * release. The free list holds at most min(capacity, POOL_KEPT_MAX) slots:
 * a release that finds it full frees its slot, a put that finds it empty
 * mallocs one, so an inbox keeps no more memory than it held at its peak,
 * and at most POOL_KEPT_MAX slots once drained.
 *
 * Lifetime: a taken message outlives its inbox (bus_inbox_close() leaves
 * it valid until released), so the pool is its own allocation, freed with
 * its last slot. `refs` counts the inbox and every slot that exists (in the
 * list, queued, taken or on a worker); it changes only when a slot is
 * malloc'ed or freed, not when one is recycled.
 * The close (bus__inbox_pool_close) sets POOL_CLOSED in `state`; a release
 * adds 1 to `state` while it pushes ("pinned"). A release that finds
 * POOL_CLOSED frees its slot instead of pushing it. The close waits until
 * no release is pinned, then frees what the list holds: a release that
 * pinned before the close's mark pushed before the close's drain, one after
 * it sees the mark. The pin also keeps the pool alive while the release
 * touches it after its push. */
#ifndef BUS_INBOX_POOL_H
#define BUS_INBOX_POOL_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "bus/inbox.h"
#include "mpmc.h"

enum {
    /* Payload + topic name + its NUL held in a slot: a 256-byte payload
     * (the default max_payload) with a name of up to 191 bytes. The slot
     * is then 496 bytes, a 512-byte malloc chunk. */
    POOL_INLINE = 448,
    /* The most slots an idle inbox keeps (2 MB). */
    POOL_KEPT_MAX = 4096,
};

struct inbox_pool;

/* One queued event: the public view, its pool, then the payload and the
 * topic's name in the same allocation. */
struct inbox_msg {
    bus_inbox_msg_t pub;
    struct inbox_pool *pool; /* NULL: malloc'ed to its size */
    alignas(16) unsigned char bytes[];
};

struct inbox_pool {
    struct mpmc free; /* slots ready for a put */
    /* Pinned releases, plus POOL_CLOSED (see above). Written by takers. */
    alignas(64) _Atomic uint64_t state;
    /* The inbox and every slot that exists (see above). */
    alignas(64) _Atomic uint64_t refs;
};

/* A pool for an inbox of @capacity events: 0 or -ENOMEM. */
int bus__inbox_pool_new(uint32_t capacity, struct inbox_pool **out);

/* A message with room for @bytes (payload + name + NUL), from the pool when
 * they fit in POOL_INLINE; NULL if malloc failed. Workers only, while the
 * inbox is open. */
struct inbox_msg *bus__inbox_msg_new(struct inbox_pool *p, size_t bytes);

/* Gives @m back to its pool (or frees it). Any thread, at any time until
 * the pool's last slot is gone, even after the inbox's close. */
void bus__inbox_msg_free(struct inbox_msg *m);

/* The inbox's close, once no worker or taker can touch the pool: later
 * releases free their slots; frees the slots kept and drops the inbox's
 * reference (the pool goes with the last slot). */
void bus__inbox_pool_close(struct inbox_pool *p);

#endif
