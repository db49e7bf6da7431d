/* poll.c - GET /v1/topics/{name}/events?after=SEQ&limit=N&wait=S: the
 * retained events after SEQ at once, or the first ones to come within
 * `wait` seconds (the connection parked meanwhile), or 410 when SEQ is
 * older than the window. */
#include "gateway.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "../clock.h"

#define POLL_LIMIT_DEFAULT 100
#define POLL_LIMIT_MAX 1000
/* How long a long poll waits for the window to hold the events already
 * acknowledged: normally microseconds (a dispatch); bounded for a topic
 * whose handlers before the window's are stuck. */
#define POLL_CATCH_UP_NS 1000000000ull

bool query_number(struct conn *cn, struct MHD_Connection *c, const char *name, uint64_t min,
                  uint64_t max, uint64_t *out, bool *given)
{
    const char *v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, name);
    if (given)
        *given = v != NULL;
    if (!v)
        return true;
    if (parse_u64(v, max, out) == 0 && *out >= min)
        return true;
    char msg[96];
    snprintf(msg, sizeof(msg), "%s must be a whole number from %llu to %llu", name,
             (unsigned long long)min, (unsigned long long)max);
    reply_error(cn, c, MHD_HTTP_BAD_REQUEST, "bad_query", msg);
    return false;
}

/* First call: the topic and the query. False after answering. */
bool poll_setup(struct conn *cn, struct MHD_Connection *c, bool with_limit)
{
    cn->topic = topic_of(cn, c, true);
    if (!cn->topic)
        return false;
    uint64_t limit = POLL_LIMIT_DEFAULT, wait = 0;
    if (!query_number(cn, c, "after", 0, UINT64_MAX - 1, &cn->after, &cn->after_given))
        return false;
    if (with_limit &&
        (!query_number(cn, c, "limit", 1, POLL_LIMIT_MAX, &limit, NULL) ||
         !query_number(cn, c, "wait", 0, cn->gw->cfg.max_wait_s, &wait, NULL)))
        return false;
    cn->limit_events = (uint32_t)limit;
    cn->deadline_ns = cn->start_ns + wait * 1000000000u;
    return true;
}

/* Under the window's lock: whether SEQ is older than what is retained (an
 * empty window that never saw an event cannot tell: it waits). */
bool poll_gone(const struct window *w, const struct conn *cn)
{
    return cn->after_given && w->next != 0 && cn->after + 1 < w->oldest;
}

/* Under the window's lock: the first seq to send. */
uint64_t poll_first(const struct window *w, const struct conn *cn)
{
    if (cn->after_given)
        return cn->after + 1;
    return w->oldest;
}

enum MHD_Result poll_reply_gone(struct conn *cn, struct MHD_Connection *c, uint64_t oldest)
{
    struct strbuf b = {0};
    sb_printf(&b,
              "{\"error\":\"events after this seq are no longer retained\","
              "\"code\":\"gone\",\"oldest\":%llu}\n",
              (unsigned long long)oldest);
    return reply_text(cn, c, MHD_HTTP_GONE, &b, "application/json");
}

void poll_render_event(struct strbuf *b, const struct event *ev)
{
    sb_printf(b, "{\"seq\":%llu,\"time_ns\":%llu,", (unsigned long long)ev->seq,
              (unsigned long long)ev->time_ns);
    if (ev->json) {
        sb_puts(b, "\"data\":");
        sb_put(b, ev->data, ev->size);
    } else {
        sb_puts(b, "\"data_b64\":\"");
        sb_base64(b, ev->data, ev->size);
        sb_puts(b, "\"");
    }
    sb_puts(b, "}");
}

/* A long poll's answer in the making: {"events": [...], "next": last}. */
struct listing {
    struct strbuf b;
    uint32_t n;
    uint64_t last;
};

static void list_event(const struct event *ev, void *arg)
{
    struct listing *l = arg;
    sb_puts(&l->b, l->n++ ? "," : "{\"events\":[");
    poll_render_event(&l->b, ev);
    l->last = ev->seq;
}

static enum MHD_Result reply_listing(struct conn *cn, struct MHD_Connection *c,
                                     struct listing *l)
{
    if (l->n == 0)
        sb_puts(&l->b, "{\"events\":[");
    sb_printf(&l->b, "],\"next\":%llu}\n", (unsigned long long)l->last);
    return reply_text(cn, c, MHD_HTTP_OK, &l->b, "application/json");
}

/* Events behind a durable topic's window, from its journal; false when it
 * has none after `after` yet (the caller waits on the window). */
static bool poll_backlog(struct conn *cn, struct MHD_Connection *c, enum MHD_Result *res)
{
    struct listing l = {.last = cn->after};
    uint64_t oldest;
    int n = backlog_read(cn->topic, cn->after, cn->limit_events, list_event, &l, &oldest);
    if (n == 0)
        return false;
    if (n == -ENODATA)
        *res = poll_reply_gone(cn, c, oldest);
    else if (n < 0)
        *res = reply_bus_error(cn, c, n);
    else
        *res = reply_listing(cn, c, &l);
    if (n < 0)
        sb_free(&l.b);
    return true;
}

enum MHD_Result poll_events(struct conn *cn, struct MHD_Connection *c)
{
    if (!cn->topic && !poll_setup(cn, c, true))
        return MHD_YES;
    if (cn->parked_as >= 0) {
        waiting_add(cn->gw, cn->parked_as, -1);
        cn->parked_as = -1;
    }
    struct window *w = &cn->topic->win;
    pthread_mutex_lock(&w->posting);
    pthread_mutex_lock(&w->lock);
    if (backlog_wanted(cn->topic, cn)) {
        pthread_mutex_unlock(&w->lock);
        pthread_mutex_unlock(&w->posting);
        enum MHD_Result res;
        if (poll_backlog(cn, c, &res))
            return res;
        pthread_mutex_lock(&w->posting);
        pthread_mutex_lock(&w->lock);
    }
    if (poll_gone(w, cn)) {
        uint64_t oldest = w->oldest;
        pthread_mutex_unlock(&w->lock);
        pthread_mutex_unlock(&w->posting);
        return poll_reply_gone(cn, c, oldest);
    }
    if (!cn->must_see_read) {
        cn->must_see = w->acked;
        cn->must_see_read = true;
    }
    /* An event answered 202 before this poll came is not in the window
     * yet: wait for it, so that a client reads its own writes. */
    bool behind = cn->must_see && w->next <= cn->must_see;
    uint64_t deadline = cn->deadline_ns;
    if (behind && deadline < cn->start_ns + POLL_CATCH_UP_NS)
        deadline = cn->start_ns + POLL_CATCH_UP_NS;
    uint64_t seq = poll_first(w, cn);
    bool stopping = atomic_load_explicit(&cn->gw->stopping, memory_order_seq_cst);
    if ((seq >= w->next || behind) && clock_now_ns() < deadline &&
        window_park(w, &cn->waiter, c, deadline, stopping)) {
        cn->parked_as = WAIT_POLL;
        waiting_add(cn->gw, WAIT_POLL, 1);
        pthread_mutex_unlock(&w->lock);
        pthread_mutex_unlock(&w->posting);
        return MHD_YES;
    }
    struct listing l = {.last = cn->after_given ? cn->after : (w->next ? w->next - 1 : 0)};
    for (; seq < w->next && l.n < cn->limit_events; seq++)
        list_event(window_get(w, seq), &l);
    pthread_mutex_unlock(&w->lock);
    pthread_mutex_unlock(&w->posting);
    return reply_listing(cn, c, &l);
}
