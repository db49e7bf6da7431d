/* test_topics.c - topic lifecycle and introspection: finding topics by name,
 * the reserved `bus.` names, closing topics. */
#include <sched.h>

#include "helpers.h"

static bus_t *new_bus_batch(unsigned workers, uint32_t batch)
{
    bus_config_t cfg;
    bus_config_init(&cfg);
    cfg.workers = workers;
    cfg.batch = batch;
    bus_t *bus = NULL;
    ck_assert_ok(bus_create(&bus, &cfg));
    return bus;
}

/* A handler held at a gate on its first call, counting every call. */
struct held {
    struct gate gate;
    atomic_ulong calls;
};

static int hold_first(const bus_event_t *ev, void *ctx)
{
    (void)ev;
    struct held *h = ctx;
    if (atomic_fetch_add(&h->calls, 1) == 0)
        gate_pass(&h->gate);
    return 0;
}

START_TEST(open_null_cfg_returns_existing_topic_as_it_is)
{
    bus_t *bus = new_bus(1);
    bus_topic_t *made = new_topic(bus, "chat.room", 8, BUS_FULL_FAIL, BUS_TOPIC_PARALLEL);
    bus_topic_t *found = NULL;
    ck_assert_ok(bus_topic_open(bus, "chat.room", NULL, &found));
    ck_assert_ptr_eq(found, made);
    /* An explicit, different configuration is still refused. */
    bus_topic_config_t other;
    bus_topic_config_init(&other);
    ck_assert_int_eq(bus_topic_open(bus, "chat.room", &other, &found), -EEXIST);
    /* The same configuration, spelled out, finds it too. */
    bus_topic_config_t same;
    bus_topic_config_init(&same);
    same.capacity = 8;
    same.full_policy = BUS_FULL_FAIL;
    same.flags = BUS_TOPIC_PARALLEL;
    found = NULL;
    ck_assert_ok(bus_topic_open(bus, "chat.room", &same, &found));
    ck_assert_ptr_eq(found, made);
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

START_TEST(dead_letter_topic_found_by_name)
{
    bus_t *bus = new_bus(1);
    bus_topic_config_t cfg;
    bus_topic_config_init(&cfg);
    cfg.capacity = 16;
    cfg.max_payload = 512;
    bus_topic_t *dlq, *found = NULL;
    ck_assert_ok(bus_dead_letter_topic(bus, &cfg, &dlq));
    ck_assert_ok(bus_topic_open(bus, "bus.dead_letter", NULL, &found));
    ck_assert_ptr_eq(found, dlq);
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

START_TEST(find_never_creates)
{
    bus_t *bus = new_bus(1);
    bus_topic_t *found = NULL;
    ck_assert_int_eq(bus_topic_find(bus, "a.b", &found), -ENOENT);
    ck_assert_ptr_null(found);
    /* Still absent: the lookup made nothing. */
    ck_assert_int_eq(bus_topic_find(bus, "a.b", &found), -ENOENT);
    bus_topic_t *made = new_topic(bus, "a.b", 16, BUS_FULL_BLOCK, 0);
    ck_assert_ok(bus_topic_find(bus, "a.b", &found));
    ck_assert_ptr_eq(found, made);
    ck_assert_int_eq(bus_topic_find(bus, "a.*", &found), -EINVAL);
    ck_assert_int_eq(bus_topic_find(NULL, "a.b", &found), -EINVAL);
    ck_assert_int_eq(bus_topic_find(bus, NULL, &found), -EINVAL);
    ck_assert_int_eq(bus_topic_find(bus, "a.b", NULL), -EINVAL);
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

static int count_calls(const bus_event_t *ev, void *ctx)
{
    (void)ev;
    atomic_fetch_add((atomic_ulong *)ctx, 1);
    return 0;
}

static int fail_always(const bus_event_t *ev, void *ctx)
{
    (void)ev;
    (void)ctx;
    return -EIO;
}

/* Wildcards do not reach the bus's own topics unless they name `bus`. */
START_TEST(wildcards_skip_reserved_bus_topics)
{
    bus_t *bus = new_bus(2);
    atomic_ulong all = 0, star = 0, own = 0, own_star = 0;
    bus_sub_t *s1, *s2, *s3, *s4;
    ck_assert_ok(bus_subscribe_pattern(bus, ">", count_calls, &all, NULL, &s1));
    ck_assert_ok(bus_subscribe_pattern(bus, "*.dead_letter", count_calls, &star, NULL, &s2));
    ck_assert_ok(bus_subscribe_pattern(bus, "bus.>", count_calls, &own, NULL, &s3));
    bus_topic_t *dlq;
    ck_assert_ok(bus_dead_letter_topic(bus, NULL, &dlq));
    /* Subscribed after the topic exists: matched against it at once. */
    ck_assert_ok(bus_subscribe_pattern(bus, "bus.*", count_calls, &own_star, NULL, &s4));
    bus_topic_t *work, *user;
    ck_assert_ok(bus_topic_open(bus, "work", NULL, &work));
    /* A user topic whose name merely ends like the bus's own. */
    ck_assert_ok(bus_topic_open(bus, "app.dead_letter", NULL, &user));
    subscribe(work, fail_always, NULL);
    ck_assert_ok(bus_publish(work, "x", 1));
    ck_assert_ok(bus_flush(bus)); /* the handler ran and routed a letter */
    ck_assert_ok(bus_flush(bus)); /* the letter was dispatched */
    ck_assert_ok(bus_publish(user, "y", 1));
    ck_assert_ok(bus_flush(bus));
    ck_assert_uint_eq(atomic_load(&own), 1);      /* the dead letter */
    ck_assert_uint_eq(atomic_load(&own_star), 1); /* the dead letter */
    ck_assert_uint_eq(atomic_load(&all), 2);      /* work + app.dead_letter */
    ck_assert_uint_eq(atomic_load(&star), 1);     /* app.dead_letter only */
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

/* 100 events on a fresh topic whose first handler call is held, so 99 wait
 * in the ring; a close in @mode starts, producers race it until refused,
 * then the handler is let go. Returns the close's result in *@c and the
 * handler calls in *@calls; the return value counts the racing publishes
 * that were accepted. */
static uint64_t close_with_queued_events(int mode, struct topic_closer *c, unsigned long *calls)
{
    bus_t *bus = new_bus_batch(1, 1);
    bus_topic_t *t = new_topic(bus, "inbox.1", 256, BUS_FULL_FAIL, 0);
    struct held h = {.calls = 0};
    gate_init(&h.gate);
    subscribe(t, hold_first, &h);
    for (int i = 0; i < 100; i++)
        ck_assert_ok(bus_publish(t, "x", 1));
    gate_await_waiters(&h.gate, 1); /* event 1 is being handled, 99 queued */
    close_in_thread(c, t, mode);
    uint64_t late = publish_until_closed(t);
    gate_open(&h.gate);
    ck_assert_int_eq(pthread_join(c->thread, NULL), 0);
    ck_assert_ok(c->rc);
    *calls = atomic_load(&h.calls);
    ck_assert_ok(bus_destroy(bus));
    return late;
}

/* Queued events are handled before a draining close returns. */
START_TEST(close_drain_delivers_queued_events)
{
    struct topic_closer c;
    unsigned long calls;
    uint64_t late = close_with_queued_events(BUS_CLOSE_DRAIN, &c, &calls);
    ck_assert_uint_eq(calls, 100 + late);
    ck_assert_uint_eq(c.final.published, 100 + late);
    ck_assert_uint_eq(c.final.delivered, 100 + late);
    ck_assert_uint_eq(c.final.dropped, 0);
    ck_assert_uint_eq(c.final.depth, 0);
}
END_TEST

/* A dropping close discards what is queued, counts it, calls no handler. */
START_TEST(close_drop_counts_queued_events_as_dropped)
{
    struct topic_closer c;
    unsigned long calls;
    uint64_t late = close_with_queued_events(BUS_CLOSE_DROP, &c, &calls);
    /* Batches of 1: only the held event reached the handler. */
    ck_assert_uint_eq(calls, 1);
    ck_assert_uint_eq(c.final.published, 100 + late);
    ck_assert_uint_eq(c.final.delivered, 1);
    ck_assert_uint_eq(c.final.dropped, 99 + late);
}
END_TEST

static void note_ack(const bus_completion_t *c, void *arg)
{
    if (c->status == -EPIPE)
        atomic_fetch_add((atomic_ulong *)arg, 1);
}

/* Acknowledged publishes among the dropped events still complete. */
START_TEST(close_drop_completes_acknowledged_events)
{
    bus_t *bus = new_bus_batch(1, 1);
    bus_topic_t *t = new_topic(bus, "acks", 64, BUS_FULL_FAIL, 0);
    struct held h = {.calls = 0};
    gate_init(&h.gate);
    subscribe(t, hold_first, &h);
    atomic_ulong epipe = 0;
    bus_publish_options_t opts;
    bus_publish_options_init(&opts);
    opts.on_complete = note_ack;
    opts.arg = &epipe;
    for (int i = 0; i < 10; i++)
        ck_assert_ok(bus_publish_ex(t, "x", 1, &opts));
    gate_await_waiters(&h.gate, 1);
    struct topic_closer c;
    close_in_thread(&c, t, BUS_CLOSE_DROP);
    publish_until_closed(t); /* plain events: no completion */
    gate_open(&h.gate);
    ck_assert_int_eq(pthread_join(c.thread, NULL), 0);
    ck_assert_ok(c.rc);
    ck_assert_uint_eq(atomic_load(&epipe), 9);
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

/* The name is free at once; subscriptions on the closed topic are gone,
 * wildcard subscriptions live on for the other topics. */
START_TEST(close_frees_name_and_detaches_subscriptions)
{
    bus_t *bus = new_bus(2);
    atomic_ulong plain = 0, wild = 0;
    bus_sub_t *psub, *wsub;
    ck_assert_ok(bus_subscribe_pattern(bus, "user.*", count_calls, &wild, NULL, &wsub));
    bus_topic_t *a = new_topic(bus, "user.a", 16, BUS_FULL_BLOCK, 0);
    bus_topic_t *b = new_topic(bus, "user.b", 16, BUS_FULL_BLOCK, 0);
    ck_assert_ok(bus_subscribe(a, count_calls, &plain, &psub));
    ck_assert_ok(bus_publish(a, "x", 1));
    ck_assert_ok(bus_topic_close(a, BUS_CLOSE_DRAIN, NULL));
    ck_assert_uint_eq(atomic_load(&plain), 1);
    ck_assert_uint_eq(atomic_load(&wild), 1);
    bus_topic_t *found;
    ck_assert_int_eq(bus_topic_find(bus, "user.a", &found), -ENOENT);
    /* A new topic under the old name, with another configuration. */
    bus_topic_t *again = new_topic(bus, "user.a", 8, BUS_FULL_FAIL, BUS_TOPIC_PARALLEL);
    ck_assert_ok(bus_topic_find(bus, "user.a", &found));
    ck_assert_ptr_eq(found, again);
    ck_assert_ok(bus_publish(again, "y", 1));
    ck_assert_ok(bus_publish(b, "z", 1));
    ck_assert_ok(bus_flush(bus));
    ck_assert_uint_eq(atomic_load(&plain), 1); /* the closed topic's sub is gone */
    ck_assert_uint_eq(atomic_load(&wild), 3);  /* the new user.a and user.b */
    bus_sub_stats_t ss = sub_stats(wsub);
    ck_assert_uint_eq(ss.delivered, 2); /* sums over the topics it is on now */
    ck_assert_ok(bus_unsubscribe(wsub));
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

struct blocked_producer {
    bus_topic_t *topic;
    atomic_int rc;
    atomic_ulong accepted;
};

/* Holds the topics during each publish: it races with the close, asleep on
 * the full ring. */
static void *publish_until_error(void *arg)
{
    struct blocked_producer *p = arg;
    int rc;
    do {
        bus_hold_begin();
        rc = bus_publish(p->topic, "b", 1);
        bus_hold_end();
        if (rc == 0)
            atomic_fetch_add(&p->accepted, 1);
    } while (rc == 0);
    atomic_store(&p->rc, rc);
    return NULL;
}

/* A producer asleep on the full ring of a closing topic fails with -EPIPE. */
START_TEST(close_wakes_blocked_producer_with_epipe)
{
    bus_t *bus = new_bus_batch(1, 1);
    bus_topic_t *t = new_topic(bus, "full", 2, BUS_FULL_BLOCK, 0);
    struct held h = {.calls = 0};
    gate_init(&h.gate);
    subscribe(t, hold_first, &h);
    struct blocked_producer p = {.topic = t, .rc = 1, .accepted = 0};
    pthread_t producer;
    ck_assert_int_eq(pthread_create(&producer, NULL, publish_until_error, &p), 0);
    gate_await_waiters(&h.gate, 1);
    struct topic_closer c;
    close_in_thread(&c, t, BUS_CLOSE_DROP);
    /* The producer returns while the handler is still held: the close woke
     * it, not room in the ring. */
    ck_assert_int_eq(pthread_join(producer, NULL), 0);
    ck_assert_int_eq(atomic_load(&p.rc), -EPIPE);
    gate_open(&h.gate);
    ck_assert_int_eq(pthread_join(c.thread, NULL), 0);
    ck_assert_ok(c.rc);
    ck_assert_uint_eq(c.final.published, atomic_load(&p.accepted));
    ck_assert_uint_eq(c.final.delivered + c.final.dropped, atomic_load(&p.accepted));
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

static int try_close(const bus_event_t *ev, void *ctx)
{
    *(int *)ctx = bus_topic_close(ev->topic, BUS_CLOSE_DROP, NULL);
    return 0;
}

START_TEST(close_errors)
{
    bus_t *bus = new_bus(1);
    bus_topic_t *t = new_topic(bus, "e", 8, BUS_FULL_FAIL, 0);
    ck_assert_int_eq(bus_topic_close(NULL, BUS_CLOSE_DRAIN, NULL), -EINVAL);
    ck_assert_int_eq(bus_topic_close(t, 7, NULL), -EINVAL);
    int from_handler = 1;
    subscribe(t, try_close, &from_handler);
    ck_assert_ok(bus_publish(t, "x", 1));
    ck_assert_ok(bus_flush(bus));
    ck_assert_int_eq(from_handler, -EDEADLK);
    ck_assert_ok(bus_publish(t, "x", 1)); /* still open */
    ck_assert_str_ne(bus_strerror(-EPIPE), bus_strerror(-9999));
    ck_assert_ok(bus_shutdown(bus));
    ck_assert_int_eq(bus_topic_close(t, BUS_CLOSE_DRAIN, NULL), -ESHUTDOWN);
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

/* Keyed topics close with their lanes; parallel ones while several workers
 * dispatch them. */
START_TEST(close_keyed_and_parallel_topics)
{
    bus_t *bus = new_bus(2);
    bus_topic_t *k = new_topic(bus, "k", 64, BUS_FULL_BLOCK, BUS_TOPIC_KEYED);
    bus_topic_t *p = new_topic(bus, "p", 64, BUS_FULL_BLOCK, BUS_TOPIC_PARALLEL);
    atomic_ulong kc = 0, pc = 0;
    bus_sub_t *ks, *ps;
    ck_assert_ok(bus_subscribe(k, count_calls, &kc, &ks));
    ck_assert_ok(bus_subscribe(p, count_calls, &pc, &ps));
    for (uint64_t i = 0; i < 1000; i++) {
        ck_assert_ok(bus_publish_keyed(k, i, "x", 1));
        ck_assert_ok(bus_publish(p, "x", 1));
    }
    bus_topic_stats_t kf, pf;
    ck_assert_ok(bus_topic_close(k, BUS_CLOSE_DRAIN, &kf));
    ck_assert_ok(bus_topic_close(p, BUS_CLOSE_DROP, &pf));
    ck_assert_uint_eq(atomic_load(&kc), 1000);
    ck_assert_uint_eq(kf.published, 1000);
    ck_assert_uint_eq(kf.delivered, 1000);
    ck_assert_uint_eq(pf.published, 1000);
    ck_assert_uint_eq(pf.delivered + pf.dropped, 1000);
    ck_assert_uint_eq(atomic_load(&pc), pf.delivered);
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

/* Closing the dead-letter topic stops routing; it can be opened again. */
START_TEST(close_dead_letter_topic_stops_routing)
{
    bus_t *bus = new_bus(1);
    bus_topic_t *dlq, *t = new_topic(bus, "w", 16, BUS_FULL_BLOCK, 0);
    bus_sub_t *failing, *dsub;
    ck_assert_ok(bus_subscribe(t, fail_always, NULL, &failing));
    ck_assert_ok(bus_dead_letter_topic(bus, NULL, &dlq));
    ck_assert_ok(bus_publish(t, "x", 1));
    ck_assert_ok(bus_flush(bus));
    bus_topic_stats_t st;
    ck_assert_ok(bus_topic_close(dlq, BUS_CLOSE_DRAIN, &st));
    ck_assert_uint_eq(st.published, 1);
    ck_assert_ok(bus_publish(t, "x", 1)); /* fails again: routed nowhere */
    ck_assert_ok(bus_flush(bus));
    ck_assert_ok(bus_dead_letter_topic(bus, NULL, &dlq));
    atomic_ulong letters = 0;
    ck_assert_ok(bus_subscribe(dlq, count_calls, &letters, &dsub));
    ck_assert_ok(bus_publish(t, "x", 1));
    ck_assert_ok(bus_flush(bus));
    ck_assert_ok(bus_flush(bus));
    ck_assert_uint_eq(atomic_load(&letters), 1);
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

/* Handlers that forward onto a full BUS_FULL_BLOCK topic wait inside the
 * handler (helping, or waiting for the worker that holds it: issue 10's
 * back-pressure); closing that topic wakes them with -EPIPE, and the close
 * completes once its stuck handler returns. Both the ordered and the
 * parallel scheduling of the full topic. */
struct forwarder {
    bus_topic_t *to;
    atomic_ulong ok, epipe, other;
};

static int forward(const bus_event_t *ev, void *ctx)
{
    struct forwarder *f = ctx;
    int rc = bus_publish(f->to, ev->data, ev->size);
    atomic_fetch_add(rc == 0 ? &f->ok : rc == -EPIPE ? &f->epipe : &f->other, 1);
    return 0;
}

static void close_under_forwarders(unsigned flags)
{
    bus_t *bus = new_bus(2);
    bus_topic_t *src = new_topic(bus, "fwd.src", 64, BUS_FULL_BLOCK, 0);
    bus_topic_t *dst = new_topic(bus, "fwd.dst", 4, BUS_FULL_BLOCK, flags);
    struct held h = {.calls = 0};
    gate_init(&h.gate);
    struct forwarder f = {.to = dst};
    bus_sub_t *s1, *s2;
    ck_assert_ok(bus_subscribe(dst, hold_first, &h, &s1));
    ck_assert_ok(bus_subscribe(src, forward, &f, &s2));
    for (int i = 0; i < 32; i++)
        ck_assert_ok(bus_publish(src, "e", 1));
    gate_await_waiters(&h.gate, 1); /* dst's first handler call is stuck */
    /* Let the forwarders fill dst and start waiting on it. */
    bus_topic_stats_t st;
    do {
        ck_assert_ok(bus_topic_stats(dst, &st));
    } while (st.blocked == 0 && sched_yield() == 0);
    struct topic_closer c;
    close_in_thread(&c, dst, BUS_CLOSE_DROP);
    sleep_ms(20); /* the close has sealed the ring and waits for the drain */
    gate_open(&h.gate);
    ck_assert_int_eq(pthread_join(c.thread, NULL), 0);
    ck_assert_ok(c.rc);
    ck_assert_ok(bus_flush(bus));
    ck_assert_uint_eq(atomic_load(&f.other), 0);
    ck_assert_uint_gt(atomic_load(&f.epipe), 0);
    ck_assert_uint_eq(atomic_load(&f.ok) + atomic_load(&f.epipe), 32);
    /* Every accepted forward was handled or dropped by the close. */
    ck_assert_uint_eq(c.final.published, atomic_load(&f.ok));
    ck_assert_uint_eq(atomic_load(&h.calls) + c.final.dropped, c.final.published);
    ck_assert_ok(bus_destroy(bus));
}

START_TEST(close_wakes_handlers_waiting_to_forward)
{
    close_under_forwarders(0);
    close_under_forwarders(BUS_TOPIC_PARALLEL);
}
END_TEST

/* A thread that keeps asking for the dead-letter topic (NULL: as it is)
 * while the test thread keeps closing it. An ask that raced with a close
 * must not make the closed topic the dead-letter topic again: the workers
 * routing letters to it would write into freed memory (ASan). */
struct asker {
    bus_t *bus;
    atomic_bool stop;
    unsigned long ok, epipe, other;
};

static void *ask_for_dead_letters(void *arg)
{
    struct asker *a = arg;
    while (!atomic_load(&a->stop)) {
        bus_topic_t *dlq;
        int rc = bus_dead_letter_topic(a->bus, NULL, &dlq);
        if (rc == 0)
            a->ok++;
        else if (rc == -EPIPE)
            a->epipe++;
        else
            a->other++;
    }
    return NULL;
}

START_TEST(dead_letter_topic_asked_for_while_it_closes)
{
    bus_t *bus = new_bus(2);
    bus_topic_t *t = new_topic(bus, "w", 1024, BUS_FULL_BLOCK, 0);
    subscribe(t, fail_always, NULL);
    struct asker a = {.bus = bus};
    pthread_t thread;
    ck_assert_int_eq(pthread_create(&thread, NULL, ask_for_dead_letters, &a), 0);
    for (int i = 0; i < 300; i++) {
        bus_topic_t *dlq;
        int rc = bus_dead_letter_topic(bus, NULL, &dlq);
        ck_assert_msg(rc == 0 || rc == -EPIPE, "%s", bus_strerror(rc));
        for (int k = 0; k < 8; k++)
            ck_assert_ok(bus_publish(t, "x", 1)); /* each one a dead letter */
        rc = bus_topic_close(dlq, i % 2 ? BUS_CLOSE_DROP : BUS_CLOSE_DRAIN, NULL);
        ck_assert_msg(rc == 0 || rc == -EPIPE, "%s", bus_strerror(rc));
    }
    atomic_store(&a.stop, true);
    pthread_join(thread, NULL);
    ck_assert_uint_eq(a.other, 0);
    ck_assert_uint_gt(a.ok, 0);
    ck_assert_ok(bus_flush(bus));
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

struct listing {
    int seen;
    bool saw_a, saw_dlq;
    uint64_t a_published;
    bus_topic_subs_t a_subs;
    unsigned a_capacity;
};

static int list_topic(const bus_topic_info_t *info, void *ctx)
{
    struct listing *l = ctx;
    l->seen++;
    if (strcmp(info->name, "svc.a") == 0) {
        l->saw_a = true;
        l->a_published = info->stats.published;
        l->a_subs = info->subs;
        l->a_capacity = info->cfg.capacity;
    }
    l->saw_dlq |= strcmp(info->name, "bus.dead_letter") == 0;
    return 0;
}

static int stop_at_first(const bus_topic_info_t *info, void *ctx)
{
    (void)info;
    ++*(int *)ctx;
    return 42;
}

/* A listing's callback may not close a topic: two listings closing each
 * other's visited topic would wait for each other's pin forever. */
static int close_other(const bus_topic_info_t *info, void *ctx)
{
    bus_topic_t *other = ctx;
    if (info->topic != other)
        ck_assert_int_eq(bus_topic_close(other, BUS_CLOSE_DROP, NULL), -EDEADLK);
    return 0;
}

START_TEST(foreach_callback_cannot_close)
{
    bus_t *bus = new_bus(1);
    new_topic(bus, "visit.x", 8, BUS_FULL_BLOCK, 0);
    bus_topic_t *y = new_topic(bus, "visit.y", 8, BUS_FULL_BLOCK, 0);
    ck_assert_ok(bus_topics_foreach(bus, close_other, y));
    ck_assert_ok(bus_topic_close(y, BUS_CLOSE_DROP, NULL)); /* afterwards: fine */
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

START_TEST(foreach_lists_open_topics_with_config_stats_and_subs)
{
    bus_t *bus = new_bus(1);
    bus_topic_t *a = new_topic(bus, "svc.a", 32, BUS_FULL_BLOCK, 0);
    bus_topic_t *b = new_topic(bus, "svc.b", 16, BUS_FULL_BLOCK, BUS_TOPIC_KEYED);
    bus_topic_t *gone = new_topic(bus, "svc.gone", 16, BUS_FULL_BLOCK, 0);
    bus_topic_t *dlq;
    ck_assert_ok(bus_dead_letter_topic(bus, NULL, &dlq));
    ck_assert_ok(bus_topic_close(gone, BUS_CLOSE_DRAIN, NULL));
    atomic_ulong n = 0;
    bus_sub_t *s1, *s2, *s3, *s4;
    bus_sub_options_t g;
    bus_sub_options_init(&g);
    g.group = "workers";
    ck_assert_ok(bus_subscribe(a, count_calls, &n, &s1));
    ck_assert_ok(bus_subscribe_ex(a, count_calls, &n, &g, &s2));
    ck_assert_ok(bus_subscribe_ex(a, count_calls, &n, &g, &s3));
    ck_assert_ok(bus_subscribe_pattern(bus, "svc.*", count_calls, &n, NULL, &s4));
    for (int i = 0; i < 5; i++)
        ck_assert_ok(bus_publish(a, "x", 1));
    ck_assert_ok(bus_flush(bus));
    struct listing l = {0};
    ck_assert_ok(bus_topics_foreach(bus, list_topic, &l));
    ck_assert_int_eq(l.seen, 3); /* svc.a, svc.b (lanes hidden), bus.dead_letter */
    ck_assert(l.saw_a && l.saw_dlq);
    ck_assert_uint_eq(l.a_capacity, 32);
    ck_assert_uint_eq(l.a_published, 5);
    ck_assert_uint_eq(l.a_subs.plain, 2);   /* s1 and the pattern's child */
    ck_assert_uint_eq(l.a_subs.grouped, 2); /* s2, s3 */
    ck_assert_uint_eq(l.a_subs.groups, 1);
    ck_assert_uint_eq(l.a_subs.from_patterns, 1);
    bus_topic_subs_t bs;
    ck_assert_ok(bus_topic_subs(b, &bs));
    ck_assert_uint_eq(bs.plain, 1); /* the pattern's child */
    ck_assert_uint_eq(bs.from_patterns, 1);
    ck_assert_ok(bus_unsubscribe(s2));
    ck_assert_ok(bus_topic_subs(a, &bs));
    ck_assert_uint_eq(bs.grouped, 1);
    int calls = 0;
    ck_assert_int_eq(bus_topics_foreach(bus, stop_at_first, &calls), 42);
    ck_assert_int_eq(calls, 1);
    ck_assert_int_eq(bus_topics_foreach(bus, NULL, NULL), -EINVAL);
    ck_assert_int_eq(bus_topic_subs(NULL, &bs), -EINVAL);
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

START_TEST(matching_counts_who_would_receive_a_name)
{
    bus_t *bus = new_bus(1);
    bus_topic_t *t = new_topic(bus, "orders.eu.created", 16, BUS_FULL_BLOCK, 0);
    atomic_ulong n = 0;
    bus_sub_t *s1, *s2, *s3, *s4, *s5;
    ck_assert_ok(bus_subscribe(t, count_calls, &n, &s1));
    ck_assert_ok(bus_subscribe_pattern(bus, "orders.*.created", count_calls, &n, NULL, &s2));
    ck_assert_ok(bus_subscribe_pattern(bus, "orders.>", count_calls, &n, NULL, &s3));
    ck_assert_ok(bus_subscribe_pattern(bus, "payments.>", count_calls, &n, NULL, &s4));
    ck_assert_ok(bus_subscribe_pattern(bus, ">", count_calls, &n, NULL, &s5));
    bus_match_t m;
    ck_assert_ok(bus_subscriptions_matching(bus, "orders.eu.created", &m));
    ck_assert(m.topic_exists);
    ck_assert_uint_eq(m.direct, 1);
    ck_assert_uint_eq(m.patterns, 3); /* orders.*.created, orders.>, > */
    /* A name nobody opened yet: the patterns that would attach. */
    ck_assert_ok(bus_subscriptions_matching(bus, "orders.us.shipped", &m));
    ck_assert(!m.topic_exists);
    ck_assert_uint_eq(m.direct, 0);
    ck_assert_uint_eq(m.patterns, 2); /* orders.>, > */
    /* Reserved names: `>` does not count. */
    ck_assert_ok(bus_subscriptions_matching(bus, "bus.dead_letter", &m));
    ck_assert_uint_eq(m.patterns, 0);
    ck_assert_ok(bus_unsubscribe(s3));
    ck_assert_ok(bus_subscriptions_matching(bus, "orders.eu.created", &m));
    ck_assert_uint_eq(m.patterns, 2);
    ck_assert_int_eq(bus_subscriptions_matching(bus, "orders.*", &m), -EINVAL);
    ck_assert_int_eq(bus_subscriptions_matching(bus, NULL, &m), -EINVAL);
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

struct shutter {
    pthread_t thread;
    bus_t *bus;
    uint64_t timeout_ns;
    atomic_int rc;
};

static void *shutdown_main(void *arg)
{
    struct shutter *s = arg;
    atomic_store(&s->rc, bus_shutdown_timeout(s->bus, s->timeout_ns));
    return NULL;
}

/* bus_shutdown_timeout()'s deadline bounds its wait for a close in progress
 * too (a close waits for its topic's handlers), and on -ETIMEDOUT intake is
 * stopped as documented: the user's topics are sealed. */
START_TEST(shutdown_timeout_bounds_wait_for_close_in_progress)
{
    bus_t *bus = new_bus(1);
    bus_topic_t *t = new_topic(bus, "slow", 8, BUS_FULL_FAIL, 0);
    bus_topic_t *other = new_topic(bus, "other", 8, BUS_FULL_FAIL, 0);
    struct held h = {.calls = 0};
    gate_init(&h.gate);
    subscribe(t, hold_first, &h);
    ck_assert_ok(bus_publish(t, "x", 1));
    gate_await_waiters(&h.gate, 1); /* the close's drain waits for this call */
    struct topic_closer c;
    close_in_thread(&c, t, BUS_CLOSE_DRAIN);
    publish_until_closed(t); /* the close has started */
    struct shutter s = {.bus = bus, .timeout_ns = 20 * 1000 * 1000, .rc = 1};
    ck_assert_int_eq(pthread_create(&s.thread, NULL, shutdown_main, &s), 0);
    /* A bound for the test only: without the deadline the shutdown waits
     * for the gate, which opens after this. */
    for (int i = 0; i < 5000 && atomic_load(&s.rc) == 1; i++)
        sleep_ms(1);
    int timed_out = atomic_load(&s.rc);
    int publish_rc = bus_publish(other, "x", 1);
    gate_open(&h.gate);
    ck_assert_int_eq(pthread_join(c.thread, NULL), 0);
    ck_assert_int_eq(pthread_join(s.thread, NULL), 0);
    ck_assert_int_eq(timed_out, -ETIMEDOUT);
    ck_assert_int_eq(publish_rc, -ESHUTDOWN);
    ck_assert_ok(c.rc);
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("topics");
    TCase *tc = tcase_create("topics");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, open_null_cfg_returns_existing_topic_as_it_is);
    tcase_add_test(tc, dead_letter_topic_found_by_name);
    tcase_add_test(tc, find_never_creates);
    tcase_add_test(tc, wildcards_skip_reserved_bus_topics);
    tcase_add_test(tc, close_drain_delivers_queued_events);
    tcase_add_test(tc, close_drop_counts_queued_events_as_dropped);
    tcase_add_test(tc, close_drop_completes_acknowledged_events);
    tcase_add_test(tc, close_frees_name_and_detaches_subscriptions);
    tcase_add_test(tc, close_wakes_blocked_producer_with_epipe);
    tcase_add_test(tc, close_errors);
    tcase_add_test(tc, close_keyed_and_parallel_topics);
    tcase_add_test(tc, close_dead_letter_topic_stops_routing);
    tcase_add_test(tc, close_wakes_handlers_waiting_to_forward);
    tcase_add_test(tc, dead_letter_topic_asked_for_while_it_closes);
    tcase_add_test(tc, foreach_lists_open_topics_with_config_stats_and_subs);
    tcase_add_test(tc, foreach_callback_cannot_close);
    tcase_add_test(tc, matching_counts_who_would_receive_a_name);
    tcase_add_test(tc, shutdown_timeout_bounds_wait_for_close_in_progress);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
