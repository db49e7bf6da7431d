/* journal.h - a durable topic's journal: segment files in one directory,
 * appended under one lock, synced by policy, read from any seq, trimmed by
 * retention (docs/design.md, "Durable topics"). */
#ifndef BUS_JOURNAL_JOURNAL_H
#define BUS_JOURNAL_JOURNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "bus.h"
#include "bus/journal.h"
#include "../evcount.h"
#include "segment.h"

/* An event published with bus_publish_options_t.on_durable, waiting for a
 * sync that covers it (waiters.c). */
struct journal_waiter {
    uint64_t seq;
    uint64_t ticket; /* its ring slot, committed once synced; NO_TICKET: committed */
    uint64_t depth;  /* the ring's depth at its reservation (for the commit) */
    bus_durable_fn fn;
    void *arg;
};
#define NO_TICKET UINT64_MAX

/* Called by the journal's thread with waiters a sync covered, oldest first:
 * @status 0, or the sync's error. @owner: journal_add_waiter's. */
typedef void (*journal_synced_fn)(void *owner, const struct journal_waiter *w, size_t n,
                                  int status);

struct journal {
    /* Appends and the segment list (journal_lock()). */
    pthread_mutex_t lock;
    struct segment **segs; /* oldest first; the last one is appended to */
    uint32_t nsegs, segs_cap;
    uint64_t next_seq;     /* the seq of the next record */
    /* What the next sync must cover besides the active segment: the
     * segments sealed since the last one (from the one starting at
     * unsynced_from; 0: none), and the directory (a segment was created). */
    uint64_t unsynced_from;
    bool dir_unsynced;
    /* Huge pages for the active segment (segment_advise): not under
     * BUS_SYNC_ALWAYS (each fdatasync would write a whole 2 MiB page);
     * under BUS_SYNC_INTERVAL while a tick of the keeper sees HOT_BYTES
     * written (keeper.c). put_bytes: record bytes appended, ever. */
    bool huge;
    uint64_t put_bytes, put_bytes_at_tick;
    /* The last seq whose record is whole in the mapping (store release after
     * the copy), and the last one known on the disk. */
    _Atomic uint64_t written, synced;
    /* The first error of a sync: every later append and sync fails with it
     * (after a failed fdatasync the kernel may have dropped the dirty pages:
     * retrying could report data synced that is lost). */
    _Atomic int error;
    /* Readers (durable consumers) sleep here for the visible seq to grow. */
    struct evcount progress;
    /* Group commit (sync.c): one fdatasync at a time, the others wait for
     * it and find their seq covered. */
    pthread_mutex_t sync_lock;
    pthread_cond_t sync_done;
    bool syncing;
    /* The keeper thread (keeper.c): interval sync and retention by age.
     * keeper_stop is under keeper_lock. */
    pthread_t keeper;
    pthread_mutex_t keeper_lock;
    pthread_cond_t keeper_wake;
    bool keeper_running, keeper_stop;
    /* Waiters (waiters.c), oldest first, under the lock; the keeper hands
     * them to synced_fn(synced_owner, ...) after each sync. keeper_poked:
     * waiters were added since the keeper last looked (exchanged, so that
     * only the first publisher after a look takes keeper_lock to wake it). */
    struct journal_waiter *waiters;
    size_t nwaiters, waiters_cap;
    journal_synced_fn synced_fn;
    void *synced_owner;
    _Atomic bool keeper_poked;
    /* Counters (bus_journal_stats_t): relaxed, statistics. */
    _Atomic uint64_t syncs, sync_ns, deleted_segments;
    uint64_t torn_bytes, recovery_ns;
    uint64_t damaged_events; /* lost to damage a salvage open stepped over */
    /* Read-only after journal_open. */
    bus_journal_config_t cfg;
    /* CLOCK_REALTIME - CLOCK_MONOTONIC at the open: records' time is the
     * publisher's monotonic stamp plus this (one clock read per publish; a
     * step of the wall clock while open shifts the times, only retention
     * by age reads them). */
    uint64_t wall_offset;
    char *dir;
    int dirfd;
};

/* Opens (creating if missing) and recovers the journal in cfg->dir: 0, or
 * -errno with bus__fail's reason (-EBADMSG names the segment and offset). */
int journal_open(const bus_journal_config_t *cfg, struct journal **out);
/* Stops the keeper, syncs (unless BUS_SYNC_NONE) and closes the files (the
 * directory's flock goes with them); later appends fail with -EPIPE. The
 * struct stays for late callers. Idempotent. */
void journal_shut(struct journal *j);
/* journal_shut(), then frees. */
void journal_close(struct journal *j);

/* Appends @s to the segment list (under the lock once open): 0, -ENOMEM. */
int journal_add_segment(struct journal *j, struct segment *s);

/* The last seq readers may read: written, or under BUS_SYNC_ALWAYS synced
 * (a consumer never acts on an event a power loss could take back). */
uint64_t journal_visible(struct journal *j);

/* Appending, all under journal_lock():
 *   journal_lock; n = journal_fit(...); journal_put() n times with seqs
 *   next_seq...; journal_unlock_written(); then journal_wait_synced(). */
/* Takes the lock: 0, or the sticky error (the lock is not held). */
int journal_lock(struct journal *j);
void journal_unlock(struct journal *j);
/* How many of @count events (@msgs) fit at the end of the active segment,
 * at least 1: a new segment is started if not even the first fits. Errors
 * (nothing written): -ENOSPC (no room for a new segment), -ENOMEM. */
int64_t journal_fit(struct journal *j, const bus_msg_t *msgs, size_t count);
/* Appends the next record (seq = next_seq) into the room journal_fit gave. */
void journal_put(struct journal *j, uint64_t time_ns, const void *data, size_t size);
/* Makes the records put so far readable and releases the lock; then the
 * caller wakes the readers (journal_wake_readers). */
void journal_unlock_written(struct journal *j);
/* Wakes readers sleeping for the visible seq to grow. Call it after a
 * seq_cst fence that follows journal_unlock_written() (a durable publish:
 * ring_commit's), so that it is the notifier's half of the eventcount's
 * pairing (evcount.h) without a fence of its own. Not under
 * BUS_SYNC_ALWAYS, where records become visible when synced (sync.c). */
static inline void journal_wake_readers(struct journal *j)
{
    /* relaxed: ordered by the caller's fence. */
    if (atomic_load_explicit(&j->progress.waiters, memory_order_relaxed) != 0)
        bus__evcount_wake(&j->progress, INT32_MAX);
}
/* BUS_SYNC_ALWAYS: returns once @seq is on the disk (0) or a sync failed
 * (the sticky error). Other policies: 0 at once. */
int journal_wait_synced(struct journal *j, uint64_t seq);

/* One fdatasync of everything written so far (sync.c): 0 or the sticky
 * error. */
int journal_sync(struct journal *j);
/* The keeper thread (keeper.c), when the journal has an interval sync or
 * retention by age: 0 or -errno. */
int journal_keeper_start(struct journal *j);
void journal_keeper_stop(struct journal *j);

/* Waiters (waiters.c). Under the lock, before journal_put: makes room for
 * one more waiter, 0 or -ENOMEM. */
int journal_waiter_room(struct journal *j);
/* Under the lock, after journal_put: the record just put waits for a sync;
 * @fn(@owner, ...) is told when one covers it (the room was made). */
void journal_add_waiter(struct journal *j, uint64_t ticket, uint64_t depth, bus_durable_fn fn,
                        void *arg, journal_synced_fn synced_fn, void *owner);
/* After journal_add_waiter and the lock's release: makes sure the keeper
 * will sync and report. */
void journal_poke_keeper(struct journal *j);
/* The keeper, lock not held: reports the waiters the last sync covered
 * (all of them with the error if a sync failed). */
void journal_report_waiters(struct journal *j);

/* Retention (retention.c), under the lock: deletes whole old segments while
 * the journal is over retain_bytes or their newest record is older than
 * retain_ns; never the active one. */
void journal_retain(struct journal *j);

/* The counters of bus_journal_stats_t. */
void journal_stats(struct journal *j, bus_journal_stats_t *out);

#endif
