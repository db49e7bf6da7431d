/* reply.c - answering: JSON errors, counted statuses, served-topic lookups
 * turned into statuses. */
#include "gateway.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum MHD_Result reply(struct conn *cn, struct MHD_Connection *c, int status,
                      struct MHD_Response *r)
{
    if (!r)
        return MHD_NO; /* out of memory: close the connection */
    /* relaxed: only picks a header; what must not miss the stop reads it
     * under a lock the stop takes after setting it (gateway.h). */
    if (atomic_load_explicit(&cn->gw->stopping, memory_order_relaxed))
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
    enum MHD_Result rc = MHD_queue_response(c, (unsigned)status, r);
    MHD_destroy_response(r);
    cn->status = status;
    if (status >= STATUS_MIN && status <= STATUS_MAX)
        atomic_fetch_add_explicit(&cn->gw->requests[cn->route.kind][status - STATUS_MIN], 1,
                                  memory_order_relaxed);
    return rc;
}

struct MHD_Response *response_of(struct strbuf *b, const char *type)
{
    size_t len;
    char *text = sb_take(b, &len);
    if (!text)
        return NULL;
    struct MHD_Response *r = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(text);
        return NULL;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    return r;
}

enum MHD_Result reply_text(struct conn *cn, struct MHD_Connection *c, int status,
                           struct strbuf *b, const char *type)
{
    return reply(cn, c, status, response_of(b, type));
}

struct MHD_Response *error_response(const char *code, const char *msg)
{
    struct strbuf b = {0};
    sb_puts(&b, "{\"error\":");
    sb_json_string(&b, msg, strlen(msg));
    sb_puts(&b, ",\"code\":");
    sb_json_string(&b, code, strlen(code));
    sb_puts(&b, "}\n");
    return response_of(&b, "application/json");
}

enum MHD_Result reply_error(struct conn *cn, struct MHD_Connection *c, int status,
                            const char *code, const char *msg)
{
    struct MHD_Response *r = error_response(code, msg);
    if (r && status == MHD_HTTP_SERVICE_UNAVAILABLE)
        MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, "1");
    if (r && status == MHD_HTTP_UNAUTHORIZED)
        MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    return reply(cn, c, status, r);
}

/* What a bus or gateway error means over HTTP. */
static const struct {
    int err, status;
    const char *code, *msg;
} bus_errors[] = {
    {-ENOENT, MHD_HTTP_NOT_FOUND, "unknown_topic",
     "no such topic, and topics are not created on first use"},
    {-ENOSPC, MHD_HTTP_SERVICE_UNAVAILABLE, "too_many_topics",
     "the gateway serves max_topics topics already"},
    {-ENOTSUP, MHD_HTTP_CONFLICT, "not_servable",
     "keyed and parallel topics are not served over HTTP"},
    {-EEXIST, MHD_HTTP_CONFLICT, "conflict", "the topic exists with another configuration"},
    {-EAGAIN, MHD_HTTP_SERVICE_UNAVAILABLE, "topic_full", "the topic is full; retry later"},
    {-EMSGSIZE, MHD_HTTP_CONTENT_TOO_LARGE, "too_large",
     "the body is over the topic's max_payload"},
    {-ESHUTDOWN, MHD_HTTP_SERVICE_UNAVAILABLE, "shutting_down",
     "the gateway, the bus or the topic is closing"},
    {-EPIPE, MHD_HTTP_SERVICE_UNAVAILABLE, "shutting_down",
     "the gateway, the bus or the topic is closing"},
};

enum MHD_Result reply_bus_error(struct conn *cn, struct MHD_Connection *c, int err)
{
    for (size_t i = 0; i < sizeof(bus_errors) / sizeof(bus_errors[0]); i++)
        if (bus_errors[i].err == err)
            return reply_error(cn, c, bus_errors[i].status, bus_errors[i].code,
                               bus_errors[i].msg);
    return reply_error(cn, c, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", bus_strerror(err));
}

struct served *topic_of(struct conn *cn, struct MHD_Connection *c, bool create)
{
    struct served *s;
    int rc = served_get(cn->gw, cn->route.topic, create && cn->gw->cfg.auto_create, &s);
    if (rc) {
        reply_bus_error(cn, c, rc);
        return NULL;
    }
    return s;
}
