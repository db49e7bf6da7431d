/* timer.h - one thread per bus that fires request timeouts.
 *
 * Deadlines sit in a binary min-heap under a mutex; the thread sleeps on a
 * condition variable (CLOCK_MONOTONIC) until the earliest one. So a pending
 * timeout costs a heap entry, not a thread. The thread starts with the first
 * timer and stops at bus shutdown. Arming wakes the thread only for a
 * deadline earlier than the one it sleeps for, and a heap emptied by
 * cancels keeps that wake-up, so a stream of timers armed and cancelled
 * before they fire (requests answered in time) costs no wake-ups. */
#ifndef BUS_TIMER_H
#define BUS_TIMER_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct timer_entry {
    uint64_t deadline_ns;
    size_t index;                          /* position in the heap, while armed */
    void (*fire)(struct timer_entry *entry); /* called on the timer thread */
};

struct timers {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    struct timer_entry **heap;
    size_t count, size;
    uint64_t asleep_until; /* the thread's wake-up time; UINT64_MAX = none */
    pthread_t thread;
    bool started, stopping;
};

void bus__timers_init(struct timers *tm);
/* Stops the thread: arming fails with -ESHUTDOWN from now on. Idempotent. */
void bus__timers_stop(struct timers *tm);
/* Stops, then frees. */
void bus__timers_fini(struct timers *tm);

/* Arms @e; -ENOMEM (no room or no thread), -ESHUTDOWN once stopping. */
int bus__timer_arm(struct timers *tm, struct timer_entry *e);

/* Disarms @e. Returns true if it was armed (it will not fire), false if it
 * has fired or is firing. */
bool bus__timer_cancel(struct timers *tm, struct timer_entry *e);

#endif
