/* evcount.c - the futex half of the eventcount. */
#include "evcount.h"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

void bus__evcount_wait(struct evcount *e, uint32_t key)
{
    syscall(SYS_futex, &e->seq, FUTEX_WAIT_PRIVATE, key, NULL, NULL, 0);
    evcount_cancel(e);
}

void bus__evcount_wake(struct evcount *e, int count)
{
    /* release: a waiter that reads the new value (its key, acquire) also sees
     * what the caller wrote before notifying, e.g. the stop flag at shutdown. */
    atomic_fetch_add_explicit(&e->seq, 1, memory_order_release);
    syscall(SYS_futex, &e->seq, FUTEX_WAKE_PRIVATE, count, NULL, NULL, 0);
}
