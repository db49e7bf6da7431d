/* post.c - POST /v1/topics/{name}/events: publish the body, answer 202
 * with its seq; Idempotency-Key makes a retry answer the first seq. */
#include "gateway.h"

#include <errno.h>
#include <jansson.h>
#include <string.h>

static enum MHD_Result accepted(struct conn *cn, struct MHD_Connection *c, uint64_t seq)
{
    struct strbuf b = {0};
    sb_puts(&b, "{\"topic\":");
    sb_json_string(&b, cn->topic->name, strlen(cn->topic->name));
    sb_printf(&b, ",\"seq\":%llu}\n", (unsigned long long)seq);
    return reply_text(cn, c, MHD_HTTP_ACCEPTED, &b, "application/json");
}

/* A body posted as JSON must be one JSON value, so that long polls can
 * embed it as is. */
bool json_valid(const char *body, size_t len)
{
    json_error_t err;
    json_t *v = json_loadb(body ? body : "", len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
    json_decref(v);
    return v != NULL;
}

/* Publishes, marks the event JSON and notes its seq as acknowledged, with
 * the window's `posting` lock held across them: no reader renders the event
 * before it is marked. */
static int publish(struct served *s, const char *body, size_t len, bool json, uint64_t *seq)
{
    bus_publish_options_t opts;
    bus_publish_options_init(&opts);
    opts.seq = seq;
    *seq = 0;
    pthread_mutex_lock(&s->win.posting);
    int rc = bus_publish_ex(s->topic, len ? body : NULL, len, &opts);
    if (rc == 0 && json && *seq)
        window_mark_json(&s->win, *seq);
    if (rc == 0 && *seq > s->win.acked)
        s->win.acked = *seq;
    pthread_mutex_unlock(&s->win.posting);
    return rc;
}

enum MHD_Result post_events(struct conn *cn, struct MHD_Connection *c)
{
    if (cn->over)
        return reply_bus_error(cn, c, -EMSGSIZE);
    if (cn->json && !json_valid(cn->body, cn->len))
        return reply_error(cn, c, MHD_HTTP_BAD_REQUEST, "bad_json",
                           "the body is posted as application/json but is not JSON");
    const char *key = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Idempotency-Key");
    if (key && (!*key || strlen(key) > IDEM_KEY_MAX))
        return reply_error(cn, c, MHD_HTTP_BAD_REQUEST, "bad_idempotency_key",
                           "Idempotency-Key must be 1 to 255 bytes");
    uint64_t seq = 0;
    if (key) {
        switch (idem_begin(&cn->gw->idem, cn->topic->name, key, &seq)) {
        case IDEM_SEEN:
            atomic_fetch_add_explicit(&cn->gw->idempotent_replays, 1, memory_order_relaxed);
            return accepted(cn, c, seq);
        case IDEM_BUSY:
            return reply_error(cn, c, MHD_HTTP_CONFLICT, "in_progress",
                               "a request with this Idempotency-Key is in progress");
        case IDEM_NEW:
            break;
        }
    }
    int rc = publish(cn->topic, cn->body, cn->len, cn->json, &seq);
    if (key) {
        if (rc)
            idem_abort(&cn->gw->idem, cn->topic->name, key);
        else
            idem_done(&cn->gw->idem, cn->topic->name, key, seq);
    }
    return rc ? reply_bus_error(cn, c, rc) : accepted(cn, c, seq);
}
