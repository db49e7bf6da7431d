/* backoff.h - how the library waits when it must: spin, then yield, then sleep.
 *
 * Used where a thread waits for another to make progress (an earlier producer
 * committing, a full ring draining, a flush completing). Spinning first keeps
 * short waits cheap; yielding lets a preempted thread run on a machine with
 * more threads than cores; sleeping keeps long waits off the CPU. */
#ifndef BUS_BACKOFF_H
#define BUS_BACKOFF_H

#include <sched.h>
#include <stdbool.h>
#include <time.h>

enum {
    BACKOFF_SPINS = 128,   /* pause instructions before the first yield */
    BACKOFF_YIELDS = 64,   /* yields before the first sleep */
    BACKOFF_MAX_SLEEP_NS = 1000 * 1000
};

struct backoff {
    unsigned rounds;
    long sleep_ns;
};

#define BACKOFF_INIT {0, 1000}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* One step of waiting. @may_sleep false stops at yielding (for waits that are
 * known to be short, such as another producer's commit). */
static inline void backoff_wait(struct backoff *b, bool may_sleep)
{
    if (b->rounds < BACKOFF_SPINS) {
        b->rounds++;
        cpu_relax();
    } else if (!may_sleep || b->rounds < BACKOFF_SPINS + BACKOFF_YIELDS) {
        b->rounds++;
        sched_yield();
    } else {
        struct timespec ts = {0, b->sleep_ns};
        nanosleep(&ts, NULL);
        if (b->sleep_ns < BACKOFF_MAX_SLEEP_NS)
            b->sleep_ns *= 2;
    }
}

#endif
