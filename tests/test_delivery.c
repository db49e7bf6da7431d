/* test_delivery.c - events reach every subscriber, once, in order. */
#include "helpers.h"

enum { EVENTS = 20000 };

START_TEST(fan_out_in_order)
{
    bus_t *bus = new_bus(2);
    bus_topic_t *t = new_topic(bus, "orders.created", 64, BUS_FULL_BLOCK, 0);
    struct counter c[3] = {0};
    for (int i = 0; i < 3; i++)
        subscribe(t, count_in_order, &c[i]);
    for (uint32_t i = 0; i < EVENTS; i++)
        ck_assert_ok(bus_publish(t, &i, sizeof(i)));
    ck_assert_ok(bus_flush(bus));
    for (int i = 0; i < 3; i++) {
        ck_assert_uint_eq(atomic_load(&c[i].calls), EVENTS);
        ck_assert_uint_eq(atomic_load(&c[i].order_errors), 0);
        ck_assert_uint_eq(c[i].last_seq, EVENTS);
    }
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

/* The handler sees the payload bytes, size, seq and a plausible timestamp. */
struct seen {
    uint64_t seq, publish_ns, value;
    size_t size;
    bus_topic_t *topic;
};

static int record(const bus_event_t *ev, void *ctx)
{
    struct seen *s = ctx;
    s->seq = ev->seq;
    s->publish_ns = ev->publish_ns;
    s->size = ev->size;
    s->topic = ev->topic;
    memcpy(&s->value, ev->data, sizeof(s->value));
    return 0;
}

START_TEST(event_fields)
{
    bus_t *bus = new_bus(1);
    bus_topic_t *t = new_topic(bus, "a", 8, BUS_FULL_BLOCK, 0);
    struct seen s = {0};
    subscribe(t, record, &s);
    struct timespec before;
    clock_gettime(CLOCK_MONOTONIC, &before);
    uint64_t value = 0x1122334455667788u;
    ck_assert_ok(bus_publish(t, &value, sizeof(value)));
    ck_assert_ok(bus_flush(bus));
    ck_assert_uint_eq(s.seq, 1);
    ck_assert_uint_eq(s.size, sizeof(value));
    ck_assert_uint_eq(s.value, value);
    ck_assert_ptr_eq(s.topic, t);
    uint64_t before_ns = (uint64_t)before.tv_sec * 1000000000u + (uint64_t)before.tv_nsec;
    ck_assert_uint_ge(s.publish_ns, before_ns);
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

/* Each producer stamps (producer, n); subscribers check per-producer order. */
enum { PRODUCERS = 4, PER_PRODUCER = 20000 };

struct stamp {
    uint32_t producer, n;
};

struct order_check {
    uint32_t next[PRODUCERS];
    uint64_t last_seq;
    atomic_ulong calls, errors;
};

static int check_producer_order(const bus_event_t *ev, void *ctx)
{
    struct order_check *o = ctx;
    struct stamp s;
    memcpy(&s, ev->data, sizeof(s));
    if (s.producer >= PRODUCERS || s.n != o->next[s.producer] || ev->seq != o->last_seq + 1)
        atomic_fetch_add(&o->errors, 1);
    else
        o->next[s.producer]++;
    o->last_seq = ev->seq;
    atomic_fetch_add(&o->calls, 1);
    return 0;
}

struct producer_arg {
    bus_topic_t *topic;
    uint32_t id;
};

static void *produce(void *arg)
{
    struct producer_arg *p = arg;
    for (uint32_t n = 0; n < PER_PRODUCER; n++) {
        struct stamp s = {p->id, n};
        ck_assert_ok(bus_publish(p->topic, &s, sizeof(s)));
    }
    return NULL;
}

START_TEST(several_producers_one_ordered_topic)
{
    bus_t *bus = new_bus(2);
    bus_topic_t *t = new_topic(bus, "ticks", 256, BUS_FULL_BLOCK, 0);
    struct order_check o[2] = {0};
    for (int i = 0; i < 2; i++)
        subscribe(t, check_producer_order, &o[i]);
    pthread_t threads[PRODUCERS];
    struct producer_arg args[PRODUCERS];
    for (uint32_t i = 0; i < PRODUCERS; i++) {
        args[i] = (struct producer_arg){t, i};
        pthread_create(&threads[i], NULL, produce, &args[i]);
    }
    for (int i = 0; i < PRODUCERS; i++)
        pthread_join(threads[i], NULL);
    ck_assert_ok(bus_flush(bus));
    for (int i = 0; i < 2; i++) {
        ck_assert_uint_eq(atomic_load(&o[i].calls), PRODUCERS * PER_PRODUCER);
        ck_assert_uint_eq(atomic_load(&o[i].errors), 0);
    }
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

/* Parallel topic: every event handled exactly once per subscriber, and
 * handlers really ran on more than one worker at once. */
struct once {
    atomic_uchar *hits;
    atomic_int running, max_running;
};

static int mark_once(const bus_event_t *ev, void *ctx)
{
    struct once *o = ctx;
    int now = atomic_fetch_add(&o->running, 1) + 1;
    int max = atomic_load(&o->max_running);
    while (now > max && !atomic_compare_exchange_weak(&o->max_running, &max, now))
        ;
    uint32_t id;
    memcpy(&id, ev->data, sizeof(id));
    atomic_fetch_add(&o->hits[id], 1);
    if (id % 64 == 0)
        sleep_ms(1); /* long enough for the other worker to overlap */
    atomic_fetch_sub(&o->running, 1);
    return 0;
}

START_TEST(parallel_topic_exactly_once)
{
    bus_t *bus = new_bus(2);
    bus_topic_t *t = new_topic(bus, "jobs", 128, BUS_FULL_BLOCK, BUS_TOPIC_PARALLEL);
    struct once o = {.hits = calloc(EVENTS, 1)};
    subscribe(t, mark_once, &o);
    for (uint32_t i = 0; i < EVENTS; i++)
        ck_assert_ok(bus_publish(t, &i, sizeof(i)));
    ck_assert_ok(bus_flush(bus));
    for (uint32_t i = 0; i < EVENTS; i++)
        ck_assert_uint_eq(atomic_load(&o.hits[i]), 1);
    ck_assert_int_eq(atomic_load(&o.max_running), 2);
    bus_topic_stats_t st = topic_stats(t);
    ck_assert_uint_eq(st.delivered, EVENTS);
    ck_assert_uint_eq(st.depth, 0);
    ck_assert_ok(bus_destroy(bus));
    free(o.hits);
}
END_TEST

/* A parallel topic whose only busy worker is stuck in a handler gets
 * another worker once its ring is full and a publisher waits for room
 * (dispatch.c, bus__topic_recruit): the events behind the stuck one are
 * handled while it still blocks, and the last of them lets it go. Hangs
 * (test timeout) if no helper comes. */
enum { STUCK_CAPACITY = 64 };

struct stuck {
    struct gate gate;
    atomic_uint others;
};

static int stuck_on_first(const bus_event_t *ev, void *ctx)
{
    struct stuck *s = ctx;
    if (ev->seq == 1)
        gate_pass(&s->gate);
    else if (atomic_fetch_add(&s->others, 1) + 1 == STUCK_CAPACITY - 1)
        gate_open(&s->gate); /* every other event of the full ring */
    return 0;
}

START_TEST(parallel_topic_helped_past_stuck_handler)
{
    bus_t *bus = new_bus(2);
    bus_topic_t *t =
        new_topic(bus, "stuck", STUCK_CAPACITY, BUS_FULL_BLOCK, BUS_TOPIC_PARALLEL);
    struct stuck s = {.others = 0};
    gate_init(&s.gate);
    subscribe(t, stuck_on_first, &s);
    uint32_t v = 0;
    ck_assert_ok(bus_publish(t, &v, sizeof(v)));
    gate_await_waiters(&s.gate, 1); /* a worker holds event 1 */
    /* Fills the ring, then waits for room: only the stuck handler's return
     * frees slots, and it waits for the other 63 events. */
    for (v = 1; v <= STUCK_CAPACITY; v++)
        ck_assert_ok(bus_publish(t, &v, sizeof(v)));
    ck_assert_ok(bus_flush(bus));
    ck_assert_uint_eq(atomic_load(&s.others), STUCK_CAPACITY);
    bus_topic_stats_t st = topic_stats(t);
    ck_assert_uint_eq(st.delivered, STUCK_CAPACITY + 1);
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

static int fail_odd(const bus_event_t *ev, void *ctx);

static bool only_even(const bus_event_t *ev, void *ctx)
{
    (void)ctx;
    return ev->seq % 2 == 0;
}

/* Per-subscription counters of a parallel topic, which workers add up per
 * run of events (deliver.c): exact after a flush, for more subscriptions than
 * the per-run tally holds (16), with filters, failures and a queue group. */
START_TEST(parallel_sub_counters_add_up)
{
    enum { SUBS = 20, GROUP = 3, N = 2001 };
    bus_t *bus = new_bus(2);
    bus_topic_t *t = new_topic(bus, "counted", 64, BUS_FULL_BLOCK, BUS_TOPIC_PARALLEL);
    struct counter c = {0};
    bus_sub_t *subs[SUBS + GROUP];
    for (int i = 0; i < SUBS + GROUP; i++) {
        bus_sub_options_t o;
        bus_sub_options_init(&o);
        if (i % 4 == 1)
            o.filter = only_even;
        if (i >= SUBS)
            o.group = "g";
        ck_assert_ok(bus_subscribe_ex(t, i % 4 == 2 ? fail_odd : count_only, &c, &o, &subs[i]));
    }
    for (uint32_t e = 0; e < N; e++)
        ck_assert_ok(bus_publish(t, &e, sizeof(e)));
    ck_assert_ok(bus_flush(bus));
    uint64_t group_delivered = 0, group_seen = 0;
    for (int i = 0; i < SUBS + GROUP; i++) {
        bus_sub_stats_t ss;
        ck_assert_ok(bus_sub_stats(subs[i], &ss));
        if (i >= SUBS) {
            group_delivered += ss.delivered;
            group_seen += ss.delivered + ss.handler_errors;
            continue;
        }
        uint64_t passed = i % 4 == 1 ? N / 2 : N; /* even seqs 2..2000 */
        ck_assert_uint_eq(ss.filtered, N - passed);
        ck_assert_uint_eq(ss.handler_errors, i % 4 == 2 ? (N + 1) / 2 : 0);
        ck_assert_uint_eq(ss.delivered, passed - ss.handler_errors);
    }
    ck_assert_uint_eq(group_seen, N);
    ck_assert_uint_gt(group_delivered, 0);
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

static int fail_odd(const bus_event_t *ev, void *ctx)
{
    (void)ctx;
    return ev->seq % 2;
}

START_TEST(stats_add_up)
{
    bus_t *bus = new_bus(2);
    bus_topic_t *t = new_topic(bus, "stats", 16, BUS_FULL_BLOCK, 0);
    struct counter c = {0};
    bus_sub_t *a, *b;
    ck_assert_ok(bus_subscribe(t, count_only, &c, &a));
    ck_assert_ok(bus_subscribe(t, fail_odd, NULL, &b));
    for (uint32_t i = 0; i < 1001; i++)
        ck_assert_ok(bus_publish(t, &i, sizeof(i)));
    ck_assert_ok(bus_flush(bus));
    bus_topic_stats_t st = topic_stats(t);
    ck_assert_uint_eq(st.published, 1001);
    ck_assert_uint_eq(st.handler_errors, 501);         /* odd seqs 1..1001 */
    ck_assert_uint_eq(st.delivered, 1001 + 500);       /* counter + even seqs */
    ck_assert_uint_eq(st.dropped, 0);
    ck_assert_uint_eq(st.depth, 0);
    ck_assert_uint_ge(st.high_water, 1);
    ck_assert_uint_le(st.high_water, 16);
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

static int slow_count(const bus_event_t *ev, void *ctx)
{
    if (ev->seq % 100 == 0)
        sleep_ms(1);
    return count_only(ev, ctx);
}

START_TEST(flush_waits_for_handlers)
{
    bus_t *bus = new_bus(2);
    bus_topic_t *t1 = new_topic(bus, "one", 1024, BUS_FULL_BLOCK, 0);
    bus_topic_t *t2 = new_topic(bus, "two", 1024, BUS_FULL_BLOCK, BUS_TOPIC_PARALLEL);
    struct counter c1 = {0}, c2 = {0};
    bus_sub_t *s1, *s2;
    ck_assert_ok(bus_subscribe(t1, slow_count, &c1, &s1));
    ck_assert_ok(bus_subscribe(t2, slow_count, &c2, &s2));
    for (uint32_t i = 0; i < 1000; i++) {
        ck_assert_ok(bus_publish(t1, &i, sizeof(i)));
        ck_assert_ok(bus_publish(t2, &i, sizeof(i)));
    }
    ck_assert_ok(bus_flush(bus));
    ck_assert_uint_eq(atomic_load(&c1.calls), 1000);
    ck_assert_uint_eq(atomic_load(&c2.calls), 1000);
    ck_assert_ok(bus_flush(bus)); /* nothing pending: returns at once */
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

START_TEST(destroy_delivers_queued_events)
{
    bus_t *bus = new_bus(1);
    bus_topic_t *t = new_topic(bus, "drain", 4096, BUS_FULL_BLOCK, 0);
    struct counter c = {0};
    subscribe(t, slow_count, &c);
    for (uint32_t i = 0; i < 4000; i++)
        ck_assert_ok(bus_publish(t, &i, sizeof(i)));
    ck_assert_ok(bus_destroy(bus));
    ck_assert_uint_eq(atomic_load(&c.calls), 4000);
}
END_TEST

START_TEST(event_without_subscriber_is_consumed)
{
    bus_t *bus = new_bus(1);
    bus_topic_t *t = new_topic(bus, "void", 4, BUS_FULL_FAIL, 0);
    for (uint32_t i = 0; i < 100; i++) {
        int rc;
        while ((rc = bus_publish(t, &i, sizeof(i))) == -EAGAIN)
            sleep_ms(1);
        ck_assert_ok(rc);
    }
    ck_assert_ok(bus_flush(bus));
    bus_topic_stats_t st = topic_stats(t);
    ck_assert_uint_eq(st.published, 100);
    ck_assert_uint_eq(st.delivered, 0);
    ck_assert_uint_eq(st.depth, 0);
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

START_TEST(empty_payload)
{
    bus_t *bus = new_bus(1);
    bus_topic_config_t cfg;
    bus_topic_config_init(&cfg);
    cfg.max_payload = 0;
    bus_topic_t *t;
    ck_assert_ok(bus_topic_open(bus, "signal", &cfg, &t));
    struct counter c = {0};
    subscribe(t, count_only, &c);
    ck_assert_ok(bus_publish(t, NULL, 0));
    ck_assert_int_eq(bus_publish(t, "x", 1), -EMSGSIZE);
    ck_assert_ok(bus_flush(bus));
    ck_assert_uint_eq(atomic_load(&c.calls), 1);
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

/* Checks that each event's payload is bytes seq, seq + 1, ... of its size
 * (size = seq - 1, so every size from 0 up arrives once). */
static int check_payload(const bus_event_t *ev, void *ctx)
{
    struct counter *c = ctx;
    const unsigned char *p = ev->data;
    bool intact = ev->size == ev->seq - 1;
    for (size_t i = 0; intact && i < ev->size; i++)
        intact = p[i] == (unsigned char)(ev->seq + i);
    if (!intact)
        atomic_fetch_add(&c->order_errors, 1);
    atomic_fetch_add(&c->calls, 1);
    return 0;
}

/* Every payload size from 0 to 200 bytes arrives intact, through each way
 * the payload is copied (small sizes are copied inline, larger by memcpy). */
START_TEST(payloads_of_every_size_intact)
{
    enum { LARGEST = 200 };
    bus_t *bus = new_bus(1);
    bus_topic_config_t cfg;
    bus_topic_config_init(&cfg);
    cfg.capacity = 256;
    cfg.max_payload = LARGEST;
    bus_topic_t *t;
    ck_assert_ok(bus_topic_open(bus, "sizes", &cfg, &t));
    struct counter c = {0};
    subscribe(t, check_payload, &c);
    unsigned char buf[LARGEST + 1];
    for (size_t size = 0; size <= LARGEST; size++) {
        uint64_t seq = size + 1;
        for (size_t i = 0; i < size; i++)
            buf[i] = (unsigned char)(seq + i);
        ck_assert_ok(bus_publish(t, buf, size));
    }
    ck_assert_ok(bus_flush(bus));
    ck_assert_uint_eq(atomic_load(&c.calls), LARGEST + 1);
    ck_assert_uint_eq(atomic_load(&c.order_errors), 0);
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("delivery");
    TCase *tc = tcase_create("delivery");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, fan_out_in_order);
    tcase_add_test(tc, event_fields);
    tcase_add_test(tc, several_producers_one_ordered_topic);
    tcase_add_test(tc, parallel_topic_exactly_once);
    tcase_add_test(tc, parallel_topic_helped_past_stuck_handler);
    tcase_add_test(tc, parallel_sub_counters_add_up);
    tcase_add_test(tc, stats_add_up);
    tcase_add_test(tc, flush_waits_for_handlers);
    tcase_add_test(tc, destroy_delivers_queued_events);
    tcase_add_test(tc, event_without_subscriber_is_consumed);
    tcase_add_test(tc, empty_payload);
    tcase_add_test(tc, payloads_of_every_size_intact);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
