/* segment.c - segment files: create, open, scan, cut, append (segment.h). */
#include "segment.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io.h"
#include "record.h"

enum { INDEX_EVERY = 64, HUGE_PAGE = 2 << 20 };

void segment_name(char name[32], uint64_t first_seq)
{
    snprintf(name, 32, "%020" PRIu64 ".seg", first_seq);
}

bool segment_parse_name(const char *name, uint64_t *first_seq)
{
    uint64_t seq = 0;
    int i = 0;
    for (; i < 20; i++) {
        if (name[i] < '0' || name[i] > '9')
            return false;
        seq = seq * 10 + (uint64_t)(name[i] - '0');
    }
    if (strcmp(name + i, ".seg") != 0 || seq == 0)
        return false;
    *first_seq = seq;
    return true;
}

/* Mappings start on a 2 MiB boundary, so that the kernel can map the
 * segment with huge pages (segment_advise). */
static int map(struct segment *s)
{
    size_t span = s->size + HUGE_PAGE;
    unsigned char *area = mmap(NULL, span, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (area == MAP_FAILED)
        return -errno;
    unsigned char *at =
        (unsigned char *)(((uintptr_t)area + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1));
    void *m = mmap(at, s->size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, s->fd, 0);
    if (m == MAP_FAILED) {
        int rc = -errno;
        munmap(area, span);
        return rc;
    }
    /* The reservation's ends around the mapping. */
    if (at > area)
        munmap(area, (size_t)(at - area));
    size_t tail = span - (size_t)(at - area) - s->size;
    if (tail)
        munmap(at + s->size, tail);
    s->map = m;
    return 0;
}

void segment_advise(struct segment *s, bool huge)
{
    /* Advice only: without it (no THP) the mapping works the same. */
    madvise(s->map, s->size, huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
}

void segment_shed_huge(struct segment *s)
{
    segment_advise(s, false);
    uint64_t from = s->end & ~(uint64_t)(HUGE_PAGE - 1);
    uint64_t len = s->size - from < HUGE_PAGE ? s->size - from : HUGE_PAGE;
    /* Unmapped here, the page cache drops the page if it is clean (synced);
     * a dirty one stays as it is. Either way no byte changes: the next
     * access maps the file's data again. */
    madvise(s->map + from, len, MADV_DONTNEED);
    posix_fadvise(s->fd, (off_t)from, (off_t)len, POSIX_FADV_DONTNEED);
}

static void unmap(struct segment *s)
{
    if (s->map)
        munmap(s->map, s->size);
    s->map = NULL;
}

static struct segment *segment_new(uint64_t first_seq)
{
    struct segment *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->first_seq = first_seq;
    s->last_seq = first_seq - 1;
    s->end = SEGMENT_HEADER;
    s->fd = -1;
    s->refs = 1;
    segment_name(s->name, first_seq);
    return s;
}

void segment_write_header(struct segment *s)
{
    memcpy(s->map, SEGMENT_MAGIC, 8);
    memcpy(s->map + 8, &s->first_seq, 8);
}

bool segment_blank(const struct segment *s)
{
    for (uint64_t i = SEGMENT_HEADER; i < s->size; i++)
        if (s->map[i])
            return false;
    return true;
}

int segment_reinit(struct segment *s, uint64_t size)
{
    s->end = 0;
    int rc = segment_cut(s, size);
    if (rc == 0) {
        segment_write_header(s);
        s->end = SEGMENT_HEADER;
    }
    return rc;
}

int segment_create(int dirfd, uint64_t first_seq, uint64_t size, bool huge,
                   struct segment **out)
{
    struct segment *s = segment_new(first_seq);
    if (!s)
        return -ENOMEM;
    s->fd = openat(dirfd, s->name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    int rc = s->fd < 0 ? -errno : journal_io_allocate(s->fd, size);
    s->size = size;
    if (rc == 0)
        rc = map(s);
    if (rc) {
        if (s->fd >= 0) {
            close(s->fd);
            unlinkat(dirfd, s->name, 0);
        }
        free(s);
        return rc;
    }
    segment_advise(s, huge); /* before the header's write maps its page */
    segment_write_header(s);
    *out = s;
    return 0;
}

int segment_open(int dirfd, const char *name, uint64_t first_seq, struct segment **out)
{
    struct segment *s = segment_new(first_seq);
    if (!s)
        return -ENOMEM;
    struct stat st;
    s->fd = openat(dirfd, name, O_RDWR | O_CLOEXEC);
    int rc = s->fd < 0 || fstat(s->fd, &st) ? -errno : 0;
    if (rc == 0) {
        s->size = (uint64_t)st.st_size;
        rc = s->size ? map(s) : 0;
    }
    if (rc) {
        if (s->fd >= 0)
            close(s->fd);
        free(s);
        return rc;
    }
    *out = s;
    if (s->size < SEGMENT_HEADER || memcmp(s->map, SEGMENT_MAGIC, 8) != 0 ||
        memcmp(s->map + 8, &first_seq, 8) != 0) {
        s->end = 0;
        return -EBADMSG;
    }
    return 0;
}

/* Adds every INDEX_EVERY-th record to the index. Without memory the entry
 * is left out: the index only shortens seeks. */
static void index_add(struct segment *s, uint64_t seq, uint64_t off)
{
    if (s->since_index++ % INDEX_EVERY)
        return;
    if (s->nindex == s->index_cap) {
        uint32_t cap = s->index_cap ? s->index_cap * 2 : 64;
        struct index_entry *grown = realloc(s->index, cap * sizeof(*grown));
        if (!grown)
            return;
        s->index = grown;
        s->index_cap = cap;
    }
    s->index[s->nindex++] = (struct index_entry){seq, off};
}

static void advance(struct segment *s, const struct record_header *h, uint64_t off)
{
    s->last_seq = h->seq;
    s->newest_ns = h->time_ns;
    s->end = off + record_frame(h->len);
}

enum scan_result segment_scan(struct segment *s)
{
    for (;;) {
        struct record_header h;
        uint64_t off = s->end;
        switch (record_check(s->map, s->size, off, s->last_seq + 1, &h)) {
        case RECORD_END:
            return SCAN_CLEAN;
        case RECORD_BAD:
            return record_find_next(s->map, s->size, off, s->last_seq) ? SCAN_CORRUPT
                                                                        : SCAN_TORN;
        case RECORD_OK:
            index_add(s, h.seq, off);
            advance(s, &h, off);
            break;
        }
    }
}

int segment_cut(struct segment *s, uint64_t size)
{
    unmap(s);
    if (ftruncate(s->fd, (off_t)s->end))
        return -errno;
    int rc = journal_io_allocate(s->fd, size);
    if (rc)
        return rc;
    s->size = size;
    return map(s);
}

void segment_append(struct segment *s, uint64_t seq, uint64_t time_ns, const void *data,
                    uint32_t len)
{
    index_add(s, seq, s->end);
    record_write(s->map + s->end, seq, time_ns, data, len);
    struct record_header h = {.len = len, .seq = seq, .time_ns = time_ns};
    advance(s, &h, s->end);
}

uint64_t segment_seek(const struct segment *s, uint64_t seq)
{
    /* The last index entry at or below @seq, then record by record. */
    uint32_t lo = 0, hi = s->nindex;
    while (hi - lo > 1) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (s->index[mid].seq <= seq)
            lo = mid;
        else
            hi = mid;
    }
    uint64_t off = s->nindex ? s->index[lo].off : SEGMENT_HEADER;
    for (;;) {
        off = segment_skip_hole(s, off);
        struct record_header h;
        if (off + RECORD_HEADER > s->size)
            return off;
        memcpy(&h, s->map + off, sizeof(h));
        if (h.seq == 0 || h.seq >= seq)
            return off;
        off += record_frame(h.len);
    }
}

int segment_add_hole(struct segment *s, uint64_t from, uint64_t to)
{
    struct hole *grown = realloc(s->holes, (s->nholes + 1) * sizeof(*grown));
    if (!grown)
        return -ENOMEM;
    s->holes = grown;
    s->holes[s->nholes++] = (struct hole){from, to};
    return 0;
}

void segment_ref(struct segment *s)
{
    s->refs++;
}

void segment_unref(struct segment *s)
{
    if (--s->refs)
        return;
    unmap(s);
    close(s->fd);
    free(s->index);
    free(s->holes);
    free(s);
}
