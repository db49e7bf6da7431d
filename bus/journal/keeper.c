/* keeper.c - a journal's own thread ("bus-journal"): the interval sync
 * (BUS_SYNC_INTERVAL), the syncs that publishes with on_durable ask for
 * under BUS_SYNC_ALWAYS (poked: journal_poke_keeper), reporting those
 * publishes (waiters.c), and retention by age (which comes due without
 * appends). Not started under BUS_SYNC_NONE without retention by age.
 *
 * Under BUS_SYNC_INTERVAL it also chooses the active segment's page size
 * (adapt_pages): huge pages while the journal is written fast.
 *
 * It once also warmed the active segment ahead of the appender
 * (MADV_POPULATE_WRITE, so that publishers would not take the page faults
 * of fresh pages): on this 2-core machine the durable 1P/1W/1S rate fell
 * from 3.6-4.9 M/s to 2.5-4.2 M/s with it, the zeroing of pages taking the
 * CPU from the producer and the worker instead of from the fault. Tried
 * again with huge pages (MADV_POPULATE_READ 2 MiB at a time, nothing
 * dirtied): durable/in-memory 25-39% with it, 30-37% without, interleaved;
 * and dropping synced sealed segments from the page cache, so that the
 * next segment reuses their memory instead of fresh memory: 26-42% with
 * it, 49-68% without. */
#include <errno.h>
#include <time.h>

#include "../clock.h"
#include "journal.h"

enum { RETAIN_TICK_MS = 1000 }; /* the keeper's tick without an interval sync */

/* Record bytes per interval tick from which the active segment is mapped
 * with huge pages: a sync then writes at most one 2 MiB page that is not
 * full, at most half as much again as the records (segment.h). */
#define HOT_BYTES (UINT64_C(4) << 20)

/* Under the journal's lock, after an interval sync: huge pages or not for
 * the active segment, by what was written since the last tick. */
static void adapt_pages(struct journal *j)
{
    bool hot = j->put_bytes - j->put_bytes_at_tick >= HOT_BYTES;
    j->put_bytes_at_tick = j->put_bytes;
    if (hot == j->huge)
        return;
    j->huge = hot;
    struct segment *s = j->segs[j->nsegs - 1];
    if (hot)
        segment_advise(s, true);
    else
        segment_shed_huge(s); /* just synced: its last page is clean */
}

/* Waits until @due, a poke (journal_poke_keeper) or the stop. keeper_lock
 * held. */
static void wait_for_work(struct journal *j, uint64_t due)
{
    struct timespec until = {(time_t)(due / 1000000000u), (long)(due % 1000000000u)};
    /* relaxed: a hint to stop waiting; the keeper's exchange decides. */
    while (!j->keeper_stop && !atomic_load_explicit(&j->keeper_poked, memory_order_relaxed) &&
           pthread_cond_timedwait(&j->keeper_wake, &j->keeper_lock, &until) != ETIMEDOUT)
        ;
}

static void *keeper_main(void *arg)
{
    struct journal *j = arg;
    bool interval = j->cfg.sync == BUS_SYNC_INTERVAL;
    uint64_t tick = (uint64_t)(interval ? j->cfg.sync_interval_ms : RETAIN_TICK_MS) * 1000000u;
    uint64_t due = clock_now_ns() + tick;
    pthread_mutex_lock(&j->keeper_lock);
    while (!j->keeper_stop) {
        wait_for_work(j, due);
        pthread_mutex_unlock(&j->keeper_lock);
        /* acq_rel: see journal_poke_keeper. */
        bool poked = atomic_exchange_explicit(&j->keeper_poked, false, memory_order_acq_rel);
        uint64_t now = clock_now_ns();
        bool ticked = now >= due;
        if (ticked)
            due = now + tick;
        if (poked || (ticked && interval)) {
            journal_sync(j);
            journal_report_waiters(j);
        }
        if (ticked) {
            pthread_mutex_lock(&j->lock);
            journal_retain(j);
            if (interval)
                adapt_pages(j);
            pthread_mutex_unlock(&j->lock);
        }
        pthread_mutex_lock(&j->keeper_lock);
    }
    pthread_mutex_unlock(&j->keeper_lock);
    return NULL;
}

int journal_keeper_start(struct journal *j)
{
    if (j->cfg.sync == BUS_SYNC_NONE && !j->cfg.retain_ns)
        return 0; /* nothing to do (on_durable needs a sync policy) */
    int rc = pthread_create(&j->keeper, NULL, keeper_main, j);
    if (rc)
        return -rc;
    pthread_setname_np(j->keeper, "bus-journal");
    j->keeper_running = true;
    return 0;
}

void journal_keeper_stop(struct journal *j)
{
    if (!j->keeper_running)
        return;
    pthread_mutex_lock(&j->keeper_lock);
    j->keeper_stop = true;
    pthread_cond_signal(&j->keeper_wake);
    pthread_mutex_unlock(&j->keeper_lock);
    pthread_join(j->keeper, NULL);
    j->keeper_running = false;
}
