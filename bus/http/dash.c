/* dash.c - the dashboard: GET / and its files, and GET
 * /v1/dashboard/snapshot, one snapshot of the metrics as JSON, and GET
 * /v1/dashboard/stream, Server-Sent Events with one snapshot of the
 * metrics each dashboard_interval_ms (the bus's metrics JSON, the served
 * topics' capacities, the webhooks; the snapshot also the last minutes,
 * dash_history.c). Between snapshots the connection is parked on the
 * gateway's dashboard window, woken by the timer thread. */
#include "gateway.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../clock.h"
#include "dash.h"
#include "webhook.h"

enum MHD_Result dash_file(struct conn *cn, struct MHD_Connection *c)
{
    for (const struct dash_file *f = dash_files; f->name; f++) {
        if (strcmp(f->name, cn->route.topic) != 0)
            continue;
        struct MHD_Response *r = MHD_create_response_from_buffer(
            f->size, (void *)f->data, MHD_RESPMEM_PERSISTENT);
        if (r) {
            MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, f->type);
            MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
        }
        return reply(cn, c, MHD_HTTP_OK, r);
    }
    return reply_error(cn, c, MHD_HTTP_NOT_FOUND, "not_found", "no such path");
}

static void capacity_of(struct served *s, void *arg)
{
    struct strbuf *b = arg;
    if (b->p[b->len - 1] != '{')
        sb_puts(b, ",");
    sb_json_string(b, s->name, strlen(s->name));
    sb_printf(b, ":%u", s->cfg.capacity);
}

/* Appends @text without its line breaks (an SSE data line is one line). */
static void put_one_line(struct strbuf *b, const char *text, size_t len)
{
    size_t from = b->len;
    sb_put(b, text, len);
    for (size_t i = from; i < b->len && !b->failed; i++)
        if (b->p[i] == '\n' || b->p[i] == '\r')
            b->p[i] = ' ';
}

/* One snapshot, on one line; @with_history: the last minutes too. */
static void snapshot(struct bus_http *gw, struct strbuf *out, bool with_history)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    sb_printf(out, "{\"time_ms\":%lld,\"metrics\":",
              (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
    size_t need = 16384, len = 0;
    for (;;) { /* topics may open meanwhile: grow and try again */
        char *text = malloc(need);
        if (!text) {
            out->failed = true;
            return;
        }
        int rc = bus_metrics_json(gw->bus, text, need, &len);
        if (rc == 0)
            put_one_line(out, text, len);
        free(text);
        if (rc != -ENOSPC)
            break;
        need = len + 4096;
    }
    sb_puts(out, ",\"capacity\":{");
    served_foreach(gw, capacity_of, out);
    sb_puts(out, "},\"webhooks\":");
    struct strbuf hooks = {0};
    webhook_render(gw->hooks, NULL, &hooks);
    put_one_line(out, hooks.p ? hooks.p : "null", hooks.p ? hooks.len : 4);
    sb_free(&hooks);
    if (with_history) {
        sb_puts(out, ",\"history\":");
        dash_history_render(gw, out);
    }
    sb_puts(out, "}");
}

enum MHD_Result dash_snapshot(struct conn *cn, struct MHD_Connection *c)
{
    struct strbuf b = {0};
    dash_history_start(cn->gw);
    snapshot(cn->gw, &b, true);
    sb_puts(&b, "\n");
    return reply_text(cn, c, MHD_HTTP_OK, &b, "application/json");
}

/* The next snapshot into cn->out when it is due, else parks until then.
 * Returns false when parked. */
static bool fill(struct conn *cn, struct MHD_Connection *c)
{
    struct bus_http *gw = cn->gw;
    uint64_t now = clock_now_ns();
    if (now >= cn->next_heartbeat_ns) {
        sb_puts(&cn->out, "data: ");
        snapshot(gw, &cn->out, false);
        sb_puts(&cn->out, "\n\n");
        cn->next_heartbeat_ns = now + (uint64_t)gw->cfg.dashboard_interval_ms * 1000000u;
        return true;
    }
    struct window *w = &gw->dash;
    pthread_mutex_lock(&w->lock);
    bool stopping = atomic_load_explicit(&gw->stopping, memory_order_seq_cst);
    bool parked = window_park(w, &cn->waiter, c, cn->next_heartbeat_ns, stopping);
    if (parked) {
        cn->parked_as = WAIT_STREAM;
        waiting_add(gw, WAIT_STREAM, 1);
    }
    pthread_mutex_unlock(&w->lock);
    if (!parked)
        cn->ending = true;
    return !parked;
}

enum MHD_Result dash_stream(struct conn *cn, struct MHD_Connection *c)
{
    dash_history_start(cn->gw);
    cn->next_heartbeat_ns = 0; /* the first snapshot at once */
    sb_puts(&cn->out, "retry: 2000\n\n");
    return sse_reply(cn, c, 65536, fill);
}
