/* test_pipeline.c - back-pressure through handler pipelines: a handler that
 * publishes onto a full BUS_FULL_BLOCK topic waits (helping to drain it) and
 * loses nothing, for the Disruptor's shapes and any number of workers; a
 * cycle gets -EDEADLK within a bound instead of hanging. */
#include <stdio.h>

#include "helpers.h"

enum {
    CAPACITY = 64,    /* small rings, so that every stage fills up */
    EVENTS = 20000,   /* per producer: 300 times a ring */
    MAX_SOURCES = 4,
    MAX_NEXT = 3
};

static const unsigned worker_counts[] = {1, 2, 4};

/* What flows through the graph: the producer (or path) and its index. */
struct msg {
    uint32_t src, idx;
};

/* A subscription that passes each event on to its next topics, optionally
 * retagging it with its own path number, so that a join can check the order
 * per path. */
struct stage {
    bus_topic_t *next[MAX_NEXT];
    int nnext;
    int tag; /* -1: keep the event's src */
    atomic_ulong failures;
    atomic_int last_error;
};

static int forward(const bus_event_t *ev, void *ctx)
{
    struct stage *s = ctx;
    struct msg m;
    memcpy(&m, ev->data, sizeof(m));
    if (s->tag >= 0)
        m.src = (uint32_t)s->tag;
    for (int i = 0; i < s->nnext; i++) {
        int rc = bus_publish(s->next[i], &m, sizeof(m));
        if (rc) {
            atomic_fetch_add(&s->failures, 1);
            atomic_store(&s->last_error, rc);
            return rc;
        }
    }
    return 0;
}

/* The end of a path, on an ordered topic (one worker at a time, so plain
 * fields): counts events and checks that each source's come in order. */
struct sink {
    unsigned long count, order_errors;
    uint32_t next_idx[MAX_SOURCES];
};

static int sink_fn(const bus_event_t *ev, void *ctx)
{
    struct sink *s = ctx;
    struct msg m;
    memcpy(&m, ev->data, sizeof(m));
    if (m.src >= MAX_SOURCES || m.idx != s->next_idx[m.src])
        s->order_errors++;
    else
        s->next_idx[m.src]++;
    s->count++;
    return 0;
}

struct producer {
    pthread_t thread;
    bus_topic_t *topic;
    uint32_t src, events;
    int rc;
};

static void *produce(void *arg)
{
    struct producer *p = arg;
    for (uint32_t i = 0; i < p->events && p->rc == 0; i++) {
        struct msg m = {p->src, i};
        p->rc = bus_publish(p->topic, &m, sizeof(m));
    }
    return NULL;
}

/* Runs one producer per source topic, then flushes once per stage of the
 * longest path (a flush covers the events published before it). */
static void run(bus_t *bus, bus_topic_t **sources, int nsources, int depth)
{
    struct producer p[MAX_SOURCES];
    for (int i = 0; i < nsources; i++) {
        p[i] = (struct producer){.topic = sources[i], .src = (uint32_t)i, .events = EVENTS};
        ck_assert_ok(pthread_create(&p[i].thread, NULL, produce, &p[i]));
    }
    for (int i = 0; i < nsources; i++) {
        pthread_join(p[i].thread, NULL);
        ck_assert_ok(p[i].rc);
    }
    for (int i = 0; i < depth; i++)
        ck_assert_ok(bus_flush(bus));
}

static bus_topic_t *topic(bus_t *bus, const char *name, unsigned flags)
{
    return new_topic(bus, name, CAPACITY, BUS_FULL_BLOCK, flags);
}

static void add_stage(bus_topic_t *from, struct stage *s, int tag, bus_topic_t *n0,
                      bus_topic_t *n1, bus_topic_t *n2)
{
    bus_topic_t *next[] = {n0, n1, n2};
    s->tag = tag;
    s->nnext = 0;
    for (int i = 0; i < MAX_NEXT; i++)
        if (next[i])
            s->next[s->nnext++] = next[i];
    subscribe(from, forward, s);
}

static void add_sink(bus_topic_t *t, struct sink *s)
{
    subscribe(t, sink_fn, s);
}

static void assert_sink(const struct sink *s, unsigned long count)
{
    ck_assert_uint_eq(s->count, count);
    ck_assert_uint_eq(s->order_errors, 0);
}

static void assert_no_failures(struct stage *stages, int n)
{
    for (int i = 0; i < n; i++)
        ck_assert_uint_eq(atomic_load(&stages[i].failures), 0);
}

/* The ring filled up at least once: back-pressure was exercised. Asserted
 * with one worker only: it forwards a whole batch of its topic (up to 64
 * events, the capacity) before it turns to the next topic, and the
 * producer, which does less per event, keeps the source full. With more
 * workers, whether a consumer keeps up is timing: under TSan on the loaded
 * machine the worker draining multicast's three consumer topics kept up
 * with the one forwarding to them in about 1 run of 6, on bp alone and
 * after the merge alike (high water 48, 55 of 64). */
static void assert_was_full(bus_topic_t *t, unsigned workers)
{
    if (workers > 1)
        return;
    bus_topic_stats_t st = topic_stats(t);
    ck_assert_uint_eq(st.high_water, CAPACITY);
}

START_TEST(unicast)
{
    bus_t *bus = new_bus(worker_counts[_i]);
    bus_topic_t *a = topic(bus, "a", 0);
    struct sink sink = {0};
    add_sink(a, &sink);
    run(bus, &a, 1, 1);
    assert_sink(&sink, EVENTS);
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

/* A chain of @n topics: each handler forwards to the next, the last counts. */
static void pipeline(unsigned workers, int n, unsigned middle_flags)
{
    bus_t *bus = new_bus(workers);
    bus_topic_t *t[16];
    struct stage stages[16] = {0};
    struct sink sink = {0};
    char name[16];
    for (int i = 0; i < n; i++) {
        snprintf(name, sizeof(name), "stage%d", i);
        t[i] = topic(bus, name, i > 0 && i < n - 1 ? middle_flags : 0);
    }
    for (int i = 0; i < n - 1; i++)
        add_stage(t[i], &stages[i], -1, t[i + 1], NULL, NULL);
    add_sink(t[n - 1], &sink);
    run(bus, t, 1, n);
    assert_no_failures(stages, n - 1);
    if (middle_flags & BUS_TOPIC_PARALLEL) {
        ck_assert_uint_eq(sink.count, EVENTS); /* no order across a parallel stage */
    } else {
        assert_sink(&sink, EVENTS);
    }
    assert_was_full(t[1], workers);
    ck_assert_ok(bus_destroy(bus));
}

START_TEST(pipeline_3_stages)
{
    pipeline(worker_counts[_i], 3, 0);
}
END_TEST

START_TEST(pipeline_16_stages)
{
    pipeline(worker_counts[_i], 16, 0);
}
END_TEST

START_TEST(pipeline_with_parallel_stage)
{
    pipeline(worker_counts[_i], 3, BUS_TOPIC_PARALLEL);
}
END_TEST

/* One topic, three subscribers, each forwarding to its own consumer topic. */
START_TEST(multicast_1p_3c)
{
    bus_t *bus = new_bus(worker_counts[_i]);
    bus_topic_t *a = topic(bus, "a", 0);
    bus_topic_t *c[3] = {topic(bus, "c0", 0), topic(bus, "c1", 0), topic(bus, "c2", 0)};
    struct stage stages[3] = {0};
    struct sink sinks[3] = {0};
    for (int i = 0; i < 3; i++) {
        add_stage(a, &stages[i], -1, c[i], NULL, NULL);
        add_sink(c[i], &sinks[i]);
    }
    run(bus, &a, 1, 2);
    assert_no_failures(stages, 3);
    for (int i = 0; i < 3; i++)
        assert_sink(&sinks[i], EVENTS);
    assert_was_full(c[0], worker_counts[_i]);
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

/* Three producers, each on its own topic whose handler forwards to one join
 * topic: order per producer at the join. */
START_TEST(sequencer_3p_1c)
{
    bus_t *bus = new_bus(worker_counts[_i]);
    bus_topic_t *src[3] = {topic(bus, "p0", 0), topic(bus, "p1", 0), topic(bus, "p2", 0)};
    bus_topic_t *join = topic(bus, "join", 0);
    struct stage stages[3] = {0};
    struct sink sink = {0};
    for (int i = 0; i < 3; i++)
        add_stage(src[i], &stages[i], -1, join, NULL, NULL);
    add_sink(join, &sink);
    run(bus, src, 3, 2);
    assert_no_failures(stages, 3);
    assert_sink(&sink, 3 * EVENTS);
    for (int i = 0; i < 3; i++)
        ck_assert_uint_eq(sink.next_idx[i], EVENTS);
    assert_was_full(join, worker_counts[_i]);
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

/* a -> b and a -> c (two subscribers of a), b -> d and c -> d: d gets every
 * event twice, in order per path. */
static void diamond(unsigned workers, unsigned side_flags)
{
    bus_t *bus = new_bus(workers);
    bus_topic_t *a = topic(bus, "a", 0);
    bus_topic_t *b = topic(bus, "b", side_flags), *c = topic(bus, "c", side_flags);
    bus_topic_t *d = topic(bus, "d", 0);
    struct stage stages[4] = {0};
    struct sink sink = {0};
    add_stage(a, &stages[0], -1, b, NULL, NULL);
    add_stage(a, &stages[1], -1, c, NULL, NULL);
    add_stage(b, &stages[2], 1, d, NULL, NULL);
    add_stage(c, &stages[3], 2, d, NULL, NULL);
    add_sink(d, &sink);
    run(bus, &a, 1, 3);
    assert_no_failures(stages, 4);
    ck_assert_uint_eq(sink.count, 2 * EVENTS);
    if (!(side_flags & BUS_TOPIC_PARALLEL)) {
        ck_assert_uint_eq(sink.order_errors, 0);
        ck_assert_uint_eq(sink.next_idx[1], EVENTS);
        ck_assert_uint_eq(sink.next_idx[2], EVENTS);
    }
    assert_was_full(d, workers);
    ck_assert_ok(bus_destroy(bus));
}

START_TEST(diamond_ordered)
{
    diamond(worker_counts[_i], 0);
}
END_TEST

START_TEST(diamond_parallel_sides)
{
    diamond(worker_counts[_i], BUS_TOPIC_PARALLEL);
}
END_TEST

/* A handler that forwards each event as a batch of 8 onto the next topic. */
static int forward_batch(const bus_event_t *ev, void *ctx)
{
    struct stage *s = ctx;
    bus_msg_t msgs[8];
    for (int i = 0; i < 8; i++)
        msgs[i] = (bus_msg_t){ev->data, ev->size};
    size_t accepted;
    int rc = bus_publish_batch(s->next[0], msgs, 8, &accepted);
    if (rc || accepted != 8) {
        atomic_fetch_add(&s->failures, 1);
        return rc ? rc : -EIO;
    }
    return 0;
}

static int count_calls(const bus_event_t *ev, void *ctx)
{
    (void)ev;
    (*(unsigned long *)ctx)++; /* ordered topic: one worker at a time */
    return 0;
}

START_TEST(batch_from_handler_waits_for_room)
{
    bus_t *bus = new_bus(worker_counts[_i]);
    bus_topic_t *a = topic(bus, "a", 0), *b = topic(bus, "b", 0);
    struct stage stage = {.next = {b}, .nnext = 1};
    unsigned long count = 0;
    bus_sub_t *s1, *s2;
    ck_assert_ok(bus_subscribe(a, forward_batch, &stage, &s1));
    ck_assert_ok(bus_subscribe(b, count_calls, &count, &s2));
    run(bus, &a, 1, 2);
    ck_assert_uint_eq(atomic_load(&stage.failures), 0);
    ck_assert_uint_eq(count, 8ul * EVENTS);
    assert_was_full(b, worker_counts[_i]);
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

/* Requests from a handler: each event of a becomes a request on b, whose
 * handler replies; every reply arrives. */
static void count_reply(int status, const void *reply, size_t size, void *arg)
{
    (void)reply;
    (void)size;
    if (status == 0)
        atomic_fetch_add((atomic_ulong *)arg, 1);
}

struct requester {
    bus_topic_t *next;
    atomic_ulong replies, failures;
};

static int forward_request(const bus_event_t *ev, void *ctx)
{
    struct requester *r = ctx;
    int rc = bus_request(r->next, ev->data, ev->size, 0, count_reply, &r->replies);
    if (rc)
        atomic_fetch_add(&r->failures, 1);
    return rc;
}

static int reply_ok(const bus_event_t *ev, void *ctx)
{
    (void)ctx;
    return bus_reply(ev, "ok", 2);
}

START_TEST(request_from_handler_waits_for_room)
{
    bus_t *bus = new_bus(worker_counts[_i]);
    bus_topic_t *a = topic(bus, "a", 0), *b = topic(bus, "b", 0);
    struct requester r = {.next = b};
    bus_sub_t *s1, *s2;
    ck_assert_ok(bus_subscribe(a, forward_request, &r, &s1));
    ck_assert_ok(bus_subscribe(b, reply_ok, NULL, &s2));
    run(bus, &a, 1, 2);
    ck_assert_uint_eq(atomic_load(&r.failures), 0);
    ck_assert_uint_eq(atomic_load(&r.replies), EVENTS);
    assert_was_full(b, worker_counts[_i]);
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

/* A request handler that publishes acknowledged events onto a full topic
 * (so that its worker dispatches them nested, with their own completions)
 * can still reply to its request afterwards. Failed before the dispatching
 * record was restored after nested dispatch: bus_reply said -EINVAL. */
static void ignore_completion(const bus_completion_t *c, void *arg)
{
    (void)c;
    (void)arg;
}

static int flood_then_reply(const bus_event_t *ev, void *ctx)
{
    bus_topic_t *full = ctx;
    bus_publish_options_t opts;
    bus_publish_options_init(&opts);
    opts.on_complete = ignore_completion;
    for (int i = 0; i < 4 * CAPACITY; i++) {
        int rc = bus_publish_ex(full, "x", 1, &opts);
        if (rc)
            return rc;
    }
    return bus_reply(ev, "ok", 2);
}

struct reply_seen {
    atomic_int calls, status;
};

static void record_reply(int status, const void *reply, size_t size, void *arg)
{
    (void)reply;
    (void)size;
    struct reply_seen *s = arg;
    atomic_store(&s->status, status);
    atomic_fetch_add(&s->calls, 1);
}

START_TEST(reply_after_nested_dispatch)
{
    bus_t *bus = new_bus(1);
    bus_topic_t *req = topic(bus, "req", 0), *full = topic(bus, "full", 0);
    unsigned long count = 0;
    bus_sub_t *s1, *s2;
    ck_assert_ok(bus_subscribe(req, flood_then_reply, full, &s1));
    ck_assert_ok(bus_subscribe(full, count_calls, &count, &s2));
    struct reply_seen seen = {0};
    ck_assert_ok(bus_request(req, "q", 1, 0, record_reply, &seen));
    ck_assert_ok(bus_flush(bus));
    ck_assert_ok(bus_flush(bus));
    ck_assert_int_eq(atomic_load(&seen.calls), 1);
    ck_assert_int_eq(atomic_load(&seen.status), 0);
    ck_assert_uint_eq(count, 4 * CAPACITY);
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

/* BUS_FULL_FAIL from a handler still fails at once. */
struct burst {
    bus_topic_t *next;
    atomic_int ok, eagain, other;
};

static int burst_once(const bus_event_t *ev, void *ctx)
{
    struct burst *b = ctx;
    if (ev->seq != 1)
        return 0;
    for (int i = 0; i < 4 * CAPACITY; i++) {
        int rc = bus_publish(b->next, "z", 1);
        atomic_fetch_add(rc == 0 ? &b->ok : rc == -EAGAIN ? &b->eagain : &b->other, 1);
    }
    return 0;
}

START_TEST(fail_policy_from_handler_still_fails)
{
    bus_t *bus = new_bus(1); /* the only worker is busy in the handler */
    bus_topic_t *a = topic(bus, "a", 0);
    bus_topic_t *b = new_topic(bus, "b", CAPACITY, BUS_FULL_FAIL, 0);
    struct burst burst = {.next = b};
    unsigned long count = 0;
    bus_sub_t *s1, *s2;
    ck_assert_ok(bus_subscribe(a, burst_once, &burst, &s1));
    ck_assert_ok(bus_subscribe(b, count_calls, &count, &s2));
    ck_assert_ok(bus_publish(a, "a", 1));
    ck_assert_ok(bus_flush(bus));
    ck_assert_ok(bus_flush(bus));
    ck_assert_int_eq(atomic_load(&burst.ok), CAPACITY);
    ck_assert_int_eq(atomic_load(&burst.eagain), 3 * CAPACITY);
    ck_assert_int_eq(atomic_load(&burst.other), 0);
    ck_assert_uint_eq(count, CAPACITY);
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

enum { CYCLE_BOUND_S = 10 }; /* generous: a hang is what we rule out */

/* A handler publishing a burst onto its own full topic: a cycle of one. The
 * first event holds a slot while handled, so CAPACITY - 1 fit and the rest
 * get -EDEADLK, with any number of workers and either kind of topic. */
static void self_cycle(unsigned workers, unsigned flags)
{
    bus_t *bus = new_bus(workers);
    bus_topic_t *t = topic(bus, "self", flags);
    struct burst burst = {.next = t};
    subscribe(t, burst_once, &burst);
    double start = now_s();
    ck_assert_ok(bus_publish(t, "a", 1));
    ck_assert_ok(bus_flush(bus));
    ck_assert_int_eq(atomic_load(&burst.ok), CAPACITY - 1);
    ck_assert_int_eq(atomic_load(&burst.eagain), 0);
    ck_assert_int_eq(atomic_load(&burst.other), 3 * CAPACITY + 1);
    ck_assert(now_s() - start < CYCLE_BOUND_S);
    ck_assert_ok(bus_destroy(bus));
}

START_TEST(self_cycle_ordered)
{
    self_cycle(worker_counts[_i], 0);
}
END_TEST

START_TEST(self_cycle_parallel)
{
    self_cycle(worker_counts[_i], BUS_TOPIC_PARALLEL);
}
END_TEST

/* a's first event publishes a burst onto b; b's handler forwards every
 * event back onto a. Both fill up: a cycle of two. Every publish returns 0
 * or -EDEADLK, some -EDEADLK, within a bound; what was accepted is handled. */
struct cycle_side {
    bus_topic_t *next;
    bool burst; /* a: burst on the first event; b: forward each */
    atomic_ulong handled, ok, deadlk, other;
};

static void count_rc(struct cycle_side *s, int rc)
{
    atomic_fetch_add(rc == 0 ? &s->ok : rc == -EDEADLK ? &s->deadlk : &s->other, 1);
}

static int cycle_fn(const bus_event_t *ev, void *ctx)
{
    struct cycle_side *s = ctx;
    atomic_fetch_add(&s->handled, 1);
    if (!s->burst) {
        count_rc(s, bus_publish(s->next, ev->data, ev->size));
    } else if (ev->seq == 1) {
        for (int i = 0; i < 4 * CAPACITY; i++)
            count_rc(s, bus_publish(s->next, "c", 1));
    }
    return 0;
}

static void two_topic_cycle(unsigned workers, unsigned flags)
{
    bus_t *bus = new_bus(workers);
    bus_topic_t *a = topic(bus, "a", flags), *b = topic(bus, "b", flags);
    struct cycle_side sa = {.next = b, .burst = true}, sb = {.next = a};
    bus_sub_t *s1, *s2;
    ck_assert_ok(bus_subscribe(a, cycle_fn, &sa, &s1));
    ck_assert_ok(bus_subscribe(b, cycle_fn, &sb, &s2));
    double start = now_s();
    ck_assert_ok(bus_publish(a, "a", 1));
    /* a's handler returns only after its burst; then flush until quiet. */
    for (int i = 0; i < 3; i++)
        ck_assert_ok(bus_flush(bus));
    ck_assert(now_s() - start < CYCLE_BOUND_S);
    ck_assert_uint_eq(atomic_load(&sa.other) + atomic_load(&sb.other), 0);
    ck_assert_uint_gt(atomic_load(&sa.deadlk) + atomic_load(&sb.deadlk), 0);
    ck_assert_uint_eq(atomic_load(&sa.ok) + atomic_load(&sa.deadlk), 4 * CAPACITY);
    /* Conservation: every accepted event was handled, nothing else. */
    ck_assert_uint_eq(atomic_load(&sb.handled), atomic_load(&sa.ok));
    ck_assert_uint_eq(atomic_load(&sa.handled), 1 + atomic_load(&sb.ok));
    ck_assert_ok(bus_destroy(bus));
}

START_TEST(two_topic_cycle_ordered)
{
    two_topic_cycle(worker_counts[_i], 0);
}
END_TEST

START_TEST(two_topic_cycle_parallel)
{
    two_topic_cycle(worker_counts[_i], BUS_TOPIC_PARALLEL);
}
END_TEST

/* A chain of 2-slot topics on one worker that dispatches one event per
 * batch, fed by a handler's burst: the rings fill one after the other and
 * the worker nests one dispatch deeper for each full one. Up to 64 nested
 * levels it delivers everything; in a longer chain the handler that would
 * need a 65th level gets -EDEADLK, and nothing hangs. */
enum { DEEP_EVENTS = 500 };

static int burst_forward(const bus_event_t *ev, void *ctx)
{
    struct stage *s = ctx;
    for (uint32_t i = 0; i < DEEP_EVENTS; i++) {
        struct msg m = {0, i};
        if (bus_publish(s->next[0], &m, sizeof(m)) != 0)
            atomic_fetch_add(&s->failures, 1);
    }
    (void)ev;
    return 0;
}

static unsigned long deep_chain(int n, struct stage *stages, unsigned long *sink_count)
{
    bus_config_t cfg;
    bus_config_init(&cfg);
    cfg.workers = 1;
    cfg.batch = 1;
    bus_t *bus = NULL;
    ck_assert_ok(bus_create(&bus, &cfg));
    bus_topic_t **t = calloc((size_t)n, sizeof(*t));
    ck_assert_ptr_nonnull(t);
    char name[16];
    for (int i = 0; i < n; i++) {
        snprintf(name, sizeof(name), "deep%d", i);
        t[i] = new_topic(bus, name, 2, BUS_FULL_BLOCK, 0);
    }
    bus_sub_t *sub;
    stages[0] = (struct stage){.next = {t[1]}, .nnext = 1};
    ck_assert_ok(bus_subscribe(t[0], burst_forward, &stages[0], &sub));
    for (int i = 1; i < n - 1; i++)
        add_stage(t[i], &stages[i], -1, t[i + 1], NULL, NULL);
    ck_assert_ok(bus_subscribe(t[n - 1], count_calls, sink_count, &sub));
    ck_assert_ok(bus_publish(t[0], "go", 2));
    for (int i = 0; i < n; i++)
        ck_assert_ok(bus_flush(bus));
    unsigned long failures = 0;
    for (int i = 0; i < n - 1; i++) {
        unsigned long f = atomic_load(&stages[i].failures);
        if (f && i > 0)
            ck_assert_int_eq(atomic_load(&stages[i].last_error), -EDEADLK);
        failures += f;
    }
    ck_assert_ok(bus_destroy(bus));
    free(t);
    return failures;
}

START_TEST(nesting_depth_is_bounded)
{
    enum { SHORT = 60, LONG = 80 };
    struct stage *stages = calloc(LONG, sizeof(*stages));
    ck_assert_ptr_nonnull(stages);
    unsigned long delivered = 0;
    ck_assert_uint_eq(deep_chain(SHORT, stages, &delivered), 0);
    ck_assert_uint_eq(delivered, DEEP_EVENTS);
    memset(stages, 0, LONG * sizeof(*stages));
    delivered = 0;
    double start = now_s();
    unsigned long failures = deep_chain(LONG, stages, &delivered);
    ck_assert(now_s() - start < CYCLE_BOUND_S);
    ck_assert_uint_gt(failures, 0);
    ck_assert_uint_eq(delivered + failures, DEEP_EVENTS); /* each event: one or the other */
    /* Only the handler of stage 64, dispatched 64 levels down (stage 0 is the
     * worker's own turn), fails: it would need a 65th level. */
    ck_assert_uint_eq(atomic_load(&stages[64].failures), failures);
    free(stages);
}
END_TEST

/* A handler publishing onto a full parallel topic whose only worker is
 * stuck in a handler (on its first event, which keeps the ring full) and
 * with no idle worker to call: it handles the events behind the stuck one
 * itself, as one more worker on the topic (dispatch.c, bus__topic_help),
 * which lets the stuck handler go. Then the topic's scheduling word must be
 * back to "nobody on it": an event published afterwards from outside is
 * dispatched. Hangs (test timeout) if the handler cannot help or the
 * helper's count on the word leaks. */
struct stuck_parallel {
    struct gate gate;
    atomic_ulong others;
};

static int stuck_on_first(const bus_event_t *ev, void *ctx)
{
    struct stuck_parallel *s = ctx;
    if (ev->seq == 1)
        gate_pass(&s->gate);
    else if (atomic_fetch_add(&s->others, 1) + 1 == CAPACITY - 1)
        gate_open(&s->gate); /* every other event of the full ring */
    return 0;
}

struct filler {
    bus_topic_t *next;
    atomic_int failures;
};

static int fill_next(const bus_event_t *ev, void *ctx)
{
    (void)ev;
    struct filler *f = ctx;
    for (uint32_t i = 0; i < 3 * CAPACITY; i++)
        if (bus_publish(f->next, &i, sizeof(i)) != 0)
            atomic_fetch_add(&f->failures, 1);
    return 0;
}

START_TEST(handler_helps_parallel_topic_past_stuck_worker)
{
    bus_t *bus = new_bus(2);
    bus_topic_t *p = topic(bus, "p", BUS_TOPIC_PARALLEL), *a = topic(bus, "a", 0);
    struct stuck_parallel s = {.others = 0};
    gate_init(&s.gate);
    struct filler f = {.next = p};
    bus_sub_t *s1, *s2;
    ck_assert_ok(bus_subscribe(p, stuck_on_first, &s, &s1));
    ck_assert_ok(bus_subscribe(a, fill_next, &f, &s2));
    uint32_t v = 0;
    ck_assert_ok(bus_publish(p, &v, sizeof(v)));
    gate_await_waiters(&s.gate, 1); /* one worker holds p's event 1 */
    ck_assert_ok(bus_publish(a, &v, sizeof(v))); /* the other fills p */
    ck_assert_ok(bus_flush(bus));
    ck_assert_int_eq(atomic_load(&f.failures), 0);
    ck_assert_uint_eq(atomic_load(&s.others), 3 * CAPACITY);
    ck_assert_ok(bus_publish(p, &v, sizeof(v)));
    ck_assert_ok(bus_flush(bus));
    ck_assert_uint_eq(atomic_load(&s.others), 3 * CAPACITY + 1);
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("pipeline");
    TCase *tc = tcase_create("pipeline");
    tcase_set_timeout(tc, 120);
    int nw = (int)(sizeof(worker_counts) / sizeof(worker_counts[0]));
    tcase_add_loop_test(tc, unicast, 0, nw);
    tcase_add_loop_test(tc, pipeline_3_stages, 0, nw);
    tcase_add_loop_test(tc, pipeline_16_stages, 0, nw);
    tcase_add_loop_test(tc, pipeline_with_parallel_stage, 0, nw);
    tcase_add_loop_test(tc, multicast_1p_3c, 0, nw);
    tcase_add_loop_test(tc, sequencer_3p_1c, 0, nw);
    tcase_add_loop_test(tc, diamond_ordered, 0, nw);
    tcase_add_loop_test(tc, diamond_parallel_sides, 0, nw);
    tcase_add_loop_test(tc, batch_from_handler_waits_for_room, 0, nw);
    tcase_add_loop_test(tc, request_from_handler_waits_for_room, 0, nw);
    tcase_add_test(tc, reply_after_nested_dispatch);
    tcase_add_test(tc, fail_policy_from_handler_still_fails);
    tcase_add_loop_test(tc, self_cycle_ordered, 0, nw);
    tcase_add_loop_test(tc, self_cycle_parallel, 0, nw);
    tcase_add_loop_test(tc, two_topic_cycle_ordered, 0, nw);
    tcase_add_loop_test(tc, two_topic_cycle_parallel, 0, nw);
    tcase_add_test(tc, nesting_depth_is_bounded);
    tcase_add_test(tc, handler_helps_parallel_topic_past_stuck_worker);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
