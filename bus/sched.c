/* sched.c - the ready queues and parking idle workers. */
#include "sched.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>


int bus__sched_init(struct sched *s, uint32_t max_topics, uint32_t workers)
{
    for (int i = 0; i < SCHED_LEVELS; i++) {
        if (bus__readyq_init(&s->levels[i], max_topics + workers) != 0) {
            while (i-- > 0)
                bus__readyq_fini(&s->levels[i]);
            return -ENOMEM;
        }
    }
    atomic_init(&s->idle.seq, 0);
    atomic_init(&s->idle.waiters, 0);
    atomic_init(&s->spinning, 0);
    return 0;
}

void bus__sched_fini(struct sched *s)
{
    for (int i = 0; i < SCHED_LEVELS; i++)
        bus__readyq_fini(&s->levels[i]);
}

/* Wakes one parked worker unless one polls. */
static void wake_one(struct sched *s)
{
    /* seq_cst fence: orders the caller's push before the loads below; a
     * worker that stops polling decrements `spinning` and announces itself
     * in the eventcount (both seq_cst) before it checks the queues, so either
     * it sees the push or we see it (Dekker). */
    atomic_thread_fence(memory_order_seq_cst);
    /* relaxed: ordered by the fence. */
    if (atomic_load_explicit(&s->spinning, memory_order_relaxed) == 0 &&
        atomic_load_explicit(&s->idle.waiters, memory_order_relaxed) != 0)
        bus__evcount_wake(&s->idle, 1);
}

void bus__sched_push(struct sched *s, struct bus_topic *t, unsigned level)
{
    /* Each topic is queued at most once, and every queue has room for all
     * the topics of the bus plus one cell per worker (readyq.h). */
    bus__readyq_push(&s->levels[level], t);
    wake_one(s);
}

void bus__sched_nudge(struct sched *s)
{
    if (!bus__sched_empty(s))
        wake_one(s);
}

bool bus__sched_start_polling(struct sched *s)
{
    uint32_t none = 0;
    /* seq_cst: the worker's half of the Dekker pairing in wake_one; on
     * failure nothing was written (relaxed). */
    return atomic_compare_exchange_strong_explicit(&s->spinning, &none, 1,
                                                   memory_order_seq_cst,
                                                   memory_order_relaxed);
}

void bus__sched_stop_polling(struct sched *s)
{
    /* seq_cst: the poller's half of the Dekker pairing in wake_one: after
     * this store it checks the queues again (nudge, or park's re-check). */
    atomic_store_explicit(&s->spinning, 0, memory_order_seq_cst);
}

struct bus_topic *bus__sched_pop(struct sched *s, unsigned *turn)
{
    /* Every 4th pop starts at a lower level (rotating), so that busy higher
     * levels cannot starve the lower ones. Only pops that find a topic
     * count, so the order does not depend on how long a worker was idle. */
    unsigned n = *turn;
    unsigned start = n % 4 == 3 ? 1 + n / 4 % (SCHED_LEVELS - 1) : 0;
    for (unsigned i = 0; i < SCHED_LEVELS; i++) {
        struct bus_topic *t = bus__readyq_pop(&s->levels[(start + i) % SCHED_LEVELS]);
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
