/* sched.c - the ready queue and parking idle workers. */
#include "sched.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>

#include "tsan.h"

int bus__sched_init(struct sched *s, uint32_t max_topics)
{
    /* ck_ring holds size - 1 entries: the next power of two above max_topics. */
    unsigned size = 2;
    while (size <= max_topics)
        size *= 2;
    for (int i = 0; i < SCHED_LEVELS; i++) {
        /* calloc: large arrays come from mmap and stay unbacked until used. */
        s->levels[i].slots = calloc(size, sizeof(*s->levels[i].slots));
        if (!s->levels[i].slots) {
            bus__sched_fini(s);
            return -ENOMEM;
        }
        ck_ring_init(&s->levels[i].ring, size);
    }
    atomic_init(&s->idle.seq, 0);
    atomic_init(&s->idle.waiters, 0);
    return 0;
}

void bus__sched_fini(struct sched *s)
{
    for (int i = 0; i < SCHED_LEVELS; i++) {
        free(s->levels[i].slots);
        s->levels[i].slots = NULL;
    }
}

/* Not inlined so that the TSan suppression for ck_ring's slot copy (whose
 * ordering is made by ck_pr fences TSan cannot see) names exactly these two
 * functions: see tests/tsan.supp. */
__attribute__((noinline)) void bus__sched_push(struct sched *s, struct bus_topic *t,
                                               unsigned level)
{
    struct sched_queue *q = &s->levels[level];
    /* ck_ring orders the push before the pop with ck_pr fences; tell TSan. */
    TSAN_RELEASE(t);
    /* Cannot fail: each topic is queued at most once and the ring has room
     * for every topic of the bus. */
    ck_ring_enqueue_mpmc(&q->ring, q->slots, t);
    evcount_notify(&s->idle, 1);
}

__attribute__((noinline)) static struct bus_topic *sched_pop_level(struct sched_queue *q)
{
    struct bus_topic *t;
    if (!ck_ring_dequeue_mpmc(&q->ring, q->slots, &t))
        return NULL;
    TSAN_ACQUIRE(t);
    return t;
}

struct bus_topic *bus__sched_pop(struct sched *s, unsigned *turn)
{
    /* Every 4th pop starts at a lower level (rotating), so that busy higher
     * levels cannot starve the lower ones. Only pops that find a topic
     * count, so the order does not depend on how long a worker was idle. */
    unsigned n = *turn;
    unsigned start = n % 4 == 3 ? 1 + n / 4 % (SCHED_LEVELS - 1) : 0;
    for (unsigned i = 0; i < SCHED_LEVELS; i++) {
        struct bus_topic *t = sched_pop_level(&s->levels[(start + i) % SCHED_LEVELS]);
        if (t) {
            *turn = n + 1;
            return t;
        }
    }
    return NULL;
}

void bus__sched_park(struct sched *s, const _Atomic bool *stop)
{
    uint32_t key = evcount_prepare(&s->idle);
    /* acquire on stop: pairs with the seq_cst store before wake_all. */
    if (bus__sched_empty(s) && !atomic_load_explicit(stop, memory_order_acquire))
        bus__evcount_wait(&s->idle, key);
    else
        evcount_cancel(&s->idle);
}

void bus__sched_wake_all(struct sched *s)
{
    bus__evcount_wake(&s->idle, INT_MAX);
}
