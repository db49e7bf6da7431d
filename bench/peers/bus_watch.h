/* bus_watch.h - a terminal view of a running bus (bus-bench --watch): every
 * second, each topic's publish rate, depth, and the p99 of its events' wait
 * and of its handler calls, from the bus's own metrics (bus_topic_metrics). */
#ifndef BUS_WATCH_H
#define BUS_WATCH_H

#include <stdio.h>

#include "bus.h"

struct bus_watch;

/* Starts a thread that prints @bus's view to @out once a second (the screen
 * cleared first when @out is a terminal). NULL if it cannot start. */
struct bus_watch *bus_watch_start(bus_t *bus, FILE *out);

/* Prints a last view, stops the thread and frees @w (NULL is fine). Call
 * before the bus is destroyed. */
void bus_watch_stop(struct bus_watch *w);

#endif
