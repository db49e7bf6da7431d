/* publish.c - publishing onto a durable topic: into the journal, then into
 * the ring for live subscribers.
 *
 * Under the journal's lock a publisher finds room in the active segment,
 * reserves ring tickets, and writes the records with the tickets' seqs: only
 * holders of the lock reserve on a durable topic, so journal order is seq
 * order. It fills the slots, releases the lock, waits for the sync its
 * policy asks for, and only then commits the slots: a live subscriber never
 * sees an event its publisher could be told failed. If that sync fails, the
 * slots are committed void (workers skip them) and the publish fails.
 * A publish with on_durable under BUS_SYNC_ALWAYS does not wait: the
 * journal's thread syncs, commits its slot and calls on_durable
 * (report_synced). */
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

/* The journal's thread reports waiters a sync covered (journal.h): under
 * BUS_SYNC_ALWAYS their slots are committed now, void if the sync failed,
 * then their publishers told. */
static void report_synced(void *owner, const struct journal_waiter *w, size_t n, int status)
{
    struct bus_topic *t = owner;
    for (size_t i = 0; i < n; i++) {
        if (w[i].ticket != NO_TICKET) {
            struct reservation r = {.first = w[i].ticket, .depth = w[i].depth};
            if (status)
                ring_slot(&t->ring, r.first)->flags = SLOT_VOID;
            commit(t, &r, 1);
        }
        w[i].fn(w[i].seq, status, w[i].arg);
    }
    /* Durable consumers were woken by the sync (ALWAYS) or the publish. */
}

/* Reserves, under the journal's lock, tickets for up to @count events and
 * journals them: the number taken, 0 when the ring is full (lock released),
 * or a negative error (lock released). @opts->on_durable (one event):
 * the record waits for the keeper's sync (journal_add_waiter). */
static int64_t journal_and_reserve(struct bus_topic *t, struct journal *j, const bus_msg_t *msgs,
                                   size_t count, uint64_t now, const bus_publish_options_t *opts,
                                   struct reservation *r)
{
    int rc = journal_lock(j);
    if (rc)
        return rc == -EPIPE ? rc : bus__fail(rc, "bus_publish: the journal failed earlier");
    bool waits = opts && opts->on_durable;
    int64_t fit = waits && journal_waiter_room(j) ? -ENOMEM : journal_fit(j, msgs, count);
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
    if (waits)
        journal_add_waiter(j, j->cfg.sync == BUS_SYNC_ALWAYS ? r->first : NO_TICKET, r->depth,
                           opts->on_durable, opts->durable_arg, report_synced, t);
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
    if (opts && opts->on_durable && j->cfg.sync == BUS_SYNC_NONE)
        return bus__fail(-EINVAL, "bus_publish_ex: on_durable under BUS_SYNC_NONE");
    uint64_t now = clock_now_ns();
    size_t done = 0;
    int rc = 0;
    while (done < count) {
        struct reservation r = {0};
        int64_t n = journal_and_reserve(t, j, msgs + done, count - done, now, opts, &r);
        if (n == 0) {
            rc = bus__publish_full(t, has_room, NULL);
            if (rc == 1)
                continue;
            if (rc == 0) { /* BUS_FULL_DROP */
                count_dropped(t, count - done);
                if (count == 1)
                    report_drop(t, msgs[0].data, opts);
                if (opts && opts->on_durable) /* one event: nothing was journaled */
                    opts->on_durable(0, -EAGAIN, opts->durable_arg);
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
        /* The seq goes out before a commit publishes the slot: the
         * keeper's commit of a waiting one (journal_add_waiter) once the
         * lock is released, or ours. */
        bool waits = opts && opts->on_durable && j->cfg.sync == BUS_SYNC_ALWAYS;
        uint64_t *seq_out = opts && opts->seq ? opts->seq : NULL;
        if (waits && seq_out)
            *seq_out = r.first + 1;
        journal_unlock_written(j);
        if (waits) {
            journal_poke_keeper(j); /* it commits the slot once synced */
            done = 1;
            break;
        }
        rc = journal_wait_synced(j, r.first + (uint64_t)n);
        if (rc) {
            commit_void(t, &r, (uint64_t)n);
            break;
        }
        if (seq_out)
            *seq_out = r.first + 1;
        commit(t, &r, (uint64_t)n);
        if (j->cfg.sync != BUS_SYNC_ALWAYS)
            journal_wake_readers(j); /* after commit's seq_cst fence */
        done += (size_t)n;
    }
    *accepted = done;
    return done ? 0 : rc;
}
