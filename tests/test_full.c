/* test_full.c - what publish does when a topic's ring is full. */
#include "helpers.h"

enum { CAPACITY = 8 };

/* Holds the only worker in a handler, so the ring fills and stays full.
 * The first event is being handled (it still counts in depth). */
struct held {
    bus_t *bus;
    bus_topic_t *topic;
    struct gate gate;
    bus_sub_t *sub;
};

static void hold_worker_and_fill(struct held *h, int policy)
{
    h->bus = new_bus(1);
    h->topic = new_topic(h->bus, "full", CAPACITY, policy, 0);
    gate_init(&h->gate);
    ck_assert_ok(bus_subscribe(h->topic, wait_at_gate, &h->gate, &h->sub));
    for (uint32_t i = 0; i < CAPACITY; i++)
        ck_assert_ok(bus_publish(h->topic, &i, sizeof(i)));
    gate_await_waiters(&h->gate, 1);
}

START_TEST(capacity_is_exact)
{
    struct held h;
    hold_worker_and_fill(&h, BUS_FULL_FAIL);
    ck_assert_int_eq(bus_publish(h.topic, "x", 1), -EAGAIN);
    bus_topic_stats_t st = topic_stats(h.topic);
    ck_assert_uint_eq(st.depth, CAPACITY);
    ck_assert_uint_eq(st.high_water, CAPACITY);
    gate_open(&h.gate);
    ck_assert_ok(bus_destroy(h.bus));
}
END_TEST

START_TEST(fail_policy_returns_eagain_and_loses_nothing_accepted)
{
    struct held h;
    hold_worker_and_fill(&h, BUS_FULL_FAIL);
    for (int i = 0; i < 10; i++)
        ck_assert_int_eq(bus_publish(h.topic, "x", 1), -EAGAIN);
    gate_open(&h.gate);
    ck_assert_ok(bus_flush(h.bus));
    bus_topic_stats_t st = topic_stats(h.topic);
    ck_assert_uint_eq(st.published, CAPACITY);
    ck_assert_uint_eq(st.delivered, CAPACITY);
    ck_assert_uint_eq(st.dropped, 0);
    ck_assert_ok(bus_destroy(h.bus));
}
END_TEST

START_TEST(drop_policy_counts_drops)
{
    struct held h;
    hold_worker_and_fill(&h, BUS_FULL_DROP);
    for (int i = 0; i < 10; i++)
        ck_assert_ok(bus_publish(h.topic, "x", 1));
    gate_open(&h.gate);
    ck_assert_ok(bus_flush(h.bus));
    bus_topic_stats_t st = topic_stats(h.topic);
    ck_assert_uint_eq(st.published, CAPACITY);
    ck_assert_uint_eq(st.dropped, 10);
    ck_assert_uint_eq(st.delivered, CAPACITY);
    ck_assert_ok(bus_destroy(h.bus));
}
END_TEST

struct blocked_publisher {
    bus_topic_t *topic;
    atomic_int returned;
    int rc;
};

static void *publish_one(void *arg)
{
    struct blocked_publisher *b = arg;
    b->rc = bus_publish(b->topic, "y", 1);
    atomic_store(&b->returned, 1);
    return NULL;
}

/* Starts a thread that publishes one event onto @t (full: it waits). */
static pthread_t start_publisher(struct blocked_publisher *b, bus_topic_t *t)
{
    memset(b, 0, sizeof(*b));
    b->topic = t;
    pthread_t thread;
    pthread_create(&thread, NULL, publish_one, b);
    return thread;
}

START_TEST(block_policy_waits_for_room)
{
    struct held h;
    hold_worker_and_fill(&h, BUS_FULL_BLOCK);
    struct blocked_publisher b;
    pthread_t thread = start_publisher(&b, h.topic);
    sleep_ms(50);
    ck_assert_int_eq(atomic_load(&b.returned), 0); /* still waiting */
    gate_open(&h.gate);
    pthread_join(thread, NULL);
    ck_assert_ok(b.rc);
    ck_assert_ok(bus_flush(h.bus));
    bus_topic_stats_t st = topic_stats(h.topic);
    ck_assert_uint_eq(st.delivered, CAPACITY + 1);
    ck_assert_ok(bus_destroy(h.bus));
}
END_TEST

static void *shut_down_bus(void *bus)
{
    ck_assert_ok(bus_shutdown(bus));
    return NULL;
}

/* A producer blocked on a full topic is released by bus_shutdown. */
START_TEST(block_policy_gives_up_on_shutdown)
{
    struct held h;
    hold_worker_and_fill(&h, BUS_FULL_BLOCK);
    struct blocked_publisher b;
    pthread_t thread = start_publisher(&b, h.topic);
    sleep_ms(20);
    pthread_t stopper;
    pthread_create(&stopper, NULL, shut_down_bus, h.bus);
    pthread_join(thread, NULL);
    ck_assert_int_eq(b.rc, -ESHUTDOWN);
    gate_open(&h.gate);
    pthread_join(stopper, NULL);
    ck_assert_ok(bus_destroy(h.bus));
}
END_TEST

/* A handler publishing onto its own full topic, which only its worker drains,
 * closes a cycle: it gets -EDEADLK instead of hanging the bus. */
struct republisher {
    bus_topic_t *topic;
    atomic_int deadlk, other;
};

static int republish_burst(const bus_event_t *ev, void *ctx)
{
    struct republisher *r = ctx;
    if (ev->seq != 1)
        return 0;
    for (int i = 0; i < 4 * CAPACITY; i++) {
        int rc = bus_publish(r->topic, "z", 1);
        if (rc == -EDEADLK)
            atomic_fetch_add(&r->deadlk, 1);
        else if (rc != 0)
            atomic_fetch_add(&r->other, 1);
    }
    return 0;
}

START_TEST(publish_from_handler_onto_full_topic)
{
    bus_t *bus = new_bus(1);
    bus_topic_t *t = new_topic(bus, "loop", CAPACITY, BUS_FULL_BLOCK, 0);
    struct republisher r = {.topic = t};
    subscribe(t, republish_burst, &r);
    ck_assert_ok(bus_publish(t, "a", 1));
    ck_assert_ok(bus_flush(bus));
    /* The first event occupies a slot while handled: CAPACITY - 1 fit. */
    ck_assert_int_eq(atomic_load(&r.deadlk), 4 * CAPACITY - (CAPACITY - 1));
    ck_assert_int_eq(atomic_load(&r.other), 0);
    bus_topic_stats_t st = topic_stats(t);
    ck_assert_uint_eq(st.published, CAPACITY);
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("full");
    TCase *tc = tcase_create("full");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, capacity_is_exact);
    tcase_add_test(tc, fail_policy_returns_eagain_and_loses_nothing_accepted);
    tcase_add_test(tc, drop_policy_counts_drops);
    tcase_add_test(tc, block_policy_waits_for_room);
    tcase_add_test(tc, block_policy_gives_up_on_shutdown);
    tcase_add_test(tc, publish_from_handler_onto_full_topic);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
