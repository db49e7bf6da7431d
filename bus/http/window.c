/* window.c - a served topic's replay window and its parked clients. */
#include "window.h"

#include <errno.h>
#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>

int window_init(struct window *w, uint32_t max_events, size_t max_bytes)
{
    memset(w, 0, sizeof(*w));
    uint32_t slots = 1;
    while (slots < max_events)
        slots <<= 1;
    w->slots = calloc(slots, sizeof(*w->slots));
    if (!w->slots)
        return -ENOMEM;
    w->mask = slots - 1;
    w->max_events = max_events;
    w->max_bytes = max_bytes;
    w->parked.prev = w->parked.next = &w->parked;
    pthread_mutex_init(&w->posting, NULL);
    pthread_mutex_init(&w->lock, NULL);
    return 0;
}

void window_destroy(struct window *w)
{
    for (uint64_t s = w->oldest; s < w->next; s++)
        free(w->slots[s & w->mask]);
    free(w->slots);
    free(w->pending);
    pthread_mutex_destroy(&w->posting);
    pthread_mutex_destroy(&w->lock);
}

static void evict_oldest(struct window *w)
{
    struct event **slot = &w->slots[w->oldest & w->mask];
    w->bytes -= (*slot)->size;
    free(*slot);
    *slot = NULL;
    w->oldest++;
}

/* Consumes the pending JSON mark of @seq, if any (older marks are stale:
 * their events never came, e.g. dropped by a topic close). */
static bool take_json_mark(struct window *w, uint64_t seq)
{
    if (w->npending == 0)
        return false;
    size_t i = 0;
    while (i < w->npending && w->pending[i] < seq)
        i++;
    bool marked = i < w->npending && w->pending[i] == seq;
    if (marked)
        i++;
    memmove(w->pending, w->pending + i, (w->npending - i) * sizeof(*w->pending));
    w->npending -= i;
    return marked;
}

static void unpark(struct window *w, struct waiter *wt)
{
    wt->prev->next = wt->next;
    wt->next->prev = wt->prev;
    wt->prev = wt->next = NULL;
    wt->parked = false;
    w->nparked--;
    MHD_resume_connection(wt->conn);
}

void window_wake_all(struct window *w)
{
    pthread_mutex_lock(&w->lock);
    while (w->parked.next != &w->parked)
        unpark(w, w->parked.next);
    pthread_mutex_unlock(&w->lock);
}

void window_append(struct window *w, uint64_t seq, uint64_t time_ns, const void *data,
                   size_t size, bool json)
{
    struct event *ev = malloc(sizeof(*ev) + size);
    pthread_mutex_lock(&w->lock);
    if (seq != w->next) {
        /* The first event, or a gap (events the subscription never saw):
         * the window restarts at this one. */
        while (w->oldest < w->next)
            evict_oldest(w);
        w->oldest = w->next = seq;
    }
    json = take_json_mark(w, seq) || json;
    if (ev) {
        ev->seq = seq;
        ev->time_ns = time_ns;
        ev->size = (uint32_t)size;
        ev->json = json;
        if (size)
            memcpy(ev->data, data, size);
        while (w->oldest < w->next &&
               (w->next - w->oldest >= w->max_events || w->bytes + size > w->max_bytes))
            evict_oldest(w);
        w->slots[seq & w->mask] = ev;
        w->bytes += size;
        w->next = seq + 1;
    } else {
        /* Out of memory: the window starts over after this event, so a
         * reader asking for it gets 410, not a silent hole. */
        while (w->oldest < w->next)
            evict_oldest(w);
        w->oldest = w->next = seq + 1;
    }
    while (w->parked.next != &w->parked)
        unpark(w, w->parked.next);
    pthread_mutex_unlock(&w->lock);
}

void window_mark_json(struct window *w, uint64_t seq)
{
    pthread_mutex_lock(&w->lock);
    if (seq >= w->oldest && seq < w->next) {
        w->slots[seq & w->mask]->json = true;
    } else if (seq >= w->next) {
        if (w->npending == w->pending_cap) {
            size_t cap = w->pending_cap ? w->pending_cap * 2 : 16;
            uint64_t *grown = realloc(w->pending, cap * sizeof(*grown));
            if (grown) {
                w->pending = grown;
                w->pending_cap = cap;
            }
        }
        /* Out of memory: the event shows as data_b64, never lost. */
        if (w->npending < w->pending_cap)
            w->pending[w->npending++] = seq;
    }
    pthread_mutex_unlock(&w->lock);
}

const struct event *window_get(const struct window *w, uint64_t seq)
{
    return seq >= w->oldest && seq < w->next ? w->slots[seq & w->mask] : NULL;
}

bool window_park(struct window *w, struct waiter *wt, struct MHD_Connection *conn,
                 uint64_t deadline_ns, bool stopping)
{
    if (stopping)
        return false;
    wt->conn = conn;
    wt->deadline_ns = deadline_ns;
    wt->parked = true;
    wt->prev = w->parked.prev;
    wt->next = &w->parked;
    w->parked.prev->next = wt;
    w->parked.prev = wt;
    w->nparked++;
    MHD_suspend_connection(conn);
    return true;
}

uint32_t window_expire(struct window *w, uint64_t now_ns)
{
    pthread_mutex_lock(&w->lock);
    for (struct waiter *wt = w->parked.next, *next; wt != &w->parked; wt = next) {
        next = wt->next;
        if (wt->deadline_ns <= now_ns)
            unpark(w, wt);
    }
    uint32_t left = w->nparked;
    pthread_mutex_unlock(&w->lock);
    return left;
}
