/* durable_helpers.h - what the durable topic tests share: a temporary
 * journal directory, a durable topic, and a recorder that a test waits on
 * until a consumer has seen a given seq. */
#ifndef BUS_TEST_DURABLE_HELPERS_H
#define BUS_TEST_DURABLE_HELPERS_H

#include <stdio.h>
#include <stdlib.h>

#include "bus/journal.h"
#include "helpers.h"

static inline void temp_dir(char dir[64])
{
    strcpy(dir, "/tmp/bus-durable-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static inline void remove_dir(const char *dir)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

/* A bus of one worker, and @dir a new temporary journal directory. */
static inline bus_t *new_bus_in_temp_dir(char dir[64])
{
    temp_dir(dir);
    return new_bus(1);
}

/* Destroys @bus, then removes @dir and what is in it. */
static inline void destroy_bus_and_dir(bus_t *bus, const char *dir)
{
    ck_assert_ok(bus_destroy(bus));
    remove_dir(dir);
}

/* A durable consumer's stats (bus_durable_stats). */
static inline bus_durable_stats_t durable_stats(bus_sub_t *sub)
{
    bus_durable_stats_t ds;
    ck_assert_ok(bus_durable_stats(sub, &ds));
    return ds;
}

static inline bus_topic_t *durable_topic(bus_t *bus, const char *dir, int sync,
                                         uint64_t segment_bytes, uint64_t retain_bytes)
{
    bus_journal_config_t j;
    bus_journal_config_init(&j);
    j.dir = dir;
    j.sync = sync;
    j.segment_bytes = segment_bytes;
    j.retain_bytes = retain_bytes;
    bus_topic_t *t = NULL;
    ck_assert_ok(bus_topic_open_durable(bus, "orders", NULL, &j, &t));
    return t;
}

/* The seqs a handler saw, in call order, and a wait for one of them. */
struct recorder {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    uint64_t seqs[1 << 16];
    uint32_t n;
    int fail_seq; /* the handler fails for this seq (0: none) */
    uint64_t skipped_from, skipped_to;
};

static inline void recorder_init(struct recorder *r)
{
    memset(r, 0, sizeof(*r));
    pthread_mutex_init(&r->lock, NULL);
    pthread_cond_init(&r->cond, NULL);
}

static inline int record(const bus_event_t *ev, void *ctx)
{
    struct recorder *r = ctx;
    uint64_t value;
    ck_assert_uint_eq(ev->size, sizeof(value));
    memcpy(&value, ev->data, sizeof(value));
    ck_assert_uint_eq(value, ev->seq * 3); /* what publish_seqs put there */
    pthread_mutex_lock(&r->lock);
    if (r->n < sizeof(r->seqs) / sizeof(r->seqs[0]))
        r->seqs[r->n++] = ev->seq;
    pthread_cond_broadcast(&r->cond);
    pthread_mutex_unlock(&r->lock);
    return (int)ev->seq == r->fail_seq ? -1 : 0;
}

static inline void record_skip(bus_sub_t *sub, uint64_t from, uint64_t to, void *ctx)
{
    (void)sub;
    struct recorder *r = ctx;
    pthread_mutex_lock(&r->lock);
    r->skipped_from = from;
    r->skipped_to = to;
    pthread_mutex_unlock(&r->lock);
}

/* The bound of the waits below: 20 s from now (CLOCK_REALTIME, the
 * condition variables' clock). */
static inline struct timespec await_deadline(void)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 20;
    return until;
}

/* Waits until the recorder saw @seq (bounded: fails after 20 s). */
static inline void await_seq(struct recorder *r, uint64_t seq)
{
    struct timespec until = await_deadline();
    pthread_mutex_lock(&r->lock);
    while (!(r->n && r->seqs[r->n - 1] >= seq))
        ck_assert_int_eq(pthread_cond_timedwait(&r->cond, &r->lock, &until), 0);
    pthread_mutex_unlock(&r->lock);
}

/* Publishes @count events whose payload is 3 * their seq (seqs go on from
 * @next_seq): each publish must be given the seq expected. */
static inline void publish_seqs(bus_topic_t *t, uint64_t next_seq, uint64_t count)
{
    for (uint64_t i = 0; i < count; i++) {
        uint64_t value = (next_seq + i) * 3;
        ck_assert_ok(bus_publish(t, &value, sizeof(value)));
    }
}

/* What on_durable (bus_publish_options_t) reported, in call order, and a
 * wait for a number of reports. */
struct durable_reports {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bus_topic_t *topic;
    uint64_t seqs[4096];
    int status[4096];
    uint32_t n;
};

static inline void durable_reports_init(struct durable_reports *d, bus_topic_t *t)
{
    memset(d, 0, sizeof(*d));
    pthread_mutex_init(&d->lock, NULL);
    pthread_cond_init(&d->cond, NULL);
    d->topic = t;
}

/* on_durable: a report of status 0 must come once the seq is synced. */
static inline void durable_report(uint64_t seq, int status, void *arg)
{
    struct durable_reports *d = arg;
    bus_journal_stats_t js;
    ck_assert_ok(bus_journal_stats(d->topic, &js));
    if (status == 0)
        ck_assert_uint_ge(js.synced_seq, seq);
    pthread_mutex_lock(&d->lock);
    ck_assert_uint_lt(d->n, 4096);
    d->seqs[d->n] = seq;
    d->status[d->n++] = status;
    pthread_cond_broadcast(&d->cond);
    pthread_mutex_unlock(&d->lock);
}

/* Waits until @n reports came (bounded: fails after 20 s). */
static inline void await_reports(struct durable_reports *d, uint32_t n)
{
    struct timespec until = await_deadline();
    pthread_mutex_lock(&d->lock);
    while (d->n < n)
        ck_assert_int_eq(pthread_cond_timedwait(&d->cond, &d->lock, &until), 0);
    pthread_mutex_unlock(&d->lock);
}

/* Publishes one event (payload 3 * @seq, as publish_seqs) with on_durable
 * reporting to @d; checks the seq it was given. */
static inline void publish_durable(bus_topic_t *t, uint64_t seq, struct durable_reports *d)
{
    uint64_t value = seq * 3, given = 0;
    bus_publish_options_t opts;
    bus_publish_options_init(&opts);
    opts.on_durable = durable_report;
    opts.durable_arg = d;
    opts.seq = &given;
    ck_assert_ok(bus_publish_ex(t, &value, sizeof(value), &opts));
    ck_assert_uint_eq(given, seq);
}

#endif
