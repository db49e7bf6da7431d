/* window.h - a served topic's replay window: its last events in memory (N
 * events and B bytes at most), and the clients parked until it grows. */
#ifndef BUS_HTTP_WINDOW_H
#define BUS_HTTP_WINDOW_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct MHD_Connection;

struct event {
    uint64_t seq;
    uint64_t time_ns; /* CLOCK_REALTIME at publish */
    uint32_t size;
    bool json;        /* posted as application/json (valid JSON) */
    unsigned char data[];
};

/* A client parked on a window: its connection is suspended (no thread, no
 * polling) until the window grows, its deadline passes or the gateway
 * stops; whoever unlinks it resumes it, once. */
struct waiter {
    struct waiter *prev, *next;
    struct MHD_Connection *conn;
    uint64_t deadline_ns; /* CLOCK_MONOTONIC */
    bool parked;          /* linked and suspended; under the window's lock */
};

struct window {
    /* Held by a publish across its bus_publish and its JSON mark, and by a
     * reader across its render: a reader never sees an event of a publish
     * still in flight, so it never mistakes a JSON event for bytes. Taken
     * before `lock`, never the other way round. */
    pthread_mutex_t posting;
    /* The largest seq a publish was answered 202 with; under `posting`. A
     * long poll waits until the window holds it (read your writes). */
    uint64_t acked;
    pthread_mutex_t lock; /* the events, the JSON marks, the waiters */
    struct event **slots; /* slot of seq s: slots[s & mask] */
    uint32_t mask;
    uint64_t oldest, next; /* events retained: seqs [oldest, next) */
    uint32_t max_events;
    size_t bytes, max_bytes;
    /* Seqs marked JSON before their event reached the window (ascending:
     * publishes are serialised by `posting`). */
    uint64_t *pending;
    size_t npending, pending_cap;
    struct waiter parked; /* list head */
    uint32_t nparked;
};

int window_init(struct window *w, uint32_t max_events, size_t max_bytes);
/* Frees the events; nobody may be parked. */
void window_destroy(struct window *w);

/* From the topic's subscription: keep the event (evicting the oldest over
 * the limits) and wake every parked client. @json: the event is JSON
 * whatever the marks say (an imported one: no POST marked it). Takes the
 * lock. */
void window_append(struct window *w, uint64_t seq, uint64_t time_ns, const void *data,
                   size_t size, bool json);

/* After a publish of a JSON body returned @seq (caller holds `posting`):
 * the event is JSON. Takes the lock. */
void window_mark_json(struct window *w, uint64_t seq);

/* Under `lock`: the event of @seq if retained, else NULL. */
const struct event *window_get(const struct window *w, uint64_t seq);

/* Under `lock`: suspend @conn until woken (window_append, window_expire,
 * window_wake_all), at @deadline_ns at the latest. Returns false, doing
 * nothing, when @stopping: the caller answers at once. */
bool window_park(struct window *w, struct waiter *wt, struct MHD_Connection *conn,
                 uint64_t deadline_ns, bool stopping);

/* Wakes the parked clients whose deadline is at or before @now_ns; returns
 * how many stay parked. Takes the lock. */
uint32_t window_expire(struct window *w, uint64_t now_ns);

/* Wakes every parked client. Takes the lock. */
void window_wake_all(struct window *w);

#endif /* BUS_HTTP_WINDOW_H */
