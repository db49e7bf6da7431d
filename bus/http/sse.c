/* sse.c - the response of a Server-Sent Events route (stream.c, dash.c):
 * libmicrohttpd takes the bytes a fill callback formats into cn->out; when
 * the callback parks the connection, the reader answers "nothing yet" and
 * is called again once the connection is resumed. */
#include "gateway.h"

#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

struct sse_ctx {
    struct conn *cn;
    struct MHD_Connection *c;
    sse_fill_fn fill;
};

static ssize_t sse_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    struct sse_ctx *sc = cls;
    struct conn *cn = sc->cn;
    if (cn->parked_as >= 0) {
        waiting_add(cn->gw, cn->parked_as, -1);
        cn->parked_as = -1;
    }
    if (cn->out_sent == cn->out.len) {
        cn->out.len = cn->out_sent = 0;
        /* An early end only: the fill reads the flag again under its lock. */
        if (cn->ending || cn->out.failed ||
            atomic_load_explicit(&cn->gw->stopping, memory_order_seq_cst))
            return MHD_CONTENT_READER_END_OF_STREAM;
        if (!sc->fill(cn, sc->c))
            return 0; /* parked: called again once resumed */
        if (cn->out.len == 0 && cn->ending)
            return MHD_CONTENT_READER_END_OF_STREAM;
    }
    size_t n = cn->out.len - cn->out_sent;
    if (n > max)
        n = max;
    memcpy(buf, cn->out.p + cn->out_sent, n);
    cn->out_sent += n;
    return (ssize_t)n;
}

enum MHD_Result sse_reply(struct conn *cn, struct MHD_Connection *c, size_t block,
                          sse_fill_fn fill)
{
    struct sse_ctx *sc = malloc(sizeof(*sc));
    if (!sc)
        return MHD_NO;
    *sc = (struct sse_ctx){cn, c, fill};
    struct MHD_Response *r =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, block, sse_read, sc, free);
    if (!r) {
        free(sc);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    return reply(cn, c, MHD_HTTP_OK, r);
}
