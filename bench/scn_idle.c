/* scn_idle.c - CPU the system burns while nothing happens, after some
 * traffic woke it up: user + system time of the process over a quiet
 * period, in percent of one core. */
#include <stdlib.h>
#include <sys/resource.h>

#include "load.h"
#include "scenarios.h"

enum { WARM_EVENTS = 100, SETTLE_NS = 50000000 };

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

void scenario_idle(const struct sut_ops *ops, const struct run_params *p, struct result *r)
{
    struct fixture f;
    struct sink *sink = aligned_alloc(64, sizeof(*sink));
    int rc = sink ? fixture_create(&f, ops, p, 2) : -1;
    if (rc) {
        free(sink);
        result_fail(r, "create: %d", rc);
        return;
    }
    atomic_init(&sink->count, 0);
    struct sut_topic_config cfg = busy_topic_config(p, false);
    rc = fixture_open_topics(&f, "idle", 1, &cfg);
    if (rc == 0)
        rc = fixture_subscribe(&f, f.topics[0], sink_count, sink);
    struct load_spec spec = load_spec_from(p, 1, 1);
    spec.producers = 1;
    spec.events = WARM_EVENTS;
    struct load_outcome out = {0};
    if (rc == 0)
        load_run(&f, &spec, &out);
    if (rc || out.error)
        result_fail(r, "setup/publish: %d %d", rc, out.error);
    result_check_counts(r, load_total(&out), sink_read(sink));
    r->published = load_total(&out);

    /* Let the workers reach their idle state, then measure. */
    sleep_until_ns(now_ns() + SETTLE_NS, false);
    double cpu0 = cpu_seconds();
    uint64_t t0 = now_ns();
    sleep_until_ns(t0 + (uint64_t)(p->seconds * 1e9), false);
    double wall = (double)(now_ns() - t0) / 1e9;
    double cpu = cpu_seconds() - cpu0;
    r->seconds = wall;
    result_extra(r, "idle_cpu_pct_of_core", 100.0 * cpu / wall);
    fixture_destroy(&f);
    free(sink);
}
