/* evcount.c - the futex half of the eventcount. */
#include "evcount.h"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

void bus__evcount_wait(struct evcount *e, uint32_t key)
{
    bus__evcount_wait_until(e, key, UINT64_MAX);
}

void bus__evcount_wait_until(struct evcount *e, uint32_t key, uint64_t deadline_ns)
{
    struct timespec until = {(time_t)(deadline_ns / 1000000000u),
                             (long)(deadline_ns % 1000000000u)};
    /* FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC deadline (plain
     * FUTEX_WAIT a relative one); FUTEX_WAKE wakes it like any waiter. */
    syscall(SYS_futex, &e->seq, FUTEX_WAIT_BITSET_PRIVATE, key,
            deadline_ns == UINT64_MAX ? NULL : &until, NULL, FUTEX_BITSET_MATCH_ANY);
    evcount_cancel(e);
}

void bus__evcount_wake(struct evcount *e, int count)
{
    /* release: a waiter that reads the new value (its key, acquire) also sees
     * what the caller wrote before notifying, e.g. the stop flag at shutdown. */
    atomic_fetch_add_explicit(&e->seq, 1, memory_order_release);
    syscall(SYS_futex, &e->seq, FUTEX_WAKE_PRIVATE, count, NULL, NULL, 0);
}
