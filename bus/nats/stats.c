/* stats.c - bus_nats_stats() and its Prometheus text. */
#include <errno.h>
#include <inttypes.h>

#include "../textbuf.h"
#include "bridge.h"

static uint64_t get(_Atomic uint64_t *c)
{
    /* relaxed: each counter is a total of its own (a near snapshot). */
    return atomic_load_explicit(c, memory_order_relaxed);
}

int bus_nats_stats(bus_nats_t *b, bus_nats_stats_t *out)
{
    if (!b || !out)
        return -EINVAL;
    struct nats_counters *c = &b->count;
    *out = (bus_nats_stats_t){
        .exported = get(&c->exported),
        .imported = get(&c->imported),
        .echo_skipped = get(&c->echo_skipped),
        .requests_out = get(&c->requests_out),
        .requests_in = get(&c->requests_in),
        .no_responders = get(&c->no_responders),
        .dropped_reconnect_buffer = get(&c->dropped_reconnect_buffer),
        .dropped_closed = get(&c->dropped_closed),
        .dropped_local_full = get(&c->dropped_local_full),
        .dropped_local_error = get(&c->dropped_local_error),
        .disconnects = get(&c->disconnects),
        .reconnects = get(&c->reconnects),
        .connected = natsConnection_Status(b->nc) == NATS_CONN_STATUS_CONNECTED,
        .js_failed = get(&c->js_failed),
        .js_resent = get(&c->js_resent),
        .js_acked = get(&c->js_acked),
        .js_nacked = get(&c->js_nacked),
        /* seq_cst as every access to it (bridge.c); a gauge all the same. */
        .import_pending = atomic_load_explicit(&b->inflight, memory_order_seq_cst),
    };
    for (unsigned i = 0; i < b->n_imports; i++) {
        int64_t dropped = 0;
        int msgs = 0, bytes = 0;
        if (natsSubscription_GetDropped(b->imports[i], &dropped) == NATS_OK)
            out->dropped_slow_consumer += (uint64_t)dropped;
        if (natsSubscription_GetPending(b->imports[i], &msgs, &bytes) == NATS_OK)
            out->import_pending += (uint64_t)msgs;
    }
    return 0;
}

static void counter(struct textbuf *o, const char *name, const char *help, uint64_t v)
{
    bus__textbuf_put(o, "# HELP bus_nats_%s %s\n# TYPE bus_nats_%s counter\nbus_nats_%s %" PRIu64 "\n",
                     name, help, name, name, v);
}

int bus_nats_prometheus(bus_nats_t *b, char *buf, size_t cap, size_t *len)
{
    if (!b || !len || (!buf && cap))
        return -EINVAL;
    bus_nats_stats_t s;
    bus_nats_stats(b, &s);
    struct textbuf o = {.buf = buf, .cap = cap};
    counter(&o, "exported_total", "Local events handed to NATS.", s.exported);
    counter(&o, "imported_total", "NATS messages published onto local topics.", s.imported);
    counter(&o, "echo_skipped_total", "Events not exported because this bridge imported them.",
            s.echo_skipped);
    bus__textbuf_put(&o, "# HELP bus_nats_requests_total Requests forwarded, by direction.\n"
                         "# TYPE bus_nats_requests_total counter\n"
                         "bus_nats_requests_total{direction=\"out\"} %" PRIu64 "\n"
                         "bus_nats_requests_total{direction=\"in\"} %" PRIu64 "\n",
                     s.requests_out, s.requests_in);
    counter(&o, "no_responders_total", "Forwarded requests NATS had no responder for.",
            s.no_responders);
    bus__textbuf_put(&o, "# HELP bus_nats_dropped_total Events lost by the bridge, by cause.\n"
                         "# TYPE bus_nats_dropped_total counter\n");
    const struct {
        const char *cause;
        uint64_t n;
    } dropped[] = {
        {"reconnect_buffer", s.dropped_reconnect_buffer},
        {"closed", s.dropped_closed},
        {"local_full", s.dropped_local_full},
        {"local_error", s.dropped_local_error},
        {"slow_consumer", s.dropped_slow_consumer},
    };
    for (size_t i = 0; i < sizeof(dropped) / sizeof(dropped[0]); i++)
        bus__textbuf_put(&o, "bus_nats_dropped_total{cause=\"%s\"} %" PRIu64 "\n",
                         dropped[i].cause, dropped[i].n);
    counter(&o, "jetstream_failed_total", "Exports the stream refused or never acknowledged.",
            s.js_failed);
    counter(&o, "jetstream_resent_total", "Unacknowledged exports sent again after a reconnect.",
            s.js_resent);
    bus__textbuf_put(&o, "# HELP bus_nats_jetstream_imports_total Imports acknowledged or given "
                         "back for redelivery.\n"
                         "# TYPE bus_nats_jetstream_imports_total counter\n"
                         "bus_nats_jetstream_imports_total{outcome=\"acked\"} %" PRIu64 "\n"
                         "bus_nats_jetstream_imports_total{outcome=\"nacked\"} %" PRIu64 "\n",
                     s.js_acked, s.js_nacked);
    counter(&o, "disconnects_total", "Connections to the server lost.", s.disconnects);
    counter(&o, "reconnects_total", "Connections to the server restored.", s.reconnects);
    bus__textbuf_put(&o, "# HELP bus_nats_import_pending Imported messages not handled yet.\n"
                         "# TYPE bus_nats_import_pending gauge\nbus_nats_import_pending %" PRIu64
                         "\n",
                     s.import_pending);
    bus__textbuf_put(&o, "# HELP bus_nats_connected 1 while connected to a server.\n"
                         "# TYPE bus_nats_connected gauge\nbus_nats_connected %d\n",
                     s.connected ? 1 : 0);
    return bus__textbuf_end(&o, len);
}
