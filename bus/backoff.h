/* backoff.h - the short part of a wait: spin, then yield.
 *
 * Spinning keeps waits of a few hundred nanoseconds cheap; yielding lets a
 * preempted thread (a worker draining a full ring, or freeing a ready-queue
 * cell) run on a machine with more threads than cores.
 * Waits that may be long then sleep on an eventcount (evcount.h). */
#ifndef BUS_BACKOFF_H
#define BUS_BACKOFF_H

#include <sched.h>
#include <stdbool.h>

enum {
    BACKOFF_SPINS = 32,  /* pause instructions before the first yield */
    BACKOFF_YIELDS = 64  /* yields before the wait counts as long */
};

struct backoff {
    unsigned rounds;
};

#define BACKOFF_INIT {0}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* One step of waiting. Returns false once the wait is long: the caller
 * should sleep if it can (later calls keep yielding). */
static inline bool backoff_wait(struct backoff *b)
{
    if (b->rounds < BACKOFF_SPINS) {
        b->rounds++;
        cpu_relax();
        return true;
    }
    sched_yield();
    if (b->rounds < BACKOFF_SPINS + BACKOFF_YIELDS) {
        b->rounds++;
        return true;
    }
    return false;
}

#endif
