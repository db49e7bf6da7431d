/* journal.c - opening, appending to and closing a journal (journal.h). */
#include "journal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../clock.h"
#include "../lasterr.h"
#include "io.h"
#include "record.h"
#include "recover.h"

void bus_journal_config_init(bus_journal_config_t *cfg)
{
    if (!cfg)
        return;
    memset(cfg, 0, sizeof(*cfg));
    cfg->sync = BUS_SYNC_INTERVAL;
    cfg->sync_interval_ms = 100;
    cfg->segment_bytes = UINT64_C(64) << 20;
}

/* mkdir -p: the directory and any missing parent. */
static int make_dirs(char *path)
{
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        int rc = mkdir(path, 0755) && errno != EEXIST ? -errno : 0;
        *p = '/';
        if (rc)
            return rc;
    }
    return mkdir(path, 0755) && errno != EEXIST ? -errno : 0;
}

static int open_dir(struct journal *j)
{
    int rc = make_dirs(j->dir);
    if (rc)
        return bus__failf(rc, "bus_topic_open_durable: cannot create %s", j->dir);
    j->dirfd = open(j->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (j->dirfd < 0)
        return bus__failf(-errno, "bus_topic_open_durable: cannot open %s", j->dir);
    /* One open journal per directory, across processes too. */
    if (flock(j->dirfd, LOCK_EX | LOCK_NB))
        return bus__failf(errno == EWOULDBLOCK ? -EBUSY : -errno,
                          "bus_topic_open_durable: %s is open elsewhere", j->dir);
    return 0;
}

static struct segment *active(const struct journal *j)
{
    return j->segs[j->nsegs - 1];
}

int journal_add_segment(struct journal *j, struct segment *s)
{
    if (j->nsegs == j->segs_cap) {
        uint32_t cap = j->segs_cap ? j->segs_cap * 2 : 16;
        struct segment **grown = realloc(j->segs, cap * sizeof(*grown));
        if (!grown)
            return -ENOMEM;
        j->segs = grown;
        j->segs_cap = cap;
    }
    j->segs[j->nsegs++] = s;
    return 0;
}

/* The files: unmapped and closed, the flock dropped. */
static void release_files(struct journal *j)
{
    for (uint32_t i = 0; i < j->nsegs; i++)
        segment_unref(j->segs[i]);
    j->nsegs = 0;
    if (j->dirfd >= 0)
        close(j->dirfd);
    j->dirfd = -1;
}

static void free_journal(struct journal *j)
{
    release_files(j);
    free(j->segs);
    free(j->waiters);
    pthread_mutex_destroy(&j->lock);
    pthread_mutex_destroy(&j->sync_lock);
    pthread_cond_destroy(&j->sync_done);
    pthread_cond_destroy(&j->keeper_wake);
    pthread_mutex_destroy(&j->keeper_lock);
    free(j->dir);
    free(j);
}

int journal_open(const bus_journal_config_t *cfg, struct journal **out)
{
    uint64_t start = clock_now_ns();
    struct journal *j = calloc(1, sizeof(*j));
    if (!j)
        return -ENOMEM;
    j->cfg = *cfg;
    j->dirfd = -1;
    pthread_mutex_init(&j->lock, NULL);
    pthread_mutex_init(&j->sync_lock, NULL);
    pthread_cond_init(&j->sync_done, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_mutex_init(&j->keeper_lock, NULL);
    pthread_cond_init(&j->keeper_wake, &attr);
    pthread_condattr_destroy(&attr);
    struct timespec wall;
    clock_gettime(CLOCK_REALTIME, &wall);
    j->wall_offset = (uint64_t)wall.tv_sec * 1000000000u + (uint64_t)wall.tv_nsec -
                     clock_now_ns();
    j->dir = strdup(cfg->dir);
    j->cfg.dir = j->dir;
    j->huge = cfg->sync != BUS_SYNC_ALWAYS;
    int rc = j->dir ? open_dir(j) : -ENOMEM;
    if (rc == 0)
        rc = journal_recover(j);
    if (rc == 0) {
        segment_advise(active(j), j->huge); /* recovered, or new: again */
        j->next_seq = active(j)->last_seq + 1;
        /* relaxed: not shared yet. */
        atomic_store_explicit(&j->written, j->next_seq - 1, memory_order_relaxed);
        atomic_store_explicit(&j->synced, j->next_seq - 1, memory_order_relaxed);
        journal_retain(j);
        rc = journal_keeper_start(j);
    }
    if (rc) {
        free_journal(j);
        return rc;
    }
    j->recovery_ns = clock_now_ns() - start;
    *out = j;
    return 0;
}

void journal_shut(struct journal *j)
{
    journal_keeper_stop(j);
    if (j->cfg.sync != BUS_SYNC_NONE) {
        journal_sync(j);
        journal_report_waiters(j); /* the keeper is gone: the last ones */
    }
    pthread_mutex_lock(&j->lock);
    /* relaxed: read under the lock. A late append fails with it. */
    if (!atomic_load_explicit(&j->error, memory_order_relaxed))
        atomic_store_explicit(&j->error, -EPIPE, memory_order_relaxed);
    release_files(j);
    pthread_mutex_unlock(&j->lock);
}

void journal_close(struct journal *j)
{
    journal_shut(j);
    free_journal(j);
}

uint64_t journal_visible(struct journal *j)
{
    /* acquire: pairs with the release stores of written (below) and synced
     * (sync.c): the records up to the seq are in the mapping. */
    return atomic_load_explicit(j->cfg.sync == BUS_SYNC_ALWAYS ? &j->synced : &j->written,
                                memory_order_acquire);
}

int journal_lock(struct journal *j)
{
    pthread_mutex_lock(&j->lock);
    /* relaxed: a sticky flag; the lock orders what matters. */
    int rc = atomic_load_explicit(&j->error, memory_order_relaxed);
    if (rc)
        pthread_mutex_unlock(&j->lock);
    return rc;
}

void journal_unlock(struct journal *j)
{
    pthread_mutex_unlock(&j->lock);
}

/* Seals the active segment and starts the next one, of at least @need
 * bytes. The sealed segment and the directory entry of the new one are
 * synced by the next sync (sync.c), not here: a roll does not hold the
 * lock for an fdatasync of a whole segment. */
static int roll(struct journal *j, uint64_t need)
{
    uint64_t size = j->cfg.segment_bytes > need ? j->cfg.segment_bytes : need;
    uint64_t sealed = active(j)->first_seq;
    struct segment *s;
    int rc = segment_create(j->dirfd, j->next_seq, size, j->huge, &s);
    if (rc == 0 && (rc = journal_add_segment(j, s)))
        segment_unref(s);
    if (rc)
        return rc == -ENOSPC ? bus__fail(rc, "bus_publish: no room on the disk for a new "
                                             "journal segment")
                             : rc;
    if (!j->unsynced_from)
        j->unsynced_from = sealed;
    j->dir_unsynced = true;
    journal_retain(j);
    return 0;
}

int64_t journal_fit(struct journal *j, const bus_msg_t *msgs, size_t count)
{
    uint64_t room = segment_room(active(j)), need = record_frame(msgs[0].size);
    if (need > room) {
        int rc = roll(j, SEGMENT_HEADER + need);
        if (rc)
            return rc;
        room = segment_room(active(j));
    }
    size_t n = 0;
    for (; n < count && (need = record_frame(msgs[n].size)) <= room; n++)
        room -= need;
    return (int64_t)n;
}

void journal_put(struct journal *j, uint64_t time_ns, const void *data, size_t size)
{
    segment_append(active(j), j->next_seq++, time_ns, data, (uint32_t)size);
    j->put_bytes += record_frame(size);
}

void journal_unlock_written(struct journal *j)
{
    /* release: the records' bytes happen before a reader's acquire load. */
    atomic_store_explicit(&j->written, j->next_seq - 1, memory_order_release);
    pthread_mutex_unlock(&j->lock);
}

void journal_stats(struct journal *j, bus_journal_stats_t *out)
{
    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&j->lock);
    out->first_seq = j->nsegs ? j->segs[0]->first_seq : j->next_seq;
    out->last_seq = j->next_seq - 1;
    out->segments = j->nsegs;
    for (uint32_t i = 0; i < j->nsegs; i++)
        out->bytes += j->segs[i]->size;
    pthread_mutex_unlock(&j->lock);
    /* relaxed: statistics. */
    out->synced_seq = atomic_load_explicit(&j->synced, memory_order_relaxed);
    out->syncs = atomic_load_explicit(&j->syncs, memory_order_relaxed);
    out->sync_ns = atomic_load_explicit(&j->sync_ns, memory_order_relaxed);
    out->deleted_segments = atomic_load_explicit(&j->deleted_segments, memory_order_relaxed);
    out->torn_bytes = j->torn_bytes;
    out->damaged = j->damaged_events;
    out->recovery_ns = j->recovery_ns;
}
