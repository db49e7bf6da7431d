/* state.h - an inbox, as its files share it (open.c, put.c, take.c).
 *
 * Workers put copies of events on the queue (put.c); takers pop them
 * (take.c). The eventfd tells a taker's event loop that there are some:
 *
 *  - A taker that finds the queue empty "goes idle": it resets the eventfd
 *    (read), sets `idle`, then looks at the queue once more (quiesce() in
 *    take.c). It skips the reset when `idle` is still set from its last
 *    visit: no worker has written since.
 *  - A worker, after its push, looks at `idle`; only if it is set does it
 *    clear it (exchange, so one worker of several) and write the eventfd.
 *    While the taker is busy, `idle` stays clear and workers make no
 *    syscall.
 * The race: the taker finds the queue empty just before a worker pushes.
 * Both sides put a seq_cst fence between their write (idle, the cell) and
 * their read (the cell, idle), so that at least one sees the other's write
 * (Dekker): either the taker's second look finds the event, or the worker
 * sees `idle` and writes the eventfd after the taker's reset. An event is
 * never in the queue while the descriptor stays unreadable. */
#ifndef BUS_INBOX_STATE_H
#define BUS_INBOX_STATE_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "../evcount.h"
#include "../module/owned.h"
#include "bus/inbox.h"
#include "mpmc.h"
#include "pool.h"

struct bus_inbox {
    struct mpmc queue;
    struct inbox_pool *pool; /* the messages' memory (pool.h) */
    /* Set by takers that found the queue empty, cleared by the worker that
     * writes the eventfd (see above). */
    alignas(64) _Atomic bool idle;
    /* BUS_INBOX_BLOCK: workers waiting for room sleep here; takers notify.
     * `overrun`: a wait timed out, so workers drop without waiting until a
     * taker frees a cell. */
    alignas(64) struct evcount room;
    _Atomic bool overrun;
    /* Set by bus_inbox_close: waiting workers give up. */
    _Atomic bool closing;
    /* 0, or why no more events will come: -EPIPE, -ESHUTDOWN. */
    _Atomic int ended;
    _Atomic bool interrupted;
    /* Counters (bus_inbox_stats_t): written by workers (received, dropped,
     * blocked, wakeups, high_water) or takers (taken), read by anyone. */
    alignas(64) _Atomic uint64_t received, dropped, blocked, wakeups;
    _Atomic uint32_t high_water;
    /* A queue position up to which a push cannot make a new high water:
     * a head the workers saw plus the high water then (put.c). */
    _Atomic uint64_t high_water_limit;
    alignas(64) _Atomic uint64_t taken;
    /* Read-only once open. */
    int efd;
    int full;
    uint64_t block_ns;
    struct bus *bus;
    bus_sub_t *sub;
    /* Owned by the module that opened it, if any (module/owned.h). */
    struct bus_owned owned;
};

/* The subscription's handler (put.c): copies @ev into the inbox @ctx. */
int bus__inbox_put(const bus_event_t *ev, void *ctx);

/* Writes the eventfd: a taker's wait returns, the descriptor is readable. */
void bus__inbox_wake(struct bus_inbox *in);

/* Frees the messages left in the queue; returns how many there were. */
uint32_t bus__inbox_drain(struct bus_inbox *in);

#endif
