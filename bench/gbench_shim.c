/* gbench_shim.c - the C side of bus-gbench. */
#include "gbench_shim.h"

#include <string.h>

#include "scenarios.h"

unsigned shim_system_count(void)
{
    unsigned n = 0;
    while (sut_systems[n])
        n++;
    return n;
}

const char *shim_system_name(unsigned system)
{
    return sut_systems[system]->name;
}

unsigned shim_scenario_count(void)
{
    unsigned n = 0;
    while (scenarios[n].name)
        n++;
    return n;
}

const char *shim_scenario_name(unsigned scenario)
{
    return scenarios[scenario].name;
}

bool shim_applies(unsigned system, unsigned scenario)
{
    unsigned needs = scenarios[scenario].needs;
    return (sut_systems[system]->caps & needs) == needs;
}

void shim_run(unsigned system, unsigned scenario, bool full, struct shim_summary *out)
{
    const struct scenario *s = &scenarios[scenario];
    struct run_params cli = {.producers = 1, .workers = 1, .subs = 1, .topics = 1,
                             .payload = 32, .wait = SUT_WAIT_PARK, .quick = !full};
    struct result r = {.system = sut_systems[system]->name, .scenario = s->name, .ok = true,
                       .params = scenario_params(s, &cli)};
    s->run(sut_systems[system], &r.params, &r);
    memset(out, 0, sizeof(*out));
    out->ok = r.ok;
    out->skipped = r.skipped;
    memcpy(out->note, r.note, sizeof(out->note));
    out->seconds = r.seconds;
    out->rate = r.rate;
    out->has_latency = r.has_latency;
    memcpy(out->lat_ns, r.lat_ns, sizeof(out->lat_ns));
    out->nextra = r.nextra;
    for (unsigned i = 0; i < r.nextra; i++) {
        out->extra_key[i] = r.extra[i].key;
        out->extra_value[i] = r.extra[i].value;
    }
}
