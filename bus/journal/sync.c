/* sync.c - fdatasync of a journal: group commit for BUS_SYNC_ALWAYS, the
 * interval syncer for BUS_SYNC_INTERVAL.
 *
 * Group commit: the publishers that wait for their seq take turns to sync.
 * The one whose turn it is reads how far the journal is written, syncs the
 * active segment (earlier segments were synced when they were sealed), and
 * marks everything up to there synced; the others waited meanwhile and find
 * their seq covered. So N publishers writing while one sync runs share the
 * next one: the rate is about N per sync time, not 1. */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <time.h>

#include "../clock.h"
#include "../lasterr.h"
#include "io.h"
#include "journal.h"

/* The active segment (referenced) and the last seq written in it or before,
 * read together under the lock. */
static struct segment *sync_target(struct journal *j, uint64_t *upto)
{
    pthread_mutex_lock(&j->lock);
    struct segment *s = j->segs[j->nsegs - 1];
    segment_ref(s);
    /* relaxed: written under the lock we hold. */
    *upto = atomic_load_explicit(&j->written, memory_order_relaxed);
    pthread_mutex_unlock(&j->lock);
    return s;
}

static void release_target(struct journal *j, struct segment *s)
{
    pthread_mutex_lock(&j->lock);
    segment_unref(s);
    pthread_mutex_unlock(&j->lock);
}

/* One sync, sync_lock held on entry and exit, `syncing` set by the caller. */
static int sync_once(struct journal *j)
{
    pthread_mutex_unlock(&j->sync_lock);
    /* The publishers the last sync released are about to write their next
     * events: let them, so this sync covers them too. */
    sched_yield();
    uint64_t upto;
    struct segment *s = sync_target(j, &upto);
    uint64_t start = clock_now_ns();
    int rc = journal_io_sync(s->fd);
    uint64_t took = clock_now_ns() - start;
    release_target(j, s);
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

/* BUS_SYNC_INTERVAL: sync what was written, then sleep an interval; also
 * applies retention by age, which needs no append to come due. */
static void *syncer_main(void *arg)
{
    struct journal *j = arg;
    uint64_t interval = (uint64_t)j->cfg.sync_interval_ms * 1000000u;
    pthread_mutex_lock(&j->sync_lock);
    while (!j->syncer_stop) {
        uint64_t due = clock_deadline_ns(interval);
        struct timespec until = {(time_t)(due / 1000000000u), (long)(due % 1000000000u)};
        while (!j->syncer_stop &&
               pthread_cond_timedwait(&j->syncer_wake, &j->sync_lock, &until) != ETIMEDOUT)
            ;
        pthread_mutex_unlock(&j->sync_lock);
        journal_sync(j);
        pthread_mutex_lock(&j->lock);
        journal_retain(j);
        pthread_mutex_unlock(&j->lock);
        pthread_mutex_lock(&j->sync_lock);
    }
    pthread_mutex_unlock(&j->sync_lock);
    return NULL;
}

int journal_syncer_start(struct journal *j)
{
    int rc = pthread_create(&j->syncer, NULL, syncer_main, j);
    if (rc)
        return -rc;
    pthread_setname_np(j->syncer, "bus-jsync");
    j->syncer_running = true;
    return 0;
}

void journal_syncer_stop(struct journal *j)
{
    if (!j->syncer_running)
        return;
    pthread_mutex_lock(&j->sync_lock);
    j->syncer_stop = true;
    pthread_cond_signal(&j->syncer_wake);
    pthread_mutex_unlock(&j->sync_lock);
    pthread_join(j->syncer, NULL);
    j->syncer_running = false;
}
