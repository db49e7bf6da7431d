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

static int calls_of(struct answer *a)
{
    return atomic_load(&a->calls);
}

static void await_answer(struct answer *a)
{
    while (atomic_load(&a->calls) == 0)
        sleep_ms(1);
}

/* The reply of @a, an int (as double_it() gives). */
static int reply_int(const struct answer *a)
{
    int v;
    memcpy(&v, a->reply, sizeof(v));
    return v;
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

/* Topic @name (8 events) with @fn subscribed: the responder to its requests. */
static bus_topic_t *responder_topic(bus_t *bus, const char *name, bus_handler_fn fn, void *ctx)
{
    bus_topic_t *t = new_topic(bus, name, 8, BUS_FULL_BLOCK, 0);
    subscribe(t, fn, ctx);
    return t;
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
    ck_assert_int_eq(reply_int(&a), 42);
    bus_topic_stats_t st = topic_stats(t);
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
    bus_topic_t *t = responder_topic(bus, "silent", ignore, NULL);
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
    struct slow s = {.reply_rc = 1};
    gate_init(&s.gate);
    bus_topic_t *t = responder_topic(bus, "slow", reply_late, &s);
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
    subscribe(t, double_it, NULL);
    struct answer *answers = calloc(N, sizeof(*answers));
    for (int i = 0; i < N; i++)
        ck_assert_ok(bus_request(t, &i, sizeof(i), (uint64_t)(i % 3) * 1000000000u,
                                 record_answer, &answers[i]));
    ck_assert_ok(bus_flush(bus));
    for (int i = 0; i < N; i++) {
        await_answer(&answers[i]);
        ck_assert_int_eq(atomic_load(&answers[i].calls), 1);
        ck_assert_int_eq(answers[i].status, 0);
        ck_assert_int_eq(reply_int(&answers[i]), 2 * i);
    }
    ck_assert_ok(bus_destroy(bus));
    free(answers);
}
END_TEST

START_TEST(blocking_request)
{
    bus_t *bus = new_bus(1);
    bus_topic_t *t = responder_topic(bus, "sync", double_it, NULL);
    int v = 5, got = 0;
    size_t size = 0;
    ck_assert_ok(bus_request_wait(t, &v, sizeof(v), 1000000000u, &got, sizeof(got), &size));
    ck_assert_int_eq(got, 10);
    ck_assert_uint_eq(size, sizeof(got));
    ck_assert_int_eq(bus_request_wait(t, &v, sizeof(v), 0, NULL, 4, &size), -EINVAL);
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

START_TEST(reply_outside_request_is_einval)
{
    bus_t *bus = new_bus(1);
    struct counter c = {0};
    bus_topic_t *t = responder_topic(bus, "plain", double_it, &c);
    int v = 1;
    ck_assert_ok(bus_publish(t, &v, sizeof(v))); /* not a request */
    ck_assert_ok(bus_flush(bus));
    bus_topic_stats_t st = topic_stats(t);
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

/* Answers a request with the error in its payload (an int), as a bridge
 * answers for a remote bus; checks that a second answer is refused. */
static int fail_it(const bus_event_t *ev, void *ctx)
{
    (void)ctx;
    int err;
    memcpy(&err, ev->data, sizeof(err));
    ck_assert_int_eq(bus_reply_error(ev, 0), -EINVAL); /* not an error */
    ck_assert_ok(bus_reply_error(ev, err));
    ck_assert_int_eq(bus_reply_error(ev, err), -EALREADY);
    ck_assert_int_eq(bus_reply(ev, NULL, 0), -EALREADY);
    return 0;
}

START_TEST(reply_error_reaches_requester)
{
    bus_t *bus = new_bus(1);
    bus_topic_t *t = responder_topic(bus, "fails", fail_it, NULL);
    int errs[] = {-ENOENT, -ETIMEDOUT, -ENOTCONN};
    for (size_t i = 0; i < sizeof(errs) / sizeof(errs[0]); i++) {
        size_t size = 1;
        ck_assert_int_eq(bus_request_wait(t, &errs[i], sizeof(int), 0, NULL, 0, &size), errs[i]);
        ck_assert_uint_eq(size, 0);
    }
    ck_assert_int_eq(bus_reply_error(NULL, -ENOENT), -EINVAL);
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

/* What bus_event_source() tells a handler, per kind of publish. */
struct seen_source {
    bus_event_source_t src[3];
    int n;
};

static int record_source(const bus_event_t *ev, void *ctx)
{
    struct seen_source *s = ctx;
    ck_assert_ok(bus_event_source(ev, &s->src[s->n++]));
    return 0;
}

static void on_acked(const bus_completion_t *c, void *arg)
{
    (void)c, (void)arg;
}

START_TEST(event_source_tells_how_it_was_published)
{
    bus_t *bus = new_bus(1);
    struct seen_source s = {0};
    bus_topic_t *t = responder_topic(bus, "sources", record_source, &s);
    int marker;
    ck_assert_ok(bus_publish(t, "a", 1));
    bus_publish_options_t o = {.on_complete = on_acked, .arg = &marker};
    ck_assert_ok(bus_publish_ex(t, "b", 1, &o));
    struct answer a = {0};
    uint64_t before = now_ns();
    ck_assert_ok(bus_request(t, "c", 1, 1000000000u, record_answer, &a));
    ck_assert_ok(bus_flush(bus));
    ck_assert_int_eq(s.n, 3);
    ck_assert(!s.src[0].on_complete && !s.src[0].on_reply && !s.src[0].arg);
    ck_assert(s.src[1].on_complete == on_acked && s.src[1].arg == &marker);
    ck_assert(!s.src[1].on_reply);
    ck_assert(s.src[2].on_reply == record_answer && s.src[2].reply_arg == &a);
    ck_assert(!s.src[2].on_complete);
    ck_assert_uint_ge(s.src[2].deadline_ns, before + 1000000000u);
    ck_assert_uint_le(s.src[2].deadline_ns, now_ns() + 1000000000u);
    ck_assert_int_eq(bus_event_source(NULL, &s.src[0]), -EINVAL);
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

/* A reply that does not fit the caller's buffer is -ENOBUFS, with the first
 * bytes copied and the full size told; a request payload over max_payload
 * stays -EMSGSIZE. buf NULL with buf_size 0 is allowed: nothing is copied
 * (not even memcpy(NULL, ..., 0), which UBSan reports). */
START_TEST(reply_larger_than_buffer_is_enobufs)
{
    bus_t *bus = new_bus(1);
    bus_topic_t *t = responder_topic(bus, "sync", double_it, NULL);
    int v = 5, doubled = 10;
    size_t size = 0;
    ck_assert_int_eq(bus_request_wait(t, &v, sizeof(v), 0, NULL, 0, &size), -ENOBUFS);
    ck_assert_uint_eq(size, sizeof(int));
    char small[2] = {0};
    size = 0;
    ck_assert_int_eq(bus_request_wait(t, &v, sizeof(v), 0, small, sizeof(small), &size),
                     -ENOBUFS);
    ck_assert_uint_eq(size, sizeof(int));
    ck_assert_mem_eq(small, &doubled, sizeof(small));
    char big[257] = {0}; /* the default max_payload is 256 */
    ck_assert_int_eq(bus_request_wait(t, big, sizeof(big), 0, small, sizeof(small), &size),
                     -EMSGSIZE);
    ck_assert_ptr_nonnull(strstr(bus_strerror(-ENOBUFS), "buffer"));
    ck_assert_ptr_nonnull(strstr(bus_strerror(-EALREADY), "timed out"));
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

/* A topic whose only worker is held in a handler, with a full ring. */
struct full_topic {
    bus_t *bus;
    bus_topic_t *topic;
    struct gate gate;
    bus_sub_t *sub;
};

static void hold_full_topic(struct full_topic *f, int policy)
{
    f->bus = new_bus(1);
    f->topic = new_topic(f->bus, "full", 2, policy, 0);
    gate_init(&f->gate);
    ck_assert_ok(bus_subscribe(f->topic, wait_at_gate, &f->gate, &f->sub));
    for (int i = 0; i < 2; i++) /* the first one is being handled: still in the ring */
        ck_assert_ok(bus_publish(f->topic, &i, sizeof(i)));
    gate_await_waiters(&f->gate, 1);
}

/* Requests refused by a full BUS_FULL_FAIL ring with a 1 ns timeout: the
 * error return must be the only answer. A timer armed before the publish
 * could fire before the refusal was noted (in 5 to 35% of the calls here), calling
 * on_reply, or waking a bus_request_wait() that had returned (its waiter on
 * a dead stack frame). */
START_TEST(refused_request_is_never_answered)
{
    enum { ROUNDS = 5000 };
    struct full_topic f;
    hold_full_topic(&f, BUS_FULL_FAIL);
    struct answer a = {0};
    char reply[8];
    size_t size;
    for (int i = 0; i < ROUNDS; i++) {
        ck_assert_int_eq(bus_request(f.topic, NULL, 0, 1, record_answer, &a), -EAGAIN);
        ck_assert_int_eq(bus_request_wait(f.topic, NULL, 0, 1, reply, sizeof(reply), &size),
                         -EAGAIN);
    }
    gate_open(&f.gate);
    ck_assert_ok(bus_shutdown(f.bus)); /* joins the timer thread: no answer is under way */
    ck_assert_int_eq(calls_of(&a), 0);
    ck_assert_ok(bus_destroy(f.bus));
}
END_TEST

/* A request dropped by a full BUS_FULL_DROP ring is answered (-EAGAIN)
 * inside bus_request(), before its timer would be armed: the arm must then
 * do nothing. Were the hour-long timers armed anyway, their requests would
 * still be in the heap at bus_destroy (a leak LeakSanitizer reports). */
START_TEST(dropped_request_arms_no_timer)
{
    enum { N = 100 };
    struct full_topic f;
    hold_full_topic(&f, BUS_FULL_DROP);
    struct answer a = {0};
    for (int i = 0; i < N; i++) {
        ck_assert_ok(bus_request(f.topic, NULL, 0, 3600 * UINT64_C(1000000000), record_answer,
                                 &a));
        ck_assert_int_eq(calls_of(&a), i + 1);
        ck_assert_int_eq(a.status, -EAGAIN);
    }
    gate_open(&f.gate);
    ck_assert_ok(bus_destroy(f.bus));
}
END_TEST

struct blocked_request {
    bus_topic_t *topic;
    struct answer answer;
    int rc;
};

static void *request_on_full_topic(void *arg)
{
    struct blocked_request *b = arg;
    b->rc = bus_request(b->topic, NULL, 0, 1000000u /* 1 ms */, record_answer, &b->answer);
    return NULL;
}

static void *shut_down_bus(void *bus)
{
    return (void *)(intptr_t)bus_shutdown(bus);
}

/* A request blocked on a full BUS_FULL_BLOCK ring for longer than its
 * timeout, then refused by bus_shutdown: the caller gets -ESHUTDOWN and no
 * answer, not also an -ETIMEDOUT from a timer armed before the publish. */
START_TEST(request_refused_after_blocking_is_never_answered)
{
    struct full_topic f;
    hold_full_topic(&f, BUS_FULL_BLOCK);
    struct blocked_request b = {.topic = f.topic};
    pthread_t requester, stopper;
    pthread_create(&requester, NULL, request_on_full_topic, &b);
    /* Not synchronisation: time for a timer armed before the publish to
     * fire (1 ms) while the publish blocks. */
    sleep_ms(20);
    pthread_create(&stopper, NULL, shut_down_bus, f.bus);
    pthread_join(requester, NULL);
    ck_assert_int_eq(b.rc, -ESHUTDOWN);
    gate_open(&f.gate);
    void *shutdown_rc;
    pthread_join(stopper, &shutdown_rc);
    ck_assert_int_eq((int)(intptr_t)shutdown_rc, 0); /* timer thread joined */
    ck_assert_int_eq(calls_of(&b.answer), 0);
    ck_assert_ok(bus_destroy(f.bus));
}
END_TEST

/* Timeouts whose deadline is past the clock's range mean "no timeout"; added
 * to the clock without saturating, they wrapped to a deadline in the past.
 * A 20 ms request on another topic times out first: the timer thread fires
 * deadlines in order, so a wrapped one would have fired by then. */
START_TEST(huge_timeout_never_fires)
{
    static const uint64_t huge[] = {UINT64_MAX, UINT64_MAX - 1000, UINT64_MAX / 2};
    enum { N = sizeof(huge) / sizeof(huge[0]) };
    bus_t *bus = new_bus(2);
    bus_topic_t *slow = new_topic(bus, "slow", 8, BUS_FULL_BLOCK, 0);
    bus_topic_t *other = new_topic(bus, "other", 8, BUS_FULL_BLOCK, 0);
    struct slow s = {.reply_rc = 1}, o = {.reply_rc = 1};
    gate_init(&s.gate);
    gate_init(&o.gate);
    bus_sub_t *s1, *s2;
    ck_assert_ok(bus_subscribe(slow, reply_late, &s, &s1));
    ck_assert_ok(bus_subscribe(other, reply_late, &o, &s2));
    struct answer a[N] = {0}, yardstick = {0};
    for (int i = 0; i < N; i++)
        ck_assert_ok(bus_request(slow, NULL, 0, huge[i], record_answer, &a[i]));
    ck_assert_ok(bus_request(other, NULL, 0, 20 * 1000000u, record_answer, &yardstick));
    await_answer(&yardstick);
    ck_assert_int_eq(yardstick.status, -ETIMEDOUT);
    for (int i = 0; i < N; i++)
        ck_assert_int_eq(calls_of(&a[i]), 0);
    gate_open(&s.gate);
    for (int i = 0; i < N; i++) {
        await_answer(&a[i]);
        ck_assert_int_eq(a[i].status, 0);
        ck_assert_mem_eq(a[i].reply, "late", 4);
    }
    gate_open(&o.gate);
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

/* on_reply on the timer thread (a timeout) tries to end the bus. Shutting
 * down from there would join the timer thread from itself; destroying would
 * free the bus under it; flushing and closing a topic would wait for
 * handlers that may wait for this thread. All are refused and the bus keeps
 * running. */
struct ender {
    bus_t *bus;
    bus_topic_t *topic;
    struct gate *gate;
    atomic_int calls;
    int status, shutdown_rc, destroy_rc, flush_rc, close_rc;
};

static void end_bus(int status, const void *reply, size_t size, void *arg)
{
    (void)reply;
    (void)size;
    struct ender *e = arg;
    e->status = status;
    gate_open(e->gate); /* a shutdown that went ahead would wait for the handler */
    e->shutdown_rc = bus_shutdown(e->bus);
    e->destroy_rc = bus_destroy(e->bus);
    e->flush_rc = bus_flush(e->bus);
    e->close_rc = bus_topic_close(e->topic, BUS_CLOSE_DRAIN, NULL);
    atomic_store(&e->calls, 1);
}

START_TEST(timer_thread_cannot_end_its_bus)
{
    bus_t *bus = new_bus(1);
    struct slow s = {.reply_rc = 1};
    gate_init(&s.gate);
    bus_topic_t *t = responder_topic(bus, "slow", reply_late, &s);
    struct ender e = {.bus = bus, .topic = t, .gate = &s.gate};
    ck_assert_ok(bus_request(t, NULL, 0, 1000000u, end_bus, &e));
    while (!atomic_load(&e.calls))
        sleep_ms(1);
    ck_assert_int_eq(e.status, -ETIMEDOUT);
    ck_assert_int_eq(e.shutdown_rc, -EDEADLK);
    ck_assert_int_eq(e.destroy_rc, -EDEADLK);
    ck_assert_int_eq(e.flush_rc, -EDEADLK);
    ck_assert_int_eq(e.close_rc, -EDEADLK);
    ck_assert_ok(bus_flush(bus)); /* still running: the late reply is refused */
    ck_assert_int_eq(atomic_load(&s.reply_rc), -EALREADY);
    ck_assert_ok(bus_publish(t, NULL, 0));
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

/* bus_request_wait() from on_reply on the timer thread would wait for a
 * timeout that only this thread can fire. */
struct nested {
    bus_topic_t *topic;
    atomic_int calls;
    int status, wait_rc;
};

static int linger(const bus_event_t *ev, void *ctx)
{
    (void)ev;
    (void)ctx;
    sleep_ms(200); /* slow work that never replies */
    return 0;
}

static void wait_again(int status, const void *reply, size_t size, void *arg)
{
    (void)reply;
    (void)size;
    struct nested *n = arg;
    n->status = status;
    size_t got;
    n->wait_rc = bus_request_wait(n->topic, NULL, 0, 10 * 1000000u, NULL, 0, &got);
    atomic_store(&n->calls, 1);
}

START_TEST(request_wait_on_timer_thread_is_edeadlk)
{
    bus_t *bus = new_bus(2);
    bus_topic_t *slow = new_topic(bus, "slow", 8, BUS_FULL_BLOCK, 0);
    bus_topic_t *lingering = new_topic(bus, "lingering", 8, BUS_FULL_BLOCK, 0);
    struct slow s = {.reply_rc = 1};
    gate_init(&s.gate);
    bus_sub_t *s1, *s2;
    ck_assert_ok(bus_subscribe(slow, reply_late, &s, &s1));
    ck_assert_ok(bus_subscribe(lingering, linger, NULL, &s2));
    struct nested n = {.topic = lingering};
    ck_assert_ok(bus_request(slow, NULL, 0, 1000000u, wait_again, &n));
    while (!atomic_load(&n.calls))
        sleep_ms(1);
    ck_assert_int_eq(n.status, -ETIMEDOUT);
    ck_assert_int_eq(n.wait_rc, -EDEADLK);
    gate_open(&s.gate);
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
    tcase_add_test(tc, reply_larger_than_buffer_is_enobufs);
    tcase_add_test(tc, reply_error_reaches_requester);
    tcase_add_test(tc, event_source_tells_how_it_was_published);
    tcase_add_test(tc, refused_request_is_never_answered);
    tcase_add_test(tc, dropped_request_arms_no_timer);
    tcase_add_test(tc, request_refused_after_blocking_is_never_answered);
    tcase_add_test(tc, huge_timeout_never_fires);
    tcase_add_test(tc, timer_thread_cannot_end_its_bus);
    tcase_add_test(tc, request_wait_on_timer_thread_is_edeadlk);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
