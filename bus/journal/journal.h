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

struct journal {
    /* Appends and the segment list (journal_lock()). */
    pthread_mutex_t lock;
    struct segment **segs; /* oldest first; the last one is appended to */
    uint32_t nsegs, segs_cap;
    uint64_t next_seq;     /* the seq of the next record */
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
    /* The interval syncer (sync.c). */
    pthread_t syncer;
    bool syncer_running, syncer_stop; /* under sync_lock */
    pthread_cond_t syncer_wake;
    /* Counters (bus_journal_stats_t): relaxed, statistics. */
    _Atomic uint64_t syncs, sync_ns, deleted_segments;
    uint64_t torn_bytes, recovery_ns;
    uint64_t damaged_events; /* lost to damage a salvage open stepped over */
    /* Read-only after journal_open. */
    bus_journal_config_t cfg;
    char *dir;
    int dirfd;
};

/* Opens (creating if missing) and recovers the journal in cfg->dir: 0, or
 * -errno with bus__fail's reason (-EBADMSG names the segment and offset). */
int journal_open(const bus_journal_config_t *cfg, struct journal **out);
/* Stops the syncer, syncs (unless BUS_SYNC_NONE) and closes the files (the
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
 * (nothing written): -ENOSPC (no room for a new segment), -EIO (the sync
 * of the full one failed: sticky), -ENOMEM. */
int64_t journal_fit(struct journal *j, const bus_msg_t *msgs, size_t count);
/* Appends the next record (seq = next_seq) into the room journal_fit gave. */
void journal_put(struct journal *j, uint64_t time_ns, const void *data, size_t size);
/* Makes the records put so far readable and releases the lock. */
void journal_unlock_written(struct journal *j);
/* BUS_SYNC_ALWAYS: returns once @seq is on the disk (0) or a sync failed
 * (the sticky error). Other policies: 0 at once. */
int journal_wait_synced(struct journal *j, uint64_t seq);

/* One fdatasync of everything written so far (sync.c): 0 or the sticky
 * error. */
int journal_sync(struct journal *j);
/* The interval syncer (sync.c). */
int journal_syncer_start(struct journal *j);
void journal_syncer_stop(struct journal *j);

/* Retention (retention.c), under the lock: deletes whole old segments while
 * the journal is over retain_bytes or their newest record is older than
 * retain_ns; never the active one. */
void journal_retain(struct journal *j);

/* The counters of bus_journal_stats_t. */
void journal_stats(struct journal *j, bus_journal_stats_t *out);

#endif
