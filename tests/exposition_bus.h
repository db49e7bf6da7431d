/* exposition_bus.h - the bus the exposition tests (test_prometheus.c,
 * test_json.c) print: two topics, one with a name that needs escaping,
 * every event timed, 100 events handled on each. Their --dump mode runs
 * outside a Check test, so setup failures exit instead of asserting. */
#ifndef BUS_TEST_EXPOSITION_BUS_H
#define BUS_TEST_EXPOSITION_BUS_H

#include <stdio.h>
#include <stdlib.h>

#include "helpers.h"

static bus_t *bus;
static bus_topic_t *plain, *odd;

/* Outside a Check test (--dump) ck_assert cannot report: this exits. */
static inline void must(int rc, const char *what)
{
    if (rc) {
        fprintf(stderr, "%s: %s\n", what, bus_strerror(rc));
        exit(1);
    }
}

static inline int count_call(const bus_event_t *ev, void *ctx)
{
    (void)ev;
    atomic_fetch_add((atomic_ulong *)ctx, 1);
    return 0;
}

static inline bus_topic_t *open_topic(const char *name, unsigned flags)
{
    bus_topic_config_t tc;
    bus_topic_config_init(&tc);
    tc.capacity = 256;
    tc.flags = flags;
    bus_topic_t *t;
    must(bus_topic_open(bus, name, &tc, &t), "bus_topic_open");
    return t;
}

/* A bus with two topics, one with a name that needs escaping, every event
 * timed, 100 events handled on each. */
static inline void setup_bus(void)
{
    bus_config_t cfg;
    bus_config_init(&cfg);
    cfg.workers = 2;
    cfg.timing_sample = 1;
    must(bus_create(&bus, &cfg), "bus_create");
    plain = open_topic("orders.created", 0);
    odd = open_topic("say.\"hi\".back\\slash", BUS_TOPIC_PARALLEL);
    static atomic_ulong calls;
    bus_sub_t *s;
    must(bus_subscribe(plain, count_call, &calls, &s), "bus_subscribe");
    must(bus_subscribe(odd, count_call, &calls, &s), "bus_subscribe");
    for (int i = 0; i < 100; i++) {
        must(bus_publish(plain, &i, sizeof(i)), "bus_publish");
        must(bus_publish(odd, &i, sizeof(i)), "bus_publish");
    }
    must(bus_flush(bus), "bus_flush");
}

#endif
