/* test_control.c - control of the bus: bounded and quiet flushes, bounded
 * and concurrent shutdowns, dead letters at shutdown, worker threads (names,
 * affinity, hooks), back-pressure counters. */
#include <sched.h>
#include <stdio.h>
#include <unistd.h>

#include "helpers.h"

enum { MS = 1000000 };

/* A bus with one topic whose handler holds its worker at a gate until the
 * test opens it: the bus cannot drain before that. */
struct held {
    bus_t *bus;
    bus_topic_t *topic;
    struct gate gate;
    struct counter handled;
};

static int pass_gate_then_count(const bus_event_t *ev, void *ctx)
{
    struct held *h = ctx;
    gate_pass(&h->gate);
    return count_only(ev, &h->handled);
}

/* Starts @h with one event held at the gate. */
static void hold_one(struct held *h, bus_t *bus)
{
    memset(h, 0, sizeof(*h));
    gate_init(&h->gate);
    h->bus = bus;
    h->topic = new_topic(bus, "held", 64, BUS_FULL_BLOCK, 0);
    subscribe(h->topic, pass_gate_then_count, h);
    ck_assert_ok(bus_publish(h->topic, NULL, 0));
    gate_await_waiters(&h->gate, 1);
}

/* Opens a gate after a delay, from its own thread: lets a test start a wait
 * that can only end once the gate is open. The delay is not a
 * synchronisation: an early opening only makes the test pass vacuously. */
struct delayed_open {
    struct gate *gate;
    long ms;
};

static void *open_later(void *arg)
{
    struct delayed_open *d = arg;
    sleep_ms(d->ms);
    gate_open(d->gate);
    return NULL;
}

START_TEST(flush_timeout_gives_up_then_succeeds)
{
    struct held h;
    hold_one(&h, new_bus(1));
    uint64_t start = now_ns();
    ck_assert_int_eq(bus_flush_timeout(h.bus, 20 * MS), -ETIMEDOUT);
    uint64_t waited = now_ns() - start;
    ck_assert_uint_ge(waited, 20 * MS);
    ck_assert_uint_lt(waited, 10000 * (uint64_t)MS);
    /* 0: only look. */
    ck_assert_int_eq(bus_flush_timeout(h.bus, 0), -ETIMEDOUT);
    ck_assert_int_eq(bus_flush_quiet(h.bus, 0), -ETIMEDOUT);
    ck_assert_int_eq(bus_flush_quiet(h.bus, 5 * MS), -ETIMEDOUT);
    ck_assert_uint_eq(atomic_load(&h.handled.calls), 0);
    gate_open(&h.gate);
    ck_assert_ok(bus_flush_timeout(h.bus, 10000 * (uint64_t)MS));
    ck_assert_uint_eq(atomic_load(&h.handled.calls), 1);
    ck_assert_ok(bus_flush_timeout(h.bus, 0)); /* nothing pending */
    ck_assert_ok(bus_destroy(h.bus));
}
END_TEST

/* With one event held, and its gate opened 50 ms later: @wait (a flush or
 * a shutdown) given @timeout_ns succeeds once the event is handled. */
static void assert_waits_for_the_held_event(int (*wait)(bus_t *, uint64_t), uint64_t timeout_ns)
{
    struct held h;
    hold_one(&h, new_bus(1));
    struct delayed_open d = {&h.gate, 50};
    pthread_t opener;
    pthread_create(&opener, NULL, open_later, &d);
    ck_assert_ok(wait(h.bus, timeout_ns));
    ck_assert_uint_eq(atomic_load(&h.handled.calls), 1);
    pthread_join(opener, NULL);
    ck_assert_ok(bus_destroy(h.bus));
}

/* now + timeout must saturate: a wrapped deadline lies in the past and the
 * call would time out at once. */
START_TEST(huge_flush_timeout_means_forever)
{
    assert_waits_for_the_held_event(bus_flush_timeout, UINT64_MAX - 1);
}
END_TEST

START_TEST(huge_shutdown_timeout_means_forever)
{
    assert_waits_for_the_held_event(bus_shutdown_timeout, UINT64_MAX / 2 + 1);
}
END_TEST

/* A pipeline a -> b -> c, opened in the order c, b, a so that a flush walks
 * the topics against the flow; c's handler fails, so each event also makes a
 * dead letter. a and b linger over the last event, so that one pass over
 * the topics (a plain flush) would return while b and c are still busy. */
struct pipeline {
    bus_topic_t *next;
    uint32_t linger_on; /* payload value to linger over, or UINT32_MAX */
    atomic_ulong forwarded, forward_errors;
};

static int forward(const bus_event_t *ev, void *ctx)
{
    struct pipeline *p = ctx;
    uint32_t value;
    memcpy(&value, ev->data, sizeof(value));
    if (value == p->linger_on)
        sleep_ms(50); /* a slow stage, not a synchronisation */
    int rc = bus_publish(p->next, ev->data, ev->size);
    atomic_fetch_add(rc ? &p->forward_errors : &p->forwarded, 1);
    return 0;
}

static int count_then_fail(const bus_event_t *ev, void *ctx)
{
    count_only(ev, ctx);
    return -EIO;
}

START_TEST(quiet_flush_waits_for_what_handlers_publish)
{
    enum { EVENTS = 4000, CAPACITY = 8192 };
    bus_t *bus = new_bus(2);
    bus_topic_config_t dl_cfg;
    bus_topic_config_init(&dl_cfg);
    dl_cfg.capacity = CAPACITY;
    dl_cfg.max_payload = 64 + sizeof(bus_dead_letter_t);
    bus_topic_t *dl;
    ck_assert_ok(bus_dead_letter_topic(bus, &dl_cfg, &dl));
    bus_topic_t *c = new_topic(bus, "pipe.c", CAPACITY, BUS_FULL_BLOCK, 0);
    bus_topic_t *b = new_topic(bus, "pipe.b", CAPACITY, BUS_FULL_BLOCK, 0);
    bus_topic_t *a = new_topic(bus, "pipe.a", CAPACITY, BUS_FULL_BLOCK, 0);
    struct pipeline to_b = {.next = b, .linger_on = EVENTS - 1},
                    to_c = {.next = c, .linger_on = EVENTS - 1};
    struct counter at_c = {0}, letters = {0};
    bus_sub_t *subs[4];
    ck_assert_ok(bus_subscribe(a, forward, &to_b, &subs[0]));
    ck_assert_ok(bus_subscribe(b, forward, &to_c, &subs[1]));
    ck_assert_ok(bus_subscribe(c, count_then_fail, &at_c, &subs[2]));
    ck_assert_ok(bus_subscribe(dl, count_only, &letters, &subs[3]));
    for (uint32_t i = 0; i < EVENTS; i++)
        ck_assert_ok(bus_publish(a, &i, sizeof(i)));
    ck_assert_ok(bus_flush_quiet(bus, 60000 * (uint64_t)MS));
    /* Read before anything else can run: the bus was quiet at return. */
    unsigned long handled_at_c = atomic_load(&at_c.calls);
    unsigned long dead_letters = atomic_load(&letters.calls);
    ck_assert_uint_eq(atomic_load(&to_b.forward_errors), 0);
    ck_assert_uint_eq(atomic_load(&to_c.forward_errors), 0);
    ck_assert_uint_eq(handled_at_c, EVENTS);
    ck_assert_uint_eq(dead_letters, EVENTS);
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

START_TEST(timed_out_shutdown_stops_intake_and_can_be_finished)
{
    struct held h;
    hold_one(&h, new_bus(1));
    uint64_t start = now_ns();
    ck_assert_int_eq(bus_shutdown_timeout(h.bus, 20 * MS), -ETIMEDOUT);
    ck_assert_uint_ge(now_ns() - start, 20 * MS);
    /* Intake stopped for good; the accepted event is still delivered. */
    ck_assert_int_eq(bus_publish(h.topic, NULL, 0), -ESHUTDOWN);
    bus_topic_t *t;
    ck_assert_int_eq(bus_topic_open(h.bus, "late", NULL, &t), -ESHUTDOWN);
    ck_assert_int_eq(bus_shutdown_timeout(h.bus, 0), -ETIMEDOUT);
    gate_open(&h.gate);
    ck_assert_ok(bus_flush(h.bus)); /* the workers still run */
    ck_assert_uint_eq(atomic_load(&h.handled.calls), 1);
    ck_assert_ok(bus_shutdown_timeout(h.bus, 10000 * (uint64_t)MS));
    ck_assert_ok(bus_shutdown_timeout(h.bus, 0)); /* done: 0 at once */
    ck_assert_ok(bus_destroy(h.bus));
}
END_TEST

START_TEST(destroy_finishes_a_timed_out_shutdown)
{
    struct held h;
    hold_one(&h, new_bus(2));
    ck_assert_int_eq(bus_shutdown_timeout(h.bus, 1 * MS), -ETIMEDOUT);
    gate_open(&h.gate);
    ck_assert_ok(bus_destroy(h.bus));
    ck_assert_uint_eq(atomic_load(&h.handled.calls), 1);
}
END_TEST

/* Worker hooks that count, per worker index. */
enum { MAX_TEST_WORKERS = 8 };

struct hooks {
    atomic_int started[MAX_TEST_WORKERS], stopped[MAX_TEST_WORKERS];
    atomic_int bad_name, bad_bus;
    bus_t *_Atomic bus;
    /* Affinity checks: the CPU worker threads must be pinned to, or -1. */
    int pinned_cpu;
    atomic_int bad_affinity;
};

static _Thread_local bool started_here;

static void on_start(bus_t *bus, unsigned worker, void *arg)
{
    struct hooks *h = arg;
    char name[16], want[16];
    pthread_getname_np(pthread_self(), name, sizeof(name));
    snprintf(want, sizeof(want), "bus-w%u", worker);
    if (strcmp(name, want) != 0)
        atomic_fetch_add(&h->bad_name, 1);
    if (h->pinned_cpu >= 0) {
        cpu_set_t set;
        pthread_getaffinity_np(pthread_self(), sizeof(set), &set);
        if (CPU_COUNT(&set) != 1 || !CPU_ISSET(h->pinned_cpu, &set))
            atomic_fetch_add(&h->bad_affinity, 1);
    }
    (void)bus;
    started_here = true;
    if (worker < MAX_TEST_WORKERS)
        atomic_fetch_add(&h->started[worker], 1);
}

static void on_stop(bus_t *bus, unsigned worker, void *arg)
{
    struct hooks *h = arg;
    /* The hook gets the bus bus_create() returned. */
    bus_t *expected = atomic_load(&h->bus);
    if (expected && bus != expected)
        atomic_fetch_add(&h->bad_bus, 1);
    if (worker < MAX_TEST_WORKERS)
        atomic_fetch_add(&h->stopped[worker], 1);
}

static int count_threads_without_start(const bus_event_t *ev, void *ctx)
{
    (void)ev;
    if (!started_here)
        atomic_fetch_add((atomic_ulong *)ctx, 1);
    return 0;
}

static bus_t *new_hooked_bus(unsigned workers, struct hooks *h, const unsigned *cpus,
                             unsigned ncpus)
{
    bus_config_t cfg;
    bus_config_init(&cfg);
    ck_assert(cfg.on_worker_start == NULL && cfg.on_worker_stop == NULL);
    ck_assert_uint_eq(cfg.worker_cpus_count, 0);
    cfg.workers = workers;
    cfg.on_worker_start = on_start;
    cfg.on_worker_stop = on_stop;
    cfg.worker_hook_arg = h;
    cfg.worker_cpus = cpus;
    cfg.worker_cpus_count = ncpus;
    bus_t *bus = NULL;
    ck_assert_ok(bus_create(&bus, &cfg));
    atomic_store(&h->bus, bus);
    return bus;
}

START_TEST(worker_threads_are_named_and_hooked)
{
    enum { WORKERS = 4, EVENTS = 2000 };
    struct hooks h = {.pinned_cpu = -1};
    bus_t *bus = new_hooked_bus(WORKERS, &h, NULL, 0);
    bus_topic_t *t = new_topic(bus, "hooked", 1024, BUS_FULL_BLOCK, BUS_TOPIC_PARALLEL);
    atomic_ulong unstarted = 0;
    subscribe(t, count_threads_without_start, &unstarted);
    for (int i = 0; i < EVENTS; i++)
        ck_assert_ok(bus_publish(t, NULL, 0));
    ck_assert_ok(bus_flush(bus));
    for (int i = 0; i < WORKERS; i++)
        ck_assert_int_eq(atomic_load(&h.stopped[i]), 0);
    ck_assert_ok(bus_shutdown(bus));
    /* Each worker: one start, one stop, by the time shutdown returns. */
    for (int i = 0; i < WORKERS; i++) {
        ck_assert_int_eq(atomic_load(&h.started[i]), 1);
        ck_assert_int_eq(atomic_load(&h.stopped[i]), 1);
    }
    ck_assert_int_eq(atomic_load(&h.bad_name), 0);
    ck_assert_int_eq(atomic_load(&h.bad_bus), 0);
    ck_assert_uint_eq(atomic_load(&unstarted), 0);
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

struct timeout_thread {
    char name[16];
    atomic_bool seen;
};

static void name_of_reply_thread(int status, const void *reply, size_t size, void *arg)
{
    (void)reply;
    (void)size;
    struct timeout_thread *tt = arg;
    if (status == -ETIMEDOUT)
        pthread_getname_np(pthread_self(), tt->name, sizeof(tt->name));
    atomic_store(&tt->seen, true);
}

START_TEST(timer_thread_is_named)
{
    struct held h;
    hold_one(&h, new_bus(1));
    struct timeout_thread tt = {.name = ""};
    /* Queued behind the held event: only the timer can answer. */
    ck_assert_ok(bus_request(h.topic, NULL, 0, 1 * MS, name_of_reply_thread, &tt));
    while (!atomic_load(&tt.seen))
        sched_yield();
    gate_open(&h.gate);
    ck_assert_str_eq(tt.name, "bus-timer");
    ck_assert_ok(bus_destroy(h.bus));
}
END_TEST

/* The first CPU this process may run on. */
static int first_allowed_cpu(void)
{
    cpu_set_t set;
    ck_assert_ok(sched_getaffinity(0, sizeof(set), &set));
    for (int cpu = 0; cpu < CPU_SETSIZE; cpu++)
        if (CPU_ISSET(cpu, &set))
            return cpu;
    ck_abort_msg("no CPU allowed");
    return -1;
}

START_TEST(worker_cpus_pin_each_worker)
{
    struct hooks h = {.pinned_cpu = first_allowed_cpu()};
    unsigned cpus[] = {(unsigned)h.pinned_cpu};
    bus_t *bus = new_hooked_bus(3, &h, cpus, 1);
    ck_assert_ok(bus_shutdown(bus));
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(atomic_load(&h.started[i]), 1);
    ck_assert_int_eq(atomic_load(&h.bad_affinity), 0);
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

START_TEST(bad_worker_cpus_are_refused)
{
    bus_config_t cfg;
    bus_config_init(&cfg);
    cfg.workers = 2;
    bus_t *bus = NULL;
    cfg.worker_cpus_count = 1; /* array NULL */
    ck_assert_int_eq(bus_create(&bus, &cfg), -EINVAL);
    unsigned too_big[] = {CPU_SETSIZE};
    cfg.worker_cpus = too_big;
    ck_assert_int_eq(bus_create(&bus, &cfg), -EINVAL);
    /* A CPU number the machine does not have, if it has fewer than 1024. */
    long online = sysconf(_SC_NPROCESSORS_CONF);
    if (online > 0 && online < CPU_SETSIZE) {
        unsigned absent[] = {CPU_SETSIZE - 1};
        cfg.worker_cpus = absent;
        ck_assert_int_eq(bus_create(&bus, &cfg), -EINVAL);
    }
    ck_assert_ptr_null(bus);
}
END_TEST

/* A second shutdown while the first drains: with a deadline it times out;
 * without one it returns only once the workers are joined. */
struct shutdown_call {
    bus_t *bus;
    struct hooks *hooks;
    int rc;
    int stopped_at_return; /* on_worker_stop calls seen when it returned */
};

static void *call_shutdown(void *arg)
{
    struct shutdown_call *c = arg;
    c->rc = bus_shutdown(c->bus);
    c->stopped_at_return = atomic_load(&c->hooks->stopped[0]);
    return NULL;
}

START_TEST(concurrent_shutdowns_return_once_shut_down)
{
    struct hooks h = {.pinned_cpu = -1};
    struct held held;
    hold_one(&held, new_hooked_bus(1, &h, NULL, 0));
    struct shutdown_call first = {held.bus, &h, -1, -1}, second = first;
    pthread_t t1, t2;
    pthread_create(&t1, NULL, call_shutdown, &first);
    ck_assert_int_eq(bus_shutdown_timeout(held.bus, 20 * MS), -ETIMEDOUT);
    pthread_create(&t2, NULL, call_shutdown, &second);
    gate_open(&held.gate);
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);
    ck_assert_ok(first.rc);
    ck_assert_ok(second.rc);
    ck_assert_int_eq(first.stopped_at_return, 1);
    ck_assert_int_eq(second.stopped_at_return, 1);
    ck_assert_uint_eq(atomic_load(&held.handled.calls), 1);
    ck_assert_ok(bus_destroy(held.bus));
}
END_TEST

/* Dead letters of failures that happen while bus_shutdown() drains are
 * delivered or counted as dropped, never lost. */
struct failing {
    struct gate gate;
    atomic_ulong failures;
};

static int fail_after_gate(const bus_event_t *ev, void *ctx)
{
    struct failing *f = ctx;
    if (ev->seq == 1)
        gate_pass(&f->gate);
    atomic_fetch_add(&f->failures, 1);
    return -EIO;
}

static void *shutdown_thread(void *bus)
{
    ck_assert_ok(bus_shutdown(bus));
    return NULL;
}

START_TEST(dead_letters_during_shutdown_are_all_accounted)
{
    enum { EVENTS = 1000 };
    bus_t *bus = new_bus((unsigned)_i + 1);
    bus_topic_t *work = new_topic(bus, "work", 1024, BUS_FULL_BLOCK, 0);
    bus_topic_t *dl;
    ck_assert_ok(bus_dead_letter_topic(bus, NULL, &dl));
    /* Opened after the dead-letter topic: sealed once it is. */
    bus_topic_t *probe = new_topic(bus, "probe", 2, BUS_FULL_DROP, 0);
    struct failing f = {0};
    gate_init(&f.gate);
    struct counter letters = {0};
    bus_sub_t *s1, *s2;
    ck_assert_ok(bus_subscribe(work, fail_after_gate, &f, &s1));
    ck_assert_ok(bus_subscribe(dl, count_only, &letters, &s2));
    for (uint32_t i = 0; i < EVENTS; i++)
        ck_assert_ok(bus_publish(work, &i, sizeof(i)));
    gate_await_waiters(&f.gate, 1);
    pthread_t stopper;
    pthread_create(&stopper, NULL, shutdown_thread, bus);
    /* Every failure happens after the seals of the shutdown's first step. */
    while (bus_publish(probe, NULL, 0) != -ESHUTDOWN)
        sched_yield();
    gate_open(&f.gate);
    pthread_join(stopper, NULL);
    bus_topic_stats_t st = topic_stats(dl);
    ck_assert_uint_eq(atomic_load(&f.failures), EVENTS);
    ck_assert_uint_eq(st.delivered + st.dropped, EVENTS);
    ck_assert_uint_eq(st.delivered, atomic_load(&letters.calls));
    ck_assert_uint_gt(st.delivered, 0);
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

/* Producers race with several threads that each retry a short-deadline
 * shutdown until it succeeds; handlers fail every third event. One event is
 * held until every stopper has timed out at least once. */
enum { HOLD_SEQ = 5000 };

struct racing_producer {
    bus_topic_t *topic;
    unsigned long accepted;
    int last_rc;
};

static void *publish_until_refused(void *arg)
{
    struct racing_producer *p = arg;
    uint32_t i = 0;
    while ((p->last_rc = bus_publish(p->topic, &i, sizeof(i))) == 0) {
        p->accepted++;
        i++;
    }
    return NULL;
}

struct racing_handler {
    struct gate gate;
    struct counter calls;
};

static int fail_every_third(const bus_event_t *ev, void *ctx)
{
    struct racing_handler *r = ctx;
    if (ev->seq == HOLD_SEQ)
        gate_pass(&r->gate);
    count_only(ev, &r->calls);
    return ev->seq % 3 == 0 ? -EIO : 0;
}

struct retrying_shutdown {
    bus_t *bus;
    struct hooks *hooks;
    atomic_ulong timeouts;
    int stopped_at_return;
};

static void *shut_down_in_short_steps(void *arg)
{
    struct retrying_shutdown *r = arg;
    int rc;
    while ((rc = bus_shutdown_timeout(r->bus, 100000)) == -ETIMEDOUT)
        atomic_fetch_add(&r->timeouts, 1);
    ck_assert_ok(rc);
    r->stopped_at_return = atomic_load(&r->hooks->stopped[0]) +
                           atomic_load(&r->hooks->stopped[1]);
    return NULL;
}

START_TEST(racing_timed_shutdowns_lose_nothing)
{
    enum { PRODUCERS = 3, STOPPERS = 3 };
    struct hooks h = {.pinned_cpu = -1};
    bus_t *bus = new_hooked_bus(2, &h, NULL, 0);
    bus_topic_t *t = new_topic(bus, "race", 256, BUS_FULL_BLOCK, 0);
    bus_topic_t *dl;
    ck_assert_ok(bus_dead_letter_topic(bus, NULL, &dl));
    struct racing_handler handler = {0};
    gate_init(&handler.gate);
    struct counter letters = {0};
    bus_sub_t *s1, *s2;
    ck_assert_ok(bus_subscribe(t, fail_every_third, &handler, &s1));
    ck_assert_ok(bus_subscribe(dl, count_only, &letters, &s2));
    struct racing_producer producers[PRODUCERS];
    pthread_t threads[PRODUCERS + STOPPERS];
    for (int i = 0; i < PRODUCERS; i++) {
        producers[i] = (struct racing_producer){.topic = t};
        pthread_create(&threads[i], NULL, publish_until_refused, &producers[i]);
    }
    gate_await_waiters(&handler.gate, 1);
    struct retrying_shutdown stoppers[STOPPERS];
    for (int i = 0; i < STOPPERS; i++) {
        stoppers[i] = (struct retrying_shutdown){.bus = bus, .hooks = &h};
        pthread_create(&threads[PRODUCERS + i], NULL, shut_down_in_short_steps, &stoppers[i]);
    }
    for (int i = 0; i < STOPPERS; i++)
        while (atomic_load(&stoppers[i].timeouts) == 0)
            sched_yield();
    gate_open(&handler.gate);
    unsigned long accepted = 0;
    for (int i = 0; i < PRODUCERS + STOPPERS; i++)
        pthread_join(threads[i], NULL);
    for (int i = 0; i < PRODUCERS; i++) {
        ck_assert_int_eq(producers[i].last_rc, -ESHUTDOWN);
        accepted += producers[i].accepted;
    }
    for (int i = 0; i < STOPPERS; i++)
        ck_assert_int_eq(stoppers[i].stopped_at_return, 2);
    bus_topic_stats_t st, dst;
    ck_assert_ok(bus_topic_stats(t, &st));
    ck_assert_ok(bus_topic_stats(dl, &dst));
    ck_assert_uint_ge(accepted, HOLD_SEQ);
    ck_assert_uint_eq(atomic_load(&handler.calls.calls), accepted);
    ck_assert_uint_eq(st.delivered + st.handler_errors, accepted);
    ck_assert_uint_eq(dst.delivered + dst.dropped, st.handler_errors);
    ck_assert_uint_eq(dst.delivered, atomic_load(&letters.calls));
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

/* A producer that publishes one event onto a full topic. */
struct blocked_publish {
    bus_topic_t *topic;
    int rc;
};

static void *publish_one(void *arg)
{
    struct blocked_publish *p = arg;
    p->rc = bus_publish(p->topic, NULL, 0);
    return NULL;
}

static uint64_t blocked_count(bus_topic_t *t)
{
    bus_topic_stats_t st = topic_stats(t);
    return st.blocked;
}

START_TEST(blocked_counts_publishes_that_waited_for_room)
{
    bus_t *bus = new_bus(1);
    struct held h;
    memset(&h, 0, sizeof(h));
    gate_init(&h.gate);
    bus_topic_t *t = new_topic(bus, "narrow", 2, BUS_FULL_BLOCK, 0);
    bus_topic_t *fail = new_topic(bus, "narrow.fail", 2, BUS_FULL_FAIL, 0);
    subscribe(t, pass_gate_then_count, &h);
    ck_assert_ok(bus_publish(t, NULL, 0)); /* held by the only worker */
    gate_await_waiters(&h.gate, 1);
    ck_assert_ok(bus_publish(t, NULL, 0)); /* fills the ring */
    ck_assert_uint_eq(blocked_count(t), 0);
    /* Other policies never wait, so never count. */
    ck_assert_ok(bus_publish(fail, NULL, 0));
    ck_assert_ok(bus_publish(fail, NULL, 0));
    ck_assert_int_eq(bus_publish(fail, NULL, 0), -EAGAIN);
    struct blocked_publish p = {t, -1};
    pthread_t producer;
    pthread_create(&producer, NULL, publish_one, &p);
    uint64_t give_up = now_ns() + 10000 * (uint64_t)MS;
    while (blocked_count(t) == 0 && now_ns() < give_up)
        sched_yield();
    ck_assert_uint_eq(blocked_count(t), 1);
    gate_open(&h.gate);
    pthread_join(producer, NULL);
    ck_assert_ok(p.rc);
    ck_assert_ok(bus_flush(bus));
    ck_assert_uint_eq(blocked_count(t), 1);
    ck_assert_uint_eq(atomic_load(&h.handled.calls), 3);
    /* A publish that finds room does not count. */
    ck_assert_ok(bus_publish(t, NULL, 0));
    ck_assert_ok(bus_flush(bus));
    ck_assert_uint_eq(blocked_count(t), 1);
    ck_assert_uint_eq(blocked_count(fail), 0);
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

/* delivered counts handler calls: one event, three subscribers, 3. */
START_TEST(delivered_counts_handler_calls)
{
    bus_t *bus = new_bus(1);
    bus_topic_t *t = new_topic(bus, "fanout", 16, BUS_FULL_BLOCK, 0);
    struct counter c = {0};
    for (int i = 0; i < 3; i++)
        subscribe(t, count_only, &c);
    ck_assert_ok(bus_publish(t, NULL, 0));
    ck_assert_ok(bus_flush(bus));
    bus_topic_stats_t st = topic_stats(t);
    ck_assert_uint_eq(st.published, 1);
    ck_assert_uint_eq(st.delivered, 3);
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

static int try_flushes_from_handler(const bus_event_t *ev, void *ctx)
{
    (void)ev;
    bus_t *bus = ctx;
    if (bus_flush_timeout(bus, 0) != -EDEADLK || bus_flush_quiet(bus, 0) != -EDEADLK ||
        bus_shutdown_timeout(bus, 0) != -EDEADLK)
        return -1;
    return 0;
}

START_TEST(bounded_forms_refuse_handlers_and_null)
{
    ck_assert_int_eq(bus_flush_timeout(NULL, 0), -EINVAL);
    ck_assert_int_eq(bus_flush_quiet(NULL, 0), -EINVAL);
    ck_assert_int_eq(bus_shutdown_timeout(NULL, 0), -EINVAL);
    bus_t *bus = new_bus(1);
    bus_topic_t *t = new_topic(bus, "inside", 16, BUS_FULL_BLOCK, 0);
    subscribe(t, try_flushes_from_handler, bus);
    ck_assert_ok(bus_publish(t, NULL, 0));
    ck_assert_ok(bus_flush(bus));
    bus_topic_stats_t st = topic_stats(t);
    ck_assert_uint_eq(st.delivered, 1);
    ck_assert_uint_eq(st.handler_errors, 0);
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

static Suite *control_suite(void)
{
    Suite *s = suite_create("control");
    TCase *tc = tcase_create("control");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, flush_timeout_gives_up_then_succeeds);
    tcase_add_test(tc, huge_flush_timeout_means_forever);
    tcase_add_test(tc, huge_shutdown_timeout_means_forever);
    tcase_add_test(tc, quiet_flush_waits_for_what_handlers_publish);
    tcase_add_test(tc, timed_out_shutdown_stops_intake_and_can_be_finished);
    tcase_add_test(tc, destroy_finishes_a_timed_out_shutdown);
    tcase_add_test(tc, concurrent_shutdowns_return_once_shut_down);
    tcase_add_loop_test(tc, dead_letters_during_shutdown_are_all_accounted, 0, 2);
    tcase_add_test(tc, racing_timed_shutdowns_lose_nothing);
    tcase_add_test(tc, worker_threads_are_named_and_hooked);
    tcase_add_test(tc, timer_thread_is_named);
    tcase_add_test(tc, worker_cpus_pin_each_worker);
    tcase_add_test(tc, bad_worker_cpus_are_refused);
    tcase_add_test(tc, blocked_counts_publishes_that_waited_for_room);
    tcase_add_test(tc, delivered_counts_handler_calls);
    tcase_add_test(tc, bounded_forms_refuse_handlers_and_null);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(control_suite());
}
