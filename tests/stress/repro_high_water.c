/* repro_high_water.c - regression test of a fixed library defect.
 *
 * bus.h: `high_water` is "largest depth a publisher has seen". ring_reserve
 * (bus/ring.h) computes the depth against released_cache, the producers'
 * cached copy of the consumers' position, refreshed only when the ring looks
 * full; high_water used to climb to the capacity on any topic that had
 * published capacity events in its life, even if it never held more than one.
 * Fixed: publish.c's note_depth reads the real position when the estimate
 * beats the record.
 *
 * Here one thread publishes 4 x capacity events one at a time and flushes
 * after each, so the ring never holds more than 1 event; high_water must
 * stay at 1. */
#include <stdio.h>

#include "stress_common.h"

enum { CAPACITY = 64, EVENTS = 4 * CAPACITY };

static int ignore(const bus_event_t *ev, void *ctx)
{
    (void)ev;
    (void)ctx;
    return 0;
}

int main(int argc, char **argv)
{
    struct stress_opts o = {.seconds = 1, .threads = 1, .workers = 2};
    stress_parse(argc, argv, "repro_high_water", &o);
    bus_t *bus = stress_bus(o.workers);
    bus_topic_t *t = stress_topic(bus, "quiet", CAPACITY, 8, BUS_FULL_BLOCK, 0);
    bus_sub_t *sub;
    stress_must(bus_subscribe(t, ignore, NULL, &sub), "bus_subscribe");
    uint32_t worst_depth = 0;
    for (uint64_t i = 0; i < EVENTS; i++) {
        stress_must(bus_publish(t, &i, sizeof(i)), "bus_publish");
        stress_must(bus_flush(bus), "bus_flush");
        bus_topic_stats_t st;
        stress_must(bus_topic_stats(t, &st), "bus_topic_stats");
        worst_depth = st.depth > worst_depth ? st.depth : worst_depth;
    }
    bus_topic_stats_t st;
    stress_must(bus_topic_stats(t, &st), "bus_topic_stats");
    printf("  %d events, one at a time: depth never above %u, high_water %u\n", EVENTS,
           worst_depth, st.high_water);
    STRESS_CHECK(st.high_water <= 1, "high_water %u, but the ring never held more than 1 "
                 "event (it counts against the producers' stale released_cache)",
                 st.high_water);
    stress_must(bus_destroy(bus), "bus_destroy");
    return stress_finish("repro_high_water");
}
