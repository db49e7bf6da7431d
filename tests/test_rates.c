/* test_rates.c - the rates, oldest event's age and whole-bus figures of the
 * metrics (issue 11, items 2 and 5): bus_topic_metrics()'s publish and
 * deliver rates and oldest_age_ns, bus_metrics(). */
#include <time.h>

#include "helpers.h"

static void sleep_until(uint64_t ns)
{
    struct timespec ts = {(time_t)(ns / 1000000000u), (long)(ns % 1000000000u)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) != 0)
        ;
}

/* A publisher at a known rate: @per_ms events every millisecond, paced by
 * absolute deadlines (a late wake-up catches up), for @ms milliseconds
 * from @start_ns. */
struct pacer {
    bus_topic_t *topic;
    uint64_t start_ns;
    unsigned per_ms, ms;
};

static void *publish_paced(void *arg)
{
    struct pacer *p = arg;
    for (unsigned tick = 0; tick < p->ms; tick++) {
        sleep_until(p->start_ns + (uint64_t)tick * 1000000u);
        for (unsigned i = 0; i < p->per_ms; i++)
            ck_assert_ok(bus_publish(p->topic, &i, sizeof(i)));
    }
    return NULL;
}

static void assert_near(double value, double expected, double tolerance)
{
    ck_assert_msg(value >= expected * (1 - tolerance) && value <= expected * (1 + tolerance),
                  "%.0f/s is not within %.0f%% of %.0f/s", value, tolerance * 100, expected);
}

/* @t's metrics (bus_topic_metrics), checked to be given. */
static bus_topic_metrics_t topic_metrics(bus_topic_t *t)
{
    bus_topic_metrics_t m;
    ck_assert_ok(bus_topic_metrics(t, &m));
    return m;
}

/* Topic @name (64 events) whose handler waits at @gate, initialised here:
 * with one worker, what is published stays queued until the gate opens. */
static bus_topic_t *gated_topic(bus_t *bus, const char *name, unsigned flags, struct gate *gate)
{
    gate_init(gate);
    bus_topic_t *t = new_topic(bus, name, 64, BUS_FULL_BLOCK, flags);
    subscribe(t, wait_at_gate, gate);
    return t;
}

/* Opens @gate and checks that @t, drained, has no oldest event: age 0. */
static void open_and_assert_age_zero(bus_t *bus, bus_topic_t *t, struct gate *gate)
{
    gate_open(gate);
    ck_assert_ok(bus_flush(bus));
    ck_assert_uint_eq(topic_metrics(t).oldest_age_ns, 0);
}

/* A publisher at 20,000 events/s for 3 s, read 2.5 s in: the 1 s rates are
 * within 10% of 20,000/s; the 10 s rates, over the 2.5 s of history there
 * is (the sampler started just before the publisher), too. */
START_TEST(steady_publisher)
{
    enum { PER_MS = 20, RUN_MS = 3000, READ_AT_MS = 2500 };
    bus_t *bus = new_bus(1);
    bus_topic_t *t = new_topic(bus, "r.steady", 8192, BUS_FULL_BLOCK, 0);
    struct counter c = {0};
    subscribe(t, count_only, &c);
    bus_topic_metrics_t m;
    ck_assert_ok(bus_topic_metrics(t, &m)); /* starts the sampler */
    ck_assert(m.publish_rate_1s == 0 && m.publish_rate_10s == 0);
    struct pacer p = {t, now_ns() + 1000000u, PER_MS, RUN_MS};
    pthread_t th;
    ck_assert_ok(pthread_create(&th, NULL, publish_paced, &p));
    sleep_until(p.start_ns + READ_AT_MS * UINT64_C(1000000));
    m = topic_metrics(t);
    assert_near(m.publish_rate_1s, PER_MS * 1000.0, 0.1);
    assert_near(m.deliver_rate_1s, PER_MS * 1000.0, 0.1);
    assert_near(m.publish_rate_10s, PER_MS * 1000.0, 0.1);
    assert_near(m.deliver_rate_10s, PER_MS * 1000.0, 0.1);
    /* The bus's sums include this topic's rates. */
    bus_metrics_t bm;
    ck_assert_ok(bus_metrics(bus, &bm));
    ck_assert(bm.publish_rate_1s >= m.publish_rate_1s * 0.9);
    pthread_join(th, NULL);
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

/* No metrics read: no sampler, no rates; a topic nobody publishes on has
 * rates of 0 once sampled. */
START_TEST(idle_topic_has_zero_rates)
{
    bus_t *bus = new_bus(1);
    bus_topic_t *t = new_topic(bus, "r.idle", 64, BUS_FULL_BLOCK, 0);
    bus_topic_metrics_t m = topic_metrics(t);
    sleep_ms(250); /* a few samples: this is what is measured, not a wait for an event */
    m = topic_metrics(t);
    ck_assert(m.publish_rate_1s == 0 && m.deliver_rate_10s == 0);
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

/* Events held behind a handler at a gate: the oldest's age is the time
 * since its publish (bounded by the clock reads around it) and grows; once
 * the ring is empty it is 0. */
START_TEST(oldest_age)
{
    static struct gate gate;
    bus_t *bus = new_bus(1);
    bus_topic_t *t = gated_topic(bus, "r.age", 0, &gate);
    bus_topic_metrics_t m = topic_metrics(t);
    ck_assert_uint_eq(m.oldest_age_ns, 0);
    uint64_t before_publish = now_ns();
    ck_assert_ok(bus_publish(t, "a", 1));
    uint64_t after_publish = now_ns();
    for (int i = 0; i < 3; i++)
        ck_assert_ok(bus_publish(t, "b", 1));
    gate_await_waiters(&gate, 1);
    uint64_t before_read = now_ns();
    m = topic_metrics(t);
    uint64_t after_read = now_ns();
    ck_assert_uint_ge(m.oldest_age_ns, before_read - after_publish);
    ck_assert_uint_le(m.oldest_age_ns, after_read - before_publish);
    uint64_t first_age = m.oldest_age_ns;
    sleep_ms(20); /* the age to measure, not a wait for an event */
    m = topic_metrics(t);
    ck_assert_uint_ge(m.oldest_age_ns, first_age + 20000000u);
    bus_metrics_t bm;
    ck_assert_ok(bus_metrics(bus, &bm));
    ck_assert_uint_ge(bm.oldest_age_ns, m.oldest_age_ns);
    open_and_assert_age_zero(bus, t, &gate);
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

/* A keyed topic's age is its oldest lane's. */
START_TEST(oldest_age_keyed)
{
    static struct gate gate;
    bus_t *bus = new_bus(1);
    bus_topic_t *t = gated_topic(bus, "r.keyed", BUS_TOPIC_KEYED, &gate);
    ck_assert_ok(bus_publish_keyed(t, 7, "a", 1));
    uint64_t after_publish = now_ns();
    gate_await_waiters(&gate, 1);
    sleep_ms(5); /* the age to measure */
    bus_topic_metrics_t m = topic_metrics(t);
    ck_assert_uint_ge(m.oldest_age_ns, 5000000u);
    ck_assert_uint_le(m.oldest_age_ns, now_ns() - after_publish + 1000000000u);
    open_and_assert_age_zero(bus, t, &gate);
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

struct sums {
    uint32_t topics;
    uint64_t published, delivered, dropped;
};

static int add_info(const bus_topic_info_t *info, void *ctx)
{
    struct sums *s = ctx;
    s->topics++;
    s->published += info->stats.published;
    s->delivered += info->stats.delivered;
    s->dropped += info->stats.dropped;
    return 0;
}

static int spin_50ms(const bus_event_t *ev, void *ctx)
{
    (void)ev;
    (void)ctx;
    uint64_t end = now_ns() + 50000000u;
    while (now_ns() < end)
        ;
    return 0;
}

/* bus_metrics: the topics' counters summed (as bus_topics_foreach() sees
 * them), and the workers' time: each worker is busy or idle from its start
 * on, so busy + idle is the workers' lifetime, within the clock reads
 * around bus_create() and the call; a 50 ms handler call counts as busy. */
START_TEST(whole_bus)
{
    enum { WORKERS = 2 };
    uint64_t before_create = now_ns();
    bus_t *bus = new_bus(WORKERS);
    uint64_t after_create = now_ns();
    bus_topic_t *a = new_topic(bus, "r.a", 64, BUS_FULL_BLOCK, 0);
    bus_topic_t *b = new_topic(bus, "r.b", 4, BUS_FULL_DROP, BUS_TOPIC_PARALLEL);
    struct counter c = {0};
    bus_sub_t *sub = subscribe(a, count_only, &c);
    ck_assert_ok(bus_subscribe(b, spin_50ms, NULL, &sub));
    for (int i = 0; i < 10; i++) {
        ck_assert_ok(bus_publish(a, &i, sizeof(i)));
        ck_assert_ok(bus_publish(b, &i, sizeof(i))); /* some dropped: a 4-slot ring */
    }
    ck_assert_ok(bus_flush(bus));
    bus_metrics_t m;
    uint64_t before_read = now_ns();
    ck_assert_ok(bus_metrics(bus, &m));
    uint64_t after_read = now_ns();
    struct sums s = {0};
    ck_assert_ok(bus_topics_foreach(bus, add_info, &s));
    ck_assert_uint_eq(m.topics, s.topics);
    ck_assert_uint_ge(m.topics, 2);
    ck_assert_uint_eq(m.published, s.published);
    ck_assert_uint_eq(m.delivered, s.delivered);
    ck_assert_uint_eq(m.dropped, s.dropped);
    ck_assert_uint_ge(m.published, 10 + 4);
    ck_assert_uint_ge(m.dropped, 1);
    ck_assert_uint_eq(m.depth, 0);
    ck_assert_uint_eq(m.workers, WORKERS);
    ck_assert_uint_ge(m.busy_ns + m.idle_ns, WORKERS * (before_read - after_create));
    ck_assert_uint_le(m.busy_ns + m.idle_ns, WORKERS * (after_read - before_create));
    /* At least 4 calls of 50 ms ran (the ring held 4). */
    ck_assert_uint_ge(m.busy_ns, 4 * 50000000u);
    ck_assert_uint_gt(m.idle_ns, 0);
    /* After the shutdown, final. */
    ck_assert_ok(bus_shutdown(bus));
    bus_metrics_t end1, end2;
    ck_assert_ok(bus_metrics(bus, &end1));
    sleep_ms(5); /* time that must not count */
    ck_assert_ok(bus_metrics(bus, &end2));
    ck_assert_uint_eq(end1.busy_ns, end2.busy_ns);
    ck_assert_uint_eq(end1.idle_ns, end2.idle_ns);
    ck_assert_uint_ge(end1.busy_ns, m.busy_ns);
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

/* Snapshots from several threads while events flow (for TSan): every
 * figure read together stays consistent with itself. */
struct reader {
    bus_t *bus;
    bus_topic_t *topic;
    atomic_bool *stop;
};

static void *read_loop(void *arg)
{
    struct reader *r = arg;
    uint64_t last_busy = 0, last_published = 0;
    while (!atomic_load(r->stop)) {
        bus_metrics_t m;
        bus_topic_metrics_t tm;
        ck_assert_ok(bus_metrics(r->bus, &m));
        ck_assert_ok(bus_topic_metrics(r->topic, &tm));
        ck_assert_uint_ge(m.busy_ns, last_busy);
        ck_assert_uint_ge(tm.stats.published, last_published);
        ck_assert(tm.publish_rate_1s >= 0 && tm.oldest_age_ns < 60000000000u);
        last_busy = m.busy_ns;
        last_published = tm.stats.published;
    }
    return NULL;
}

START_TEST(snapshots_while_events_flow)
{
    enum { READERS = 3, EVENTS = 200000 };
    bus_t *bus = new_bus(2);
    bus_topic_t *t = new_topic(bus, "r.flow", 256, BUS_FULL_BLOCK, BUS_TOPIC_PARALLEL);
    struct counter c = {0};
    subscribe(t, count_only, &c);
    atomic_bool stop = false;
    struct reader r = {bus, t, &stop};
    pthread_t th[READERS];
    for (int i = 0; i < READERS; i++)
        ck_assert_ok(pthread_create(&th[i], NULL, read_loop, &r));
    for (int i = 0; i < EVENTS; i++)
        ck_assert_ok(bus_publish(t, &i, sizeof(i)));
    ck_assert_ok(bus_flush(bus));
    atomic_store(&stop, true);
    for (int i = 0; i < READERS; i++)
        pthread_join(th[i], NULL);
    ck_assert_uint_eq(atomic_load(&c.calls), EVENTS);
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

START_TEST(bad_input)
{
    bus_t *bus = new_bus(1);
    bus_metrics_t m;
    ck_assert_int_eq(bus_metrics(NULL, &m), -EINVAL);
    ck_assert_int_eq(bus_metrics(bus, NULL), -EINVAL);
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("rates");
    TCase *tc = tcase_create("rates");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, steady_publisher);
    tcase_add_test(tc, idle_topic_has_zero_rates);
    tcase_add_test(tc, oldest_age);
    tcase_add_test(tc, oldest_age_keyed);
    tcase_add_test(tc, whole_bus);
    tcase_add_test(tc, snapshots_while_events_flow);
    tcase_add_test(tc, bad_input);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
