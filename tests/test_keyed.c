/* test_keyed.c - keyed topics: per-key order, parallel across keys. */
#include "helpers.h"

enum { KEYS = 64, PRODUCERS = 3, PER_KEY = 300 };

struct keyed_msg {
    uint32_t key, producer, n;
};

struct key_order {
    atomic_uint next[KEYS][PRODUCERS];
    atomic_ulong calls, errors;
    atomic_int running, max_running;
};

static int check_key_order(const bus_event_t *ev, void *ctx)
{
    struct key_order *o = ctx;
    int now = atomic_fetch_add(&o->running, 1) + 1;
    int max = atomic_load(&o->max_running);
    while (now > max && !atomic_compare_exchange_weak(&o->max_running, &max, now))
        ;
    struct keyed_msg m;
    memcpy(&m, ev->data, sizeof(m));
    /* Only this handler call touches this key's entry now. */
    if (atomic_load(&o->next[m.key][m.producer]) != m.n)
        atomic_fetch_add(&o->errors, 1);
    atomic_store(&o->next[m.key][m.producer], m.n + 1);
    if (m.n % 100 == 0)
        sleep_ms(1); /* long enough for other keys to run beside us */
    atomic_fetch_add(&o->calls, 1);
    atomic_fetch_sub(&o->running, 1);
    return 0;
}

struct keyed_producer {
    bus_topic_t *topic;
    uint32_t id;
};

static void *publish_keys(void *arg)
{
    struct keyed_producer *p = arg;
    for (uint32_t n = 0; n < PER_KEY; n++)
        for (uint32_t key = 0; key < KEYS; key++) {
            struct keyed_msg m = {key, p->id, n};
            ck_assert_ok(bus_publish_keyed(p->topic, key, &m, sizeof(m)));
        }
    return NULL;
}

START_TEST(same_key_in_order_keys_in_parallel)
{
    bus_t *bus = new_bus(2);
    bus_topic_t *t = new_topic(bus, "accounts", 1024, BUS_FULL_BLOCK, BUS_TOPIC_KEYED);
    struct key_order *o = calloc(1, sizeof(*o));
    subscribe(t, check_key_order, o);
    pthread_t threads[PRODUCERS];
    struct keyed_producer args[PRODUCERS];
    for (uint32_t i = 0; i < PRODUCERS; i++) {
        args[i] = (struct keyed_producer){t, i};
        pthread_create(&threads[i], NULL, publish_keys, &args[i]);
    }
    for (int i = 0; i < PRODUCERS; i++)
        pthread_join(threads[i], NULL);
    ck_assert_ok(bus_flush(bus));
    uint64_t total = (uint64_t)KEYS * PRODUCERS * PER_KEY;
    ck_assert_uint_eq(atomic_load(&o->calls), total);
    ck_assert_uint_eq(atomic_load(&o->errors), 0);
    ck_assert_int_eq(atomic_load(&o->max_running), 2); /* two keys at once */
    bus_topic_stats_t st = topic_stats(t);
    ck_assert_uint_eq(st.published, total);
    ck_assert_uint_eq(st.delivered, total);
    ck_assert_uint_eq(st.depth, 0);
    ck_assert_ok(bus_destroy(bus));
    free(o);
}
END_TEST

/* Unkeyed publishes, requests and group members work on keyed topics. */
static int echo(const bus_event_t *ev, void *ctx)
{
    (void)ctx;
    return bus_reply(ev, ev->data, ev->size);
}

START_TEST(keyed_topic_supports_the_rest)
{
    bus_t *bus = new_bus(2);
    bus_topic_t *t = new_topic(bus, "kv", 64, BUS_FULL_BLOCK, BUS_TOPIC_KEYED);
    subscribe(t, echo, NULL);
    ck_assert_ok(bus_publish(t, "k0", 2));
    int v = 7, got = 0;
    size_t size;
    ck_assert_ok(bus_request_wait(t, &v, sizeof(v), 1000000000u, &got, sizeof(got), &size));
    ck_assert_int_eq(got, 7);
    ck_assert_ok(bus_flush(bus));
    bus_topic_stats_t st = topic_stats(t);
    ck_assert_uint_eq(st.published, 2);
    ck_assert_uint_eq(st.handler_errors, 1); /* the plain event: not a request */
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

START_TEST(keyed_configurations)
{
    bus_config_t cfg;
    bus_config_init(&cfg);
    cfg.workers = 1;
    cfg.max_topics = 10;
    bus_t *bus;
    ck_assert_ok(bus_create(&bus, &cfg));
    bus_topic_config_t tc;
    bus_topic_config_init(&tc);
    tc.flags = BUS_TOPIC_KEYED | BUS_TOPIC_PARALLEL;
    bus_topic_t *t;
    ck_assert_int_eq(bus_topic_open(bus, "both", &tc, &t), -EINVAL);
    tc.flags = BUS_TOPIC_KEYED;
    ck_assert_int_eq(bus_topic_open(bus, "k", &tc, &t), -ENOSPC); /* 16 lanes + 1 > 10 */
    tc.capacity = 8; /* 4 lanes of 2 */
    ck_assert_ok(bus_topic_open(bus, "k", &tc, &t));
    ck_assert_int_eq(bus_publish_keyed(NULL, 1, NULL, 0), -EINVAL);
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("keyed");
    TCase *tc = tcase_create("keyed");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, same_key_in_order_keys_in_parallel);
    tcase_add_test(tc, keyed_topic_supports_the_rest);
    tcase_add_test(tc, keyed_configurations);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
