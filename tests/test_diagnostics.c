/* test_diagnostics.c - what a user learns about an error and about the
 * library: bus_strerror() for any code, bus_last_error() for each failed
 * check, and the version (header, library and meson.build agree). */
#include <limits.h>
#include <stdio.h>

#include "helpers.h"

/* meson.build passes its project version. */
#ifndef MESON_PROJECT_VERSION
#error "MESON_PROJECT_VERSION is not defined"
#endif

START_TEST(strerror_keeps_the_library_texts)
{
    ck_assert_str_eq(bus_strerror(0), "success");
    ck_assert_str_eq(bus_strerror(-EAGAIN), "topic ring is full");
    ck_assert_str_eq(bus_strerror(-ESHUTDOWN), "bus is shut down");
}
END_TEST

/* A handler's own code reaches users through dead letters: it gets the
 * system's text instead of "unknown error". */
START_TEST(strerror_falls_back_to_the_system_text)
{
    ck_assert_str_eq(bus_strerror(-EIO), "Input/output error");
    ck_assert_str_eq(bus_strerror(-EROFS), "Read-only file system");
    ck_assert_str_eq(bus_strerror(-ECONNREFUSED), "Connection refused");
    ck_assert_str_eq(bus_strerror(-9999), "unknown error -9999");
    ck_assert_str_eq(bus_strerror(7), "unknown error 7");
    ck_assert_str_eq(bus_strerror(INT_MIN), "unknown error -2147483648");
}
END_TEST

/* "unknown error N" lives in a buffer per thread: another thread's call does
 * not overwrite it. */
struct unknown_text {
    struct gate asked, other_asked;
    const char *text;
};

static void *ask_unknown(void *arg)
{
    struct unknown_text *u = arg;
    u->text = bus_strerror(-9999);
    gate_pass(&u->asked);       /* main asks for another unknown code */
    gate_pass(&u->other_asked); /* ... and lets us check ours */
    ck_assert_str_eq(u->text, "unknown error -9999");
    return NULL;
}

START_TEST(strerror_unknown_text_is_per_thread)
{
    struct unknown_text u;
    gate_init(&u.asked);
    gate_init(&u.other_asked);
    pthread_t thread;
    ck_assert_ok(pthread_create(&thread, NULL, ask_unknown, &u));
    gate_await_waiters(&u.asked, 1);
    ck_assert_str_eq(bus_strerror(-8888), "unknown error -8888");
    gate_open(&u.asked);
    gate_open(&u.other_asked);
    ck_assert_ok(pthread_join(thread, NULL));
    ck_assert_str_eq(bus_strerror(-8888), "unknown error -8888");
}
END_TEST

#define ck_assert_last_error_has(what) \
    ck_assert_msg(strstr(bus_last_error(), (what)) != NULL, "last error \"%s\" lacks \"%s\"", \
                  bus_last_error(), (what))

START_TEST(last_error_names_the_bus_config_field)
{
    bus_config_t cfg;
    bus_t *bus = NULL;
    ck_assert_str_eq(bus_last_error(), "");
    ck_assert_int_eq(bus_create(NULL, NULL), -EINVAL);
    ck_assert_last_error_has("out is NULL");
    bus_config_init(&cfg);
    cfg.workers = 100000;
    ck_assert_int_eq(bus_create(&bus, &cfg), -EINVAL);
    ck_assert_last_error_has("workers");
    bus_config_init(&cfg);
    cfg.wait = 7;
    ck_assert_int_eq(bus_create(&bus, &cfg), -EINVAL);
    ck_assert_last_error_has("wait");
    bus_config_init(&cfg);
    cfg.max_topics = 0;
    ck_assert_int_eq(bus_create(&bus, &cfg), -EINVAL);
    ck_assert_last_error_has("max_topics");
    bus_config_init(&cfg);
    cfg.batch = 65537;
    ck_assert_int_eq(bus_create(&bus, &cfg), -EINVAL);
    ck_assert_last_error_has("batch");
    /* Like errno: a successful call leaves it as it was. */
    bus = new_bus(1);
    ck_assert_last_error_has("batch");
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

START_TEST(last_error_names_the_topic_name_or_field)
{
    bus_t *bus = new_bus(1);
    bus_topic_t *t;
    bus_topic_config_t cfg;
    ck_assert_int_eq(bus_topic_open(bus, NULL, NULL, &t), -EINVAL);
    ck_assert_last_error_has("NULL");
    ck_assert_int_eq(bus_topic_open(bus, "a..b", NULL, &t), -EINVAL);
    ck_assert_last_error_has("malformed name");
    ck_assert_int_eq(bus_topic_open(bus, "orders.*", NULL, &t), -EINVAL);
    ck_assert_last_error_has("malformed name");

    bus_topic_config_init(&cfg);
    cfg.capacity = 100;
    ck_assert_int_eq(bus_topic_open(bus, "t", &cfg, &t), -EINVAL);
    ck_assert_last_error_has("capacity");
    bus_topic_config_init(&cfg);
    cfg.full_policy = 9;
    ck_assert_int_eq(bus_topic_open(bus, "t", &cfg, &t), -EINVAL);
    ck_assert_last_error_has("full_policy");
    bus_topic_config_init(&cfg);
    cfg.flags = 1u << 20;
    ck_assert_int_eq(bus_topic_open(bus, "t", &cfg, &t), -EINVAL);
    ck_assert_last_error_has("no BUS_TOPIC_* flag");
    cfg.flags = BUS_TOPIC_HIGH_PRIORITY | BUS_TOPIC_LOW_PRIORITY;
    ck_assert_int_eq(bus_topic_open(bus, "t", &cfg, &t), -EINVAL);
    ck_assert_last_error_has("both priority flags");
    cfg.flags = BUS_TOPIC_KEYED | BUS_TOPIC_PARALLEL;
    ck_assert_int_eq(bus_topic_open(bus, "t", &cfg, &t), -EINVAL);
    ck_assert_last_error_has("BUS_TOPIC_KEYED and BUS_TOPIC_PARALLEL");
    cfg.flags = 0;
    cfg.capacity = UINT32_C(1) << 31; /* 2^31 slots of 4 GiB: over PTRDIFF_MAX bytes */
    cfg.max_payload = UINT32_MAX;
    ck_assert_int_eq(bus_topic_open(bus, "t", &cfg, &t), -EINVAL);
    ck_assert_last_error_has("over PTRDIFF_MAX bytes");
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

START_TEST(last_error_names_the_subscription_option)
{
    bus_t *bus = new_bus(1);
    bus_topic_t *t = new_topic(bus, "s", 8, BUS_FULL_FAIL, 0);
    bus_sub_t *sub;
    bus_sub_options_t opts;
    ck_assert_int_eq(bus_subscribe(t, NULL, NULL, &sub), -EINVAL);
    ck_assert_last_error_has("fn");
    bus_sub_options_init(&opts);
    opts.group = "";
    ck_assert_int_eq(bus_subscribe_ex(t, count_only, NULL, &opts, &sub), -EINVAL);
    ck_assert_last_error_has("group");
    ck_assert_int_eq(bus_subscribe_pattern(bus, "a.>.b", count_only, NULL, NULL, &sub), -EINVAL);
    ck_assert_last_error_has("malformed pattern");
    ck_assert_int_eq(bus_subscribe_pattern(bus, "a..b", count_only, NULL, NULL, &sub), -EINVAL);
    ck_assert_last_error_has("malformed pattern");
    ck_assert_int_eq(bus_subscribe_pattern(bus, "a.*", count_only, NULL, &opts, &sub), -EINVAL);
    ck_assert_last_error_has("bus_subscribe_pattern: group");
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

START_TEST(last_error_names_the_publish_check)
{
    bus_t *bus = new_bus(1);
    bus_topic_config_t cfg;
    bus_topic_config_init(&cfg);
    cfg.max_payload = 4;
    bus_topic_t *t;
    ck_assert_ok(bus_topic_open(bus, "p", &cfg, &t));
    char big[5] = {0};
    ck_assert_int_eq(bus_publish(t, big, sizeof(big)), -EMSGSIZE);
    ck_assert_last_error_has("bus_publish: size is over the topic's max_payload");
    ck_assert_int_eq(bus_publish(t, NULL, 1), -EINVAL);
    ck_assert_last_error_has("bus_publish: topic is NULL, or data is NULL");

    bus_publish_options_t opts;
    bus_publish_options_init(&opts);
    opts.zero_copy = true;
    ck_assert_int_eq(bus_publish_ex(t, big, sizeof(big), &opts), -EINVAL);
    ck_assert_last_error_has("zero_copy without on_complete");
    ck_assert_int_eq(bus_publish_ex(t, big, sizeof(big), NULL), -EMSGSIZE);
    ck_assert_last_error_has("bus_publish_ex: size");

    bus_msg_t msgs[2] = {{big, 1}, {NULL, 1}};
    size_t accepted;
    ck_assert_int_eq(bus_publish_batch(t, msgs, 2, &accepted), -EINVAL);
    ck_assert_last_error_has("a message has data NULL");
    msgs[1] = (bus_msg_t){big, sizeof(big)};
    ck_assert_int_eq(bus_publish_batch(t, msgs, 2, &accepted), -EMSGSIZE);
    ck_assert_last_error_has("bus_publish_batch: a size");
    ck_assert_int_eq(bus_publish_batch(t, msgs, 2, NULL), -EINVAL);
    ck_assert_last_error_has("accepted is NULL");
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

static void *read_last_error(void *arg)
{
    *(const char **)arg = bus_last_error();
    return NULL;
}

START_TEST(last_error_is_per_thread)
{
    bus_t *bus = NULL;
    ck_assert_int_eq(bus_create(NULL, NULL), -EINVAL);
    const char *other = NULL;
    pthread_t thread;
    ck_assert_ok(pthread_create(&thread, NULL, read_last_error, &other));
    ck_assert_ok(pthread_join(thread, NULL));
    ck_assert_str_eq(other, "");
    ck_assert_last_error_has("out is NULL");
    (void)bus;
}
END_TEST

START_TEST(version_agrees_with_meson)
{
    char header[32];
    snprintf(header, sizeof(header), "%d.%d.%d", BUS_VERSION_MAJOR, BUS_VERSION_MINOR,
             BUS_VERSION_PATCH);
    ck_assert_str_eq(header, MESON_PROJECT_VERSION);
    ck_assert_str_eq(bus_version_string(), MESON_PROJECT_VERSION);
    ck_assert_uint_eq(bus_version(), BUS_VERSION);
    ck_assert_uint_eq(bus_version() >> 16, BUS_VERSION_MAJOR);
    ck_assert_uint_eq((bus_version() >> 8) & 0xff, BUS_VERSION_MINOR);
    ck_assert_uint_eq(bus_version() & 0xff, BUS_VERSION_PATCH);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("diagnostics");
    TCase *tc = tcase_create("diagnostics");
    tcase_add_test(tc, strerror_keeps_the_library_texts);
    tcase_add_test(tc, strerror_falls_back_to_the_system_text);
    tcase_add_test(tc, strerror_unknown_text_is_per_thread);
    tcase_add_test(tc, last_error_names_the_bus_config_field);
    tcase_add_test(tc, last_error_names_the_topic_name_or_field);
    tcase_add_test(tc, last_error_names_the_subscription_option);
    tcase_add_test(tc, last_error_names_the_publish_check);
    tcase_add_test(tc, last_error_is_per_thread);
    tcase_add_test(tc, version_agrees_with_meson);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
