/* reader.c - reading a journal from a seq (reader.h). Records up to the
 * visible seq never change, so they are read through the mapping without
 * the lock; the lock is taken only to find a segment and hold it. */
#include "reader.h"

#include <string.h>

#include "journal.h"
#include "record.h"

void journal_reader_init(struct journal_reader *r, struct journal *j, uint64_t seq)
{
    *r = (struct journal_reader){.j = j, .next = seq};
}

void journal_reader_close(struct journal_reader *r)
{
    if (!r->seg)
        return;
    pthread_mutex_lock(&r->j->lock);
    segment_unref(r->seg);
    pthread_mutex_unlock(&r->j->lock);
    r->seg = NULL;
}

/* The segment holding r->next (called when r->next is visible): the last
 * one starting at or below it, or the oldest one if retention deleted it
 * (returns how many events were skipped). */
static uint64_t find_segment(struct journal_reader *r)
{
    struct journal *j = r->j;
    uint64_t skipped = 0;
    pthread_mutex_lock(&j->lock);
    if (r->seg)
        segment_unref(r->seg);
    uint32_t lo = 0, hi = j->nsegs;
    while (hi - lo > 1) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (j->segs[mid]->first_seq <= r->next)
            lo = mid;
        else
            hi = mid;
    }
    struct segment *s = j->segs[lo];
    if (r->next > s->last_seq && lo + 1 < j->nsegs)
        s = j->segs[lo + 1]; /* events lost between segments (salvage) */
    if (r->next < s->first_seq) {
        skipped = s->first_seq - r->next;
        r->next = s->first_seq;
    }
    segment_ref(s);
    r->seg = s;
    r->off = segment_seek(s, r->next);
    pthread_mutex_unlock(&j->lock);
    return skipped;
}

int journal_read(struct journal_reader *r, struct journal_entry *out, uint64_t *skipped)
{
    *skipped = 0;
    if (r->next > journal_visible(r->j))
        return 0;
    if (!r->seg)
        *skipped = find_segment(r);
    struct record_header h;
    for (;;) {
        const struct segment *s = r->seg;
        r->off = segment_skip_hole(s, r->off);
        if (r->off + RECORD_HEADER <= s->size) {
            memcpy(&h, s->map + r->off, sizeof(h));
            if (h.seq == r->next) /* a zero header (seq 0) is no record */
                break;
            if (h.seq > r->next) { /* past a hole: events lost to damage */
                *skipped += h.seq - r->next;
                r->next = h.seq;
                break;
            }
        }
        /* The end of a sealed segment: the record is in a later one. */
        *skipped += find_segment(r);
    }
    out->seq = h.seq;
    out->time_ns = h.time_ns;
    out->data = r->seg->map + r->off + RECORD_HEADER;
    out->size = h.len;
    r->off += record_frame(h.len);
    r->next++;
    return 1;
}
