/* test_lifecycle.c - creating, shutting down, and the wait strategies. */
#include <dirent.h>

#include "helpers.h"

struct racer {
    bus_topic_t *topic;
    unsigned long accepted;
    int last_rc;
};

/* Publishes until the bus refuses; counts what it accepted. */
static void *publish_until_refused(void *arg)
{
    struct racer *r = arg;
    uint32_t i = 0;
    while ((r->last_rc = bus_publish(r->topic, &i, sizeof(i))) == 0) {
        r->accepted++;
        i++;
    }
    return NULL;
}

START_TEST(shutdown_with_racing_publishers)
{
    enum { PRODUCERS = 3 };
    bus_t *bus = new_bus(2);
    bus_topic_t *t = new_topic(bus, "race", 64, BUS_FULL_BLOCK, 0);
    struct counter c = {0};
    bus_sub_t *sub = subscribe(t, count_only, &c);
    struct racer racers[PRODUCERS];
    pthread_t threads[PRODUCERS];
    for (int i = 0; i < PRODUCERS; i++) {
        racers[i] = (struct racer){.topic = t};
        pthread_create(&threads[i], NULL, publish_until_refused, &racers[i]);
    }
    while (atomic_load(&c.calls) < 10000)
        sched_yield();
    ck_assert_ok(bus_shutdown(bus));
    unsigned long delivered = atomic_load(&c.calls);
    unsigned long accepted = 0;
    for (int i = 0; i < PRODUCERS; i++) {
        pthread_join(threads[i], NULL);
        ck_assert_int_eq(racers[i].last_rc, -ESHUTDOWN);
        accepted += racers[i].accepted;
    }
    /* Every accepted event was delivered before shutdown returned. */
    ck_assert_uint_eq(delivered, accepted);
    ck_assert_int_eq(bus_publish(t, NULL, 0), -ESHUTDOWN);
    ck_assert_ok(bus_shutdown(bus)); /* again: nothing to do */
    ck_assert_ok(bus_flush(bus));
    ck_assert_ok(bus_unsubscribe(sub));
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

/* While the bus drains, handlers can neither open topics nor subscribe. */
struct late_calls {
    bus_t *bus;
    struct gate gate;
    int open_rc, subscribe_rc, publish_rc;
};

static int try_during_shutdown(const bus_event_t *ev, void *ctx)
{
    struct late_calls *l = ctx;
    gate_pass(&l->gate);
    bus_topic_t *t;
    bus_sub_t *sub;
    l->open_rc = bus_topic_open(l->bus, "late", NULL, &t);
    l->subscribe_rc = bus_subscribe(ev->topic, count_only, NULL, &sub);
    l->publish_rc = bus_publish(ev->topic, NULL, 0);
    return 0;
}

static void *destroy_bus(void *bus)
{
    ck_assert_ok(bus_destroy(bus));
    return NULL;
}

START_TEST(intake_stops_during_destroy)
{
    bus_t *bus = new_bus(1);
    bus_topic_t *t = new_topic(bus, "t", 8, BUS_FULL_BLOCK, 0);
    struct late_calls l = {.bus = bus};
    gate_init(&l.gate);
    subscribe(t, try_during_shutdown, &l);
    ck_assert_ok(bus_publish(t, NULL, 0));
    gate_await_waiters(&l.gate, 1);
    pthread_t destroyer;
    pthread_create(&destroyer, NULL, destroy_bus, bus);
    sleep_ms(50); /* let destroy close the intake; it then waits for us */
    gate_open(&l.gate);
    pthread_join(destroyer, NULL);
    ck_assert_int_eq(l.open_rc, -ESHUTDOWN);
    ck_assert_int_eq(l.subscribe_rc, -ESHUTDOWN);
    ck_assert_int_eq(l.publish_rc, -ESHUTDOWN);
}
END_TEST

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

START_TEST(create_destroy_cycles_leave_nothing_behind)
{
    /* The first cycle may start liburcu's call_rcu thread, once per process. */
    bus_t *bus = new_bus(2);
    bus_sub_t *sub = subscribe(new_topic(bus, "warm", 8, BUS_FULL_BLOCK, 0),
                               count_only, &(struct counter){0});
    ck_assert_ok(bus_destroy(bus));
    int threads = count_entries("/proc/self/task");
    int fds = count_entries("/proc/self/fd");
    for (int cycle = 0; cycle < 100; cycle++) {
        struct counter c = {0};
        bus = new_bus(2);
        bus_topic_t *t = new_topic(bus, "cycle", 16, BUS_FULL_BLOCK, 0);
        ck_assert_ok(bus_subscribe(t, count_only, &c, &sub));
        ck_assert_ok(bus_publish(t, NULL, 0));
        ck_assert_ok(bus_destroy(bus));
        ck_assert_uint_eq(atomic_load(&c.calls), 1);
    }
    ck_assert_int_eq(count_entries("/proc/self/task"), threads);
    ck_assert_int_eq(count_entries("/proc/self/fd"), fds);
}
END_TEST

static void deliver_with_wait(int wait)
{
    bus_config_t cfg;
    bus_config_init(&cfg);
    cfg.workers = 2;
    cfg.wait = wait;
    bus_t *bus;
    ck_assert_ok(bus_create(&bus, &cfg));
    bus_topic_t *t = new_topic(bus, "w", 64, BUS_FULL_BLOCK, 0);
    struct counter c = {0};
    subscribe(t, count_in_order, &c);
    for (uint32_t i = 0; i < 5000; i++) {
        ck_assert_ok(bus_publish(t, &i, sizeof(i)));
        if (i % 1000 == 0)
            sleep_ms(2); /* let workers go idle and come back */
    }
    ck_assert_ok(bus_flush(bus));
    ck_assert_uint_eq(atomic_load(&c.calls), 5000);
    ck_assert_uint_eq(atomic_load(&c.order_errors), 0);
    ck_assert_ok(bus_destroy(bus));
}

START_TEST(wait_park_delivers)
{
    deliver_with_wait(BUS_WAIT_PARK);
}
END_TEST

START_TEST(wait_yield_delivers)
{
    deliver_with_wait(BUS_WAIT_YIELD);
}
END_TEST

START_TEST(wait_spin_delivers)
{
    deliver_with_wait(BUS_WAIT_SPIN);
}
END_TEST

START_TEST(default_config_works)
{
    bus_t *bus;
    ck_assert_ok(bus_create(&bus, NULL));
    bus_topic_t *t;
    ck_assert_ok(bus_topic_open(bus, "d", NULL, &t));
    struct counter c = {0};
    subscribe(t, count_only, &c);
    ck_assert_ok(bus_publish(t, "x", 1));
    ck_assert_ok(bus_flush(bus));
    ck_assert_uint_eq(atomic_load(&c.calls), 1);
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("lifecycle");
    TCase *tc = tcase_create("lifecycle");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, shutdown_with_racing_publishers);
    tcase_add_test(tc, intake_stops_during_destroy);
    tcase_add_test(tc, create_destroy_cycles_leave_nothing_behind);
    tcase_add_test(tc, wait_park_delivers);
    tcase_add_test(tc, wait_yield_delivers);
    tcase_add_test(tc, wait_spin_delivers);
    tcase_add_test(tc, default_config_works);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
