/* dash_history.h - the dashboard's last minutes, kept by the gateway so
 * that a page opened now draws its charts at once (dash_history.c). */
#ifndef BUS_HTTP_DASH_HISTORY_H
#define BUS_HTTP_DASH_HISTORY_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "strbuf.h"

/* 5 minutes at the default dashboard_interval_ms (1 s), as the page's
 * charts. */
#define DASH_HISTORY_SAMPLES 300

struct dash_history {
    pthread_mutex_t lock; /* all below */
    bool recording;       /* since the first dashboard request */
    uint64_t next_ns;     /* the next sample, CLOCK_MONOTONIC */
    uint64_t taken;       /* samples taken; the newest is (taken - 1) % SAMPLES */
    char *samples[DASH_HISTORY_SAMPLES]; /* each a JSON object, see dash_history.c */
};

struct bus_http;

int dash_history_init(struct dash_history *h);
void dash_history_destroy(struct dash_history *h);
/* A dashboard asked (any HTTP thread): sampling starts, at once, unless it
 * runs. A gateway no one watches samples nothing. */
void dash_history_start(struct bus_http *gw);
/* The gateway's timer thread, at each tick: a sample when one is due. */
void dash_history_tick(struct bus_http *gw, uint64_t now_ns);
/* The samples kept, oldest first, as a JSON array into @b (any thread). */
void dash_history_render(struct bus_http *gw, struct strbuf *b);

#endif /* BUS_HTTP_DASH_HISTORY_H */
