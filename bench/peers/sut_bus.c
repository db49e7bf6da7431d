/* sut_bus.c - the system under test: this library, through its public API. */
#include <errno.h>
#include <stdlib.h>

#include "bus.h"
#include "bus/inbox.h"
#include "../sut.h"
#include "bus_watch.h"

/* The --watch view of the bus being measured; the harness runs one system
 * at a time. */
static struct bus_watch *watch;

/* A subscription: the harness's handler, called from a bus handler. */
struct bus_sut_sub {
    sut_handler_fn fn;
    void *ctx;
    bus_sub_t *sub;
};

static int to_bus_wait(enum sut_wait wait)
{
    switch (wait) {
    case SUT_WAIT_SPIN:
        return BUS_WAIT_SPIN;
    case SUT_WAIT_YIELD:
        return BUS_WAIT_YIELD;
    default:
        return BUS_WAIT_PARK;
    }
}

/* @timing_sample, @slow_handler_ns: bus_config_t's; the variants below
 * measure what timing costs (issue 11): the default (1 in 64), off, every
 * event, and the slow handler check on (every call timed, 1 in 64
 * recorded). */
static int create_timed(const struct sut_config *cfg, void **sys, uint32_t timing_sample,
                        uint64_t slow_handler_ns)
{
    bus_config_t bc;
    bus_config_init(&bc);
    bc.workers = cfg->workers;
    bc.wait = to_bus_wait(cfg->wait);
    bc.timing_sample = timing_sample;
    bc.slow_handler_ns = slow_handler_ns;
    if (cfg->max_topics)
        bc.max_topics = cfg->max_topics;
    int rc = bus_create((bus_t **)sys, &bc);
    if (rc == 0 && cfg->watch)
        watch = bus_watch_start(*sys, stderr);
    return rc;
}

static int bus_sut_create(const struct sut_config *cfg, void **sys)
{
    bus_config_t defaults;
    bus_config_init(&defaults);
    return create_timed(cfg, sys, defaults.timing_sample, 0);
}

static int bus_sut_create_untimed(const struct sut_config *cfg, void **sys)
{
    return create_timed(cfg, sys, 0, 0);
}

static int bus_sut_create_timed_all(const struct sut_config *cfg, void **sys)
{
    return create_timed(cfg, sys, 1, 0);
}

/* A threshold no bench handler reaches: the cost of the check alone. */
static int bus_sut_create_slow_check(const struct sut_config *cfg, void **sys)
{
    bus_config_t defaults;
    bus_config_init(&defaults);
    return create_timed(cfg, sys, defaults.timing_sample, 1000000000u);
}

static int bus_sut_topic_open(void *sys, const char *name, const struct sut_topic_config *cfg,
                              void **topic)
{
    bus_topic_config_t tc;
    bus_topic_config_init(&tc);
    tc.capacity = cfg->capacity;
    tc.max_payload = cfg->max_payload;
    tc.flags = (cfg->parallel ? BUS_TOPIC_PARALLEL : 0) | (cfg->keyed ? BUS_TOPIC_KEYED : 0) |
               (cfg->pretouch ? BUS_TOPIC_PRETOUCH : 0);
    return bus_topic_open(sys, name, &tc, (bus_topic_t **)topic);
}

static int call_sut_handler(const bus_event_t *ev, void *ctx)
{
    struct bus_sut_sub *s = ctx;
    s->fn(s->ctx, ev->data, ev->size);
    return 0;
}

static int echo_request(const bus_event_t *ev, void *ctx)
{
    (void)ctx;
    return bus_reply(ev, ev->data, ev->size);
}

/* A subscription of the harness's handler (NULL: the echo responder),
 * plain or as a member of @group. */
static int subscribe_as(bus_topic_t *topic, const char *group, sut_handler_fn fn, void *ctx,
                        void **sub)
{
    struct bus_sut_sub *s = malloc(sizeof(*s));
    if (!s)
        return -ENOMEM;
    s->fn = fn;
    s->ctx = ctx;
    bus_sub_options_t opts;
    bus_sub_options_init(&opts);
    opts.group = group;
    int rc = bus_subscribe_ex(topic, fn ? call_sut_handler : echo_request, s, &opts, &s->sub);
    if (rc) {
        free(s);
        return rc;
    }
    *sub = s;
    return 0;
}

static int bus_sut_subscribe(void *sys, void *topic, sut_handler_fn fn, void *ctx, void **sub)
{
    (void)sys;
    return subscribe_as(topic, NULL, fn, ctx, sub);
}

static int bus_sut_subscribe_group(void *sys, void *topic, const char *group,
                                   sut_handler_fn fn, void *ctx, void **sub)
{
    (void)sys;
    return subscribe_as(topic, group, fn, ctx, sub);
}

static int bus_sut_subscribe_echo(void *sys, void *topic, void **sub)
{
    (void)sys;
    return subscribe_as(topic, NULL, NULL, NULL, sub);
}

static int bus_sut_unsubscribe(void *sys, void *sub)
{
    (void)sys;
    struct bus_sut_sub *s = sub;
    int rc = bus_unsubscribe(s->sub); /* waits for running calls: s is then free */
    free(s);
    return rc;
}

static int bus_sut_unsubscribe_async(void *sys, void *sub)
{
    (void)sys;
    struct bus_sut_sub *s = sub;
    return bus_unsubscribe_async(s->sub, free, s); /* s is freed once unused */
}

static int bus_sut_publish(void *sys, void *topic, const void *data, size_t size)
{
    (void)sys;
    return bus_publish(topic, data, size);
}

static int bus_sut_publish_keyed(void *sys, void *topic, uint64_t key, const void *data,
                                 size_t size)
{
    (void)sys;
    return bus_publish_keyed(topic, key, data, size);
}

static int bus_sut_request(void *sys, void *topic, const void *data, size_t size, void *reply,
                           size_t cap)
{
    (void)sys;
    const uint64_t timeout_ns = UINT64_C(5000000000); /* a lost reply fails the run */
    size_t reply_size;
    return bus_request_wait(topic, data, size, timeout_ns, reply, cap, &reply_size);
}

static int bus_sut_publish_batch(void *sys, void *topic, const struct sut_msg *msgs,
                                 size_t count)
{
    (void)sys;
    /* Same layout (pointer, size), checked below, so no copy is needed. */
    _Static_assert(sizeof(struct sut_msg) == sizeof(bus_msg_t), "sut_msg is bus_msg_t");
    const bus_msg_t *batch = (const bus_msg_t *)msgs;
    while (count) {
        /* BUS_FULL_BLOCK accepts everything off a worker thread; a partial
         * accept only happens on a handler's publish: go on with the rest. */
        size_t accepted = 0;
        int rc = bus_publish_batch(topic, batch, count, &accepted);
        if (rc)
            return rc;
        batch += accepted;
        count -= accepted;
    }
    return 0;
}

static int bus_sut_own_wait(void *sys, void *topic, uint64_t *count, uint64_t *p50_ns,
                            uint64_t *p99_ns)
{
    (void)sys;
    bus_topic_metrics_t m;
    int rc = bus_topic_metrics(topic, &m);
    *count = m.wait.count;
    *p50_ns = m.wait.p50_ns;
    *p99_ns = m.wait.p99_ns;
    return rc;
}

/* Blocks the worker on a full inbox for up to 5 s: a dropped event means
 * the taker stopped, and fails the run's count check. */
static int bus_sut_inbox_open(void *sys, void *topic, uint32_t capacity, void **inbox)
{
    (void)sys;
    bus_inbox_options_t opts;
    bus_inbox_options_init(&opts);
    opts.capacity = capacity;
    opts.full = BUS_INBOX_BLOCK;
    opts.block_ns = UINT64_C(5000000000);
    return bus_inbox_open(topic, &opts, (bus_inbox_t **)inbox);
}

static int bus_sut_inbox_fd(void *inbox)
{
    return bus_inbox_fd(inbox);
}

static int bus_sut_inbox_take(void *inbox, int64_t timeout_ns, unsigned max, sut_handler_fn fn,
                              void *ctx)
{
    bus_inbox_msg_t *msgs[SUT_INBOX_TAKE_MAX];
    int n = bus_inbox_next_batch(inbox, timeout_ns, msgs,
                                 max < SUT_INBOX_TAKE_MAX ? max : SUT_INBOX_TAKE_MAX);
    for (int i = 0; i < n; i++) {
        fn(ctx, msgs[i]->data, msgs[i]->size);
        bus_inbox_release(msgs[i]);
    }
    return n;
}

static int bus_sut_inbox_counts(void *inbox, struct sut_inbox_counts *out)
{
    bus_inbox_stats_t st = {0};
    int rc = bus_inbox_stats(inbox, &st);
    *out = (struct sut_inbox_counts){.wakeups = st.wakeups, .blocked = st.blocked};
    return rc;
}

static void bus_sut_inbox_close(void *inbox)
{
    bus_inbox_close(inbox);
}

static int bus_sut_flush(void *sys)
{
    return bus_flush(sys);
}

static void bus_sut_destroy(void *sys)
{
    bus_watch_stop(watch);
    watch = NULL;
    bus_destroy(sys);
}

#define BUS_SUT_OPS(name_, summary_, create_)                                              \
    {                                                                                      \
        .name = name_, .summary = summary_,                                                \
        .caps = SUT_CAN_PRETOUCH | SUT_CAN_CHURN | SUT_CAN_UNSUBSCRIBE_ASYNC |             \
                SUT_CAN_GROUPS | SUT_CAN_KEYED | SUT_CAN_REQUEST | SUT_CAN_FORWARD |       \
                SUT_CAN_OWN_LATENCY | SUT_CAN_INBOX,                                       \
        .create = create_, .topic_open = bus_sut_topic_open,                               \
        .subscribe = bus_sut_subscribe, .unsubscribe = bus_sut_unsubscribe,                \
        .publish = bus_sut_publish, .publish_batch = bus_sut_publish_batch,                \
        .flush = bus_sut_flush, .destroy = bus_sut_destroy,                                \
        .unsubscribe_async = bus_sut_unsubscribe_async,                                    \
        .subscribe_group = bus_sut_subscribe_group,                                        \
        .publish_keyed = bus_sut_publish_keyed, .subscribe_echo = bus_sut_subscribe_echo,  \
        .request = bus_sut_request, .own_wait = bus_sut_own_wait,                          \
        .inbox_open = bus_sut_inbox_open, .inbox_fd = bus_sut_inbox_fd,                    \
        .inbox_take = bus_sut_inbox_take, .inbox_counts = bus_sut_inbox_counts,            \
        .inbox_close = bus_sut_inbox_close,                                                \
    }

const struct sut_ops sut_bus_ops =
    BUS_SUT_OPS("bus", "this library: per-topic rings, worker pool, RCU subscriptions",
                bus_sut_create);
const struct sut_ops sut_bus_untimed_ops =
    BUS_SUT_OPS("bus-untimed", "this library with timing off (timing_sample 0)",
                bus_sut_create_untimed);
const struct sut_ops sut_bus_timed_all_ops =
    BUS_SUT_OPS("bus-timed-all", "this library timing every event (timing_sample 1)",
                bus_sut_create_timed_all);
const struct sut_ops sut_bus_slow_check_ops =
    BUS_SUT_OPS("bus-slow-check",
                "this library checking every handler call for slowness (slow_handler_ns 1 s)",
                bus_sut_create_slow_check);
