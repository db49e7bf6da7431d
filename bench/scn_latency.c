/* scn_latency.c - latency scenarios, recorded in a log-linear histogram.
 *  - latency-pingpong: round trip over two topics; the ping handler
 *    publishes the event to the pong topic, whose handler releases the
 *    waiting publisher. One outstanding event, so the RTT is not queueing.
 *  - latency-cold(-pretouch): the same on topics just opened, every round
 *    trip recorded from the first: what a new topic's first lap costs
 *    (page faults on untouched ring memory), and with its memory touched
 *    when opened.
 *  - latency-openloop: events sent on a fixed schedule; each event carries
 *    its intended send time and the handler records now - intended, so a
 *    stalled publisher shows up as latency instead of hiding it
 *    (no coordinated omission). */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "hist.h"
#include "scenarios.h"

enum { WAIT_SPINS_BEFORE_YIELD = 2000 };
#define PONG_TIMEOUT_NS UINT64_C(5000000000)

/* Minor page faults of the whole process so far. */
static long minor_faults(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_minflt;
}

void record_latency(struct result *r, const struct hist *h)
{
    static const double quantiles[LAT_COUNT] = {0.5, 0.9, 0.99, 0.999, 0.9999, 1.0};
    r->has_latency = true;
    for (unsigned k = 0; k < LAT_COUNT; k++)
        r->lat_ns[k] = hist_quantile(h, quantiles[k]);
}

struct round_trips round_trips_plan(const struct run_params *p, bool warm)
{
    enum { WARMUP_MAX = 1000 };
    uint64_t warmup = 0;
    if (warm)
        warmup = p->events && p->events / 10 < WARMUP_MAX ? p->events / 10 : WARMUP_MAX;
    return (struct round_trips){
        .warmup = warmup,
        .total = p->events ? p->events + warmup : 0,
        .deadline_ns = now_ns() + (uint64_t)(p->seconds * 1e9),
    };
}

bool round_trips_more(const struct round_trips *rt, uint64_t seq)
{
    if (rt->total)
        return seq <= rt->total;
    return seq <= rt->warmup || now_ns() < rt->deadline_ns;
}

/* The latency scenarios: one system, ping (and pong) topics of 1 subscriber. */
static int open_pair(struct fixture *f, const struct sut_ops *ops, const struct run_params *p,
                     bool pretouch, struct result *r)
{
    int rc = fixture_create(f, ops, p, 4);
    struct sut_topic_config cfg = busy_topic_config(p, false);
    cfg.pretouch = pretouch;
    if (rc == 0)
        rc = fixture_open_topics(f, "lat", 2, &cfg);
    if (rc)
        result_fail(r, "setup: %d", rc);
    return rc;
}

struct pingpong {
    const struct fixture *f;
    alignas(64) _Atomic uint64_t pong_seq;
    _Atomic int error;
    struct sink pings, pongs;
};

static void on_ping(void *ctx, const void *data, size_t size)
{
    struct pingpong *pp = ctx;
    sink_count(&pp->pings, data, size);
    int rc = pp->f->ops->publish(pp->f->sys, pp->f->topics[1], data, size);
    if (rc)
        /* relaxed: read after the run, once the handlers are flushed. */
        atomic_store_explicit(&pp->error, rc, memory_order_relaxed);
}

static void on_pong(void *ctx, const void *data, size_t size)
{
    struct pingpong *pp = ctx;
    uint64_t seq;
    memcpy(&seq, data, sizeof(seq));
    sink_count(&pp->pongs, data, size);
    /* release: the counts above are visible to the publisher that sees seq. */
    atomic_store_explicit(&pp->pong_seq, seq, memory_order_release);
}

/* Spins (yielding after a while, so that a worker sharing our core runs)
 * until the pong for @seq arrives. False on timeout: an event was lost. */
static bool wait_pong(struct pingpong *pp, uint64_t seq, uint64_t start_ns)
{
    /* acquire: pairs with on_pong's release. */
    for (unsigned spins = 0; atomic_load_explicit(&pp->pong_seq, memory_order_acquire) != seq;
         spins++) {
        if (spins < WAIT_SPINS_BEFORE_YIELD) {
            cpu_relax();
            continue;
        }
        sched_yield();
        if (now_ns() - start_ns > PONG_TIMEOUT_NS)
            return false;
    }
    return true;
}

/* @warm: leave the first round trips (10%, at most 1,000) out of the
 * figures. */
static void run_pingpong(const struct sut_ops *ops, const struct run_params *p, bool warm,
                         bool pretouch, struct result *r)
{
    struct fixture f;
    if (open_pair(&f, ops, p, pretouch, r))
        return;
    uint32_t size = busy_topic_config(p, false).max_payload;
    struct pingpong *pp = aligned_alloc(64, sizeof(*pp));
    struct hist *h = hist_new();
    unsigned char *buf = calloc(1, size);
    int rc = pp && h && buf ? 0 : -ENOMEM;
    if (rc == 0) {
        memset(pp, 0, sizeof(*pp));
        pp->f = &f;
        rc = fixture_subscribe(&f, f.topics[0], on_ping, pp);
    }
    if (rc == 0)
        rc = fixture_subscribe(&f, f.topics[1], on_pong, pp);
    uint64_t sent = 0;
    if (p->pin)
        pin_thread(0);
    long faults_before = minor_faults();
    uint64_t start = now_ns();
    struct round_trips trips = round_trips_plan(p, warm);
    for (uint64_t seq = 1; rc == 0 && round_trips_more(&trips, seq); seq++) {
        memcpy(buf, &seq, sizeof(seq));
        uint64_t t0 = now_ns();
        rc = ops->publish(f.sys, f.topics[0], buf, size);
        if (rc)
            break;
        sent++;
        if (!wait_pong(pp, seq, t0)) {
            result_fail(r, "pong %llu never came", (unsigned long long)seq);
            break;
        }
        if (seq > trips.warmup)
            hist_record(h, now_ns() - t0);
    }
    long faults = minor_faults() - faults_before;
    double seconds = (double)(now_ns() - start) / 1e9;
    if (rc || ops->flush(f.sys))
        result_fail(r, "publish/flush: %d", rc);
    /* relaxed: the handlers were flushed, which orders their store. */
    int pong_error = pp ? atomic_load_explicit(&pp->error, memory_order_relaxed) : 0;
    if (pong_error)
        result_fail(r, "pong publish failed: %d", pong_error);
    result_check_counts(r, 2 * sent, pp ? sink_read(&pp->pings) + sink_read(&pp->pongs) : 0);
    r->published = 2 * sent;
    r->seconds = seconds;
    if (h)
        record_latency(r, h);
    result_extra(r, "round_trips_per_s", (double)sent / seconds);
    /* Page faults taken while the round trips ran (every thread's; the
     * histogram allocates nothing then): the cold-topic cost. */
    result_extra(r, "page_faults", (double)faults);
    fixture_destroy(&f);
    free(buf);
    free(h);
    free(pp);
}

void scenario_pingpong(const struct sut_ops *ops, const struct run_params *p, struct result *r)
{
    run_pingpong(ops, p, true, false, r);
}

void scenario_pingpong_cold(const struct sut_ops *ops, const struct run_params *p,
                            struct result *r)
{
    run_pingpong(ops, p, false, false, r);
}

void scenario_pingpong_cold_pretouch(const struct sut_ops *ops, const struct run_params *p,
                                     struct result *r)
{
    run_pingpong(ops, p, false, true, r);
}

struct openloop {
    struct hist *h;
    struct sink handled;
};

static void on_timed_event(void *ctx, const void *data, size_t size)
{
    struct openloop *ol = ctx;
    uint64_t intended;
    memcpy(&intended, data, sizeof(intended));
    hist_record(ol->h, now_ns() - intended);
    sink_count(&ol->handled, data, size);
}

/* Publishes @count events at @rate from @start_ns (rate 0: back to back,
 * each stamped with its send time); returns how many went. */
static uint64_t publish_on_schedule(const struct fixture *f, uint64_t count, double rate,
                                    uint64_t start_ns, uint32_t size, int *rc)
{
    unsigned char *buf = calloc(1, size);
    uint64_t i = 0;
    for (; buf && i < count; i++) {
        uint64_t intended = now_ns();
        if (rate > 0) {
            intended = start_ns + (uint64_t)((double)i * 1e9 / rate);
            sleep_until_ns(intended, true);
        }
        memcpy(buf, &intended, sizeof(intended));
        *rc = f->ops->publish(f->sys, f->topics[0], buf, size);
        if (*rc)
            break;
    }
    if (!buf)
        *rc = -ENOMEM;
    free(buf);
    return i;
}

/* The peak rate of this very pipeline (same handler, same publisher work):
 * events back to back, published to handled. Also warms the system up. */
static double openloop_peak(const struct fixture *f, const struct run_params *p, uint32_t size,
                            uint64_t *sent, int *rc)
{
    uint64_t count = p->quick ? 50000 : 500000;
    uint64_t start = now_ns();
    *sent = publish_on_schedule(f, count, 0, start, size, rc);
    if (*rc == 0)
        *rc = f->ops->flush(f->sys);
    return *rc ? 0 : (double)*sent * 1e9 / (double)(now_ns() - start);
}

void scenario_openloop(const struct sut_ops *ops, const struct run_params *p, struct result *r)
{
    struct fixture f;
    if (open_pair(&f, ops, p, false, r))
        return;
    uint32_t size = busy_topic_config(p, false).max_payload;
    struct openloop *ol = calloc(1, sizeof(*ol));
    int rc = ol && (ol->h = hist_new()) ? 0 : -ENOMEM;
    if (rc == 0)
        rc = fixture_subscribe(&f, f.topics[0], on_timed_event, ol);
    uint64_t warm = 0, sent = 0;
    double peak = rc ? 0 : openloop_peak(&f, p, size, &warm, &rc);
    double rate = p->rate > 0 ? p->rate : peak / 2;
    if (rc == 0) {
        memset(ol->h, 0, sizeof(*ol->h)); /* the peak run was not open-loop */
        double seconds = p->events ? (double)p->events / rate : p->seconds;
        if (p->pin)
            pin_thread(0);
        uint64_t start = now_ns() + 1000000; /* 1 ms to settle */
        sent = publish_on_schedule(&f, (uint64_t)(seconds * rate), rate, start, size, &rc);
        if (rc == 0)
            rc = ops->flush(f.sys);
        r->seconds = (double)(now_ns() - start) / 1e9;
    }
    if (rc)
        result_fail(r, "setup/publish/flush: %d", rc);
    r->published = warm + sent;
    result_check_counts(r, warm + sent, ol ? sink_read(&ol->handled) : 0);
    if (ol && ol->h)
        record_latency(r, ol->h);
    result_extra(r, "peak_rate", peak);
    result_extra(r, "target_rate", rate);
    result_extra(r, "achieved_rate", r->seconds > 0 ? (double)sent / r->seconds : 0);
    fixture_destroy(&f);
    if (ol)
        free(ol->h);
    free(ol);
}

/* One-way latency at a modest fixed rate (p->rate, or 20,000 events/s) on
 * a fresh topic, by the harness (each event stamped with its send time,
 * read by the handler) and by the system itself (own_wait): with every
 * event timed (bus-timed-all) the two quantiles must agree within the
 * system's bucket error plus the gap between the two stamps (the harness
 * stamps before publish is called, the bus inside it). */
void scenario_own_latency(const struct sut_ops *ops, const struct run_params *p,
                          struct result *r)
{
    struct fixture f;
    if (open_pair(&f, ops, p, false, r))
        return;
    uint32_t size = busy_topic_config(p, false).max_payload;
    struct openloop *ol = calloc(1, sizeof(*ol));
    int rc = ol && (ol->h = hist_new()) ? 0 : -ENOMEM;
    if (rc == 0)
        rc = fixture_subscribe(&f, f.topics[0], on_timed_event, ol);
    double rate = p->rate > 0 ? p->rate : 20000;
    uint64_t sent = 0;
    if (rc == 0) {
        double seconds = p->events ? (double)p->events / rate : p->seconds;
        uint64_t start = now_ns() + 1000000; /* 1 ms to settle */
        sent = publish_on_schedule(&f, (uint64_t)(seconds * rate), rate, start, size, &rc);
        if (rc == 0)
            rc = ops->flush(f.sys);
        r->seconds = (double)(now_ns() - start) / 1e9;
    }
    uint64_t own_count = 0, own_p50 = 0, own_p99 = 0;
    if (rc == 0)
        rc = ops->own_wait(f.sys, f.topics[0], &own_count, &own_p50, &own_p99);
    if (rc)
        result_fail(r, "setup/publish/flush/own_wait: %d", rc);
    r->published = sent;
    result_check_counts(r, sent, ol ? sink_read(&ol->handled) : 0);
    if (ol && ol->h)
        record_latency(r, ol->h);
    result_extra(r, "own_timed", (double)own_count);
    result_extra(r, "own_p50_us", (double)own_p50 / 1000);
    result_extra(r, "own_p99_us", (double)own_p99 / 1000);
    fixture_destroy(&f);
    if (ol)
        free(ol->h);
    free(ol);
}
