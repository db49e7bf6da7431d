/* helpers.h - small tools shared by the Check suites. */
#ifndef BUS_TEST_HELPERS_H
#define BUS_TEST_HELPERS_H

#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bus.h"

#define ck_assert_ok(expr) ck_assert_int_eq((expr), 0)

/* Counts calls and checks that seq grows by exactly one per call. */
struct counter {
    atomic_ulong calls;
    atomic_ulong order_errors;
    uint64_t last_seq; /* only for ordered topics: one worker at a time */
};

static inline int count_in_order(const bus_event_t *ev, void *ctx)
{
    struct counter *c = ctx;
    if (ev->seq != c->last_seq + 1)
        atomic_fetch_add(&c->order_errors, 1);
    c->last_seq = ev->seq;
    atomic_fetch_add(&c->calls, 1);
    return 0;
}

static inline int count_only(const bus_event_t *ev, void *ctx)
{
    (void)ev;
    atomic_fetch_add(&((struct counter *)ctx)->calls, 1);
    return 0;
}

/* A gate handlers can wait on, to hold a worker still. */
struct gate {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool open;
    int waiting;
};

static inline void gate_init(struct gate *g)
{
    pthread_mutex_init(&g->lock, NULL);
    pthread_cond_init(&g->cond, NULL);
    g->open = false;
    g->waiting = 0;
}

static inline void gate_pass(struct gate *g)
{
    pthread_mutex_lock(&g->lock);
    g->waiting++;
    pthread_cond_broadcast(&g->cond);
    while (!g->open)
        pthread_cond_wait(&g->cond, &g->lock);
    g->waiting--;
    pthread_mutex_unlock(&g->lock);
}

/* Returns once @n threads wait at the gate. */
static inline void gate_await_waiters(struct gate *g, int n)
{
    pthread_mutex_lock(&g->lock);
    while (g->waiting < n)
        pthread_cond_wait(&g->cond, &g->lock);
    pthread_mutex_unlock(&g->lock);
}

static inline void gate_open(struct gate *g)
{
    pthread_mutex_lock(&g->lock);
    g->open = true;
    pthread_cond_broadcast(&g->cond);
    pthread_mutex_unlock(&g->lock);
}

static inline int wait_at_gate(const bus_event_t *ev, void *ctx)
{
    (void)ev;
    gate_pass(ctx);
    return 0;
}

static inline bus_t *new_bus(unsigned workers)
{
    bus_config_t cfg;
    bus_config_init(&cfg);
    cfg.workers = workers;
    bus_t *bus = NULL;
    ck_assert_ok(bus_create(&bus, &cfg));
    return bus;
}

static inline bus_topic_t *new_topic(bus_t *bus, const char *name, uint32_t capacity,
                                     int policy, unsigned flags)
{
    bus_topic_config_t cfg;
    bus_topic_config_init(&cfg);
    cfg.capacity = capacity;
    cfg.full_policy = policy;
    cfg.flags = flags;
    bus_topic_t *t = NULL;
    ck_assert_ok(bus_topic_open(bus, name, &cfg, &t));
    return t;
}

/* Subscribes @fn with @ctx to @t (bus_subscribe), checked to succeed. */
static inline bus_sub_t *subscribe(bus_topic_t *t, bus_handler_fn fn, void *ctx)
{
    bus_sub_t *sub = NULL;
    ck_assert_ok(bus_subscribe(t, fn, ctx, &sub));
    return sub;
}

/* A topic's stats (bus_topic_stats) and a subscription's (bus_sub_stats),
 * checked to be given. */
static inline bus_topic_stats_t topic_stats(bus_topic_t *t)
{
    bus_topic_stats_t st;
    ck_assert_ok(bus_topic_stats(t, &st));
    return st;
}

static inline bus_sub_stats_t sub_stats(bus_sub_t *sub)
{
    bus_sub_stats_t ss;
    ck_assert_ok(bus_sub_stats(sub, &ss));
    return ss;
}

/* CLOCK_MONOTONIC in ns. */
static inline uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* A topic's close on a thread of its own (it may wait for handlers the
 * test holds); join c->thread, then read rc and final. */
struct topic_closer {
    pthread_t thread;
    bus_topic_t *topic;
    int mode, rc;
    bus_topic_stats_t final;
};

static inline void *close_main(void *arg)
{
    struct topic_closer *c = arg;
    c->rc = bus_topic_close(c->topic, c->mode, &c->final);
    return NULL;
}

static inline void close_in_thread(struct topic_closer *c, bus_topic_t *t, int mode)
{
    c->topic = t;
    c->mode = mode;
    c->rc = 1;
    ck_assert_int_eq(pthread_create(&c->thread, NULL, close_main, c), 0);
}

/* Publishes until the topic refuses with -EPIPE: the close has started.
 * Returns how many were accepted meanwhile (a full ring refuses with
 * -EAGAIN until then). Each call holds the topics: it races with the close. */
static inline uint64_t publish_until_closed(bus_topic_t *t)
{
    uint64_t accepted = 0;
    int rc;
    do {
        bus_hold_begin();
        rc = bus_publish(t, "z", 1);
        bus_hold_end();
        ck_assert(rc == 0 || rc == -EAGAIN || rc == -EPIPE);
        accepted += rc == 0;
    } while (rc != -EPIPE);
    return accepted;
}

/* Runs one suite; the exit status is the number of failures. */
static inline int run_suite(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}

#endif
