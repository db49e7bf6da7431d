/* backlog.c - a durable topic's events behind its replay window, read from
 * its journal (bus_journal_read()): for a long poll or a stream asking for
 * a seq the window no longer holds, or never held (the gateway restarted).
 * The journal keeps the payload's bytes, not how it was posted: an event
 * read from it is shown as `data` when its payload is one JSON value, else
 * as `data_b64`. */
#include "gateway.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bus/journal.h"

bool backlog_wanted(const struct served *s, const struct conn *cn)
{
    const struct window *w = &s->win;
    return s->durable && cn->after_given && (w->next == 0 || cn->after + 1 < w->oldest);
}

bool backlog_gone(const struct served *s, uint64_t after, uint64_t *oldest)
{
    bus_journal_stats_t st;
    if (bus_journal_stats(s->topic, &st) || after + 1 >= st.first_seq)
        return false;
    *oldest = st.first_seq;
    return true;
}

struct reading {
    uint64_t want; /* the seq the next record must have */
    uint64_t gone; /* the first record came later: the oldest left */
    struct event *ev; /* scratch, grown as needed */
    size_t cap;
    void (*emit)(const struct event *ev, void *arg);
    void *arg;
    int err;
};

static int on_record(const bus_journal_record_t *rec, void *arg)
{
    struct reading *r = arg;
    if (rec->seq != r->want) {
        r->gone = rec->seq; /* retention deleted the ones asked for */
        return 1;
    }
    if (rec->size > r->cap || !r->ev) {
        struct event *grown = realloc(r->ev, sizeof(*r->ev) + rec->size);
        if (!grown) {
            r->err = -ENOMEM;
            return 1;
        }
        r->ev = grown;
        r->cap = rec->size;
    }
    r->ev->seq = rec->seq;
    r->ev->time_ns = rec->time_ns;
    r->ev->size = (uint32_t)rec->size;
    r->ev->json = json_valid(rec->data, rec->size); /* as a POST of JSON */
    if (rec->size)
        memcpy(r->ev->data, rec->data, rec->size);
    r->emit(r->ev, r->arg);
    r->want++;
    return 0;
}

int backlog_read(struct served *s, uint64_t after, uint32_t limit,
                 void (*emit)(const struct event *ev, void *arg), void *arg, uint64_t *oldest)
{
    if (backlog_gone(s, after, oldest))
        return -ENODATA;
    struct reading r = {.want = after + 1, .emit = emit, .arg = arg};
    int n = bus_journal_read(s->topic, after + 1, limit, on_record, &r);
    free(r.ev);
    if (n < 0 || r.err)
        return n < 0 ? n : r.err;
    if (r.gone && r.want == after + 1) {
        *oldest = r.gone;
        return -ENODATA;
    }
    return (int)(r.want - (after + 1));
}
