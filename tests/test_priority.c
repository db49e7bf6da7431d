/* test_priority.c - workers serve high-priority topics first, without
 * starving the others. */
#include "helpers.h"

struct flood {
    bus_topic_t *topic;
    atomic_bool stop;
};

static void *keep_full(void *arg)
{
    struct flood *f = arg;
    while (!atomic_load(&f->stop))
        bus_publish(f->topic, NULL, 0); /* BUS_FULL_BLOCK: waits while full */
    return NULL;
}

/* A handler slow enough (~20 us) that the worker, not the producers, is the
 * bottleneck: both rings stay full and the topics compete for turns. */
static int count_slowly(const bus_event_t *ev, void *ctx)
{
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    do
        clock_gettime(CLOCK_MONOTONIC, &now);
    while ((now.tv_sec - start.tv_sec) * 1000000000L + now.tv_nsec - start.tv_nsec < 20000);
    return count_only(ev, ctx);
}

START_TEST(high_first_low_not_starved)
{
    bus_t *bus = new_bus(1); /* one worker: the topics compete for it */
    bus_topic_t *high = new_topic(bus, "prio.high", 256, BUS_FULL_BLOCK, BUS_TOPIC_HIGH_PRIORITY);
    bus_topic_t *low = new_topic(bus, "prio.low", 256, BUS_FULL_BLOCK, BUS_TOPIC_LOW_PRIORITY);
    struct counter ch = {0}, cl = {0};
    bus_sub_t *sh, *sl;
    ck_assert_ok(bus_subscribe(high, count_slowly, &ch, &sh));
    ck_assert_ok(bus_subscribe(low, count_slowly, &cl, &sl));
    struct flood fh = {.topic = high}, fl = {.topic = low};
    pthread_t th, tl;
    pthread_create(&th, NULL, keep_full, &fh);
    pthread_create(&tl, NULL, keep_full, &fl);
    sleep_ms(300);
    unsigned long h = atomic_load(&ch.calls), l = atomic_load(&cl.calls);
    atomic_store(&fh.stop, true);
    atomic_store(&fl.stop, true);
    pthread_join(th, NULL);
    pthread_join(tl, NULL);
    ck_assert_msg(l > 0, "low starved: high %lu, low %lu", h, l);
    /* High gets three turns in four while both wait (low the fourth). */
    ck_assert_msg(h > 2 * l, "high %lu not served before low %lu", h, l);
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

/* Ready topics waiting behind a busy worker: the high one goes first. */
struct order {
    atomic_int next;
    int high_pos, normal_pos, low_pos;
};

static struct order order;

static int note_high(const bus_event_t *ev, void *ctx)
{
    (void)ev;
    (void)ctx;
    order.high_pos = atomic_fetch_add(&order.next, 1);
    return 0;
}

static int note_normal(const bus_event_t *ev, void *ctx)
{
    (void)ev;
    (void)ctx;
    order.normal_pos = atomic_fetch_add(&order.next, 1);
    return 0;
}

static int note_low(const bus_event_t *ev, void *ctx)
{
    (void)ev;
    (void)ctx;
    order.low_pos = atomic_fetch_add(&order.next, 1);
    return 0;
}

START_TEST(waiting_high_topic_goes_first)
{
    bus_t *bus = new_bus(1);
    bus_topic_t *hold = new_topic(bus, "hold", 8, BUS_FULL_BLOCK, 0);
    bus_topic_t *low = new_topic(bus, "l", 8, BUS_FULL_BLOCK, BUS_TOPIC_LOW_PRIORITY);
    bus_topic_t *normal = new_topic(bus, "n", 8, BUS_FULL_BLOCK, 0);
    bus_topic_t *high = new_topic(bus, "h", 8, BUS_FULL_BLOCK, BUS_TOPIC_HIGH_PRIORITY);
    struct gate gate;
    gate_init(&gate);
    bus_sub_t *s;
    ck_assert_ok(bus_subscribe(hold, wait_at_gate, &gate, &s));
    ck_assert_ok(bus_subscribe(low, note_low, NULL, &s));
    ck_assert_ok(bus_subscribe(normal, note_normal, NULL, &s));
    ck_assert_ok(bus_subscribe(high, note_high, NULL, &s));
    ck_assert_ok(bus_publish(hold, NULL, 0));
    gate_await_waiters(&gate, 1);
    ck_assert_ok(bus_publish(low, NULL, 0));
    ck_assert_ok(bus_publish(normal, NULL, 0));
    ck_assert_ok(bus_publish(high, NULL, 0));
    gate_open(&gate);
    ck_assert_ok(bus_flush(bus));
    /* The worker has popped once (hold): its next pops start at high. */
    ck_assert_int_eq(order.high_pos, 0);
    ck_assert_int_eq(order.normal_pos, 1);
    ck_assert_int_eq(order.low_pos, 2);
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

START_TEST(both_priorities_is_einval)
{
    bus_t *bus = new_bus(1);
    bus_topic_config_t cfg;
    bus_topic_config_init(&cfg);
    cfg.flags = BUS_TOPIC_HIGH_PRIORITY | BUS_TOPIC_LOW_PRIORITY;
    bus_topic_t *t;
    ck_assert_int_eq(bus_topic_open(bus, "both", &cfg, &t), -EINVAL);
    cfg.flags = BUS_TOPIC_HIGH_PRIORITY | BUS_TOPIC_PARALLEL;
    ck_assert_ok(bus_topic_open(bus, "fast", &cfg, &t));
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("priority");
    TCase *tc = tcase_create("priority");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, high_first_low_not_starved);
    tcase_add_test(tc, waiting_high_topic_goes_first);
    tcase_add_test(tc, both_priorities_is_einval);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
