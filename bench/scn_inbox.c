/* scn_inbox.c - throughput-inbox: the throughput scenario's load on one
 * topic delivered to an inbox, from which a thread takes batches of
 * INBOX_BATCH events, vs the same load on a topic of the same system with a
 * callback subscription, in the same run. The inbox's run is timed until
 * its taker has taken every event (the flush only waits for the worker's
 * copy into the inbox). Also: how often the system wrote the inbox's
 * descriptor per event, which stays far under 1 while the taker keeps busy
 * (no syscall per event on the producer side). */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "load.h"
#include "scenarios.h"

#define TAKE_WAIT_NS INT64_C(10000000)      /* the taker looks at `stop` this often */
#define SETTLE_TIMEOUT_NS UINT64_C(10000000000) /* a taker this far behind has lost events */

struct taker {
    const struct sut_ops *ops;
    void *inbox;
    struct sink taken;
    alignas(64) _Atomic bool stop;
    _Atomic int error;
    uint64_t takes;    /* the taker's; read after the join */
    uint64_t expected; /* events published onto the inbox's topic so far (settle) */
};

static void *taker_main(void *arg)
{
    struct taker *tk = arg;
    /* relaxed: a request to stop; the join orders what follows. */
    while (!atomic_load_explicit(&tk->stop, memory_order_relaxed)) {
        int n = tk->ops->inbox_take(tk->inbox, TAKE_WAIT_NS, INBOX_BATCH, sink_count,
                                    &tk->taken);
        if (n > 0) {
            tk->takes++;
        } else if (n != -ETIMEDOUT && n != -EAGAIN) {
            /* relaxed: read by settle, which only gives up on it. */
            atomic_store_explicit(&tk->error, n, memory_order_relaxed);
            break;
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

/* Topic 0: a callback subscription (@called); topic 1: the taker's inbox. */
static int setup(struct fixture *f, const struct run_params *p, struct sink *called,
                 struct taker *tk)
{
    struct sut_topic_config cfg = busy_topic_config(p, false);
    int rc = fixture_open_topics(f, "inbox", 2, &cfg);
    if (rc == 0)
        rc = fixture_subscribe(f, f->topics[0], sink_count, called);
    if (rc == 0)
        rc = f->ops->inbox_open(f->sys, f->topics[1], cfg.capacity, &tk->inbox);
    return rc;
}

void scenario_throughput_inbox(const struct sut_ops *ops, const struct run_params *p,
                               struct result *r)
{
    struct fixture f;
    struct sink *called = aligned_alloc(64, sizeof(*called));
    struct taker *tk = aligned_alloc(64, sizeof(*tk));
    int rc = called && tk ? fixture_create(&f, ops, p, 3) : -ENOMEM;
    if (rc) {
        free(called);
        free(tk);
        result_fail(r, "create: %d", rc);
        return;
    }
    atomic_init(&called->count, 0);
    memset(tk, 0, sizeof(*tk));
    tk->ops = ops;
    pthread_t taker;
    rc = setup(&f, p, called, tk);
    if (rc == 0 && pthread_create(&taker, NULL, taker_main, tk))
        rc = -EAGAIN;
    if (rc) {
        result_fail(r, "setup: %d", rc);
    } else {
        uint64_t by_callback = 0, by_inbox = 0;
        struct load_spec spec = load_spec_from(p, 1, 1);
        double callback_rate = load_rate(&f, &spec, &by_callback, r);
        r->seconds = 0;
        spec.first_topic = 1;
        spec.settle = taker_settle;
        spec.settle_ctx = tk;
        r->rate = load_rate(&f, &spec, &by_inbox, r);
        atomic_store_explicit(&tk->stop, true, memory_order_relaxed); /* see taker_main */
        pthread_join(taker, NULL);
        uint64_t wakeups = 0;
        if ((rc = ops->inbox_wakeups(tk->inbox, &wakeups)))
            result_fail(r, "inbox_wakeups: %d", rc);
        result_check_counts(r, by_callback, sink_read(called));
        result_check_counts(r, by_inbox, sink_read(&tk->taken));
        r->published = by_callback + by_inbox;
        result_extra(r, "callback_rate", callback_rate);
        result_extra(r, "ratio", callback_rate > 0 ? r->rate / callback_rate : 0);
        /* Both phases, warm-up included. */
        result_extra(r, "wakeups_per_event", by_inbox ? (double)wakeups / (double)by_inbox : 0);
        result_extra(r, "events_per_take",
                     tk->takes ? (double)sink_read(&tk->taken) / (double)tk->takes : 0);
    }
    if (tk->inbox)
        ops->inbox_close(tk->inbox);
    fixture_destroy(&f);
    free(called);
    free(tk);
}

void judge_inbox(struct result *r)
{
    double wakeups, per_take;
    if (result_extra_find(r, "wakeups_per_event", &wakeups) && wakeups > 1)
        result_implausible(r, "%.3g descriptor writes per event: at most 1 is possible", wakeups);
    if (result_extra_find(r, "events_per_take", &per_take) &&
        (per_take < 1 || per_take > INBOX_BATCH))
        result_implausible(r, "%.3g events per take: 1 to %d are possible", per_take,
                           INBOX_BATCH);
}
