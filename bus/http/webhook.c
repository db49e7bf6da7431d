/* webhook.c - the webhook registry: endpoints checked and added (declared
 * in the config or posted), each fed by a pattern subscription whose
 * handler queues the event for the sender thread (webhook_send.c). */
#include "webhook.h"

#include <errno.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../clock.h"
#include "route.h"

/* A durable delivery that the log gave back at the start and that its
 * consumer delivers again (its position was stored before the kill, the
 * log line after): queued already. Looked for only while some replayed
 * delivery is queued: not for ever on an endpoint whose queue never
 * empties (a scan of up to max_pending deliveries under the lock). */
static bool queued_already(struct webhook *h, const char *id)
{
    if (!h->replayed)
        return false;
    for (const struct delivery *d = h->head; d; d = d->next)
        if (d->durable && !strcmp(d->id, id))
            return true;
    return false;
}

int webhook_queue(struct webhook *h, const bus_event_t *ev, bool durable)
{
    struct webhooks *w = h->all;
    struct delivery *d = malloc(sizeof(*d) + ev->size);
    char *topic = strdup(bus_topic_name(ev->topic));
    pthread_mutex_lock(&w->lock);
    const char *refused = !d || !topic                        ? "out of memory"
                          : h->disabled                       ? "endpoint disabled"
                          : h->pending >= w->cfg->max_pending ? "max_pending reached"
                                                              : NULL;
    int rc = 0;
    if (!h->listed) {
        /* Not listed yet (being added) or no longer: the webhook gets the
         * events published while it is listed. */
        rc = -EPIPE;
    } else if (refused && durable) {
        rc = -EAGAIN; /* the journal keeps the event: tried again */
    } else if (refused) {
        h->failed++;
        snprintf(h->last_error, sizeof(h->last_error), "%s", refused);
        rc = -ECANCELED;
    } else {
        *d = (struct delivery){.hook = h, .topic = topic, .seq = ev->seq,
                               .publish_ns = ev->publish_ns, .due_ns = clock_now_ns(),
                               .len = ev->size, .durable = durable};
        memcpy(d->body, ev->data, ev->size);
        d->msg_no = h->next_msg + 1;
        if (durable)
            hook_durable_id(h, topic, ev->seq, d->id);
        else
            snprintf(d->id, sizeof(d->id), "msg_%s_%" PRIu64, h->id, d->msg_no);
        if (durable && queued_already(h, d->id))
            refused = "queued already";
        else if (store_queued(w, d) && durable)
            rc = -EAGAIN; /* not in the log: not acknowledged, tried again */
    }
    if (!rc && !refused) {
        h->next_msg++;
        delivery_append(d);
    }
    pthread_mutex_unlock(&w->lock);
    if (rc || refused) {
        free(d);
        free(topic);
    } else {
        curl_multi_wakeup(w->multi);
    }
    return rc;
}

/* The pattern subscription's handler: the events of topics that are not
 * durable (or not declared durable), queued in memory (and in the
 * state_dir's log). It never fails the bus's delivery: what cannot be
 * queued is counted as failed on the endpoint, where the operator looks. */
static int on_event(const bus_event_t *ev, void *ctx)
{
    struct webhook *h = ctx;
    if (hook_durable_covers(h, ev->topic))
        return 0; /* its durable consumer delivers it */
    webhook_queue(h, ev, false);
    return 0;
}

/* An absolute http or https URL to an allowed host; NULL code when so.
 * The sender checks again the address each connection goes to. */
static struct webhook_problem check_url(const struct host_allow *allow, const char *url)
{
    struct webhook_problem p = {"bad_url", "url: not an absolute http or https URL"};
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL;
    if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK && *host &&
        (!strcasecmp(scheme, "http") || !strcasecmp(scheme, "https"))) {
        if (host_allow_url(allow, host))
            p = (struct webhook_problem){NULL, NULL};
        else
            p = (struct webhook_problem){"forbidden_host",
                                         "url: host not allowed by [webhooks] allow_hosts "
                                         "or deny_private"};
    }
    curl_free(scheme);
    curl_free(host);
    curl_url_cleanup(u);
    return p;
}

static struct webhook *find(struct webhooks *w, const char *id)
{
    for (struct webhook *h = w->list; h; h = h->next)
        if (!strcmp(h->id, id))
            return h;
    return NULL;
}

static size_t count(const struct webhooks *w)
{
    size_t n = 0;
    for (const struct webhook *h = w->list; h; h = h->next)
        n++;
    return n;
}

/* A new secret: 32 random bytes, as whsec_<base64>. */
static int new_secret(char *out)
{
    unsigned char raw[32];
    if (RAND_bytes(raw, sizeof(raw)) != 1)
        return -EIO;
    memcpy(out, "whsec_", 6);
    EVP_EncodeBlock((unsigned char *)out + 6, raw, sizeof(raw));
    return 0;
}

static int new_id(char *out)
{
    unsigned char raw[8];
    if (RAND_bytes(raw, sizeof(raw)) != 1)
        return -EIO;
    strcpy(out, "wh_");
    for (size_t i = 0; i < sizeof(raw); i++)
        sprintf(out + 3 + 2 * i, "%02x", raw[i]);
    return 0;
}

void webhook_free(struct webhook *h)
{
    free(h->durable);
    free(h->pattern);
    free(h->url);
    free(h);
}

int webhook_add(struct webhooks *w, const struct webhook_cfg *def,
                struct webhook_problem *problem, char *id_out, char *secret_out)
{
    *problem = (struct webhook_problem){NULL, NULL};
    if (!def->pattern || !topic_pattern_valid(def->pattern))
        *problem = (struct webhook_problem){"bad_pattern",
                                            "pattern: topic tokens, * or a last >"};
    else if (!def->url)
        *problem = (struct webhook_problem){"bad_url", "url: missing"};
    else
        *problem = check_url(&w->allow, def->url);
    if (problem->code)
        return -EINVAL;
    struct webhook *h = calloc(1, sizeof(*h));
    if (!h)
        return -ENOMEM;
    h->all = w;
    h->ordered = def->ordered;
    h->max_in_flight = h->ordered ? 1 : def->max_in_flight ? def->max_in_flight
                                                           : w->cfg->max_in_flight;
    h->pattern = strdup(def->pattern);
    h->url = strdup(def->url);
    int rc = h->pattern && h->url ? 0 : -ENOMEM;
    char generated[96];
    const char *secret = def->secret;
    if (!rc && !secret) {
        rc = new_secret(generated);
        secret = generated;
    }
    if (!rc && (secret_decode(secret, h->key, &h->klen) || h->klen < 24)) {
        *problem = (struct webhook_problem){"bad_secret",
                                            "secret: whsec_ and the base64 of 24 to 64 bytes"};
        rc = -EINVAL;
    }
    if (!rc && def->name)
        snprintf(h->id, sizeof(h->id), "%s", def->name);
    else if (!rc)
        rc = new_id(h->id);
    /* Its durable topics known before its pattern subscription passes
     * their events over. */
    if (!rc)
        rc = hook_durable_plan(w, h);
    if (!rc)
        rc = bus_subscribe_pattern(w->bus, h->pattern, on_event, h, NULL, &h->sub);
    pthread_mutex_lock(&w->lock);
    if (!rc && find(w, h->id))
        rc = -EEXIST; /* before its consumers, which would take the other's names */
    /* While the state_dir loads, its consumers wait for the log to be open
     * (webhooks_start attaches them). */
    bool attach = !w->loading;
    pthread_mutex_unlock(&w->lock);
    /* Every subscription is made before it is listed: a DELETE may come as
     * soon as it is (GET /v1/webhooks shows it) and must find them all, and
     * nothing here may touch @h after that. Until then its durable
     * consumers' events are refused (not listed) and tried again. */
    if (!rc && attach && (rc = hook_durable_attach(h, true)))
        *problem = (struct webhook_problem){"not_subscribed",
                                            "its durable topics cannot be subscribed"};
    char id[WEBHOOK_ID_MAX];
    snprintf(id, sizeof(id), "%s", h->id);
    if (!rc) {
        pthread_mutex_lock(&w->lock);
        if (find(w, h->id))
            rc = -EEXIST;
        else if (count(w) >= w->cfg->max_webhooks)
            rc = -ENOSPC;
        else {
            h->next = w->list;
            w->list = h;
            h->listed = true;
        }
        pthread_mutex_unlock(&w->lock);
    }
    if (rc) {
        if (h->sub)
            bus_unsubscribe(h->sub);
        hook_durable_detach(h, attach); /* forgets the positions just made */
        webhook_free(h);
        return rc;
    }
    pthread_mutex_lock(&w->lock);
    rc = store_save_definitions(w);
    pthread_mutex_unlock(&w->lock);
    if (rc) {
        *problem = (struct webhook_problem){"not_saved", "the state_dir cannot be written"};
        webhook_delete(w, id);
        return rc;
    }
    if (id_out)
        strcpy(id_out, id);
    if (secret_out)
        strcpy(secret_out, def->secret ? "" : generated);
    return 0;
}

/* Detaches @h, unlinked from the live list, from its subscription and
 * drops its queue: @forget (a delete) logs the deliveries as done; at a
 * stop they stay pending in the state_dir. The caller holds no lock (the
 * unsubscribe waits for handler calls, which take it). */
static void retire(struct webhooks *w, struct webhook *h, bool forget)
{
    if (h->sub)
        bus_unsubscribe(h->sub);
    hook_durable_detach(h, forget);
    pthread_mutex_lock(&w->lock);
    for (struct delivery *d = h->head, *next; d; d = next) {
        next = d->next;
        if (!d->in_flight && forget)
            delivery_finish(d);
        else if (!d->in_flight)
            delivery_drop(d);
    }
    h->gone = true;
    h->next = w->graves;
    w->graves = h; /* the sender frees it once nothing is in flight */
    pthread_mutex_unlock(&w->lock);
    curl_multi_wakeup(w->multi);
}

int webhook_delete(struct webhooks *w, const char *id)
{
    pthread_mutex_lock(&w->lock);
    struct webhook **p = &w->list;
    while (*p && strcmp((*p)->id, id))
        p = &(*p)->next;
    struct webhook *h = *p;
    if (h) {
        *p = h->next;
        h->listed = false;
        store_save_definitions(w); /* on failure, it comes back at a restart */
    }
    pthread_mutex_unlock(&w->lock);
    if (!h)
        return -ENOENT;
    retire(w, h, true);
    return 0;
}

int webhook_enable(struct webhooks *w, const char *id)
{
    pthread_mutex_lock(&w->lock);
    struct webhook *h = find(w, id);
    if (h && h->disabled) {
        h->disabled = false;
        h->failing_since_ns = 0;
    }
    pthread_mutex_unlock(&w->lock);
    return h ? 0 : -ENOENT;
}

/* Unix ms of a CLOCK_MONOTONIC time. */
static uint64_t wall_ms_of(uint64_t mono_ns)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t wall = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    return (uint64_t)(wall + ((int64_t)mono_ns - (int64_t)clock_now_ns()) / 1000000);
}

/* Retries stay in their place in the queue, so the next one is among the
 * oldest: a look at the first NEXT_SCAN bounds the time the lock is held
 * when a backlog is long. */
#define NEXT_SCAN 1024

static void render_one(const struct webhook *h, struct strbuf *b)
{
    uint64_t next = 0;
    int seen = 0;
    for (const struct delivery *d = h->head; d && seen < NEXT_SCAN; d = d->next, seen++)
        if (!d->in_flight && d->attempts && (!next || d->due_ns < next))
            next = d->due_ns;
    sb_puts(b, "{\"id\":");
    sb_json_string(b, h->id, strlen(h->id));
    sb_puts(b, ",\"pattern\":");
    sb_json_string(b, h->pattern, strlen(h->pattern));
    sb_puts(b, ",\"url\":");
    sb_json_string(b, h->url, strlen(h->url));
    sb_printf(b,
              ",\"ordered\":%s,\"max_in_flight\":%u,\"state\":\"%s\",\"delivered\":%" PRIu64
              ",\"failed\":%" PRIu64 ",\"failed_attempts\":%" PRIu64
              ",\"pending\":%u,\"in_flight\":%u,\"last_error\":",
              h->ordered ? "true" : "false", h->max_in_flight,
              h->disabled ? "disabled" : h->failing_since_ns ? "failing" : "ok", h->delivered,
              h->failed, h->failed_attempts, h->pending, h->in_flight);
    if (h->last_error[0])
        sb_json_string(b, h->last_error, strlen(h->last_error));
    else
        sb_puts(b, "null");
    sb_puts(b, ",\"next_attempt_ms\":");
    if (next)
        sb_printf(b, "%" PRIu64, wall_ms_of(next));
    else
        sb_puts(b, "null");
    sb_puts(b, ",\"dead_letters\":[");
    uint64_t kept = h->dead_total < WEBHOOK_DEAD_KEEP ? h->dead_total : WEBHOOK_DEAD_KEEP;
    for (uint64_t i = 0; i < kept; i++) {
        const struct dead_letter *l = &h->dead[(h->dead_total - kept + i) % WEBHOOK_DEAD_KEEP];
        sb_puts(b, i ? ",{\"id\":" : "{\"id\":");
        sb_json_string(b, l->id, strlen(l->id));
        sb_puts(b, ",\"topic\":");
        sb_json_string(b, l->topic, strlen(l->topic));
        sb_printf(b, ",\"seq\":%" PRIu64 ",\"attempts\":%u,\"error\":", l->seq, l->attempts);
        sb_json_string(b, l->error, strlen(l->error));
        sb_puts(b, "}");
    }
    sb_puts(b, "]}");
}

int webhook_render(struct webhooks *w, const char *id, struct strbuf *b)
{
    int rc = 0;
    pthread_mutex_lock(&w->lock);
    if (id) {
        const struct webhook *h = find(w, id);
        if (h)
            render_one(h, b);
        else
            rc = -ENOENT;
    } else {
        sb_puts(b, "{\"webhooks\":[");
        for (const struct webhook *h = w->list; h; h = h->next) {
            render_one(h, b);
            if (h->next)
                sb_puts(b, ",");
        }
        sb_puts(b, "]}");
    }
    pthread_mutex_unlock(&w->lock);
    sb_puts(b, "\n");
    return rc ? rc : b->failed ? -ENOMEM : 0;
}

void webhook_render_delivered(struct webhooks *w, struct strbuf *b)
{
    sb_puts(b, "{");
    pthread_mutex_lock(&w->lock);
    for (const struct webhook *h = w->list; h; h = h->next) {
        sb_json_string(b, h->id, strlen(h->id));
        sb_printf(b, ":%" PRIu64 "%s", h->delivered, h->next ? "," : "");
    }
    pthread_mutex_unlock(&w->lock);
    sb_puts(b, "}");
}

int webhooks_start(struct webhooks **out, bus_t *bus, const struct gw_config *cfg,
                   char *why, size_t why_size)
{
    struct webhooks *w = calloc(1, sizeof(*w));
    if (!w)
        return -ENOMEM;
    w->bus = bus;
    w->cfg = &cfg->hooks;
    w->gw_cfg = cfg;
    w->rand_state = (unsigned)clock_now_ns();
    w->log_fd = -1;
    w->loading = true; /* declared endpoints are not saved */
    int allow_rc = host_allow_init(&w->allow, &cfg->hooks, why, why_size);
    if (allow_rc) {
        free(w);
        return allow_rc;
    }
    pthread_mutex_init(&w->lock, NULL);
    w->multi = curl_multi_init();
    if (!w->multi || pthread_create(&w->sender, NULL, webhook_sender_main, w) != 0) {
        if (w->multi)
            curl_multi_cleanup(w->multi);
        pthread_mutex_destroy(&w->lock);
        host_allow_free(&w->allow);
        free(w);
        return -ENOMEM;
    }
    *out = w;
    for (size_t i = 0; i < cfg->nwebhooks; i++) {
        struct webhook_problem p;
        int rc = webhook_add(w, &cfg->webhooks[i], &p, NULL, NULL);
        if (rc) {
            snprintf(why, why_size, "[webhook %s]: %s", cfg->webhooks[i].name,
                     p.msg ? p.msg : bus_strerror(rc));
            webhooks_stop(w);
            *out = NULL;
            return rc;
        }
    }
    pthread_mutex_lock(&w->lock);
    for (struct webhook *h = w->list; h; h = h->next)
        h->declared = true;
    if (!cfg->hooks.state_dir)
        w->loading = false;
    pthread_mutex_unlock(&w->lock);
    int rc = store_open(w, cfg->hooks.state_dir, why, why_size);
    /* The log is open and replayed: durable consumers may acknowledge. */
    for (struct webhook *h = w->list; h && !rc; h = h->next) {
        rc = hook_durable_attach(h, false);
        if (rc)
            snprintf(why, why_size, "webhook %s: its durable topics: %s", h->id,
                     bus_last_error());
    }
    if (rc) {
        webhooks_stop(w);
        *out = NULL;
    }
    return rc;
}

void webhooks_stop(struct webhooks *w)
{
    for (;;) {
        pthread_mutex_lock(&w->lock);
        struct webhook *h = w->list;
        if (h) {
            w->list = h->next;
            h->listed = false;
        }
        pthread_mutex_unlock(&w->lock);
        if (!h)
            break;
        retire(w, h, false);
    }
    pthread_mutex_lock(&w->lock);
    w->stop = true;
    pthread_mutex_unlock(&w->lock);
    curl_multi_wakeup(w->multi);
    pthread_join(w->sender, NULL); /* it aborts what is in flight and frees the graves */
    curl_multi_cleanup(w->multi);
    store_close(w);
    pthread_mutex_destroy(&w->lock);
    host_allow_free(&w->allow);
    free(w);
}
