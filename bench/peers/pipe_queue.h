/* pipe_queue.h - the queue a user writes when events must reach a thread
 * that sleeps in epoll: a list under a mutex, and a pipe whose read end the
 * thread's loop waits on. The pusher that finds the list empty writes one
 * byte after queueing; the taker drains the pipe, then takes the list. That
 * order closes the race: an event pushed after the drain finds the list
 * empty or not yet taken, and either way is taken now or wakes the loop
 * again. The baseline of the inbox wake-up scenarios (scn_inbox.c). */
#ifndef BENCH_PIPE_QUEUE_H
#define BENCH_PIPE_QUEUE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "../sut.h"

struct pipe_queue {
    pthread_mutex_t lock;
    struct pipe_item *head, **tail; /* under lock */
    int rfd, wfd;                   /* the pipe, both ends non-blocking */
    uint64_t wakeups;               /* pipe writes, under lock */
};

int pipe_queue_init(struct pipe_queue *q);
void pipe_queue_fini(struct pipe_queue *q);

/* Copies the event in, and writes the pipe if the list was empty.
 * Any thread. */
int pipe_queue_push(struct pipe_queue *q, const void *data, size_t size);

/* Drains the pipe, takes every queued event and calls @fn on each, oldest
 * first; returns how many. The taker's thread only. */
unsigned pipe_queue_take(struct pipe_queue *q, sut_handler_fn fn, void *ctx);

/* Writes of the pipe so far (one per push onto an empty list). */
uint64_t pipe_queue_wakeups(struct pipe_queue *q);

#endif
