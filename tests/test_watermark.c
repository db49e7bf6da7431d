/* test_watermark.c - depth watermarks: one call per crossing, whoever races. */
#include "helpers.h"

enum { CAP = 64, HIGH = 48, LOW = 8 };

/* What a watermark callback saw. */
struct marks {
    bus_topic_t *topic;
    atomic_int above, below;
    atomic_int out_of_order; /* two calls in a row with the same direction */
    atomic_int bad_depth;    /* above under HIGH, or below over LOW */
    atomic_int wrong_topic;
    atomic_int reentry_rc;   /* bus_topic_watermarks() from the callback */
    atomic_bool is_above;
    pthread_mutex_t lock;
    pthread_cond_t cond;
};

static void marks_init(struct marks *m, bus_topic_t *t)
{
    memset(m, 0, sizeof(*m));
    m->topic = t;
    pthread_mutex_init(&m->lock, NULL);
    pthread_cond_init(&m->cond, NULL);
}

static void on_mark(bus_topic_t *topic, uint32_t depth, bool above, void *ctx)
{
    struct marks *m = ctx;
    if (topic != m->topic)
        atomic_fetch_add(&m->wrong_topic, 1);
    if (atomic_exchange(&m->is_above, above) == above)
        atomic_fetch_add(&m->out_of_order, 1);
    if (above ? depth < HIGH : depth > LOW)
        atomic_fetch_add(&m->bad_depth, 1);
    atomic_store(&m->reentry_rc, bus_topic_watermarks(topic, HIGH, LOW, on_mark, ctx));
    pthread_mutex_lock(&m->lock);
    atomic_fetch_add(above ? &m->above : &m->below, 1);
    pthread_cond_broadcast(&m->cond);
    pthread_mutex_unlock(&m->lock);
}

/* Subscribes @fn to @t and readies @m for its marks, not set yet. */
static void subscribe_unwatched(bus_topic_t *t, bus_handler_fn fn, struct marks *m)
{
    subscribe(t, fn, NULL);
    marks_init(m, t);
}

/* Subscribes @fn to @t and watches it with the marks HIGH and LOW into @m. */
static void watch(bus_topic_t *t, bus_handler_fn fn, struct marks *m)
{
    subscribe_unwatched(t, fn, m);
    ck_assert_ok(bus_topic_watermarks(t, HIGH, LOW, on_mark, m));
}

/* Waits (at most 10 s) until @count reaches @n. */
static void await_count(struct marks *m, atomic_int *count, int n)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 10;
    pthread_mutex_lock(&m->lock);
    while (atomic_load(count) < n &&
           pthread_cond_timedwait(&m->cond, &m->lock, &until) == 0)
        ;
    pthread_mutex_unlock(&m->lock);
    ck_assert_int_ge(atomic_load(count), n);
}

static void assert_sane(struct marks *m)
{
    ck_assert_int_eq(atomic_load(&m->out_of_order), 0);
    ck_assert_int_eq(atomic_load(&m->bad_depth), 0);
    ck_assert_int_eq(atomic_load(&m->wrong_topic), 0);
}

/* Handlers block while the test holds `held`. */
static pthread_mutex_t held = PTHREAD_MUTEX_INITIALIZER;

static int pass_held(const bus_event_t *ev, void *ctx)
{
    (void)ev;
    (void)ctx;
    pthread_mutex_lock(&held);
    pthread_mutex_unlock(&held);
    return 0;
}

/* Lets the handlers held go, and waits until the drain made @n below calls
 * in all. */
static void let_go_and_drain(bus_t *bus, struct marks *m, int n)
{
    pthread_mutex_unlock(&held);
    ck_assert_ok(bus_flush(bus));
    await_count(m, &m->below, n);
}

/* Publishes until the ring is full (BUS_FULL_FAIL topics). */
static void fill(bus_topic_t *t)
{
    int x = 0, rc;
    while ((rc = bus_publish(t, &x, sizeof(x))) == 0)
        ;
    ck_assert_int_eq(rc, -EAGAIN);
}

/* Holds the handlers (pass_held) and fills the ring. */
static void hold_and_fill(bus_topic_t *t)
{
    pthread_mutex_lock(&held);
    fill(t);
}

/* Three rounds of: hold the handlers, fill the ring far past the high mark,
 * let go, drain. One above and one below call per round. */
static void rounds(unsigned flags)
{
    bus_t *bus = new_bus(2);
    bus_topic_t *t = new_topic(bus, "wm.rounds", CAP, BUS_FULL_FAIL, flags);
    struct marks m;
    watch(t, pass_held, &m);
    for (int round = 1; round <= 3; round++) {
        hold_and_fill(t);
        await_count(&m, &m.above, round);
        let_go_and_drain(bus, &m, round);
        ck_assert_int_eq(atomic_load(&m.above), round);
        ck_assert_int_eq(atomic_load(&m.below), round);
    }
    assert_sane(&m);
    ck_assert_int_eq(atomic_load(&m.reentry_rc), -EDEADLK);
    ck_assert_ok(bus_destroy(bus));
}

START_TEST(one_call_per_crossing_ordered)
{
    rounds(0);
}
END_TEST

START_TEST(one_call_per_crossing_parallel)
{
    rounds(BUS_TOPIC_PARALLEL);
}
END_TEST

struct producer {
    bus_topic_t *topic;
    struct gate *start;
    long events;
};

static void *produce(void *arg)
{
    struct producer *p = arg;
    gate_pass(p->start);
    int x = 0;
    for (long i = 0; i < p->events; i++)
        ck_assert_ok(bus_publish(p->topic, &x, sizeof(x)));
    return NULL;
}

enum { PRODUCERS = 4 };

/* Producers started together at a gate. */
static void run_producers(bus_topic_t *t, long events)
{
    struct gate start;
    gate_init(&start);
    pthread_t th[PRODUCERS];
    struct producer p = {.topic = t, .start = &start, .events = events};
    for (int i = 0; i < PRODUCERS; i++)
        ck_assert_ok(pthread_create(&th[i], NULL, produce, &p));
    gate_await_waiters(&start, PRODUCERS);
    gate_open(&start);
    for (int i = 0; i < PRODUCERS; i++)
        pthread_join(th[i], NULL);
}

START_TEST(producers_crossing_together_call_once)
{
    bus_t *bus = new_bus(1);
    bus_topic_t *t = new_topic(bus, "wm.together", CAP, BUS_FULL_DROP, 0);
    struct marks m;
    watch(t, pass_held, &m);
    pthread_mutex_lock(&held);
    /* Each producer alone would fill the ring: they all publish across the
     * high mark together, the extra events are dropped. */
    run_producers(t, CAP);
    ck_assert_int_eq(atomic_load(&m.above), 1);
    ck_assert_int_eq(atomic_load(&m.below), 0);
    let_go_and_drain(bus, &m, 1);
    ck_assert_int_eq(atomic_load(&m.above), 1);
    assert_sane(&m);
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

/* A handler slow enough that the ring fills under a storm now and then. */
static int spin_a_little(const bus_event_t *ev, void *ctx)
{
    (void)ev;
    (void)ctx;
    for (volatile int i = 0; i < 2000; i++)
        ;
    return 0;
}

START_TEST(storm_alternates_and_respects_hysteresis)
{
    bus_t *bus = new_bus(1);
    bus_topic_t *t = new_topic(bus, "wm.storm", CAP, BUS_FULL_BLOCK, 0);
    struct marks m;
    watch(t, spin_a_little, &m);
    enum { EVENTS = 20000 };
    run_producers(t, EVENTS);
    ck_assert_ok(bus_flush(bus));
    int above = atomic_load(&m.above);
    await_count(&m, &m.below, above);
    assert_sane(&m);
    ck_assert_int_ge(above, 1); /* four producers against one slow worker */
    ck_assert_int_eq(atomic_load(&m.below), above);
    /* Between two above calls the depth went from LOW to HIGH: at least
     * HIGH - LOW publishes, never one call per event. */
    ck_assert_int_le(above, (long)PRODUCERS * EVENTS / (HIGH - LOW) + 1);
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

START_TEST(bad_input)
{
    bus_t *bus = new_bus(1);
    bus_topic_t *t = new_topic(bus, "wm.bad", CAP, BUS_FULL_FAIL, 0);
    struct marks m;
    marks_init(&m, t);
    ck_assert_int_eq(bus_topic_watermarks(NULL, HIGH, LOW, on_mark, &m), -EINVAL);
    ck_assert_int_eq(bus_topic_watermarks(t, HIGH, HIGH, on_mark, &m), -EINVAL);
    ck_assert_int_eq(bus_topic_watermarks(t, HIGH, HIGH + 1, on_mark, &m), -EINVAL);
    ck_assert_int_eq(bus_topic_watermarks(t, CAP + 1, LOW, on_mark, &m), -EINVAL);
    ck_assert_ok(bus_topic_watermarks(t, CAP, LOW, on_mark, &m));
    ck_assert_ok(bus_topic_watermarks(t, 0, 0, on_mark, &m));
    ck_assert_ok(bus_topic_watermarks(t, HIGH, LOW, NULL, NULL));
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

START_TEST(turned_off_calls_nothing)
{
    bus_t *bus = new_bus(1);
    bus_topic_t *t = new_topic(bus, "wm.off", CAP, BUS_FULL_FAIL, 0);
    struct marks m;
    watch(t, pass_held, &m);
    ck_assert_ok(bus_topic_watermarks(t, 0, 0, NULL, NULL));
    hold_and_fill(t);
    pthread_mutex_unlock(&held);
    ck_assert_ok(bus_flush(bus));
    ck_assert_int_eq(atomic_load(&m.above) + atomic_load(&m.below), 0);
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

START_TEST(set_above_the_mark_reports_at_once)
{
    bus_t *bus = new_bus(1);
    bus_topic_t *t = new_topic(bus, "wm.late", CAP, BUS_FULL_FAIL, 0);
    struct marks m;
    subscribe_unwatched(t, pass_held, &m);
    hold_and_fill(t);
    ck_assert_ok(bus_topic_watermarks(t, HIGH, LOW, on_mark, &m));
    ck_assert_int_eq(atomic_load(&m.above), 1);
    let_go_and_drain(bus, &m, 1);
    assert_sane(&m);
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

START_TEST(keyed_lanes_report_as_the_topic)
{
    bus_t *bus = new_bus(1);
    /* 16 lanes (the most there are) of CAP events each. */
    bus_topic_t *t = new_topic(bus, "wm.keyed", 16 * CAP, BUS_FULL_FAIL, BUS_TOPIC_KEYED);
    struct marks m;
    subscribe_unwatched(t, pass_held, &m);
    ck_assert_int_eq(bus_topic_watermarks(t, CAP + 1, LOW, on_mark, &m), -EINVAL);
    ck_assert_ok(bus_topic_watermarks(t, HIGH, LOW, on_mark, &m));
    hold_and_fill(t); /* bus_publish: the lane of key 0 */
    await_count(&m, &m.above, 1);
    let_go_and_drain(bus, &m, 1);
    ck_assert_int_eq(atomic_load(&m.above), 1);
    assert_sane(&m);
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

START_TEST(close_ends_the_calls)
{
    bus_t *bus = new_bus(1);
    bus_topic_t *t = new_topic(bus, "wm.close", CAP, BUS_FULL_FAIL, 0);
    struct marks m;
    watch(t, pass_held, &m);
    hold_and_fill(t);
    ck_assert_int_eq(atomic_load(&m.above), 1);
    /* The handlers are let go only once the close has sealed the topic
     * (publishes refused), which it does after turning the marks off:
     * letting go before raced the close, the drain could pass LOW first. */
    struct topic_closer c;
    close_in_thread(&c, t, BUS_CLOSE_DRAIN);
    ck_assert_uint_eq(publish_until_closed(t), 0); /* full until then */
    pthread_mutex_unlock(&held);
    pthread_join(c.thread, NULL);
    ck_assert_ok(c.rc);
    bus_topic_stats_t final = c.final;
    ck_assert_int_eq(final.depth, 0);
    /* The drain took the depth under LOW with the marks already off. */
    ck_assert_int_eq(atomic_load(&m.below), 0);
    ck_assert_int_eq(atomic_load(&m.above), 1);
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("watermark");
    TCase *tc = tcase_create("watermark");
    tcase_add_test(tc, one_call_per_crossing_ordered);
    tcase_add_test(tc, one_call_per_crossing_parallel);
    tcase_add_test(tc, producers_crossing_together_call_once);
    tcase_add_test(tc, storm_alternates_and_respects_hysteresis);
    tcase_add_test(tc, bad_input);
    tcase_add_test(tc, turned_off_calls_nothing);
    tcase_add_test(tc, set_above_the_mark_reports_at_once);
    tcase_add_test(tc, keyed_lanes_report_as_the_topic);
    tcase_add_test(tc, close_ends_the_calls);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
