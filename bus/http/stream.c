/* stream.c - GET /v1/topics/{name}/stream: Server-Sent Events, one per bus
 * event (`id: SEQ`, `data:` the long poll's event object), resuming after
 * Last-Event-ID, a comment line as heartbeat. Between events the
 * connection is parked on the window, as a long poll (sse.c reads). */
#include "gateway.h"

#include <errno.h>

#include "../clock.h"

#define STREAM_BATCH 64

/* One event into cn->out, the cursor after it. */
static void put_event(const struct event *ev, void *arg)
{
    struct conn *cn = arg;
    sb_printf(&cn->out, "id: %llu\ndata: ", (unsigned long long)ev->seq);
    size_t from = cn->out.len;
    poll_render_event(&cn->out, ev);
    /* A JSON payload may hold line breaks, as whitespace only (in its
     * strings they are escaped): one data line. */
    for (size_t i = from; i < cn->out.len && !cn->out.failed; i++)
        if (cn->out.p[i] == '\n' || cn->out.p[i] == '\r')
            cn->out.p[i] = ' ';
    sb_puts(&cn->out, "\n\n");
    cn->after = ev->seq;
    cn->after_given = true;
}

static void put_gone(struct conn *cn, uint64_t oldest)
{
    /* The client fell behind what is retained: say so, then end; it
     * reconnects and gets 410 with the oldest seq. */
    sb_printf(&cn->out, "event: gone\ndata: {\"oldest\":%llu}\n\n",
              (unsigned long long)oldest);
    cn->ending = true;
}

/* A durable topic's events behind the window, from its journal: false
 * when it has none after the cursor yet. */
static bool fill_backlog(struct conn *cn)
{
    uint64_t oldest;
    int n = backlog_read(cn->topic, cn->after, STREAM_BATCH, put_event, cn, &oldest);
    if (n == -ENODATA)
        put_gone(cn, oldest);
    else if (n < 0) {
        sb_puts(&cn->out, ": out of memory\n\n"); /* the client reconnects */
        cn->ending = true;
    }
    return n != 0;
}

/* Formats the events after the cursor into cn->out; parks when there are
 * none and no heartbeat is due. Returns false when parked. */
static bool fill(struct conn *cn, struct MHD_Connection *c)
{
    struct window *w = &cn->topic->win;
    uint64_t now = clock_now_ns();
    pthread_mutex_lock(&w->posting);
    pthread_mutex_lock(&w->lock);
    if (backlog_wanted(cn->topic, cn)) {
        pthread_mutex_unlock(&w->lock);
        pthread_mutex_unlock(&w->posting);
        if (fill_backlog(cn))
            return true;
        pthread_mutex_lock(&w->posting);
        pthread_mutex_lock(&w->lock);
    }
    if (poll_gone(w, cn)) {
        put_gone(cn, w->oldest);
    } else {
        uint64_t seq = poll_first(w, cn);
        for (int n = 0; seq < w->next && n < STREAM_BATCH; seq++, n++)
            put_event(window_get(w, seq), cn);
        if (cn->out.len == 0 && now >= cn->next_heartbeat_ns) {
            sb_puts(&cn->out, ": heartbeat\n\n");
            cn->next_heartbeat_ns = now + (uint64_t)cn->gw->cfg.heartbeat_ms * 1000000u;
        }
    }
    bool stopping = atomic_load_explicit(&cn->gw->stopping, memory_order_seq_cst);
    bool parked = cn->out.len == 0 &&
                  window_park(w, &cn->waiter, c, cn->next_heartbeat_ns, stopping);
    if (parked) {
        cn->parked_as = WAIT_STREAM;
        waiting_add(cn->gw, WAIT_STREAM, 1);
    }
    pthread_mutex_unlock(&w->lock);
    pthread_mutex_unlock(&w->posting);
    return !parked;
}

enum MHD_Result stream_events(struct conn *cn, struct MHD_Connection *c)
{
    if (!poll_setup(cn, c, false))
        return MHD_YES;
    const char *last = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Last-Event-ID");
    if (last) {
        if (parse_u64(last, UINT64_MAX - 1, &cn->after))
            return reply_error(cn, c, MHD_HTTP_BAD_REQUEST, "bad_last_event_id",
                               "Last-Event-ID must be a seq");
        cn->after_given = true;
    }
    struct window *w = &cn->topic->win;
    pthread_mutex_lock(&w->lock);
    bool from_journal = backlog_wanted(cn->topic, cn);
    bool gone = !from_journal && poll_gone(w, cn);
    uint64_t oldest = w->oldest;
    pthread_mutex_unlock(&w->lock);
    if (from_journal)
        gone = backlog_gone(cn->topic, cn->after, &oldest);
    if (gone)
        return poll_reply_gone(cn, c, oldest);
    cn->next_heartbeat_ns = clock_now_ns() + (uint64_t)cn->gw->cfg.heartbeat_ms * 1000000u;
    /* A first line at once, so that the client sees the stream open (the
     * headers leave with it) before any event. */
    sb_puts(&cn->out, ": stream open\n\n");
    return sse_reply(cn, c, 16384, fill);
}
