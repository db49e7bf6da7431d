/* test_errors.c - every bad input gets its error, and nothing changes. */
#include <stdio.h>

#include "helpers.h"

START_TEST(create_rejects_bad_arguments)
{
    bus_config_t cfg;
    bus_t *bus = NULL;
    ck_assert_int_eq(bus_create(NULL, NULL), -EINVAL);
    bus_config_init(&cfg);
    cfg.workers = 100000;
    ck_assert_int_eq(bus_create(&bus, &cfg), -EINVAL);
    bus_config_init(&cfg);
    cfg.wait = 7;
    ck_assert_int_eq(bus_create(&bus, &cfg), -EINVAL);
    bus_config_init(&cfg);
    cfg.max_topics = 0;
    ck_assert_int_eq(bus_create(&bus, &cfg), -EINVAL);
    bus_config_init(&cfg);
    cfg.batch = 0;
    ck_assert_int_eq(bus_create(&bus, &cfg), -EINVAL);
    ck_assert_ptr_null(bus);
}
END_TEST

START_TEST(null_handles_are_einval)
{
    bus_topic_stats_t st;
    bus_sub_t *sub;
    ck_assert_int_eq(bus_destroy(NULL), -EINVAL);
    ck_assert_int_eq(bus_shutdown(NULL), -EINVAL);
    ck_assert_int_eq(bus_flush(NULL), -EINVAL);
    ck_assert_int_eq(bus_topic_open(NULL, "a", NULL, NULL), -EINVAL);
    ck_assert_int_eq(bus_subscribe(NULL, count_only, NULL, &sub), -EINVAL);
    ck_assert_int_eq(bus_unsubscribe(NULL), -EINVAL);
    ck_assert_int_eq(bus_unsubscribe_async(NULL, NULL, NULL), -EINVAL);
    ck_assert_int_eq(bus_publish(NULL, "a", 1), -EINVAL);
    ck_assert_int_eq(bus_topic_stats(NULL, &st), -EINVAL);
    ck_assert_ptr_null(bus_topic_name(NULL));
    bus_config_init(NULL);       /* ignored, no crash */
    bus_topic_config_init(NULL); /* ignored, no crash */
}
END_TEST

START_TEST(topic_names)
{
    bus_t *bus = new_bus(1);
    bus_topic_t *t;
    char long_name[300];
    memset(long_name, 'a', sizeof(long_name));
    long_name[255] = '\0';
    ck_assert_ok(bus_topic_open(bus, long_name, NULL, &t)); /* 255 bytes */
    long_name[255] = 'a';
    long_name[256] = '\0';
    ck_assert_int_eq(bus_topic_open(bus, long_name, NULL, &t), -EINVAL);

    const char *good[] = {"a", "orders.created", "a.b.c", "x-1_2:3", "~!@#$%^&()"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        ck_assert_msg(bus_topic_open(bus, good[i], NULL, &t) == 0, "%s", good[i]);
    const char *bad[] = {"", ".", "a.", ".a", "a..b", "a b", "a*", "a.>", "*", ">",
                         "tab\there", "nl\n", "\x7f", "caf\xc3\xa9"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(bus_topic_open(bus, bad[i], NULL, &t) == -EINVAL, "%s", bad[i]);
    ck_assert_int_eq(bus_topic_open(bus, NULL, NULL, &t), -EINVAL);
    ck_assert_int_eq(bus_topic_open(bus, "a", NULL, NULL), -EINVAL);
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

START_TEST(topic_configurations)
{
    bus_t *bus = new_bus(1);
    bus_topic_t *t;
    bus_topic_config_t cfg;
    uint32_t bad_capacity[] = {0, 1, 3, 100, (UINT32_C(1) << 31) + 1, UINT32_MAX};
    for (size_t i = 0; i < sizeof(bad_capacity) / sizeof(bad_capacity[0]); i++) {
        bus_topic_config_init(&cfg);
        cfg.capacity = bad_capacity[i];
        ck_assert_int_eq(bus_topic_open(bus, "t", &cfg, &t), -EINVAL);
    }
    bus_topic_config_init(&cfg);
    cfg.full_policy = 3;
    ck_assert_int_eq(bus_topic_open(bus, "t", &cfg, &t), -EINVAL);
    cfg.full_policy = -1;
    ck_assert_int_eq(bus_topic_open(bus, "t", &cfg, &t), -EINVAL);
    bus_topic_config_init(&cfg);
    cfg.flags = 1u << 7;
    ck_assert_int_eq(bus_topic_open(bus, "t", &cfg, &t), -EINVAL);
    /* capacity * slot size overflows: an error, never a short allocation. */
    bus_topic_config_init(&cfg);
    cfg.capacity = UINT32_C(1) << 31;
    cfg.max_payload = UINT32_MAX;
    int rc = bus_topic_open(bus, "huge", &cfg, &t);
    ck_assert_int_eq(rc, -EINVAL);
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

START_TEST(same_name_same_topic)
{
    bus_t *bus = new_bus(1);
    bus_topic_t *a, *b, *c;
    ck_assert_ok(bus_topic_open(bus, "x.y", NULL, &a));
    ck_assert_ok(bus_topic_open(bus, "x.y", NULL, &b));
    ck_assert_ptr_eq(a, b);
    ck_assert_str_eq(bus_topic_name(a), "x.y");
    bus_topic_config_t cfg;
    bus_topic_config_init(&cfg);
    cfg.capacity = 8;
    ck_assert_int_eq(bus_topic_open(bus, "x.y", &cfg, &c), -EEXIST);
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

START_TEST(max_topics_is_enospc)
{
    bus_config_t cfg;
    bus_config_init(&cfg);
    cfg.workers = 1;
    cfg.max_topics = 3;
    bus_t *bus;
    ck_assert_ok(bus_create(&bus, &cfg));
    bus_topic_t *t;
    ck_assert_ok(bus_topic_open(bus, "a", NULL, &t));
    ck_assert_ok(bus_topic_open(bus, "b", NULL, &t));
    ck_assert_ok(bus_topic_open(bus, "c", NULL, &t));
    ck_assert_int_eq(bus_topic_open(bus, "d", NULL, &t), -ENOSPC);
    ck_assert_ok(bus_topic_open(bus, "a", NULL, &t)); /* existing ones still open */
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

START_TEST(publish_rejects_bad_payloads)
{
    bus_t *bus = new_bus(1);
    bus_topic_t *t = new_topic(bus, "p", 8, BUS_FULL_FAIL, 0);
    char big[257] = {0};
    ck_assert_int_eq(bus_publish(t, big, 257), -EMSGSIZE);
    ck_assert_ok(bus_publish(t, big, 256));
    ck_assert_int_eq(bus_publish(t, NULL, 1), -EINVAL);
    ck_assert_int_eq(bus_publish(t, big, SIZE_MAX), -EMSGSIZE);
    ck_assert_ok(bus_flush(bus));
    bus_topic_stats_t st = topic_stats(t);
    ck_assert_uint_eq(st.published, 1);
    ck_assert_int_eq(bus_topic_stats(t, NULL), -EINVAL);
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

START_TEST(subscribe_rejects_bad_arguments)
{
    bus_t *bus = new_bus(1);
    bus_topic_t *t = new_topic(bus, "s", 8, BUS_FULL_FAIL, 0);
    bus_sub_t *sub;
    ck_assert_int_eq(bus_subscribe(t, NULL, NULL, &sub), -EINVAL);
    ck_assert_int_eq(bus_subscribe(t, count_only, NULL, NULL), -EINVAL);
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

START_TEST(strerror_names_every_code)
{
    int codes[] = {-EINVAL, -EMSGSIZE, -EAGAIN, -ESHUTDOWN, -ENOMEM,
                   -ENOSPC, -EEXIST, -EDEADLK};
    const char *unknown = bus_strerror(-9999);
    ck_assert_str_eq(bus_strerror(0), "success");
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        ck_assert_ptr_nonnull(bus_strerror(codes[i]));
        ck_assert_str_ne(bus_strerror(codes[i]), unknown);
    }
    ck_assert_ptr_nonnull(bus_strerror(12345));
}
END_TEST

/* Handlers may not flush or destroy their own bus: it would wait on itself. */
struct reentry {
    bus_t *bus;
    int flush_rc, shutdown_rc, destroy_rc;
};

static int try_flush_and_destroy(const bus_event_t *ev, void *ctx)
{
    (void)ev;
    struct reentry *r = ctx;
    r->flush_rc = bus_flush(r->bus);
    r->shutdown_rc = bus_shutdown(r->bus);
    r->destroy_rc = bus_destroy(r->bus);
    return 0;
}

START_TEST(flush_shutdown_destroy_from_handler_is_edeadlk)
{
    bus_t *bus = new_bus(1);
    bus_topic_t *t = new_topic(bus, "r", 8, BUS_FULL_FAIL, 0);
    struct reentry r = {.bus = bus};
    subscribe(t, try_flush_and_destroy, &r);
    ck_assert_ok(bus_publish(t, NULL, 0));
    ck_assert_ok(bus_flush(bus));
    ck_assert_int_eq(r.flush_rc, -EDEADLK);
    ck_assert_int_eq(r.shutdown_rc, -EDEADLK);
    ck_assert_int_eq(r.destroy_rc, -EDEADLK);
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("errors");
    TCase *tc = tcase_create("errors");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, create_rejects_bad_arguments);
    tcase_add_test(tc, null_handles_are_einval);
    tcase_add_test(tc, topic_names);
    tcase_add_test(tc, topic_configurations);
    tcase_add_test(tc, same_name_same_topic);
    tcase_add_test(tc, max_topics_is_enospc);
    tcase_add_test(tc, publish_rejects_bad_payloads);
    tcase_add_test(tc, subscribe_rejects_bad_arguments);
    tcase_add_test(tc, strerror_names_every_code);
    tcase_add_test(tc, flush_shutdown_destroy_from_handler_is_edeadlk);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
