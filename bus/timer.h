/* timer.h - one thread per bus that fires request timeouts, redeliveries
 * (retry.h) and the rates sampler's ticks.
 *
 * Deadlines sit in a binary min-heap under a mutex; the thread sleeps on a
 * condition variable (CLOCK_MONOTONIC) until the earliest one. So a pending
 * timeout costs a heap entry, not a thread. The thread starts with the first
 * reservation and stops at bus shutdown. Arming wakes the thread only for a
 * deadline earlier than the one it sleeps for, and a heap emptied by
 * cancels keeps that wake-up, so a stream of timers armed and cancelled
 * before they fire (requests answered in time) costs no wake-ups.
 *
 * Arming is split in two so that a caller can arm after an action it cannot
 * undo (a request's publish): bus__timer_reserve() does what may fail (heap
 * room, starting the thread) before it, bus__timer_arm() cannot fail. An
 * entry cancelled before it is armed stays cancelled: the arm then does
 * nothing and says so. */
#ifndef BUS_TIMER_H
#define BUS_TIMER_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct timer_entry {
    uint64_t deadline_ns;
    /* Position in the heap while armed; TIMER_IDLE before the arm,
     * TIMER_DONE once fired or cancelled. Under the timers' lock. */
    size_t index;
    void (*fire)(struct timer_entry *entry); /* called on the timer thread */
};

struct timers {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    struct timer_entry **heap;
    size_t count, size;
    size_t reserved; /* heap cells promised to coming arms: count + reserved <= size */
    uint64_t asleep_until; /* the thread's wake-up time; UINT64_MAX = none */
    pthread_t thread;
    bool started, stopping;
};

void bus__timers_init(struct timers *tm);
/* Stops the thread: reserving fails with -ESHUTDOWN from now on, and arming
 * does nothing. Idempotent. Not from the timer thread. */
void bus__timers_stop(struct timers *tm);
/* Stops, then frees. */
void bus__timers_fini(struct timers *tm);

/* True on the timer thread of @tm (inside a fire callback). */
bool bus__timers_on_thread(const struct timers *tm);

/* Readies @e for bus__timer_arm(): not armed, not cancelled. */
void bus__timer_entry_init(struct timer_entry *e, uint64_t deadline_ns,
                           void (*fire)(struct timer_entry *entry));

/* Promises room for one arm and starts the thread if needed: 0, -ENOMEM (no
 * room or no thread), -ESHUTDOWN (stopping). Each reservation is used by
 * one bus__timer_arm() or given back by bus__timer_unreserve(). */
int bus__timer_reserve(struct timers *tm);
void bus__timer_unreserve(struct timers *tm);

/* Uses a reservation to arm @e. Returns true if @e is armed: from then on
 * it fires or is cancelled, and the caller must not touch it. Returns false
 * if @e was cancelled before (or the timers are stopping): it will never
 * fire. */
bool bus__timer_arm(struct timers *tm, struct timer_entry *e);

/* Disarms @e, or makes a later bus__timer_arm(@e) do nothing. Returns true
 * if @e was armed (it will not fire), false if it was not armed yet, has
 * fired or is firing. */
bool bus__timer_cancel(struct timers *tm, struct timer_entry *e);

#endif
