/* test_metrics.c - latency of timed events: bus_topic_metrics() and
 * bus_sub_metrics() (issue 11). */
#include <time.h>

#include "helpers.h"

static bus_t *bus_timing(unsigned workers, uint32_t sample)
{
    bus_config_t cfg;
    bus_config_init(&cfg);
    cfg.workers = workers;
    cfg.timing_sample = sample;
    bus_t *bus = NULL;
    ck_assert_ok(bus_create(&bus, &cfg));
    return bus;
}

/* Busy for @ns on the CPU clock of nobody in particular: the monotonic
 * clock, as the bus stamps. */
static void spin_ns(uint64_t ns)
{
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    do
        clock_gettime(CLOCK_MONOTONIC, &b);
    while ((uint64_t)(b.tv_sec - a.tv_sec) * 1000000000u + (uint64_t)b.tv_nsec -
               (uint64_t)a.tv_nsec < ns);
}

/* 200 us of work; the first call waits at @ctx's gate (if any) first, so
 * that every event is queued before the first is handled. */
static int spin_200us(const bus_event_t *ev, void *ctx)
{
    struct gate *g = ctx;
    if (g && ev->seq == 1)
        gate_pass(g);
    spin_ns(200000);
    return 0;
}

/* Every event timed: each call took at least 200 us, the quantiles say so
 * (within the bucket error and what the machine adds), and the topic's and
 * the subscription's counts agree with the calls. */
START_TEST(every_event_timed)
{
    enum { EVENTS = 50 };
    bus_t *bus = bus_timing(1, 1);
    bus_topic_t *t = new_topic(bus, "m.all", 64, BUS_FULL_BLOCK, 0);
    bus_sub_t *sub;
    struct gate gate;
    gate_init(&gate);
    ck_assert_ok(bus_subscribe(t, spin_200us, &gate, &sub));
    for (int i = 0; i < EVENTS; i++)
        ck_assert_ok(bus_publish(t, &i, sizeof(i)));
    gate_await_waiters(&gate, 1);
    gate_open(&gate);
    ck_assert_ok(bus_flush(bus));
    bus_topic_metrics_t m;
    ck_assert_ok(bus_topic_metrics(t, &m));
    ck_assert_uint_eq(m.stats.delivered, EVENTS);
    ck_assert_uint_eq(m.handler.count, EVENTS);
    ck_assert_uint_eq(m.wait.count, EVENTS);
    /* A call lasts at least 200 us; the midpoint is within 1.6% below. */
    ck_assert_uint_ge(m.handler.p50_ns, 200000 - 200000 / 64);
    ck_assert_uint_ge(m.handler.max_ns, 200000);
    ck_assert_uint_ge(m.handler.sum_ns, EVENTS * 200000ull);
    ck_assert_uint_le(m.handler.p50_ns, m.handler.p90_ns);
    ck_assert_uint_le(m.handler.p90_ns, m.handler.p99_ns);
    ck_assert_uint_le(m.handler.p99_ns, m.handler.p999_ns);
    ck_assert_uint_le(m.handler.p999_ns, m.handler.max_ns);
    /* All queued before the first call: the last waited for the 49 calls
     * before it. */
    ck_assert_uint_ge(m.wait.max_ns, (EVENTS - 1) * 200000ull);
    bus_sub_metrics_t sm;
    ck_assert_ok(bus_sub_metrics(sub, &sm));
    ck_assert_uint_eq(sm.stats.delivered, EVENTS);
    ck_assert_uint_eq(sm.handler.count, EVENTS);
    ck_assert_uint_eq(sm.handler.max_ns, m.handler.max_ns);
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

/* 1 in 4 per worker: with one worker, exactly every 4th event. 0: none. */
START_TEST(sampling_rate_is_respected)
{
    const uint32_t rates[] = {4, 0};
    for (int k = 0; k < 2; k++) {
        bus_t *bus = bus_timing(1, rates[k]);
        bus_topic_t *t = new_topic(bus, "m.sample", 256, BUS_FULL_BLOCK, 0);
        struct counter c = {0};
        subscribe(t, count_only, &c);
        for (int i = 0; i < 100; i++)
            ck_assert_ok(bus_publish(t, &i, sizeof(i)));
        ck_assert_ok(bus_flush(bus));
        bus_topic_metrics_t m;
        ck_assert_ok(bus_topic_metrics(t, &m));
        ck_assert_uint_eq(m.stats.delivered, 100);
        ck_assert_uint_eq(m.wait.count, rates[k] ? 100 / rates[k] : 0);
        ck_assert_uint_eq(m.handler.count, rates[k] ? 100 / rates[k] : 0);
        if (!rates[k])
            ck_assert_uint_eq(m.handler.p99_ns, 0);
        ck_assert_ok(bus_destroy(bus));
    }
}
END_TEST

/* The default configuration times some events: metrics are on. */
START_TEST(default_config_times_1_in_64)
{
    bus_config_t cfg;
    bus_config_init(&cfg);
    ck_assert_uint_eq(cfg.timing_sample, 64);
}
END_TEST

/* A parallel topic's workers record into the same histograms at once:
 * every timed call is counted. */
START_TEST(parallel_workers_lose_no_sample)
{
    enum { EVENTS = 20000 };
    bus_t *bus = bus_timing(2, 1);
    bus_topic_t *t = new_topic(bus, "m.par", 1024, BUS_FULL_BLOCK, BUS_TOPIC_PARALLEL);
    struct counter c = {0};
    bus_sub_t *sub = subscribe(t, count_only, &c);
    for (int i = 0; i < EVENTS; i++)
        ck_assert_ok(bus_publish(t, &i, sizeof(i)));
    ck_assert_ok(bus_flush(bus));
    bus_topic_metrics_t m;
    ck_assert_ok(bus_topic_metrics(t, &m));
    ck_assert_uint_eq(m.handler.count, EVENTS);
    ck_assert_uint_eq(m.wait.count, EVENTS);
    bus_sub_metrics_t sm;
    ck_assert_ok(bus_sub_metrics(sub, &sm));
    ck_assert_uint_eq(sm.handler.count, EVENTS);
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

/* A pattern subscription's calls over its topics; a keyed topic's lanes
 * count into the keyed topic. */
START_TEST(pattern_and_keyed_topics)
{
    bus_t *bus = bus_timing(2, 1);
    bus_topic_t *a = new_topic(bus, "m.p.a", 64, BUS_FULL_BLOCK, 0);
    bus_topic_t *k = new_topic(bus, "m.p.k", 64, BUS_FULL_BLOCK, BUS_TOPIC_KEYED);
    struct counter c = {0};
    bus_sub_t *sub;
    ck_assert_ok(bus_subscribe_pattern(bus, "m.p.*", count_only, &c, NULL, &sub));
    for (uint64_t i = 0; i < 10; i++) {
        ck_assert_ok(bus_publish(a, &i, sizeof(i)));
        ck_assert_ok(bus_publish_keyed(k, i, &i, sizeof(i)));
    }
    ck_assert_ok(bus_flush(bus));
    bus_topic_metrics_t m;
    ck_assert_ok(bus_topic_metrics(k, &m));
    ck_assert_uint_eq(m.handler.count, 10);
    ck_assert_uint_eq(m.wait.count, 10);
    bus_sub_metrics_t sm;
    ck_assert_ok(bus_sub_metrics(sub, &sm));
    ck_assert_uint_eq(sm.stats.delivered, 20);
    ck_assert_uint_eq(sm.handler.count, 20);
    ck_assert_ok(bus_unsubscribe(sub));
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

START_TEST(bad_input)
{
    bus_t *bus = bus_timing(1, 1);
    bus_topic_t *t = new_topic(bus, "m.bad", 8, BUS_FULL_BLOCK, 0);
    bus_topic_metrics_t m;
    bus_sub_metrics_t sm;
    ck_assert_int_eq(bus_topic_metrics(NULL, &m), -EINVAL);
    ck_assert_int_eq(bus_topic_metrics(t, NULL), -EINVAL);
    ck_assert_int_eq(bus_sub_metrics(NULL, &sm), -EINVAL);
    bus_sub_t *sub = subscribe(t, count_only, &(struct counter){0});
    ck_assert_int_eq(bus_sub_metrics(sub, NULL), -EINVAL);
    /* Nothing timed yet: zeros, not garbage. */
    ck_assert_ok(bus_topic_metrics(t, &m));
    ck_assert_uint_eq(m.handler.count, 0);
    ck_assert_uint_eq(m.wait.max_ns, 0);
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("metrics");
    TCase *tc = tcase_create("metrics");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, every_event_timed);
    tcase_add_test(tc, sampling_rate_is_respected);
    tcase_add_test(tc, default_config_times_1_in_64);
    tcase_add_test(tc, parallel_workers_lose_no_sample);
    tcase_add_test(tc, pattern_and_keyed_topics);
    tcase_add_test(tc, bad_input);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
