/* sync.c - fdatasync of a journal: group commit for BUS_SYNC_ALWAYS, and
 * the one sync the keeper (BUS_SYNC_INTERVAL) and the close call.
 *
 * Group commit: the publishers that wait for their seq take turns to sync.
 * The one whose turn it is reads how far the journal is written, syncs the
 * active segment and those sealed since the last sync (and the directory if
 * a segment was created), and marks everything up to there synced; the
 * others waited meanwhile and find their seq covered. So N publishers
 * writing while one sync runs share the next one: the rate is about N per
 * sync time, not 1. */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>

#include "../clock.h"
#include "../lasterr.h"
#include "io.h"
#include "journal.h"

/* What one sync covers, taken under the journal's lock: the segments that
 * may hold unsynced records (referenced), whether the directory must be
 * synced, and the last seq written. */
struct sync_target {
    struct segment **segs;
    uint32_t n;
    bool dir;
    uint64_t upto;
};

static int target_take(struct journal *j, struct sync_target *t)
{
    pthread_mutex_lock(&j->lock);
    uint32_t first = j->nsegs - 1;
    while (j->unsynced_from && first > 0 && j->segs[first - 1]->first_seq >= j->unsynced_from)
        first--;
    t->n = j->nsegs - first;
    t->segs = malloc(t->n * sizeof(*t->segs));
    if (!t->segs) {
        pthread_mutex_unlock(&j->lock);
        return -ENOMEM;
    }
    for (uint32_t i = 0; i < t->n; i++) {
        t->segs[i] = j->segs[first + i];
        segment_ref(t->segs[i]);
    }
    t->dir = j->dir_unsynced;
    j->unsynced_from = 0;
    j->dir_unsynced = false;
    /* relaxed: written under the lock we hold. */
    t->upto = atomic_load_explicit(&j->written, memory_order_relaxed);
    pthread_mutex_unlock(&j->lock);
    return 0;
}

/* Syncs the target's segments, then the directory: 0 or -EIO. */
static int target_sync(struct journal *j, const struct sync_target *t)
{
    int rc = 0;
    for (uint32_t i = 0; i < t->n && rc == 0; i++)
        rc = journal_io_sync(t->segs[i]->fd);
    if (rc == 0 && t->dir)
        rc = journal_io_sync(j->dirfd);
    return rc ? -EIO : 0;
}

static void target_release(struct journal *j, struct sync_target *t)
{
    pthread_mutex_lock(&j->lock);
    for (uint32_t i = 0; i < t->n; i++)
        segment_unref(t->segs[i]);
    pthread_mutex_unlock(&j->lock);
    free(t->segs);
}

/* One sync, sync_lock held on entry and exit, `syncing` set by the caller. */
static int sync_once(struct journal *j)
{
    pthread_mutex_unlock(&j->sync_lock);
    /* The publishers the last sync released are about to write their next
     * events: let them, so this sync covers them too. */
    sched_yield();
    struct sync_target target;
    int rc = target_take(j, &target);
    if (rc) {
        pthread_mutex_lock(&j->sync_lock);
        return rc; /* no memory: nothing synced, the waiters try again */
    }
    uint64_t start = clock_now_ns();
    rc = target_sync(j, &target);
    uint64_t took = clock_now_ns() - start;
    target_release(j, &target);
    uint64_t upto = target.upto;
    /* relaxed: statistics. */
    atomic_fetch_add_explicit(&j->syncs, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&j->sync_ns, took, memory_order_relaxed);
    pthread_mutex_lock(&j->sync_lock);
    if (rc)
        /* relaxed: sticky, read under the locks or after sync_done. */
        atomic_store_explicit(&j->error, -EIO, memory_order_relaxed);
    /* relaxed load: only syncers (one at a time, sync_lock) store it. */
    else if (upto > atomic_load_explicit(&j->synced, memory_order_relaxed))
        /* release: pairs with journal_visible's acquire. */
        atomic_store_explicit(&j->synced, upto, memory_order_release);
    return rc;
}

/* Waits under sync_lock until @seq is synced or a sync failed, syncing
 * itself when nobody else is. */
static int sync_upto(struct journal *j, uint64_t seq)
{
    int rc = 0;
    pthread_mutex_lock(&j->sync_lock);
    /* relaxed: sync_lock orders them. */
    while (atomic_load_explicit(&j->synced, memory_order_relaxed) < seq &&
           !(rc = atomic_load_explicit(&j->error, memory_order_relaxed))) {
        if (j->syncing) {
            pthread_cond_wait(&j->sync_done, &j->sync_lock);
            continue;
        }
        j->syncing = true;
        sync_once(j);
        j->syncing = false;
        pthread_cond_broadcast(&j->sync_done);
    }
    pthread_mutex_unlock(&j->sync_lock);
    if (rc == 0 && j->cfg.sync == BUS_SYNC_ALWAYS)
        evcount_notify(&j->progress, INT32_MAX); /* synced: now visible */
    return rc ? bus__fail(rc, "bus_publish: the journal's fdatasync failed; it takes no "
                              "more events until reopened")
              : 0;
}

int journal_wait_synced(struct journal *j, uint64_t seq)
{
    return j->cfg.sync == BUS_SYNC_ALWAYS ? sync_upto(j, seq) : 0;
}

int journal_sync(struct journal *j)
{
    /* acquire: as journal_visible. */
    return sync_upto(j, atomic_load_explicit(&j->written, memory_order_acquire));
}
