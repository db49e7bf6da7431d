/* sched.h - the queues of topics that hold events, and parking idle workers.
 *
 * A topic is in a ready queue at most once (its SCHED_QUEUED bit says so), so
 * a queue of max_topics + 1 entries never overflows, and workers only ever
 * look at topics that have events: idle topics cost nothing, and topics that
 * do not exist cost no memory until the queue's positions reach their cells
 * (readyq.h).
 * There is one queue per priority level. Workers take from the highest level
 * that has a topic, except on every 4th pop, when they look at the levels in
 * a rotated order, so lower levels get at least a quarter of the turns while
 * higher ones are busy: no starvation.
 * Each queue is a readyq (readyq.h), in which no producer waits for another.
 * One idle worker at a time polls for a while (`spinning` is 1 while it
 * does), then parks on an eventcount; the other idle workers park at once,
 * so that on a machine with more threads than cores idle workers do not
 * take the CPU the producers and busy workers need. A push wakes a parked
 * worker only when no worker is polling: the poller will find the topic
 * anyway, and a futex wake costs a syscall on the publishing thread. A
 * worker that takes a topic while others wait wakes the next one (nudge). */
#ifndef BUS_SCHED_H
#define BUS_SCHED_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "evcount.h"
#include "readyq.h"

struct bus_topic;

enum { SCHED_LEVELS = 3 }; /* 0 high, 1 normal, 2 low */

struct sched {
    struct readyq levels[SCHED_LEVELS];
    alignas(64) struct evcount idle; /* parked workers */
    _Atomic uint32_t spinning;       /* 1 while a worker polls for work */
};

/* -ENOMEM, or 0. */
int bus__sched_init(struct sched *s, uint32_t max_topics, uint32_t workers);
void bus__sched_fini(struct sched *s);

/* Queues a topic at its level (never fails: see above) and wakes a parked
 * worker. */
void bus__sched_push(struct sched *s, struct bus_topic *t, unsigned level);

/* Takes the next ready topic, or NULL. @turn is the caller's pop counter. */
struct bus_topic *bus__sched_pop(struct sched *s, unsigned *turn);

/* True when no topic is queued. */
static inline bool bus__sched_empty(struct sched *s)
{
    for (int i = 0; i < SCHED_LEVELS; i++)
        if (!readyq_empty(&s->levels[i]))
            return false;
    return true;
}

/* An idle worker asks to poll for work: true if it is now the poller,
 * false if another worker polls already (then it should park). */
bool bus__sched_start_polling(struct sched *s);
/* The poller stops polling: it found work or is about to park. */
void bus__sched_stop_polling(struct sched *s);

/* Wakes a parked worker if topics wait and no worker polls: called by a
 * worker that takes a topic while others remain queued. */
void bus__sched_nudge(struct sched *s);

/* Sleeps until a push or bus__sched_wake_all(); returns at once if a topic is
 * ready or *stop is set. May return spuriously. */
void bus__sched_park(struct sched *s, const _Atomic bool *stop);

/* Wakes every parked worker (shutdown); call after setting *stop. */
void bus__sched_wake_all(struct sched *s);

#endif
