/* reader.h - reading a journal in seq order from any seq, while it is
 * appended to and trimmed. */
#ifndef BUS_JOURNAL_READER_H
#define BUS_JOURNAL_READER_H

#include <stddef.h>
#include <stdint.h>

struct journal;
struct segment;

struct journal_reader {
    struct journal *j;
    struct segment *seg; /* referenced while the reader is on it */
    uint64_t off;        /* of record `next` in seg */
    uint64_t next;       /* the seq the next read returns */
};

/* One record, valid until the next read or the reader's close. */
struct journal_entry {
    uint64_t seq, time_ns;
    const void *data;
    size_t size;
};

/* Starts a reader at @seq (at most the journal's next seq). */
void journal_reader_init(struct journal_reader *r, struct journal *j, uint64_t seq);
/* The next record: 1 with @out filled, 0 if none is visible yet. *@skipped
 * receives how many events before it are gone: deleted by retention before
 * the reader got to them, or lost to damage a salvage open stepped over. */
int journal_read(struct journal_reader *r, struct journal_entry *out, uint64_t *skipped);
void journal_reader_close(struct journal_reader *r);

#endif
