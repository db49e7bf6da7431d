/* test_durable_crash.c - kill -9 at random moments: a child publishes on a
 * BUS_SYNC_ALWAYS topic, with a durable consumer acknowledging, and reports
 * each seq its publish returned through a pipe; the parent kills it with
 * SIGKILL after a random delay, reopens the journal and checks that every
 * reported event is there once, in order, intact, and that the consumer
 * resumes at or after where the previous round left it, with no gap.
 * BUS_CRASH_ROUNDS sets the rounds (default 50), BUS_CRASH_SYNC the policy
 * (none, interval, always: default always; a process kill must lose no
 * returned publish under any of them), BUS_CRASH_ON_DURABLE and
 * BUS_CRASH_SEGMENT_MB how the child publishes (see below). */
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "durable_helpers.h"

static char dir[64];

static int sync_policy(void)
{
    const char *name = getenv("BUS_CRASH_SYNC");
    if (name && strcmp(name, "none") == 0)
        return BUS_SYNC_NONE;
    if (name && strcmp(name, "interval") == 0)
        return BUS_SYNC_INTERVAL;
    return BUS_SYNC_ALWAYS;
}

static int consume(const bus_event_t *ev, void *ctx)
{
    (void)ev;
    (void)ctx;
    return 0;
}

/* Checks that the events come in seq order with no gap, each intact. */
struct checker {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    uint64_t next; /* the seq expected next (0: whichever comes first) */
    uint64_t first, count, errors;
};

static int check(const bus_event_t *ev, void *ctx)
{
    struct checker *c = ctx;
    uint64_t value;
    memcpy(&value, ev->data, sizeof(value));
    pthread_mutex_lock(&c->lock);
    if (!c->count)
        c->first = ev->seq;
    else if (ev->seq != c->next)
        c->errors++;
    if (ev->size != sizeof(value) || value != ev->seq * 3)
        c->errors++;
    c->next = ev->seq + 1;
    c->count++;
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->lock);
    return 0;
}

static void checker_init(struct checker *c)
{
    memset(c, 0, sizeof(*c));
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->cond, NULL);
}

/* Waits (bounded: 20 s) until the checker saw @seq. */
static void await_checked(struct checker *c, uint64_t seq)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 20;
    pthread_mutex_lock(&c->lock);
    while (c->next <= seq)
        ck_assert_int_eq(pthread_cond_timedwait(&c->cond, &c->lock, &until), 0);
    pthread_mutex_unlock(&c->lock);
}

/* BUS_CRASH_SEGMENT_MB: segments of that size (default 64 KiB: many
 * rolls; 4 or more: huge pages under interval and none). */
static uint64_t segment_bytes(void)
{
    const char *mb = getenv("BUS_CRASH_SEGMENT_MB");
    return mb ? strtoull(mb, NULL, 10) << 20 : 1 << 16;
}

static void ignore_durable(uint64_t seq, int status, void *arg)
{
    (void)seq, (void)status, (void)arg;
}

/* BUS_CRASH_ON_DURABLE=1: the child publishes with on_durable (it does not
 * wait for the sync, and a returned publish must survive all the same). */
static int publish(bus_topic_t *t, uint64_t value)
{
    if (!getenv("BUS_CRASH_ON_DURABLE") || sync_policy() == BUS_SYNC_NONE)
        return bus_publish(t, &value, sizeof(value));
    bus_publish_options_t opts;
    bus_publish_options_init(&opts);
    opts.on_durable = ignore_durable;
    return bus_publish_ex(t, &value, sizeof(value), &opts);
}

/* The child: publish until killed, writing each returned seq to @fd. */
static void child(int fd)
{
    bus_t *bus = new_bus(1);
    bus_topic_t *t = durable_topic(bus, dir, sync_policy(), segment_bytes(), 0);
    bus_sub_t *sub;
    ck_assert_ok(bus_subscribe_durable(t, "c", consume, NULL, NULL, &sub));
    bus_journal_stats_t js;
    ck_assert_ok(bus_journal_stats(t, &js));
    for (uint64_t seq = js.last_seq + 1;; seq++) {
        if (publish(t, seq * 3) != 0)
            _exit(2);
        if (write(fd, &seq, sizeof(seq)) != sizeof(seq))
            _exit(3);
    }
}

/* Reads every reported seq; returns the last (0: none). */
static uint64_t last_reported(int fd, uint64_t expect)
{
    uint64_t seq, last = 0;
    while (read(fd, &seq, sizeof(seq)) == sizeof(seq)) {
        ck_assert_uint_eq(seq, expect); /* reported in seq order, none missed */
        last = seq;
        expect++;
    }
    return last;
}

START_TEST(kill_9_loses_no_reported_event)
{
    temp_dir(dir);
    const char *env = getenv("BUS_CRASH_ROUNDS");
    int rounds = env ? atoi(env) : 50;
    srand((unsigned)getpid());
    uint64_t reported = 0, position = 1, in_flight = 0;
    for (int round = 0; round < rounds; round++) {
        int fds[2];
        ck_assert_int_eq(pipe(fds), 0);
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
            close(fds[0]);
            child(fds[1]);
        }
        close(fds[1]);
        /* Wait for the child's first report, then kill it at a random
         * moment within the next 20 ms. */
        uint64_t first;
        ck_assert_int_eq(read(fds[0], &first, sizeof(first)), sizeof(first));
        ck_assert_uint_eq(first, reported + 1);
        usleep((useconds_t)(rand() % 20000));
        kill(pid, SIGKILL);
        int status;
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert(WIFSIGNALED(status));
        uint64_t last = last_reported(fds[0], first + 1);
        close(fds[0]);
        if (last)
            reported = last;
        else
            reported = first;

        /* Every reported event is in the journal, once, in order, intact
         * (record() checks the payload): read them all from seq 1. */
        bus_t *bus = new_bus(1);
        bus_topic_t *t = durable_topic(bus, dir, sync_policy(), segment_bytes(), 0);
        bus_journal_stats_t js;
        ck_assert_ok(bus_journal_stats(t, &js));
        ck_assert_uint_ge(js.last_seq, reported);
        in_flight += js.last_seq - reported; /* written, killed before the report */
        struct checker all_events, resumed;
        checker_init(&all_events);
        checker_init(&resumed);
        bus_sub_options_t opts;
        bus_sub_options_init(&opts);
        opts.start = BUS_START_SEQ;
        opts.start_seq = 1;
        bus_sub_t *all, *c;
        ck_assert_ok(bus_subscribe_durable(t, "check", check, &all_events, &opts, &all));
        await_checked(&all_events, js.last_seq);
        ck_assert_ok(bus_unsubscribe(all));
        ck_assert_uint_eq(all_events.errors, 0);
        ck_assert_uint_eq(all_events.first, 1);
        ck_assert_uint_eq(all_events.count, js.last_seq);
        /* The child's consumer resumes no earlier than where this test's
         * last run of it stopped, and goes on without a gap. */
        ck_assert_ok(bus_subscribe_durable(t, "c", check, &resumed, NULL, &c));
        /* One more event: once the consumer has it, it has had all. */
        uint64_t marker = js.last_seq + 1, value = marker * 3;
        ck_assert_ok(bus_publish(t, &value, sizeof(value)));
        await_checked(&resumed, marker);
        ck_assert_uint_ge(resumed.first, position);
        ck_assert_uint_eq(resumed.count, marker - resumed.first + 1);
        ck_assert_uint_eq(resumed.errors, 0);
        position = marker + 1;
        ck_assert_ok(bus_destroy(bus));
        reported = marker; /* the next child goes on from there */
    }
    printf("durable_crash: %d rounds, %llu events in the journal (%d markers), every "
           "reported one found; %llu more were found than reported (killed between the "
           "publish and its report)\n",
           rounds, (unsigned long long)reported, rounds, (unsigned long long)in_flight);
    remove_dir(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("durable_crash");
    TCase *tc = tcase_create("crash");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, kill_9_loses_no_reported_event);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
