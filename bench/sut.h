/* sut.h - the "system under test" interface every scenario is written against.
 *
 * Each system (the bus and its peers) is a table of function pointers over
 * opaque handles, so every system runs exactly the same scenario code.
 * Functions return 0 or a negative errno value. */
#ifndef BENCH_SUT_H
#define BENCH_SUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Called on a worker thread for every event of a subscribed topic. */
typedef void (*sut_handler_fn)(void *ctx, const void *data, size_t size);

/* How idle workers wait; systems that only know one way ignore it. */
enum sut_wait { SUT_WAIT_SPIN, SUT_WAIT_YIELD, SUT_WAIT_PARK };

struct sut_config {
    unsigned workers;
    enum sut_wait wait;
    uint32_t max_topics;
    bool watch; /* print the system's own metrics to stderr once a second, if it has any */
};

struct sut_topic_config {
    uint32_t capacity;    /* events the topic buffers, a power of two */
    uint32_t max_payload; /* largest payload in bytes */
    bool parallel;        /* several workers may handle the topic at once */
    bool keyed;           /* equal keys in order, others in parallel (SUT_CAN_KEYED) */
    bool pretouch;        /* memory backed at open, not at first use (SUT_CAN_PRETOUCH) */
};

enum sut_caps {
    SUT_CAN_CHURN = 1u << 0,   /* subscribe/unsubscribe while events flow */
    SUT_CAN_GROUPS = 1u << 1,  /* subscribe_group */
    SUT_CAN_KEYED = 1u << 2,   /* keyed topics and publish_keyed */
    SUT_CAN_REQUEST = 1u << 3, /* subscribe_echo and request */
    SUT_CAN_UNSUBSCRIBE_ASYNC = 1u << 4, /* unsubscribe_async */
    SUT_CAN_PRETOUCH = 1u << 5, /* topics whose memory is touched when opened */
    /* A handler may publish (onto another topic), even onto a full one,
     * without losing the event or hanging the system. */
    SUT_CAN_FORWARD = 1u << 6,
    SUT_CAN_OWN_LATENCY = 1u << 7, /* own_wait: the system measures its own latency */
    SUT_CAN_INBOX = 1u << 8 /* inbox_*: pull subscriptions with a file descriptor */
};

/* inbox_counts' figures. */
struct sut_inbox_counts {
    uint64_t wakeups, blocked;
};

/* One event of a batch. */
struct sut_msg {
    const void *data;
    size_t size;
};

struct sut_ops {
    const char *name;
    const char *summary; /* one line: what the system is */
    unsigned caps;       /* SUT_CAN_* */
    size_t max_payload;  /* largest payload it can carry; 0 = no limit */
    int (*create)(const struct sut_config *cfg, void **sys);
    /* Scenarios open each name once; systems need not look names up. */
    int (*topic_open)(void *sys, const char *name, const struct sut_topic_config *cfg,
                      void **topic);
    int (*subscribe)(void *sys, void *topic, sut_handler_fn fn, void *ctx, void **sub);
    /* When it returns, the handler is not running and will not run again. */
    int (*unsubscribe)(void *sys, void *sub);
    int (*publish)(void *sys, void *topic, const void *data, size_t size);
    /* Publishes all @count events, in order; NULL when the system has no
     * batch publish (then the harness calls publish @count times). */
    int (*publish_batch)(void *sys, void *topic, const struct sut_msg *msgs, size_t count);
    /* Returns once every event published before the call has been handled. */
    int (*flush)(void *sys);
    void (*destroy)(void *sys);

    /* Optional, NULL unless the matching SUT_CAN_* is in caps. */
    /* Starts removing @sub and returns at once; the system frees it once its
     * handler can no longer run (by destroy at the latest). */
    int (*unsubscribe_async)(void *sys, void *sub);
    /* Delivery patterns. */
    /* Subscribes a member of queue group @group: each event goes to exactly
     * one member of the group. Unsubscribed with unsubscribe. */
    int (*subscribe_group)(void *sys, void *topic, const char *group, sut_handler_fn fn,
                           void *ctx, void **sub);
    /* publish onto a keyed topic: events with equal keys are handled one at
     * a time, in publish order. */
    int (*publish_keyed)(void *sys, void *topic, uint64_t key, const void *data, size_t size);
    /* Subscribes a responder that answers every request on @topic with the
     * request's own payload. Unsubscribed with unsubscribe. */
    int (*subscribe_echo)(void *sys, void *topic, void **sub);
    /* Sends a request on @topic and blocks until its reply, copied to
     * @reply (up to @cap bytes). Not from a handler. */
    int (*request)(void *sys, void *topic, const void *data, size_t size, void *reply,
                   size_t cap);
    /* The system's own figures for the wait of @topic's events, publish to
     * the start of their handler calls (the bus: bus_topic_metrics()). */
    int (*own_wait)(void *sys, void *topic, uint64_t *count, uint64_t *p50_ns,
                    uint64_t *p99_ns);
    /* Inboxes: a subscription of @topic whose events are queued (copied,
     * up to @capacity; a full inbox holds up the worker, never drops) for
     * the caller's thread to take, with a descriptor that is readable while
     * some are left (the bus: bus_inbox_open()). Closed with inbox_close
     * before destroy. */
    int (*inbox_open)(void *sys, void *topic, uint32_t capacity, void **inbox);
    int (*inbox_fd)(void *inbox);
    /* Takes up to @max events (at most SUT_INBOX_TAKE_MAX), waiting up to
     * @timeout_ns for the first (0: not at all), and calls @fn on each.
     * Returns how many (>= 1), -EAGAIN or -ETIMEDOUT for none, or an error. */
    int (*inbox_take)(void *inbox, int64_t timeout_ns, unsigned max, sut_handler_fn fn,
                      void *ctx);
    /* How many times so far the system wrote the descriptor, and a worker
     * waited for room in the full inbox. */
    int (*inbox_counts)(void *inbox, struct sut_inbox_counts *out);
    void (*inbox_close)(void *inbox);
};

enum { SUT_INBOX_TAKE_MAX = 256 };

/* publish_batch, or a loop of publish where the system has none. */
int sut_publish_batch(const struct sut_ops *ops, void *sys, void *topic,
                      const struct sut_msg *msgs, size_t count);

/* Every system built in, NULL-terminated (systems.c). */
extern const struct sut_ops *const sut_systems[];

/* The system called @name, or NULL. */
const struct sut_ops *sut_find(const char *name);

#endif
