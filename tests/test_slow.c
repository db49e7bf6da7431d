/* test_slow.c - slow handler calls: count, report, rate limit, pause and
 * resume (bus_config_t.slow_handler_ns, issue 11 item 4). */
#include "helpers.h"

enum { MS = 1000000 };

/* What on_slow_handler saw. Written on workers, read after a flush. */
struct reports {
    pthread_mutex_t lock;
    unsigned count, paused;
    bus_slow_call_t last;
};

static void record_report(const bus_slow_call_t *call, void *arg)
{
    struct reports *r = arg;
    pthread_mutex_lock(&r->lock);
    r->count++;
    r->paused += call->paused;
    r->last = *call;
    pthread_mutex_unlock(&r->lock);
}

/* A copy of what was seen so far. */
static struct reports seen(struct reports *r)
{
    pthread_mutex_lock(&r->lock);
    struct reports copy = *r;
    pthread_mutex_unlock(&r->lock);
    return copy;
}

static bus_t *slow_bus(unsigned workers, uint64_t threshold_ns, struct reports *r)
{
    pthread_mutex_init(&r->lock, NULL);
    r->count = r->paused = 0;
    bus_config_t cfg;
    bus_config_init(&cfg);
    cfg.workers = workers;
    cfg.slow_handler_ns = threshold_ns;
    cfg.on_slow_handler = record_report;
    cfg.slow_handler_arg = r;
    bus_t *bus = NULL;
    ck_assert_ok(bus_create(&bus, &cfg));
    return bus;
}

/* The handler: busy for as many ms as the event's payload byte says, on
 * the monotonic clock the bus measures with. */
static int spin_payload_ms(const bus_event_t *ev, void *ctx)
{
    (void)ctx;
    uint64_t until = now_ns() + (uint64_t)*(const uint8_t *)ev->data * MS;
    while (now_ns() < until)
        ;
    return 0;
}

static void publish_ms(bus_topic_t *t, uint8_t ms)
{
    ck_assert_ok(bus_publish(t, &ms, 1));
}

static bus_sub_metrics_t metrics_of(const bus_sub_t *sub)
{
    bus_sub_metrics_t m;
    ck_assert_ok(bus_sub_metrics(sub, &m));
    return m;
}

/* A call over the threshold is counted and reported from the worker with
 * its topic, subscription and duration. */
START_TEST(slow_call_reported)
{
    struct reports r;
    /* 20 ms: a preempted 0 ms call on a loaded machine stays under it. */
    bus_t *bus = slow_bus(1, 20 * MS, &r);
    bus_topic_t *t = new_topic(bus, "slow.one", 16, BUS_FULL_BLOCK, 0);
    bus_sub_t *sub = subscribe(t, spin_payload_ms, NULL);
    publish_ms(t, 0);
    publish_ms(t, 30);
    ck_assert_ok(bus_flush(bus));
    ck_assert_uint_eq(metrics_of(sub).slow_calls, 1);
    ck_assert_uint_eq(seen(&r).count, 1);
    ck_assert_ptr_eq(seen(&r).last.topic, t);
    ck_assert_ptr_eq(seen(&r).last.sub, sub);
    ck_assert_uint_ge(seen(&r).last.ns, 30 * MS);
    ck_assert_uint_lt(seen(&r).last.ns, 10000ull * MS);
    ck_assert_uint_eq(seen(&r).last.slow_calls, 1);
    ck_assert(!seen(&r).last.paused);
    ck_assert_uint_eq(metrics_of(sub).stats.delivered, 2);
    bus_destroy(bus);
}
END_TEST

static int noop(const bus_event_t *ev, void *ctx)
{
    (void)ev;
    (void)ctx;
    return 0;
}

/* Calls under the threshold are never counted nor reported. */
START_TEST(fast_calls_never)
{
    struct reports r;
    bus_t *bus = slow_bus(2, 1000ull * MS, &r);
    bus_topic_t *t = new_topic(bus, "slow.fast", 256, BUS_FULL_BLOCK, BUS_TOPIC_PARALLEL);
    bus_sub_t *sub = subscribe(t, noop, NULL);
    for (int i = 0; i < 10000; i++)
        ck_assert_ok(bus_publish(t, &i, sizeof(i)));
    ck_assert_ok(bus_flush(bus));
    bus_sub_metrics_t m = metrics_of(sub);
    ck_assert_uint_eq(m.stats.delivered, 10000);
    ck_assert_uint_eq(m.slow_calls, 0);
    ck_assert_uint_eq(seen(&r).count, 0);
    bus_destroy(bus);
}
END_TEST

/* A storm of slow calls on a parallel topic: every one counted, at most one
 * report per second of the storm (plus the first). */
START_TEST(storm_bounded)
{
    enum { EVENTS = 200 };
    struct reports r;
    bus_t *bus = slow_bus(2, MS / 2, &r);
    bus_topic_t *t = new_topic(bus, "slow.storm", 256, BUS_FULL_BLOCK, BUS_TOPIC_PARALLEL);
    bus_sub_t *sub = subscribe(t, spin_payload_ms, NULL);
    uint64_t start = now_ns();
    for (int i = 0; i < EVENTS; i++)
        publish_ms(t, 1);
    ck_assert_ok(bus_flush(bus));
    uint64_t seconds = (now_ns() - start) / 1000000000u;
    ck_assert_uint_eq(metrics_of(sub).slow_calls, EVENTS);
    ck_assert_uint_ge(seen(&r).count, 1);
    ck_assert_uint_le(seen(&r).count, 1 + seconds);
    ck_assert_uint_le(seen(&r).last.slow_calls, EVENTS);
    bus_destroy(bus);
}
END_TEST

/* pause_after slow calls in a row pause the subscription (a fast call in
 * between starts the run over); its events are then skipped and counted,
 * the pause is reported once, and bus_sub_resume() ends it. */
START_TEST(pause_and_resume)
{
    struct reports r;
    bus_t *bus = slow_bus(1, 1 * MS, &r);
    bus_topic_t *t = new_topic(bus, "slow.pause", 64, BUS_FULL_BLOCK, 0);
    bus_sub_options_t opts;
    bus_sub_options_init(&opts);
    opts.pause_after = 3;
    bus_sub_t *sub;
    ck_assert_ok(bus_subscribe_ex(t, spin_payload_ms, NULL, &opts, &sub));
    const uint8_t runs[] = {2, 2, 0, 2, 2};
    for (size_t i = 0; i < sizeof(runs); i++)
        publish_ms(t, runs[i]);
    ck_assert_ok(bus_flush(bus));
    ck_assert(!metrics_of(sub).paused);
    publish_ms(t, 2); /* the third in a row */
    for (int i = 0; i < 5; i++)
        publish_ms(t, 0);
    ck_assert_ok(bus_flush(bus));
    bus_sub_metrics_t m = metrics_of(sub);
    ck_assert(m.paused);
    ck_assert_uint_eq(m.slow_calls, 5);
    ck_assert_uint_eq(m.stats.delivered, 6);
    ck_assert_uint_eq(m.paused_skips, 5);
    ck_assert_uint_eq(seen(&r).paused, 1);
    ck_assert(seen(&r).last.paused);
    ck_assert_ptr_eq(seen(&r).last.sub, sub);

    ck_assert_ok(bus_sub_resume(sub));
    ck_assert_ok(bus_sub_resume(sub)); /* not paused: nothing to do */
    publish_ms(t, 2);
    publish_ms(t, 2); /* two in a row: the run started over at the resume */
    publish_ms(t, 0);
    ck_assert_ok(bus_flush(bus));
    m = metrics_of(sub);
    ck_assert(!m.paused);
    ck_assert_uint_eq(m.stats.delivered, 9);
    ck_assert_uint_eq(m.paused_skips, 5);
    ck_assert_uint_eq(seen(&r).paused, 1);
    bus_destroy(bus);
}
END_TEST

/* A paused queue-group member passes its events on to the other members. */
START_TEST(paused_member_passes_on)
{
    enum { EVENTS = 20 };
    struct reports r;
    bus_t *bus = slow_bus(1, 1 * MS, &r);
    bus_topic_t *t = new_topic(bus, "slow.group", 64, BUS_FULL_BLOCK, 0);
    bus_sub_options_t opts;
    bus_sub_options_init(&opts);
    opts.group = "g";
    opts.pause_after = 1;
    bus_sub_t *a, *b;
    ck_assert_ok(bus_subscribe_ex(t, spin_payload_ms, NULL, &opts, &a));
    opts.pause_after = 0;
    ck_assert_ok(bus_subscribe_ex(t, noop, NULL, &opts, &b));
    /* Round robin: the first event goes to a, which pauses. */
    publish_ms(t, 2);
    ck_assert_ok(bus_flush(bus));
    ck_assert(metrics_of(a).paused);
    for (int i = 0; i < EVENTS; i++)
        publish_ms(t, 2);
    ck_assert_ok(bus_flush(bus));
    bus_sub_metrics_t ma = metrics_of(a), mb = metrics_of(b);
    ck_assert_uint_eq(ma.stats.delivered, 1);
    ck_assert_uint_gt(ma.paused_skips, 0);
    ck_assert_uint_eq(mb.stats.delivered, EVENTS);
    bus_topic_stats_t ts = topic_stats(t);
    ck_assert_uint_eq(ts.delivered, EVENTS + 1);
    bus_destroy(bus);
}
END_TEST

/* A pattern subscription is reported as the handle the user holds, with
 * the topic the event came from, and resumes on every topic. */
START_TEST(pattern_reported_as_its_handle)
{
    struct reports r;
    bus_t *bus = slow_bus(1, 1 * MS, &r);
    bus_sub_options_t opts;
    bus_sub_options_init(&opts);
    opts.pause_after = 1;
    bus_sub_t *sub;
    ck_assert_ok(bus_subscribe_pattern(bus, "slow.p.*", spin_payload_ms, NULL, &opts, &sub));
    bus_topic_t *t1 = new_topic(bus, "slow.p.one", 16, BUS_FULL_BLOCK, 0);
    bus_topic_t *t2 = new_topic(bus, "slow.p.two", 16, BUS_FULL_BLOCK, 0);
    publish_ms(t2, 2);
    ck_assert_ok(bus_flush(bus));
    ck_assert_uint_eq(seen(&r).count, 1);
    ck_assert_ptr_eq(seen(&r).last.sub, sub);
    ck_assert_ptr_eq(seen(&r).last.topic, t2);
    ck_assert(seen(&r).last.paused);
    publish_ms(t2, 0);
    publish_ms(t1, 0);
    ck_assert_ok(bus_flush(bus));
    bus_sub_metrics_t m = metrics_of(sub);
    ck_assert(m.paused);
    ck_assert_uint_eq(m.paused_skips, 1);
    ck_assert_uint_eq(m.stats.delivered, 2);
    ck_assert_ok(bus_sub_resume(sub));
    publish_ms(t2, 0);
    ck_assert_ok(bus_flush(bus));
    m = metrics_of(sub);
    ck_assert(!m.paused);
    ck_assert_uint_eq(m.stats.delivered, 3);
    bus_destroy(bus);
}
END_TEST

/* Threshold 0: a slow call is neither counted nor reported. */
START_TEST(threshold_off_costs_nothing)
{
    struct reports r;
    bus_t *bus = slow_bus(1, 0, &r);
    bus_topic_t *t = new_topic(bus, "slow.off", 16, BUS_FULL_BLOCK, 0);
    bus_sub_t *sub = subscribe(t, spin_payload_ms, NULL);
    publish_ms(t, 3);
    ck_assert_ok(bus_flush(bus));
    bus_sub_metrics_t m = metrics_of(sub);
    ck_assert_uint_eq(m.stats.delivered, 1);
    ck_assert_uint_eq(m.slow_calls, 0);
    ck_assert(!m.paused);
    ck_assert_uint_eq(seen(&r).count, 0);
    bus_destroy(bus);
}
END_TEST

START_TEST(bad_input)
{
    struct reports r;
    bus_t *bus = slow_bus(1, 0, &r);
    bus_topic_t *t = new_topic(bus, "slow.bad", 16, BUS_FULL_BLOCK, 0);
    bus_sub_options_t opts;
    bus_sub_options_init(&opts);
    ck_assert_uint_eq(opts.pause_after, 0);
    opts.pause_after = 2;
    bus_sub_t *sub = NULL;
    /* pause_after on a bus without a threshold could never pause. */
    ck_assert_int_eq(bus_subscribe_ex(t, noop, NULL, &opts, &sub), -EINVAL);
    ck_assert_int_eq(bus_subscribe_pattern(bus, "slow.>", noop, NULL, &opts, &sub), -EINVAL);
    ck_assert_ptr_null(sub);
    ck_assert_int_eq(bus_sub_resume(NULL), -EINVAL);
    bus_config_t cfg;
    bus_config_init(&cfg);
    ck_assert_uint_eq(cfg.slow_handler_ns, 0);
    ck_assert(cfg.on_slow_handler == NULL);
    bus_destroy(bus);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("slow");
    TCase *tc = tcase_create("slow");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, slow_call_reported);
    tcase_add_test(tc, fast_calls_never);
    tcase_add_test(tc, storm_bounded);
    tcase_add_test(tc, pause_and_resume);
    tcase_add_test(tc, paused_member_passes_on);
    tcase_add_test(tc, pattern_reported_as_its_handle);
    tcase_add_test(tc, threshold_off_costs_nothing);
    tcase_add_test(tc, bad_input);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
