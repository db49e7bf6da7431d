/* test_pattern.c - wildcard subscriptions with NATS subject syntax. */
#include "helpers.h"

/* Counts events; checks each came from a topic the pattern matches. */
struct by_topic {
    atomic_ulong total;
    atomic_ulong foreign; /* events from topics whose name is not theirs */
};

static int note_topic(const bus_event_t *ev, void *ctx)
{
    struct by_topic *b = ctx;
    /* Each test publishes its topic's name (or a 1-byte marker). */
    const char *name = bus_topic_name(ev->topic);
    if (ev->size > 1 && (ev->size != strlen(name) || memcmp(ev->data, name, ev->size) != 0))
        atomic_fetch_add(&b->foreign, 1);
    atomic_fetch_add(&b->total, 1);
    return 0;
}

static bus_topic_t *open_and_publish(bus_t *bus, const char *name)
{
    bus_topic_t *t;
    ck_assert_ok(bus_topic_open(bus, name, NULL, &t));
    ck_assert_ok(bus_publish(t, name, strlen(name)));
    return t;
}

START_TEST(star_matches_one_token)
{
    bus_t *bus = new_bus(2);
    bus_topic_t *t;
    ck_assert_ok(bus_topic_open(bus, "orders.eu.created", NULL, &t)); /* before */
    struct by_topic b = {0};
    bus_sub_t *sub;
    ck_assert_ok(bus_subscribe_pattern(bus, "orders.*.created", note_topic, &b, NULL, &sub));
    ck_assert_ok(bus_publish(t, "x", 1));
    open_and_publish(bus, "orders.us.created");    /* after: attaches too */
    open_and_publish(bus, "orders.created");       /* too short */
    open_and_publish(bus, "orders.eu.x.created");  /* too long */
    open_and_publish(bus, "orders.eu.deleted");
    ck_assert_ok(bus_flush(bus));
    ck_assert_uint_eq(atomic_load(&b.total), 2);
    ck_assert_uint_eq(atomic_load(&b.foreign), 0);
    bus_sub_stats_t ss = sub_stats(sub);
    ck_assert_uint_eq(ss.delivered, 2);
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

START_TEST(tail_matches_one_or_more_tokens)
{
    bus_t *bus = new_bus(1);
    struct by_topic b = {0};
    bus_sub_t *sub;
    ck_assert_ok(bus_subscribe_pattern(bus, "metrics.>", note_topic, &b, NULL, &sub));
    open_and_publish(bus, "metrics");
    open_and_publish(bus, "metrics.cpu");
    open_and_publish(bus, "metrics.cpu.load");
    open_and_publish(bus, "metricsx.cpu");
    ck_assert_ok(bus_flush(bus));
    ck_assert_uint_eq(atomic_load(&b.total), 2);
    struct by_topic all = {0};
    bus_sub_t *every;
    ck_assert_ok(bus_subscribe_pattern(bus, ">", note_topic, &all, NULL, &every));
    open_and_publish(bus, "x");
    ck_assert_ok(bus_flush(bus));
    ck_assert_uint_eq(atomic_load(&all.total), 1);
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

START_TEST(unsubscribe_detaches_from_all)
{
    bus_t *bus = new_bus(2);
    struct by_topic b = {0};
    bus_sub_t *sub;
    bus_topic_t *a = open_and_publish(bus, "a.one");
    ck_assert_ok(bus_flush(bus)); /* dispatched before the subscription */
    ck_assert_ok(bus_subscribe_pattern(bus, "a.*", note_topic, &b, NULL, &sub));
    bus_topic_t *c = open_and_publish(bus, "a.two");
    ck_assert_ok(bus_publish(a, "y", 1));
    ck_assert_ok(bus_flush(bus));
    ck_assert_uint_eq(atomic_load(&b.total), 2);
    ck_assert_ok(bus_unsubscribe(sub));
    ck_assert_ok(bus_publish(a, "y", 1));
    ck_assert_ok(bus_publish(c, "y", 1));
    open_and_publish(bus, "a.three"); /* a pattern that is gone attaches nowhere */
    ck_assert_ok(bus_flush(bus));
    ck_assert_uint_eq(atomic_load(&b.total), 2);
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

static void count_done(void *arg)
{
    atomic_fetch_add((atomic_int *)arg, 1);
}

START_TEST(async_unsubscribe_of_pattern)
{
    bus_t *bus = new_bus(1);
    struct by_topic b = {0};
    bus_sub_t *sub;
    open_and_publish(bus, "p.one");
    open_and_publish(bus, "p.two");
    ck_assert_ok(bus_subscribe_pattern(bus, "p.*", note_topic, &b, NULL, &sub));
    atomic_int done = 0;
    ck_assert_ok(bus_unsubscribe_async(sub, count_done, &done));
    ck_assert_ok(bus_destroy(bus)); /* runs pending completions */
    ck_assert_int_eq(atomic_load(&done), 1);
}
END_TEST

START_TEST(pattern_with_group)
{
    bus_t *bus = new_bus(1);
    struct counter c1 = {0}, c2 = {0};
    bus_sub_options_t opts;
    bus_sub_options_init(&opts);
    opts.group = "g";
    bus_sub_t *s1, *s2;
    ck_assert_ok(bus_subscribe_pattern(bus, "jobs.*", count_only, &c1, &opts, &s1));
    ck_assert_ok(bus_subscribe_pattern(bus, "jobs.*", count_only, &c2, &opts, &s2));
    bus_topic_t *t;
    ck_assert_ok(bus_topic_open(bus, "jobs.render", NULL, &t));
    for (int i = 0; i < 100; i++)
        ck_assert_ok(bus_publish(t, NULL, 0));
    ck_assert_ok(bus_flush(bus));
    ck_assert_uint_eq(atomic_load(&c1.calls) + atomic_load(&c2.calls), 100);
    ck_assert_uint_eq(atomic_load(&c1.calls), 50);
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

START_TEST(malformed_patterns)
{
    bus_t *bus = new_bus(1);
    bus_sub_t *sub;
    const char *bad[] = {"", ".", "a.", "a..b", "a.>.b", "a*", "*a", ">a", "a.b>", "a b",
                         "> .x", ">.>"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(bus_subscribe_pattern(bus, bad[i], count_only, NULL, NULL, &sub) ==
                          -EINVAL,
                      "%s", bad[i]);
    const char *good[] = {"a", "*", ">", "a.*", "*.b", "a.>", "*.*.>"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        ck_assert_msg(bus_subscribe_pattern(bus, good[i], count_only, NULL, NULL, &sub) == 0,
                      "%s", good[i]);
    ck_assert_int_eq(bus_subscribe_pattern(NULL, "a", count_only, NULL, NULL, &sub), -EINVAL);
    ck_assert_int_eq(bus_subscribe_pattern(bus, "a", NULL, NULL, NULL, &sub), -EINVAL);
    ck_assert_ok(bus_shutdown(bus));
    ck_assert_int_eq(bus_subscribe_pattern(bus, "a", count_only, NULL, NULL, &sub), -ESHUTDOWN);
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("pattern");
    TCase *tc = tcase_create("pattern");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, star_matches_one_token);
    tcase_add_test(tc, tail_matches_one_or_more_tokens);
    tcase_add_test(tc, unsubscribe_detaches_from_all);
    tcase_add_test(tc, async_unsubscribe_of_pattern);
    tcase_add_test(tc, pattern_with_group);
    tcase_add_test(tc, malformed_patterns);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
