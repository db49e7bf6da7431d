/* pull.h - a queue that a thread takes events from, waiting on a
 * descriptor as a server's event loop does: the system's inbox on a topic
 * (SUT_CAN_INBOX), or what a user writes without one, a pipe_queue, fed by
 * a subscription's handler or by the publisher itself. Shared by
 * throughput-inbox (scn_inbox.c) and the wakeup scenarios (scn_wakeup.c). */
#ifndef BENCH_PULL_H
#define BENCH_PULL_H

#include "harness.h"
#include "peers/pipe_queue.h"

enum pull_kind {
    PULL_INBOX,    /* ops->inbox_open on the topic */
    PULL_PIPE_FED, /* a subscription of the topic pushes onto a pipe_queue */
    PULL_PIPE      /* a pipe_queue the caller pushes onto (pull_push) */
};

struct pull {
    enum pull_kind kind;
    const struct fixture *f;
    void *inbox;
    void *sub; /* PULL_PIPE_FED's subscription */
    struct pipe_queue pq;
    int fd; /* readable while events are queued */
    _Atomic int push_error; /* the feeding handler's first error */
};

/* Opens @q of @kind on fixture topic @topic (@capacity: an inbox's). */
int pull_open(struct pull *q, enum pull_kind kind, const struct fixture *f, void *topic,
              uint32_t capacity);

/* PULL_PIPE: queues a copy of the event. */
int pull_push(struct pull *q, const void *data, size_t size);

/* Takes queued events without waiting (an inbox: at most @max; a
 * pipe_queue: all) and calls @fn on each. Returns how many; 0 when there
 * were none, which resets an inbox's descriptor; or an error, the feeding
 * handler's included. */
int pull_take(struct pull *q, unsigned max, sut_handler_fn fn, void *ctx);

/* Writes of the descriptor so far, and waits of a worker for room (a
 * pipe_queue is unbounded: none). */
int pull_counts(struct pull *q, struct sut_inbox_counts *out);

/* Closes the inbox, or unsubscribes the feeder and frees the queue. Before
 * fixture_destroy. */
void pull_close(struct pull *q);

#endif
