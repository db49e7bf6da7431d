/* publish.c - publishing onto a durable topic: into the journal, then into
 * the ring for live subscribers.
 *
 * Under the journal's lock a publisher finds room in the active segment,
 * reserves ring tickets, and writes the records with the tickets' seqs: only
 * holders of the lock reserve on a durable topic, so journal order is seq
 * order. It fills the slots, releases the lock, waits for the sync its
 * policy asks for, and only then commits the slots: a live subscriber never
 * sees an event its publisher could be told failed. If that sync fails, the
 * slots are committed void (workers skip them) and the publish fails. */
#include "../clock.h"
#include "../lasterr.h"
#include "../publish.h"
#include "durable.h"
#include "journal.h"

/* A condition for bus__publish_full: the ring has room (or is sealed:
 * the next reservation says so). */
static bool has_room(struct bus_topic *t, void *unused)
{
    (void)unused;
    /* relaxed: a hint; the reservation under the lock decides. */
    uint64_t pos = atomic_load_explicit(&t->ring.reserve, memory_order_relaxed);
    return (pos & RING_SEALED) || ring_depth(&t->ring) < t->ring.capacity;
}

/* Reserves, under the journal's lock, tickets for up to @count events and
 * journals them: the number taken, 0 when the ring is full (lock released),
 * or a negative error (lock released). */
static int64_t journal_and_reserve(struct bus_topic *t, struct journal *j, const bus_msg_t *msgs,
                                   size_t count, uint64_t now, struct reservation *r)
{
    int rc = journal_lock(j);
    if (rc)
        return rc == -EPIPE ? rc : bus__fail(rc, "bus_publish: the journal failed earlier");
    int64_t fit = journal_fit(j, msgs, count);
    if (fit < 0) {
        journal_unlock(j);
        return fit;
    }
    int64_t n = ring_reserve(&t->ring, (uint64_t)fit, &r->first, &r->depth);
    if (n <= 0) {
        journal_unlock(j);
        return n == -EAGAIN ? 0 : bus__publish_sealed(t);
    }
    /* The ring's monotonic stamp on the wall clock: one clock read. */
    uint64_t wall = now + j->wall_offset;
    for (int64_t i = 0; i < n; i++)
        journal_put(j, wall, msgs[i].data, msgs[i].size);
    return n;
}

/* The sync failed: the tickets carry no event. */
static void commit_void(struct bus_topic *t, const struct reservation *r, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++)
        ring_slot(&t->ring, r->first + i)->flags = SLOT_VOID;
    commit(t, r, n);
}

int bus__durable_publish(struct bus_topic *t, const bus_msg_t *msgs, size_t count,
                         const bus_publish_options_t *opts, size_t *accepted)
{
    struct journal *j = t->durable->journal;
    uint64_t now = clock_now_ns();
    size_t done = 0;
    int rc = 0;
    while (done < count) {
        struct reservation r = {0};
        int64_t n = journal_and_reserve(t, j, msgs + done, count - done, now, &r);
        if (n == 0) {
            rc = bus__publish_full(t, has_room, NULL);
            if (rc == 1)
                continue;
            if (rc == 0) { /* BUS_FULL_DROP */
                count_dropped(t, count - done);
                if (count == 1)
                    report_drop(t, msgs[0].data, opts);
            }
            break;
        }
        if (n < 0) {
            rc = (int)n;
            break;
        }
        for (int64_t i = 0; i < n; i++)
            fill(t, r.first + (uint64_t)i, now, msgs[done + (size_t)i].data,
                 msgs[done + (size_t)i].size, opts);
        journal_unlock_written(j);
        rc = journal_wait_synced(j, r.first + (uint64_t)n);
        if (rc) {
            commit_void(t, &r, (uint64_t)n);
            break;
        }
        if (opts && opts->seq) /* a single event; before the commit publishes it */
            *opts->seq = r.first + 1;
        commit(t, &r, (uint64_t)n);
        if (j->cfg.sync != BUS_SYNC_ALWAYS)
            journal_wake_readers(j); /* after commit's seq_cst fence */
        done += (size_t)n;
    }
    *accepted = done;
    return done ? 0 : rc;
}
