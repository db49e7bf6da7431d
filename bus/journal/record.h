/* record.h - the framing of one journal record (docs/design.md, "Journal
 * file format").
 *
 * A segment file is a 16-byte header (magic, first seq) followed by records,
 * each 8-byte aligned:
 *
 *   u32 len      payload bytes
 *   u32 crc      CRC-32C of len, seq, time and the payload
 *   u64 seq      the event's seq: consecutive within the journal
 *   u64 time_ns  CLOCK_REALTIME at publish (retention by age)
 *   payload, zero-padded to a multiple of 8
 *
 * little endian (the host's: x86-64 and arm64). Segments are preallocated
 * zeros, so the first header that is all zero ends the records: a zero
 * record can never pass its check (the CRC of zeros is not zero). */
#ifndef BUS_JOURNAL_RECORD_H
#define BUS_JOURNAL_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RECORD_HEADER 24u
#define SEGMENT_HEADER 16u
#define SEGMENT_MAGIC "BUSJRNL1"

struct record_header {
    uint32_t len;
    uint32_t crc;
    uint64_t seq;
    uint64_t time_ns;
};

/* Bytes a record of @len payload bytes takes in a segment. */
static inline uint64_t record_frame(uint64_t len)
{
    return RECORD_HEADER + ((len + 7) & ~(uint64_t)7);
}

/* Writes a record at @dst (8-byte aligned, zeros). The header goes last,
 * so a reader of the same memory never sees a header before its payload. */
void record_write(unsigned char *dst, uint64_t seq, uint64_t time_ns, const void *data,
                  uint32_t len);

/* What is at one offset of a segment. */
enum record_state {
    RECORD_OK,   /* a valid record */
    RECORD_END,  /* an all-zero header (or the end of the file): no more records */
    RECORD_BAD   /* anything else: torn or corrupted */
};

/* Checks the record at @off of @base (@size bytes): RECORD_OK with its
 * header in @out when it is whole, its CRC matches and its seq is @seq. */
enum record_state record_check(const unsigned char *base, uint64_t size, uint64_t off,
                               uint64_t seq, struct record_header *out);

/* The offset of the first valid record after @from with a seq above
 * @after, or 0 if there is none: tells a torn tail (nothing valid after the
 * bad bytes) from corruption in the middle. */
uint64_t record_find_next(const unsigned char *base, uint64_t size, uint64_t from,
                          uint64_t after);

#endif
