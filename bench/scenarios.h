/* scenarios.h - the scenarios, each a plain C function over a system. */
#ifndef BENCH_SCENARIOS_H
#define BENCH_SCENARIOS_H

#include "harness.h"

/* Runs once and fills @r, whose system, scenario, params and ok = true are
 * set by the caller. A count mismatch or an error clears r->ok. */
typedef void (*scenario_fn)(const struct sut_ops *ops, const struct run_params *p,
                            struct result *r);

/* How long a scenario runs unless told: a count of events, or seconds when
 * events is 0 (each for a full run, and for --quick). */
struct scenario_length {
    uint64_t events;
    double seconds;
};

struct scenario {
    const char *name;
    const char *summary;
    scenario_fn run;
    struct scenario_length full, quick;
    bool timed_only; /* ignores --events (idle) */
    unsigned needs;  /* SUT_CAN_* a system must have; others are skipped */
    const char *lacking; /* why those are skipped */
    /* Marks figures of a passed run (the median of the repetitions) that
     * cannot be right; NULL = none to check. */
    void (*judge)(struct result *r);
};

/* True when @ops can run @s; otherwise fills @r as skipped, with a note. */
bool scenario_applies(const struct scenario *s, const struct sut_ops *ops, struct result *r);

/* @cli with the scenario's default length filled in where the command line
 * gave none. */
struct run_params scenario_params(const struct scenario *s, const struct run_params *cli);

struct hist;
/* Fills r's latency percentiles from @h. */
void record_latency(struct result *r, const struct hist *h);

/* How many round trips a closed-loop scenario (one in flight) makes: with
 * @warm a warm-up (10% of p->events, at most 1,000; not recorded), then
 * p->events, or as many as p->seconds allow
 * (--seconds, or a timed default), counted from round_trips_plan(). */
struct round_trips {
    uint64_t warmup;
    uint64_t total;       /* warm-up included; 0: until deadline_ns */
    uint64_t deadline_ns;
};
struct round_trips round_trips_plan(const struct run_params *p, bool warm);
/* True while round trip @seq (from 1) is to be made. */
bool round_trips_more(const struct round_trips *rt, uint64_t seq);

/* Every scenario, NULL-terminated (scenarios.c). */
extern const struct scenario scenarios[];
const struct scenario *scenario_find(const char *name);

/* Events per batch in throughput-batch32: one publish_batch call (the bus's
 * bus_publish_batch), or 32 publish calls for systems without one. */
enum { BATCH_EVENTS = 32 };

/* Events an inbox's taker takes at most per call (throughput-inbox,
 * wakeup-inbox). */
enum { INBOX_BATCH = 64 };

void scenario_throughput(const struct sut_ops *ops, const struct run_params *p, struct result *r);
void scenario_throughput_parallel(const struct sut_ops *ops, const struct run_params *p,
                                  struct result *r);
void scenario_throughput_batch(const struct sut_ops *ops, const struct run_params *p,
                               struct result *r);
void scenario_pingpong(const struct sut_ops *ops, const struct run_params *p, struct result *r);
void scenario_pingpong_cold(const struct sut_ops *ops, const struct run_params *p,
                            struct result *r);
void scenario_pingpong_cold_pretouch(const struct sut_ops *ops, const struct run_params *p,
                                     struct result *r);
void scenario_openloop(const struct sut_ops *ops, const struct run_params *p, struct result *r);
void scenario_own_latency(const struct sut_ops *ops, const struct run_params *p,
                          struct result *r);
void scenario_churn(const struct sut_ops *ops, const struct run_params *p, struct result *r);
void scenario_churn_async(const struct sut_ops *ops, const struct run_params *p,
                          struct result *r);
void judge_churn(struct result *r);
void scenario_scale(const struct sut_ops *ops, const struct run_params *p, struct result *r);
void scenario_idle(const struct sut_ops *ops, const struct run_params *p, struct result *r);
void scenario_request_reply(const struct sut_ops *ops, const struct run_params *p,
                            struct result *r);
void scenario_queue_group(const struct sut_ops *ops, const struct run_params *p,
                          struct result *r);
void scenario_keyed(const struct sut_ops *ops, const struct run_params *p, struct result *r);
void scenario_shape_unicast(const struct sut_ops *ops, const struct run_params *p,
                            struct result *r);
void scenario_shape_pipeline(const struct sut_ops *ops, const struct run_params *p,
                             struct result *r);
void scenario_shape_multicast(const struct sut_ops *ops, const struct run_params *p,
                              struct result *r);
void scenario_shape_sequencer(const struct sut_ops *ops, const struct run_params *p,
                              struct result *r);
void scenario_shape_diamond(const struct sut_ops *ops, const struct run_params *p,
                            struct result *r);
void scenario_throughput_inbox(const struct sut_ops *ops, const struct run_params *p,
                               struct result *r);
/* Marks descriptor writes over 1 per event and takes outside 1 to
 * INBOX_BATCH events. */
void judge_inbox(struct result *r);
void scenario_wakeup_inbox(const struct sut_ops *ops, const struct run_params *p,
                           struct result *r);
void scenario_wakeup_pipe_fed(const struct sut_ops *ops, const struct run_params *p,
                              struct result *r);
void scenario_wakeup_pipe(const struct sut_ops *ops, const struct run_params *p,
                          struct result *r);
void scenario_wakeup_callback(const struct sut_ops *ops, const struct run_params *p,
                              struct result *r);

#endif
