/* exposition_bus.h - the bus the exposition tests (test_prometheus.c,
 * test_json.c) print: two topics, one with a name that needs escaping,
 * every event timed, 100 events handled on each. Their --dump mode runs
 * outside a Check test, so setup failures exit instead of asserting. */
#ifndef BUS_TEST_EXPOSITION_BUS_H
#define BUS_TEST_EXPOSITION_BUS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* bus_metrics_prometheus() or bus_metrics_json(). */
typedef int (*exposition_fn)(bus_t *bus, char *buf, size_t cap, size_t *len);

/* The whole text, in a buffer of the size a first call asks for, with room
 * for digits that grow between the two calls (rates, busy time). */
static inline char *exposition_text(exposition_fn fn, size_t *len)
{
    int rc = fn(bus, NULL, 0, len);
    if (rc != -ENOSPC || *len == 0)
        must(rc ? rc : -EPROTO, "exposition with no buffer");
    size_t cap = *len + 256;
    char *text = malloc(cap);
    must(text ? 0 : -ENOMEM, "malloc");
    must(fn(bus, text, cap, len), "exposition");
    if (strlen(text) != *len)
        must(-EPROTO, "the length is not the text's");
    return text;
}

/* A short buffer gets -ENOSPC, the length needed and a cut, NUL-terminated
 * text; NULL arguments get -EINVAL. */
static inline void check_short_buffer_and_bad_input(exposition_fn fn)
{
    setup_bus();
    char small[64];
    size_t len = 0;
    ck_assert_int_eq(fn(bus, small, sizeof(small), &len), -ENOSPC);
    ck_assert_uint_gt(len, sizeof(small));
    ck_assert_uint_eq(strlen(small), sizeof(small) - 1);
    ck_assert_int_eq(fn(NULL, small, sizeof(small), &len), -EINVAL);
    ck_assert_int_eq(fn(bus, NULL, 10, &len), -EINVAL);
    ck_assert_int_eq(fn(bus, small, sizeof(small), NULL), -EINVAL);
    ck_assert_ok(bus_destroy(bus));
}

/* --dump: prints the sample bus's text for an outside checker. */
static inline int exposition_dump(exposition_fn fn)
{
    setup_bus();
    size_t len;
    char *text = exposition_text(fn, &len);
    fputs(text, stdout);
    free(text);
    must(bus_destroy(bus), "bus_destroy");
    return 0;
}

#endif
