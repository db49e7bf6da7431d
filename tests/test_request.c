/* test_request.c - request-reply: exactly one answer, whatever happens. */
#include "helpers.h"

struct answer {
    atomic_int calls;
    int status;
    char reply[64];
    size_t size;
};

static void record_answer(int status, const void *reply, size_t size, void *arg)
{
    struct answer *a = arg;
    a->status = status;
    a->size = size;
    if (size && size <= sizeof(a->reply))
        memcpy(a->reply, reply, size);
    atomic_fetch_add(&a->calls, 1);
}

static void await_answer(struct answer *a)
{
    while (atomic_load(&a->calls) == 0)
        sleep_ms(1);
}

/* Replies with the request's payload doubled (an int). */
static int double_it(const bus_event_t *ev, void *ctx)
{
    (void)ctx;
    int v;
    memcpy(&v, ev->data, sizeof(v));
    v *= 2;
    return bus_reply(ev, &v, sizeof(v));
}

START_TEST(reply_reaches_requester_once)
{
    bus_t *bus = new_bus(2);
    bus_topic_t *t = new_topic(bus, "math.double", 64, BUS_FULL_BLOCK, 0);
    bus_sub_t *s1, *s2;
    ck_assert_ok(bus_subscribe(t, double_it, NULL, &s1));
    ck_assert_ok(bus_subscribe(t, double_it, NULL, &s2)); /* second reply is refused */
    struct answer a = {0};
    int v = 21;
    ck_assert_ok(bus_request(t, &v, sizeof(v), 1000000000u, record_answer, &a));
    ck_assert_ok(bus_flush(bus));
    await_answer(&a);
    sleep_ms(5);
    ck_assert_int_eq(atomic_load(&a.calls), 1);
    ck_assert_int_eq(a.status, 0);
    int got;
    memcpy(&got, a.reply, sizeof(got));
    ck_assert_int_eq(got, 42);
    bus_topic_stats_t st;
    ck_assert_ok(bus_topic_stats(t, &st));
    ck_assert_uint_eq(st.handler_errors, 1); /* the second bus_reply: -EALREADY */
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

START_TEST(no_responders_fail_fast)
{
    bus_t *bus = new_bus(1);
    bus_topic_t *t = new_topic(bus, "nobody.home", 8, BUS_FULL_BLOCK, 0);
    struct answer a = {0};
    ck_assert_ok(bus_request(t, NULL, 0, 0, record_answer, &a));
    await_answer(&a);
    ck_assert_int_eq(a.status, -ENOENT);
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

static int ignore(const bus_event_t *ev, void *ctx)
{
    (void)ev;
    (void)ctx;
    return 0;
}

START_TEST(handlers_without_reply)
{
    bus_t *bus = new_bus(1);
    bus_topic_t *t = new_topic(bus, "silent", 8, BUS_FULL_BLOCK, 0);
    bus_sub_t *sub;
    ck_assert_ok(bus_subscribe(t, ignore, NULL, &sub));
    struct answer a = {0};
    ck_assert_ok(bus_request(t, NULL, 0, 0, record_answer, &a));
    await_answer(&a);
    ck_assert_int_eq(a.status, -ENOMSG);
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

/* A slow responder: the timeout answers first, the late reply is refused. */
struct slow {
    struct gate gate;
    atomic_int reply_rc;
};

static int reply_late(const bus_event_t *ev, void *ctx)
{
    struct slow *s = ctx;
    gate_pass(&s->gate);
    atomic_store(&s->reply_rc, bus_reply(ev, "late", 4));
    return 0;
}

START_TEST(timeout_races_late_reply)
{
    bus_t *bus = new_bus(1);
    bus_topic_t *t = new_topic(bus, "slow", 8, BUS_FULL_BLOCK, 0);
    struct slow s = {.reply_rc = 1};
    gate_init(&s.gate);
    bus_sub_t *sub;
    ck_assert_ok(bus_subscribe(t, reply_late, &s, &sub));
    struct answer a = {0};
    ck_assert_ok(bus_request(t, NULL, 0, 20 * 1000000u, record_answer, &a));
    await_answer(&a);
    ck_assert_int_eq(a.status, -ETIMEDOUT);
    gate_open(&s.gate);
    ck_assert_ok(bus_flush(bus));
    ck_assert_int_eq(atomic_load(&s.reply_rc), -EALREADY);
    ck_assert_int_eq(atomic_load(&a.calls), 1);
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

static double ms_since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) * 1e3 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

/* Times out a request to @slow after @timeout_ms; returns the ms it took. */
static double time_out_once(bus_topic_t *slow, struct slow *s, long timeout_ms)
{
    struct answer a = {0};
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ck_assert_ok(bus_request(slow, NULL, 0, (uint64_t)timeout_ms * 1000000u, record_answer, &a));
    await_answer(&a);
    double took = ms_since(&t0);
    ck_assert_int_eq(a.status, -ETIMEDOUT);
    gate_open(&s->gate);
    ck_assert_int_eq(atomic_load(&a.calls), 1);
    return took;
}

/* The timer thread is woken by an arm only for a deadline earlier than its
 * planned wake-up, and keeps that wake-up when answered requests empty its
 * heap: timeouts armed before and after that wake-up both fire on time. */
START_TEST(timeouts_fire_after_answered_requests)
{
    bus_t *bus = new_bus(2);
    bus_topic_t *fast = new_topic(bus, "fast", 8, BUS_FULL_BLOCK, 0);
    bus_topic_t *slow = new_topic(bus, "slow", 8, BUS_FULL_BLOCK, 0);
    bus_sub_t *s1, *s2;
    struct slow s = {.reply_rc = 1};
    gate_init(&s.gate);
    ck_assert_ok(bus_subscribe(fast, double_it, NULL, &s1));
    ck_assert_ok(bus_subscribe(slow, reply_late, &s, &s2));
    int v = 1, got;
    size_t size;
    /* Planned wake-up in 10 s, heap empty again: a 20 ms timeout is earlier. */
    ck_assert_ok(bus_request_wait(fast, &v, sizeof(v), 10000000000u, &got, sizeof(got), &size));
    double took = time_out_once(slow, &s, 20);
    ck_assert_msg(took >= 19 && took < 5000, "20 ms timeout took %.1f ms", took);
    ck_assert_ok(bus_flush(bus));
    /* Planned wake-up in 30 ms, heap empty: a 60 ms timeout comes after it. */
    gate_init(&s.gate);
    ck_assert_ok(bus_request_wait(fast, &v, sizeof(v), 30000000u, &got, sizeof(got), &size));
    took = time_out_once(slow, &s, 60);
    ck_assert_msg(took >= 59 && took < 5000, "60 ms timeout took %.1f ms", took);
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

/* Many requests with timeouts at once, one timer thread: each answered once. */
START_TEST(many_requests_each_answered_once)
{
    enum { N = 2000 };
    bus_t *bus = new_bus(2);
    bus_topic_t *t = new_topic(bus, "bulk", 256, BUS_FULL_BLOCK, BUS_TOPIC_PARALLEL);
    bus_sub_t *sub;
    ck_assert_ok(bus_subscribe(t, double_it, NULL, &sub));
    struct answer *answers = calloc(N, sizeof(*answers));
    for (int i = 0; i < N; i++)
        ck_assert_ok(bus_request(t, &i, sizeof(i), (uint64_t)(i % 3) * 1000000000u,
                                 record_answer, &answers[i]));
    ck_assert_ok(bus_flush(bus));
    for (int i = 0; i < N; i++) {
        await_answer(&answers[i]);
        ck_assert_int_eq(atomic_load(&answers[i].calls), 1);
        ck_assert_int_eq(answers[i].status, 0);
        int got;
        memcpy(&got, answers[i].reply, sizeof(got));
        ck_assert_int_eq(got, 2 * i);
    }
    ck_assert_ok(bus_destroy(bus));
    free(answers);
}
END_TEST

START_TEST(blocking_request)
{
    bus_t *bus = new_bus(1);
    bus_topic_t *t = new_topic(bus, "sync", 8, BUS_FULL_BLOCK, 0);
    bus_sub_t *sub;
    ck_assert_ok(bus_subscribe(t, double_it, NULL, &sub));
    int v = 5, got = 0;
    size_t size = 0;
    ck_assert_ok(bus_request_wait(t, &v, sizeof(v), 1000000000u, &got, sizeof(got), &size));
    ck_assert_int_eq(got, 10);
    ck_assert_uint_eq(size, sizeof(got));
    char small[2];
    ck_assert_int_eq(bus_request_wait(t, &v, sizeof(v), 0, small, sizeof(small), &size),
                     -EMSGSIZE);
    ck_assert_uint_eq(size, sizeof(int));
    ck_assert_int_eq(bus_request_wait(t, &v, sizeof(v), 0, NULL, 4, &size), -EINVAL);
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

START_TEST(reply_outside_request_is_einval)
{
    bus_t *bus = new_bus(1);
    bus_topic_t *t = new_topic(bus, "plain", 8, BUS_FULL_BLOCK, 0);
    struct counter c = {0};
    bus_sub_t *sub;
    ck_assert_ok(bus_subscribe(t, double_it, &c, &sub));
    int v = 1;
    ck_assert_ok(bus_publish(t, &v, sizeof(v))); /* not a request */
    ck_assert_ok(bus_flush(bus));
    bus_topic_stats_t st;
    ck_assert_ok(bus_topic_stats(t, &st));
    ck_assert_uint_eq(st.handler_errors, 1); /* bus_reply said -EINVAL */
    ck_assert_int_eq(bus_reply(NULL, NULL, 0), -EINVAL);
    ck_assert_int_eq(bus_request(t, NULL, 0, 0, NULL, NULL), -EINVAL);
    ck_assert_ok(bus_shutdown(bus));
    struct answer a = {0};
    ck_assert_int_eq(bus_request(t, NULL, 0, 1000, record_answer, &a), -ESHUTDOWN);
    ck_assert_int_eq(bus_request(t, NULL, 0, 0, record_answer, &a), -ESHUTDOWN);
    sleep_ms(5);
    ck_assert_int_eq(atomic_load(&a.calls), 0);
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("request");
    TCase *tc = tcase_create("request");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, reply_reaches_requester_once);
    tcase_add_test(tc, no_responders_fail_fast);
    tcase_add_test(tc, handlers_without_reply);
    tcase_add_test(tc, timeout_races_late_reply);
    tcase_add_test(tc, timeouts_fire_after_answered_requests);
    tcase_add_test(tc, many_requests_each_answered_once);
    tcase_add_test(tc, blocking_request);
    tcase_add_test(tc, reply_outside_request_is_einval);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
