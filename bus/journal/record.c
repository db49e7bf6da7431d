/* record.c - writing and checking journal records (record.h). */
#include "record.h"

#include <string.h>

#include "crc32c.h"

static uint32_t record_crc(const struct record_header *h, const void *payload)
{
    uint32_t crc = journal_crc32c(0, &h->len, sizeof(h->len));
    crc = journal_crc32c(crc, &h->seq, sizeof(h->seq) + sizeof(h->time_ns));
    return journal_crc32c(crc, payload, h->len);
}

void record_write(unsigned char *dst, uint64_t seq, uint64_t time_ns, const void *data,
                  uint32_t len)
{
    struct record_header h = {.len = len, .seq = seq, .time_ns = time_ns};
    if (len)
        memcpy(dst + RECORD_HEADER, data, len);
    h.crc = record_crc(&h, data);
    memcpy(dst, &h, sizeof(h));
}

static bool all_zero(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return false;
    return true;
}

enum record_state record_check(const unsigned char *base, uint64_t size, uint64_t off,
                               uint64_t seq, struct record_header *out)
{
    if (off == size)
        return RECORD_END;
    if (size - off < RECORD_HEADER)
        return all_zero(base + off, size - off) ? RECORD_END : RECORD_BAD;
    struct record_header h;
    memcpy(&h, base + off, sizeof(h));
    if (h.len == 0 && h.crc == 0 && h.seq == 0 && h.time_ns == 0)
        return RECORD_END;
    if (h.seq != seq || record_frame(h.len) > size - off ||
        record_crc(&h, base + off + RECORD_HEADER) != h.crc)
        return RECORD_BAD;
    *out = h;
    return RECORD_OK;
}

uint64_t record_find_next(const unsigned char *base, uint64_t size, uint64_t from,
                          uint64_t after)
{
    /* A later record's seq is at most one per frame past @after. */
    for (uint64_t off = (from + 8) & ~(uint64_t)7; off + RECORD_HEADER <= size; off += 8) {
        struct record_header h;
        memcpy(&h, base + off, sizeof(h));
        if (h.seq <= after || h.seq - after > (off - from) / RECORD_HEADER + 1)
            continue;
        if (record_check(base, size, off, h.seq, &h) == RECORD_OK)
            return off;
    }
    return 0;
}
