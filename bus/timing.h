/* timing.h - which events a worker times (metrics.c): 1 in
 * bus_config_t.timing_sample per worker thread, counted down in a
 * thread-local, so an untimed event costs a decrement and a branch. A timed
 * event costs a clock read for its queue wait and one per handler call, and
 * the relaxed RMWs of the histograms (hist.h). */
#ifndef BUS_TIMING_H
#define BUS_TIMING_H

#include <stdbool.h>
#include <stdint.h>

struct bus;
struct bus_topic;
struct bus_sub;

/* Events left until the next timed one; UINT64_MAX when timing is off (it
 * never reaches 0 in practice). initial-exec: a plain %fs-relative access. */
extern _Thread_local uint64_t bus__timing_countdown __attribute__((tls_model("initial-exec")));

/* Sets the calling worker's countdown from @bus's configuration. */
void bus__timing_rearm(const struct bus *bus);

/* True for the event to time; re-arms the countdown. */
static inline bool timing_due(const struct bus *bus)
{
    if (__builtin_expect(--bus__timing_countdown != 0, 1))
        return false;
    bus__timing_rearm(bus);
    return true;
}

/* Records a timed event's wait in its topic's ring (publish to the start of
 * its handler calls) and one handler call of @sub. Allocate the histograms
 * on first use; a failed allocation loses the sample. */
void bus__timing_wait(struct bus_topic *topic, uint64_t publish_ns, uint64_t start_ns);
void bus__timing_call(struct bus_topic *topic, struct bus_sub *sub, uint64_t ns);

#endif
