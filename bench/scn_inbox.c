/* scn_inbox.c - throughput-inbox: the throughput scenario's load on one
 * topic, taken from an inbox by a thread in batches of up to INBOX_BATCH,
 * against two baselines measured in the same run on the same system, one
 * topic each:
 *  - a callback subscription: the handler is the consumer, no taker;
 *  - what a user writes without inboxes: a handler pushing onto a
 *    pipe_queue that a thread empties (the same threads as the inbox's:
 *    producers, worker, taker).
 * A taker's run is timed until it has taken every event (the flush only
 * waits for the handler's copy). Also how often the descriptor was written
 * per event: far under 1 while the taker keeps busy, since the worker writes
 * it only when the taker found the queue empty; and how often the worker
 * waited for room in the full inbox (the pipe_queue has no bound). */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "load.h"
#include "pull.h"
#include "scenarios.h"

enum { TAKE_WAIT_MS = 10 }; /* the taker looks at `stop` this often */
#define SETTLE_TIMEOUT_NS UINT64_C(10000000000) /* a taker this far behind has lost events */

struct taker {
    struct pull q;
    struct sink taken;
    alignas(64) _Atomic bool stop;
    _Atomic int error;
    uint64_t takes;    /* the taker's; read after the join */
    uint64_t expected; /* events published onto the topic so far (settle's) */
};

/* Takes what is there, then waits on the descriptor, as an event loop
 * does. */
static void *taker_main(void *arg)
{
    struct taker *tk = arg;
    struct pollfd pfd = {.fd = tk->q.fd, .events = POLLIN};
    /* relaxed: a request to stop; the join orders what follows. */
    while (!atomic_load_explicit(&tk->stop, memory_order_relaxed)) {
        int n = pull_take(&tk->q, INBOX_BATCH, sink_count, &tk->taken);
        if (n > 0) {
            tk->takes++;
        } else if (n < 0) {
            /* relaxed: read by settle, which only gives up on it. */
            atomic_store_explicit(&tk->error, n, memory_order_relaxed);
            break;
        } else {
            poll(&pfd, 1, TAKE_WAIT_MS);
        }
    }
    return NULL;
}

/* load_spec.settle: waits until the taker has taken every event published
 * so far. */
static int taker_settle(void *ctx, uint64_t published)
{
    struct taker *tk = ctx;
    tk->expected += published;
    uint64_t deadline = now_ns() + SETTLE_TIMEOUT_NS;
    unsigned rounds = 0;
    while (sink_read(&tk->taken) < tk->expected) {
        /* relaxed: see taker_main. */
        int error = atomic_load_explicit(&tk->error, memory_order_relaxed);
        if (error)
            return error;
        if (now_ns() > deadline)
            return -ETIMEDOUT;
        backoff_step(&rounds);
    }
    return 0;
}

/* What one taker's run measured. */
struct taken {
    double rate, wakeups_per_event, blocked_per_event, events_per_take;
};

/* The load on fixture topic @topic, taken from a pull of @kind; adds the
 * events to *@published and checks that the taker took them all. */
static struct taken run_taker(struct fixture *f, const struct run_params *p, unsigned topic,
                              enum pull_kind kind, uint64_t *published, struct result *r)
{
    struct taken out = {0, 0, 0, 0};
    struct taker *tk = aligned_alloc(64, sizeof(*tk));
    if (!tk) {
        result_fail(r, "taker: %d", -ENOMEM);
        return out;
    }
    memset(tk, 0, sizeof(*tk));
    pthread_t thread;
    uint32_t capacity = busy_topic_config(p, false).capacity;
    int rc = pull_open(&tk->q, kind, f, f->topics[topic], capacity);
    if (rc == 0 && pthread_create(&thread, NULL, taker_main, tk))
        rc = -EAGAIN;
    if (rc) {
        result_fail(r, "inbox/queue: %d", rc);
    } else {
        struct load_spec spec = load_spec_from(p, 1, 1);
        spec.first_topic = topic;
        spec.settle = taker_settle;
        spec.settle_ctx = tk;
        uint64_t before = *published;
        out.rate = load_rate(f, &spec, published, r);
        atomic_store_explicit(&tk->stop, true, memory_order_relaxed); /* see taker_main */
        pthread_join(thread, NULL);
        uint64_t events = *published - before, taken = sink_read(&tk->taken);
        result_check_counts(r, events, taken);
        struct sut_inbox_counts counts = {0, 0};
        if ((rc = pull_counts(&tk->q, &counts)))
            result_fail(r, "inbox/queue counts: %d", rc);
        /* Both phases of the load, warm-up included. */
        out.wakeups_per_event = events ? (double)counts.wakeups / (double)events : 0;
        out.blocked_per_event = events ? (double)counts.blocked / (double)events : 0;
        out.events_per_take = tk->takes ? (double)taken / (double)tk->takes : 0;
    }
    pull_close(&tk->q);
    free(tk);
    return out;
}

void scenario_throughput_inbox(const struct sut_ops *ops, const struct run_params *p,
                               struct result *r)
{
    struct fixture f;
    struct sink *called = aligned_alloc(64, sizeof(*called));
    int rc = called ? fixture_create(&f, ops, p, 4) : -ENOMEM;
    if (rc) {
        free(called);
        result_fail(r, "create: %d", rc);
        return;
    }
    atomic_init(&called->count, 0);
    /* Topic 0: the callback subscription; 1: the inbox; 2: the pipe_queue. */
    struct sut_topic_config cfg = busy_topic_config(p, false);
    rc = fixture_open_topics(&f, "inbox", 3, &cfg);
    if (rc == 0)
        rc = fixture_subscribe(&f, f.topics[0], sink_count, called);
    if (rc) {
        result_fail(r, "setup: %d", rc);
    } else {
        uint64_t by_callback = 0, by_taker = 0;
        struct load_spec spec = load_spec_from(p, 1, 1);
        double callback_rate = load_rate(&f, &spec, &by_callback, r);
        result_check_counts(r, by_callback, sink_read(called));
        r->seconds = 0;
        struct taken inbox = run_taker(&f, p, 1, PULL_INBOX, &by_taker, r);
        double inbox_seconds = r->seconds;
        struct taken pipe = run_taker(&f, p, 2, PULL_PIPE_FED, &by_taker, r);
        r->seconds = inbox_seconds;
        r->rate = inbox.rate;
        r->published = by_callback + by_taker;
        result_extra(r, "callback_rate", callback_rate);
        result_extra(r, "pipe_fed_rate", pipe.rate);
        result_extra(r, "ratio", callback_rate > 0 ? inbox.rate / callback_rate : 0);
        result_extra(r, "ratio_pipe_fed", pipe.rate > 0 ? inbox.rate / pipe.rate : 0);
        result_extra(r, "wakeups_per_event", inbox.wakeups_per_event);
        result_extra(r, "pipe_wakeups_per_event", pipe.wakeups_per_event);
        result_extra(r, "events_per_take", inbox.events_per_take);
        /* Waits of the worker for room in the full inbox (as many events as
         * the topic's ring); the pipe_queue is unbounded. */
        result_extra(r, "blocked_per_event", inbox.blocked_per_event);
    }
    fixture_destroy(&f);
    free(called);
}

void judge_inbox(struct result *r)
{
    static const char *const writes[] = {"wakeups_per_event", "pipe_wakeups_per_event"};
    double value;
    for (unsigned i = 0; i < 2; i++)
        if (result_extra_find(r, writes[i], &value) && value > 1)
            result_implausible(r, "%s %.3g: at most 1 write per event is possible", writes[i],
                               value);
    if (result_extra_find(r, "events_per_take", &value) && (value < 1 || value > INBOX_BATCH))
        result_implausible(r, "%.3g events per take: 1 to %d are possible", value, INBOX_BATCH);
}
