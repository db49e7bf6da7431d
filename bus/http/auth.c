/* auth.c - Bearer tokens and their rights, by topic pattern. */
#include "gateway.h"

#include <string.h>

/* Compares in time that depends on the lengths only, not on where the
 * first difference is. */
static bool same_secret(const char *a, size_t an, const char *b)
{
    size_t bn = strlen(b);
    unsigned char diff = an != bn;
    for (size_t i = 0; i < an && i < bn; i++)
        diff |= (unsigned char)(a[i] ^ b[i]);
    return diff == 0;
}

static bool allowed(char *const *patterns, size_t n, const char *topic)
{
    for (size_t i = 0; i < n; i++)
        if (subject_matches(patterns[i], topic))
            return true;
    return false;
}

int auth_check(const struct bus_http *gw, struct MHD_Connection *c, const char *right,
               const char *topic)
{
    if (gw->cfg.ntokens == 0)
        return 0;
    const char *token;
    size_t len;
    const char *header = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                     MHD_HTTP_HEADER_AUTHORIZATION);
    const char *query = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "token");
    if (!parse_bearer(header, &token, &len)) {
        if (!query || !*query)
            return MHD_HTTP_UNAUTHORIZED;
        token = query; /* ?token=, for the dashboard's EventSource */
        len = strlen(query);
    }
    const struct token_cfg *found = NULL;
    for (size_t i = 0; i < gw->cfg.ntokens; i++)
        if (same_secret(token, len, gw->cfg.tokens[i].secret) && !found)
            found = &gw->cfg.tokens[i];
    if (!found)
        return MHD_HTTP_UNAUTHORIZED;
    if (!right)
        return 0;
    if (!strcmp(right, "webhooks"))
        return found->webhooks ? 0 : MHD_HTTP_FORBIDDEN;
    bool ok = !strcmp(right, "publish")
                  ? allowed(found->publish, found->npublish, topic)
                  : allowed(found->subscribe, found->nsubscribe, topic);
    return ok ? 0 : MHD_HTTP_FORBIDDEN;
}
