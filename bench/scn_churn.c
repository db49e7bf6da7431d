/* scn_churn.c - publish rate while another thread subscribes and
 * unsubscribes a second handler on the same topic at a fixed rate, compared
 * with the rate of the same system without churn. `churn` unsubscribes and
 * waits until the handler can no longer run; `churn-async` only starts the
 * removal (the system frees the subscription later). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "load.h"
#include "scenarios.h"

enum { CHURN_PAIRS_PER_S = 10000 };

struct churner {
    const struct fixture *f;
    bool async; /* unsubscribe_async instead of unsubscribe */
    _Atomic bool stop;
    uint64_t pairs;
    int error;
    struct sink sink; /* calls of the churned handler: not checked, varies */
};

static void *churn_main(void *arg)
{
    struct churner *c = arg;
    const struct sut_ops *ops = c->f->ops;
    uint64_t period = 1000000000u / CHURN_PAIRS_PER_S, next = now_ns();
    /* relaxed: a stop request; nothing else is read through it. */
    while (!atomic_load_explicit(&c->stop, memory_order_relaxed)) {
        /* Coarse sleep: spinning would take a core from the producer. A late
         * wake-up is made up by the absolute schedule. */
        sleep_until_ns(next, false);
        void *sub;
        c->error = ops->subscribe(c->f->sys, c->f->topics[0], sink_count, &c->sink, &sub);
        if (c->error)
            break;
        c->error = c->async ? ops->unsubscribe_async(c->f->sys, sub)
                            : ops->unsubscribe(c->f->sys, sub);
        if (c->error)
            break;
        c->pairs++;
        next += period;
    }
    return NULL;
}

/* One phase: the load alone, or with the churner running. */
static void run_phase(const struct fixture *f, const struct run_params *p, struct churner *c,
                      struct load_outcome *out, double *pairs_per_s)
{
    struct load_spec spec = load_spec_from(p, 1, 1);
    pthread_t thread;
    bool churning = c && pthread_create(&thread, NULL, churn_main, c) == 0;
    uint64_t start = now_ns();
    load_run(f, &spec, out);
    if (churning) {
        atomic_store_explicit(&c->stop, true, memory_order_relaxed);
        pthread_join(thread, NULL);
        *pairs_per_s = (double)c->pairs / ((double)(now_ns() - start) / 1e9);
    } else if (c) {
        out->error = -EAGAIN;
    }
}

static void run_churn(const struct sut_ops *ops, const struct run_params *p, bool async,
                      struct result *r)
{
    struct fixture f = {0};
    struct sink *stable = aligned_alloc(64, sizeof(*stable));
    struct churner *c = calloc(1, sizeof(*c));
    int rc = stable && c ? fixture_create(&f, ops, p, 2) : -ENOMEM;
    struct sut_topic_config cfg = busy_topic_config(p, false);
    if (rc == 0) {
        atomic_init(&stable->count, 0);
        c->f = &f;
        c->async = async;
        rc = fixture_open_topics(&f, "churn", 1, &cfg);
        if (rc == 0)
            rc = fixture_subscribe(&f, f.topics[0], sink_count, stable);
    }
    if (rc) {
        result_fail(r, "setup: %d", rc);
    } else {
        struct load_outcome calm, churned;
        double pairs_per_s = 0;
        run_phase(&f, p, NULL, &calm, NULL);
        run_phase(&f, p, c, &churned, &pairs_per_s);
        if (calm.error || churned.error || c->error)
            result_fail(r, "publish/flush/churn: %d %d %d", calm.error, churned.error, c->error);
        result_check_counts(r, load_total(&calm) + load_total(&churned), sink_read(stable));
        r->published = load_total(&calm) + load_total(&churned);
        r->seconds = churned.seconds;
        r->rate = (double)churned.published / churned.seconds;
        double calm_rate = (double)calm.published / calm.seconds;
        result_extra(r, "rate_without_churn", calm_rate);
        result_extra(r, "ratio", r->rate / calm_rate);
        result_extra(r, "churn_pairs_per_s", pairs_per_s);
    }
    fixture_destroy(&f);
    free(stable);
    free(c);
}

/* The load cannot run faster because subscriptions churn beside it: a ratio
 * above 1 means the run without churn was slowed by something else. A
 * churner far below its schedule did not load the system as claimed. */
void judge_churn(struct result *r)
{
    double ratio, pairs;
    if (!result_extra_find(r, "ratio", &ratio) ||
        !result_extra_find(r, "churn_pairs_per_s", &pairs))
        return;
    if (ratio > 1)
        result_implausible(r, "ratio %.3g above 1: the run without churn was disturbed", ratio);
    else if (pairs < CHURN_PAIRS_PER_S / 2)
        result_implausible(r, "churned %.0f pairs/s, under half the %d targeted", pairs,
                           CHURN_PAIRS_PER_S);
}

void scenario_churn(const struct sut_ops *ops, const struct run_params *p, struct result *r)
{
    run_churn(ops, p, false, r);
}

void scenario_churn_async(const struct sut_ops *ops, const struct run_params *p,
                          struct result *r)
{
    run_churn(ops, p, true, r);
}
