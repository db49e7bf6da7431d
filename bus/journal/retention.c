/* retention.c - deleting whole old segments by size and age (journal.h).
 * A reader on a deleted segment keeps its mapping (a reference) until it
 * moves on; one behind it finds its next seq gone and is told (reader.c). */
#include <time.h>
#include <unistd.h>

#include "journal.h"

static uint64_t realtime_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static bool over_limit(const struct journal *j, uint64_t bytes, uint64_t now_ns)
{
    const struct segment *oldest = j->segs[0];
    if (j->cfg.retain_bytes && bytes > j->cfg.retain_bytes)
        return true;
    return j->cfg.retain_ns && oldest->newest_ns + j->cfg.retain_ns < now_ns;
}

void journal_retain(struct journal *j)
{
    if (!j->cfg.retain_bytes && !j->cfg.retain_ns)
        return;
    uint64_t bytes = 0, now = realtime_ns();
    for (uint32_t i = 0; i < j->nsegs; i++)
        bytes += j->segs[i]->size;
    uint32_t drop = 0;
    while (j->nsegs - drop > 1 && over_limit(j, bytes, now)) {
        struct segment *s = j->segs[drop++];
        bytes -= s->size;
        unlinkat(j->dirfd, s->name, 0);
        segment_unref(s);
        /* Shift now: over_limit looks at j->segs[0]. */
        for (uint32_t k = 0; k + drop < j->nsegs; k++)
            j->segs[k] = j->segs[k + drop];
        j->nsegs -= drop;
        drop = 0;
        /* relaxed: a statistic. */
        atomic_fetch_add_explicit(&j->deleted_segments, 1, memory_order_relaxed);
    }
}
