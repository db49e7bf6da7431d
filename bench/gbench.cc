// gbench.cc - bus-gbench: the C scenarios registered with Google Benchmark,
// so --benchmark_format=json, --benchmark_repetitions and aggregates work.
// One iteration is one scenario run; its own measured time is reported
// (manual time), and its results become counters.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <string>

#include "gbench_shim.h"

namespace {

const char *const kLatencyNames[SHIM_LATENCIES] = {"p50_ns",   "p90_ns",    "p99_ns",
                                                   "p99.9_ns", "p99.99_ns", "max_ns"};

void ReportCounters(benchmark::State &state, const shim_summary &s)
{
    if (s.rate > 0)
        state.counters["events_per_s"] = s.rate;
    if (s.has_latency)
        for (int i = 0; i < SHIM_LATENCIES; i++)
            state.counters[kLatencyNames[i]] = s.lat_ns[i];
    for (unsigned i = 0; i < s.nextra; i++)
        state.counters[s.extra_key[i]] = s.extra_value[i];
}

void RunScenario(benchmark::State &state, unsigned system, unsigned scenario, bool full)
{
    for (auto _ : state) {
        shim_summary s;
        shim_run(system, scenario, full, &s);
        if (!s.ok) {
            state.SkipWithError(s.note);
            break;
        }
        state.SetIterationTime(s.seconds > 0 ? s.seconds : 1e-9);
        ReportCounters(state, s);
    }
}

}  // namespace

int main(int argc, char **argv)
{
    // BUS_GBENCH_FULL=1 uses bus-bench's full lengths instead of --quick's.
    const char *full_env = std::getenv("BUS_GBENCH_FULL");
    bool full = full_env && std::string(full_env) == "1";
    for (unsigned sys = 0; sys < shim_system_count(); sys++) {
        for (unsigned scn = 0; scn < shim_scenario_count(); scn++) {
            if (!shim_applies(sys, scn))
                continue;
            std::string name = std::string(shim_system_name(sys)) + "/" + shim_scenario_name(scn);
            benchmark::RegisterBenchmark(name.c_str(), RunScenario, sys, scn, full)
                ->UseManualTime()
                ->Iterations(1)
                ->Unit(benchmark::kMillisecond);
        }
    }
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv))
        return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
