/* probe.h - what the test modules report to test_module.c. The test gives
 * a probe's address in the module's config: "TOPIC ADDRESS [FLAGS]". */
#ifndef BUS_TEST_PROBE_H
#define BUS_TEST_PROBE_H

#include <stdatomic.h>
#include <stdio.h>

#include "bus/inbox.h"
#include "bus/module.h"
#include "helpers.h"

/* Events whose arrival is recorded by seq. */
enum { PROBE_EVENTS = 1 << 20 };

struct probe {
    bus_module_t *module;        /* set by the test once loaded */
    struct gate *gate;           /* a "gate" event waits here */
    bus_module_unloaded_fn done; /* the test's, for a "quit" event */
    void *done_arg;
    atomic_int inits, finis;
    atomic_int running;          /* handler calls in progress */
    atomic_int running_at_fini;  /* `running` when the last fini started */
    /* What "quit" got from unload, unload_async, and unload_async again. */
    atomic_int unload_rc, unload_async_rc, unload_again_rc;
    atomic_ulong calls[3];       /* handler calls by version (1, 2) */
    bus_inbox_t *inbox;          /* the module's inbox ("inbox") */
    atomic_int inbox_left;       /* what closing it in fini ("tidy") returned */
    /* By seq, on the module's topic: bit 1 << version per call. */
    _Atomic unsigned char reached[PROBE_EVENTS];
};

/* The config for topic @topic, probe @p and @flags (space-separated words:
 * "group": a queue-group member; "fail": init fails after subscribing;
 * "tidy": fini unsubscribes its handles and closes its inbox; "inbox": init
 * opens an inbox on the topic too). */
static inline void probe_config(char *buf, size_t cap, const char *topic, struct probe *p,
                                const char *flags)
{
    snprintf(buf, cap, "%s %p %s", topic, (void *)p, flags);
}

#endif
