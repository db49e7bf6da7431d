/* sched.c - the ready queue and the parking eventcount. */
#include "sched.h"
#include "tsan.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

static void futex_wait(_Atomic uint32_t *word, uint32_t expected)
{
    syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, expected, NULL, NULL, 0);
}

static void futex_wake(_Atomic uint32_t *word, int count)
{
    syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, count, NULL, NULL, 0);
}

int bus__sched_init(struct sched *s, uint32_t max_topics)
{
    /* ck_ring holds size - 1 entries: the next power of two above max_topics. */
    unsigned size = 2;
    while (size <= max_topics)
        size *= 2;
    s->slots = calloc(size, sizeof(*s->slots));
    if (!s->slots)
        return -ENOMEM;
    ck_ring_init(&s->ready, size);
    atomic_init(&s->wake_seq, 0);
    atomic_init(&s->sleepers, 0);
    return 0;
}

void bus__sched_fini(struct sched *s)
{
    free(s->slots);
}

static void wake_one(struct sched *s)
{
    /* seq_cst fence: orders the push before the load of sleepers; a worker
     * going to sleep bumps sleepers (seq_cst) before it checks the queue, so
     * either it sees our push or we see it (Dekker). */
    atomic_thread_fence(memory_order_seq_cst);
    /* relaxed: ordered by the fence above. */
    if (atomic_load_explicit(&s->sleepers, memory_order_relaxed) == 0)
        return;
    /* release: not needed for data (the queue carries it); any order works as
     * long as the value changes before the wake, which program order gives. */
    atomic_fetch_add_explicit(&s->wake_seq, 1, memory_order_release);
    futex_wake(&s->wake_seq, 1);
}

/* Not inlined so that the TSan suppression for ck_ring's slot copy (whose
 * ordering is made by ck_pr fences TSan cannot see) names exactly these two
 * functions: see tests/tsan.supp. */
__attribute__((noinline)) void bus__sched_push(struct sched *s, struct bus_topic *t)
{
    /* ck_ring orders the push before the pop with ck_pr fences; tell TSan. */
    TSAN_RELEASE(t);
    /* Cannot fail: each topic is queued at most once and the ring has room
     * for every topic of the bus. */
    ck_ring_enqueue_mpmc(&s->ready, s->slots, t);
    wake_one(s);
}

__attribute__((noinline)) struct bus_topic *bus__sched_pop(struct sched *s)
{
    struct bus_topic *t;
    if (!ck_ring_dequeue_mpmc(&s->ready, s->slots, &t))
        return NULL;
    TSAN_ACQUIRE(t);
    return t;
}

void bus__sched_park(struct sched *s, const _Atomic bool *stop)
{
    /* seq_cst: the key is read before we announce ourselves, so a push after
     * this point changes wake_seq and the futex wait returns at once. */
    uint32_t key = atomic_load_explicit(&s->wake_seq, memory_order_seq_cst);
    /* seq_cst: the other half of the Dekker pairing in wake_one. */
    atomic_fetch_add_explicit(&s->sleepers, 1, memory_order_seq_cst);
    /* acquire on stop: pairs with the release in bus__sched_wake_all's caller. */
    if (ck_ring_size(&s->ready) == 0 && !atomic_load_explicit(stop, memory_order_acquire))
        futex_wait(&s->wake_seq, key);
    /* relaxed: only a hint for wakers; a stale count costs a spurious wake. */
    atomic_fetch_sub_explicit(&s->sleepers, 1, memory_order_relaxed);
}

void bus__sched_wake_all(struct sched *s)
{
    /* seq_cst: the stop flag set before this call is visible to a worker that
     * reads the new wake_seq value, or that worker's futex wait fails. */
    atomic_fetch_add_explicit(&s->wake_seq, 1, memory_order_seq_cst);
    futex_wake(&s->wake_seq, INT_MAX);
}
