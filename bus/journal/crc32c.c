/* crc32c.c - CRC-32C: the SSE4.2 crc32 instruction, 8 bytes per step, when
 * the CPU has it (about 20x the table's speed on this machine), else a
 * byte-wise table. Recovery checks every record, so its speed is recovery's. */
#include "crc32c.h"

#include <string.h>

#define POLY 0x82f63b78u /* Castagnoli, reflected */

static uint32_t table[256];

static void table_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? (c >> 1) ^ POLY : c >> 1;
        table[i] = c;
    }
}

static uint32_t crc_table(uint32_t crc, const unsigned char *p, size_t len)
{
    while (len--)
        crc = table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return crc;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) static uint32_t crc_sse42(uint32_t crc, const unsigned char *p,
                                                           size_t len)
{
    uint64_t c = crc;
    for (; len >= 8; p += 8, len -= 8) {
        uint64_t word;
        memcpy(&word, p, 8);
        c = __builtin_ia32_crc32di(c, word);
    }
    crc = (uint32_t)c;
    while (len--)
        crc = __builtin_ia32_crc32qi(crc, *p++);
    return crc;
}
#endif

typedef uint32_t (*crc_fn)(uint32_t, const unsigned char *, size_t);

/* Chosen once, before main (the library's constructor): no lazy init to
 * race on. */
static crc_fn impl = crc_table;

__attribute__((constructor)) static void crc_choose(void)
{
    table_init();
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("sse4.2"))
        impl = crc_sse42;
#endif
}

uint32_t journal_crc32c(uint32_t crc, const void *buf, size_t len)
{
    return ~impl(~crc, buf, len);
}

/* For the test of both paths against each other (test_journal). */
uint32_t journal__crc32c_table(uint32_t crc, const void *buf, size_t len)
{
    return ~crc_table(~crc, buf, len);
}
