/* test_subs.c - subscriptions change while events flow. */
#include "helpers.h"

/* A ctx that fails loudly (canary) if used after it was poisoned. */
struct guarded {
    uint64_t canary;
    atomic_ulong calls;
    atomic_ulong late; /* calls that saw a poisoned canary */
};

enum { CANARY = 0xC0FFEEu, POISON = 0xDEADu };

static int guarded_handler(const bus_event_t *ev, void *ctx)
{
    (void)ev;
    struct guarded *g = ctx;
    if (g->canary != CANARY)
        atomic_fetch_add(&g->late, 1);
    atomic_fetch_add(&g->calls, 1);
    return 0;
}

struct publisher {
    bus_topic_t *topic;
    atomic_bool stop;
    atomic_ulong published;
};

static void *publish_until_stopped(void *arg)
{
    struct publisher *p = arg;
    uint32_t i = 0;
    while (!atomic_load(&p->stop)) {
        if (bus_publish(p->topic, &i, sizeof(i)) == 0)
            atomic_fetch_add(&p->published, 1);
        i++;
    }
    return NULL;
}

/* After bus_unsubscribe returns, the ctx may be freed: ASan reports any late
 * call as a use after free, the canary catches it without ASan. */
START_TEST(unsubscribe_while_publishing_then_free_ctx)
{
    bus_t *bus = new_bus(2);
    bus_topic_t *t = new_topic(bus, "busy", 256, BUS_FULL_BLOCK, BUS_TOPIC_PARALLEL);
    struct publisher p = {.topic = t};
    pthread_t thread;
    pthread_create(&thread, NULL, publish_until_stopped, &p);
    for (int round = 0; round < 50; round++) {
        struct guarded *g = malloc(sizeof(*g));
        g->canary = CANARY;
        atomic_init(&g->calls, 0);
        atomic_init(&g->late, 0);
        bus_sub_t *sub = subscribe(t, guarded_handler, g);
        while (atomic_load(&g->calls) < 10)
            sched_yield();
        ck_assert_ok(bus_unsubscribe(sub));
        unsigned long calls = atomic_load(&g->calls);
        ck_assert_uint_eq(atomic_load(&g->late), 0);
        g->canary = POISON;
        sleep_ms(1);
        ck_assert_uint_eq(atomic_load(&g->calls), calls); /* never called again */
        free(g);
    }
    atomic_store(&p.stop, true);
    pthread_join(thread, NULL);
    ck_assert_uint_gt(atomic_load(&p.published), 0);
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

/* A handler that unsubscribes itself on its 5th call is never called again. */
struct self_remover {
    bus_sub_t *sub;
    atomic_ulong calls;
    int rc;
};

static int remove_self_on_fifth(const bus_event_t *ev, void *ctx)
{
    (void)ev;
    struct self_remover *s = ctx;
    if (atomic_fetch_add(&s->calls, 1) + 1 == 5)
        s->rc = bus_unsubscribe(s->sub);
    return 0;
}

START_TEST(unsubscribe_self_from_handler)
{
    bus_t *bus = new_bus(2);
    bus_topic_t *t = new_topic(bus, "self", 64, BUS_FULL_BLOCK, 0);
    struct self_remover s = {.rc = -1};
    struct counter other = {0};
    bus_sub_t *keep;
    ck_assert_ok(bus_subscribe(t, remove_self_on_fifth, &s, &s.sub));
    ck_assert_ok(bus_subscribe(t, count_in_order, &other, &keep));
    for (uint32_t i = 0; i < 100; i++)
        ck_assert_ok(bus_publish(t, &i, sizeof(i)));
    ck_assert_ok(bus_flush(bus));
    ck_assert_int_eq(s.rc, 0);
    ck_assert_uint_eq(atomic_load(&s.calls), 5);
    ck_assert_uint_eq(atomic_load(&other.calls), 100); /* the other one goes on */
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

/* A handler on one topic unsubscribes a handler of another topic. */
struct remover {
    bus_sub_t *victim;
    atomic_int done;
};

static int remove_victim_once(const bus_event_t *ev, void *ctx)
{
    (void)ev;
    struct remover *r = ctx;
    if (atomic_exchange(&r->done, 1) == 0)
        ck_assert_ok(bus_unsubscribe(r->victim));
    return 0;
}

START_TEST(unsubscribe_other_from_handler)
{
    bus_t *bus = new_bus(2);
    bus_topic_t *control = new_topic(bus, "control", 8, BUS_FULL_BLOCK, 0);
    bus_topic_t *data = new_topic(bus, "data", 64, BUS_FULL_BLOCK, 0);
    struct counter victim = {0};
    struct remover r = {0};
    bus_sub_t *remover_sub;
    ck_assert_ok(bus_subscribe(data, count_in_order, &victim, &r.victim));
    ck_assert_ok(bus_subscribe(control, remove_victim_once, &r, &remover_sub));
    for (uint32_t i = 0; i < 10; i++)
        ck_assert_ok(bus_publish(data, &i, sizeof(i)));
    ck_assert_ok(bus_flush(bus));
    ck_assert_ok(bus_publish(control, NULL, 0));
    ck_assert_ok(bus_flush(bus));
    ck_assert_int_eq(atomic_load(&r.done), 1);
    for (uint32_t i = 0; i < 10; i++)
        ck_assert_ok(bus_publish(data, &i, sizeof(i)));
    ck_assert_ok(bus_flush(bus));
    ck_assert_uint_eq(atomic_load(&victim.calls), 10);
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

/* The async form returns at once and reports, once, when ctx may be freed. */
struct async_done {
    atomic_int calls;
    struct guarded *ctx;
};

static void on_unsubscribed(void *arg)
{
    struct async_done *d = arg;
    d->ctx->canary = POISON;
    atomic_fetch_add(&d->calls, 1);
}

START_TEST(unsubscribe_async_reports_completion)
{
    bus_t *bus = new_bus(2);
    bus_topic_t *t = new_topic(bus, "async", 256, BUS_FULL_BLOCK, 0);
    struct guarded g = {.canary = CANARY};
    struct async_done d = {.ctx = &g};
    bus_sub_t *sub = subscribe(t, guarded_handler, &g);
    struct publisher p = {.topic = t};
    pthread_t thread;
    pthread_create(&thread, NULL, publish_until_stopped, &p);
    while (atomic_load(&g.calls) < 100)
        sched_yield();
    ck_assert_ok(bus_unsubscribe_async(sub, on_unsubscribed, &d));
    while (atomic_load(&d.calls) == 0)
        sleep_ms(1);
    unsigned long calls = atomic_load(&g.calls);
    sleep_ms(5);
    atomic_store(&p.stop, true);
    pthread_join(thread, NULL);
    ck_assert_ok(bus_flush(bus));
    ck_assert_int_eq(atomic_load(&d.calls), 1);
    ck_assert_uint_eq(atomic_load(&g.calls), calls);
    ck_assert_uint_eq(atomic_load(&g.late), 0);
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

/* A pending completion runs before bus_destroy returns. */
START_TEST(destroy_runs_pending_completions)
{
    bus_t *bus = new_bus(1);
    bus_topic_t *t = new_topic(bus, "pending", 8, BUS_FULL_BLOCK, 0);
    struct guarded g = {.canary = CANARY};
    struct async_done d = {.ctx = &g};
    bus_sub_t *sub = subscribe(t, guarded_handler, &g);
    ck_assert_ok(bus_unsubscribe_async(sub, on_unsubscribed, &d));
    ck_assert_ok(bus_destroy(bus));
    ck_assert_int_eq(atomic_load(&d.calls), 1);
}
END_TEST

/* A subscription added while events flow gets every event from some point on,
 * in order, with no gap. */
START_TEST(subscribe_while_publishing)
{
    bus_t *bus = new_bus(2);
    bus_topic_t *t = new_topic(bus, "join", 256, BUS_FULL_BLOCK, 0);
    struct publisher p = {.topic = t};
    pthread_t thread;
    pthread_create(&thread, NULL, publish_until_stopped, &p);
    while (atomic_load(&p.published) < 1000)
        sched_yield();
    struct counter c = {0};
    subscribe(t, count_only, &c);
    sleep_ms(20);
    atomic_store(&p.stop, true);
    pthread_join(thread, NULL);
    ck_assert_ok(bus_flush(bus));
    bus_topic_stats_t st = topic_stats(t);
    ck_assert_uint_gt(atomic_load(&c.calls), 0);
    ck_assert_uint_eq(st.delivered, atomic_load(&c.calls));
    ck_assert_uint_lt(atomic_load(&c.calls), st.published);
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("subscriptions");
    TCase *tc = tcase_create("subscriptions");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, unsubscribe_while_publishing_then_free_ctx);
    tcase_add_test(tc, unsubscribe_self_from_handler);
    tcase_add_test(tc, unsubscribe_other_from_handler);
    tcase_add_test(tc, unsubscribe_async_reports_completion);
    tcase_add_test(tc, destroy_runs_pending_completions);
    tcase_add_test(tc, subscribe_while_publishing);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
