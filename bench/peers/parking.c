/* parking.c - spin/yield/futex waiting for the polling peers. */
#include "parking.h"

#include <limits.h>
#include <linux/futex.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../harness.h"

enum { SPIN_ROUNDS = 2000, YIELD_ROUNDS = 200 };

void parking_init(struct parking *pk, enum sut_wait wait)
{
    atomic_init(&pk->seq, 0);
    atomic_init(&pk->sleepers, 0);
    pk->wait = wait;
}

static void wake(struct parking *pk, int count)
{
    /* relaxed: only needs to change the futex word before the wake, which
     * program order gives; the work itself was published by the queue. */
    atomic_fetch_add_explicit(&pk->seq, 1, memory_order_relaxed);
    syscall(SYS_futex, &pk->seq, FUTEX_WAKE_PRIVATE, count, NULL, NULL, 0);
}

void parking_notify(struct parking *pk)
{
    /* seq_cst fence: orders the caller's enqueue before the load of
     * sleepers; a sleeper increments sleepers (seq_cst) before it checks for
     * work, so one of the two sees the other (Dekker). */
    atomic_thread_fence(memory_order_seq_cst);
    /* relaxed: ordered by the fence above. */
    if (atomic_load_explicit(&pk->sleepers, memory_order_relaxed))
        wake(pk, 1);
}

void parking_notify_all(struct parking *pk)
{
    atomic_thread_fence(memory_order_seq_cst); /* as in parking_notify */
    wake(pk, INT_MAX);
}

static void park(struct parking *pk, bool (*has_work)(void *), void *arg)
{
    /* seq_cst: the key is read before we announce ourselves, so a notify
     * after the announcement changes seq and the futex wait returns at once. */
    uint32_t key = atomic_load_explicit(&pk->seq, memory_order_seq_cst);
    /* seq_cst: the other half of the Dekker pairing in parking_notify. */
    atomic_fetch_add_explicit(&pk->sleepers, 1, memory_order_seq_cst);
    if (!has_work(arg))
        syscall(SYS_futex, &pk->seq, FUTEX_WAIT_PRIVATE, key, NULL, NULL, 0);
    /* relaxed: a stale count only costs a waker a spurious futex call. */
    atomic_fetch_sub_explicit(&pk->sleepers, 1, memory_order_relaxed);
}

void parking_idle(struct parking *pk, unsigned *rounds, bool (*has_work)(void *), void *arg)
{
    unsigned r = ++*rounds;
    if (pk->wait == SUT_WAIT_SPIN || r < SPIN_ROUNDS) {
        cpu_relax();
    } else if (pk->wait == SUT_WAIT_YIELD || r < SPIN_ROUNDS + YIELD_ROUNDS) {
        sched_yield();
    } else {
        park(pk, has_work, arg);
        *rounds = 0;
    }
}
