/* bridge.c - bus_nats_create() and bus_nats_destroy(): the two connections,
 * the imports on NATS, the exports on the bus, and the orderly stop. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bridge.h"

void bus__nats_import_done(struct bus_nats *b)
{
    /* bus_nats_destroy() frees the bridge once it sees inflight at 0, so
     * nothing may touch the bridge after the decrement that makes it 0:
     * that one is made under the lock the waiter reads inflight under
     * (and wakes it there); the others are a compare-and-swap that never
     * goes below 1. seq_cst as every access to inflight: see
     * bus__nats_import_begin() (import.c). */
    uint64_t n = atomic_load_explicit(&b->inflight, memory_order_seq_cst);
    while (n > 1)
        if (atomic_compare_exchange_weak_explicit(&b->inflight, &n, n - 1, memory_order_seq_cst,
                                                  memory_order_seq_cst))
            return;
    pthread_mutex_lock(&b->lock);
    atomic_fetch_sub_explicit(&b->inflight, 1, memory_order_seq_cst);
    if (atomic_load_explicit(&b->closing, memory_order_seq_cst))
        pthread_cond_broadcast(&b->idle);
    pthread_mutex_unlock(&b->lock);
}

/* The servers as cnats wants them: an array of URLs. */
static natsStatus set_servers(natsOptions *opts, const char *list)
{
    char copy[sizeof(((bus_nats_config_t *)0)->servers)];
    const char *urls[64];
    int n = 0;
    snprintf(copy, sizeof(copy), "%s", list);
    for (char *save = NULL, *u = strtok_r(copy, ",", &save); u && n < 64;
         u = strtok_r(NULL, ",", &save))
        urls[n++] = u;
    if (n == 0)
        return NATS_INVALID_ARG;
    return natsOptions_SetServers(opts, urls, n);
}

static natsStatus make_options(struct bus_nats *b, const bus_nats_config_t *cfg, bool asap,
                               natsOptions **out)
{
    natsOptions *o = NULL;
    natsStatus s = natsOptions_Create(&o);
    if (s == NATS_OK)
        s = set_servers(o, cfg->servers);
    if (s == NATS_OK && cfg->name)
        s = natsOptions_SetName(o, cfg->name);
    if (s == NATS_OK && cfg->token)
        s = natsOptions_SetToken(o, cfg->token);
    if (s == NATS_OK && cfg->user)
        s = natsOptions_SetUserInfo(o, cfg->user, cfg->password);
    if (s == NATS_OK && cfg->tls_ca_file)
        s = natsOptions_LoadCATrustedCertificates(o, cfg->tls_ca_file);
    if (s == NATS_OK && cfg->tls_cert_file)
        s = natsOptions_LoadCertificatesChain(o, cfg->tls_cert_file, cfg->tls_key_file);
    if (s == NATS_OK)
        s = natsOptions_SetTimeout(o, cfg->connect_timeout_ms);
    if (s == NATS_OK)
        s = natsOptions_SetMaxReconnect(o, cfg->max_reconnect);
    if (s == NATS_OK)
        s = natsOptions_SetReconnectWait(o, cfg->reconnect_wait_ms);
    if (s == NATS_OK)
        s = natsOptions_SetReconnectBufSize(o, (int)cfg->reconnect_buf_bytes);
    if (s == NATS_OK) /* the process's own messages never come back to it */
        s = natsOptions_SetNoEcho(o, true);
    if (s == NATS_OK)
        s = natsOptions_SetSendAsap(o, asap);
    if (s == NATS_OK)
        s = bus__nats_watch_state(o, b, !asap);
    if (s == NATS_OK && cfg->retry_on_failed_connect)
        s = bus__nats_retry_connect(o, b);
    if (s != NATS_OK) {
        natsOptions_Destroy(o);
        return s;
    }
    *out = o;
    return NATS_OK;
}

static natsStatus open_connection(struct bus_nats *b, const bus_nats_config_t *cfg, bool asap,
                          natsConnection **out)
{
    natsOptions *o = NULL;
    natsStatus s = make_options(b, cfg, asap, &o);
    if (s != NATS_OK)
        return s;
    s = natsConnection_Connect(out, o);
    /* Retrying in the background: not connected yet, not a failure. */
    if (s == NATS_NOT_YET_CONNECTED)
        s = NATS_OK;
    if (s == NATS_OK) {
        pthread_mutex_lock(&b->lock);
        b->open_conns++;
        pthread_mutex_unlock(&b->lock);
    }
    natsOptions_Destroy(o); /* the connection keeps its own copy */
    return s;
}

static int check_config(const bus_nats_config_t *cfg)
{
    if (!cfg->servers[0])
        return bus__nats_fail_text(-EINVAL, "bus_nats_create: no server (servers is empty)");
    if (cfg->n_exports > BUS_NATS_MAX_PATTERNS || cfg->n_imports > BUS_NATS_MAX_PATTERNS)
        return bus__nats_fail_text(-EINVAL, "bus_nats_create: more than 16 exports or imports");
    if (cfg->backoff_count && !cfg->backoff_ns)
        return bus__nats_fail_text(-EINVAL, "bus_nats_create: backoff_ns NULL with a count");
    if (cfg->export_buf_bytes < 2)
        return bus__nats_fail_text(-EINVAL, "bus_nats_create: export_buf_bytes under 2");
    if (strlen(cfg->subject_prefix) >= BUS_NATS_NAME_MAX)
        return bus__nats_fail_text(-EINVAL, "bus_nats_create: subject_prefix not terminated");
    return bus__nats_check_tls(cfg);
}

/* The first connection failed. A server that verifies client certificates
 * ends the TLS session of a client it does not accept without a word cnats
 * can report (TLS 1.3: after the client's side of the handshake, so cnats
 * says "Expected 'PONG', got ''" or that the connection closed): when the
 * server's INFO says it verifies clients, the bridge says so. */
static int connect_failed(const bus_nats_config_t *cfg, natsStatus s)
{
    bool silent = s == NATS_PROTOCOL_ERROR || s == NATS_CONNECTION_CLOSED ||
                  s == NATS_IO_ERROR || s == NATS_SSL_ERROR;
    if (!silent || !bus__nats_server_verifies_clients(cfg))
        return bus__nats_fail(s, "bus_nats_create: connect");
    char why[1024], cnats[512];
    bus__nats_fail(s, "cnats");
    snprintf(cnats, sizeof(cnats), "%s", bus_nats_last_error());
    if (cfg->tls_cert_file)
        snprintf(why, sizeof(why),
                 "bus_nats_create: connect: the server verifies TLS client certificates "
                 "(tls_verify) and refused tls_cert_file %s: is it signed by a CA the server "
                 "trusts? (%s)", cfg->tls_cert_file, cnats);
    else
        snprintf(why, sizeof(why),
                 "bus_nats_create: connect: the server requires a TLS client certificate "
                 "(tls_verify): set tls_cert_file and tls_key_file (%s)", cnats);
    return bus__nats_fail_text(-EACCES, why);
}

static int start(struct bus_nats *b, const bus_nats_config_t *cfg)
{
    natsStatus s = open_connection(b, cfg, false, &b->nc);
    if (s != NATS_OK)
        return connect_failed(cfg, s);
    s = open_connection(b, cfg, true, &b->asap);
    if (s != NATS_OK)
        return bus__nats_fail(s, "bus_nats_create: connect (requests)");
    if (cfg->jetstream && (s = bus__nats_js_start(b, cfg)) != NATS_OK)
        return bus__nats_fail(s, "bus_nats_create: JetStream");
    for (unsigned i = 0; i < cfg->n_imports; i++) {
        s = cfg->jetstream ? bus__nats_js_import(b, cfg, i, &b->imports[i])
                           : bus__nats_import(b, &cfg->imports[i], cfg->pending_msgs, &b->imports[i]);
        if (s != NATS_OK)
            return bus__nats_fail(s, "bus_nats_create: import");
        b->n_imports++;
    }
    /* The server has the imports once it answers a ping sent after them. */
    if (cfg->n_imports && natsConnection_Status(b->nc) == NATS_CONN_STATUS_CONNECTED &&
        (s = natsConnection_FlushTimeout(b->nc, cfg->connect_timeout_ms)) != NATS_OK)
        return bus__nats_fail(s, "bus_nats_create: registering the imports");
    /* After the imports: a bridge that answers discovery has them
     * registered (when the server was up at the start). */
    if ((s = bus__nats_discovery_start(b, cfg)) != NATS_OK)
        return bus__nats_fail(s, "bus_nats_create: discovery");
    if (cfg->n_exports && !cfg->jetstream) {
        int rc = bus__nats_export_start(b, (size_t)cfg->export_buf_bytes / 2);
        if (rc)
            return bus__nats_fail_text(rc, "bus_nats_create: the exporter thread");
    }
    for (unsigned i = 0; i < cfg->n_exports; i++) {
        int rc = bus_subscribe_pattern(b->bus, cfg->exports[i], bus__nats_export, b, NULL,
                                       &b->exports[i]);
        if (rc)
            return bus__nats_fail_text(rc, "bus_nats_create: export: bus_subscribe_pattern failed");
        b->n_exports++;
    }
    return 0;
}

int bus_nats_create(bus_t *bus, const bus_nats_config_t *cfg, bus_nats_t **out)
{
    if (!bus || !cfg || !out)
        return bus__nats_fail_text(-EINVAL, "bus_nats_create: NULL argument");
    int rc = check_config(cfg);
    if (rc)
        return rc;
    struct bus_nats *b = calloc(1, sizeof(*b));
    if (!b)
        return -ENOMEM;
    b->bus = bus;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(b->id, sizeof(b->id), "%ld.%lx.%lx", (long)getpid(), (unsigned long)ts.tv_nsec,
             (unsigned long)(uintptr_t)b);
    b->prefix_len = strlen(cfg->subject_prefix);
    memcpy(b->prefix, cfg->subject_prefix, b->prefix_len + 1);
    if (cfg->import_topic) {
        b->import_topic = *cfg->import_topic;
        b->has_import_topic = true;
    }
    b->request_timeout_ms = cfg->request_timeout_ms;
    b->max_deliver = cfg->max_deliver;
    if (cfg->backoff_count) {
        b->backoff_ns = malloc(cfg->backoff_count * sizeof(uint64_t));
        if (!b->backoff_ns) {
            free(b);
            return -ENOMEM;
        }
        memcpy(b->backoff_ns, cfg->backoff_ns, cfg->backoff_count * sizeof(uint64_t));
        b->backoff_count = cfg->backoff_count;
    }
    pthread_mutex_init(&b->lock, NULL);
    pthread_mutex_init(&b->discover_lock, NULL);
    pthread_cond_init(&b->idle, NULL);
    rc = start(b, cfg);
    if (rc) {
        char why[512]; /* the stop may overwrite the detail */
        snprintf(why, sizeof(why), "%s", bus_nats_last_error());
        bus_nats_destroy(b);
        bus__nats_fail_text(rc, why);
        return rc;
    }
    *out = b;
    return 0;
}

/* Waits under the lock until @done holds. */
#define WAIT_UNTIL(b, done)                                                                        \
    do {                                                                                           \
        pthread_mutex_lock(&(b)->lock);                                                            \
        while (!(done))                                                                            \
            pthread_cond_wait(&(b)->idle, &(b)->lock);                                             \
        pthread_mutex_unlock(&(b)->lock);                                                          \
    } while (0)

void bus_nats_destroy(bus_nats_t *b)
{
    if (!b)
        return;
    for (unsigned i = 0; i < b->n_exports; i++)
        bus_unsubscribe(b->exports[i]); /* waits for running export handlers */
    bus__nats_export_stop(b);           /* what they queued goes to cnats */
    atomic_store_explicit(&b->closing, true, memory_order_seq_cst);
    /* Core imports end here; JetStream ones with the connection, since
     * cnats deletes the consumer it made when one unsubscribes, and the
     * consumer is durable. Meanwhile they give messages back (nak). */
    for (unsigned i = 0; i < b->n_imports && !b->js; i++)
        natsSubscription_Unsubscribe(b->imports[i]);
    if (b->discovery)
        natsSubscription_Unsubscribe(b->discovery);
    if (b->answers)
        natsSubscription_Unsubscribe(b->answers);
    /* seq_cst: see bus__nats_import_begin(). Imports in progress still
     * answer, acknowledge, through the connections. */
    WAIT_UNTIL(b, atomic_load_explicit(&b->inflight, memory_order_seq_cst) == 0);
    if (b->nc && natsConnection_Status(b->nc) == NATS_CONN_STATUS_CONNECTED) {
        if (b->js) { /* the stream's acknowledgments of the last exports */
            jsPubOptions po;
            jsPubOptions_Init(&po);
            po.MaxWait = 2000;
            js_PublishAsyncComplete(b->js, &po);
        }
        natsConnection_FlushTimeout(b->nc, 1000); /* what the exports buffered */
    }
    natsConnection_Close(b->nc);
    natsConnection_Close(b->asap);
    /* cnats makes the callbacks on threads of its own, after Close returns:
     * the bridge lives until the last (on_closed, and each import's
     * completion). relaxed: open_subs is written under the lock. */
    WAIT_UNTIL(b, b->open_conns == 0 &&
                      atomic_load_explicit(&b->open_subs, memory_order_relaxed) == 0);
    for (unsigned i = 0; i < b->n_imports; i++)
        natsSubscription_Destroy(b->imports[i]);
    natsSubscription_Destroy(b->discovery);
    natsSubscription_Destroy(b->answers);
    free(b->description);
    free(b->backoff_ns);
    jsCtx_Destroy(b->js);
    natsConnection_Destroy(b->nc);
    natsConnection_Destroy(b->asap);
    pthread_cond_destroy(&b->idle);
    pthread_mutex_destroy(&b->lock);
    pthread_mutex_destroy(&b->discover_lock);
    free(b);
}
