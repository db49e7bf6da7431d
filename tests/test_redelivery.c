/* test_redelivery.c - failed handler calls tried again (max_deliver,
 * backoff_ns), dead letters with the attempts, order, and what unsubscribe,
 * close, flush and shutdown do with the retries pending. */
#include "helpers.h"

enum { MS = 1000000 };
/* Slack over a delay for a retry's call: the timer thread and a worker must
 * run, on a shared machine (load 13 on 2 cores seen), under sanitizers. Still
 * 50 times the delays tested: a wrong unit or a missed wake-up shows. */
#define LATE_NS (2000ull * MS)

/* A handler that fails its first `fail` calls of each event (by attempt
 * number) and records every call. */
enum { MAX_CALLS = 64 };
struct flaky {
    uint32_t fail;              /* attempts 1..fail fail */
    atomic_uint calls;
    uint32_t attempt[MAX_CALLS];
    uint64_t seq[MAX_CALLS], at_ns[MAX_CALLS];
};

static int flaky_handler(const bus_event_t *ev, void *ctx)
{
    struct flaky *f = ctx;
    /* Calls on several topics (a pattern) may run at once: each its own
     * record; the test reads them after a flush. */
    unsigned i = atomic_fetch_add(&f->calls, 1);
    if (i < MAX_CALLS) {
        f->attempt[i] = ev->attempt;
        f->seq[i] = ev->seq;
        f->at_ns[i] = now_ns();
    }
    return ev->attempt <= f->fail ? -EIO : 0;
}

/* The dead letters, copied out for the test. */
struct letters {
    atomic_uint count;
    bus_dead_letter_t head;
    uint32_t attempts;
    uint64_t size;
};

static int keep_letter(const bus_event_t *ev, void *ctx)
{
    struct letters *l = ctx;
    memcpy(&l->head, ev->data, sizeof(l->head));
    l->attempts = bus_dead_letter_attempts(ev);
    l->size = ev->size;
    atomic_fetch_add(&l->count, 1);
    return 0;
}

static bus_sub_t *watch_letters(bus_t *bus, struct letters *l)
{
    bus_topic_t *dl;
    bus_sub_t *sub;
    ck_assert_ok(bus_dead_letter_topic(bus, NULL, &dl));
    ck_assert_ok(bus_subscribe(dl, keep_letter, l, &sub));
    return sub;
}

/* Subscribes @fn with redelivery: up to @max_deliver deliveries, @count
 * delays at @backoff. */
static bus_sub_t *subscribe_retrying_fn(bus_topic_t *t, bus_handler_fn fn, void *ctx,
                                        uint32_t max_deliver, const uint64_t *backoff,
                                        uint32_t count, bool in_order)
{
    bus_sub_options_t opts;
    bus_sub_options_init(&opts);
    opts.max_deliver = max_deliver;
    opts.backoff_ns = backoff;
    opts.backoff_count = count;
    opts.redeliver_in_order = in_order;
    bus_sub_t *sub;
    ck_assert_ok(bus_subscribe_ex(t, fn, ctx, &opts, &sub));
    return sub;
}

static bus_sub_t *subscribe_retrying(bus_topic_t *t, struct flaky *f, uint32_t max_deliver,
                                     const uint64_t *backoff, uint32_t count, bool in_order)
{
    return subscribe_retrying_fn(t, flaky_handler, f, max_deliver, backoff, count, in_order);
}

/* subscribe_retrying() with the one delay @delay_ns before every retry. */
static bus_sub_t *subscribe_one_delay(bus_topic_t *t, struct flaky *f, uint32_t max_deliver,
                                      uint64_t delay_ns, bool in_order)
{
    const uint64_t backoff[] = {delay_ns};
    return subscribe_retrying(t, f, max_deliver, backoff, 1, in_order);
}

/* The redelivery counters of @st, a bus_sub_stats_t or bus_topic_stats_t. */
#define ck_assert_retries(st, tried, redelivered_, dead)          \
    do {                                                         \
        ck_assert_uint_eq((st).retries, (tried));                \
        ck_assert_uint_eq((st).redelivered, (redelivered_));     \
        ck_assert_uint_eq((st).dead_lettered, (dead));           \
    } while (0)

/* Waits (bounded) until @t has @n retries waiting for their time. */
static void await_pending(bus_topic_t *t, uint32_t n)
{
    for (int i = 0; i < 10000 && topic_stats(t).retries_pending != n; i++)
        sleep_ms(1);
    ck_assert_uint_eq(topic_stats(t).retries_pending, n);
}

/* Four deliveries with delays of 20, 40 (and 40 again: the last repeats),
 * then the dead letters with the attempts; counters on both sides. */
START_TEST(delays_counts_and_dead_letter)
{
    bus_t *bus = new_bus(2);
    struct letters l = {0};
    watch_letters(bus, &l);
    bus_topic_t *t = new_topic(bus, "pay", 64, BUS_FULL_BLOCK, 0);
    struct flaky f = {.fail = UINT32_MAX};
    const uint64_t backoff[] = {20 * MS, 40 * MS};
    bus_sub_t *sub = subscribe_retrying(t, &f, 4, backoff, 2, false);
    ck_assert_ok(bus_publish(t, "abc", 3));
    ck_assert_ok(bus_flush_quiet(bus, 30000ull * MS)); /* waits for the retries */
    ck_assert_uint_eq(atomic_load(&f.calls), 4);
    const uint64_t want[] = {20 * MS, 40 * MS, 40 * MS};
    for (int i = 0; i < 4; i++) {
        ck_assert_uint_eq(f.attempt[i], (uint32_t)i + 1);
        ck_assert_uint_eq(f.seq[i], 1);
    }
    for (int i = 0; i < 3; i++) {
        uint64_t gap = f.at_ns[i + 1] - f.at_ns[i];
        ck_assert_uint_ge(gap, want[i]);
        ck_assert_uint_lt(gap, want[i] + LATE_NS);
    }
    ck_assert_uint_eq(atomic_load(&l.count), 1);
    ck_assert_uint_eq(l.attempts, 4);
    ck_assert_int_eq(l.head.error, -EIO);
    ck_assert_uint_eq(l.head.seq, 1);
    ck_assert_uint_eq(l.head.copied, 3);
    ck_assert_uint_eq(l.size, sizeof(bus_dead_letter_t) + 3 + sizeof(uint32_t));
    bus_sub_stats_t ss = sub_stats(sub);
    ck_assert_uint_eq(ss.handler_errors, 4);
    ck_assert_uint_eq(ss.delivered, 0);
    ck_assert_retries(ss, 3, 3, 1);
    bus_topic_stats_t st = topic_stats(t);
    ck_assert_uint_eq(st.handler_errors, 4);
    ck_assert_retries(st, 3, 3, 1);
    ck_assert_uint_eq(st.retries_pending, 0);
    ck_assert_uint_eq(st.retries_dropped, 0);
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

/* A call that succeeds on a retry ends it: no dead letter; a second
 * subscriber that succeeds gets the event once. */
START_TEST(success_on_a_retry_ends_it)
{
    bus_t *bus = new_bus(2);
    struct letters l = {0};
    watch_letters(bus, &l);
    bus_topic_t *t = new_topic(bus, "pay", 64, BUS_FULL_BLOCK, 0);
    struct flaky f = {.fail = 2}, ok = {.fail = 0};
    bus_sub_t *sub = subscribe_retrying(t, &f, 5, NULL, 0, false);
    subscribe_retrying(t, &ok, 5, NULL, 0, false);
    ck_assert_ok(bus_publish(t, "x", 1));
    ck_assert_ok(bus_flush_quiet(bus, 30000ull * MS));
    ck_assert_uint_eq(atomic_load(&f.calls), 3);
    ck_assert_uint_eq(f.attempt[2], 3);
    ck_assert_uint_eq(atomic_load(&ok.calls), 1);
    ck_assert_uint_eq(ok.attempt[0], 1);
    ck_assert_uint_eq(atomic_load(&l.count), 0);
    bus_sub_stats_t ss = sub_stats(sub);
    ck_assert_uint_eq(ss.delivered, 1);
    ck_assert_uint_eq(ss.handler_errors, 2);
    ck_assert_retries(ss, 2, 2, 0);
    bus_topic_stats_t st = topic_stats(t);
    ck_assert_uint_eq(st.delivered, 2);
    ck_assert_uint_eq(st.handler_errors, 2);
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

/* Without the option, as before: a failed call is a dead letter at once,
 * and its letter is the old one (no trailer), read as 1 attempt. */
START_TEST(no_redelivery_by_default)
{
    bus_sub_options_t opts;
    memset(&opts, 0xff, sizeof(opts));
    bus_sub_options_init(&opts);
    ck_assert_uint_eq(opts.max_deliver, 0);
    ck_assert_uint_eq(opts.backoff_count, 0);
    ck_assert(!opts.redeliver_in_order);
    bus_t *bus = new_bus(1);
    struct letters l = {0};
    watch_letters(bus, &l);
    bus_topic_t *t = new_topic(bus, "plain", 64, BUS_FULL_BLOCK, 0);
    struct flaky f = {.fail = UINT32_MAX};
    subscribe(t, flaky_handler, &f);
    ck_assert_ok(bus_publish(t, "abcd", 4));
    ck_assert_ok(bus_flush_quiet(bus, 30000ull * MS));
    ck_assert_uint_eq(atomic_load(&f.calls), 1);
    ck_assert_uint_eq(atomic_load(&l.count), 1);
    ck_assert_uint_eq(l.size, sizeof(bus_dead_letter_t) + 4);
    ck_assert_uint_eq(l.attempts, 1);
    bus_topic_stats_t st = topic_stats(t);
    ck_assert_retries(st, 0, 0, 0);
    ck_assert_uint_eq(bus_dead_letter_attempts(NULL), 0);
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

/* Completions of acknowledged publishes: how many, and their failures. */
struct completions {
    atomic_uint count, failed;
};

static void on_completed(const bus_completion_t *c, void *arg)
{
    struct completions *done = arg;
    atomic_fetch_add(&done->failed, c->failed);
    atomic_fetch_add(&done->count, 1);
}

/* Publishes "ev" as delivery @attempt of a publisher that redelivers
 * itself, unless @last. */
static void publish_try(bus_topic_t *t, struct completions *done, uint32_t attempt, bool last)
{
    bus_publish_options_t o;
    bus_publish_options_init(&o);
    o.on_complete = on_completed;
    o.arg = done;
    o.attempt = attempt;
    o.publisher_redelivers = !last;
    ck_assert_ok(bus_publish_ex(t, "ev", 2, &o));
}

/* A topic a bridge publishes onto, on a bus whose letters go to @l. */
static bus_topic_t *bridged_topic(bus_t *bus, struct letters *l)
{
    watch_letters(bus, l);
    return new_topic(bus, "bridged", 64, BUS_FULL_BLOCK, 0);
}

/* A publisher that redelivers (a bridge): its failed tries before the last
 * reach on_complete only; the last one's failure is the one dead letter,
 * with the publisher's count; handlers see that count. */
START_TEST(publisher_redelivery_letters_the_last_try_only)
{
    bus_t *bus = new_bus(2);
    struct letters l = {0};
    bus_topic_t *t = bridged_topic(bus, &l);
    struct flaky f = {.fail = UINT32_MAX};
    bus_sub_t *sub = subscribe(t, flaky_handler, &f);
    struct completions done = {0};
    publish_try(t, &done, 1, false);
    publish_try(t, &done, 2, false);
    ck_assert_ok(bus_flush_quiet(bus, 30000ull * MS));
    ck_assert_uint_eq(atomic_load(&l.count), 0);
    publish_try(t, &done, 3, true);
    ck_assert_ok(bus_flush_quiet(bus, 30000ull * MS));
    ck_assert_uint_eq(atomic_load(&f.calls), 3);
    for (int i = 0; i < 3; i++)
        ck_assert_uint_eq(f.attempt[i], (uint32_t)i + 1);
    ck_assert_uint_eq(atomic_load(&done.count), 3);
    ck_assert_uint_eq(atomic_load(&done.failed), 3);
    ck_assert_uint_eq(atomic_load(&l.count), 1);
    ck_assert_uint_eq(l.attempts, 3);
    ck_assert_int_eq(l.head.error, -EIO);
    ck_assert_uint_eq(l.head.seq, 3);
    bus_sub_stats_t ss = sub_stats(sub);
    ck_assert_uint_eq(ss.handler_errors, 3);
    ck_assert_retries(ss, 0, 0, 1);
    ck_assert_retries(topic_stats(t), 0, 0, 1);
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

/* A subscription's own redelivery: not for a try the publisher redelivers;
 * on the last try it goes on from the publisher's count (3, then 4 of
 * max_deliver 4). attempt 0 is the first; both fields need on_complete. */
START_TEST(publisher_redelivery_and_local_retries)
{
    bus_t *bus = new_bus(2);
    struct letters l = {0};
    bus_topic_t *t = bridged_topic(bus, &l);
    struct flaky f = {.fail = UINT32_MAX};
    bus_sub_t *sub = subscribe_retrying(t, &f, 4, NULL, 0, false);
    struct completions done = {0};
    publish_try(t, &done, 0, false);
    ck_assert_ok(bus_flush_quiet(bus, 30000ull * MS));
    ck_assert_uint_eq(atomic_load(&f.calls), 1);
    ck_assert_uint_eq(f.attempt[0], 1);
    ck_assert_uint_eq(atomic_load(&l.count), 0);
    ck_assert_retries(topic_stats(t), 0, 0, 0);
    publish_try(t, &done, 3, true);
    ck_assert_ok(bus_flush_quiet(bus, 30000ull * MS));
    ck_assert_uint_eq(atomic_load(&f.calls), 3);
    ck_assert_uint_eq(f.attempt[1], 3);
    ck_assert_uint_eq(f.attempt[2], 4);
    ck_assert_uint_eq(atomic_load(&l.count), 1);
    ck_assert_uint_eq(l.attempts, 4);
    bus_sub_stats_t ss = sub_stats(sub);
    ck_assert_retries(ss, 1, 1, 1);
    bus_publish_options_t o;
    bus_publish_options_init(&o);
    o.attempt = 2;
    ck_assert_int_eq(bus_publish_ex(t, "ev", 2, &o), -EINVAL);
    ck_assert_ptr_nonnull(strstr(bus_last_error(), "publisher_redelivers without on_complete"));
    o.attempt = 0;
    o.publisher_redelivers = true;
    ck_assert_int_eq(bus_publish_ex(t, "ev", 2, &o), -EINVAL);
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

START_TEST(bad_options_are_refused)
{
    bus_t *bus = new_bus(1);
    bus_topic_t *t = new_topic(bus, "opts", 64, BUS_FULL_BLOCK, 0);
    struct flaky f = {0};
    bus_sub_options_t opts;
    bus_sub_t *sub;
    const uint64_t three[] = {1, 2, 3}, huge[] = {(UINT64_C(1) << 62) + 1};
    bus_sub_options_init(&opts);
    opts.max_deliver = 3;
    opts.backoff_ns = three;
    opts.backoff_count = 3; /* 2 redeliveries, 3 delays */
    ck_assert_int_eq(bus_subscribe_ex(t, flaky_handler, &f, &opts, &sub), -EINVAL);
    ck_assert_ptr_nonnull(strstr(bus_last_error(), "backoff_count"));
    opts.backoff_ns = NULL;
    opts.backoff_count = 1;
    ck_assert_int_eq(bus_subscribe_ex(t, flaky_handler, &f, &opts, &sub), -EINVAL);
    opts.backoff_ns = huge;
    ck_assert_int_eq(bus_subscribe_ex(t, flaky_handler, &f, &opts, &sub), -EINVAL);
    ck_assert_int_eq(bus_subscribe_pattern(bus, "o.*", flaky_handler, &f, &opts, &sub),
                     -EINVAL);
    opts.backoff_ns = three;
    opts.backoff_count = 2;
    ck_assert_ok(bus_subscribe_ex(t, flaky_handler, &f, &opts, &sub));
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

/* Many events on a parallel topic, each failing once: every one is handled
 * on its second delivery, with nothing lost or doubled. */
enum { MANY = 500 };
struct per_seq {
    atomic_uint calls[MANY + 1];
    atomic_uint wrong_attempt;
};

static int fail_first_try(const bus_event_t *ev, void *ctx)
{
    struct per_seq *p = ctx;
    unsigned n = atomic_fetch_add(&p->calls[ev->seq], 1) + 1;
    if (n != ev->attempt)
        atomic_fetch_add(&p->wrong_attempt, 1);
    return ev->attempt == 1 ? -EAGAIN : 0;
}

START_TEST(many_events_each_retried_once)
{
    bus_t *bus = new_bus(2);
    bus_topic_t *t = new_topic(bus, "par", 128, BUS_FULL_BLOCK, BUS_TOPIC_PARALLEL);
    struct per_seq *p = calloc(1, sizeof(*p));
    const uint64_t backoff[] = {1 * MS};
    bus_sub_t *sub = subscribe_retrying_fn(t, fail_first_try, p, 3, backoff, 1, false);
    for (uint64_t i = 0; i < MANY; i++)
        ck_assert_ok(bus_publish(t, &i, sizeof(i)));
    ck_assert_ok(bus_flush(bus));
    for (int s = 1; s <= MANY; s++)
        ck_assert_uint_eq(atomic_load(&p->calls[s]), 2);
    ck_assert_uint_eq(atomic_load(&p->wrong_attempt), 0);
    bus_sub_stats_t ss = sub_stats(sub);
    ck_assert_uint_eq(ss.delivered, MANY);
    ck_assert_retries(ss, MANY, MANY, 0);
    ck_assert_ok(bus_destroy(bus));
    free(p);
}
END_TEST

/* A queue group's retry goes to the group: round robin, so the member
 * after the one that failed gets it. */
START_TEST(group_retry_goes_to_the_next_member)
{
    bus_t *bus = new_bus(1);
    bus_topic_t *t = new_topic(bus, "work", 64, BUS_FULL_BLOCK, 0);
    struct flaky bad = {.fail = UINT32_MAX}, good = {.fail = 0};
    bus_sub_options_t opts;
    bus_sub_options_init(&opts);
    opts.group = "workers";
    opts.max_deliver = 3;
    bus_sub_t *a, *b;
    ck_assert_ok(bus_subscribe_ex(t, flaky_handler, &bad, &opts, &a));
    ck_assert_ok(bus_subscribe_ex(t, flaky_handler, &good, &opts, &b));
    ck_assert_ok(bus_publish(t, "job", 3));
    ck_assert_ok(bus_flush(bus));
    ck_assert_uint_eq(atomic_load(&bad.calls), 1);
    ck_assert_uint_eq(bad.attempt[0], 1);
    ck_assert_uint_eq(atomic_load(&good.calls), 1);
    ck_assert_uint_eq(good.attempt[0], 2);
    bus_sub_stats_t sa, sb;
    ck_assert_ok(bus_sub_stats(a, &sa));
    ck_assert_ok(bus_sub_stats(b, &sb));
    ck_assert_uint_eq(sa.retries, 1);
    ck_assert_uint_eq(sa.redelivered, 0);
    ck_assert_uint_eq(sb.redelivered, 1);
    ck_assert_uint_eq(sb.delivered, 1);
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

/* The order handlers see, by seq. */
struct order_log {
    pthread_mutex_t lock;
    uint64_t seq[64];
    uint32_t attempt[64];
    unsigned n;
    uint64_t fail_seq; /* fails the first `fails` deliveries of this seq */
    uint32_t fails;
};

static int log_order(const bus_event_t *ev, void *ctx)
{
    struct order_log *o = ctx;
    pthread_mutex_lock(&o->lock);
    if (o->n < 64) {
        o->seq[o->n] = ev->seq;
        o->attempt[o->n] = ev->attempt;
        o->n++;
    }
    pthread_mutex_unlock(&o->lock);
    return ev->seq == o->fail_seq && ev->attempt <= o->fails ? -EIO : 0;
}

static void publish_five(bus_topic_t *t)
{
    bus_msg_t msgs[5];
    for (int i = 0; i < 5; i++)
        msgs[i] = (bus_msg_t){"e", 1};
    size_t accepted;
    /* One reservation and one commit: the worker finds all five at once. */
    ck_assert_ok(bus_publish_batch(t, msgs, 5, &accepted));
    ck_assert_uint_eq(accepted, 5);
}

static bus_sub_t *subscribe_logged(bus_topic_t *t, struct order_log *o, bool in_order)
{
    const uint64_t backoff[] = {5 * MS};
    return subscribe_retrying_fn(t, log_order, o, 4, backoff, 1, in_order);
}

/* By default a retry comes after the events dispatched meanwhile: seq 1
 * fails twice and is handled last. */
START_TEST(retry_is_overtaken_by_default)
{
    bus_t *bus = new_bus(1);
    bus_topic_t *t = new_topic(bus, "ord", 64, BUS_FULL_BLOCK, 0);
    struct order_log o = {.lock = PTHREAD_MUTEX_INITIALIZER, .fail_seq = 1, .fails = 2};
    subscribe_logged(t, &o, false);
    publish_five(t);
    ck_assert_ok(bus_flush(bus));
    const uint64_t want[] = {1, 2, 3, 4, 5, 1, 1};
    ck_assert_uint_eq(o.n, 7);
    for (int i = 0; i < 7; i++)
        ck_assert_uint_eq(o.seq[i], want[i]);
    ck_assert_uint_eq(o.attempt[6], 3);
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

/* redeliver_in_order: the topic holds its later events until seq 1
 * succeeds, for every subscriber of the topic. */
START_TEST(in_order_keeps_topic_order)
{
    bus_t *bus = new_bus(2);
    bus_topic_t *t = new_topic(bus, "ord", 64, BUS_FULL_BLOCK, 0);
    struct order_log o = {.lock = PTHREAD_MUTEX_INITIALIZER, .fail_seq = 1, .fails = 2};
    struct order_log other = {.lock = PTHREAD_MUTEX_INITIALIZER};
    subscribe_logged(t, &o, true);
    subscribe_logged(t, &other, false);
    publish_five(t);
    ck_assert_ok(bus_flush(bus));
    const uint64_t want[] = {1, 1, 1, 2, 3, 4, 5};
    ck_assert_uint_eq(o.n, 7);
    for (int i = 0; i < 7; i++)
        ck_assert_uint_eq(o.seq[i], want[i]);
    ck_assert_uint_eq(o.attempt[2], 3);
    ck_assert_uint_eq(other.n, 5); /* held too, then in order */
    for (unsigned i = 0; i < 5; i++)
        ck_assert_uint_eq(other.seq[i], i + 1);
    ck_assert_uint_eq(topic_stats(t).retries, 2);
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

/* Keyed: the in-order retry holds its key's lane only; other lanes go on
 * meanwhile, and the key's later events come after the retry. */
struct keyed_log {
    pthread_mutex_t lock;
    uint64_t key[64]; /* key * 10 + attempt */
    unsigned n;
    bool failed; /* the first event of key 7 failed once */
};

static int log_key(const bus_event_t *ev, void *ctx)
{
    struct keyed_log *k = ctx;
    uint64_t key;
    memcpy(&key, ev->data, sizeof(key));
    pthread_mutex_lock(&k->lock);
    if (k->n < 64)
        k->key[k->n++] = key * 10 + ev->attempt;
    bool fail = key == 7 && !k->failed;
    k->failed |= fail;
    pthread_mutex_unlock(&k->lock);
    return fail ? -EIO : 0;
}

START_TEST(in_order_holds_only_the_lane)
{
    bus_t *bus = new_bus(2);
    bus_topic_t *t = new_topic(bus, "keyed", 64, BUS_FULL_BLOCK, BUS_TOPIC_KEYED);
    struct keyed_log k = {.lock = PTHREAD_MUTEX_INITIALIZER};
    const uint64_t backoff[] = {100 * MS};
    subscribe_retrying_fn(t, log_key, &k, 2, backoff, 1, true);
    uint64_t seven = 7;
    ck_assert_ok(bus_publish_keyed(t, 7, &seven, sizeof(seven)));
    ck_assert_ok(bus_publish_keyed(t, 7, &seven, sizeof(seven)));
    for (uint64_t key = 1; key <= 5; key++)
        ck_assert_ok(bus_publish_keyed(t, key, &key, sizeof(key)));
    ck_assert_ok(bus_flush(bus));
    ck_assert_uint_eq(k.n, 8);
    /* Key 7: attempt 1, its retry (attempt 2), then its second event. */
    unsigned first = 64, retry = 64, second = 64, others_before = 0;
    for (unsigned i = 0; i < k.n; i++) {
        if (k.key[i] == 71 && first == 64)
            first = i;
        else if (k.key[i] == 72)
            retry = i;
        else if (k.key[i] == 71)
            second = i;
        else if (retry == 64)
            others_before++;
    }
    ck_assert_uint_lt(first, retry);
    ck_assert_uint_lt(retry, second);
    /* The 100 ms hold let the other lanes' events through before it. */
    ck_assert_uint_gt(others_before, 0);
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

/* A retry pending when its subscription goes: dropped and counted, the
 * handler never called again; flush then has nothing to wait for. */
START_TEST(unsubscribe_drops_pending_retries)
{
    bus_t *bus = new_bus(1);
    bus_topic_t *t = new_topic(bus, "u", 64, BUS_FULL_BLOCK, 0);
    struct flaky f = {.fail = UINT32_MAX};
    bus_sub_t *sub = subscribe_one_delay(t, &f, 3, 60000ull * MS, false);
    ck_assert_ok(bus_publish(t, "a", 1));
    ck_assert_ok(bus_publish(t, "b", 1));
    await_pending(t, 2);
    /* flush waits for the retries of the events published before it. */
    ck_assert_int_eq(bus_flush_timeout(bus, 0), -ETIMEDOUT);
    ck_assert_ok(bus_unsubscribe(sub));
    bus_topic_stats_t st = topic_stats(t);
    ck_assert_uint_eq(st.retries_pending, 0);
    ck_assert_uint_eq(st.retries_dropped, 2);
    ck_assert_ok(bus_flush_timeout(bus, 10000ull * MS));
    ck_assert_uint_eq(atomic_load(&f.calls), 2);
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

/* BUS_CLOSE_DRAIN waits for the retries, through their schedule. */
START_TEST(close_drain_waits_for_retries)
{
    bus_t *bus = new_bus(2);
    bus_topic_t *t = new_topic(bus, "c", 64, BUS_FULL_BLOCK, 0);
    struct flaky f = {.fail = 2};
    subscribe_one_delay(t, &f, 5, 20 * MS, false);
    ck_assert_ok(bus_publish(t, "a", 1));
    bus_topic_stats_t final;
    ck_assert_ok(bus_topic_close(t, BUS_CLOSE_DRAIN, &final));
    ck_assert_uint_eq(atomic_load(&f.calls), 3);
    ck_assert_uint_eq(final.delivered, 1);
    ck_assert_uint_eq(final.handler_errors, 2);
    ck_assert_retries(final, 2, 2, 0);
    ck_assert_uint_eq(final.retries_pending, 0);
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

/* BUS_CLOSE_DROP drops them (counted) and does not wait for their time;
 * an in-order retry's hold ends with it. */
START_TEST(close_drop_drops_retries)
{
    bus_t *bus = new_bus(2);
    bus_topic_t *t = new_topic(bus, "c", 64, BUS_FULL_BLOCK, 0);
    struct flaky f = {.fail = UINT32_MAX};
    subscribe_one_delay(t, &f, 3, 60000ull * MS, true);
    ck_assert_ok(bus_publish(t, "a", 1));
    ck_assert_ok(bus_publish(t, "b", 1)); /* held behind the retry of "a" */
    await_pending(t, 1);
    uint64_t start = now_ns();
    bus_topic_stats_t final;
    ck_assert_ok(bus_topic_close(t, BUS_CLOSE_DROP, &final));
    ck_assert_uint_lt(now_ns() - start, 10000ull * MS);
    ck_assert_uint_eq(atomic_load(&f.calls), 1);
    ck_assert_uint_eq(final.retries_dropped, 1);
    ck_assert_uint_eq(final.dropped, 1); /* "b", discarded */
    ck_assert_uint_eq(final.retries_pending, 0);
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

/* bus_flush and bus_shutdown wait for the retries: nothing pending is
 * lost when they return. */
START_TEST(flush_and_shutdown_wait_for_retries)
{
    bus_t *bus = new_bus(2);
    bus_topic_t *t = new_topic(bus, "s", 64, BUS_FULL_BLOCK, 0);
    struct flaky f = {.fail = 1};
    bus_sub_t *sub = subscribe_one_delay(t, &f, 2, 30 * MS, false);
    ck_assert_ok(bus_publish(t, "a", 1));
    ck_assert_ok(bus_flush(bus));
    ck_assert_uint_eq(atomic_load(&f.calls), 2);
    ck_assert_ok(bus_publish(t, "b", 1));
    ck_assert_ok(bus_shutdown(bus));
    ck_assert_uint_eq(atomic_load(&f.calls), 4);
    bus_sub_stats_t ss = sub_stats(sub);
    ck_assert_uint_eq(ss.delivered, 2);
    ck_assert_uint_eq(ss.redelivered, 2);
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

/* A pattern subscription redelivers on each of its topics; the counters
 * sum, and the exposition shows the topic's. */
START_TEST(pattern_subscription_and_exposition)
{
    bus_t *bus = new_bus(2);
    bus_topic_t *a = new_topic(bus, "p.a", 64, BUS_FULL_BLOCK, 0);
    bus_topic_t *b = new_topic(bus, "p.b", 64, BUS_FULL_BLOCK, BUS_TOPIC_KEYED);
    struct flaky f = {.fail = 1};
    bus_sub_options_t opts;
    bus_sub_options_init(&opts);
    opts.max_deliver = 2;
    bus_sub_t *sub;
    ck_assert_ok(bus_subscribe_pattern(bus, "p.*", flaky_handler, &f, &opts, &sub));
    ck_assert_ok(bus_publish(a, "x", 1));
    ck_assert_ok(bus_publish_keyed(b, 3, "y", 1));
    ck_assert_ok(bus_flush(bus));
    bus_sub_stats_t ss = sub_stats(sub);
    ck_assert_retries(ss, 2, 2, 0);
    ck_assert_uint_eq(ss.delivered, 2);
    ck_assert_uint_eq(topic_stats(b).redelivered, 1);
    static char text[1 << 16];
    size_t len;
    ck_assert_ok(bus_metrics_prometheus(bus, text, sizeof(text), &len));
    ck_assert_ptr_nonnull(strstr(text, "bus_topic_retries_total{topic=\"p.b\"} 1\n"));
    ck_assert_ptr_nonnull(strstr(text, "bus_topic_redelivered_total{topic=\"p.a\"} 1\n"));
    ck_assert_ptr_nonnull(strstr(text, "bus_topic_dead_lettered_total{topic=\"p.a\"} 0\n"));
    ck_assert_ptr_nonnull(strstr(text, "bus_topic_retries_pending{topic=\"p.a\"} 0\n"));
    ck_assert_ok(bus_metrics_json(bus, text, sizeof(text), &len));
    ck_assert_ptr_nonnull(strstr(text, "\"name\":\"p.b\""));
    ck_assert_ptr_nonnull(strstr(text, "\"retries\":1,\"redelivered\":1,\"dead_lettered\":0,"
                                       "\"retries_dropped\":0,\"retries_pending\":0"));
    ck_assert_ok(bus_unsubscribe(sub));
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

static Suite *redelivery_suite(void)
{
    Suite *s = suite_create("redelivery");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, delays_counts_and_dead_letter);
    tcase_add_test(tc, success_on_a_retry_ends_it);
    tcase_add_test(tc, no_redelivery_by_default);
    tcase_add_test(tc, bad_options_are_refused);
    tcase_add_test(tc, publisher_redelivery_letters_the_last_try_only);
    tcase_add_test(tc, publisher_redelivery_and_local_retries);
    tcase_add_test(tc, many_events_each_retried_once);
    tcase_add_test(tc, group_retry_goes_to_the_next_member);
    tcase_add_test(tc, retry_is_overtaken_by_default);
    tcase_add_test(tc, in_order_keeps_topic_order);
    tcase_add_test(tc, in_order_holds_only_the_lane);
    tcase_add_test(tc, unsubscribe_drops_pending_retries);
    tcase_add_test(tc, close_drain_waits_for_retries);
    tcase_add_test(tc, close_drop_drops_retries);
    tcase_add_test(tc, flush_and_shutdown_wait_for_retries);
    tcase_add_test(tc, pattern_subscription_and_exposition);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(redelivery_suite());
}
