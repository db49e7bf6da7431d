/* segment.h - one segment file of a journal: `<first seq, 20 digits>.seg`,
 * preallocated, mapped whole (MAP_SHARED), so that an append is a memcpy
 * into the page cache: in the kernel's hands once the copy is done, it
 * survives the process being killed without a system call.
 *
 * A segment is written only by the journal's appender (under the journal's
 * lock) and only at its end; records below the journal's visible seq never
 * change, so readers read them through the mapping without a lock. */
#ifndef BUS_JOURNAL_SEGMENT_H
#define BUS_JOURNAL_SEGMENT_H

#include <stdbool.h>
#include <stdint.h>

struct index_entry {
    uint64_t seq, off;
};

/* Bytes [from, to) readers skip: damage a salvage open stepped over, or
 * junk after a sealed segment's last record. */
struct hole {
    uint64_t from, to;
};

struct segment {
    uint64_t first_seq; /* from the file's name and header */
    uint64_t last_seq;  /* the last record's; first_seq - 1 while empty */
    uint64_t end;       /* offset after the last record */
    uint64_t size;      /* the file's and the mapping's */
    uint64_t newest_ns; /* the last record's time (retention by age) */
    int fd;
    unsigned char *map;
    /* Sparse index: every INDEX_EVERY-th record's offset, to start a read
     * near a seq. A cache rebuilt by the scan, never stored. */
    struct index_entry *index;
    uint32_t nindex, index_cap;
    uint32_t since_index;
    /* Holes, found by the recovery (rare: usually none). */
    struct hole *holes;
    uint32_t nholes;
    /* The journal's list holds one reference, each reader on it one
     * (under the journal's lock); the last one unmaps and closes it. */
    uint32_t refs;
    char name[32];
};

/* How a scan ended (segment_scan). */
enum scan_result {
    SCAN_CLEAN,  /* at the zeros after the last record */
    SCAN_TORN,   /* at bad bytes with no valid record after them */
    SCAN_CORRUPT /* at bad bytes followed by a valid record */
};

/* The name of the segment starting at @first_seq (32 bytes). */
void segment_name(char name[32], uint64_t first_seq);
/* Parses a segment name: true with its first seq. */
bool segment_parse_name(const char *name, uint64_t *first_seq);

/* Creates the segment file starting at @first_seq, @size bytes, in @dirfd,
 * mapped with huge pages or not (segment_advise): 0, -ENOSPC (no room for
 * it: nothing is left behind), or -errno. */
int segment_create(int dirfd, uint64_t first_seq, uint64_t size, bool huge,
                   struct segment **out);
/* Opens an existing segment and maps it: 0, -EBADMSG (no valid header:
 * *out set all the same, for the caller to report or reinitialise), -errno. */
int segment_open(int dirfd, const char *name, uint64_t first_seq, struct segment **out);
/* Reads every record in order from the header on, checking each, building
 * the index; sets end, last_seq and newest_ns. On SCAN_TORN or
 * SCAN_CORRUPT, end is the offset of the bad bytes. */
enum scan_result segment_scan(struct segment *s);
/* Drops everything from s->end on (ftruncate), then gives the file back
 * its size in zeros, remapped: the torn tail is gone for good. */
int segment_cut(struct segment *s, uint64_t size);
/* True if nothing but zeros follows the header's place: a file whose
 * creation a crash cut short, not a damaged one. */
bool segment_blank(const struct segment *s);
/* Adds a hole (recovery): 0 or -ENOMEM. */
int segment_add_hole(struct segment *s, uint64_t from, uint64_t to);
/* Where to read at @off: past the hole that starts there, if one does. */
static inline uint64_t segment_skip_hole(const struct segment *s, uint64_t off)
{
    for (uint32_t i = 0; i < s->nholes; i++)
        if (s->holes[i].from == off)
            return s->holes[i].to;
    return off;
}
/* Writes the header (magic, first seq) again: a salvaged last segment. */
void segment_write_header(struct segment *s);
/* Rewrites an empty segment's header (a crash while it was created). */
int segment_reinit(struct segment *s, uint64_t size);

/* Huge pages (MADV_HUGEPAGE) for the pages the segment maps from now on,
 * or not. On a VM with shadow paging every 4 KiB page a writer touches
 * first costs microseconds (docs/performance.md, "Durable topics"); a
 * 2 MiB page costs that once. But a write to a clean page dirties all of
 * it: the next fdatasync writes 2 MiB, so only for journals that fill
 * pages faster than they sync them. */
void segment_advise(struct segment *s, bool huge);
/* No more huge pages, and the huge page at the end dropped from the page
 * cache if it is clean (synced): the next writes dirty 4 KiB pages. */
void segment_shed_huge(struct segment *s);

/* Room left at the end. */
static inline uint64_t segment_room(const struct segment *s)
{
    return s->size - s->end;
}
/* Appends one record; the caller checked the room. */
void segment_append(struct segment *s, uint64_t seq, uint64_t time_ns, const void *data,
                    uint32_t len);
/* The offset of the first record at or after seq @seq, holes skipped (the
 * end of the records if there is none). */
uint64_t segment_seek(const struct segment *s, uint64_t seq);

void segment_ref(struct segment *s);
/* Drops a reference; the last one unmaps, closes and frees. */
void segment_unref(struct segment *s);

#endif
