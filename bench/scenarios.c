/* scenarios.c - the table of scenarios. */
#include "scenarios.h"

#include <stdio.h>
#include <string.h>

#define EVENTS(full_n, quick_n) .full = {full_n, 0}, .quick = {quick_n, 0}
#define SECONDS(full_s, quick_s) .full = {0, full_s}, .quick = {0, quick_s}

const struct scenario scenarios[] = {
    {"throughput", "P producers -> T ordered topics -> S subscribers each, W workers",
     scenario_throughput, EVENTS(2000000, 100000)},
    {"throughput-parallel", "as throughput, parallel topics", scenario_throughput_parallel,
     EVENTS(2000000, 100000)},
    {"throughput-batch32", "as throughput, 32 events per batch publish (a loop where none)",
     scenario_throughput_batch, EVENTS(2000000, 100000)},
    {"latency-pingpong", "round trip over two topics, one event in flight", scenario_pingpong,
     EVENTS(100000, 3000)},
    {"latency-cold", "latency-pingpong on new topics, first round trips, no warm-up",
     scenario_pingpong_cold, EVENTS(4096, 1000)},
    {"latency-cold-pretouch", "as latency-cold, topics opened with their memory touched",
     scenario_pingpong_cold_pretouch, EVENTS(4096, 1000), .needs = SUT_CAN_PRETOUCH,
     .lacking = "no pre-touched topics"},
    {"latency-openloop", "fixed-rate sends, latency from the intended send time",
     scenario_openloop, SECONDS(2.0, 0.2)},
    {"latency-own", "one-way latency at 20,000 events/s: the harness's vs the system's own",
     scenario_own_latency, SECONDS(2.0, 0.2), .needs = SUT_CAN_OWN_LATENCY,
     .lacking = "no latency figures of its own"},
    {"churn", "publish rate with 10,000 subscribe+unsubscribe pairs/s vs without",
     scenario_churn, SECONDS(2.0, 0.25), .needs = SUT_CAN_CHURN,
     .lacking = "subscribers are fixed while events flow", .judge = judge_churn},
    {"churn-async", "as churn, unsubscribing without waiting for the handler to stop",
     scenario_churn_async, SECONDS(2.0, 0.25),
     .needs = SUT_CAN_CHURN | SUT_CAN_UNSUBSCRIBE_ASYNC, .lacking = "no asynchronous unsubscribe",
     .judge = judge_churn},
    {"scale", "one busy topic among 100,000 idle ones vs alone; memory per topic",
     scenario_scale, EVENTS(2000000, 100000)},
    {"idle", "CPU burnt while idle (getrusage)", scenario_idle, SECONDS(5.0, 0.5),
     .timed_only = true},
    {"request-reply", "round trip of a blocking request to an echo responder",
     scenario_request_reply, EVENTS(100000, 3000), .needs = SUT_CAN_REQUEST,
     .lacking = "no request-reply"},
    {"queue-group", "as throughput-parallel, 2 queue-group members vs 1 plain subscriber",
     scenario_queue_group, EVENTS(2000000, 100000), .needs = SUT_CAN_GROUPS,
     .lacking = "no queue groups"},
    {"keyed", "as throughput, a keyed topic with 1,000 keys vs a parallel topic",
     scenario_keyed, EVENTS(2000000, 100000), .needs = SUT_CAN_KEYED,
     .lacking = "no keyed topics"},
#define SHAPE(name, summary, fn)                                                         \
    {name, summary, fn, EVENTS(2000000, 100000), .needs = SUT_CAN_FORWARD,                 \
     .lacking = "a handler cannot publish onto a full queue without risking a hang"}
    SHAPE("shape-unicast", "1P-1C, 1,024-slot ring", scenario_shape_unicast),
    SHAPE("shape-pipeline", "1P-3C pipeline a -> b -> c, handlers forward, 1,024-slot rings",
          scenario_shape_pipeline),
    SHAPE("shape-multicast", "1P-3C, three consumers of one topic, 1,024-slot ring",
          scenario_shape_multicast),
    SHAPE("shape-sequencer", "3P-1C, three producers onto one topic, 1,024-slot ring",
          scenario_shape_sequencer),
    SHAPE("shape-diamond", "1P-3C diamond: two consumers forward to a join, 1,024-slot rings",
          scenario_shape_diamond),
#undef SHAPE
    {"throughput-inbox",
     "as throughput, one topic's events taken from an inbox in batches of 64 by a thread, "
     "vs a callback subscription",
     scenario_throughput_inbox, EVENTS(2000000, 100000), .needs = SUT_CAN_INBOX,
     .lacking = "no inboxes", .judge = judge_inbox},
#define WAKEUP(name, summary, fn, needs_, lacking_)                                       \
    {name, summary, fn, EVENTS(20000, 500), .needs = needs_, .lacking = lacking_,          \
     .judge = judge_inbox}
    WAKEUP("wakeup-inbox", "publish to epoll_wait's return on an inbox's descriptor, one event "
           "in flight", scenario_wakeup_inbox, SUT_CAN_INBOX, "no inboxes"),
    WAKEUP("wakeup-pipe-fed", "as wakeup-inbox, a handler pushing onto a list + pipe",
           scenario_wakeup_pipe_fed, 0, NULL),
    WAKEUP("wakeup-pipe", "as wakeup-pipe-fed, the publisher pushing itself (no system used)",
           scenario_wakeup_pipe, SUT_CAN_INBOX, "the baseline of wakeup-inbox, run beside it"),
    WAKEUP("wakeup-callback", "publish to the handler's entry, paced as wakeup-inbox",
           scenario_wakeup_callback, 0, NULL),
#undef WAKEUP
    {NULL, NULL, NULL, {0, 0}, {0, 0}, false, 0, NULL, NULL},
};

struct run_params scenario_params(const struct scenario *s, const struct run_params *cli)
{
    struct run_params p = *cli;
    const struct scenario_length *len = cli->quick ? &s->quick : &s->full;
    bool given = cli->events || cli->seconds > 0;
    if (s->timed_only && !(cli->seconds > 0)) {
        p.events = 0;
        p.seconds = len->seconds;
    } else if (!given) {
        p.events = len->events;
        p.seconds = len->seconds;
    }
    return p;
}

bool scenario_applies(const struct scenario *s, const struct sut_ops *ops, struct result *r)
{
    if ((ops->caps & s->needs) == s->needs)
        return true;
    r->skipped = true;
    snprintf(r->note, sizeof(r->note), "%s", s->lacking);
    return false;
}

const struct scenario *scenario_find(const char *name)
{
    for (const struct scenario *s = scenarios; s->name; s++)
        if (strcmp(s->name, name) == 0)
            return s;
    return NULL;
}
