/* position.h - a durable consumer's position file, consumers/<name> in the
 * journal's directory: the first seq it has not acknowledged.
 *
 * Two 16-byte slots {u64 seq, u32 generation, u32 CRC-32C of both}; a store
 * writes the slot the last store did not (pwrite), so a write cut by a
 * crash leaves the other slot whole, and the valid slot of the higher
 * generation wins. A process kill keeps every store that returned (page
 * cache); a power loss may take the file back to an older position: the
 * consumer then gets some events again (at least once), never misses one. */
#ifndef BUS_JOURNAL_POSITION_H
#define BUS_JOURNAL_POSITION_H

#include <stdbool.h>
#include <stdint.h>

struct position {
    int fd;
    uint32_t generation;
};

/* Opens (creating) the file of consumer @name under @dirfd's consumers/:
 * 0 with *@seq its position, or 0 (never stored: a new consumer); or
 * -errno. */
int position_open(int dirfd, const char *name, struct position *p, uint64_t *seq);
/* Stores @seq: 0 or -errno. */
int position_store(struct position *p, uint64_t seq);
/* fdatasync of the file. */
void position_sync(struct position *p);
void position_close(struct position *p);
/* Deletes the file of consumer @name: 0 or -errno (-ENOENT: none). */
int position_remove(int dirfd, const char *name);

#endif
