/* webhook_api.c - POST, GET /v1/webhooks, GET, DELETE /v1/webhooks/{id},
 * POST /v1/webhooks/{id}/enable. */
#include <errno.h>
#include <jansson.h>
#include <string.h>

#include "gateway.h"
#include "webhook.h"

/* The definition in a POST's JSON body; false (answered 400) when the body
 * is not an object of the known fields with their types. */
static bool parse_definition(struct conn *cn, struct MHD_Connection *c, json_t *root,
                             struct webhook_cfg *def)
{
    const char *key;
    json_t *v;
    if (!json_is_object(root)) {
        reply_error(cn, c, MHD_HTTP_BAD_REQUEST, "bad_json", "a JSON object is expected");
        return false;
    }
    json_object_foreach(root, key, v) {
        bool ok = true;
        if (!strcmp(key, "pattern"))
            ok = json_is_string(v) && (def->pattern = (char *)json_string_value(v));
        else if (!strcmp(key, "url"))
            ok = json_is_string(v) && (def->url = (char *)json_string_value(v));
        else if (!strcmp(key, "secret"))
            ok = json_is_string(v) && (def->secret = (char *)json_string_value(v));
        else if (!strcmp(key, "ordered"))
            ok = json_is_boolean(v) && ((def->ordered = json_is_true(v)), true);
        else if (!strcmp(key, "max_in_flight"))
            ok = json_is_integer(v) && json_integer_value(v) >= 1 &&
                 json_integer_value(v) <= 4096 &&
                 (def->max_in_flight = (uint32_t)json_integer_value(v));
        else
            ok = false;
        if (!ok) {
            reply_error(cn, c, MHD_HTTP_BAD_REQUEST, "bad_field",
                        "fields: pattern, url (strings), secret (string), ordered (boolean), "
                        "max_in_flight (1 to 4096)");
            return false;
        }
    }
    return true;
}

static enum MHD_Result create(struct conn *cn, struct MHD_Connection *c)
{
    if (cn->over)
        return reply_error(cn, c, MHD_HTTP_CONTENT_TOO_LARGE, "too_large", "body too large");
    json_error_t err;
    json_t *root = json_loadb(cn->body ? cn->body : "", cn->len, 0, &err);
    if (!root)
        return reply_error(cn, c, MHD_HTTP_BAD_REQUEST, "bad_json", "the body is not JSON");
    struct webhook_cfg def = {0};
    enum MHD_Result result = MHD_YES;
    if (parse_definition(cn, c, root, &def)) {
        struct webhook_problem problem;
        char id[WEBHOOK_ID_MAX], secret[96];
        int rc = webhook_add(cn->gw->hooks, &def, &problem, id, secret);
        if (rc == -EINVAL) {
            result = reply_error(cn, c, MHD_HTTP_BAD_REQUEST, problem.code, problem.msg);
        } else if (rc == -ENOSPC) {
            result = reply_error(cn, c, MHD_HTTP_SERVICE_UNAVAILABLE, "too_many_webhooks",
                                 "max_webhooks reached");
        } else if (rc) {
            result = reply_bus_error(cn, c, rc);
        } else {
            struct strbuf b = {0};
            sb_puts(&b, "{\"id\":");
            sb_json_string(&b, id, strlen(id));
            if (secret[0]) { /* generated: shown this once */
                sb_puts(&b, ",\"secret\":");
                sb_json_string(&b, secret, strlen(secret));
            }
            sb_puts(&b, "}\n");
            result = reply_text(cn, c, MHD_HTTP_CREATED, &b, "application/json");
        }
    }
    json_decref(root);
    return result;
}

enum MHD_Result webhook_route(struct conn *cn, struct MHD_Connection *c)
{
    struct webhooks *w = cn->gw->hooks;
    const char *id = cn->route.topic;
    struct strbuf b = {0};
    int rc;
    switch (cn->route.kind) {
    case ROUTE_WEBHOOK_CREATE:
        return create(cn, c);
    case ROUTE_WEBHOOK_LIST:
        webhook_render(w, NULL, &b);
        return reply_text(cn, c, MHD_HTTP_OK, &b, "application/json");
    case ROUTE_WEBHOOK_GET:
        rc = webhook_render(w, id, &b);
        if (rc == 0)
            return reply_text(cn, c, MHD_HTTP_OK, &b, "application/json");
        sb_free(&b);
        break;
    case ROUTE_WEBHOOK_DELETE:
        rc = webhook_delete(w, id);
        if (rc == 0)
            return reply_text(cn, c, MHD_HTTP_NO_CONTENT, &b, "application/json");
        break;
    case ROUTE_WEBHOOK_ENABLE: /* answers the endpoint as it is now */
        rc = webhook_enable(w, id);
        if (rc == 0)
            rc = webhook_render(w, id, &b);
        if (rc == 0)
            return reply_text(cn, c, MHD_HTTP_OK, &b, "application/json");
        sb_free(&b);
        break;
    default:
        return MHD_NO;
    }
    if (rc != -ENOENT) /* not "unknown" when the id is known (-ENOMEM, ...) */
        return reply_bus_error(cn, c, rc);
    return reply_error(cn, c, MHD_HTTP_NOT_FOUND, "unknown_webhook", "no webhook has this id");
}
