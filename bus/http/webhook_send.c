/* webhook_send.c - the sender thread: one libcurl multi handle, many
 * attempts in flight, none with a thread of its own. It starts the
 * deliveries that are due (per endpoint, up to max_in_flight, the queue's
 * head only when ordered), waits in curl_multi_poll() until an attempt ends,
 * the next one is due or a handler queues an event (curl_multi_wakeup()),
 * and settles each attempt: a 2xx is success, anything else (another
 * status, a timeout, a refused connection) a retry after the schedule's
 * next wait with jitter, or the dead letters after the last. */
#include "webhook.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "../clock.h"

#define IDLE_WAIT_MS 1000

static void unlink_delivery(struct delivery *d)
{
    struct webhook *h = d->hook;
    if (d->prev)
        d->prev->next = d->next;
    else
        h->head = d->next;
    if (d->next)
        d->next->prev = d->prev;
    else
        h->tail = d->prev;
    h->pending--;
    if (d->replayed)
        h->replayed--;
}

void delivery_append(struct delivery *d)
{
    struct webhook *h = d->hook;
    d->prev = h->tail;
    d->next = NULL;
    if (h->tail)
        h->tail->next = d;
    else
        h->head = d;
    h->tail = d;
    h->pending++;
}

void delivery_drop(struct delivery *d)
{
    unlink_delivery(d);
    free(d->topic);
    free(d);
}

void delivery_finish(struct delivery *d)
{
    store_done(d->hook->all, d);
    delivery_drop(d);
}

void delivery_bury(struct delivery *d, const char *why)
{
    struct webhook *h = d->hook;
    struct dead_letter *l = &h->dead[h->dead_total++ % WEBHOOK_DEAD_KEEP];
    snprintf(l->id, sizeof(l->id), "%s", d->id);
    snprintf(l->topic, sizeof(l->topic), "%s", d->topic);
    l->seq = d->seq;
    l->attempts = d->attempts;
    snprintf(l->error, sizeof(l->error), "%s", why);
    h->failed++;
    delivery_finish(d);
}

/* libcurl's socket for a connection, once DNS has given its address and
 * before it connects: refused (the attempt fails) when [webhooks]
 * allow_hosts or deny_private does not allow the address, whatever the
 * URL's host name said. Called by the sender thread, in
 * curl_multi_perform(); the delivery is its own while in flight. */
static curl_socket_t open_socket(void *arg, curlsocktype purpose, struct curl_sockaddr *a)
{
    struct delivery *d = arg;
    if (purpose == CURLSOCKTYPE_IPCXN && !host_allow_address(&d->hook->all->allow, &a->addr)) {
        char text[INET6_ADDRSTRLEN] = "?";
        const void *addr = a->family == AF_INET6
                               ? (const void *)&((struct sockaddr_in6 *)&a->addr)->sin6_addr
                               : (const void *)&((struct sockaddr_in *)&a->addr)->sin_addr;
        inet_ntop(a->family, addr, text, sizeof(text));
        free(d->refused);
        d->refused = strdup(text);
        return CURL_SOCKET_BAD;
    }
    return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

static size_t discard(char *p, size_t size, size_t n, void *arg)
{
    (void)p;
    (void)arg;
    return size * n;
}

/* The attempt's request: the event as the body, signed now. */
static int begin_attempt(struct webhooks *w, struct delivery *d)
{
    struct webhook *h = d->hook;
    int64_t now_s = (int64_t)time(NULL);
    char sig[BUS_HTTP_WEBHOOK_SIGNATURE_MAX], line[512];
    if (sign_with_key(h->key, h->klen, d->id, now_s, d->body, d->len, sig, sizeof(sig)))
        return -EINVAL;
    CURL *e = curl_easy_init();
    if (!e)
        return -ENOMEM;
    struct curl_slist *hd = NULL;
    const char *lines[] = {"webhook-id: %s", "webhook-signature: %s", "bus-topic: %s"};
    const char *values[] = {d->id, sig, d->topic};
    for (size_t i = 0; i < 3; i++) {
        snprintf(line, sizeof(line), lines[i], values[i]);
        hd = curl_slist_append(hd, line);
    }
    snprintf(line, sizeof(line), "webhook-timestamp: %" PRId64, now_s);
    hd = curl_slist_append(hd, line);
    snprintf(line, sizeof(line), "bus-seq: %" PRIu64, d->seq);
    hd = curl_slist_append(hd, line);
    hd = curl_slist_append(hd, "Content-Type: application/octet-stream");
    hd = curl_slist_append(hd, "Expect:"); /* no 100-continue round trip */
    d->headers = hd;
    d->easy = e;
    curl_easy_setopt(e, CURLOPT_URL, h->url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, hd);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, (const char *)d->body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)d->len);
    curl_easy_setopt(e, CURLOPT_PRIVATE, d);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)w->cfg->timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)w->cfg->connect_timeout_ms);
    /* A 3xx is a failure: a receiver cannot send the gateway elsewhere. */
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, open_socket);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, d);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "bus-gateway webhooks");
    if (!hd || curl_multi_add_handle(w->multi, e) != CURLM_OK) {
        curl_slist_free_all(hd);
        curl_easy_cleanup(e);
        d->easy = NULL;
        d->headers = NULL;
        return -ENOMEM;
    }
    d->in_flight = true;
    d->attempts++;
    h->in_flight++;
    return 0;
}

/* Starts @h's deliveries that are due; lowers *@next_ns to the first one
 * that is not yet. */
static void start_due(struct webhooks *w, struct webhook *h, uint64_t now, uint64_t *next_ns)
{
    for (struct delivery *d = h->head; d && h->in_flight < h->max_in_flight; d = d->next) {
        if (d->in_flight) {
            if (h->ordered)
                return;
            continue;
        }
        if (d->due_ns > now) {
            if (d->due_ns < *next_ns)
                *next_ns = d->due_ns;
            if (h->ordered)
                return; /* the head waits; the rest wait behind it */
            continue;
        }
        if (begin_attempt(w, d)) {
            d->due_ns = now + 1000000000u; /* out of memory: try again in a second */
            continue;
        }
        if (h->ordered)
            return;
    }
}

/* The wait before attempt @attempts + 1, with jitter of +-20 %. */
static uint64_t retry_wait_ns(struct webhooks *w, uint32_t attempts)
{
    uint64_t ms = w->cfg->schedule_ms[attempts - 1];
    uint64_t span = ms * 2 / 5;
    uint64_t jitter = span ? (uint64_t)rand_r(&w->rand_state) % (span + 1) : 0;
    return (ms - ms / 5 + jitter) * 1000000u;
}

/* The endpoint's queue goes to its dead letters, with the failure that
 * disabled it. */
static void disable(struct webhook *h)
{
    h->disabled = true;
    for (struct delivery *d = h->head, *next; d; d = next) {
        next = d->next;
        if (!d->in_flight)
            delivery_bury(d, h->last_error);
    }
}

/* An attempt ended: success, retry or dead letter. Under the lock. */
static void settle(struct webhooks *w, struct delivery *d, CURLcode result)
{
    struct webhook *h = d->hook;
    long status = 0;
    curl_easy_getinfo(d->easy, CURLINFO_RESPONSE_CODE, &status);
    curl_multi_remove_handle(w->multi, d->easy);
    curl_easy_cleanup(d->easy);
    curl_slist_free_all(d->headers);
    d->easy = NULL;
    d->headers = NULL;
    d->in_flight = false;
    h->in_flight--;
    char refused[INET6_ADDRSTRLEN] = "";
    if (d->refused) {
        snprintf(refused, sizeof(refused), "%s", d->refused);
        free(d->refused);
        d->refused = NULL;
    }
    if (h->gone) {
        delivery_drop(d);
        return;
    }
    uint64_t now = clock_now_ns();
    if (result == CURLE_OK && status >= 200 && status < 300) {
        h->delivered++;
        h->failing_since_ns = 0;
        delivery_finish(d);
        return;
    }
    h->failed_attempts++;
    if (result != CURLE_OK && refused[0])
        snprintf(h->last_error, sizeof(h->last_error), "address %s not allowed by [webhooks] %s (%s)",
                 refused, w->allow.nnames ? "allow_hosts" : "deny_private",
                 curl_easy_strerror(result));
    else if (result != CURLE_OK)
        snprintf(h->last_error, sizeof(h->last_error), "%s", curl_easy_strerror(result));
    else
        snprintf(h->last_error, sizeof(h->last_error), "HTTP status %ld", status);
    if (!h->failing_since_ns)
        h->failing_since_ns = now;
    if (d->attempts > w->cfg->nschedule || h->disabled)
        delivery_bury(d, h->last_error);
    else
        d->due_ns = now + retry_wait_ns(w, d->attempts);
    /* 410 Gone: the receiver asks to stop (Standard Webhooks). */
    if (!h->disabled && (status == 410 || now - h->failing_since_ns >=
                                              (uint64_t)w->cfg->disable_after_s * 1000000000u))
        disable(h);
}

static void free_graves(struct webhooks *w)
{
    for (struct webhook **p = &w->graves; *p;) {
        struct webhook *h = *p;
        if (h->in_flight) {
            p = &h->next;
            continue;
        }
        *p = h->next;
        webhook_free(h);
    }
}

/* At stop: every attempt in flight is abandoned. */
static void abort_all(struct webhooks *w)
{
    for (struct webhook *h = w->graves; h; h = h->next)
        for (struct delivery *d = h->head, *next; d; d = next) {
            next = d->next;
            if (d->in_flight)
                settle(w, d, CURLE_ABORTED_BY_CALLBACK);
        }
    free_graves(w);
}

void *webhook_sender_main(void *arg)
{
    struct webhooks *w = arg;
    pthread_mutex_lock(&w->lock);
    while (!w->stop) {
        uint64_t now = clock_now_ns();
        uint64_t next = now + (uint64_t)IDLE_WAIT_MS * 1000000u;
        free_graves(w);
        for (struct webhook *h = w->list; h; h = h->next)
            if (!h->disabled)
                start_due(w, h, now, &next);
        pthread_mutex_unlock(&w->lock);

        int running;
        curl_multi_perform(w->multi, &running);
        struct CURLMsg *m;
        int left;
        bool settled = false;
        while ((m = curl_multi_info_read(w->multi, &left))) {
            if (m->msg != CURLMSG_DONE)
                continue;
            struct delivery *d;
            curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&d);
            CURLcode result = m->data.result;
            pthread_mutex_lock(&w->lock);
            settle(w, d, result);
            store_maybe_reset(w);
            pthread_mutex_unlock(&w->lock);
            settled = true;
        }
        /* Attempts that ended leave room for the next ones: start them
         * before waiting (idle cached connections do not wake the poll). */
        now = clock_now_ns();
        int wait_ms = settled || next <= now ? 0 : (int)((next - now + 999999) / 1000000);
        curl_multi_poll(w->multi, NULL, 0, wait_ms, NULL);
        pthread_mutex_lock(&w->lock);
    }
    abort_all(w);
    pthread_mutex_unlock(&w->lock);
    return NULL;
}
