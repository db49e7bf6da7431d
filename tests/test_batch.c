/* test_batch.c - publishing many events with one reservation. */
#include "helpers.h"

enum { CAPACITY = 16 };

static bus_msg_t *numbered(uint32_t *values, size_t n)
{
    bus_msg_t *msgs = calloc(n, sizeof(*msgs));
    for (size_t i = 0; i < n; i++) {
        values[i] = (uint32_t)i;
        msgs[i] = (bus_msg_t){&values[i], sizeof(values[i])};
    }
    return msgs;
}

/* Checks that payload i arrives as seq first + i. */
struct sequence_check {
    atomic_ulong calls, errors;
};

static int check_payload_matches_seq(const bus_event_t *ev, void *ctx)
{
    struct sequence_check *c = ctx;
    uint32_t v;
    memcpy(&v, ev->data, sizeof(v));
    if (v != (ev->seq - 1) % 1000)
        atomic_fetch_add(&c->errors, 1);
    atomic_fetch_add(&c->calls, 1);
    return 0;
}

START_TEST(batch_keeps_array_order)
{
    bus_t *bus = new_bus(2);
    bus_topic_t *t = new_topic(bus, "batch", 64, BUS_FULL_BLOCK, 0);
    struct sequence_check c = {0};
    subscribe(t, check_payload_matches_seq, &c);
    uint32_t values[1000];
    bus_msg_t *msgs = numbered(values, 1000);
    for (int round = 0; round < 5; round++) {
        size_t accepted = 0;
        ck_assert_ok(bus_publish_batch(t, msgs, 1000, &accepted)); /* > capacity: waits */
        ck_assert_uint_eq(accepted, 1000);
    }
    ck_assert_ok(bus_flush(bus));
    ck_assert_uint_eq(atomic_load(&c.calls), 5000);
    ck_assert_uint_eq(atomic_load(&c.errors), 0);
    ck_assert_ok(bus_destroy(bus));
    free(msgs);
}
END_TEST

/* Holds the only worker so the ring stays as the test fills it. */
static bus_topic_t *held_topic(bus_t **bus, struct gate *gate, int policy)
{
    *bus = new_bus(1);
    bus_topic_t *t = new_topic(*bus, "held", CAPACITY, policy, 0);
    gate_init(gate);
    subscribe(t, wait_at_gate, gate);
    ck_assert_ok(bus_publish(t, NULL, 0));
    gate_await_waiters(gate, 1); /* one slot taken, CAPACITY - 1 free */
    return t;
}

/* Publishes a batch of 40 onto a held topic of @policy twice: the first
 * takes the CAPACITY - 1 free slots, the second (into a full ring) returns
 * @second_rc and takes none. Returns the topic's stats once it drained. */
static bus_topic_stats_t publish_40_twice_onto_held(int policy, int second_rc)
{
    bus_t *bus;
    struct gate gate;
    bus_topic_t *t = held_topic(&bus, &gate, policy);
    uint32_t values[40];
    bus_msg_t *msgs = numbered(values, 40);
    size_t accepted = 99;
    ck_assert_ok(bus_publish_batch(t, msgs, 40, &accepted));
    ck_assert_uint_eq(accepted, CAPACITY - 1);
    ck_assert_int_eq(bus_publish_batch(t, msgs, 40, &accepted), second_rc);
    ck_assert_uint_eq(accepted, 0);
    gate_open(&gate);
    ck_assert_ok(bus_flush(bus));
    bus_topic_stats_t st = topic_stats(t);
    ck_assert_uint_eq(st.published, CAPACITY);
    ck_assert_ok(bus_destroy(bus));
    free(msgs);
    return st;
}

START_TEST(fail_policy_accepts_what_fits)
{
    bus_topic_stats_t st = publish_40_twice_onto_held(BUS_FULL_FAIL, -EAGAIN);
    ck_assert_uint_eq(st.dropped, 0);
}
END_TEST

START_TEST(drop_policy_counts_the_rest)
{
    bus_topic_stats_t st = publish_40_twice_onto_held(BUS_FULL_DROP, 0);
    ck_assert_uint_eq(st.dropped, 40 - (CAPACITY - 1) + 40);
}
END_TEST

START_TEST(batch_rejects_bad_input_before_publishing)
{
    bus_t *bus = new_bus(1);
    bus_topic_t *t = new_topic(bus, "bad", CAPACITY, BUS_FULL_FAIL, 0);
    char big[300] = {0};
    bus_msg_t msgs[3] = {{"a", 1}, {big, 300}, {"c", 1}};
    size_t accepted = 99;
    ck_assert_int_eq(bus_publish_batch(t, msgs, 3, &accepted), -EMSGSIZE);
    ck_assert_uint_eq(accepted, 0);
    msgs[1] = (bus_msg_t){NULL, 4};
    ck_assert_int_eq(bus_publish_batch(t, msgs, 3, &accepted), -EINVAL);
    ck_assert_int_eq(bus_publish_batch(t, msgs, 3, NULL), -EINVAL);
    ck_assert_int_eq(bus_publish_batch(NULL, msgs, 3, &accepted), -EINVAL);
    ck_assert_int_eq(bus_publish_batch(t, NULL, 3, &accepted), -EINVAL);
    ck_assert_ok(bus_publish_batch(t, NULL, 0, &accepted));
    ck_assert_uint_eq(accepted, 0);
    ck_assert_ok(bus_flush(bus));
    bus_topic_stats_t st = topic_stats(t);
    ck_assert_uint_eq(st.published, 0);
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

/* A handler's batch onto its own full topic stops instead of hanging. */
struct batch_from_handler {
    bus_topic_t *topic;
    size_t accepted;
    int rc;
};

static int republish_batch(const bus_event_t *ev, void *ctx)
{
    struct batch_from_handler *b = ctx;
    if (ev->seq != 1)
        return 0;
    bus_msg_t msgs[4 * CAPACITY];
    for (int i = 0; i < 4 * CAPACITY; i++)
        msgs[i] = (bus_msg_t){NULL, 0};
    b->rc = bus_publish_batch(b->topic, msgs, 4 * CAPACITY, &b->accepted);
    return 0;
}

START_TEST(batch_from_handler_onto_full_topic)
{
    bus_t *bus = new_bus(1);
    bus_topic_t *t = new_topic(bus, "own", CAPACITY, BUS_FULL_BLOCK, 0);
    struct batch_from_handler b = {.topic = t, .rc = -1};
    subscribe(t, republish_batch, &b);
    ck_assert_ok(bus_publish(t, NULL, 0));
    ck_assert_ok(bus_flush(bus));
    ck_assert_ok(b.rc);
    ck_assert_uint_eq(b.accepted, CAPACITY - 1);
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("batch");
    TCase *tc = tcase_create("batch");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, batch_keeps_array_order);
    tcase_add_test(tc, fail_policy_accepts_what_fits);
    tcase_add_test(tc, drop_policy_counts_the_rest);
    tcase_add_test(tc, batch_rejects_bad_input_before_publishing);
    tcase_add_test(tc, batch_from_handler_onto_full_topic);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
