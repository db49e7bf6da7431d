/* recover.c - reopening a journal: list its segments, check every record,
 * cut a torn tail, refuse damage before the end (docs/design.md, "Recovery").
 *
 * Bad bytes at offset X of a segment (a record cut short, a wrong CRC, a
 * seq out of turn) are a torn tail when nothing valid follows them in the
 * journal: a crash cut the last write. They are damage when a valid record
 * follows in the same segment, or when they end a segment whose successor
 * does not carry on at the next seq: events were lost, and the open fails
 * with -EBADMSG naming the segment and X, changing nothing. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../lasterr.h"
#include "journal.h"
#include "record.h"
#include "recover.h"

static int compare_seq(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The first seqs of the segment files in the directory, sorted. */
static int list_segments(struct journal *j, uint64_t **out, uint32_t *count)
{
    int fd = openat(j->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fd < 0 ? NULL : fdopendir(fd);
    if (!d) {
        if (fd >= 0)
            close(fd);
        return bus__failf(-errno, "bus_topic_open_durable: cannot list %s", j->dir);
    }
    uint64_t *seqs = NULL;
    uint32_t n = 0, cap = 0;
    struct dirent *e;
    int rc = 0;
    while (rc == 0 && (e = readdir(d))) {
        uint64_t seq;
        if (!segment_parse_name(e->d_name, &seq))
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            uint64_t *grown = realloc(seqs, cap * sizeof(*seqs));
            if (!grown)
                rc = -ENOMEM;
            else
                seqs = grown;
        }
        if (rc == 0)
            seqs[n++] = seq;
    }
    closedir(d);
    if (rc) {
        free(seqs);
        return rc;
    }
    if (n)
        qsort(seqs, n, sizeof(*seqs), compare_seq); /* seqs is NULL when empty */
    *out = seqs;
    *count = n;
    return 0;
}

static int damaged(struct journal *j, const struct segment *s, uint64_t off, const char *what)
{
    return bus__failf(-EBADMSG, "bus_topic_open_durable: %s/%s: %s at offset %" PRIu64, j->dir,
                      s->name, what, off);
}

/* The last segment: cut what follows its last record (torn bytes, or junk
 * a torn record left after a zero header) and give it its size again. */
static int cut_tail(struct journal *j, struct segment *s, bool torn)
{
    uint64_t keep = s->end, size = s->size;
    if (torn) {
        uint64_t last = size; /* the torn bytes end at the last non-zero one */
        while (last > keep && s->map[last - 1] == 0)
            last--;
        j->torn_bytes = last - keep;
    }
    if (size < j->cfg.segment_bytes)
        size = j->cfg.segment_bytes;
    int rc = keep <= SEGMENT_HEADER ? segment_reinit(s, size) : segment_cut(s, size);
    return rc ? bus__failf(rc, "bus_topic_open_durable: cannot restore %s/%s", j->dir, s->name)
              : 0;
}

/* Salvage: the damaged bytes at s->end become a hole readers skip, the
 * events they held are counted lost, and the scan goes on at the next
 * valid record. */
static int skip_damage(struct journal *j, struct segment *s)
{
    uint64_t to = record_find_next(s->map, s->size, s->end, s->last_seq);
    struct record_header h;
    memcpy(&h, s->map + to, sizeof(h));
    int rc = segment_add_hole(s, s->end, to);
    if (rc)
        return rc;
    j->damaged_events += h.seq - s->last_seq - 1;
    s->end = to;
    s->last_seq = h.seq - 1;
    return 0;
}

/* Scans a segment whose header is valid (or was damaged and salvaged). */
static int scan_segment(struct journal *j, struct segment *s, bool last)
{
    enum scan_result scan;
    int rc = 0;
    while ((scan = segment_scan(s)) == SCAN_CORRUPT && j->cfg.salvage && rc == 0)
        rc = skip_damage(j, s);
    if (rc)
        return rc;
    if (scan == SCAN_CORRUPT)
        return damaged(j, s, s->end, "damaged record");
    if (last)
        return cut_tail(j, s, scan == SCAN_TORN);
    /* Junk after the last record of a sealed segment: harmless if the next
     * segment carries on (checked with it), skipped by readers. */
    return scan == SCAN_TORN ? segment_add_hole(s, s->end, s->size) : 0;
}

/* The segment starting at @first does not start at @expect, the seq after
 * the previous one's last record (0: it is the first, any seq will do). */
static int check_continuity(struct journal *j, uint64_t first, uint64_t expect)
{
    if (!expect || first == expect)
        return 0;
    if (first > expect && j->cfg.salvage) {
        j->damaged_events += first - expect;
        return 0;
    }
    const struct segment *prev = j->segs[j->nsegs - 2];
    return damaged(j, prev, prev->end, first > expect ? "events missing after the record"
                                                      : "overlapping segments");
}

/* Opens and scans the segment starting at @first, the journal's @last
 * one, which must start at @expect (0: the first one, any seq). */
static int recover_segment(struct journal *j, uint64_t first, bool last, uint64_t expect)
{
    char name[32];
    segment_name(name, first);
    struct segment *s;
    int rc = segment_open(j->dirfd, name, first, &s);
    bool bad_header = rc == -EBADMSG;
    if (bad_header && last && (expect == 0 || first == expect) && segment_blank(s)) {
        /* Created by a roll the crash cut short. */
        rc = journal_add_segment(j, s);
        return rc ? rc : cut_tail(j, s, true);
    }
    if (bad_header && j->cfg.salvage && s->size >= SEGMENT_HEADER) {
        /* Its name says where it starts; its records have their own CRCs. */
        s->end = SEGMENT_HEADER;
        rc = 0;
    }
    if (rc == -EBADMSG) {
        segment_unref(s);
        return bus__failf(rc, "bus_topic_open_durable: %s/%s: no valid segment header", j->dir,
                          name);
    }
    if (rc)
        return bus__failf(rc, "bus_topic_open_durable: cannot open %s/%s", j->dir, name);
    if ((rc = journal_add_segment(j, s))) {
        segment_unref(s);
        return rc;
    }
    if ((rc = check_continuity(j, first, expect)))
        return rc;
    if (bad_header && last)
        segment_write_header(s);
    return scan_segment(j, s, last);
}

int journal_recover(struct journal *j)
{
    uint64_t *firsts = NULL;
    uint32_t n = 0;
    int rc = list_segments(j, &firsts, &n);
    if (rc)
        return rc;
    uint64_t expect = 0;
    for (uint32_t i = 0; i < n && rc == 0; i++) {
        rc = recover_segment(j, firsts[i], i + 1 == n, expect);
        if (rc == 0)
            expect = j->segs[j->nsegs - 1]->last_seq + 1;
    }
    free(firsts);
    if (rc)
        return rc;
    if (n == 0) {
        struct segment *s;
        rc = segment_create(j->dirfd, 1, j->cfg.segment_bytes, j->huge, &s);
        if (rc == 0 && (rc = journal_add_segment(j, s)))
            segment_unref(s);
        if (rc)
            return bus__failf(rc, "bus_topic_open_durable: cannot create a segment in %s",
                              j->dir);
    }
    return 0;
}
