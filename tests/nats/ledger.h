/* ledger.h - counts shared by the test and its peer processes: a file
 * mapped by all, one region per counting peer (or one shared by a queue
 * group), with the times each event seq was seen and their total. The
 * total is a futex: the test sleeps on it until enough events arrived. */
#ifndef BUS_TEST_NATS_LEDGER_H
#define BUS_TEST_NATS_LEDGER_H

#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

enum { LEDGER_SEQS = 1 << 15, LEDGER_REGIONS = 4 };

struct ledger_region {
    _Atomic uint32_t total; /* a futex word */
    _Atomic uint32_t seen[LEDGER_SEQS];
};

struct ledger {
    struct ledger_region region[LEDGER_REGIONS];
};

/* Maps the ledger file @path (created zeroed when @create). */
static inline struct ledger *ledger_map(const char *path, bool create)
{
    int fd = open(path, create ? O_RDWR | O_CREAT | O_TRUNC : O_RDWR, 0600);
    if (fd < 0)
        return NULL;
    if (create && ftruncate(fd, sizeof(struct ledger))) {
        close(fd);
        return NULL;
    }
    void *p = mmap(NULL, sizeof(struct ledger), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    return p == MAP_FAILED ? NULL : p;
}

/* A peer saw event @seq. */
static inline void ledger_see(struct ledger_region *r, uint32_t seq)
{
    /* relaxed: the counts are read after the total (seq_cst below)
     * orders them. */
    if (seq < LEDGER_SEQS)
        atomic_fetch_add_explicit(&r->seen[seq], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&r->total, 1, memory_order_seq_cst);
    syscall(SYS_futex, &r->total, FUTEX_WAKE, INT32_MAX, NULL, NULL, 0);
}

/* Waits until the region's total reaches @n (true) or @timeout_ms passes. */
static inline bool ledger_wait(struct ledger_region *r, uint32_t n, int timeout_ms)
{
    struct timespec end, now;
    clock_gettime(CLOCK_MONOTONIC, &end);
    end.tv_sec += timeout_ms / 1000;
    end.tv_nsec += (timeout_ms % 1000) * 1000000L;
    for (;;) {
        uint32_t t = atomic_load_explicit(&r->total, memory_order_seq_cst);
        if (t >= n)
            return true;
        clock_gettime(CLOCK_MONOTONIC, &now);
        int64_t left = (end.tv_sec - now.tv_sec) * 1000000000L + end.tv_nsec - now.tv_nsec;
        if (left <= 0)
            return false;
        struct timespec ts = {.tv_sec = left / 1000000000L, .tv_nsec = left % 1000000000L};
        syscall(SYS_futex, &r->total, FUTEX_WAIT, t, &ts, NULL, 0);
    }
}

#endif
