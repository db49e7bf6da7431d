/* test_ack.c - acknowledged publish, zero-copy publish and dead letters. */
#include "helpers.h"

struct acks {
    atomic_ulong calls;
    atomic_ulong handled, failed;
    atomic_ulong dropped;
    atomic_ulong last_seq;
};

static void on_complete(const bus_completion_t *c, void *arg)
{
    struct acks *a = arg;
    if (c->status == -EAGAIN)
        atomic_fetch_add(&a->dropped, 1);
    atomic_fetch_add(&a->handled, c->handled);
    atomic_fetch_add(&a->failed, c->failed);
    atomic_store(&a->last_seq, c->seq);
    atomic_fetch_add(&a->calls, 1);
}

static int fail_always(const bus_event_t *ev, void *ctx)
{
    (void)ev;
    (void)ctx;
    return -5;
}

static bus_publish_options_t acked(struct acks *a)
{
    bus_publish_options_t opts;
    bus_publish_options_init(&opts);
    opts.on_complete = on_complete;
    opts.arg = a;
    return opts;
}

START_TEST(ack_reports_every_subscriber_once)
{
    bus_t *bus = new_bus(2);
    bus_topic_t *t = new_topic(bus, "acked", 64, BUS_FULL_BLOCK, 0);
    struct counter c1 = {0}, c2 = {0};
    bus_sub_t *s1, *s2, *s3;
    ck_assert_ok(bus_subscribe(t, count_only, &c1, &s1));
    ck_assert_ok(bus_subscribe(t, count_only, &c2, &s2));
    ck_assert_ok(bus_subscribe(t, fail_always, NULL, &s3));
    struct acks a = {0};
    bus_publish_options_t opts = acked(&a);
    for (uint32_t i = 0; i < 1000; i++)
        ck_assert_ok(bus_publish_ex(t, &i, sizeof(i), &opts));
    ck_assert_ok(bus_flush(bus));
    ck_assert_uint_eq(atomic_load(&a.calls), 1000);
    ck_assert_uint_eq(atomic_load(&a.handled), 2000);
    ck_assert_uint_eq(atomic_load(&a.failed), 1000);
    ck_assert_uint_eq(atomic_load(&a.last_seq), 1000);
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

START_TEST(ack_of_dropped_event)
{
    bus_t *bus = new_bus(1);
    bus_topic_t *t = new_topic(bus, "drops", 2, BUS_FULL_DROP, 0);
    struct gate gate;
    gate_init(&gate);
    subscribe(t, wait_at_gate, &gate);
    struct acks a = {0};
    bus_publish_options_t opts = acked(&a);
    ck_assert_ok(bus_publish_ex(t, NULL, 0, &opts));
    gate_await_waiters(&gate, 1);
    ck_assert_ok(bus_publish_ex(t, NULL, 0, &opts));
    ck_assert_ok(bus_publish_ex(t, NULL, 0, &opts)); /* full: dropped */
    ck_assert_uint_eq(atomic_load(&a.dropped), 1);
    ck_assert_uint_eq(atomic_load(&a.calls), 1); /* the drop, reported at once */
    gate_open(&gate);
    ck_assert_ok(bus_flush(bus));
    ck_assert_uint_eq(atomic_load(&a.calls), 3);
    ck_assert_uint_eq(atomic_load(&a.handled), 2);
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

START_TEST(ack_without_subscribers)
{
    bus_t *bus = new_bus(1);
    bus_topic_t *t = new_topic(bus, "nobody", 8, BUS_FULL_BLOCK, 0);
    struct acks a = {0};
    bus_publish_options_t opts = acked(&a);
    ck_assert_ok(bus_publish_ex(t, "x", 1, &opts));
    ck_assert_ok(bus_flush(bus));
    ck_assert_uint_eq(atomic_load(&a.calls), 1);
    ck_assert_uint_eq(atomic_load(&a.handled), 0);
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

/* The seq a publisher is told is the one its handler sees. */
static int note_seq(const bus_event_t *ev, void *ctx)
{
    atomic_store((_Atomic uint64_t *)ctx, ev->seq);
    return 0;
}

START_TEST(publish_tells_its_seq)
{
    bus_t *bus = new_bus(1);
    bus_topic_t *t = new_topic(bus, "seqs", 2, BUS_FULL_DROP, 0);
    _Atomic uint64_t seen = 0;
    subscribe(t, note_seq, &seen);
    bus_publish_options_t opts;
    bus_publish_options_init(&opts);
    uint64_t seq = 0;
    opts.seq = &seq;
    for (uint64_t i = 1; i <= 5; i++) {
        ck_assert_ok(bus_publish_ex(t, "x", 1, &opts));
        ck_assert_uint_eq(seq, i);
        ck_assert_ok(bus_flush(bus));
        ck_assert_uint_eq(atomic_load(&seen), seq);
    }
    /* Refused: seq untouched. */
    seq = 77;
    ck_assert_int_eq(bus_publish_ex(t, "toolong", 1000, &opts), -EMSGSIZE);
    ck_assert_uint_eq(seq, 77);
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

/* Zero copy: handlers see the caller's bytes; release comes once, after. */
struct buffer {
    atomic_int released;
    atomic_int seen_while_handled;
    char bytes[1024];
};

static int read_buffer(const bus_event_t *ev, void *ctx)
{
    (void)ctx;
    const struct buffer *b = (const struct buffer *)((const char *)ev->data -
                                                     offsetof(struct buffer, bytes));
    if (atomic_load(&b->released) == 0 && ev->size == sizeof(b->bytes) &&
        ((const char *)ev->data)[1023] == 'z')
        atomic_fetch_add((atomic_int *)&b->seen_while_handled, 1);
    return 0;
}

static void release_buffer(const bus_completion_t *c, void *arg)
{
    struct buffer *b = arg;
    ck_assert_ptr_eq(c->data, b->bytes);
    atomic_fetch_add(&b->released, 1);
}

START_TEST(zero_copy_hands_over_and_releases)
{
    bus_t *bus = new_bus(2);
    bus_topic_t *t = new_topic(bus, "zc", 8, BUS_FULL_BLOCK, 0); /* max_payload 256 */
    bus_sub_t *s1, *s2;
    ck_assert_ok(bus_subscribe(t, read_buffer, NULL, &s1));
    ck_assert_ok(bus_subscribe(t, read_buffer, NULL, &s2));
    struct buffer *b = calloc(1, sizeof(*b));
    memset(b->bytes, 'z', sizeof(b->bytes));
    bus_publish_options_t opts;
    bus_publish_options_init(&opts);
    opts.zero_copy = true;
    opts.on_complete = release_buffer;
    opts.arg = b;
    ck_assert_ok(bus_publish_ex(t, b->bytes, sizeof(b->bytes), &opts)); /* > max_payload */
    ck_assert_ok(bus_flush(bus));
    ck_assert_int_eq(atomic_load(&b->seen_while_handled), 2);
    ck_assert_int_eq(atomic_load(&b->released), 1);
    free(b);
    opts.on_complete = NULL;
    ck_assert_int_eq(bus_publish_ex(t, "x", 1, &opts), -EINVAL); /* needs a release */
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

/* Zero-copy events still queued are released when the bus shuts down. */
START_TEST(zero_copy_release_on_destroy)
{
    bus_t *bus = new_bus(1);
    bus_topic_t *t = new_topic(bus, "zcd", 64, BUS_FULL_BLOCK, 0);
    struct buffer *b = calloc(1, sizeof(*b));
    bus_publish_options_t opts;
    bus_publish_options_init(&opts);
    opts.zero_copy = true;
    opts.on_complete = release_buffer;
    opts.arg = b;
    for (int i = 0; i < 50; i++)
        ck_assert_ok(bus_publish_ex(t, b->bytes, 16, &opts));
    ck_assert_ok(bus_destroy(bus));
    ck_assert_int_eq(atomic_load(&b->released), 50);
    free(b);
}
END_TEST

struct letters {
    atomic_ulong count;
    uint64_t seq;
    int error;
    uint32_t copied;
    uint64_t size;
    uint32_t value;
    bus_topic_t *topic;
};

static int collect_letter(const bus_event_t *ev, void *ctx)
{
    struct letters *l = ctx;
    bus_dead_letter_t d;
    memcpy(&d, ev->data, sizeof(d));
    l->seq = d.seq;
    l->error = d.error;
    l->copied = d.copied;
    l->size = d.size;
    l->topic = d.topic;
    if (d.copied >= sizeof(l->value))
        memcpy(&l->value, (const char *)ev->data + sizeof(d), sizeof(l->value));
    atomic_fetch_add(&l->count, 1);
    return -1; /* a failing dead-letter handler: must not loop */
}

START_TEST(failed_events_become_dead_letters)
{
    bus_t *bus = new_bus(2);
    bus_topic_t *dlq;
    ck_assert_ok(bus_dead_letter_topic(bus, NULL, &dlq));
    bus_topic_t *again;
    ck_assert_ok(bus_dead_letter_topic(bus, NULL, &again));
    ck_assert_ptr_eq(dlq, again);
    ck_assert_str_eq(bus_topic_name(dlq), "bus.dead_letter");
    struct letters l = {0};
    subscribe(dlq, collect_letter, &l);
    bus_topic_t *t = new_topic(bus, "orders", 8, BUS_FULL_BLOCK, 0);
    subscribe(t, fail_always, NULL);
    uint32_t value = 4242;
    ck_assert_ok(bus_publish(t, &value, sizeof(value)));
    ck_assert_ok(bus_flush(bus));
    ck_assert_ok(bus_flush(bus)); /* the dead letter, published during the first */
    ck_assert_uint_eq(atomic_load(&l.count), 1);
    ck_assert_ptr_eq(l.topic, t);
    ck_assert_uint_eq(l.seq, 1);
    ck_assert_int_eq(l.error, -5);
    ck_assert_uint_eq(l.size, sizeof(value));
    ck_assert_uint_eq(l.copied, sizeof(value));
    ck_assert_uint_eq(l.value, 4242);
    bus_topic_stats_t st = topic_stats(dlq);
    ck_assert_uint_eq(st.published, 1);     /* its own failure was not re-routed */
    ck_assert_uint_eq(st.handler_errors, 1);
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

START_TEST(dead_letter_config_checked)
{
    bus_t *bus = new_bus(1);
    bus_topic_config_t cfg;
    bus_topic_config_init(&cfg);
    cfg.max_payload = 4;
    bus_topic_t *dlq;
    ck_assert_int_eq(bus_dead_letter_topic(bus, &cfg, &dlq), -EINVAL);
    ck_assert_int_eq(bus_dead_letter_topic(NULL, NULL, &dlq), -EINVAL);
    ck_assert_int_eq(bus_dead_letter_topic(bus, NULL, NULL), -EINVAL);
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

/* A dead letter has no key: a keyed dead-letter topic was accepted, and
 * routing then wrote letters into the keyed topic's own ring (2 slots, no
 * room for a payload): a heap-buffer-overflow under ASan. */
START_TEST(dead_letter_topic_is_not_keyed)
{
    bus_t *bus = new_bus(1);
    bus_topic_config_t cfg;
    bus_topic_config_init(&cfg);
    cfg.max_payload = 64;
    cfg.flags = BUS_TOPIC_KEYED;
    bus_topic_t *dlq;
    ck_assert_int_eq(bus_dead_letter_topic(bus, &cfg, &dlq), -EINVAL);
    /* Failing handlers then have no dead-letter topic to write to. */
    bus_topic_t *t = new_topic(bus, "orders", 8, BUS_FULL_BLOCK, 0);
    subscribe(t, fail_always, NULL);
    uint64_t value = 7;
    ck_assert_ok(bus_publish(t, &value, sizeof(value)));
    ck_assert_ok(bus_flush(bus));
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

/* Parallel and priority dead-letter topics make sense (letters handled
 * concurrently, or after other work) and get every letter. */
START_TEST(dead_letter_topic_parallel_or_low_priority)
{
    const unsigned flags[] = {BUS_TOPIC_PARALLEL, BUS_TOPIC_LOW_PRIORITY};
    for (size_t f = 0; f < sizeof(flags) / sizeof(flags[0]); f++) {
        bus_t *bus = new_bus(2);
        bus_topic_config_t cfg;
        bus_topic_config_init(&cfg);
        cfg.capacity = 256;
        cfg.max_payload = sizeof(bus_dead_letter_t) + 8;
        cfg.flags = flags[f];
        bus_topic_t *dlq;
        ck_assert_ok(bus_dead_letter_topic(bus, &cfg, &dlq));
        struct counter letters = {0};
        subscribe(dlq, count_only, &letters);
        bus_topic_t *t = new_topic(bus, "orders", 256, BUS_FULL_BLOCK, 0);
        subscribe(t, fail_always, NULL);
        for (uint64_t i = 0; i < 100; i++)
            ck_assert_ok(bus_publish(t, &i, sizeof(i)));
        ck_assert_ok(bus_flush(bus));
        ck_assert_ok(bus_flush(bus)); /* the letters, published during the first */
        ck_assert_uint_eq(atomic_load(&letters.calls), 100);
        ck_assert_ok(bus_destroy(bus));
    }
}
END_TEST

/* NULL means "the dead-letter topic as it is": after a call with a
 * configuration it returned -EEXIST (NULL stood for the defaults). */
START_TEST(dead_letter_topic_null_finds_configured_one)
{
    bus_t *bus = new_bus(1);
    bus_topic_config_t cfg;
    bus_topic_config_init(&cfg);
    cfg.capacity = 64;
    cfg.max_payload = sizeof(bus_dead_letter_t) + 32;
    bus_topic_t *dlq, *again;
    ck_assert_ok(bus_dead_letter_topic(bus, &cfg, &dlq));
    ck_assert_ok(bus_dead_letter_topic(bus, NULL, &again));
    ck_assert_ptr_eq(again, dlq);
    ck_assert_ok(bus_dead_letter_topic(bus, &cfg, &again)); /* same configuration */
    ck_assert_ptr_eq(again, dlq);
    cfg.capacity = 128; /* a different one is still refused */
    ck_assert_int_eq(bus_dead_letter_topic(bus, &cfg, &again), -EEXIST);
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("ack");
    TCase *tc = tcase_create("ack");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, ack_reports_every_subscriber_once);
    tcase_add_test(tc, ack_of_dropped_event);
    tcase_add_test(tc, ack_without_subscribers);
    tcase_add_test(tc, publish_tells_its_seq);
    tcase_add_test(tc, zero_copy_hands_over_and_releases);
    tcase_add_test(tc, zero_copy_release_on_destroy);
    tcase_add_test(tc, failed_events_become_dead_letters);
    tcase_add_test(tc, dead_letter_config_checked);
    tcase_add_test(tc, dead_letter_topic_is_not_keyed);
    tcase_add_test(tc, dead_letter_topic_parallel_or_low_priority);
    tcase_add_test(tc, dead_letter_topic_null_finds_configured_one);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
