/* test_inbox.c - inboxes: pull subscriptions with a file descriptor. */
#include <poll.h>
#include <sched.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "bus/inbox.h"
#include "helpers.h"

#define SECOND INT64_C(1000000000)

static bus_inbox_t *open_inbox(bus_topic_t *t, uint32_t capacity, int full, uint64_t block_ns)
{
    bus_inbox_options_t opts;
    bus_inbox_options_init(&opts);
    opts.capacity = capacity;
    opts.full = full;
    opts.block_ns = block_ns;
    bus_inbox_t *in = NULL;
    ck_assert_ok(bus_inbox_open(t, &opts, &in));
    return in;
}

static void publish_n(bus_topic_t *t, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        ck_assert_ok(bus_publish(t, &i, sizeof(i)));
}

static bool fd_readable(bus_inbox_t *in)
{
    struct pollfd pfd = {.fd = bus_inbox_fd(in), .events = POLLIN};
    return poll(&pfd, 1, 0) == 1;
}

/* Takes one event without waiting and checks its payload is @i. */
static void take_payload(bus_inbox_t *in, uint32_t i)
{
    bus_inbox_msg_t *m;
    ck_assert_ok(bus_inbox_next(in, 0, &m));
    ck_assert_uint_eq(m->size, sizeof(i));
    uint32_t got;
    memcpy(&got, m->data, sizeof(got));
    ck_assert_uint_eq(got, i);
    bus_inbox_release(m);
}

/* What most tests start from: a bus of @workers, its topic "t" (64 events,
 * blocking when full) and an inbox on it that blocks when full. */
struct inbox_on_t {
    bus_t *bus;
    bus_topic_t *t;
    bus_inbox_t *in;
};

static struct inbox_on_t start_inbox_on_t(unsigned workers, uint32_t capacity, uint64_t block_ns)
{
    struct inbox_on_t f = {.bus = new_bus(workers)};
    f.t = new_topic(f.bus, "t", 64, BUS_FULL_BLOCK, 0);
    f.in = open_inbox(f.t, capacity, BUS_INBOX_BLOCK, block_ns);
    return f;
}

/* Closes the inbox (what it held is not counted) and destroys the bus. */
static void stop_inbox_on_t(struct inbox_on_t *f)
{
    bus_inbox_close(f->in);
    ck_assert_ok(bus_destroy(f->bus));
}

START_TEST(next_returns_events_in_order_with_their_description)
{
    bus_t *bus = new_bus(2);
    bus_topic_t *t = new_topic(bus, "orders", 1024, BUS_FULL_BLOCK, 0);
    bus_inbox_t *in = open_inbox(t, 1024, BUS_INBOX_BLOCK, 0);
    uint64_t before = now_ns();
    publish_n(t, 100);
    for (uint32_t i = 0; i < 100; i++) {
        bus_inbox_msg_t *m;
        ck_assert_ok(bus_inbox_next(in, 5 * SECOND, &m));
        ck_assert_str_eq(m->topic, "orders");
        ck_assert_uint_eq(m->seq, i + 1);
        ck_assert_uint_ge(m->publish_ns, before);
        ck_assert_uint_eq(m->size, sizeof(i));
        ck_assert_mem_eq(m->data, &i, sizeof(i));
        bus_inbox_release(m);
    }
    bus_inbox_stats_t st;
    ck_assert_ok(bus_inbox_stats(in, &st));
    ck_assert_uint_eq(st.received, 100);
    ck_assert_uint_eq(st.taken, 100);
    ck_assert_uint_eq(st.queued, 0);
    ck_assert_int_eq(bus_inbox_close(in), 0);
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

START_TEST(timeout_zero_polls_and_a_timeout_expires)
{
    struct inbox_on_t f = start_inbox_on_t(1, 8, 0);
    bus_inbox_msg_t *m;
    ck_assert_int_eq(bus_inbox_next(f.in, 0, &m), -EAGAIN);
    uint64_t start = now_ns();
    ck_assert_int_eq(bus_inbox_next(f.in, 30 * 1000 * 1000, &m), -ETIMEDOUT);
    ck_assert_uint_ge(now_ns() - start, 30 * 1000 * 1000);
    stop_inbox_on_t(&f);
}
END_TEST

struct waiter {
    bus_inbox_t *in;
    int64_t timeout_ns;
    int rc;
    uint64_t seq;
};

static void *wait_for_one(void *arg)
{
    struct waiter *w = arg;
    bus_inbox_msg_t *m;
    w->rc = bus_inbox_next(w->in, w->timeout_ns, &m);
    if (w->rc == 0) {
        w->seq = m->seq;
        bus_inbox_release(m);
    }
    return NULL;
}

START_TEST(a_long_poll_waiting_for_ever_is_woken_by_a_publish)
{
    struct inbox_on_t f = start_inbox_on_t(1, 8, 0);
    struct waiter w = {.in = f.in, .timeout_ns = -1, .rc = 1};
    pthread_t th;
    pthread_create(&th, NULL, wait_for_one, &w);
    sleep_ms(20); /* not a synchronisation: the take must work either way */
    publish_n(f.t, 1);
    pthread_join(th, NULL);
    ck_assert_int_eq(w.rc, 0);
    ck_assert_uint_eq(w.seq, 1);
    stop_inbox_on_t(&f);
}
END_TEST

START_TEST(interrupt_ends_a_wait_for_ever)
{
    struct inbox_on_t f = start_inbox_on_t(1, 8, 0);
    struct waiter w = {.in = f.in, .timeout_ns = -1, .rc = 1};
    pthread_t th;
    pthread_create(&th, NULL, wait_for_one, &w);
    ck_assert_ok(bus_inbox_interrupt(f.in));
    pthread_join(th, NULL);
    ck_assert_int_eq(w.rc, -EINTR);
    /* Consumed: the next take polls as usual. */
    bus_inbox_msg_t *m;
    ck_assert_int_eq(bus_inbox_next(f.in, 0, &m), -EAGAIN);
    stop_inbox_on_t(&f);
}
END_TEST

START_TEST(batch_takes_what_is_there_up_to_max)
{
    struct inbox_on_t f = start_inbox_on_t(1, 64, 0);
    publish_n(f.t, 10);
    ck_assert_ok(bus_flush(f.bus));
    bus_inbox_msg_t *msgs[8];
    ck_assert_int_eq(bus_inbox_next_batch(f.in, 0, msgs, 8), 8);
    for (int i = 0; i < 8; i++) {
        ck_assert_uint_eq(msgs[i]->seq, (uint64_t)i + 1);
        bus_inbox_release(msgs[i]);
    }
    ck_assert_int_eq(bus_inbox_next_batch(f.in, 0, msgs, 8), 2);
    ck_assert_uint_eq(msgs[1]->seq, 10);
    bus_inbox_release(msgs[0]);
    bus_inbox_release(msgs[1]);
    ck_assert_int_eq(bus_inbox_next_batch(f.in, 0, msgs, 8), -EAGAIN);
    ck_assert_int_eq(bus_inbox_next_batch(f.in, 0, msgs, 0), -EINVAL);
    stop_inbox_on_t(&f);
}
END_TEST

START_TEST(read_copies_into_the_callers_buffer_and_cuts_like_a_datagram)
{
    bus_t *bus = new_bus(1);
    bus_topic_t *t = new_topic(bus, "sensors.a", 64, BUS_FULL_BLOCK, 0);
    bus_inbox_t *in = open_inbox(t, 8, BUS_INBOX_BLOCK, 0);
    ck_assert_ok(bus_publish(t, "hello", 5));
    ck_assert_ok(bus_publish(t, "longer payload", 14));
    char buf[8];
    bus_inbox_info_t info;
    ck_assert_ok(bus_inbox_read(in, SECOND, buf, sizeof(buf), &info));
    ck_assert_str_eq(info.topic, "sensors.a");
    ck_assert_uint_eq(info.size, 5);
    ck_assert(!info.truncated);
    ck_assert_mem_eq(buf, "hello", 5);
    ck_assert_ok(bus_inbox_read(in, SECOND, buf, sizeof(buf), &info));
    ck_assert_uint_eq(info.size, 14);
    ck_assert(info.truncated);
    ck_assert_mem_eq(buf, "longer p", 8);
    ck_assert_uint_eq(info.seq, 2);
    ck_assert_int_eq(bus_inbox_read(in, 0, NULL, 4, &info), -EINVAL);
    ck_assert_int_eq(bus_inbox_close(in), 0);
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

START_TEST(fd_is_readable_while_events_are_left_level_triggered)
{
    struct inbox_on_t f = start_inbox_on_t(1, 64, 0);
    ck_assert(!fd_readable(f.in));
    publish_n(f.t, 3);
    ck_assert_ok(bus_flush(f.bus));
    ck_assert(fd_readable(f.in));
    take_payload(f.in, 0);
    ck_assert(fd_readable(f.in)); /* two left */
    take_payload(f.in, 1);
    take_payload(f.in, 2);
    /* The take that finds the inbox empty resets it. */
    bus_inbox_msg_t *m;
    ck_assert_int_eq(bus_inbox_next(f.in, 0, &m), -EAGAIN);
    ck_assert(!fd_readable(f.in));
    publish_n(f.t, 1);
    ck_assert_ok(bus_flush(f.bus));
    ck_assert(fd_readable(f.in));
    stop_inbox_on_t(&f);
}
END_TEST

START_TEST(edge_triggered_epoll_gets_an_edge_after_each_drain)
{
    struct inbox_on_t f = start_inbox_on_t(1, 64, 0);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN | EPOLLET};
    ck_assert_int_eq(epoll_ctl(ep, EPOLL_CTL_ADD, bus_inbox_fd(f.in), &ev), 0);
    for (uint32_t round = 0; round < 3; round++) {
        publish_n(f.t, 5);
        struct epoll_event got;
        ck_assert_int_eq(epoll_wait(ep, &got, 1, 5000), 1);
        uint32_t taken = 0;
        bus_inbox_msg_t *m;
        int rc;
        /* Drain until -EAGAIN, as edge-triggered use requires; events may
         * still be arriving: wait for all five. */
        while (taken < 5) {
            while ((rc = bus_inbox_next(f.in, 0, &m)) == 0) {
                bus_inbox_release(m);
                taken++;
            }
            ck_assert_int_eq(rc, -EAGAIN);
            if (taken < 5)
                ck_assert_int_eq(epoll_wait(ep, &got, 1, 5000), 1);
        }
        ck_assert_uint_eq(taken, 5);
        /* No edge is pending once drained and nothing new came. */
        ck_assert_int_eq(epoll_wait(ep, &got, 1, 0), 0);
    }
    close(ep);
    stop_inbox_on_t(&f);
}
END_TEST

START_TEST(workers_write_the_fd_once_while_the_consumer_is_busy)
{
    bus_t *bus = new_bus(2);
    bus_topic_t *t = new_topic(bus, "t", 1024, BUS_FULL_BLOCK, 0);
    bus_inbox_t *in = open_inbox(t, 4096, BUS_INBOX_BLOCK, 0);
    publish_n(t, 1000);
    ck_assert_ok(bus_flush(bus));
    bus_inbox_stats_t st;
    ck_assert_ok(bus_inbox_stats(in, &st));
    ck_assert_uint_eq(st.received, 1000);
    ck_assert_uint_eq(st.wakeups, 1); /* the first event; nobody took since */
    /* Taking without finding the inbox empty writes nothing either. */
    for (uint32_t i = 0; i < 500; i++)
        take_payload(in, i);
    publish_n(t, 1000);
    ck_assert_ok(bus_flush(bus));
    ck_assert_ok(bus_inbox_stats(in, &st));
    ck_assert_uint_eq(st.wakeups, 1);
    ck_assert_uint_eq(st.high_water, 1500);
    bus_inbox_close(in);
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

/* An inbox of 4 events with the full policy @full, sent 10 events: 4 are
 * queued and 6 dropped either way. */
struct overfilled {
    bus_t *bus;
    bus_topic_t *topic;
    bus_inbox_t *in;
    bus_inbox_stats_t stats;
};

static struct overfilled overfill(int full)
{
    struct overfilled o = {.bus = new_bus(1)};
    o.topic = new_topic(o.bus, "t", 64, BUS_FULL_BLOCK, 0);
    o.in = open_inbox(o.topic, 4, full, 0);
    publish_n(o.topic, 10);
    ck_assert_ok(bus_flush(o.bus));
    ck_assert_ok(bus_inbox_stats(o.in, &o.stats));
    ck_assert_uint_eq(o.stats.queued, 4);
    ck_assert_uint_eq(o.stats.dropped, 6);
    ck_assert_uint_eq(o.stats.high_water, 4);
    return o;
}

/* Takes the 4 events, expecting the payloads @first to @first + 3, and
 * closes everything. */
static void take_overfilled(struct overfilled *o, uint32_t first)
{
    for (uint32_t i = first; i < first + 4; i++)
        take_payload(o->in, i);
    /* Dropped events are the inbox's business: the handler succeeded. */
    bus_topic_stats_t ts = topic_stats(o->topic);
    ck_assert_uint_eq(ts.handler_errors, 0);
    ck_assert_int_eq(bus_inbox_close(o->in), 0);
    ck_assert_ok(bus_destroy(o->bus));
}

START_TEST(drop_newest_keeps_the_first_events)
{
    struct overfilled o = overfill(BUS_INBOX_DROP_NEWEST);
    ck_assert_uint_eq(o.stats.received, 4);
    take_overfilled(&o, 0);
}
END_TEST

START_TEST(drop_oldest_keeps_the_last_events)
{
    struct overfilled o = overfill(BUS_INBOX_DROP_OLDEST);
    ck_assert_uint_eq(o.stats.received, 10);
    take_overfilled(&o, 6);
}
END_TEST

struct slow_taker {
    bus_inbox_t *in;
    uint32_t want, taken, order_errors;
};

static void *take_slowly(void *arg)
{
    struct slow_taker *s = arg;
    while (s->taken < s->want) {
        sleep_ms(1);
        bus_inbox_msg_t *m;
        if (bus_inbox_next(s->in, 5 * SECOND, &m) != 0)
            break;
        s->order_errors += m->seq != s->taken + 1;
        s->taken++;
        bus_inbox_release(m);
    }
    return NULL;
}

START_TEST(block_waits_for_room_and_loses_nothing)
{
    struct inbox_on_t f = start_inbox_on_t(1, 2, 5 * SECOND);
    struct slow_taker s = {.in = f.in, .want = 20};
    pthread_t th;
    pthread_create(&th, NULL, take_slowly, &s);
    publish_n(f.t, 20);
    pthread_join(th, NULL);
    ck_assert_uint_eq(s.taken, 20);
    ck_assert_uint_eq(s.order_errors, 0);
    bus_inbox_stats_t st;
    ck_assert_ok(bus_inbox_stats(f.in, &st));
    ck_assert_uint_eq(st.dropped, 0);
    ck_assert_uint_gt(st.blocked, 0);
    stop_inbox_on_t(&f);
}
END_TEST

START_TEST(a_timed_out_block_drops_at_once_until_a_take)
{
    struct inbox_on_t f = start_inbox_on_t(1, 1, 20 * 1000 * 1000);
    uint64_t start = now_ns();
    publish_n(f.t, 6);
    ck_assert_ok(bus_flush(f.bus));
    uint64_t took = now_ns() - start;
    bus_inbox_stats_t st;
    ck_assert_ok(bus_inbox_stats(f.in, &st));
    ck_assert_uint_eq(st.queued, 1);
    ck_assert_uint_eq(st.dropped, 5);
    ck_assert_uint_eq(st.blocked, 1); /* only the first waited */
    ck_assert_uint_ge(took, 20 * 1000 * 1000);
    /* A take ends the overrun: the next full event waits again. */
    take_payload(f.in, 0);
    publish_n(f.t, 2);
    ck_assert_ok(bus_flush(f.bus));
    ck_assert_ok(bus_inbox_stats(f.in, &st));
    ck_assert_uint_eq(st.blocked, 2);
    stop_inbox_on_t(&f);
}
END_TEST

START_TEST(close_wakes_a_worker_blocked_for_room)
{
    struct inbox_on_t f = start_inbox_on_t(1, 1, 60 * SECOND);
    publish_n(f.t, 3);
    bus_inbox_stats_t st;
    do {
        sleep_ms(1);
        ck_assert_ok(bus_inbox_stats(f.in, &st));
    } while (st.blocked == 0);
    uint64_t start = now_ns();
    ck_assert_int_eq(bus_inbox_close(f.in), 1);
    ck_assert_ok(bus_flush(f.bus));
    ck_assert_uint_lt(now_ns() - start, 10 * SECOND);
    ck_assert_ok(bus_destroy(f.bus));
}
END_TEST

START_TEST(close_frees_and_counts_the_events_left)
{
    struct inbox_on_t f = start_inbox_on_t(1, 64, 0);
    publish_n(f.t, 5);
    ck_assert_ok(bus_flush(f.bus));
    bus_inbox_msg_t *kept;
    ck_assert_ok(bus_inbox_next(f.in, 0, &kept));
    ck_assert_int_eq(bus_inbox_close(f.in), 4);
    ck_assert_uint_eq(kept->seq, 1); /* a taken message outlives its inbox */
    bus_inbox_release(kept);
    /* Publishing on goes to nobody. */
    publish_n(f.t, 5);
    ck_assert_ok(bus_flush(f.bus));
    ck_assert_ok(bus_destroy(f.bus));
}
END_TEST

struct closer {
    bus_inbox_t *in;
    atomic_int rc;
};

static int close_inbox(const bus_event_t *ev, void *ctx)
{
    (void)ev;
    struct closer *c = ctx;
    /* relaxed: read after bus_flush(), which waits for this handler */
    atomic_store_explicit(&c->rc, bus_inbox_close(c->in), memory_order_relaxed);
    return 0;
}

START_TEST(close_from_a_handler_does_not_wait)
{
    bus_t *bus = new_bus(2);
    bus_topic_t *t = new_topic(bus, "t", 64, BUS_FULL_BLOCK, 0);
    bus_topic_t *ctl = new_topic(bus, "ctl", 64, BUS_FULL_BLOCK, 0);
    struct closer c = {.in = open_inbox(t, 64, BUS_INBOX_BLOCK, 0), .rc = -1};
    subscribe(ctl, close_inbox, &c);
    publish_n(t, 3);
    ck_assert_ok(bus_flush(bus));
    publish_n(ctl, 1);
    ck_assert_ok(bus_flush(bus));
    ck_assert_int_eq(atomic_load_explicit(&c.rc, memory_order_relaxed), 3); /* after the flush */
    publish_n(t, 3); /* reaches no inbox; freed after the grace period */
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

static int poll_on_worker(const bus_event_t *ev, void *ctx)
{
    (void)ev;
    struct waiter *w = ctx;
    bus_inbox_msg_t *m;
    w->rc = bus_inbox_next(w->in, SECOND, &m);
    return 0;
}

START_TEST(a_handler_may_poll_but_not_wait)
{
    bus_t *bus = new_bus(1);
    bus_topic_t *t = new_topic(bus, "t", 64, BUS_FULL_BLOCK, 0);
    bus_topic_t *other = new_topic(bus, "other", 64, BUS_FULL_BLOCK, 0);
    struct waiter w = {.in = open_inbox(other, 8, BUS_INBOX_BLOCK, 0), .rc = 1};
    subscribe(t, poll_on_worker, &w);
    publish_n(t, 1);
    ck_assert_ok(bus_flush(bus));
    ck_assert_int_eq(w.rc, -EDEADLK);
    bus_inbox_close(w.in);
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

static bool even_only(const bus_event_t *ev, void *ctx)
{
    (void)ctx;
    uint32_t i;
    memcpy(&i, ev->data, sizeof(i));
    return i % 2 == 0;
}

START_TEST(filter_and_queue_group_as_for_subscriptions)
{
    bus_t *bus = new_bus(1);
    bus_topic_t *t = new_topic(bus, "t", 256, BUS_FULL_BLOCK, 0);
    bus_inbox_options_t opts;
    bus_inbox_options_init(&opts);
    opts.filter = even_only;
    bus_inbox_t *evens;
    ck_assert_ok(bus_inbox_open(t, &opts, &evens));
    bus_inbox_options_init(&opts);
    opts.group = "workers";
    bus_inbox_t *member;
    ck_assert_ok(bus_inbox_open(t, &opts, &member));
    struct counter other = {0};
    bus_sub_options_t sopts;
    bus_sub_options_init(&sopts);
    sopts.group = "workers";
    bus_sub_t *sub;
    ck_assert_ok(bus_subscribe_ex(t, count_only, &other, &sopts, &sub));
    publish_n(t, 100);
    ck_assert_ok(bus_flush(bus));
    bus_inbox_stats_t st;
    ck_assert_ok(bus_inbox_stats(evens, &st));
    ck_assert_uint_eq(st.received, 50);
    ck_assert_ok(bus_inbox_stats(member, &st));
    /* relaxed: bus_flush() waited for the handler's increments */
    ck_assert_uint_eq(st.received + atomic_load_explicit(&other.calls, memory_order_relaxed), 100);
    ck_assert_uint_eq(st.received, 50); /* round robin between two members */
    bus_inbox_close(evens);
    bus_inbox_close(member);
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

START_TEST(a_pattern_inbox_names_each_topic_and_takes_new_ones)
{
    bus_t *bus = new_bus(2);
    bus_topic_t *a = new_topic(bus, "orders.eu", 64, BUS_FULL_BLOCK, 0);
    bus_inbox_t *in;
    ck_assert_ok(bus_inbox_open_pattern(bus, "orders.*", NULL, &in));
    bus_topic_t *b = new_topic(bus, "orders.us", 64, BUS_FULL_BLOCK, 0);
    bus_topic_t *c = new_topic(bus, "invoices.us", 64, BUS_FULL_BLOCK, 0);
    publish_n(a, 1);
    ck_assert_ok(bus_flush(bus));
    publish_n(b, 1);
    publish_n(c, 1);
    ck_assert_ok(bus_flush(bus));
    bus_inbox_info_t info;
    ck_assert_ok(bus_inbox_read(in, 0, NULL, 0, &info));
    ck_assert_str_eq(info.topic, "orders.eu");
    ck_assert_ok(bus_inbox_read(in, 0, NULL, 0, &info));
    ck_assert_str_eq(info.topic, "orders.us");
    ck_assert_int_eq(bus_inbox_read(in, 0, NULL, 0, &info), -EAGAIN);
    /* Closing one of its topics does not end a pattern inbox. */
    ck_assert_ok(bus_topic_close(a, BUS_CLOSE_DRAIN, NULL));
    ck_assert_int_eq(bus_inbox_read(in, 0, NULL, 0, &info), -EAGAIN);
    ck_assert_int_eq(bus_inbox_open_pattern(bus, "orders.>.x", NULL, &in), -EINVAL);
    bus_inbox_close(in);
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

START_TEST(closing_its_topic_ends_an_inbox_after_its_last_event)
{
    struct inbox_on_t f = start_inbox_on_t(2, 64, 0);
    publish_n(f.t, 3);
    ck_assert_ok(bus_topic_close(f.t, BUS_CLOSE_DRAIN, NULL));
    for (uint32_t i = 0; i < 3; i++)
        take_payload(f.in, i);
    bus_inbox_msg_t *m;
    ck_assert_int_eq(bus_inbox_next(f.in, -1, &m), -EPIPE);
    ck_assert(fd_readable(f.in)); /* for good: a loop sees the end */
    ck_assert_int_eq(bus_inbox_next(f.in, 0, &m), -EPIPE);
    /* A new topic of the same name is not its topic. */
    bus_topic_t *again = new_topic(f.bus, "t", 64, BUS_FULL_BLOCK, 0);
    publish_n(again, 1);
    ck_assert_ok(bus_flush(f.bus));
    bus_inbox_stats_t st;
    ck_assert_ok(bus_inbox_stats(f.in, &st));
    ck_assert_uint_eq(st.received, 3);
    ck_assert_int_eq(bus_inbox_close(f.in), 0);
    ck_assert_ok(bus_inbox_open(again, NULL, &f.in));
    bus_inbox_close(f.in);
    ck_assert_ok(bus_destroy(f.bus));
}
END_TEST

START_TEST(shutdown_ends_an_inbox_after_its_last_event)
{
    struct inbox_on_t f = start_inbox_on_t(2, 64, 0);
    bus_inbox_t *wild;
    ck_assert_ok(bus_inbox_open_pattern(f.bus, ">", NULL, &wild));
    publish_n(f.t, 2);
    ck_assert_ok(bus_shutdown(f.bus));
    take_payload(f.in, 0);
    take_payload(f.in, 1);
    bus_inbox_msg_t *m;
    ck_assert_int_eq(bus_inbox_next(f.in, -1, &m), -ESHUTDOWN);
    ck_assert_int_eq(bus_inbox_close(wild), 2);
    ck_assert_int_eq(bus_inbox_close(f.in), 0);
    ck_assert_int_eq(bus_inbox_open(f.t, NULL, &f.in), -ESHUTDOWN);
    ck_assert_ok(bus_destroy(f.bus));
}
END_TEST

START_TEST(bad_arguments_are_refused_with_a_reason)
{
    bus_t *bus = new_bus(1);
    bus_topic_t *t = new_topic(bus, "t", 64, BUS_FULL_BLOCK, 0);
    bus_inbox_t *in;
    bus_inbox_options_t opts;
    bus_inbox_options_init(&opts);
    opts.capacity = 0;
    ck_assert_int_eq(bus_inbox_open(t, &opts, &in), -EINVAL);
    ck_assert_ptr_nonnull(strstr(bus_last_error(), "capacity"));
    opts.capacity = (1u << 24) + 1;
    ck_assert_int_eq(bus_inbox_open(t, &opts, &in), -EINVAL);
    bus_inbox_options_init(&opts);
    opts.full = 7;
    ck_assert_int_eq(bus_inbox_open(t, &opts, &in), -EINVAL);
    ck_assert_ptr_nonnull(strstr(bus_last_error(), "full"));
    bus_inbox_options_init(&opts);
    opts.block_ns = 61 * (uint64_t)SECOND;
    ck_assert_int_eq(bus_inbox_open(t, &opts, &in), -EINVAL);
    bus_inbox_options_init(&opts);
    opts.group = "";
    ck_assert_int_eq(bus_inbox_open(t, &opts, &in), -EINVAL);
    ck_assert_int_eq(bus_inbox_open(NULL, NULL, &in), -EINVAL);
    ck_assert_int_eq(bus_inbox_open(t, NULL, NULL), -EINVAL);
    ck_assert_int_eq(bus_inbox_open_pattern(bus, "a..b", NULL, &in), -EINVAL);
    ck_assert_int_eq(bus_inbox_fd(NULL), -EINVAL);
    ck_assert_int_eq(bus_inbox_close(NULL), -EINVAL);
    ck_assert_int_eq(bus_inbox_interrupt(NULL), -EINVAL);
    bus_inbox_msg_t *m;
    ck_assert_int_eq(bus_inbox_next(NULL, 0, &m), -EINVAL);
    bus_inbox_release(NULL);
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

static bus_topic_t *new_topic_up_to(bus_t *bus, uint32_t max_payload, unsigned flags)
{
    bus_topic_config_t cfg;
    bus_topic_config_init(&cfg);
    cfg.capacity = 1024;
    cfg.max_payload = max_payload;
    cfg.flags = flags;
    bus_topic_t *t = NULL;
    ck_assert_ok(bus_topic_open(bus, "t", &cfg, &t));
    return t;
}

/* Messages whose payload fits a pool slot (pool.h) and bigger ones, around
 * the slot's edge, several rounds through an inbox of 2 so that slots are
 * reused. */
START_TEST(payloads_of_every_size_come_out_whole)
{
    static const size_t sizes[] = {0, 1, 64, 440, 445, 446, 447, 448, 449, 1000, 8192};
    enum { N = sizeof(sizes) / sizeof(sizes[0]) };
    static unsigned char out[8192];
    bus_t *bus = new_bus(1);
    bus_topic_t *t = new_topic_up_to(bus, 8192, 0);
    bus_inbox_t *in = open_inbox(t, 2, BUS_INBOX_BLOCK, 5 * SECOND);
    for (unsigned round = 0; round < 3; round++) {
        for (unsigned i = 0; i < N; i++) {
            memset(out, (int)(round * N + i + 1), sizes[i]);
            ck_assert_ok(bus_publish(t, out, sizes[i]));
            bus_inbox_msg_t *m;
            ck_assert_ok(bus_inbox_next(in, 5 * SECOND, &m));
            ck_assert_str_eq(m->topic, "t");
            ck_assert_uint_eq(m->size, sizes[i]);
            if (sizes[i])
                ck_assert_mem_eq(m->data, out, sizes[i]);
            bus_inbox_release(m);
        }
    }
    ck_assert_int_eq(bus_inbox_close(in), 0);
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

enum { HELD = 48 };

struct holder {
    bus_inbox_msg_t *msgs[HELD];
    atomic_bool go;
};

static void *release_held(void *arg)
{
    struct holder *h = arg;
    /* relaxed: a start signal only; the messages came with pthread_create() */
    while (!atomic_load_explicit(&h->go, memory_order_relaxed))
        ;
    for (int i = 0; i < HELD; i++) {
        bus_inbox_release(h->msgs[i]);
        if (i % 8 == 0)
            sched_yield();
    }
    return NULL;
}

/* Releases of taken messages may run while their inbox closes: their slots
 * go back to a closing pool, or are freed (ASan: no leak, no use after
 * free; TSan: no race). */
START_TEST(messages_are_released_while_their_inbox_closes)
{
    bus_t *bus = new_bus(2);
    bus_topic_t *t = new_topic(bus, "t", 256, BUS_FULL_BLOCK, 0);
    for (unsigned round = 0; round < 20; round++) {
        bus_inbox_t *in = open_inbox(t, 64, BUS_INBOX_BLOCK, 0);
        publish_n(t, HELD + 4);
        ck_assert_ok(bus_flush(bus));
        struct holder h = {.go = false};
        ck_assert_int_eq(bus_inbox_next_batch(in, 0, h.msgs, HELD), HELD);
        pthread_t th;
        pthread_create(&th, NULL, release_held, &h);
        atomic_store_explicit(&h.go, true, memory_order_relaxed); /* see release_held() */
        ck_assert_int_eq(bus_inbox_close(in), 4);
        pthread_join(th, NULL);
    }
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

/* Two producers on a parallel topic (two workers put at once), two takers
 * in batches: every event taken at most once and whole; payloads of two
 * sizes, one over a pool slot. */
enum { STRESS_EVENTS = 20000, STRESS_SMALL = 64, STRESS_BIG = 600 };

struct stress {
    bus_topic_t *topic;
    bus_inbox_t *in;
    atomic_uchar seen[2 * STRESS_EVENTS + 1];
    atomic_uint taken, twice, torn;
    atomic_bool published;
};

static void *stress_publish(void *arg)
{
    struct stress *s = arg;
    unsigned char payload[STRESS_BIG];
    for (uint32_t i = 0; i < STRESS_EVENTS; i++) {
        size_t size = i % 4 ? STRESS_SMALL : STRESS_BIG;
        memset(payload, (int)(i & 0xff), size);
        ck_assert_ok(bus_publish(s->topic, payload, size));
    }
    return NULL;
}

/* A message filled with one byte value, of one of the two sizes. */
static bool whole(const bus_inbox_msg_t *m)
{
    const unsigned char *p = m->data;
    if (m->size != STRESS_SMALL && m->size != STRESS_BIG)
        return false;
    for (size_t i = 1; i < m->size; i++)
        if (p[i] != p[0])
            return false;
    return true;
}

/* Takes until the producers are done and a take finds nothing. */
static void *stress_take(void *arg)
{
    struct stress *s = arg;
    bus_inbox_msg_t *msgs[32];
    for (;;) {
        /* acquire: pairs with the release after bus_flush(): once seen, every
         * event is in the inbox, so a take that finds nothing ends */
        bool published = atomic_load_explicit(&s->published, memory_order_acquire);
        int n = bus_inbox_next_batch(s->in, 10 * 1000 * 1000, msgs, 32);
        if (n < 0 && published)
            break;
        for (int i = 0; i < n; i++) {
            /* relaxed counters: read once the takers are joined */
            if (atomic_fetch_add_explicit(&s->seen[msgs[i]->seq], 1, memory_order_relaxed) != 0)
                atomic_fetch_add_explicit(&s->twice, 1, memory_order_relaxed);
            if (!whole(msgs[i]))
                atomic_fetch_add_explicit(&s->torn, 1, memory_order_relaxed);
            bus_inbox_release(msgs[i]);
        }
        if (n > 0)
            atomic_fetch_add_explicit(&s->taken, (unsigned)n, memory_order_relaxed);
    }
    return NULL;
}

/* Runs the load on an inbox of @capacity with @full; returns its stats. */
static bus_inbox_stats_t stress_run(uint32_t capacity, int full)
{
    bus_t *bus = new_bus(2);
    static struct stress s;
    memset(&s, 0, sizeof(s));
    s.topic = new_topic_up_to(bus, STRESS_BIG, BUS_TOPIC_PARALLEL);
    s.in = open_inbox(s.topic, capacity, full, 10 * SECOND);
    pthread_t p[2], c[2];
    for (int i = 0; i < 2; i++) {
        pthread_create(&c[i], NULL, stress_take, &s);
        pthread_create(&p[i], NULL, stress_publish, &s);
    }
    for (int i = 0; i < 2; i++)
        pthread_join(p[i], NULL);
    ck_assert_ok(bus_flush(bus));
    atomic_store_explicit(&s.published, true, memory_order_release); /* see stress_take() */
    for (int i = 0; i < 2; i++)
        pthread_join(c[i], NULL);
    /* relaxed: the takers are joined */
    ck_assert_uint_eq(atomic_load_explicit(&s.twice, memory_order_relaxed), 0);
    ck_assert_uint_eq(atomic_load_explicit(&s.torn, memory_order_relaxed), 0);
    bus_inbox_stats_t st;
    ck_assert_ok(bus_inbox_stats(s.in, &st));
    ck_assert_uint_eq(st.received, 2 * STRESS_EVENTS);
    ck_assert_uint_eq(st.taken, atomic_load_explicit(&s.taken, memory_order_relaxed));
    ck_assert_uint_le(st.high_water, capacity);
    ck_assert_int_eq(bus_inbox_close(s.in), 0);
    ck_assert_ok(bus_destroy(bus));
    return st;
}

START_TEST(two_producers_two_takers_each_event_once)
{
    /* 64 events: the pool's slots go round; 2: workers wait for room all
     * the time, and must be woken (a lost wake-up is a 10 s wait, then a
     * drop). */
    static const uint32_t capacities[] = {64, 2};
    for (int i = 0; i < 2; i++) {
        bus_inbox_stats_t st = stress_run(capacities[i], BUS_INBOX_BLOCK);
        ck_assert_uint_eq(st.taken, 2 * STRESS_EVENTS);
        ck_assert_uint_eq(st.dropped, 0);
    }
}
END_TEST

START_TEST(drop_oldest_under_load_loses_only_what_it_counts)
{
    bus_inbox_stats_t st = stress_run(8, BUS_INBOX_DROP_OLDEST);
    ck_assert_uint_eq(st.taken + st.dropped, 2 * STRESS_EVENTS);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("inbox");
    TCase *tc = tcase_create("inbox");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, next_returns_events_in_order_with_their_description);
    tcase_add_test(tc, timeout_zero_polls_and_a_timeout_expires);
    tcase_add_test(tc, a_long_poll_waiting_for_ever_is_woken_by_a_publish);
    tcase_add_test(tc, interrupt_ends_a_wait_for_ever);
    tcase_add_test(tc, batch_takes_what_is_there_up_to_max);
    tcase_add_test(tc, read_copies_into_the_callers_buffer_and_cuts_like_a_datagram);
    tcase_add_test(tc, fd_is_readable_while_events_are_left_level_triggered);
    tcase_add_test(tc, edge_triggered_epoll_gets_an_edge_after_each_drain);
    tcase_add_test(tc, workers_write_the_fd_once_while_the_consumer_is_busy);
    tcase_add_test(tc, drop_newest_keeps_the_first_events);
    tcase_add_test(tc, drop_oldest_keeps_the_last_events);
    tcase_add_test(tc, block_waits_for_room_and_loses_nothing);
    tcase_add_test(tc, a_timed_out_block_drops_at_once_until_a_take);
    tcase_add_test(tc, close_wakes_a_worker_blocked_for_room);
    tcase_add_test(tc, close_frees_and_counts_the_events_left);
    tcase_add_test(tc, close_from_a_handler_does_not_wait);
    tcase_add_test(tc, a_handler_may_poll_but_not_wait);
    tcase_add_test(tc, filter_and_queue_group_as_for_subscriptions);
    tcase_add_test(tc, a_pattern_inbox_names_each_topic_and_takes_new_ones);
    tcase_add_test(tc, closing_its_topic_ends_an_inbox_after_its_last_event);
    tcase_add_test(tc, shutdown_ends_an_inbox_after_its_last_event);
    tcase_add_test(tc, bad_arguments_are_refused_with_a_reason);
    tcase_add_test(tc, payloads_of_every_size_come_out_whole);
    tcase_add_test(tc, messages_are_released_while_their_inbox_closes);
    tcase_add_test(tc, two_producers_two_takers_each_event_once);
    tcase_add_test(tc, drop_oldest_under_load_loses_only_what_it_counts);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
