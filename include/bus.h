/*
 * bus.h - a multi-threaded, in-process event bus.
 *
 * Events are published onto named topics. Each topic owns a bounded ring of
 * preallocated slots; publishing copies the payload into a slot. A pool of
 * worker threads drains the topics that hold events and calls every handler
 * subscribed to the topic. Subscriptions are RCU-protected: they change while
 * events flow without ever stalling a publisher or a worker.
 *
 * Conventions (every function below follows them):
 *  - Every int-returning function returns 0 on success or a negative errno
 *    value; bus_strerror() turns it into text, and after a rejected argument
 *    or configuration bus_last_error() says which. When a function fails, it
 *    has no effect and any callback it was given will never be called.
 *  - Handles are opaque. A bus owns its topics; a topic lives until it is
 *    closed (bus_topic_close()) or the bus is destroyed. A subscription handle
 *    lives until it is unsubscribed or its topic is closed.
 *  - "Worker thread" means a thread of the bus pool, i.e. code running inside
 *    a handler. Functions say whether they may be called from a handler.
 *
 * Progress guarantees (exact, see docs/design.md):
 *  - Publishing onto a topic with room is lock-free: a producer reserves a
 *    slot with one CAS (it retries only when another producer's CAS won),
 *    writes it and marks it ready; it never waits for another producer. A
 *    producer preempted between its reservation and its mark delays the
 *    *dispatch* of the later events of that topic (workers take events in
 *    order) until it runs again, not the other producers. Queuing an idle
 *    topic for the workers may wait for a worker that is between taking a
 *    queue cell and freeing it (a few instructions), when the queue has
 *    wrapped around to that very cell. Publishing never takes a lock or
 *    allocates; its only syscalls are waking a parked worker (futex, only
 *    when one is parked) and waiting under BUS_FULL_BLOCK on a full topic.
 *  - Dispatch takes no lock and does not allocate. A handler that blocks holds
 *    up its own topic (ordered topics) and its worker; other workers keep
 *    serving other topics. It also delays bus_unsubscribe() callers, which
 *    wait for running handlers to return.
 */
#ifndef BUS_H
#define BUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define BUS_API __attribute__((visibility("default")))
#else
#define BUS_API
#endif

/* The version of this header, as meson.build's project version (semantic
 * versioning: the major number changes when the API or ABI breaks).
 * BUS_VERSION is 0xMMmmpp, comparable with bus_version(). */
#define BUS_VERSION_MAJOR 0
#define BUS_VERSION_MINOR 1
#define BUS_VERSION_PATCH 0
#define BUS_VERSION \
    ((BUS_VERSION_MAJOR << 16) | (BUS_VERSION_MINOR << 8) | BUS_VERSION_PATCH)

typedef struct bus bus_t;             /* opaque */
typedef struct bus_topic bus_topic_t; /* opaque, owned by its bus */
typedef struct bus_sub bus_sub_t;     /* opaque */

/* One event as a handler sees it. Everything it points to belongs to the bus
 * and is valid only during the handler call. */
typedef struct bus_event {
    bus_topic_t *topic;
    const void *data;    /* the payload copy; valid during the handler call only */
    size_t size;
    uint64_t seq;        /* per-topic sequence, increasing in ring order, from 1 */
    uint64_t publish_ns; /* CLOCK_MONOTONIC ns at publish */
    /* Which delivery of the event to this subscription this call is: 1 the
     * first, 2 and up a redelivery after a failed call
     * (bus_sub_options_t.max_deliver), or the publisher's own count
     * (bus_publish_options_t.attempt: a bridge's redelivery). A field rather than a function: the
     * worker sets it once per batch, so reading it costs the handler a load
     * and the bus nothing per event. */
    uint32_t attempt;
} bus_event_t;

/* A handler returns 0 when it handled the event, anything else when it failed
 * (counted in handler_errors; redelivered if its subscription asks for it,
 * bus_sub_options_t.max_deliver, else routed to the dead letters). It runs
 * on a worker thread. */
typedef int (*bus_handler_fn)(const bus_event_t *ev, void *ctx);

/* How idle workers wait for work. */
enum {
    BUS_WAIT_PARK = 0,  /* spin briefly, then yield, then sleep on a futex (default) */
    BUS_WAIT_YIELD = 1, /* spin briefly, then sched_yield() forever: lower wake-up
                           latency, one core's worth of yields while idle */
    BUS_WAIT_SPIN = 2   /* spin forever: lowest latency, burns one core per worker */
};

/* Called on a worker thread of @bus: @worker is its number, 0 to workers - 1
 * (the thread is named "bus-w<worker>", as top and gdb show it). */
typedef void (*bus_worker_hook_fn)(bus_t *bus, unsigned worker, void *arg);

/* A slow handler call (bus_config_t.slow_handler_ns), as reported to
 * on_slow_handler. */
typedef struct bus_slow_call {
    bus_topic_t *topic;  /* the event's topic (a keyed topic, not its lane) */
    bus_sub_t *sub;      /* the handle the subscriber holds (a pattern
                            subscription's own, whichever topic it was on) */
    uint64_t ns;         /* how long the call ran */
    uint64_t slow_calls; /* the subscription's slow calls so far, this one
                            included: the ones not reported show here */
    bool paused;         /* this call paused the subscription
                            (bus_sub_options_t.pause_after) */
} bus_slow_call_t;

/* Called on the worker that made a slow handler call, after the call
 * returned, under a handler's rules (it may call what a handler may, e.g.
 * bus_sub_resume() or bus_unsubscribe() of @call->sub; it holds up that
 * worker while it runs). Reported once: a subscription's first slow call,
 * then at most one per second per subscription, plus every pause, so that
 * a storm of slow calls cannot make a storm of calls; every slow call is
 * counted all the same. Calls for different subscriptions, or from
 * different workers, may overlap. */
typedef void (*bus_slow_handler_fn)(const bus_slow_call_t *call, void *arg);

typedef struct bus_config {
    unsigned workers;    /* worker threads; 0 = online CPUs; at most 1024 */
    int wait;            /* BUS_WAIT_*; default BUS_WAIT_PARK */
    uint32_t max_topics; /* topics the bus can hold; default 65536, at most 2^24 */
    uint32_t batch;      /* events a worker dispatches from one topic before it
                            looks at other topics; default 64, 1 to 65536 */
    /* CPU affinity: worker i runs only on CPU worker_cpus[i % worker_cpus_count]
     * (numbers as in sched_setaffinity(2), below 1024). Read by bus_create()
     * only: the array may be freed once it returns. Count 0 = no pinning
     * (default). For another placement (a set of CPUs per worker, NUMA),
     * set it from on_worker_start. */
    const unsigned *worker_cpus;
    unsigned worker_cpus_count;
    /* Hooks for profilers, tracers and thread-local setup, NULL = none
     * (default). on_worker_start runs on each worker thread before it handles
     * any event; on_worker_stop after its last one, when bus_shutdown()
     * stops the workers (or bus_create() fails after starting some).
     * Both run under a handler's rules: they may call what a handler may,
     * and must not block for long (bus_shutdown() waits for on_worker_stop). */
    bus_worker_hook_fn on_worker_start;
    bus_worker_hook_fn on_worker_stop;
    void *worker_hook_arg; /* passed to both hooks */
    /* Timing for bus_topic_metrics() and bus_sub_metrics(): each worker
     * times 1 event in timing_sample (its wait in the ring and each of its
     * handler calls, two clock reads and a few relaxed adds per call); the
     * others cost a decrement. 0 = off, 1 = every event; default 64. */
    uint32_t timing_sample;
    /* Slow handlers: a handler call that runs longer than slow_handler_ns
     * is counted in its subscription's slow_calls (bus_sub_metrics()) and
     * reported to on_slow_handler (bus_slow_handler_fn). Every call is
     * timed, none sampled: with it on, each handler call costs a clock read
     * (docs/design.md). 0 = off (default): no clock read, no count, no
     * report, and no subscription is ever paused. on_slow_handler NULL =
     * count only; slow_handler_arg is passed to it. */
    uint64_t slow_handler_ns;
    bus_slow_handler_fn on_slow_handler;
    void *slow_handler_arg;
} bus_config_t;

/* What bus_publish() does when the topic's ring is full. */
enum { BUS_FULL_BLOCK = 0, BUS_FULL_FAIL = 1, BUS_FULL_DROP = 2 };

/* Topic flags. */
enum {
    /* Several workers may dispatch the topic at once. Handlers of a parallel
     * topic may run concurrently and see events out of seq order. One worker
     * takes the topic's events while it keeps up; another joins (up to all
     * of them) when it does not: after a batch of handler calls that took
     * more than 50 us with events waiting, or when the ring is full and a
     * publisher waits for room or is refused. So a cheap handler costs no
     * contention between workers, and a handler stuck on one event holds up
     * the others until the ring fills. The mode for competing consumers
     * (queue groups) that should work in parallel: an ordered topic (no
     * flag) is dispatched by one worker at a time, so its group members take
     * turns but never run at once. */
    BUS_TOPIC_PARALLEL = 1u << 0,
    /* Priority: when several topics have events, workers serve high-priority
     * topics first, then normal (neither flag), then low; every 4th turn of a
     * worker starts at a lower level, so no level starves. */
    BUS_TOPIC_HIGH_PRIORITY = 1u << 1,
    BUS_TOPIC_LOW_PRIORITY = 1u << 2,
    /* Keyed order (DPDK eventdev's atomic flows): events carry a key
     * (bus_publish_keyed); events with the same key are handled one at a
     * time in publish order, different keys in parallel on several workers.
     * The topic is split into min(16, capacity / 2) ordered lanes of
     * capacity / lanes events each, chosen by a hash of the key; seq counts
     * per lane. Not with BUS_TOPIC_PARALLEL. */
    BUS_TOPIC_KEYED = 1u << 3,
    /* Memory up front (as the Disruptor's pre-filled ring and Aeron's
     * pre-touched term buffers): bus_topic_open() writes every page of the
     * ring, so the first lap takes no page fault (without it, a fresh topic
     * of the default size faults about every 13 events, ~10 us each on a
     * VM). Costs the whole ring at once: capacity * stride bytes resident,
     * stride = 64 + max_payload rounded up to 16 (default 4096 * 320 = 1.25
     * MiB), plus capacity * 8 for a parallel topic. */
    BUS_TOPIC_PRETOUCH = 1u << 4,
    /* As BUS_TOPIC_PRETOUCH, and the ring is locked in memory (mlock), so it
     * is never swapped out; it is unlocked when the bus is destroyed. The
     * locked bytes count against RLIMIT_MEMLOCK (often 8 MiB) unless the
     * process has CAP_IPC_LOCK: bus_topic_open() returns -EPERM when the
     * limit is too low. */
    BUS_TOPIC_LOCKED = 1u << 5
};

typedef struct bus_topic_config {
    uint32_t capacity;    /* events the topic holds; a power of two, 2 to 2^31 */
    uint32_t max_payload; /* largest payload in bytes (0 allowed: empty events) */
    int full_policy;      /* BUS_FULL_* */
    unsigned flags;       /* BUS_TOPIC_*; at most one priority flag */
} bus_topic_config_t;

/* Counters of one topic. published + dropped = the events publish calls
 * returned 0 for (BUS_FULL_DROP returns 0 for a dropped event); a call that
 * returns an error (-EAGAIN from a full ring, ...) publishes nothing and
 * counts nowhere. An event dispatched while the topic has no subscriber is
 * consumed without a handler call. delivered and handler_errors count
 * handler calls, not events: an event handled by 3 subscribers adds 3. */
typedef struct bus_topic_stats {
    uint64_t published;      /* events accepted into the ring */
    uint64_t delivered;      /* handler calls that returned 0 (not events) */
    uint64_t dropped;        /* events refused by a full ring under BUS_FULL_DROP,
                                and events discarded by BUS_CLOSE_DROP */
    uint64_t handler_errors; /* handler calls that returned non-zero */
    uint32_t depth;          /* events in the ring now, being handled included */
    uint32_t high_water;     /* largest depth a publisher has seen */
    /* Back-pressure: times a BUS_FULL_BLOCK publish found the ring full and
     * waited for room (a bus_publish_batch() that waits twice counts 2). */
    uint64_t blocked;
    /* Redelivery (bus_sub_options_t.max_deliver), its subscriptions summed
     * (bus_sub_stats_t has them per subscription): */
    uint64_t retries;       /* failed calls given another try */
    uint64_t redelivered;   /* handler calls of redeliveries (attempt >= 2) */
    uint64_t dead_lettered; /* events given up after their last try */
    /* Retries discarded untried: their subscription left, their queue group
     * emptied, or bus_topic_close(BUS_CLOSE_DROP). */
    uint64_t retries_dropped;
    uint32_t retries_pending; /* retries waiting for their time or a worker now */
} bus_topic_stats_t;

/**
 * bus_config_init - fill @cfg with the defaults (workers 0 = online CPUs,
 * BUS_WAIT_PARK, max_topics 65536, batch 64, no CPU pinning, no hooks).
 * Thread-safety: any thread. @cfg NULL is ignored.
 */
BUS_API void bus_config_init(bus_config_t *cfg);

/**
 * bus_create - create a bus and start its worker threads.
 * @out: receives the bus; untouched on error.
 * @cfg: configuration, copied; NULL = defaults.
 * Thread-safety: any thread. The caller owns the bus and must destroy it.
 * Errors: -EINVAL (out NULL, a field out of range, worker_cpus NULL with a
 * count, a CPU number of 1024 or more or one the system does not have),
 * -ENOMEM (memory or threads could not be obtained).
 */
BUS_API int bus_create(bus_t **out, const bus_config_t *cfg);

/**
 * bus_shutdown - stop intake, deliver every queued event and join the
 * workers, but keep every handle valid. From its start, bus_publish() (also
 * when blocked on a full topic), bus_topic_open() and bus_subscribe() fail
 * with -ESHUTDOWN; every event accepted before that is delivered before it
 * returns, its redeliveries included (bus_sub_options_t.max_deliver: it
 * waits for their schedule). Use it to stop producers that race with the end of the bus: shut
 * down, let them see -ESHUTDOWN and join them, then bus_destroy().
 * The user's topics are sealed and drained first, the bus's own (names
 * starting with "bus.", e.g. the dead-letter topic) after them: dead letters
 * of failures during the drain are delivered (or, the dead-letter ring being
 * full, counted in its `dropped`). A handler that publishes during the drain
 * gets -ESHUTDOWN, as any producer.
 * After it, bus_flush(), bus_topic_stats(), bus_topic_name() and
 * bus_unsubscribe*() still work. Once it has returned 0, calling it again
 * returns 0 at once. Calls made while another is in progress help it and
 * return 0 only when the bus is shut down (workers joined), so any caller
 * that got 0 may go on to bus_destroy(). Same as
 * bus_shutdown_timeout(bus, UINT64_MAX).
 * Thread-safety: any thread except a worker of this bus (a handler) and its
 * timer thread (an on_reply called for a timeout, see bus_request()),
 * concurrently with any call on the bus except bus_destroy().
 * Errors: -EINVAL (bus NULL), -EDEADLK (called from a handler or the timer
 * thread of this bus, which it would wait for; nothing is done).
 */
BUS_API int bus_shutdown(bus_t *bus);

/**
 * bus_shutdown_timeout - bus_shutdown() that gives up after @timeout_ns
 * (relative, CLOCK_MONOTONIC; 0 = do not wait, unlike bus_request()'s 0;
 * a timeout so large that the deadline does not fit in 64 bits, such as
 * UINT64_MAX, means forever).
 * On -ETIMEDOUT the bus is half-way: intake is stopped (as above, for good),
 * the workers keep running and deliver the accepted events; call
 * bus_shutdown*() again to finish, or bus_destroy(), which finishes first.
 * The deadline bounds the wait for events to be handled, those of
 * bus_topic_close() calls in progress included; the workers' final join
 * (they are idle by then) waits for on_worker_stop hooks.
 * Thread-safety: as bus_shutdown().
 * Errors: as bus_shutdown(), and -ETIMEDOUT (events still being handled,
 * including those of another caller's shutdown or of a close in progress).
 */
BUS_API int bus_shutdown_timeout(bus_t *bus, uint64_t timeout_ns);

/**
 * bus_destroy - bus_shutdown() if not done yet, then run pending
 * bus_unsubscribe_async() completions and free the bus, its topics and the
 * remaining subscriptions. Every handle of the bus is invalid afterwards.
 * Thread-safety: any thread except a worker of this bus (a handler) and its
 * timer thread (an on_reply called for a timeout), once.
 * No other call on this bus or its handles may be running or start when it
 * begins its frees: threads that may still publish must be stopped first
 * (bus_shutdown() makes them fail with -ESHUTDOWN so they can be joined).
 * Errors: -EINVAL (bus NULL), -EDEADLK (called from a handler or the timer
 * thread of this bus; the bus is left running).
 */
BUS_API int bus_destroy(bus_t *bus);

/**
 * bus_topic_config_init - fill @cfg with the defaults: capacity 4096,
 * max_payload 256, BUS_FULL_BLOCK, ordered (flags 0).
 * Thread-safety: any thread. @cfg NULL is ignored.
 */
BUS_API void bus_topic_config_init(bus_topic_config_t *cfg);

/**
 * bus_topic_open - find the topic called @name, or create it.
 * @name: 1 to 255 bytes of tokens separated by single dots; a token is one or
 *   more printable, non-space ASCII characters other than '.', '*' and '>'
 *   (reserved for wildcards). Copied.
 *   Names whose first token is `bus` (`bus.dead_letter`, ...) are reserved
 *   for the bus's own topics: open them only to find those topics; wildcard
 *   patterns match them only when they name `bus` (bus_subscribe_pattern()).
 * @cfg: configuration for a new topic (copied). NULL = the topic as it is,
 *   whatever its configuration, or a new one with the defaults if none is
 *   called @name. Opening an existing topic with a non-NULL @cfg different
 *   from its own is an error (-EEXIST).
 * @out: receives the topic, owned by the bus (valid until bus_topic_close()
 *   or bus_destroy()).
 * The ring (capacity slots of max_payload bytes) is allocated here, once;
 * its pages are backed as events first use them, or here with
 * BUS_TOPIC_PRETOUCH or BUS_TOPIC_LOCKED.
 * Thread-safety: any thread, handlers included.
 * Errors: -EINVAL (NULL argument, malformed name or configuration, capacity *
 * slot size overflowing size_t), -EEXIST (topic exists with another
 * configuration), -ENOSPC (max_topics topics exist), -ENOMEM,
 * -EPERM (BUS_TOPIC_LOCKED: RLIMIT_MEMLOCK too low for the ring),
 * -ESHUTDOWN (bus shut down).
 */
BUS_API int bus_topic_open(bus_t *bus, const char *name, const bus_topic_config_t *cfg,
                   bus_topic_t **out);

/**
 * bus_topic_find - find the open topic called @name; never creates one.
 * @out: receives the topic, as bus_topic_open() would return it; untouched
 *   on error.
 * Thread-safety: any thread, handlers included.
 * Errors: -EINVAL (NULL argument, malformed name), -ENOENT (no open topic is
 * called @name).
 */
BUS_API int bus_topic_find(bus_t *bus, const char *name, bus_topic_t **out);

/* What bus_topic_close() does with the events still queued. */
enum {
    BUS_CLOSE_DRAIN = 0, /* deliver them first, as bus_flush() would */
    BUS_CLOSE_DROP = 1   /* discard them: counted in `dropped`, no handler call */
};

/**
 * bus_topic_close - close @topic and free it: for servers with short-lived
 * topics (one per user, connection or request inbox), so that memory does
 * not grow without bound.
 * From its start, publishing onto the topic fails with -EPIPE (a producer
 * blocked on its full ring wakes up and fails too), subscribing fails with
 * -EPIPE, and bus_topic_open()/bus_topic_find(), bus_flush(), wildcard
 * subscriptions and bus_topics_foreach() no longer see it: its name is free
 * for a new topic at once. Dead-letter routing stops when the dead-letter
 * topic is closed.
 * @mode: BUS_CLOSE_DRAIN: the events accepted before the start are handled
 *   before it returns (it waits for the handlers, as bus_flush() does, and
 *   for every pending redelivery, through its schedule);
 *   BUS_CLOSE_DROP: they are discarded without a handler call and counted in
 *   `dropped` (events already being handled finish; acknowledged publishes
 *   and requests among the discarded ones complete with status -EPIPE), and
 *   pending redeliveries are discarded, counted in `retries_dropped`.
 *   Either way every accepted event is delivered or dropped: published =
 *   delivered events + dropped.
 * @final: NULL, or receives the topic's last counters (taken when no event
 *   is left, so exact).
 * When it returns, no handler runs for the topic on any thread and none will
 * be called (the guarantee of bus_unsubscribe()): the topic's subscriptions
 * (plain ones, and the topic's share of wildcard subscriptions, which stay
 * valid for their other topics) have been removed and their handles freed.
 * Handle validity: the memory is reclaimed one RCU grace period after the
 * close returns (pending frees run by bus_destroy() at the latest). Other
 * threads may call bus_publish*(), bus_request*(), bus_subscribe*(),
 * bus_topic_stats() and bus_topic_name() on @topic while it
 * closes, and after, if they hold it (bus_hold_begin()): then they fail with
 * -EPIPE, or, when they win the race, succeed and their events count as
 * above. Handlers of the bus hold by themselves: a handler may publish onto a
 * topic that another thread is closing. Without a hold, using @topic once the
 * close has started on another thread is a use-after-free, as using a
 * subscription after bus_unsubscribe(); so is using a subscription handle of
 * the topic, or bus_unsubscribe() of one, once the close has started.
 * It waits for the drain (as bus_flush() does for one topic), never for an
 * RCU grace period: the memory is freed later, by liburcu's call_rcu thread.
 * Thread-safety: any thread except a worker of the topic's bus (a handler:
 * -EDEADLK, the close would wait for its own worker) and its timer thread
 * (an on_reply called for a timeout, as for bus_flush()).
 * Concurrently with other calls on the bus, bus_shutdown() included (which
 * waits for the closes in progress).
 * Errors: -EINVAL (topic NULL, unknown mode), -EDEADLK (from a handler, the
 * timer thread, a bus_topics_foreach() callback or the topic's watermark
 * callback), -EPIPE (another close of @topic is in progress), -ESHUTDOWN (the bus is
 * shut down: the topic is freed by bus_destroy()). On an error nothing is
 * done.
 */
BUS_API int bus_topic_close(bus_topic_t *topic, int mode, bus_topic_stats_t *final);

/**
 * bus_hold_begin - hold the topics: until the matching bus_hold_end() on this
 * thread, no topic closed meanwhile is freed, so a handle obtained before its
 * bus_topic_close() returned stays usable (calls fail with -EPIPE). For
 * producers that load a topic handle from a table another thread closes
 * topics of: hold, load the handle, publish, end the hold. Holds nest.
 * Cost: two calls into liburcu-bp (an RCU read-side section); nothing for
 * callers that do not race with closes.
 * While holding, do not call what waits for a grace period:
 * bus_unsubscribe() outside a handler and bus_destroy() (they would wait for
 * the hold itself). A hold delays the free of closed topics, bus_unsubscribe()
 * callers and bus_unsubscribe_async() completions of the whole process until
 * it ends (a publish blocked on a full BUS_FULL_BLOCK topic included): keep
 * holds short.
 * Thread-safety: any thread, handlers included (they hold already).
 */
BUS_API void bus_hold_begin(void);

/* bus_hold_end - end the hold begun by the matching bus_hold_begin(). */
BUS_API void bus_hold_end(void);

/**
 * bus_topic_name - the topic's name, owned by the bus.
 * Thread-safety: any thread. Returns NULL for a NULL topic.
 */
BUS_API const char *bus_topic_name(const bus_topic_t *topic);

/**
 * bus_subscribe - call @fn(event, @ctx) for every event of @topic dispatched
 * from now on, on a worker thread.
 * @ctx: the caller's; the bus never touches it. It must stay valid until
 *   bus_unsubscribe() returns (or the async completion runs, or the bus is
 *   destroyed).
 * @out: receives the subscription handle.
 * Never waits for handlers; events already being dispatched may not reach the
 * new handler. Thread-safety: any thread, handlers included.
 * Errors: -EINVAL (NULL argument), -ENOMEM, -ESHUTDOWN.
 */
BUS_API int bus_subscribe(bus_topic_t *topic, bus_handler_fn fn, void *ctx, bus_sub_t **out);

/* A content filter: return true to let the event through to the handler.
 * Runs on the worker, before the handler, with the same event. */
typedef bool (*bus_filter_fn)(const bus_event_t *ev, void *ctx);

/* Options of bus_subscribe_ex(). */
typedef struct bus_sub_options {
    /* Queue group (competing consumers): each event goes to exactly one
     * member of each group, round robin, and to every plain subscriber.
     * Members run in parallel only as far as the topic's mode allows: on an
     * ordered topic one worker dispatches at a time, so the group spreads
     * events but gains no parallelism. Use BUS_TOPIC_PARALLEL for parallel
     * members, BUS_TOPIC_KEYED for parallel members that keep per-key order.
     * NULL = a plain subscription. Copied; 1 to 255 bytes. */
    const char *group;
    bus_filter_fn filter; /* NULL = every event */
    void *filter_ctx;
    /* Pause the subscription after this many slow handler calls in a row
     * (bus_config_t.slow_handler_ns), so that one bad handler cannot hold a
     * worker forever: its next events are skipped and counted in
     * paused_skips (bus_sub_metrics()); a queue-group member passes them on
     * to the next member, as one whose filter rejects them. The pause is
     * reported (bus_slow_call_t.paused) and lasts until bus_sub_resume().
     * "In a row": no call under the threshold in between, in the order the
     * calls end (on a parallel topic, calls running at once may still end
     * after the pause). 0 = never pause (default); needs slow_handler_ns. */
    uint32_t pause_after;
    /* Redelivery (JetStream's MaxDeliver and BackOff, SQS's maxReceiveCount):
     * how many times an event is delivered to this subscription at most,
     * the first delivery included. A call that fails (non-zero) before the
     * last is counted in `retries` and tried again after the delay of
     * backoff_ns; the call that fails the last time sends the event to the
     * dead letters (bus_dead_letter_topic()), which record the number of
     * deliveries (bus_dead_letter_attempts()), and counts in
     * `dead_lettered`. The handler reads ev->attempt. 0 or 1 = no
     * redelivery (default): a failed call goes to the dead letters at once.
     * How it works (docs/design.md): the failing worker copies the event
     * (the only allocation, on the failure path; its ring slot is freed as
     * usual) and arms the bus's timer thread, which hands the copy back to
     * the topic when the delay is over; a worker then calls the handler
     * again. No worker waits out a delay.
     * Where: a plain subscription's retry goes to that subscription; a
     * queue group member's to the group (round robin, the member that
     * failed included), judged by the options of the member that tries it.
     * Order: a retry is delivered after the events that were dispatched
     * meanwhile (a retried event overtakes nothing and is overtaken), unless
     * redeliver_in_order is set. Unsubscribing drops the subscription's
     * retries (counted in the topic's retries_dropped); a queue group's
     * retries go on to the members left.
     * bus_flush(), bus_topic_close(BUS_CLOSE_DRAIN) and bus_shutdown() wait
     * for the retries of the events they wait for, through the whole
     * schedule (use their _timeout forms to bound it); BUS_CLOSE_DROP drops
     * them. An acknowledged publish (on_complete) and a request report the
     * first delivery only; bus_reply() from a redelivery is -EINVAL. */
    uint32_t max_deliver;
    /* The delay before the n-th redelivery, in ns: backoff_ns[min(n - 1,
     * backoff_count - 1)] (the last one repeats, as JetStream's BackOff);
     * backoff_count 0 = no delay (the next worker turn). At most
     * max_deliver - 1 entries, each at most 2^62 ns. Copied. */
    const uint64_t *backoff_ns;
    uint32_t backoff_count;
    /* Keep order through retries (payments): while an event waits for its
     * retry, the topic (ordered) or the event's lane (BUS_TOPIC_KEYED:
     * same-key order, other lanes go on) dispatches none of its later
     * events, to any subscriber; it resumes once the event succeeded or was
     * dead-lettered. Costs: that topic or lane stalls for the whole
     * schedule and its ring fills (publishers block, fail or drop by its
     * full_policy); no worker waits meanwhile. The other subscribers of
     * the failed event itself have had it already. Ignored on
     * BUS_TOPIC_PARALLEL topics, which keep no order. */
    bool redeliver_in_order;
    /* Durable consumers only (bus_subscribe_durable(), bus/journal.h):
     * where the consumer starts (BUS_START_*, default BUS_START_STORED), the
     * seq for BUS_START_SEQ, and what to call, on the consumer's thread,
     * when retention deleted events [from, to) it had not read (NULL = count
     * them only). */
    int start;
    uint64_t start_seq;
    void (*on_skip)(bus_sub_t *sub, uint64_t from, uint64_t to, void *ctx);
} bus_sub_options_t;

/**
 * bus_sub_options_init - fill @opts with the defaults (plain, no filter, no
 * pause, no redelivery).
 * Thread-safety: any thread. @opts NULL is ignored.
 */
BUS_API void bus_sub_options_init(bus_sub_options_t *opts);

/**
 * bus_subscribe_ex - bus_subscribe() with options: a queue group and/or a
 * content filter. A group member whose filter rejects an event passes it on
 * to the next member of its group; an event no member accepts is filtered.
 * Members join and leave while events flow; an event being dispatched while
 * a group changes goes to one member of the group as it was or as it is.
 * @opts NULL = bus_subscribe(). Ownership and thread-safety as bus_subscribe().
 * Errors: -EINVAL (NULL argument, group "" or longer than 255 bytes,
 * pause_after on a bus whose slow_handler_ns is 0, backoff_ns NULL with a
 * count, more than max_deliver - 1 entries or one over 2^62), -ENOMEM,
 * -ESHUTDOWN.
 */
BUS_API int bus_subscribe_ex(bus_topic_t *topic, bus_handler_fn fn, void *ctx,
                             const bus_sub_options_t *opts, bus_sub_t **out);

/**
 * bus_sub_resume - end a pause of @sub (bus_sub_options_t.pause_after): its
 * handler gets events again, from those dispatched after the workers see
 * the resume (the ones skipped meanwhile are not replayed), and its count
 * of slow calls in a row starts over. A pattern subscription resumes on
 * every topic. Resuming a subscription that is not paused does nothing.
 * Thread-safety: any thread, handlers and on_slow_handler included, while
 * @sub is valid.
 * Errors: -EINVAL (sub NULL).
 */
BUS_API int bus_sub_resume(bus_sub_t *sub);

/**
 * bus_subscribe_pattern - subscribe to every topic whose name matches
 * @pattern, now and later: NATS subject syntax, where a token `*` matches
 * exactly one token and a last token `>` matches one or more tokens
 * (`orders.*.created`, `metrics.>`). Topics opened later that match get the
 * subscription when they are created; matching never happens per event.
 * Reserved names: a topic whose first token is `bus` (the bus's own topics,
 * such as `bus.dead_letter`) matches only a pattern whose first token is
 * literally `bus` (`bus.>`, `bus.*`), never `>`, `*.dead_letter` or
 * `*.>`, as NATS does with `$SYS`: a catch-all subscriber does not receive
 * the bus's own events by accident.
 * ev->topic tells the handler which topic an event came from. Each matching
 * topic dispatches the handler as a subscription of its own (order per topic,
 * groups and filters per topic). bus_unsubscribe*() detaches from all, with
 * the same guarantees as for one topic; bus_sub_stats() sums over them.
 * @opts: as bus_subscribe_ex(), NULL = plain.
 * Thread-safety: any thread, handlers included.
 * Errors: -EINVAL (NULL argument, malformed pattern: tokens as in topic names,
 * or `*`, or `>` as the last token only; pause_after as bus_subscribe_ex()),
 * -ENOMEM, -ESHUTDOWN. As for every
 * call, a failure has no effect: the handler has not been called, even when
 * memory ran out after some matching topics were subscribed.
 */
BUS_API int bus_subscribe_pattern(bus_t *bus, const char *pattern, bus_handler_fn fn,
                                  void *ctx, const bus_sub_options_t *opts, bus_sub_t **out);

/* Counters of one subscription. */
typedef struct bus_sub_stats {
    uint64_t delivered;      /* handler calls that returned 0 */
    uint64_t handler_errors; /* handler calls that returned non-zero */
    uint64_t filtered;       /* events its filter rejected */
    /* Redelivery (bus_sub_options_t.max_deliver); a queue group's retry
     * counts on the member that tried it. */
    uint64_t retries;        /* failed calls given another try */
    uint64_t redelivered;    /* calls of redeliveries (ev->attempt >= 2),
                                also counted in delivered or handler_errors */
    uint64_t dead_lettered;  /* events given up after the last try */
} bus_sub_stats_t;

/**
 * bus_sub_stats - copy the subscription's counters to @out (a near snapshot
 * while events flow). Thread-safety: any thread, handlers included, while
 * @sub is valid. Errors: -EINVAL (NULL argument).
 */
BUS_API int bus_sub_stats(const bus_sub_t *sub, bus_sub_stats_t *out);

/**
 * bus_unsubscribe - stop calling the subscription's handler and free @sub.
 * From a thread that is not a worker: when it returns, the handler is not
 * running for @sub on any thread and will never be called for it again; the
 * caller may free ctx or unload the handler's code. It waits for an RCU grace
 * period, i.e. for the handler calls in progress to return.
 * From a handler (its own subscription or any other): it does not wait (that
 * would deadlock); when it returns no new call of @sub starts, but a call
 * already running on another worker may still be finishing.
 * Redelivery: @sub's pending retries are dropped, counted in the topic's
 * retries_dropped (a queue group member's go on to the members left). Use
 * bus_unsubscribe_async() to learn when ctx may be freed.
 * @sub is invalid after the call.
 * Errors: -EINVAL (sub NULL).
 */
BUS_API int bus_unsubscribe(bus_sub_t *sub);

/* Called once when an asynchronously removed handler can no longer run. */
typedef void (*bus_unsubscribed_fn)(void *arg);

/**
 * bus_unsubscribe_async - like bus_unsubscribe(), but return at once; @done(@arg)
 * is called later, on liburcu's call_rcu thread, once no call of the handler is
 * running or will ever start. Then ctx may be freed. @done may be NULL.
 * @done may call bus functions except bus_destroy() and bus_flush*(); it runs
 * before bus_destroy() of the bus returns at the latest.
 * Thread-safety: any thread, handlers included. @sub is invalid after the call.
 * Errors: -EINVAL (sub NULL); @done is then never called.
 */
BUS_API int bus_unsubscribe_async(bus_sub_t *sub, bus_unsubscribed_fn done, void *arg);

/**
 * bus_publish - copy @size bytes at @data into a slot of @topic and queue it
 * for dispatch. @data is the caller's, unused after the call returns.
 * On a full ring: BUS_FULL_BLOCK waits for room (spin, yield, then short
 * sleeps). BUS_FULL_FAIL returns -EAGAIN; BUS_FULL_DROP discards the event,
 * counts it in `dropped` and returns 0 (fire and forget: the loss shows in
 * the stats, not here).
 * From a handler (back-pressure through a graph of topics): BUS_FULL_BLOCK
 * waits too, and loses nothing. While it waits, the handler's worker
 * dispatches batches of the full topic itself when no other worker holds it
 * (nested inside the handler: the full topic's handlers run on this thread
 * before bus_publish() returns), else waits for the worker that holds it.
 * On a graph without cycles this always ends, with any number of workers.
 * When the wait closes a cycle, so that no slot can ever be freed (the
 * handler publishes onto its own full topic, or a -> b -> a with both
 * full), it returns -EDEADLK: at once when the handler's own worker keeps
 * the topic full, else once the cycle is seen twice, 1 ms apart. Nested
 * dispatches are at most 64 deep (one per stage of the longest path): a
 * wait that would need more returns -EDEADLK. A handler of another bus's
 * worker gets -EAGAIN from a full BUS_FULL_BLOCK ring.
 * Order: on an ordered topic (the default) each producer's events are
 * dispatched in its own publish order; a parallel topic's handlers may see
 * them out of order (BUS_TOPIC_PARALLEL), and a keyed topic keeps the order
 * per key (BUS_TOPIC_KEYED; this call uses key 0).
 * Thread-safety: any thread, handlers included.
 * Errors: -EINVAL (topic NULL, data NULL with size > 0), -EMSGSIZE (size over
 * max_payload), -EAGAIN (ring full, as above), -EDEADLK (from a handler: a
 * cycle of full topics, as above), -ESHUTDOWN (bus shut down), -EPIPE (topic
 * closed or being closed: bus_topic_close()).
 */
BUS_API int bus_publish(bus_topic_t *topic, const void *data, size_t size);

/* What became of an event published with a completion callback. */
typedef struct bus_completion {
    bus_topic_t *topic;
    uint64_t seq;      /* the event's seq; 0 if it was dropped */
    uint32_t handled;  /* handler calls that returned 0 */
    uint32_t failed;   /* handler calls that returned non-zero */
    int status;        /* 0: dispatched (to every subscriber active then, maybe
                          none); -EAGAIN: dropped by a full BUS_FULL_DROP ring;
                          -EPIPE: discarded by bus_topic_close(BUS_CLOSE_DROP) */
    const void *data;  /* the payload pointer given to bus_publish_ex() */
} bus_completion_t;

typedef void (*bus_complete_fn)(const bus_completion_t *c, void *arg);

/* A durable topic's event published with bus_publish_options_t.on_durable
 * is on the disk (@status 0: it survives power loss), or the fdatasync
 * that was to put it there failed (@status -EIO: it may be lost to a power
 * loss; the journal takes no more events until reopened), or a full
 * BUS_FULL_DROP ring dropped it before the journal (@status -EAGAIN, @seq
 * 0, called before bus_publish_ex() returns). @seq: the event's seq. */
typedef void (*bus_durable_fn)(uint64_t seq, int status, void *arg);

/* Options of bus_publish_ex(). */
typedef struct bus_publish_options {
    /* Acknowledged publish: called exactly once, on the worker, after every
     * subscriber active at dispatch has handled the event (with how many
     * succeeded and failed), or on the publishing thread, before
     * bus_publish_ex() returns, if the event is dropped. NULL = none. */
    bus_complete_fn on_complete;
    void *arg;
    /* Zero copy: the bus keeps the @data pointer instead of copying the
     * payload; handlers read the caller's memory, which must stay valid and
     * unchanged until on_complete (required) is called: that is the release
     * callback. max_payload does not limit zero-copy events. */
    bool zero_copy;
    /* NULL, or receives the event's seq (bus_event_t.seq) once it is
     * accepted, written before any handler can see the event; left as it
     * was when the call fails or a full BUS_FULL_DROP ring drops the event.
     * For a front end that answers a publish with its seq (an HTTP 202). */
    uint64_t *seq;
    /* Durable topics (bus/journal.h) under BUS_SYNC_ALWAYS or
     * BUS_SYNC_INTERVAL: publish without waiting for the fdatasync.
     * bus_publish_ex() returns 0 once the event is in the journal (it
     * survives kill -9); on_durable(seq, status, durable_arg) is called
     * exactly once: when a sync covered it (it survives power loss) or
     * failed, on the journal's thread ("bus-journal"), in seq order,
     * possibly before the bus_publish_ex() that published it returned
     * (opts->seq is written before); or, for an event a full
     * BUS_FULL_DROP ring dropped, on the calling thread before
     * bus_publish_ex() returns (bus_durable_fn). It must be short, must
     * not close the topic or the bus, and must not publish onto this
     * topic (on a full ring it would wait for the slots only this thread
     * commits); other topics are fine.
     * Under BUS_SYNC_ALWAYS subscribers and durable consumers still see
     * the event only once it is on the disk (an event whose sync failed is
     * never delivered); so many events in flight per producer share each
     * fdatasync. Under BUS_SYNC_INTERVAL it is called after the next
     * interval sync. NULL = none (bus_publish_ex waits for the sync under
     * BUS_SYNC_ALWAYS). */
    bus_durable_fn on_durable;
    void *durable_arg;
    /* Redelivery by the publisher: for a bridge from a system that
     * redelivers what failed (bus-nats' JetStream imports). Both need
     * on_complete (-EINVAL otherwise), which hears each failure; both are
     * copied into the event by the call, like the rest of the options.
     * @attempt: which delivery of the event this publish is, as that system
     * counts them; handlers read it as ev->attempt, a subscription's own
     * redelivery (bus_sub_options_t.max_deliver) goes on from it, and a
     * dead letter of the event records it (bus_dead_letter_attempts()).
     * 0 or 1 = the first (default).
     * @publisher_redelivers: the publisher delivers the event again if a
     * handler call fails, so the bus neither dead-letters a failed call nor
     * redelivers it (no subscription's max_deliver applies); it is counted
     * in handler_errors only. false (default, and the publisher's last try):
     * a failed call is redelivered or dead-lettered as any other. Kept for
     * the live subscribers only: a durable topic's journal does not record
     * them (its durable consumers count their own attempts). */
    uint32_t attempt;
    bool publisher_redelivers;
} bus_publish_options_t;

/**
 * bus_publish_options_init - fill @opts with the defaults (no callback,
 * copy, no seq, no on_durable, first delivery, no redelivery by the
 * publisher). Thread-safety: any thread. @opts NULL is ignored.
 */
BUS_API void bus_publish_options_init(bus_publish_options_t *opts);

/**
 * bus_publish_ex - bus_publish() with a completion callback (acknowledged
 * publish) and/or zero copy; @opts NULL = bus_publish(). On an error return
 * the callback is never called and a zero-copy payload still belongs to the
 * caller. Thread-safety: any thread, handlers included.
 * Errors: as bus_publish(), and -EINVAL (zero_copy, attempt > 1 or
 * publisher_redelivers without on_complete; on_durable on a topic that is
 * not durable, or under BUS_SYNC_NONE).
 */
BUS_API int bus_publish_ex(bus_topic_t *topic, const void *data, size_t size,
                           const bus_publish_options_t *opts);

/* The answer to a request: status 0 with the reply (valid during the call
 * only), or an error: -ETIMEDOUT (no reply in time), -ENOENT (no subscriber
 * was called: nobody listens), -ENOMSG (handlers ran, none replied), -EAGAIN
 * (dropped by a full BUS_FULL_DROP ring), -EPIPE (discarded by
 * bus_topic_close(BUS_CLOSE_DROP)). */
typedef void (*bus_reply_fn)(int status, const void *reply, size_t size, void *arg);

/**
 * bus_request - publish a request (copied, like bus_publish()) and call
 * @on_reply(status, reply, size, @arg) exactly once: with the first reply a
 * handler gives through bus_reply(), or with an error (see bus_reply_fn).
 * The call happens on the replying worker, on the worker that finished
 * dispatching the request (no reply), on the bus's timer thread (timeout),
 * or, for a request dropped by a full BUS_FULL_DROP ring, on the calling
 * thread before bus_request() returns 0.
 * on_reply should be short: on the timer thread it delays every other
 * timeout of the bus. On a worker or the timer thread it must not call
 * bus_shutdown(), bus_destroy() or bus_request_wait() on this bus (they
 * would wait for their own thread: -EDEADLK); bus_request() is fine.
 * @timeout_ns: counted from the call; 0 = no timeout, and so is a timeout
 *   too large for the clock to reach (such as UINT64_MAX: wait forever).
 *   The timer starts once the request is published: a publish blocked on a
 *   full BUS_FULL_BLOCK topic is not cut short by it, and a request whose
 *   deadline passed meanwhile times out at once unless it was answered.
 *   Timeouts share one thread per bus.
 * A request published onto a parallel topic or a queue group works the same;
 * on a keyed topic it goes to the lane of key 0, as bus_publish() does.
 * Thread-safety: any thread, handlers included (on_reply must then not
 * expect to run before the handler returns; from a handler a full
 * BUS_FULL_BLOCK topic waits as for bus_publish(), and on_reply may run
 * during the call if the handler's worker dispatches the request nested).
 * Errors: as bus_publish(), and -EINVAL (on_reply NULL); -ENOMEM.
 * On an error on_reply is never called.
 */
BUS_API int bus_request(bus_topic_t *topic, const void *data, size_t size,
                        uint64_t timeout_ns, bus_reply_fn on_reply, void *arg);

/**
 * bus_reply - answer the request @ev (inside its handler) with @size bytes at
 * @data, passed to the requester's on_reply during this call. Only the first
 * reply to a request counts.
 * Thread-safety: only from the handler that received @ev, during the call.
 * Errors: -EINVAL (ev NULL, data NULL with size > 0, @ev is not a request),
 * -EALREADY (the request was answered already, or timed out).
 */
BUS_API int bus_reply(const bus_event_t *ev, const void *data, size_t size);

/**
 * bus_reply_error - answer the request @ev (inside its handler) with the
 * error @status instead of a reply: the requester's on_reply gets @status
 * (a negative errno, e.g. -ENOENT when a bridge to another process found
 * nobody listening there) with no data. Only the first answer counts.
 * Thread-safety: as bus_reply().
 * Errors: -EINVAL (ev NULL, @status not negative, @ev is not a request),
 * -EALREADY (the request was answered already, or timed out).
 */
BUS_API int bus_reply_error(const bus_event_t *ev, int status);

/* How an event was published, as bus_event_source() tells its handler. */
typedef struct bus_event_source {
    /* bus_publish_ex()'s on_complete and arg; NULL for a plain publish and
     * for a request. */
    bus_complete_fn on_complete;
    void *arg;
    /* A request (bus_request*()): its on_reply and arg, and its deadline
     * (CLOCK_MONOTONIC ns; UINT64_MAX = none). NULL/0 otherwise. */
    bus_reply_fn on_reply;
    void *reply_arg;
    uint64_t deadline_ns;
} bus_event_source_t;

/**
 * bus_event_source - inside its handler: how @ev was published (plain,
 * acknowledged, or a request and its deadline), copied to @out. For layers
 * that forward events: a bridge recognises the events it published itself
 * (no echo) and the requests it must forward with the time they have left.
 * Thread-safety: only from the handler that received @ev, during the call
 * (elsewhere every event looks like a plain publish: the bus keeps this
 * record only while the handlers of an acknowledged publish or a request
 * run, so plain events pay nothing for it).
 * Errors: -EINVAL (NULL argument).
 */
BUS_API int bus_event_source(const bus_event_t *ev, bus_event_source_t *out);

/**
 * bus_request_wait - bus_request() that blocks until the answer. The reply
 * is copied to @buf (up to @buf_size bytes; @buf may be NULL if @buf_size is
 * 0); *@reply_size receives its full size. Returns the status (0, or the
 * errors of bus_reply_fn), or an error of bus_request() (-EMSGSIZE: the
 * request's payload is over max_payload), or -ENOBUFS if the reply was
 * larger than @buf_size (the first @buf_size bytes are copied).
 * Thread-safety: any thread that is not a worker or the timer thread of the
 * topic's bus (-EDEADLK): a worker waiting for a reply could wait for
 * itself, the timer thread for a timeout only it can fire.
 * Errors: as above, and -EINVAL (topic or reply_size NULL, buf NULL with
 * buf_size > 0).
 */
BUS_API int bus_request_wait(bus_topic_t *topic, const void *data, size_t size,
                             uint64_t timeout_ns, void *buf, size_t buf_size,
                             size_t *reply_size);

/**
 * bus_publish_keyed - bus_publish() with a key, for BUS_TOPIC_KEYED topics:
 * events with equal keys are handled in publish order, one at a time. On
 * other topics the key is ignored. bus_publish() on a keyed topic uses key 0.
 * Thread-safety and errors: as bus_publish().
 */
BUS_API int bus_publish_keyed(bus_topic_t *topic, uint64_t key, const void *data, size_t size);

/* One event of a batch: @size bytes at @data. */
typedef struct bus_msg {
    const void *data;
    size_t size;
} bus_msg_t;

/**
 * bus_publish_batch - publish @count events onto @topic with as few ring
 * reservations as room allows (one when the ring has room for all): cheaper
 * than @count calls of bus_publish(). The events get consecutive seqs, in
 * array order. Payloads are copied; @msgs is the caller's. On a keyed topic
 * the whole batch goes to the lane of key 0, as bus_publish() does.
 * @accepted: receives how many events (a prefix of @msgs) were accepted.
 * When the ring is full: BUS_FULL_BLOCK waits for room until all are accepted
 * (from a handler as bus_publish() does; on a cycle of full topics it stops
 * with what was accepted); BUS_FULL_FAIL accepts what fits; BUS_FULL_DROP
 * accepts what fits and counts the rest in `dropped`.
 * Returns 0 when at least one event was accepted or @count is 0, even if
 * fewer than @count were (check *accepted). An error means none was accepted.
 * Thread-safety: any thread, handlers included.
 * Errors: -EINVAL (topic, accepted NULL; msgs NULL with count > 0; a message
 * with data NULL and size > 0), -EMSGSIZE (a size over max_payload; checked
 * before anything is published), -EAGAIN (ring full, nothing accepted:
 * BUS_FULL_FAIL, or BUS_FULL_BLOCK on another bus's worker), -EDEADLK (from
 * a handler, nothing accepted: a cycle, as bus_publish()), -ESHUTDOWN.
 * BUS_FULL_DROP with a full ring returns 0 with *accepted 0.
 */
BUS_API int bus_publish_batch(bus_topic_t *topic, const bus_msg_t *msgs, size_t count,
                              size_t *accepted);

/* The payload of an event on the dead-letter topic: a handler failed. */
typedef struct bus_dead_letter {
    bus_topic_t *topic; /* the topic the event was published on */
    uint64_t seq;       /* its seq there */
    int error;          /* what the failing handler returned (the last call) */
    uint32_t copied;    /* payload bytes that follow this header */
    uint64_t size;      /* the original payload size (copied may be less) */
    /* followed by the first `copied` bytes of the original payload; then,
     * for an event delivered more than once (redelivery) and when the
     * letter has room, a uint32_t trailer, unaligned: the number of
     * deliveries (bus_dead_letter_attempts() reads it). The trailer
     * follows the payload, and letters of one delivery have none, so that
     * the header, the payload's place and those letters stay as they were:
     * readers built before it still read every letter right. */
} bus_dead_letter_t;

/**
 * bus_dead_letter_attempts - how many times the event of the dead letter
 * @letter (an event of the dead-letter topic, in its handler) was delivered
 * before it was given up: 1 without redelivery, max_deliver after the last
 * try (bus_sub_options_t), the publisher's count for an event it
 * redelivers itself (bus_publish_options_t.attempt), fewer when a retry could not be scheduled (no
 * memory, or the bus's timer thread stopped). 0 if @letter is NULL, is not
 * a letter, or has no room for the trailer (a dead-letter topic whose
 * max_payload is under sizeof(bus_dead_letter_t) + 4).
 * Thread-safety: any thread, while @letter is valid.
 */
BUS_API uint32_t bus_dead_letter_attempts(const bus_event_t *letter);

/**
 * bus_dead_letter_topic - open the bus's dead-letter topic, "bus.dead_letter",
 * and start routing to it: from then on, every handler call that fails
 * (returns non-zero) publishes a bus_dead_letter_t, followed by as much of
 * the payload as fits (and the attempts trailer of a redelivered event),
 * onto it; with redelivery (bus_sub_options_t.max_deliver), once the last
 * try failed. Failures of the dead-letter topic's own
 * handlers are not routed again (they count in its handler_errors).
 * @cfg: the topic's configuration; NULL = the dead-letter topic as it is if
 *   it is open already, else capacity 1024, max_payload 256 +
 *   sizeof(bus_dead_letter_t), BUS_FULL_DROP. A full dead-letter ring drops
 *   (counted in its `dropped`): a worker never waits for it. The policy is
 *   forced to BUS_FULL_DROP and max_payload must hold the header. Flags:
 *   BUS_TOPIC_PARALLEL (letters handled concurrently, out of seq order) and
 *   a priority are allowed; BUS_TOPIC_KEYED is not (a letter has no key).
 * Calling it again returns the same topic (with @cfg NULL, or the same
 * configuration). Thread-safety: any thread.
 * Errors: as bus_topic_open() (-EEXIST: open with a different configuration),
 * -EINVAL if max_payload is smaller than sizeof(bus_dead_letter_t) or the
 * flags include BUS_TOPIC_KEYED, and -EPIPE if another thread closes the
 * dead-letter topic meanwhile (call again to open a new one).
 */
BUS_API int bus_dead_letter_topic(bus_t *bus, const bus_topic_config_t *cfg, bus_topic_t **out);

/**
 * bus_flush - return when every event published (bus_publish() returned 0)
 * before the call has been handled by every subscriber, redeliveries
 * included: an event with a retry pending (bus_sub_options_t.max_deliver)
 * counts as handled once a try succeeded, it was dead-lettered or its
 * retry dropped, so the wait may last its whole backoff schedule. Events published
 * meanwhile, by handlers included, may or may not be handled (bus_flush_quiet()
 * waits for those too). Same as bus_flush_timeout(bus, UINT64_MAX); allocates
 * nothing.
 * Thread-safety: any thread except a worker of this bus and its timer thread
 * (a handler waiting in bus_request_wait() may need that thread to time it
 * out). Waits by spinning, yielding, then sleeping in short steps.
 * Errors: -EINVAL (bus NULL), -EDEADLK (called from a handler or the timer
 * thread of this bus).
 */
BUS_API int bus_flush(bus_t *bus);

/**
 * bus_flush_timeout - bus_flush() that gives up after @timeout_ns (relative,
 * CLOCK_MONOTONIC; 0 = do not wait, only check, unlike bus_request()'s 0;
 * a timeout so large that the deadline does not fit in 64 bits, such as
 * UINT64_MAX, means forever).
 * Thread-safety: as bus_flush().
 * Errors: as bus_flush(), and -ETIMEDOUT (some of those events were not
 * handled yet; nothing is undone, they will be).
 */
BUS_API int bus_flush_timeout(bus_t *bus, uint64_t timeout_ns);

/**
 * bus_flush_quiet - wait until the bus is quiet: every event is handled,
 * those that handlers publish meanwhile included (forwarded events, dead
 * letters, replies, their consequences), and no handler runs. When it
 * returns 0 there was an instant at which every topic was empty and no
 * handler was running. Use it to wait for a pipeline of topics to drain.
 * Threads other than the workers must stop publishing for it to succeed
 * (else it waits until @timeout_ns); it does not wait for request timeouts
 * still armed (their on_reply runs later on the timer thread) nor for
 * bus_unsubscribe_async() completions.
 * @timeout_ns: as bus_flush_timeout().
 * Thread-safety: as bus_flush().
 * Errors: as bus_flush_timeout().
 */
BUS_API int bus_flush_quiet(bus_t *bus, uint64_t timeout_ns);

/**
 * bus_topic_stats - copy the topic's counters to @out. Counters are read one by
 * one while events flow, so they are a near snapshot, exact once the topic is
 * quiet (e.g. after bus_flush() with no publisher running).
 * Thread-safety: any thread, handlers included.
 * Errors: -EINVAL (NULL argument).
 */
BUS_API int bus_topic_stats(const bus_topic_t *topic, bus_topic_stats_t *out);

/* A latency distribution of timed events (bus_config_t.timing_sample), in
 * ns. Quantiles come from log-linear buckets: each is within 1.6% of a
 * value actually recorded near that rank (32 buckets per power of two, the
 * bucket's midpoint reported; exact below 64 ns), from 0 to 137 s (longer
 * times count in the last bucket; max is exact). All 0 when count is 0. */
typedef struct bus_latency {
    uint64_t count;  /* timed samples */
    uint64_t sum_ns; /* their total */
    uint64_t p50_ns, p90_ns, p99_ns, p999_ns;
    uint64_t max_ns; /* the largest sample, exact */
} bus_latency_t;

/* A topic's metrics (bus_topic_metrics()). */
typedef struct bus_topic_metrics {
    bus_topic_stats_t stats; /* as bus_topic_stats() */
    bus_latency_t wait;      /* publish to the start of the event's handler calls */
    bus_latency_t handler;   /* one handler call, every subscriber's */
    /* Events published (stats.published) and handler calls that returned 0
     * (stats.delivered) per second over the last 1 s and the last 10 s,
     * from samples the bus takes every 100 ms once metrics are read (see
     * bus_topic_metrics()). With less history than the window, over the
     * history there is; 0 with less than 100 ms of it. */
    double publish_rate_1s, publish_rate_10s;
    double deliver_rate_1s, deliver_rate_10s;
    /* How long the oldest event in the ring has been there (waiting, or
     * being handled); 0 when the ring is empty or that event is still
     * being written. A keyed topic's: the oldest of its lanes'. */
    uint64_t oldest_age_ns;
} bus_topic_metrics_t;

/**
 * bus_topic_metrics - copy the topic's counters and the latency quantiles of
 * its timed events to @out. The events timed are a sample (1 in
 * bus_config_t.timing_sample per worker; none when 0), so the quantiles
 * describe the sample; the counters count every event. Counts and
 * quantiles are read while events flow: a near snapshot. A keyed topic's
 * lanes count into it.
 * Rates: the first metrics call on a bus (this one, bus_metrics() or
 * bus_metrics_json()) starts the bus's sampler, which records every open
 * topic's published and delivered counts every 100 ms on the bus's timer
 * thread (one for the bus, none per topic) until bus_shutdown(); a rate
 * compares the counts now with the newest sample at least the window old
 * (so a 1 s rate spans 1 to 1.1 s). Rates are 0 until the samples span
 * 100 ms: the first call returns rates of 0.
 * Thread-safety: any thread, handlers included, while @topic is valid.
 * Errors: -EINVAL (NULL argument).
 */
BUS_API int bus_topic_metrics(const bus_topic_t *topic, bus_topic_metrics_t *out);

/* A subscription's metrics (bus_sub_metrics()). */
typedef struct bus_sub_metrics {
    bus_sub_stats_t stats;  /* as bus_sub_stats() */
    bus_latency_t handler;  /* its timed handler calls; max_ns: the slowest */
    uint64_t slow_calls;    /* calls over bus_config_t.slow_handler_ns, every one */
    uint64_t paused_skips;  /* events skipped while paused (pause_after) */
    bool paused;            /* paused now (on any topic, for a pattern one) */
} bus_sub_metrics_t;

/**
 * bus_sub_metrics - copy the subscription's counters and the latency
 * quantiles of its timed handler calls to @out (a pattern subscription's
 * over all its topics). max_ns is the slowest timed call: with
 * timing_sample above 1, a slower untimed call may have escaped it.
 * Thread-safety: any thread, handlers included, while @sub is valid.
 * Errors: -EINVAL (NULL argument).
 */
BUS_API int bus_sub_metrics(const bus_sub_t *sub, bus_sub_metrics_t *out);

/* The whole bus's metrics (bus_metrics()): sums over the topics open now
 * (the bus's own `bus.` topics included; a closed topic's counts leave the
 * sums with it), and the workers' time. */
typedef struct bus_metrics {
    uint32_t topics;  /* open topics summed */
    uint32_t workers; /* worker threads */
    uint64_t published, delivered, dropped, handler_errors, blocked; /* as bus_topic_stats_t */
    uint64_t depth;   /* events in every ring now */
    double publish_rate_1s, publish_rate_10s; /* as bus_topic_metrics_t, summed */
    double deliver_rate_1s, deliver_rate_10s;
    uint64_t oldest_age_ns; /* the oldest waiting event's age, over every topic */
    /* The workers' time since bus_create, summed: busy dispatching events
     * (handlers included), idle waiting for work (polling, yielding or
     * parked). Each worker reads the clock when it switches between the
     * two, not per event; the switch in progress counts too, so busy +
     * idle grows with the workers' lifetime (until bus_shutdown() stops
     * them). Neither ever goes back between calls (counters). busy /
     * (busy + idle): how loaded the pool is. */
    uint64_t busy_ns, idle_ns;
} bus_metrics_t;

/**
 * bus_metrics - copy the whole bus's metrics to @out: the counters, depth
 * and rates of every open topic summed (bus_topic_metrics(); this call
 * starts the rates' sampler as that one does), the age of the oldest
 * waiting event, and the workers' busy and idle time. The topics are
 * walked one at a time (bus_topics_foreach()'s rules): a near snapshot.
 * Allocates nothing. After bus_shutdown() the workers' times are final.
 * Thread-safety: any thread, handlers included, until bus_destroy().
 * Errors: -EINVAL (NULL argument).
 */
BUS_API int bus_metrics(bus_t *bus, bus_metrics_t *out);

/**
 * bus_metrics_prometheus - write the metrics of every open topic of @bus
 * (the bus's own `bus.` topics included) as Prometheus text exposition
 * format 0.0.4 into @buf, for a /metrics endpoint: per topic (label
 * `topic`), the counters of bus_topic_stats() (`bus_topic_published_total`,
 * `_delivered_total`, `_handler_errors_total`, `_dropped_total`,
 * `_blocked_total`), the gauges `bus_topic_depth` and `bus_topic_high_water`,
 * and the histograms `bus_topic_wait_seconds` and `bus_topic_handler_seconds`
 * of the timed events (bus_config_t.timing_sample), with buckets at the
 * powers of two from 64 ns to 137 s (exact counts) and `+Inf`.
 * @buf, @cap: where to write; the text is NUL-terminated when it fits.
 * @len: receives the text's length (without the NUL); with -ENOSPC, the
 *   length needed: call again with a buffer of at least *@len + 1 bytes
 *   (more if topics may be opened meanwhile).
 * The topics are walked one at a time (bus_topics_foreach()'s rules): topics
 * opened or closed meanwhile may be missing; allocates nothing.
 * Thread-safety: any thread, handlers included.
 * Errors: -EINVAL (bus or len NULL, buf NULL with cap > 0), -ENOSPC (@cap
 * too small; *@len says how much is needed; @buf holds a cut text).
 */
BUS_API int bus_metrics_prometheus(bus_t *bus, char *buf, size_t cap, size_t *len);

/**
 * bus_metrics_json - write the metrics of @bus as one JSON object (RFC
 * 8259) into @buf, for an HTTP gateway: `{"bus":{...},"topics":[...]}`,
 * "bus" holding the fields of bus_metrics_t by name, and "topics" one
 * object per open topic (the bus's own `bus.` topics included) with its
 * "name" (a JSON string, escaped as JSON requires), the fields of
 * bus_topic_stats_t, the rates and oldest_age_ns of bus_topic_metrics_t by
 * name, and "wait" and "handler" objects with the fields of bus_latency_t.
 * Counts and ns are integers, rates numbers with 3 decimals; a newline
 * ends the text. Starts the rates' sampler as bus_topic_metrics() does.
 * @buf, @cap, @len: as bus_metrics_prometheus(); allocates nothing.
 * The topics are walked one at a time (bus_topics_foreach()'s rules), and
 * "bus" is read in a walk of its own just before: a near snapshot.
 * Thread-safety: any thread, handlers included, until bus_destroy().
 * Errors: -EINVAL (bus or len NULL, buf NULL with cap > 0), -ENOSPC (@cap
 * too small; *@len says how much is needed; @buf holds a cut text).
 */
BUS_API int bus_metrics_json(bus_t *bus, char *buf, size_t cap, size_t *len);
/* Called when a topic's depth crosses its watermarks (bus_topic_watermarks()):
 * @above true when it rose to the high mark or over, false when it fell to
 * the low mark or under; @depth is the depth that was seen (>= high, or
 * <= low). */
typedef void (*bus_watermark_fn)(bus_topic_t *topic, uint32_t depth, bool above, void *ctx);

/**
 * bus_topic_watermarks - watch the depth of @topic (events in its ring, as
 * bus_topic_stats()'s `depth`) with two marks, for back-pressure: e.g. a
 * server that stops reading sockets at the high mark and resumes at the
 * low one. @fn(@topic, depth, true, @ctx) is called once when the depth
 * reaches @high; after that, nothing until the depth falls to @low or
 * under, then @fn(@topic, depth, false, @ctx) once; and so on (hysteresis:
 * one call per crossing, never a call per event, whatever the publish rate;
 * calls alternate above, below, above...). A crossing is seen by a thread that
 * moves the depth: the rise by the publisher whose event took it to @high,
 * which calls @fn before its bus_publish*() returns; the fall by the worker
 * that freed the slots, after the handlers of its batch returned. A depth
 * that crosses and comes back between two looks is not reported.
 * Setting marks starts over below them (no below call for the old ones); if
 * the depth is at @high or more already, @fn is called (above) on the
 * calling thread before this returns. @high 0 or @fn NULL turns them off.
 * Keyed topics: each lane's ring is watched on its own (capacity / lanes
 * events, see BUS_TOPIC_KEYED) with these marks, and reports its crossings
 * with @topic the keyed topic: calls from different lanes may overlap, and
 * an above from one lane may follow an above from another. Count the lanes
 * above (an atomic counter, as in docs/patterns.md) for the topic's state.
 * @fn: short, as a handler: while it runs, the worker reporting a fall does
 * not dispatch, and a publisher reporting a rise does not return. It may
 * publish (as a handler may; on a publisher's thread as that publisher);
 * it must not call bus_topic_watermarks() or bus_topic_close() on @topic
 * (-EDEADLK), nor wait for something that waits for @topic.
 * Close: bus_topic_close() turns the marks off first, waiting for a call in
 * progress; no call is made once it has returned (none for its drain).
 * Cost: with the marks off, or while below @high, one relaxed load per
 * publish and one per worker batch (docs/design.md).
 * Thread-safety: any thread, handlers included; calls on one topic are
 * serialised with its callbacks (a call waits for one running).
 * Errors: -EINVAL (topic NULL, @high over the capacity of its ring, or of a
 * lane of a keyed topic, @low not under @high while on), -EDEADLK (from @fn
 * of this topic), -EPIPE (topic being closed).
 */
BUS_API int bus_topic_watermarks(bus_topic_t *topic, uint32_t high, uint32_t low,
                                 bus_watermark_fn fn, void *ctx);

/* The subscriptions of one topic now (bus_topic_subs()). Each queue-group
 * member counts once; a wildcard subscription counts once per topic it is
 * on. Subscriptions being removed may still count. */
typedef struct bus_topic_subs {
    uint32_t plain;         /* plain subscriptions: each gets every event */
    uint32_t grouped;       /* members of queue groups */
    uint32_t groups;        /* queue groups: each gets every event once */
    uint32_t from_patterns; /* of plain + grouped, the wildcard subscriptions */
} bus_topic_subs_t;

/**
 * bus_topic_subs - count the subscriptions of @topic into @out (a snapshot).
 * Thread-safety: any thread, handlers included.
 * Errors: -EINVAL (NULL argument).
 */
BUS_API int bus_topic_subs(const bus_topic_t *topic, bus_topic_subs_t *out);

/* One topic as bus_topics_foreach() shows it. */
typedef struct bus_topic_info {
    bus_topic_t *topic;      /* the handle, as bus_topic_find() returns it */
    const char *name;        /* owned by the bus */
    bus_topic_config_t cfg;  /* its configuration */
    bus_topic_stats_t stats; /* as bus_topic_stats() */
    bus_topic_subs_t subs;   /* as bus_topic_subs() */
} bus_topic_info_t;

/* Called once per topic; return 0 to go on, anything else to stop (then
 * bus_topics_foreach() returns it). @info is valid during the call only. */
typedef int (*bus_topic_visit_fn)(const bus_topic_info_t *info, void *ctx);

/**
 * bus_topics_foreach - call @fn(info, @ctx) for every open topic of @bus, in
 * no particular order, on the calling thread (each one's counters read when
 * it is visited). Topics opened or closed meanwhile may be missed; the topic
 * being visited stays allocated until @fn returns, so @info is safe to read.
 * @fn may call any bus function except bus_topic_close() (-EDEADLK: a
 * close waits for the topics' visits to end, and two listings closing each
 * other's topic would wait for each other; collect the handles and close
 * them afterwards), bus_shutdown() and bus_destroy(). Allocates nothing. The bus's own topics (`bus.` names) are listed too.
 * Thread-safety: any thread, handlers included.
 * Errors: -EINVAL (NULL argument), or the first non-zero value @fn returned.
 */
BUS_API int bus_topics_foreach(bus_t *bus, bus_topic_visit_fn fn, void *ctx);

/* Who would receive an event published now on a topic name
 * (bus_subscriptions_matching()). */
typedef struct bus_match {
    bool topic_exists; /* a topic of that name is open */
    uint32_t direct;   /* subscriptions made on that topic with bus_subscribe*()
                          (queue-group members included) */
    uint32_t patterns; /* wildcard subscriptions whose pattern matches the name
                          (whether the topic exists or not: they attach when it
                          is opened), the reserved `bus.` rule applied */
} bus_match_t;

/**
 * bus_subscriptions_matching - count the subscriptions that would receive an
 * event on topic @name (as NATS's /subsz?test=): a debugging aid for "why does
 * nobody get my events". A snapshot; nothing is created.
 * Thread-safety: any thread, handlers included.
 * Errors: -EINVAL (NULL argument, malformed name).
 */
BUS_API int bus_subscriptions_matching(bus_t *bus, const char *name, bus_match_t *out);

/**
 * bus_strerror - text for an error code returned by this library (0 or a
 * negative errno value), or for any other code, such as a handler's own
 * return value in a dead letter: the system's description of a negative
 * errno value, else "unknown error N". Never NULL.
 * Lifetime: a static string, except "unknown error N", which lives in a
 * buffer of the calling thread, valid until that thread's next
 * bus_strerror() call or its exit.
 * Thread-safety: any thread.
 */
BUS_API const char *bus_strerror(int err);

/**
 * bus_last_error - what was wrong, in words, when a call of this library on
 * the calling thread last failed an argument or configuration check: the
 * -EINVAL and -EMSGSIZE returns of bus_create(), bus_topic_open(),
 * bus_subscribe(), bus_subscribe_ex(), bus_subscribe_pattern(),
 * bus_publish(), bus_publish_ex() and bus_publish_batch() set it, e.g.
 * "bus_topic_open: capacity is not a power of two from 2 to 2^31". Like
 * errno, successful calls and other errors leave it unchanged, so read it
 * right after the failing call. "" if no check has failed on this thread.
 * Returns a static string; never NULL.
 * Thread-safety: any thread; each thread has its own.
 */
BUS_API const char *bus_last_error(void);

/**
 * bus_version - the library's version at run time, as BUS_VERSION
 * (0xMMmmpp); it may differ from the header the program was compiled with.
 * bus_version_string - the same as "MAJOR.MINOR.PATCH", a static string.
 * Thread-safety: any thread.
 */
BUS_API unsigned bus_version(void);
BUS_API const char *bus_version_string(void);

#ifdef __cplusplus
}
#endif

#endif /* BUS_H */
