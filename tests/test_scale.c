/* test_scale.c - many topics, and what an idle bus costs. */
#include <malloc.h>
#include <stdio.h>
#include <sys/resource.h>

#include "helpers.h"

enum { TOPICS = 10000 };

START_TEST(ten_thousand_topics)
{
    bus_t *bus = new_bus(2);
    bus_topic_t **topics = malloc(TOPICS * sizeof(*topics));
    struct counter c = {0};
    bus_sub_t *sub;
    char name[32];
    for (int i = 0; i < TOPICS; i++) {
        snprintf(name, sizeof(name), "idle.%d", i);
        topics[i] = new_topic(bus, name, 2, BUS_FULL_BLOCK, 0);
        ck_assert_ok(bus_subscribe(topics[i], count_only, &c, &sub));
    }
    /* Lookups find the same topics again. */
    for (int i = 0; i < TOPICS; i += 97) {
        snprintf(name, sizeof(name), "idle.%d", i);
        bus_topic_t *again;
        ck_assert_ok(bus_topic_open(bus, name, &(bus_topic_config_t){2, 256, 0, 0}, &again));
        ck_assert_ptr_eq(again, topics[i]);
    }
    /* One event per topic, then a burst on one busy topic among them. */
    for (int i = 0; i < TOPICS; i++)
        ck_assert_ok(bus_publish(topics[i], &i, sizeof(i)));
    bus_topic_t *busy = new_topic(bus, "busy", 1024, BUS_FULL_BLOCK, 0);
    struct counter b = {0};
    ck_assert_ok(bus_subscribe(busy, count_in_order, &b, &sub));
    for (int i = 0; i < 100000; i++)
        ck_assert_ok(bus_publish(busy, &i, sizeof(i)));
    ck_assert_ok(bus_flush(bus));
    ck_assert_uint_eq(atomic_load(&c.calls), TOPICS);
    ck_assert_uint_eq(atomic_load(&b.calls), 100000);
    ck_assert_uint_eq(atomic_load(&b.order_errors), 0);
    ck_assert_ok(bus_destroy(bus));
    free(topics);
}
END_TEST

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

/* A parked bus uses no CPU: after the workers settle, one second of idling
 * costs less than 1% of one core (the process's whole CPU time, so the
 * bound also covers this thread's sleeping). */
START_TEST(idle_bus_uses_no_cpu)
{
    bus_t *bus = new_bus(2);
    bus_topic_t *t = new_topic(bus, "idle", 8, BUS_FULL_BLOCK, 0);
    struct counter c = {0};
    subscribe(t, count_only, &c);
    ck_assert_ok(bus_publish(t, NULL, 0));
    ck_assert_ok(bus_flush(bus));
    sleep_ms(200); /* spin and yield phases end well within this */
    double before = cpu_seconds();
    sleep_ms(1000);
    double used = cpu_seconds() - before;
    ck_assert_msg(used < 0.01, "idle bus used %.4f s of CPU in 1 s", used);
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

/* The process's resident memory, in KiB (VmRSS), or -1. */
static long rss_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return -1;
    char line[256];
    long kib = -1;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
            break;
    fclose(f);
    return kib;
}

/* Capacity for topics that do not exist costs no memory: a bus sized for
 * 2^24 topics (ready queues of 2^25 cells a level, 1.5 GiB, and the topic
 * array, 128 MiB) adds little to the resident set until topics are opened.
 * Its queues then work as usual: one event on each of a few topics. When
 * bus_create wrote every cell's initial sequence, it grew by 1.5 GiB. */
START_TEST(unused_topic_capacity_costs_no_memory)
{
    /* meson test sets MALLOC_PERTURB_, which makes malloc and calloc write
     * every byte they hand out: that would be measured here. (This test runs
     * in a forked process: the others keep it.) */
    mallopt(M_PERTURB, 0);
    long before = rss_kib();
    ck_assert_int_gt(before, 0);
    bus_config_t cfg;
    bus_config_init(&cfg);
    cfg.workers = 2;
    cfg.max_topics = 1u << 24;
    bus_t *bus;
    ck_assert_ok(bus_create(&bus, &cfg));
    long grown = rss_kib() - before;
    printf("scale: RSS grew by %ld KiB at bus_create with max_topics 2^24\n", grown);
    ck_assert_msg(grown < 64 * 1024, "bus_create grew the RSS by %ld KiB", grown);

    struct counter c = {0};
    bus_sub_t *sub;
    char name[32];
    for (int i = 0; i < 8; i++) {
        snprintf(name, sizeof(name), "sparse.%d", i);
        bus_topic_t *t = new_topic(bus, name, 8, BUS_FULL_BLOCK, i % 2 ? BUS_TOPIC_LOW_PRIORITY : 0);
        ck_assert_ok(bus_subscribe(t, count_only, &c, &sub));
        ck_assert_ok(bus_publish(t, &i, sizeof(i)));
    }
    ck_assert_ok(bus_flush(bus));
    ck_assert_uint_eq(atomic_load(&c.calls), 8);
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("scale");
    TCase *tc = tcase_create("scale");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, ten_thousand_topics);
    tcase_add_test(tc, idle_bus_uses_no_cpu);
    tcase_add_test(tc, unused_topic_capacity_costs_no_memory);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
