/* test_groups.c - queue groups (competing consumers) and content filters. */
#include "helpers.h"

enum { EVENTS = 10000 };

static bus_sub_t *join(bus_topic_t *t, const char *group, bus_handler_fn fn, void *ctx,
                       bus_filter_fn filter, void *filter_ctx)
{
    bus_sub_options_t opts;
    bus_sub_options_init(&opts);
    opts.group = group;
    opts.filter = filter;
    opts.filter_ctx = filter_ctx;
    bus_sub_t *sub = NULL;
    ck_assert_ok(bus_subscribe_ex(t, fn, ctx, &opts, &sub));
    return sub;
}

static void publish_numbers(bus_topic_t *t, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        ck_assert_ok(bus_publish(t, &i, sizeof(i)));
}

/* Counts hits per event id across all members of a group. */
struct hits {
    atomic_uchar *per_event;
    atomic_ulong calls;
};

static int hit(const bus_event_t *ev, void *ctx)
{
    struct hits *h = ctx;
    uint32_t id;
    memcpy(&id, ev->data, sizeof(id));
    atomic_fetch_add(&h->per_event[id], 1);
    atomic_fetch_add(&h->calls, 1);
    return 0;
}

START_TEST(group_gets_each_event_once_plain_gets_all)
{
    bus_t *bus = new_bus(2);
    bus_topic_t *t = new_topic(bus, "work", 256, BUS_FULL_BLOCK, 0);
    struct hits group = {.per_event = calloc(EVENTS, 1)};
    struct counter a = {0}, b = {0}, plain = {0};
    bus_sub_t *sa = join(t, "workers", count_only, &a, NULL, NULL);
    join(t, "workers", count_only, &b, NULL, NULL);
    join(t, "auditors", hit, &group, NULL, NULL);
    subscribe(t, count_only, &plain);
    publish_numbers(t, EVENTS);
    ck_assert_ok(bus_flush(bus));
    /* Round robin over two members of an ordered topic: an even split. */
    ck_assert_uint_eq(atomic_load(&a.calls), EVENTS / 2);
    ck_assert_uint_eq(atomic_load(&b.calls), EVENTS / 2);
    ck_assert_uint_eq(atomic_load(&plain.calls), EVENTS);
    for (int i = 0; i < EVENTS; i++)
        ck_assert_uint_eq(atomic_load(&group.per_event[i]), 1);
    bus_topic_stats_t st = topic_stats(t);
    ck_assert_uint_eq(st.delivered, 3 * EVENTS); /* one per group + plain */
    bus_sub_stats_t ss = sub_stats(sa);
    ck_assert_uint_eq(ss.delivered, EVENTS / 2);
    ck_assert_ok(bus_destroy(bus));
    free(group.per_event);
}
END_TEST

START_TEST(empty_group_receives_nothing)
{
    bus_t *bus = new_bus(1);
    bus_topic_t *t = new_topic(bus, "empty", 64, BUS_FULL_BLOCK, 0);
    struct counter a = {0}, plain = {0};
    bus_sub_t *sa = join(t, "g", count_only, &a, NULL, NULL);
    subscribe(t, count_only, &plain);
    publish_numbers(t, 10);
    ck_assert_ok(bus_flush(bus));
    ck_assert_ok(bus_unsubscribe(sa)); /* the group is now empty */
    publish_numbers(t, 10);
    ck_assert_ok(bus_flush(bus));
    ck_assert_uint_eq(atomic_load(&a.calls), 10);
    ck_assert_uint_eq(atomic_load(&plain.calls), 20);
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

/* Members join and leave while a parallel topic flows: never a duplicate,
 * and with at least one member always present, never a miss. */
struct churn {
    bus_topic_t *topic;
    struct hits *hits;
    atomic_bool stop;
};

static void *churn_members(void *arg)
{
    struct churn *c = arg;
    while (!atomic_load(&c->stop)) {
        bus_sub_t *extra = join(c->topic, "g", hit, c->hits, NULL, NULL);
        sleep_ms(1);
        ck_assert_ok(bus_unsubscribe(extra));
    }
    return NULL;
}

START_TEST(members_join_and_leave_while_events_flow)
{
    bus_t *bus = new_bus(2);
    bus_topic_t *t = new_topic(bus, "churn", 256, BUS_FULL_BLOCK, BUS_TOPIC_PARALLEL);
    struct hits h = {.per_event = calloc(EVENTS * 5, 1)};
    join(t, "g", hit, &h, NULL, NULL); /* the member that stays */
    struct churn c = {.topic = t, .hits = &h};
    pthread_t thread;
    pthread_create(&thread, NULL, churn_members, &c);
    publish_numbers(t, EVENTS * 5);
    ck_assert_ok(bus_flush(bus));
    atomic_store(&c.stop, true);
    pthread_join(thread, NULL);
    for (int i = 0; i < EVENTS * 5; i++)
        ck_assert_uint_eq(atomic_load(&h.per_event[i]), 1);
    ck_assert_ok(bus_destroy(bus));
    free(h.per_event);
}
END_TEST

static bool only_even(const bus_event_t *ev, void *ctx)
{
    (void)ctx;
    uint32_t id;
    memcpy(&id, ev->data, sizeof(id));
    return id % 2 == 0;
}

START_TEST(filter_passes_only_matching_events)
{
    bus_t *bus = new_bus(1);
    bus_topic_t *t = new_topic(bus, "filtered", 64, BUS_FULL_BLOCK, 0);
    struct counter even = {0}, all = {0};
    bus_sub_t *se = join(t, NULL, count_only, &even, only_even, NULL);
    subscribe(t, count_only, &all);
    publish_numbers(t, 100);
    ck_assert_ok(bus_flush(bus));
    ck_assert_uint_eq(atomic_load(&even.calls), 50);
    ck_assert_uint_eq(atomic_load(&all.calls), 100);
    bus_sub_stats_t ss = sub_stats(se);
    ck_assert_uint_eq(ss.delivered, 50);
    ck_assert_uint_eq(ss.filtered, 50);
    bus_topic_stats_t st = topic_stats(t);
    ck_assert_uint_eq(st.delivered, 150); /* filtered events are not deliveries */
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

/* A group member whose filter rejects an event passes it to the next. */
START_TEST(group_member_filter_passes_event_on)
{
    bus_t *bus = new_bus(1);
    bus_topic_t *t = new_topic(bus, "routed", 64, BUS_FULL_BLOCK, 0);
    struct counter picky = {0}, any = {0};
    join(t, "g", count_only, &picky, only_even, NULL);
    join(t, "g", count_only, &any, NULL, NULL);
    publish_numbers(t, 100);
    ck_assert_ok(bus_flush(bus));
    ck_assert_uint_eq(atomic_load(&picky.calls) + atomic_load(&any.calls), 100);
    ck_assert_uint_le(atomic_load(&picky.calls), 50);
    ck_assert_uint_gt(atomic_load(&picky.calls), 0);
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

START_TEST(bad_options)
{
    bus_t *bus = new_bus(1);
    bus_topic_t *t = new_topic(bus, "opts", 8, BUS_FULL_BLOCK, 0);
    bus_sub_options_t opts;
    bus_sub_options_init(&opts);
    bus_sub_t *sub;
    opts.group = "";
    ck_assert_int_eq(bus_subscribe_ex(t, count_only, NULL, &opts, &sub), -EINVAL);
    char long_group[300];
    memset(long_group, 'g', sizeof(long_group) - 1);
    long_group[299] = '\0';
    opts.group = long_group;
    ck_assert_int_eq(bus_subscribe_ex(t, count_only, NULL, &opts, &sub), -EINVAL);
    ck_assert_int_eq(bus_subscribe_ex(t, NULL, NULL, NULL, &sub), -EINVAL);
    ck_assert_ok(bus_subscribe_ex(t, count_only, NULL, NULL, &sub)); /* plain */
    bus_sub_stats_t ss;
    ck_assert_int_eq(bus_sub_stats(NULL, &ss), -EINVAL);
    ck_assert_int_eq(bus_sub_stats(sub, NULL), -EINVAL);
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("groups");
    TCase *tc = tcase_create("groups");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, group_gets_each_event_once_plain_gets_all);
    tcase_add_test(tc, empty_group_receives_nothing);
    tcase_add_test(tc, members_join_and_leave_while_events_flow);
    tcase_add_test(tc, filter_passes_only_matching_events);
    tcase_add_test(tc, group_member_filter_passes_event_on);
    tcase_add_test(tc, bad_options);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
