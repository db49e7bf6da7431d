/* timing.h - which events a worker times (metrics.c): 1 in
 * bus_config_t.timing_sample per worker thread, counted down in a
 * thread-local, so an untimed event costs a decrement and a branch. A timed
 * event costs a clock read for its queue wait and one per handler call, and
 * the relaxed RMWs of the histograms (hist.h).
 * With bus_config_t.slow_handler_ns set, every event is timed (the
 * countdown stays at 1) and every call checked against it (slow.h); 1 in
 * timing_sample is also recorded in the histograms. With it off, the
 * untimed path is exactly as without the feature. */
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

/* What a timed event's calls are timed for: the slow handler check, the
 * histograms, or both. */
enum { TIMING_SLOW = 1, TIMING_RECORD = 2 };

/* Sets the calling worker's countdowns from @bus's configuration. */
void bus__timing_start(const struct bus *bus);
/* Re-arms the countdown at an event to time; returns its TIMING_* bits. */
unsigned bus__timing_rearm(const struct bus *bus);

/* TIMING_* bits for the event to time, 0 for an untimed one. */
static inline unsigned timing_due(const struct bus *bus)
{
    if (__builtin_expect(--bus__timing_countdown != 0, 1))
        return 0;
    return bus__timing_rearm(bus);
}

/* Records a timed event's wait in its topic's ring (publish to the start of
 * its handler calls) and one handler call of @sub. Allocate the histograms
 * on first use; a failed allocation loses the sample. */
void bus__timing_wait(struct bus_topic *topic, uint64_t publish_ns, uint64_t start_ns);
void bus__timing_call(struct bus_topic *topic, struct bus_sub *sub, uint64_t ns);

#endif
