/*
 * bus/inbox.h - inboxes: pull subscriptions that an event loop can wait on.
 *
 * An inbox is a subscription whose events are queued instead of handed to a
 * callback: the bus's workers copy each event into the inbox, and the
 * caller's own thread takes them with bus_inbox_next() when it wants, or
 * when the inbox's file descriptor (an eventfd) says there are some. A
 * server that owns an event loop (epoll, poll, libuv's uv_poll_t,
 * libevent's event_new(..., EV_READ)) gets its events on its loop thread
 * this way, with no queue or wake-up of its own. See docs/servers.md.
 *
 * Conventions as in bus.h: 0 or a negative errno, bus_strerror(),
 * bus_last_error() for rejected arguments; opaque handles.
 *
 * The descriptor (bus_inbox_fd()) is readable while the inbox holds
 * events, and stays readable until a take finds the inbox empty: the take
 * that returns -EAGAIN (or waits) resets it. So:
 *  - level-triggered use (poll, select, epoll without EPOLLET, uv_poll_t):
 *    take any number of events per wake-up; the loop wakes again while
 *    some are left, and at most once more after the last one was taken
 *    (that take returns -EAGAIN);
 *  - edge-triggered use (EPOLLET): take until -EAGAIN, as with a
 *    non-blocking socket; the next event after that makes a new edge.
 * Never read() the descriptor yourself. Workers write it only when a take
 * found the inbox empty since the last write: a worker that adds events
 * while the consumer is busy makes no syscall (docs/servers.md says how the
 * race between the consumer's last take and the next event is closed).
 */
#ifndef BUS_INBOX_H
#define BUS_INBOX_H

#include <bus.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct bus_inbox bus_inbox_t; /* opaque */

/* What a worker does with an event for a full inbox. */
enum {
    BUS_INBOX_BLOCK = 0,       /* wait for room, at most block_ns, then drop it
                                  (default) */
    BUS_INBOX_DROP_NEWEST = 1, /* drop the new event */
    BUS_INBOX_DROP_OLDEST = 2  /* drop the oldest queued event to make room */
};

/* Options of bus_inbox_open() and bus_inbox_open_pattern(). */
typedef struct bus_inbox_options {
    uint32_t capacity; /* events it holds; default 1024, 1 to 2^24 */
    int full;          /* BUS_INBOX_*; default BUS_INBOX_BLOCK */
    /* BUS_INBOX_BLOCK: the longest a worker waits for room for one event
     * (it holds up that worker and the event's topic meanwhile); default
     * 100 ms, at most 60 s. After a wait that timed out, the inbox is
     * overrun: events that find it full are dropped at once, without
     * waiting, until the consumer takes one. */
    uint64_t block_ns;
    /* As bus_sub_options_t: a queue group (the inbox competes with the
     * group's other members, callback subscriptions or inboxes) and a
     * content filter, run on the worker before the copy. */
    const char *group;
    bus_filter_fn filter;
    void *filter_ctx;
} bus_inbox_options_t;

/**
 * bus_inbox_options_init - fill @opts with the defaults (1024 events,
 * BUS_INBOX_BLOCK for at most 100 ms, no group, no filter).
 * Thread-safety: any thread. @opts NULL is ignored.
 */
BUS_API void bus_inbox_options_init(bus_inbox_options_t *opts);

/**
 * bus_inbox_open - an inbox that receives every event of @topic dispatched
 * from now on (as bus_subscribe_ex()). @opts NULL = the defaults.
 * The inbox outlives its topic: once bus_topic_close() closed the topic,
 * takes return the events left, then -EPIPE.
 * Thread-safety: any thread, handlers included.
 * Errors: -EINVAL (NULL argument, capacity 0 or over 2^24, full not a
 * BUS_INBOX_*, block_ns over 60 s, group "" or over 255 bytes), -ENOMEM,
 * -EMFILE/-ENFILE (no file descriptor for the eventfd), -ESHUTDOWN,
 * -EPIPE (topic closing).
 */
BUS_API int bus_inbox_open(bus_topic_t *topic, const bus_inbox_options_t *opts,
                           bus_inbox_t **out);

/**
 * bus_inbox_open_pattern - an inbox that receives the events of every topic
 * whose name matches @pattern, now and later (as bus_subscribe_pattern(),
 * same syntax and reserved names). Each message names its topic.
 * Thread-safety: any thread, handlers included.
 * Errors: as bus_inbox_open(), and -EINVAL for a malformed pattern.
 */
BUS_API int bus_inbox_open_pattern(bus_t *bus, const char *pattern,
                                   const bus_inbox_options_t *opts, bus_inbox_t **out);

/**
 * bus_inbox_fd - the inbox's file descriptor: readable while the inbox
 * holds events (see the top of this header for which takes reset it), and
 * for good once the inbox has ended (its topic closed, or the bus shut
 * down). Owned by the inbox: never read, write or close it; take it out of
 * your event loop before bus_inbox_close(), which closes it.
 * Thread-safety: any thread. Returns -EINVAL for a NULL inbox.
 */
BUS_API int bus_inbox_fd(const bus_inbox_t *inbox);

/* A message taken from an inbox: the event, copied, owned by the message
 * until bus_inbox_release(). */
typedef struct bus_inbox_msg {
    const char *topic; /* the event's topic's name */
    const void *data;  /* the payload */
    size_t size;
    uint64_t seq;        /* as bus_event_t */
    uint64_t publish_ns; /* as bus_event_t */
} bus_inbox_msg_t;

/**
 * bus_inbox_next - take the oldest event, waiting for one up to
 * @timeout_ns: 0 does not wait, a negative value waits for ever (in-process
 * long polling). *@msg receives it; the caller owns it until
 * bus_inbox_release(). Events of one topic come in the order their topic
 * dispatched them (for an ordered topic, each producer's publish order).
 * Several threads may take from one inbox at once; each event goes to one.
 * Thread-safety: any thread; from a handler only with timeout 0 (a wait
 * there would hold a worker the inbox may need: -EDEADLK).
 * Errors: -EINVAL (NULL argument), -EAGAIN (empty and timeout 0),
 * -ETIMEDOUT (nothing came in time), -EINTR (bus_inbox_interrupt()),
 * -EPIPE (empty, and its topic is closed: nothing will come), -ESHUTDOWN
 * (empty, and the bus is shut down), -EDEADLK (a wait on a worker).
 */
BUS_API int bus_inbox_next(bus_inbox_t *inbox, int64_t timeout_ns, bus_inbox_msg_t **msg);

/**
 * bus_inbox_next_batch - bus_inbox_next() for up to @max events at once:
 * waits (as bus_inbox_next()) for the first, then takes what else is there
 * without waiting. Returns how many it stored in @msgs (1 to @max), each to
 * be released, or an error as bus_inbox_next() (-EINVAL also for @max 0).
 */
BUS_API int bus_inbox_next_batch(bus_inbox_t *inbox, int64_t timeout_ns, bus_inbox_msg_t **msgs,
                                 size_t max);

/**
 * bus_inbox_release - give back a message taken with bus_inbox_next*().
 * A message whose payload, topic name and the name's NUL fit in 448 bytes
 * (a 256-byte payload, the default max_payload, with a name of up to 191
 * bytes) goes back to its inbox's pool for a later event: no free, and no
 * malloc for that event. A bigger one is freed. The pool keeps at most
 * min(capacity, 4096) released messages (a 512-byte allocation each; 2 MB
 * at most), fewer if the inbox never held that many at once.
 * Thread-safety: any thread, also while or after its inbox closes (the
 * pool then frees the message; the pool itself goes with the last one).
 * NULL is ignored.
 */
BUS_API void bus_inbox_release(bus_inbox_msg_t *msg);

/* An event read into the caller's buffer by bus_inbox_read(). */
typedef struct bus_inbox_info {
    char topic[256];     /* its topic's name */
    size_t size;         /* the payload's full size */
    bool truncated;      /* size was over the buffer: only the start was copied */
    uint64_t seq;        /* as bus_event_t */
    uint64_t publish_ns; /* as bus_event_t */
} bus_inbox_info_t;

/**
 * bus_inbox_read - take the oldest event as bus_inbox_next() does, copy its
 * payload into @buf (@cap bytes; NULL with cap 0 to learn sizes only) and
 * its description into @info, and release it: nothing to free. A payload
 * over @cap is cut, as recv() cuts a datagram: info->truncated is set and
 * info->size is the full size; the rest is gone.
 * Thread-safety and errors: as bus_inbox_next(); -EINVAL also for buf NULL
 * with cap > 0.
 */
BUS_API int bus_inbox_read(bus_inbox_t *inbox, int64_t timeout_ns, void *buf, size_t cap,
                           bus_inbox_info_t *info);

/**
 * bus_inbox_interrupt - make one waiting take return -EINTR (the next take
 * if none waits), e.g. to stop a thread that waits for ever.
 * Thread-safety: any thread, handlers included, while @inbox is open.
 * Errors: -EINVAL (inbox NULL).
 */
BUS_API int bus_inbox_interrupt(bus_inbox_t *inbox);

/* Counters of one inbox (a near snapshot while events flow). */
typedef struct bus_inbox_stats {
    uint64_t queued;   /* events in it now */
    uint64_t received; /* events workers put in it */
    uint64_t taken;    /* events taken by bus_inbox_next*() and _read() */
    uint64_t dropped;  /* events its full policy dropped */
    uint64_t blocked;  /* times a worker waited for room (BUS_INBOX_BLOCK) */
    uint64_t wakeups;  /* writes of its descriptor */
    uint32_t capacity;
    uint32_t high_water; /* the most events it held */
} bus_inbox_stats_t;

/**
 * bus_inbox_stats - copy the inbox's counters to @out.
 * Thread-safety: any thread, while @inbox is open.
 * Errors: -EINVAL (NULL argument).
 */
BUS_API int bus_inbox_stats(const bus_inbox_t *inbox, bus_inbox_stats_t *out);

/**
 * bus_inbox_close - stop the inbox's subscription, free the events left in
 * it (counted as dropped in the stats of nobody: they are gone; the number
 * is returned), close its descriptor and free @inbox and the messages its
 * pool kept. No other call on @inbox may be running or start (wake a
 * waiting thread with bus_inbox_interrupt() and let it return first).
 * Messages taken before stay valid until released, and may be released
 * from other threads meanwhile.
 * From a thread that is not a worker: when it returns, no worker touches
 * the inbox any more (the bus_unsubscribe() guarantee); a worker waiting
 * for room (BUS_INBOX_BLOCK) gives up and drops its event. From a handler
 * it does not wait: the inbox is freed once no worker can touch it.
 * Either way @inbox is invalid after the call. Close inboxes before
 * bus_destroy(); after bus_shutdown() is fine.
 * Returns the number of events left in it (>= 0), or -EINVAL (inbox NULL).
 */
BUS_API int bus_inbox_close(bus_inbox_t *inbox);

#ifdef __cplusplus
}
#endif

#endif
