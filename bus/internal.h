/* internal.h - the bus, topic and subscription objects, shared by the
 * library's files. Nothing here is part of the public API. */
#ifndef BUS_INTERNAL_H
#define BUS_INTERNAL_H

#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <urcu-bp.h>

#include "backoff.h"
#include "bus.h"
#include "evcount.h"
#include "hist.h"
#include "lasterr.h"
#include "module/owned.h"
#include "rates.h"
#include "retry.h"
#include "ring.h"
#include "sched.h"
#include "timer.h"
#include "tsan.h"

/* The members of one queue group: table->entries[first, first + count). */
struct sub_group {
    uint32_t first, count;
    _Atomic uint32_t cursor; /* round-robin position */
};

/* An immutable snapshot of a topic's subscriptions, replaced whole (RCU) on
 * every change: plain subscriptions first, in subscription order, then each
 * queue group's members, contiguous. */
struct sub_table {
    struct rcu_head rcu;
    /* The table of a topic being closed (close.c): it has no entries, and
     * workers count the events they take under it as dropped. */
    bool closed;
    uint32_t count, nplain, ngroups;
    struct sub_group *groups;
    struct bus_sub *entries[];
};

struct pattern;

struct bus_sub {
    bus_handler_fn fn;
    void *ctx;
    struct bus_topic *topic;  /* NULL for a pattern subscription */
    struct pattern *pattern;  /* a pattern subscription's own state, or NULL */
    bool pattern_child;       /* one topic's share of a pattern subscription */
    char *group;           /* queue group name, or NULL */
    bus_filter_fn filter;  /* or NULL */
    void *filter_ctx;
    /* Set when unsubscribed: a worker holding an older table skips it.
     * Lets an unsubscribe from a handler stop new calls without waiting. */
    _Atomic bool dead;
    /* Counters: written by the worker dispatching the topic (one at a time
     * for ordered topics, several for parallel ones). */
    _Atomic uint64_t delivered, handler_errors, filtered;
    /* Its timed handler calls (timing.h), allocated at the first one. */
    struct hist *_Atomic call_time;
    /* Slow handler calls (slow.c): the handle to report (itself, or a
     * pattern child's pattern subscription), pause_after from its options,
     * and the state written by the workers that time its calls. */
    struct bus_sub *handle;
    uint32_t pause_after;
    _Atomic uint32_t slow_streak;
    _Atomic bool paused;
    _Atomic uint64_t slow_calls, paused_skips, slow_reported_ns;
    /* Redelivery (retry.c): its options, copied, and its counters (written
     * on the failure path only, with RMWs). id: unique in the process, so
     * that a retry finds its subscription in the table without keeping it
     * alive (an address could be reused). */
    uint64_t id;
    uint32_t max_deliver, backoff_count;
    uint64_t *backoff_ns;
    bool in_order;
    _Atomic uint64_t retries, redelivered, dead_lettered;
    /* Unsubscribe state: removed from the table (else freed with the topic),
     * and the completion to call after the grace period. */
    bool detached;
    bool stopped; /* bus__sub_stop ran */
    struct rcu_head rcu;
    bus_unsubscribed_fn done;
    void *done_arg;
    /* The handle's link to the module that owns it (module/owned.h); a
     * pattern's children are not owned, their pattern subscription is. */
    struct bus_owned owned;
    /* A module's handler (bus__module_wrap): fn and ctx above are
     * bus__module_handler and the subscription itself (a pattern's children
     * copy them, so they run their pattern's), and these the module's own,
     * with the version whose code it is. */
    struct bus_modver *module;
    bus_handler_fn module_fn;
    void *module_ctx;
    /* A durable consumer's own state (journal/consumer.c), or NULL: such a
     * subscription is in no table; its thread calls the handler. */
    struct consumer *consumer;
};

/* bus_topic.scheduled: SCHED_QUEUED while an entry is on a ready queue,
 * plus SCHED_HELD while a worker dispatches an ordered topic, or
 * SCHED_ACTIVE for each worker dispatching a parallel topic (a handler's
 * nested help too). */
enum { SCHED_QUEUED = 1, SCHED_HELD = 2, SCHED_ACTIVE = 2 };

/* A ring's depth watermarks (watermark.c): the state word, and the marks
 * and callback, written only by the thread holding the state's busy bit. */
struct watermark {
    _Atomic uint32_t state;
    uint32_t high, low;
    bus_watermark_fn fn; /* NULL: off */
    void *ctx;
};

struct bus_topic {
    struct ring ring;
    /* SCHED_* above; see dispatch.c for the protocol. */
    alignas(RING_CACHELINE) _Atomic int scheduled;
    /* Workers inside bus__topic_dispatch() for this topic (close.c waits
     * for none once it holds `scheduled`). */
    _Atomic uint32_t dispatchers;
    /* Redelivery (retry.c). Checked by the worker once per batch, on the
     * line of `scheduled` it writes anyway: retries the timer handed back
     * (a stack the timer pushes and a worker takes whole), and how many
     * in-order retries hold this ring. */
    struct retry *_Atomic retry_ready;
    _Atomic uint32_t retry_holds;
    /* Statistics written by workers, once per batch. */
    alignas(RING_CACHELINE) _Atomic uint64_t delivered;
    _Atomic uint64_t handler_errors;
    /* Workers that free slots while it is not 0 look for a fall of the depth
     * under it (watermark.c). */
    _Atomic uint64_t wm_fall_under;
    /* Producers blocked on a full ring and flushers sleep here; workers
     * notify after freeing slots. */
    alignas(RING_CACHELINE) struct evcount progress;
    /* Written by publishers, rarely (slow path, new maximum). */
    alignas(RING_CACHELINE) _Atomic uint64_t dropped;
    _Atomic uint64_t blocked; /* BUS_FULL_BLOCK waits for room */
    _Atomic uint32_t high_water;
    /* Timed events (timing.h): their wait in the ring and their handler
     * calls; allocated at the first one. A keyed topic's lanes record into
     * the keyed topic's. */
    struct hist *_Atomic wait_time, *_Atomic call_time;
    /* Samples of its counters for its rates (rates.h), allocated by the
     * bus's sampler at the first one. */
    struct rates *_Atomic rates;
    /* Publishers whose depth bound reaches it look for a rise to the high
     * watermark (watermark.c); UINT64_MAX when not watching for one. */
    _Atomic uint64_t wm_rise_at;
    /* Every retry of this ring not yet resolved, under retry_lock, and the
     * topic's retry counters (a keyed topic's lanes count into their own;
     * bus_topic_stats() sums them). */
    pthread_mutex_t retry_lock;
    struct retry *retry_live;
    _Atomic uint32_t retries_pending;
    _Atomic uint64_t retries, redelivered, dead_lettered, retries_dropped;
    /* RCU-protected: read by workers in a read-side section, replaced under
     * subs_lock. */
    struct sub_table *_Atomic subs;
    pthread_mutex_t subs_lock;
    /* Read-only after bus_topic_open. */
    struct bus *bus;
    bus_topic_config_t cfg;
    /* A durable topic's journal and consumers (journal/durable.h), NULL
     * for an in-memory topic; its first ticket (seqs go on from the
     * journal's, ring.h), 0 for an in-memory topic. */
    struct durable *durable;
    uint64_t seq_base;
    unsigned level; /* ready-queue priority level */
    char *name;
    /* Keyed topics: events go to one of nlanes ordered lanes by key; a lane
     * has the keyed topic as parent and uses its subscriptions. */
    struct bus_topic **lanes;
    uint32_t nlanes;
    struct bus_topic *parent;
    /* Lifecycle (topic.c, close.c). `closed` is set once, under
     * registry_lock, when bus_topic_close() starts. `pins` counts the
     * registry walkers visiting the topic (bus__topics_walk: flush,
     * shutdown, listing), taken under registry_lock; a closer takes the
     * topic off the list only once it is unpinned. prev/next: the
     * registry's list of named topics (lanes are not in it), under
     * registry_lock. */
    _Atomic bool closed;
    _Atomic uint32_t pins;
    struct bus_topic *prev, *next;
    struct rcu_head rcu;
    /* Depth watermarks of this ring (a keyed topic's are in its lanes). */
    alignas(RING_CACHELINE) struct watermark wm;
};

struct bus {
    bus_config_t cfg;
    struct sched sched;
    /* Set by bus_destroy: no new topic, subscription or event. */
    _Atomic bool stopping;
    /* Set by bus_destroy once drained: idle workers exit. */
    _Atomic bool exiting;
    struct bus_worker *workers; /* one record per thread (help.h) */
    unsigned nthreads;
    /* The end of bus_shutdown (joining the threads) runs once, under
     * shutdown_lock; shut_down says it is done. */
    pthread_mutex_t shutdown_lock;
    bool shut_down;
    /* The registry (topic.c), all under registry_lock: topics by name (open
     * addressing), the list of named topics, how many topics and lanes
     * exist (for max_topics), and closes in progress (bus_shutdown waits
     * for them on `closes_done`). */
    pthread_mutex_t registry_lock;
    pthread_cond_t closes_done;
    struct bus_topic **table; /* open addressing, table_size slots */
    uint32_t table_size;
    struct bus_topic *first;
    uint32_t ntopics;
    uint32_t closing;
    /* Request timeouts (request.c). */
    struct timers timers;
    /* The rates sampler (rates.c): its entry on the timer thread, and
     * whether it runs. */
    struct timer_entry rates_tick;
    _Atomic bool rates_on;
    /* Pattern subscriptions, under registry_lock (pattern.c). */
    struct pattern *patterns;
    /* The dead-letter topic, once opened (deadletter.c). */
    struct bus_topic *_Atomic dead_letters;
    /* Handler modules loaded into the bus (module/). */
    struct bus_modules modules;
};

/* Ends a read-side section of a public call on a topic (publish.c), telling
 * TSan that it ends before the grace periods that wait for it (tsan.h). */
static inline void bus__read_unlock(void)
{
    TSAN_RELEASE(&bus__rcu_grace);
    rcu_read_unlock();
}

/* True if the worker dispatching @t has retries to run or is held by an
 * in-order one (retry.h). relaxed: a hint, once per batch; a retry pushed
 * after it is seen by the hand-back. */
static inline bool bus__retry_waiting(struct bus_topic *t)
{
    return atomic_load_explicit(&t->retry_ready, memory_order_relaxed) ||
           atomic_load_explicit(&t->retry_holds, memory_order_relaxed);
}

/* Depth watermarks (watermark.c): the slow paths behind the checks below. */
void bus__watermark_rise(struct bus_topic *t);
void bus__watermark_settle(struct bus_topic *t);
/* True while the calling thread runs @t's watermark callback. */
bool bus__watermark_calling(const struct bus_topic *t);
/* Turns @t's ring's marks off for good, waiting for a callback in progress. */
void bus__watermark_close(struct bus_topic *t);

/* A publisher's check, after its commit (ring_commit's seq_cst fence, which
 * the protocol in watermark.c relies on), with @bound the depth bound of its
 * reservation. relaxed: ordered by that fence. */
static inline void bus__watermark_published(struct bus_topic *t, uint64_t bound)
{
    if (bound >= atomic_load_explicit(&t->wm_rise_at, memory_order_relaxed))
        bus__watermark_rise(t);
}

/* A worker's check after freeing slots and a seq_cst fence (watermark.c).
 * relaxed: ordered by that fence. */
static inline void bus__watermark_freed(struct bus_topic *t)
{
    if (atomic_load_explicit(&t->wm_fall_under, memory_order_relaxed) != 0)
        bus__watermark_settle(t);
}

/* The bus whose worker runs the calling thread, or NULL. */
struct bus *bus__current_worker_bus(void);

/* Worker pool (worker.c). Start: 0, -EINVAL (a CPU of cfg.worker_cpus
 * cannot be used), -ENOMEM. */
int bus__workers_start(struct bus *bus);
void bus__workers_stop(struct bus *bus);
void bus__workers_free(struct bus *bus); /* after the stop */

/* Queues the topic for dispatch unless it is queued or being dispatched. */
void bus__topic_schedule(struct bus_topic *t);
/* Parallel topics whose workers do not keep up (a slow batch, a full ring):
 * queues the topic for one more worker, unless it is queued or every worker
 * is on it already. Does nothing for other topics (dispatch.c). */
void bus__topic_recruit(struct bus_topic *t);

struct bus_worker;
/* A worker whose handler waits for room in @t dispatches one batch of it
 * nested, if it can: an ordered topic that no worker holds, or a parallel
 * topic's unclaimed events, as one more active worker. True if it delivered
 * some (dispatch.c). */
bool bus__topic_help(struct bus_worker *me, struct bus_topic *t);

/* Waits, spinning, yielding then sleeping, until @ready(t, arg) holds.
 * Workers notify t->progress after freeing slots. */
void bus__topic_await(struct bus_topic *t, bool (*ready)(struct bus_topic *, void *),
                      void *arg);
/* bus__topic_await() until @deadline_ns at the latest (clock.h; CLOCK_NEVER
 * = none). True if @ready holds, false if the deadline passed first. */
bool bus__topic_await_until(struct bus_topic *t, bool (*ready)(struct bus_topic *, void *),
                            void *arg, uint64_t deadline_ns);

/* Calls the subscribers for tickets [first, first + n) of @t (deliver.c). */
void bus__deliver(struct bus_topic *t, uint64_t first, uint64_t n);
/* bus__deliver() for the committed tickets from @first on, stopping at the
 * first one that is not, at most @max; returns how many it delivered. */
uint64_t bus__deliver_ready(struct bus_topic *t, uint64_t first, uint64_t max);

/* The slot of @ev if the calling thread is running a handler for @ev, else
 * NULL (deliver.c). */
const struct ring_slot *bus__dispatching_slot(const bus_event_t *ev);

/* Dispatches up to cfg.batch events of a topic popped from the ready queue,
 * inside an RCU read-side section (dispatch.c). */
void bus__topic_dispatch(struct bus_topic *t);

/* Publishes the concatenation of @n buffers as one event, without waiting
 * (publish.c); on a keyed topic, to the lane of key 0. Returns 0, -EMSGSIZE
 * if they exceed max_payload, or another negative error. */
int bus__publish_parts(struct bus_topic *t, const bus_msg_t *parts, size_t n);

/* Routes a failed handler call to the dead-letter topic, if one is open,
 * recording @attempts deliveries. */
void bus__dead_letter(const bus_event_t *ev, int error, uint32_t attempts);
/* Makes @t the dead-letter topic (topic.c), unless a close has unregistered
 * it: -EPIPE. */
int bus__dead_letters_install(struct bus *bus, struct bus_topic *t);

/* Topic registry (topic.c). */
void bus__registry_init(struct bus *bus);
void bus__registry_fini(struct bus *bus);
/* Calls @fn on every open topic (and with @lanes, every keyed lane: they
 * have rings of their own) until it returns non-zero, which is returned.
 * Each topic is pinned while @fn runs without registry_lock, so @fn may
 * block, open topics or subscribe; a close of that topic waits for the pin
 * before it frees it. Topics opened or closed meanwhile may be missed.
 * Allocates nothing. */
int bus__topics_walk(struct bus *bus, bool lanes, int (*fn)(struct bus_topic *t, void *arg),
                     void *arg);
/* True inside a bus_topics_foreach() callback on this thread (introspect.c):
 * its topic is pinned, and a close waits for pins, so a close from there
 * could wait for itself or for another walker closing ours. */
bool bus__in_topics_visit(void);
/* Stops the registry for bus_shutdown(): sets `stopping` (no new topic,
 * subscription or close) and waits for the closes in progress, until
 * @deadline_ns (clock.h) at the latest: 0, or -ETIMEDOUT with closes still
 * in progress (the walks skip their topics). Once it returns 0 the set of
 * topics is frozen until bus_destroy. Idempotent. */
int bus__topics_stop(struct bus *bus, uint64_t deadline_ns);
/* bus_topic_close()'s registry steps (topic.c): take the topic out of the
 * registry (its name becomes free) and out of the patterns and dead-letter
 * routing; once it is drained, take it off the list when no walker pins it;
 * then, once it is gone from every queue, count it out. */
int bus__topic_unregister(struct bus_topic *t);
void bus__topic_delist(struct bus_topic *t);
void bus__topic_unregistered(struct bus_topic *t);
int bus__topic_new(struct bus *bus, const char *name, size_t len,
                   const bus_topic_config_t *cfg, struct bus_topic **out);
/* bus_topic_open() for a durable topic (journal/topic.c): a new topic only
 * (-EEXIST if @name is open), made durable by @durable before anyone can
 * publish onto it. */
int bus__topic_open_new(struct bus *bus, const char *name, const bus_topic_config_t *cfg,
                        struct durable *durable, struct bus_topic **out);
void bus__topic_free(struct bus_topic *t);
/* bus_topic_metrics() without the latencies (metrics.c): counters, rates
 * and the oldest event's age at @now_ns. */
void bus__topic_metrics_now(const struct bus_topic *t, uint64_t now_ns,
                            bus_topic_metrics_t *out);
void bus__topic_stats_add(const struct bus_topic *t, bus_topic_stats_t *out);
void bus__topics_free(struct bus *bus);

/* Keyed topics (keyed.c). */
uint32_t bus__keyed_lane_count(const bus_topic_config_t *cfg);
int bus__keyed_lanes_new(struct bus_topic *t);
void bus__keyed_lanes_free(struct bus_topic *t);

/* Subscriptions (subs.c). */
struct bus_sub *bus__sub_new(struct bus_topic *t, bus_handler_fn fn, void *ctx,
                             const bus_sub_options_t *opts);
/* Adds @sub to its topic's table: 0, -ENOMEM, -ESHUTDOWN. */
int bus__sub_attach(struct bus_sub *sub);
/* Takes @sub out of its topic's table; see subs.c. */
bool bus__sub_detach(struct bus_sub *sub);
void bus__sub_free(struct bus_sub *sub);
/* An unsubscribe's two halves (subs.c): stop (no call starts once it
 * returns; idempotent), then, after a grace period, release (free). */
void bus__sub_stop(struct bus_sub *sub);
void bus__sub_release(struct bus_sub *sub);
/* Frees an already detached subscription after a grace period (subs.c). */
void bus__sub_retire(struct bus_sub *sub);
bool bus__valid_group(const bus_sub_options_t *opts);
/* pause_after needs the bus's slow handler threshold. */
bool bus__valid_pause(const struct bus *bus, const bus_sub_options_t *opts);
/* What is wrong with the redelivery options (a bus_last_error() text), or
 * NULL. */
const char *bus__invalid_redelivery(const bus_sub_options_t *opts);
/* The options @sub was made with (pointing into @sub), for a pattern's
 * children. */
void bus__sub_options_of(const struct bus_sub *sub, bus_sub_options_t *opts);
void bus__subs_free(struct bus_topic *t);
/* Disowns the subscriptions of @table, which a topic close frees (close.c). */
void bus__subs_disown(struct bus *bus, const struct sub_table *table);

/* Pattern subscriptions (pattern.c). The registry lock is held by the
 * caller of bus__patterns_attach. */
/* Told, under registry_lock, that a pattern or bound subscription will get
 * no more events: @why is -EPIPE (its bound topic is closed) or
 * -ESHUTDOWN (the bus's workers stopped). Must not block or take
 * registry_lock. */
struct sub_end {
    void (*fn)(void *arg, int why);
    void *arg;
};
bool bus__valid_pattern(const char *pattern);
/* bus_subscribe_pattern() with @pattern already valid, and @end (or NULL). */
int bus__subscribe_matching(bus_t *bus, const char *pattern, bus_handler_fn fn, void *ctx,
                            const bus_sub_options_t *opts, const struct sub_end *end,
                            bus_sub_t **out);
/* A subscription to @t alone whose handle, like a pattern's, outlives the
 * topic's close (it then has no children and gets no events): 0, -ENOMEM,
 * -ESHUTDOWN, -EPIPE (@t is closing). */
int bus__subscribe_bound(struct bus_topic *t, bus_handler_fn fn, void *ctx,
                         const bus_sub_options_t *opts, const struct sub_end *end,
                         bus_sub_t **out);
/* Tells every pattern's end callback that the bus stopped. */
void bus__patterns_end(struct bus *bus);
int bus__patterns_attach(struct bus *bus, struct bus_topic *t);
/* Pattern subscriptions that would attach to a topic called @name
 * (registry_lock held). */
uint32_t bus__patterns_matching(struct bus *bus, const char *name);
/* The open topic called @name, or NULL (registry_lock held). */
struct bus_topic *bus__topic_lookup(struct bus *bus, const char *name);
/* Whether @name is a valid topic name (topic.c). */
bool bus__valid_topic_name(const char *name);
void bus__pattern_detach(struct bus_sub *sub);
struct bus *bus__pattern_bus(const struct bus_sub *sub);
void bus__pattern_free(struct bus_sub *sub);
/* Calls @fn on each of a pattern subscription's per-topic children, under
 * registry_lock. */
void bus__pattern_each_child(const struct bus_sub *sub,
                             void (*fn)(const struct bus_sub *child, void *arg), void *arg);
/* Calls @fn on @sub, or on each child of a pattern subscription: the
 * subscriptions whose counters make up @sub's (subs.c). */
void bus__sub_each(const struct bus_sub *sub, void (*fn)(const struct bus_sub *one, void *arg),
                   void *arg);
void bus__patterns_free(struct bus *bus);
/* Forgets the pattern children on topic @t, which is being closed or
 * abandoned: they are freed with its table. registry_lock held. */
void bus__patterns_forget(struct bus *bus, struct bus_topic *t);
/* Tells the subscriptions bound to @t that it is closed and drained: no
 * handler call for it runs or will run. registry_lock held. */
void bus__patterns_closed(struct bus *bus, struct bus_topic *t);
/* Walks the named topics: for pattern.c and introspection, under
 * registry_lock. */
#define bus__for_each_topic(bus, t) for (struct bus_topic *t = (bus)->first; t; t = t->next)

/* Closing (subs.c): installs the closed table on @t and returns the one it
 * replaces, whose entries the closer frees. */
struct sub_table *bus__subs_close(struct bus_topic *t);
extern struct sub_table bus__closed_table;

#endif
