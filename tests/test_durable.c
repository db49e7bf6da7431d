/* test_durable.c - durable topics and consumers through the public API
 * (bus/journal.h): seqs across reopen, consumers resuming, starting at the
 * oldest, the newest or a seq, plain subscribers seeing live events only,
 * failed calls acknowledged through the dead letters, consumers behind
 * retention told, reads without a position (bus_journal_read), positions
 * forgotten, publishes reported durable by on_durable, and the argument
 * checks. */
#include <unistd.h>

#include "durable_helpers.h"

static char dir[64];

START_TEST(seqs_go_on_after_reopen)
{
    bus_t *bus = new_bus_in_temp_dir(dir);
    bus_topic_t *t = durable_topic(bus, dir, BUS_SYNC_INTERVAL, 4096, 0);
    publish_seqs(t, 1, 300);
    bus_topic_stats_t st;
    ck_assert_ok(bus_topic_close(t, BUS_CLOSE_DRAIN, &st));
    ck_assert_uint_eq(st.published, 300);
    t = durable_topic(bus, dir, BUS_SYNC_INTERVAL, 4096, 0);
    bus_journal_stats_t js;
    ck_assert_ok(bus_journal_stats(t, &js));
    ck_assert_uint_eq(js.first_seq, 1);
    ck_assert_uint_eq(js.last_seq, 300);
    ck_assert_uint_gt(js.segments, 2);
    /* A plain subscriber sees the live events only, with seqs going on. */
    struct recorder r;
    recorder_init(&r);
    subscribe(t, record, &r);
    publish_seqs(t, 301, 10);
    ck_assert_ok(bus_flush(bus));
    ck_assert_uint_eq(r.n, 10);
    ck_assert_uint_eq(r.seqs[0], 301);
    ck_assert_uint_eq(r.seqs[9], 310);
    ck_assert_ok(bus_topic_stats(t, &st));
    ck_assert_uint_eq(st.published, 10); /* this open's */
    /* Only one open per directory. */
    bus_topic_t *again;
    bus_journal_config_t j;
    bus_journal_config_init(&j);
    j.dir = dir;
    ck_assert_int_eq(bus_topic_open_durable(bus, "other", NULL, &j, &again), -EBUSY);
    destroy_bus_and_dir(bus, dir);
}
END_TEST

START_TEST(consumer_resumes_where_it_stopped)
{
    bus_t *bus = new_bus_in_temp_dir(dir);
    bus_topic_t *t = durable_topic(bus, dir, BUS_SYNC_NONE, 1 << 16, 0);
    publish_seqs(t, 1, 100);
    struct recorder r;
    recorder_init(&r);
    bus_sub_t *sub;
    /* A new name starts at the oldest event. */
    ck_assert_ok(bus_subscribe_durable(t, "billing", record, &r, NULL, &sub));
    await_seq(&r, 100);
    ck_assert_uint_eq(r.n, 100);
    for (uint32_t i = 0; i < r.n; i++)
        ck_assert_uint_eq(r.seqs[i], i + 1);
    ck_assert_int_eq(bus_subscribe_durable(t, "billing", record, &r, NULL, &sub), -EBUSY);
    ck_assert_ok(bus_unsubscribe(sub));
    publish_seqs(t, 101, 50); /* while it is away */
    ck_assert_ok(bus_destroy(bus));

    bus = new_bus(1);
    t = durable_topic(bus, dir, BUS_SYNC_NONE, 1 << 16, 0);
    recorder_init(&r);
    ck_assert_ok(bus_subscribe_durable(t, "billing", record, &r, NULL, &sub));
    await_seq(&r, 150);
    ck_assert_uint_eq(r.seqs[0], 101); /* no event again, none missed */
    ck_assert_uint_eq(r.n, 50);
    publish_seqs(t, 151, 5); /* live ones go on the same way */
    await_seq(&r, 155);
    ck_assert_uint_eq(r.n, 55);
    /* Shut down: the consumer is stopped, its handle still valid. */
    ck_assert_ok(bus_shutdown(bus));
    bus_durable_stats_t ds = durable_stats(sub);
    ck_assert_uint_eq(ds.next_seq, 156);
    ck_assert_uint_eq(ds.acked, 55);
    ck_assert_uint_eq(ds.skipped, 0);
    ck_assert_uint_eq(sub_stats(sub).delivered, 55);
    destroy_bus_and_dir(bus, dir);
}
END_TEST

START_TEST(start_newest_and_replay)
{
    bus_t *bus = new_bus_in_temp_dir(dir);
    bus_topic_t *t = durable_topic(bus, dir, BUS_SYNC_NONE, 1 << 16, 0);
    publish_seqs(t, 1, 20);
    bus_sub_options_t opts;
    bus_sub_options_init(&opts);
    opts.start = BUS_START_NEWEST;
    struct recorder newest, replay;
    recorder_init(&newest);
    recorder_init(&replay);
    bus_sub_t *a, *b;
    ck_assert_ok(bus_subscribe_durable(t, "tail", record, &newest, &opts, &a));
    opts.start = BUS_START_SEQ;
    opts.start_seq = 15;
    ck_assert_ok(bus_subscribe_durable(t, "replay", record, &replay, &opts, &b));
    publish_seqs(t, 21, 3);
    await_seq(&newest, 23);
    await_seq(&replay, 23);
    ck_assert_uint_eq(newest.seqs[0], 21);
    ck_assert_uint_eq(newest.n, 3);
    ck_assert_uint_eq(replay.seqs[0], 15);
    ck_assert_uint_eq(replay.n, 9);
    destroy_bus_and_dir(bus, dir);
}
END_TEST

static int dead(const bus_event_t *ev, void *ctx)
{
    const bus_dead_letter_t *letter = ev->data;
    atomic_store((atomic_ulong *)ctx, letter->seq);
    return 0;
}

/* A failed call goes to the dead letters and counts as acknowledged. */
START_TEST(failed_call_is_dead_lettered_and_acknowledged)
{
    bus_t *bus = new_bus_in_temp_dir(dir);
    bus_topic_t *letters;
    ck_assert_ok(bus_dead_letter_topic(bus, NULL, &letters));
    atomic_ulong dead_seq = 0;
    subscribe(letters, dead, &dead_seq);
    bus_topic_t *t = durable_topic(bus, dir, BUS_SYNC_INTERVAL, 1 << 16, 0);
    struct recorder r;
    recorder_init(&r);
    r.fail_seq = 3;
    bus_sub_t *sub;
    ck_assert_ok(bus_subscribe_durable(t, "c", record, &r, NULL, &sub));
    publish_seqs(t, 1, 5);
    await_seq(&r, 5);
    ck_assert_ok(bus_shutdown(bus)); /* dead letters delivered, consumer stopped */
    ck_assert_uint_eq(atomic_load(&dead_seq), 3);
    ck_assert_uint_eq(durable_stats(sub).next_seq, 6);
    ck_assert_uint_eq(sub_stats(sub).handler_errors, 1);
    destroy_bus_and_dir(bus, dir);
}
END_TEST

/* Retention deleted events a consumer had not read: it is told. */
START_TEST(consumer_behind_retention_is_told)
{
    bus_t *bus = new_bus_in_temp_dir(dir);
    bus_topic_t *t = durable_topic(bus, dir, BUS_SYNC_NONE, 4096, 2 * 4096);
    struct recorder r;
    recorder_init(&r);
    bus_sub_t *sub;
    ck_assert_ok(bus_subscribe_durable(t, "slow", record, &r, NULL, &sub));
    ck_assert_ok(bus_unsubscribe(sub)); /* stored at seq 1 */
    publish_seqs(t, 1, 1000);
    bus_journal_stats_t js;
    ck_assert_ok(bus_journal_stats(t, &js));
    ck_assert_uint_gt(js.first_seq, 1);
    bus_sub_options_t opts;
    bus_sub_options_init(&opts);
    opts.on_skip = record_skip;
    ck_assert_ok(bus_subscribe_durable(t, "slow", record, &r, &opts, &sub));
    await_seq(&r, 1000);
    ck_assert_uint_eq(r.seqs[0], js.first_seq);
    ck_assert_ok(bus_shutdown(bus));
    ck_assert_uint_eq(durable_stats(sub).skipped, js.first_seq - 1);
    ck_assert_uint_eq(r.skipped_from, 1);
    ck_assert_uint_eq(r.skipped_to, js.first_seq);
    destroy_bus_and_dir(bus, dir);
}
END_TEST

struct close_result {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool done;
    int rc;
};

static int close_own_topic(const bus_event_t *ev, void *ctx)
{
    struct close_result *r = ctx;
    int rc = bus_topic_close(ev->topic, BUS_CLOSE_DRAIN, NULL);
    pthread_mutex_lock(&r->lock);
    r->rc = rc;
    r->done = true;
    pthread_cond_broadcast(&r->cond);
    pthread_mutex_unlock(&r->lock);
    return 0;
}

/* A durable consumer's handler cannot close its topic (the close would
 * join the consumer's own thread). */
START_TEST(close_from_consumer_is_refused)
{
    bus_t *bus = new_bus_in_temp_dir(dir);
    bus_topic_t *t = durable_topic(bus, dir, BUS_SYNC_NONE, 1 << 16, 0);
    struct close_result r = {.lock = PTHREAD_MUTEX_INITIALIZER,
                             .cond = PTHREAD_COND_INITIALIZER};
    bus_sub_t *sub;
    ck_assert_ok(bus_subscribe_durable(t, "closer", close_own_topic, &r, NULL, &sub));
    publish_seqs(t, 1, 1);
    pthread_mutex_lock(&r.lock);
    while (!r.done)
        pthread_cond_wait(&r.cond, &r.lock); /* the test's timeout bounds it */
    pthread_mutex_unlock(&r.lock);
    ck_assert_int_eq(r.rc, -EDEADLK);
    destroy_bus_and_dir(bus, dir);
}
END_TEST

/* Attempts of a durable consumer with redelivery: seq 2 fails twice, then
 * succeeds; seq 4 fails every time and goes to the dead letters. */
struct attempts {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    uint64_t seqs[16];
    uint32_t tries[16];
    uint32_t n;
    uint32_t letter_attempts;
    uint64_t letter_seq;
};

static int flaky(const bus_event_t *ev, void *ctx)
{
    struct attempts *a = ctx;
    pthread_mutex_lock(&a->lock);
    if (a->n < 16) {
        a->seqs[a->n] = ev->seq;
        a->tries[a->n++] = ev->attempt;
    }
    pthread_cond_broadcast(&a->cond);
    pthread_mutex_unlock(&a->lock);
    if (ev->seq == 4 || (ev->seq == 2 && ev->attempt < 3))
        return -EIO;
    return 0;
}

static int letter(const bus_event_t *ev, void *ctx)
{
    struct attempts *a = ctx;
    const bus_dead_letter_t *d = ev->data;
    pthread_mutex_lock(&a->lock);
    a->letter_seq = d->seq;
    a->letter_attempts = bus_dead_letter_attempts(ev);
    pthread_cond_broadcast(&a->cond);
    pthread_mutex_unlock(&a->lock);
    return 0;
}

START_TEST(consumer_retries_in_place)
{
    bus_t *bus = new_bus_in_temp_dir(dir);
    bus_topic_t *letters;
    ck_assert_ok(bus_dead_letter_topic(bus, NULL, &letters));
    struct attempts a = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
    bus_sub_t *lsub, *sub;
    ck_assert_ok(bus_subscribe(letters, letter, &a, &lsub));
    bus_topic_t *t = durable_topic(bus, dir, BUS_SYNC_NONE, 1 << 16, 0);
    uint64_t backoff[] = {1000000, 2000000}; /* 1 ms, then 2 ms */
    bus_sub_options_t opts;
    bus_sub_options_init(&opts);
    opts.max_deliver = 3;
    opts.backoff_ns = backoff;
    opts.backoff_count = 2;
    ck_assert_ok(bus_subscribe_durable(t, "flaky", flaky, &a, &opts, &sub));
    publish_seqs(t, 1, 5);
    pthread_mutex_lock(&a.lock);
    while (a.n < 9 || !a.letter_seq) /* the test's timeout bounds it */
        pthread_cond_wait(&a.cond, &a.lock);
    pthread_mutex_unlock(&a.lock);
    /* In seq order, each retry before the next event. */
    uint64_t seqs[] = {1, 2, 2, 2, 3, 4, 4, 4, 5};
    uint32_t tries[] = {1, 1, 2, 3, 1, 1, 2, 3, 1};
    for (int i = 0; i < 9; i++) {
        ck_assert_uint_eq(a.seqs[i], seqs[i]);
        ck_assert_uint_eq(a.tries[i], tries[i]);
    }
    ck_assert_uint_eq(a.letter_seq, 4);
    ck_assert_uint_eq(a.letter_attempts, 3);
    ck_assert_ok(bus_shutdown(bus));
    bus_durable_stats_t ds = durable_stats(sub);
    ck_assert_uint_eq(ds.next_seq, 6); /* all acknowledged */
    ck_assert_uint_eq(ds.acked, 5);
    destroy_bus_and_dir(bus, dir);
}
END_TEST

/* A durable topic in dir (segments of 64 KiB) with @r subscribed and @d
 * ready for its on_durable reports. */
static bus_topic_t *recorded_topic(bus_t *bus, int sync, struct recorder *r,
                                   struct durable_reports *d)
{
    bus_topic_t *t = durable_topic(bus, dir, sync, 1 << 16, 0);
    recorder_init(r);
    subscribe(t, record, r);
    durable_reports_init(d, t);
    return t;
}

/* on_durable under BUS_SYNC_ALWAYS: every publish returns at once, each
 * event is reported exactly once, in seq order, after its sync (checked in
 * durable_report); subscribers see them all, plain publishes mixed in still
 * wait for their sync, and the journal reopens with all of them. */
START_TEST(on_durable_reports_each_event_after_its_sync)
{
    bus_t *bus = new_bus_in_temp_dir(dir);
    static struct recorder r;
    static struct durable_reports d;
    bus_topic_t *t = recorded_topic(bus, BUS_SYNC_ALWAYS, &r, &d);
    enum { N = 3000 }; /* several segments of 64 KiB */
    for (uint64_t seq = 1; seq <= N; seq++) {
        if (seq % 1000 == 0)
            publish_seqs(t, seq, 1); /* a plain publish: synced when it returns */
        else
            publish_durable(t, seq, &d);
    }
    await_reports(&d, N - 3);
    for (uint32_t i = 0; i < d.n; i++) {
        ck_assert_int_eq(d.status[i], 0);
        ck_assert_uint_eq(d.seqs[i], i + 1 + i / 999); /* seq order, each once */
    }
    await_seq(&r, N);
    ck_assert_uint_eq(r.n, N);
    for (uint32_t i = 0; i < N; i++)
        ck_assert_uint_eq(r.seqs[i], i + 1);
    ck_assert_ok(bus_topic_close(t, BUS_CLOSE_DRAIN, NULL));
    ck_assert_uint_eq(d.n, N - 3); /* no report after the close */
    t = durable_topic(bus, dir, BUS_SYNC_ALWAYS, 1 << 16, 0);
    bus_journal_stats_t js;
    ck_assert_ok(bus_journal_stats(t, &js));
    ck_assert_uint_eq(js.last_seq, N);
    destroy_bus_and_dir(bus, dir);
}
END_TEST

/* on_durable under BUS_SYNC_INTERVAL: reported after the interval sync;
 * the events reach subscribers without waiting for it. */
START_TEST(on_durable_under_interval)
{
    bus_t *bus = new_bus_in_temp_dir(dir);
    static struct recorder r;
    static struct durable_reports d;
    bus_topic_t *t = recorded_topic(bus, BUS_SYNC_INTERVAL, &r, &d);
    for (uint64_t seq = 1; seq <= 10; seq++)
        publish_durable(t, seq, &d);
    await_seq(&r, 10);
    await_reports(&d, 10);
    for (uint32_t i = 0; i < 10; i++) {
        ck_assert_int_eq(d.status[i], 0);
        ck_assert_uint_eq(d.seqs[i], i + 1);
    }
    destroy_bus_and_dir(bus, dir);
}
END_TEST

/* Holds its worker until *ctx is set (bounded: 20 s). */
static int wait_for_gate(const bus_event_t *ev, void *ctx)
{
    (void)ev;
    for (int i = 0; i < 20000 && !atomic_load((atomic_int *)ctx); i++)
        usleep(1000);
    return 0;
}

/* A full BUS_FULL_DROP ring drops an on_durable publish before the
 * journal: on_durable is told (-EAGAIN, seq 0) before the call returns. */
START_TEST(on_durable_told_of_a_drop)
{
    bus_t *bus = new_bus_in_temp_dir(dir);
    bus_topic_config_t cfg;
    bus_topic_config_init(&cfg);
    cfg.capacity = 2;
    cfg.full_policy = BUS_FULL_DROP;
    bus_journal_config_t j;
    bus_journal_config_init(&j);
    j.dir = dir;
    j.sync = BUS_SYNC_ALWAYS;
    bus_topic_t *t;
    ck_assert_ok(bus_topic_open_durable(bus, "orders", &cfg, &j, &t));
    static struct durable_reports d;
    durable_reports_init(&d, t);
    /* The worker held in the first event's handler: the ring fills. */
    atomic_int gate = 0;
    subscribe(t, wait_for_gate, &gate);
    bus_publish_options_t opts;
    bus_publish_options_init(&opts);
    opts.on_durable = durable_report;
    opts.durable_arg = &d;
    enum { N = 8 };
    for (int i = 0; i < N; i++)
        ck_assert_ok(bus_publish_ex(t, "e", 1, &opts));
    await_reports(&d, N);
    atomic_store(&gate, 1);
    uint32_t dropped = 0;
    pthread_mutex_lock(&d.lock);
    for (uint32_t i = 0; i < d.n; i++) {
        if (d.status[i] == -EAGAIN) {
            ck_assert_uint_eq(d.seqs[i], 0);
            dropped++;
        } else {
            ck_assert_int_eq(d.status[i], 0);
        }
    }
    pthread_mutex_unlock(&d.lock);
    ck_assert_uint_gt(dropped, 0);
    bus_journal_stats_t js;
    ck_assert_ok(bus_journal_stats(t, &js));
    ck_assert_uint_eq(js.last_seq, N - dropped); /* dropped ones not journaled */
    destroy_bus_and_dir(bus, dir);
}
END_TEST

static void never_called(uint64_t seq, int status, void *arg)
{
    (void)seq, (void)status, (void)arg;
    ck_abort_msg("on_durable called for a refused publish");
}

/* What bus_journal_read() gave: seqs and the first payload. */
struct reads {
    uint64_t seqs[64];
    uint32_t n, stop_after;
};

static int collect(const bus_journal_record_t *rec, void *ctx)
{
    struct reads *r = ctx;
    ck_assert_uint_eq(rec->size, sizeof(uint64_t));
    uint64_t value;
    memcpy(&value, rec->data, sizeof(value));
    ck_assert_uint_eq(value, rec->seq * 3); /* what publish_seqs put there */
    ck_assert_uint_gt(rec->time_ns, 1000000000ull * 1600000000ull); /* wall clock */
    r->seqs[r->n++] = rec->seq;
    return r->n == r->stop_after;
}

/* A reader without a position (bus_journal_read), a publish's seq on a
 * durable topic (bus_publish_ex's opts.seq), and a position forgotten. */
START_TEST(read_without_position_and_forget)
{
    bus_t *bus = new_bus_in_temp_dir(dir);
    bus_topic_t *t = durable_topic(bus, dir, BUS_SYNC_NONE, 4096, 2 * 4096);
    uint64_t seq = 0, one = 3;
    bus_publish_options_t po;
    bus_publish_options_init(&po);
    po.seq = &seq;
    ck_assert_ok(bus_publish_ex(t, &one, sizeof(one), &po));
    ck_assert_uint_eq(seq, 1);
    struct reads r = {0};
    ck_assert_int_eq(bus_journal_read(t, 1, 10, collect, &r), 1);
    ck_assert_int_eq(bus_journal_read(t, 2, 10, collect, &r), 0); /* none yet */
    publish_seqs(t, 2, 999);
    r = (struct reads){0};
    ck_assert_int_eq(bus_journal_read(t, 990, 64, collect, &r), 11);
    ck_assert_uint_eq(r.seqs[0], 990);
    ck_assert_uint_eq(r.seqs[10], 1000);
    r = (struct reads){.stop_after = 3};
    ck_assert_int_eq(bus_journal_read(t, 995, 64, collect, &r), 3); /* stopped by fn */
    /* Seq 1 was deleted by retention: the read starts at the oldest left. */
    bus_journal_stats_t js;
    ck_assert_ok(bus_journal_stats(t, &js));
    ck_assert_uint_gt(js.first_seq, 1);
    r = (struct reads){0};
    ck_assert_int_eq(bus_journal_read(t, 1, 2, collect, &r), 2);
    ck_assert_uint_eq(r.seqs[0], js.first_seq);
    ck_assert_int_eq(bus_journal_read(t, 0, 2, collect, &r), -EINVAL);
    /* A consumer forgotten starts again as a new one: at the oldest. */
    struct recorder rec;
    recorder_init(&rec);
    bus_sub_t *sub;
    bus_sub_options_t opts;
    bus_sub_options_init(&opts);
    opts.start = BUS_START_NEWEST;
    ck_assert_ok(bus_subscribe_durable(t, "gone", record, &rec, &opts, &sub));
    ck_assert_int_eq(bus_durable_forget(t, "gone"), -EBUSY);
    ck_assert_ok(bus_unsubscribe(sub));
    ck_assert_ok(bus_durable_forget(t, "gone"));
    ck_assert_int_eq(bus_durable_forget(t, "gone"), -ENOENT);
    ck_assert_int_eq(bus_durable_forget(t, "../gone"), -EINVAL);
    ck_assert_ok(bus_subscribe_durable(t, "gone", record, &rec, NULL, &sub));
    await_seq(&rec, 1000);
    ck_assert_uint_eq(rec.seqs[0], js.first_seq);
    destroy_bus_and_dir(bus, dir);
}
END_TEST

START_TEST(bad_arguments)
{
    bus_t *bus = new_bus_in_temp_dir(dir);
    bus_journal_config_t j;
    bus_journal_config_init(&j);
    bus_topic_t *t;
    ck_assert_int_eq(bus_topic_open_durable(bus, "x", NULL, &j, &t), -EINVAL); /* no dir */
    j.dir = dir;
    j.sync = 7;
    ck_assert_int_eq(bus_topic_open_durable(bus, "x", NULL, &j, &t), -EINVAL);
    j.sync = BUS_SYNC_NONE;
    bus_topic_config_t cfg;
    bus_topic_config_init(&cfg);
    cfg.flags = BUS_TOPIC_KEYED;
    ck_assert_int_eq(bus_topic_open_durable(bus, "x", &cfg, &j, &t), -EINVAL);
    bus_topic_t *plain = new_topic(bus, "plain", 8, BUS_FULL_BLOCK, 0);
    bus_sub_t *sub;
    ck_assert_int_eq(bus_subscribe_durable(plain, "c", record, NULL, NULL, &sub), -EINVAL);
    ck_assert_int_eq(bus_topic_open_durable(bus, "plain", NULL, &j, &t), -EEXIST);
    ck_assert_ok(bus_topic_open_durable(bus, "x", NULL, &j, &t));
    ck_assert_int_eq(bus_subscribe_durable(t, "../c", record, NULL, NULL, &sub), -EINVAL);
    bus_sub_options_t opts;
    bus_sub_options_init(&opts);
    opts.group = "g";
    ck_assert_int_eq(bus_subscribe_durable(t, "c", record, NULL, &opts, &sub), -EINVAL);
    /* on_durable: a durable topic with a sync policy only. */
    bus_publish_options_t popts;
    bus_publish_options_init(&popts);
    popts.on_durable = never_called;
    ck_assert_int_eq(bus_publish_ex(plain, "a", 1, &popts), -EINVAL);
    ck_assert_int_eq(bus_publish_ex(t, "a", 1, &popts), -EINVAL); /* BUS_SYNC_NONE */
    destroy_bus_and_dir(bus, dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("durable");
    TCase *tc = tcase_create("durable");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, seqs_go_on_after_reopen);
    tcase_add_test(tc, consumer_resumes_where_it_stopped);
    tcase_add_test(tc, start_newest_and_replay);
    tcase_add_test(tc, failed_call_is_dead_lettered_and_acknowledged);
    tcase_add_test(tc, consumer_behind_retention_is_told);
    tcase_add_test(tc, close_from_consumer_is_refused);
    tcase_add_test(tc, consumer_retries_in_place);
    tcase_add_test(tc, on_durable_reports_each_event_after_its_sync);
    tcase_add_test(tc, on_durable_under_interval);
    tcase_add_test(tc, on_durable_told_of_a_drop);
    tcase_add_test(tc, read_without_position_and_forget);
    tcase_add_test(tc, bad_arguments);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
