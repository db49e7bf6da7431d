/* probe_module.c - a test module (built twice, as PROBE_VERSION 1 and 2):
 * subscribes to its topic (plain, or in queue group "probe") and to the
 * pattern "TOPIC.*", and records its calls in the test's probe. Events
 * whose payload is a command do more (and with "inbox" in its config, it
 * opens an inbox on its topic too): "gate" waits at the probe's gate, then
 * publishes on "TOPIC-sink" if that topic is open,
 * "sub" subscribes to "TOPIC.extra" from the handler, "quit" unloads the
 * module from its own handler. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "probe.h"

#ifndef PROBE_VERSION
#error "PROBE_VERSION: 1 or 2"
#endif

struct state {
    struct probe *probe;
    bus_t *bus;
    char topic[200];
    bool tidy;
    bus_sub_t *sub, *pattern, *extra;
    bus_inbox_t *inbox;
};

static bool is(const bus_event_t *ev, const char *command)
{
    return ev->size == strlen(command) && memcmp(ev->data, command, ev->size) == 0;
}

static void subscribe_extra(struct state *s);
static void publish_sink(struct state *s);

static int on_event(const bus_event_t *ev, void *ctx)
{
    struct state *s = ctx;
    struct probe *p = s->probe;
    atomic_fetch_add(&p->running, 1);
    atomic_fetch_add(&p->calls[PROBE_VERSION], 1);
    if (ev->seq < PROBE_EVENTS && strcmp(bus_topic_name(ev->topic), s->topic) == 0)
        atomic_fetch_or(&p->reached[ev->seq], 1u << PROBE_VERSION);
    if (is(ev, "gate")) {
        gate_pass(p->gate);
        publish_sink(s);
    }
    if (is(ev, "sub"))
        subscribe_extra(s);
    if (is(ev, "quit")) {
        atomic_store(&p->unload_rc, bus_module_unload(p->module));
        atomic_store(&p->unload_async_rc, bus_module_unload_async(p->module, p->done,
                                                                  p->done_arg));
        atomic_store(&p->unload_again_rc, bus_module_unload_async(p->module, NULL, NULL));
    }
    atomic_fetch_sub(&p->running, 1);
    return 0;
}

static void subscribe_extra(struct state *s)
{
    char name[256];
    snprintf(name, sizeof(name), "%s.extra", s->topic);
    bus_topic_t *t;
    if (bus_topic_open(s->bus, name, NULL, &t) == 0)
        bus_subscribe(t, on_event, s, &s->extra);
}

/* After a gate: one event on "TOPIC-sink", if the test opened it. */
static void publish_sink(struct state *s)
{
    char name[256];
    snprintf(name, sizeof(name), "%s-sink", s->topic);
    bus_topic_t *t;
    if (bus_topic_find(s->bus, name, &t) == 0)
        bus_publish(t, "", 0);
}

int bus_module_init(bus_t *bus, const char *config, void **state)
{
    struct state *s = calloc(1, sizeof(*s));
    char flags[64] = "";
    void *probe = NULL;
    if (!s || !config || sscanf(config, "%199s %p %63[^\n]", s->topic, &probe, flags) < 2) {
        free(s);
        return -EINVAL;
    }
    s->probe = probe;
    s->bus = bus;
    s->tidy = strstr(flags, "tidy") != NULL;
    atomic_fetch_add(&s->probe->inits, 1);

    bus_sub_options_t opts;
    bus_sub_options_init(&opts);
    opts.group = strstr(flags, "group") ? "probe" : NULL;
    char pattern[256];
    snprintf(pattern, sizeof(pattern), "%s.*", s->topic);
    bus_topic_t *t;
    int rc = bus_topic_open(bus, s->topic, NULL, &t);
    if (rc == 0)
        rc = bus_subscribe_ex(t, on_event, s, &opts, &s->sub);
    if (rc == 0)
        rc = bus_subscribe_pattern(bus, pattern, on_event, s, NULL, &s->pattern);
    if (rc == 0 && strstr(flags, "inbox"))
        rc = bus_inbox_open(t, NULL, &s->inbox);
    s->probe->inbox = s->inbox;
    if (rc == 0 && strstr(flags, "fail"))
        rc = -EPROTO; /* what was subscribed is left to the bus to remove */
    if (rc) {
        free(s);
        return rc;
    }
    *state = s;
    return 0;
}

void bus_module_fini(void *state)
{
    struct state *s = state;
    atomic_store(&s->probe->running_at_fini, atomic_load(&s->probe->running));
    atomic_fetch_add(&s->probe->finis, 1);
    if (s->tidy) {
        bus_unsubscribe(s->sub);
        bus_unsubscribe(s->pattern);
        if (s->extra)
            bus_unsubscribe(s->extra);
        if (s->inbox)
            atomic_store(&s->probe->inbox_left, bus_inbox_close(s->inbox));
    }
    free(s);
}
