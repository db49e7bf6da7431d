/* gbench_shim.h - the scenarios behind a plain C interface that C++ can
 * include (harness.h uses C11 atomics, which C++17 cannot parse). */
#ifndef BENCH_GBENCH_SHIM_H
#define BENCH_GBENCH_SHIM_H

#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

enum { SHIM_LATENCIES = 6, SHIM_EXTRAS = 8 };

struct shim_summary {
    bool ok, skipped;
    char note[160];
    double seconds;    /* measured time of the run */
    double rate;       /* events/s, 0 if not measured */
    bool has_latency;
    double lat_ns[SHIM_LATENCIES]; /* p50 p90 p99 p99.9 p99.99 max */
    unsigned nextra;
    const char *extra_key[SHIM_EXTRAS];
    double extra_value[SHIM_EXTRAS];
};

unsigned shim_system_count(void);
const char *shim_system_name(unsigned system);
unsigned shim_scenario_count(void);
const char *shim_scenario_name(unsigned scenario);
/* False when the system cannot run the scenario (e.g. churn on the floor). */
bool shim_applies(unsigned system, unsigned scenario);
/* Runs a scenario once with the default parameters (1 producer, 1 worker,
 * 1 subscriber, 1 topic, 32 bytes, park) and --quick lengths unless @full. */
void shim_run(unsigned system, unsigned scenario, bool full, struct shim_summary *out);

#ifdef __cplusplus
}
#endif

#endif
