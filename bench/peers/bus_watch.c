/* bus_watch.c - a terminal view of a running bus (bus_watch.h). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bus_watch.h"

enum { MAX_ROWS = 64 }; /* topics shown; the rest are counted */

/* A topic's published count at the previous view, for its rate. */
struct seen {
    const bus_topic_t *topic;
    uint64_t published;
};

struct bus_watch {
    bus_t *bus;
    FILE *out;
    pthread_t thread;
    atomic_bool stop;
    struct seen seen[MAX_ROWS], next[MAX_ROWS];
    unsigned nseen, nnext, hidden;
    uint64_t last_view_ns;
    double interval_s; /* since the previous view */
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t previous_published(const struct bus_watch *w, const bus_topic_t *topic)
{
    for (unsigned i = 0; i < w->nseen; i++)
        if (w->seen[i].topic == topic)
            return w->seen[i].published;
    return 0;
}

static int print_topic(const bus_topic_info_t *info, void *ctx)
{
    struct bus_watch *w = ctx;
    if (w->nnext == MAX_ROWS) {
        w->hidden++;
        return 0;
    }
    bus_topic_metrics_t m;
    if (bus_topic_metrics(info->topic, &m) != 0)
        return 0;
    uint64_t before = previous_published(w, info->topic);
    double rate = (double)(m.stats.published - before) / w->interval_s;
    w->next[w->nnext++] = (struct seen){info->topic, m.stats.published};
    fprintf(w->out, "%-28.28s %12.0f %8u %12.2f %12.2f %10llu\n", info->name, rate,
            m.stats.depth, (double)m.wait.p99_ns / 1000, (double)m.handler.p99_ns / 1000,
            (unsigned long long)m.stats.handler_errors);
    return 0;
}

static void print_view(struct bus_watch *w)
{
    uint64_t now = now_ns();
    w->interval_s = (double)(now - w->last_view_ns) / 1e9;
    w->last_view_ns = now;
    if (isatty(fileno(w->out)))
        fputs("\033[H\033[2J", w->out);
    fprintf(w->out, "%-28s %12s %8s %12s %12s %10s\n", "topic", "published/s", "depth",
            "wait p99 us", "call p99 us", "errors");
    w->nnext = w->hidden = 0;
    bus_topics_foreach(w->bus, print_topic, w);
    if (w->hidden)
        fprintf(w->out, "(%u more topics)\n", w->hidden);
    fflush(w->out);
    memcpy(w->seen, w->next, sizeof(w->next[0]) * w->nnext);
    w->nseen = w->nnext;
}

static void *watch_main(void *arg)
{
    struct bus_watch *w = arg;
    while (!atomic_load(&w->stop)) {
        for (int i = 0; i < 10 && !atomic_load(&w->stop); i++)
            nanosleep(&(struct timespec){0, 100000000}, NULL); /* 1 s in steps */
        print_view(w);
    }
    return NULL;
}

struct bus_watch *bus_watch_start(bus_t *bus, FILE *out)
{
    struct bus_watch *w = calloc(1, sizeof(*w));
    if (!w)
        return NULL;
    w->bus = bus;
    w->out = out;
    w->last_view_ns = now_ns();
    if (pthread_create(&w->thread, NULL, watch_main, w) != 0) {
        free(w);
        return NULL;
    }
    return w;
}

void bus_watch_stop(struct bus_watch *w)
{
    if (!w)
        return;
    atomic_store(&w->stop, true);
    pthread_join(w->thread, NULL);
    free(w);
}
