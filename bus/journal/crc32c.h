/* crc32c.h - CRC-32C (Castagnoli), the checksum of journal records, as
 * Kafka's record batches and LevelDB's log use it. */
#ifndef BUS_JOURNAL_CRC32C_H
#define BUS_JOURNAL_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Extends @crc (0 to start) over @len bytes of @buf: crc32c(crc32c(0, a), b)
 * is the CRC of a then b. The SSE4.2 instruction when the CPU has it, else a
 * table. */
uint32_t journal_crc32c(uint32_t crc, const void *buf, size_t len);

/* The table path alone, whatever the CPU (the test compares both). */
uint32_t journal__crc32c_table(uint32_t crc, const void *buf, size_t len);

#endif
