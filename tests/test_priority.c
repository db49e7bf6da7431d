/* test_priority.c - workers serve high-priority topics first, without
 * starving the others. */
#include <stdio.h>

#include "helpers.h"

/* Which topic each handler call was for, in the order of the calls. */
enum { FILL = 256 };
static char served[2 * FILL];
static atomic_int nserved;

static int note_served(const bus_event_t *ev, void *ctx)
{
    (void)ev;
    served[atomic_fetch_add(&nserved, 1)] = *(const char *)ctx;
    return 0;
}

/* Both rings full while one worker is held, then released: the calls show
 * how the worker shares its turns while both topics wait. Filled up front
 * rather than by producer threads, so that the figure does not depend on
 * how much CPU the producers get (a loaded machine, a sanitizer). */
START_TEST(high_first_low_not_starved)
{
    bus_config_t cfg;
    bus_config_init(&cfg);
    cfg.workers = 1; /* the topics compete for it */
    cfg.batch = 4;   /* a turn is 4 events: many turns per ring */
    bus_t *bus;
    ck_assert_ok(bus_create(&bus, &cfg));
    bus_topic_t *hold = new_topic(bus, "prio.hold", 8, BUS_FULL_BLOCK, 0);
    bus_topic_t *high = new_topic(bus, "prio.high", FILL, BUS_FULL_BLOCK, BUS_TOPIC_HIGH_PRIORITY);
    bus_topic_t *low = new_topic(bus, "prio.low", FILL, BUS_FULL_BLOCK, BUS_TOPIC_LOW_PRIORITY);
    struct gate gate;
    gate_init(&gate);
    static const char h = 'h', l = 'l';
    bus_sub_t *s = subscribe(hold, wait_at_gate, &gate);
    ck_assert_ok(bus_subscribe(high, note_served, (void *)&h, &s));
    ck_assert_ok(bus_subscribe(low, note_served, (void *)&l, &s));
    ck_assert_ok(bus_publish(hold, NULL, 0));
    gate_await_waiters(&gate, 1);
    for (int i = 0; i < FILL; i++) {
        ck_assert_ok(bus_publish(high, NULL, 0));
        ck_assert_ok(bus_publish(low, NULL, 0));
    }
    gate_open(&gate);
    ck_assert_ok(bus_flush(bus));
    ck_assert_int_eq(atomic_load(&nserved), 2 * FILL);
    /* While both wait (the first FILL calls: high is not empty yet), high
     * gets three turns in four and low the fourth. */
    int nh = 0, nl = 0;
    for (int i = 0; i < FILL; i++)
        served[i] == 'h' ? nh++ : nl++;
    printf("priority: first %d calls: high %d, low %d\n", FILL, nh, nl);
    ck_assert_msg(nl > 0, "low starved: high %d, low %d", nh, nl);
    ck_assert_msg(nh > 2 * nl, "high %d not served before low %d", nh, nl);
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
    bus_sub_t *s = subscribe(hold, wait_at_gate, &gate);
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
