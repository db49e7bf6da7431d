/* test_topics.c - topic lifecycle and introspection: finding topics by name,
 * the reserved `bus.` names. */
#include "helpers.h"

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
    bus_sub_t *failing;
    ck_assert_ok(bus_subscribe(work, fail_always, NULL, &failing));
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

int main(void)
{
    Suite *s = suite_create("topics");
    TCase *tc = tcase_create("topics");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, open_null_cfg_returns_existing_topic_as_it_is);
    tcase_add_test(tc, dead_letter_topic_found_by_name);
    tcase_add_test(tc, find_never_creates);
    tcase_add_test(tc, wildcards_skip_reserved_bus_topics);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
