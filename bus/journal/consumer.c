/* consumer.c - durable consumers: a named position in a durable topic's
 * journal, and a thread that reads the journal from there and calls the
 * handler, one event at a time, in seq order.
 *
 * Why a thread of its own rather than the workers: a consumer that starts
 * behind (a restart, a replay) reads events that are no longer in the ring,
 * at its own pace, while the ring serves live subscribers; reading the
 * journal for both the backlog and the live events means one code path and
 * no hand-over between the two, where gaps and duplicates hide.
 *
 * Acknowledgement: an event is acknowledged when the handler returned 0 or,
 * after the deliveries its redelivery options allow (consumer_failed:
 * retried in place), when it went to the dead letters. The position (first
 * event not acknowledged) is stored after each batch of up to
 * POSITION_EVERY events and when the consumer stops, so a crash delivers at
 * most that batch again. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../clock.h"
#include "../lasterr.h"
#include "../module/owned.h"
#include "consumer.h"
#include "durable.h"
#include "journal.h"
#include "position.h"
#include "reader.h"

enum { POSITION_EVERY = 64, NAME_MAX_BYTES = 64 };

struct consumer {
    struct bus_sub *sub; /* the handle; fn, ctx, filter and counters */
    struct bus_topic *topic;
    struct journal *journal;
    void (*on_skip)(bus_sub_t *sub, uint64_t from, uint64_t to, void *ctx);
    char name[NAME_MAX_BYTES + 1];
    struct position position;
    struct journal_reader reader;
    pthread_t thread;
    _Atomic bool stop;
    bool joined; /* under consumers_lock, or by the one who unlisted it */
    /* Counters (bus_durable_stats_t): written by the thread, relaxed. */
    _Atomic uint64_t next_seq, acked, skipped;
    /* Wall clock minus monotonic clock, to give journal events a
     * publish_ns on the clock the bus uses (bus_event_t). */
    int64_t clock_offset;
    struct consumer *next; /* the topic's list, under consumers_lock */
};

static bool valid_name(const char *name)
{
    size_t n = 0;
    for (; name[n]; n++) {
        char c = name[n];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '-' || (c == '.' && n > 0);
        if (!ok || n == NAME_MAX_BYTES)
            return false;
    }
    return n > 0;
}

/* Sleeps @ns on the consumer's own thread (no worker waits), or until the
 * consumer is asked to stop: false then. */
static bool pause_for(struct consumer *c, uint64_t ns)
{
    uint64_t deadline = clock_deadline_ns(ns);
    struct evcount *wake = &c->journal->progress; /* the stop notifies it */
    /* acquire: pairs with the stopper's release store. */
    while (!atomic_load_explicit(&c->stop, memory_order_acquire)) {
        if (clock_now_ns() >= deadline)
            return true;
        uint32_t key = evcount_prepare(wake);
        if (atomic_load_explicit(&c->stop, memory_order_acquire))
            evcount_cancel(wake);
        else
            bus__evcount_wait_until(wake, key, deadline);
    }
    return false;
}

/* Counts on the subscription and its topic, as retry.c does for workers.
 * relaxed: statistics. */
static void count_retry(_Atomic uint64_t *sub, _Atomic uint64_t *topic)
{
    atomic_fetch_add_explicit(sub, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(topic, 1, memory_order_relaxed);
}

/* A handler call failed. With the subscription's redelivery options
 * (bus_sub_options_t.max_deliver, backoff_ns) the consumer tries the event
 * again in place, after each delay, on its own thread: the later events
 * wait, so order holds through retries (redeliver_in_order is implied).
 * After the last failure the event goes to the dead letters with its number
 * of deliveries. Either way it is acknowledged then; false if the consumer
 * was asked to stop first: not acknowledged, it is delivered again (its
 * attempt count starting over) after a restart. */
static bool consumer_failed(struct consumer *c, bus_event_t *ev, int error)
{
    struct bus_sub *sub = c->sub;
    struct bus_topic *t = c->topic;
    while (ev->attempt < sub->max_deliver) {
        count_retry(&sub->retries, &t->retries);
        if (!pause_for(c, bus__retry_backoff(sub, ev->attempt)))
            return false;
        ev->attempt++;
        count_retry(&sub->redelivered, &t->redelivered);
        error = sub->fn(ev, sub->ctx);
        if (error == 0) {
            atomic_fetch_add_explicit(&sub->delivered, 1, memory_order_relaxed);
            return true;
        }
        atomic_fetch_add_explicit(&sub->handler_errors, 1, memory_order_relaxed);
    }
    if (sub->max_deliver > 1)
        count_retry(&sub->dead_lettered, &t->dead_lettered);
    bus__dead_letter(ev, error, ev->attempt);
    return true;
}

/* Calls the handler for one event (the filter first): true once it is
 * acknowledged. relaxed counters: statistics, one writer. */
static bool deliver(struct consumer *c, const struct journal_entry *e)
{
    struct bus_sub *sub = c->sub;
    bus_event_t ev = {
        .topic = c->topic,
        .data = e->data,
        .size = e->size,
        .seq = e->seq,
        .publish_ns = (uint64_t)((int64_t)e->time_ns - c->clock_offset),
        .attempt = 1,
    };
    if (sub->filter && !sub->filter(&ev, sub->filter_ctx)) {
        atomic_fetch_add_explicit(&sub->filtered, 1, memory_order_relaxed);
        return true;
    }
    int rc = sub->fn(&ev, sub->ctx);
    if (rc == 0) {
        atomic_fetch_add_explicit(&sub->delivered, 1, memory_order_relaxed);
        return true;
    }
    atomic_fetch_add_explicit(&sub->handler_errors, 1, memory_order_relaxed);
    return consumer_failed(c, &ev, rc);
}

static void report_skip(struct consumer *c, uint64_t seq, uint64_t skipped)
{
    atomic_fetch_add_explicit(&c->skipped, skipped, memory_order_relaxed);
    if (c->on_skip)
        c->on_skip(c->sub, seq - skipped, seq, c->sub->ctx);
}

/* Delivers up to POSITION_EVERY visible events; returns how many were
 * acknowledged. c->next_seq: the first one not acknowledged, what the
 * position file gets. */
static int deliver_batch(struct consumer *c)
{
    int n = 0;
    struct journal_entry e;
    uint64_t skipped;
    /* acquire: pairs with the stopper's release store. */
    while (n < POSITION_EVERY && !atomic_load_explicit(&c->stop, memory_order_acquire) &&
           journal_read(&c->reader, &e, &skipped)) {
        if (skipped)
            report_skip(c, e.seq, skipped);
        if (!deliver(c, &e))
            break; /* stopping with e not acknowledged */
        n++;
        /* relaxed: the consumer's own (a statistic for others). */
        atomic_store_explicit(&c->next_seq, e.seq + 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&c->acked, 1, memory_order_relaxed);
    }
    return n;
}

/* Stores the first seq not acknowledged. relaxed: the consumer's own. */
static void store_position(struct consumer *c)
{
    position_store(&c->position, atomic_load_explicit(&c->next_seq, memory_order_relaxed));
}

/* The bus whose durable consumer runs the calling thread, or NULL. */
static _Thread_local const struct bus *consumer_bus;

bool bus__durable_on_thread(const struct bus *bus)
{
    return consumer_bus == bus;
}

static void *consumer_main(void *arg)
{
    struct consumer *c = arg;
    struct journal *j = c->journal;
    consumer_bus = c->topic->bus;
    while (!atomic_load_explicit(&c->stop, memory_order_acquire)) {
        if (deliver_batch(c)) {
            store_position(c);
            continue;
        }
        /* Nothing visible: sleep until a publish (or the stop) notifies. */
        uint32_t key = evcount_prepare(&j->progress);
        if (atomic_load_explicit(&c->stop, memory_order_acquire) ||
            journal_visible(j) >= c->reader.next)
            evcount_cancel(&j->progress);
        else
            bus__evcount_wait(&j->progress, key);
    }
    store_position(c);
    if (j->cfg.sync != BUS_SYNC_NONE)
        position_sync(&c->position);
    return NULL;
}

/* Where a consumer starts: its stored position, the oldest event, the
 * newest, or a seq; never past the journal's end (after a power loss the
 * journal may have lost events the position had passed: their seqs are
 * given again, and the consumer must see the new events). */
static uint64_t start_seq(struct journal *j, uint64_t stored, const bus_sub_options_t *opts)
{
    bus_journal_stats_t st;
    journal_stats(j, &st);
    uint64_t end = st.last_seq + 1, seq = stored ? stored : st.first_seq;
    int start = opts ? opts->start : BUS_START_STORED;
    if (start == BUS_START_NEWEST)
        seq = end;
    else if (start == BUS_START_SEQ)
        seq = opts->start_seq < st.first_seq ? st.first_seq : opts->start_seq;
    return seq > end ? end : seq;
}

static const char *options_problem(const bus_sub_options_t *opts)
{
    if (!opts)
        return NULL;
    if (opts->group || opts->pause_after)
        return "bus_subscribe_durable: group and pause_after are not supported";
    if (opts->start < BUS_START_STORED || opts->start > BUS_START_SEQ)
        return "bus_subscribe_durable: start is not a BUS_START_* value";
    if (opts->start == BUS_START_SEQ && opts->start_seq == 0)
        return "bus_subscribe_durable: BUS_START_SEQ with start_seq 0";
    return bus__invalid_redelivery(opts);
}

static bool name_taken(struct durable *d, const char *name)
{
    for (struct consumer *c = d->consumers; c; c = c->next)
        if (strcmp(c->name, name) == 0)
            return true;
    return false;
}

static void consumer_free(struct consumer *c)
{
    journal_reader_close(&c->reader);
    position_close(&c->position);
    bus__sub_free(c->sub);
    free(c);
}

static int consumer_start(struct consumer *c, const bus_sub_options_t *opts)
{
    uint64_t stored;
    int rc = position_open(c->journal->dirfd, c->name, &c->position, &stored);
    if (rc)
        return bus__failf(rc, "bus_subscribe_durable: cannot open the position of %s",
                          c->name);
    uint64_t seq = start_seq(c->journal, stored, opts);
    if (seq != stored && (rc = position_store(&c->position, seq))) {
        position_close(&c->position);
        return rc;
    }
    journal_reader_init(&c->reader, c->journal, seq);
    atomic_init(&c->next_seq, seq);
    struct timespec wall;
    clock_gettime(CLOCK_REALTIME, &wall);
    c->clock_offset = (int64_t)((uint64_t)wall.tv_sec * 1000000000u + (uint64_t)wall.tv_nsec) -
                      (int64_t)clock_now_ns();
    rc = -pthread_create(&c->thread, NULL, consumer_main, c);
    if (rc) {
        position_close(&c->position);
        return rc;
    }
    char thread_name[16];
    snprintf(thread_name, sizeof(thread_name), "bus-d%s", c->topic->name);
    pthread_setname_np(c->thread, thread_name);
    return 0;
}

int bus_subscribe_durable(bus_topic_t *topic, const char *consumer, bus_handler_fn fn,
                          void *ctx, const bus_sub_options_t *opts, bus_sub_t **out)
{
    if (!topic || !consumer || !fn || !out)
        return bus__fail(-EINVAL, "bus_subscribe_durable: NULL argument");
    if (!topic->durable)
        return bus__fail(-EINVAL, "bus_subscribe_durable: the topic is not durable");
    /* A module's resources are removed when it unloads, by a stop that
     * must not wait (module/owned.h); a consumer's stop joins its thread. */
    if (bus__module_current(topic->bus))
        return bus__fail(-EINVAL, "bus_subscribe_durable: not from a handler module's code");
    if (!valid_name(consumer))
        return bus__fail(-EINVAL, "bus_subscribe_durable: consumer is not 1 to 64 bytes of "
                                  "[A-Za-z0-9_.-] (no leading dot)");
    const char *problem = options_problem(opts);
    if (problem)
        return bus__fail(-EINVAL, problem);
    /* relaxed: a hint; a close or shutdown that starts later stops us. */
    if (atomic_load_explicit(&topic->closed, memory_order_relaxed))
        return -EPIPE;
    if (atomic_load_explicit(&topic->bus->stopping, memory_order_relaxed))
        return -ESHUTDOWN;
    struct durable *d = topic->durable;
    struct consumer *c = calloc(1, sizeof(*c));
    struct bus_sub *sub = c ? bus__sub_new(topic, fn, ctx, opts) : NULL;
    if (!sub) {
        free(c);
        return -ENOMEM;
    }
    sub->consumer = c;
    c->sub = sub;
    c->topic = topic;
    c->journal = d->journal;
    c->on_skip = opts ? opts->on_skip : NULL;
    strcpy(c->name, consumer);
    pthread_mutex_lock(&d->consumers_lock);
    int rc = name_taken(d, consumer) ? -EBUSY : consumer_start(c, opts);
    if (rc == 0) {
        c->next = d->consumers;
        d->consumers = c;
    }
    pthread_mutex_unlock(&d->consumers_lock);
    if (rc) {
        bus__sub_free(sub);
        free(c);
        return rc;
    }
    *out = sub;
    return 0;
}

/* Stops the thread, once: asks, wakes it, joins it (it stores the
 * position). consumers_lock held or the consumer unlisted. */
static void consumer_stop(struct consumer *c)
{
    if (c->joined)
        return;
    /* release: pairs with the thread's acquire loads. */
    atomic_store_explicit(&c->stop, true, memory_order_release);
    evcount_notify(&c->journal->progress, INT32_MAX);
    pthread_join(c->thread, NULL);
    c->joined = true;
}

/* The handles stay valid (bus_unsubscribe() after bus_shutdown() works):
 * they are freed with the topic. */
int bus__durable_stop(struct bus_topic *t, void *unused)
{
    (void)unused;
    struct durable *d = t->durable;
    if (!d)
        return 0;
    pthread_mutex_lock(&d->consumers_lock);
    for (struct consumer *c = d->consumers; c; c = c->next)
        consumer_stop(c);
    pthread_mutex_unlock(&d->consumers_lock);
    return 0;
}

void bus__consumers_free(struct durable *d)
{
    while (d->consumers) {
        struct consumer *c = d->consumers;
        d->consumers = c->next;
        consumer_stop(c);
        consumer_free(c);
    }
}

int bus__consumer_unsubscribe(struct bus_sub *sub)
{
    struct consumer *c = sub->consumer;
    if (pthread_equal(pthread_self(), c->thread)) {
        /* From its own handler: it stops after this call returns; the
         * topic's close or bus_destroy() joins and frees it. */
        atomic_store_explicit(&c->stop, true, memory_order_release);
        return 0;
    }
    struct durable *d = c->topic->durable;
    pthread_mutex_lock(&d->consumers_lock);
    struct consumer **link = &d->consumers;
    while (*link != c)
        link = &(*link)->next;
    *link = c->next;
    pthread_mutex_unlock(&d->consumers_lock);
    consumer_stop(c);
    consumer_free(c);
    return 0;
}

int bus_durable_forget(bus_topic_t *topic, const char *consumer)
{
    if (!topic || !consumer || !topic->durable || !valid_name(consumer))
        return bus__fail(-EINVAL, "bus_durable_forget: NULL argument, not a durable topic, "
                                  "or a malformed name");
    struct durable *d = topic->durable;
    /* Under the lock: no subscription of that name opens the file meanwhile. */
    pthread_mutex_lock(&d->consumers_lock);
    int rc = name_taken(d, consumer) ? -EBUSY
                                     : position_remove(d->journal->dirfd, consumer);
    pthread_mutex_unlock(&d->consumers_lock);
    return rc;
}

int bus_durable_stats(const bus_sub_t *sub, bus_durable_stats_t *out)
{
    if (!sub || !out || !sub->consumer)
        return bus__fail(-EINVAL, "bus_durable_stats: NULL argument, or not a durable consumer");
    const struct consumer *c = sub->consumer;
    /* relaxed: statistics. */
    out->next_seq = atomic_load_explicit(&c->next_seq, memory_order_relaxed);
    out->acked = atomic_load_explicit(&c->acked, memory_order_relaxed);
    out->skipped = atomic_load_explicit(&c->skipped, memory_order_relaxed);
    return 0;
}
