/* test_nats.c - the NATS bridge between processes: each test starts its own
 * nats-server (127.0.0.1, free port, temporary directory) and peers
 * (nats-peer, peer.c), and this process is one more bus with a bridge. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nats/nats.h> /* the stream's own count, as the server says */

#include "../helpers.h"
#include "bus/nats.h"
#include "child.h"
#include "ledger.h"
#include "server.h"

static const uint64_t SECOND = 1000000000u;

/* ---- peers ---- */

struct peer {
    struct child c;
    FILE *in, *out;
};

/* Starts nats-peer with @args (NULL-terminated) and waits for "ready". */
static void peer_start(struct peer *p, const char *args[])
{
    char *argv[32] = {NATS_PEER};
    for (int i = 0; args[i]; i++)
        argv[i + 1] = (char *)args[i];
    ck_assert_msg(child_start(&p->c, argv), "%s: %s", args[1], p->c.first);
    p->in = p->c.in;
    p->out = p->c.out;
}

/* Sends a command and returns its answer line (static buffer). */
static const char *peer_ask(struct peer *p, const char *fmt, ...)
{
    static char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vfprintf(p->in, fmt, ap);
    va_end(ap);
    fputc('\n', p->in);
    fflush(p->in);
    ck_assert_ptr_nonnull(fgets(line, sizeof(line), p->out));
    return line;
}

/* Ends the peer (end of its input) and returns its last counters. */
static const char *peer_end(struct peer *p)
{
    static char line[1024];
    ck_assert_int_eq(child_end(&p->c, line, sizeof(line)), 0);
    return line;
}

/* A crash: SIGKILL, then reaped. */
static void peer_kill(struct peer *p)
{
    kill(p->c.pid, SIGKILL);
    ck_assert_int_eq(child_end(&p->c, NULL, 0), -1);
}

/* The value of @key in a "key=value ..." line. */
static uint64_t stat_of(const char *line, const char *key)
{
    char k[64];
    snprintf(k, sizeof(k), "%s=", key);
    for (const char *at = line; (at = strstr(at, k)); at++)
        if (at == line || at[-1] == ' ')
            return strtoull(at + strlen(k), NULL, 10);
    ck_abort_msg("no %s in %s", key, line);
    return 0;
}

/* ---- this process's own bus and bridge ---- */

struct local {
    bus_t *bus;
    bus_nats_t *nats;
};

/* The configuration of a bus exporting @export; into JetStream @stream
 * unless NULL. */
static void local_config(bus_nats_config_t *cfg, const struct nats_server *s, const char *export,
                         const char *stream)
{
    bus_nats_config_init(cfg);
    ck_assert_ok(bus_nats_config_parse(cfg, "--nats", s->url));
    ck_assert_ok(bus_nats_config_parse(cfg, "--export", export));
    if (stream)
        ck_assert_ok(bus_nats_config_parse(cfg, "--jetstream", stream));
}

static void local_start_with(struct local *l, const bus_nats_config_t *cfg)
{
    l->bus = new_bus(2);
    ck_assert_ok(bus_nats_create(l->bus, cfg, &l->nats));
}

static void local_start(struct local *l, const struct nats_server *s, const char *export,
                        const char *stream)
{
    bus_nats_config_t cfg;
    local_config(&cfg, s, export, stream);
    local_start_with(l, &cfg);
}

static void local_stop(struct local *l)
{
    bus_nats_destroy(l->nats);
    bus_destroy(l->bus);
}

/* Publishes events seq first..first+n-1 (128 B, the seq as text), then
 * waits until the server has them. */
static void local_publish(struct local *l, const char *name, unsigned first, unsigned n)
{
    bus_topic_t *t;
    ck_assert_ok(bus_topic_open(l->bus, name, NULL, &t));
    char payload[128] = {0};
    for (unsigned i = 0; i < n; i++) {
        snprintf(payload, sizeof(payload), "%u", first + i);
        ck_assert_ok(bus_publish(t, payload, sizeof(payload)));
    }
    ck_assert_ok(bus_flush(l->bus));
    ck_assert_ok(bus_nats_flush(l->nats, 10 * SECOND));
}

static char ledger_path[64];

static struct ledger *ledger_new(void)
{
    snprintf(ledger_path, sizeof(ledger_path), "/tmp/bus-nats-ledger-%d", (int)getpid());
    struct ledger *l = ledger_map(ledger_path, true);
    ck_assert_ptr_nonnull(l);
    return l;
}

static void ledger_end(struct ledger *l)
{
    munmap(l, sizeof(*l));
    unlink(ledger_path);
}

/* Every seq from @first to @last seen exactly @times times in @r. */
static void assert_seen(struct ledger_region *r, unsigned first, unsigned last, unsigned times)
{
    for (unsigned i = first; i <= last; i++)
        ck_assert_msg(atomic_load(&r->seen[i]) == times, "seq %u seen %u times, not %u", i,
                      atomic_load(&r->seen[i]), times);
}

/* ---- the tests' world: a nats-server and a ledger (checked fixture: set
 * up and torn down in each test's own process) ---- */

static struct nats_server srv;
static struct ledger *ledger;

static void world_start(void)
{
    memset(&srv, 0, sizeof(srv));
    ck_assert(nats_server_start(&srv));
    ledger = ledger_new();
}

static void world_stop(void)
{
    ledger_end(ledger);
    nats_server_stop(&srv);
}

/* ---- tests ---- */

START_TEST(fan_out_to_two_processes)
{
    struct peer p[2];
    for (int i = 0; i < 2; i++) {
        const char *slot = i ? "1" : "0";
        peer_start(&p[i], (const char *[]){"--nats", srv.url, "--import", "fan.>", "--count",
                                          "fan.>", "--ledger", ledger_path, "--slot", slot,
                                          NULL});
    }
    struct local me;
    local_start(&me, &srv, "fan.>", NULL);
    enum { N = 2000 };
    local_publish(&me, "fan.orders", 1, N);
    for (int i = 0; i < 2; i++) {
        ck_assert(ledger_wait(&ledger->region[i], N, 10000));
        assert_seen(&ledger->region[i], 1, N, 1);
    }
    bus_nats_stats_t st;
    ck_assert_ok(bus_nats_stats(me.nats, &st));
    ck_assert_uint_eq(st.exported, N);
    for (int i = 0; i < 2; i++) {
        const char *last = peer_end(&p[i]);
        ck_assert_uint_eq(stat_of(last, "imported"), N);
        ck_assert_uint_eq(stat_of(last, "exported"), 0);
    }
    ck_assert_uint_eq(atomic_load(&ledger->region[0].total), N); /* nothing more came */
    local_stop(&me);
}
END_TEST

/* An export queue of room for two events: the export handler waits for
 * room again and again (back-pressure on the topic), and every event
 * still goes out once. */
START_TEST(small_export_queue_loses_nothing)
{
    struct peer p;
    peer_start(&p, (const char *[]){"--nats", srv.url, "--import", "small.>", "--count",
                                    "small.>", "--ledger", ledger_path, "--slot", "0", NULL});
    bus_nats_config_t cfg;
    local_config(&cfg, &srv, "small.>", NULL);
    cfg.export_buf_bytes = 600; /* 300 B a buffer; an event takes 144 */
    struct local me;
    local_start_with(&me, &cfg);
    enum { N = 3000 };
    local_publish(&me, "small.x", 1, N);
    ck_assert(ledger_wait(&ledger->region[0], N, 10000));
    assert_seen(&ledger->region[0], 1, N, 1);
    bus_nats_stats_t st;
    ck_assert_ok(bus_nats_stats(me.nats, &st));
    ck_assert_uint_eq(st.exported, N);
    ck_assert_uint_eq(st.dropped_reconnect_buffer + st.dropped_closed, 0);
    local_stop(&me);
    ck_assert_uint_eq(stat_of(peer_end(&p), "imported"), N);
}
END_TEST

START_TEST(queue_group_exactly_once_across_processes)
{
    struct peer p[3];
    for (int i = 0; i < 3; i++)
        peer_start(&p[i], (const char *[]){"--nats", srv.url, "--import", "work.>@workers",
                                          "--count", "work.>", "--ledger", ledger_path,
                                          "--slot", "0", NULL});
    struct local me;
    local_start(&me, &srv, "work.>", NULL);
    enum { N = 3000 };
    local_publish(&me, "work.jobs", 1, N);
    ck_assert(ledger_wait(&ledger->region[0], N, 10000));
    assert_seen(&ledger->region[0], 1, N, 1); /* one process each */
    uint64_t sum = 0;
    for (int i = 0; i < 3; i++) {
        uint64_t n = stat_of(peer_end(&p[i]), "imported");
        ck_assert_uint_gt(n, 0); /* each member took a share */
        sum += n;
    }
    ck_assert_uint_eq(sum, N);
    ck_assert_uint_eq(atomic_load(&ledger->region[0].total), N);
    local_stop(&me);
}
END_TEST

struct reply {
    int status;
    char data[160];
    size_t size;
};

static int request(struct local *me, const char *name, const char *text, uint64_t timeout_ns,
                   struct reply *r)
{
    bus_topic_t *t;
    ck_assert_ok(bus_topic_open(me->bus, name, NULL, &t));
    r->status = bus_request_wait(t, text, strlen(text), timeout_ns, r->data, sizeof(r->data),
                                 &r->size);
    return r->status;
}

START_TEST(request_reply_across_processes)
{
    struct peer fast, slow;
    peer_start(&fast, (const char *[]){"--nats", srv.url, "--import", "svc.>", "--reply",
                                      "svc.echo", NULL});
    peer_start(&slow, (const char *[]){"--nats", srv.url, "--import", "slow.>", "--reply",
                                      "slow.>", "--reply-delay-ms", "500", NULL});
    struct local me;
    local_start(&me, &srv, ">", NULL);
    struct reply r;
    for (int i = 0; i < 100; i++) {
        char text[16];
        snprintf(text, sizeof(text), "q%d", i);
        ck_assert_ok(request(&me, "svc.echo", text, 5 * SECOND, &r));
        ck_assert_uint_eq(r.size, strlen(text) + 3);
        ck_assert(memcmp(r.data, "re:", 3) == 0 && memcmp(r.data + 3, text, r.size - 3) == 0);
    }
    /* Nobody imports the subject: NATS says no responders. */
    ck_assert_int_eq(request(&me, "nobody.home", "x", 5 * SECOND, &r), -ENOENT);
    /* Imported, but nobody subscribes to the topic there: its bus says so. */
    ck_assert_int_eq(request(&me, "svc.unserved", "x", 5 * SECOND, &r), -ENOENT);
    /* Too slow: the local timeout, not the remote's. */
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ck_assert_int_eq(request(&me, "slow.op", "x", SECOND / 10, &r), -ETIMEDOUT);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double took = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
    ck_assert_msg(took < 0.4, "a 100 ms request took %.3f s", took);
    bus_nats_stats_t st;
    ck_assert_ok(bus_nats_stats(me.nats, &st));
    ck_assert_uint_eq(st.requests_out, 103);
    ck_assert_uint_eq(st.no_responders, 1);
    const char *last = peer_end(&fast);
    ck_assert_uint_eq(stat_of(last, "requests_in"), 101);
    peer_end(&slow);
    local_stop(&me);
}
END_TEST

START_TEST(no_echo_between_processes)
{
    struct peer p[2];
    for (int i = 0; i < 2; i++) {
        const char *slot = i ? "1" : "0";
        peer_start(&p[i], (const char *[]){"--nats", srv.url, "--export", "loop.>", "--import",
                                          "loop.>", "--count", "loop.>", "--ledger",
                                          ledger_path, "--slot", slot, NULL});
    }
    enum { N = 1000 };
    ck_assert_str_eq(peer_ask(&p[0], "publish loop.x 1 %d", N), "published\n");
    ck_assert(ledger_wait(&ledger->region[1], N, 10000));
    /* Anything echoed would come back after a round trip of both. */
    ck_assert_str_eq(peer_ask(&p[1], "sync"), "synced\n");
    ck_assert_str_eq(peer_ask(&p[0], "sync"), "synced\n");
    const char *last = peer_end(&p[1]);
    ck_assert_uint_eq(stat_of(last, "imported"), N);
    ck_assert_uint_eq(stat_of(last, "echo_skipped"), N);
    ck_assert_uint_eq(stat_of(last, "exported"), 0);
    last = peer_end(&p[0]);
    ck_assert_uint_eq(stat_of(last, "exported"), N);
    ck_assert_uint_eq(stat_of(last, "imported"), 0);
    for (int i = 0; i < 2; i++) {
        ck_assert_uint_eq(atomic_load(&ledger->region[i].total), N);
        assert_seen(&ledger->region[i], 1, N, 1);
    }
}
END_TEST

/* A slow importer: its topic (16 slots, BUS_FULL_BLOCK) holds up cnats'
 * delivery thread, cnats' pending limit (64) overflows, and what cnats
 * drops is counted: imported + dropped_slow_consumer = published. */
START_TEST(slow_consumer_drops_are_counted)
{
    struct peer sub;
    peer_start(&sub, (const char *[]){"--nats", srv.url, "--import", "slow.>", "--count",
                                     "slow.>", "--ledger", ledger_path, "--slot", "0",
                                     "--handle-ms", "1", "--pending", "64",
                                     "--import-capacity", "16", NULL});
    struct local me;
    local_start(&me, &srv, "slow.>", NULL);
    enum { N = 5000 };
    local_publish(&me, "slow.x", 1, N);
    /* Once the server has sent everything, the subscriber's round trip
     * comes after it: what cnats kept is then queued or handled. */
    ck_assert_str_eq(peer_ask(&sub, "sync"), "synced\n");
    ck_assert_str_eq(peer_ask(&sub, "settle"), "settled\n");
    const char *last = peer_end(&sub);
    uint64_t imported = stat_of(last, "imported"), dropped = stat_of(last, "dropped_slow_consumer");
    ck_assert_uint_gt(dropped, 0);
    ck_assert_uint_eq(imported + dropped, N);
    ck_assert_uint_eq(atomic_load(&ledger->region[0].total), imported);
    local_stop(&me);
}
END_TEST

START_TEST(server_restart_mid_stream_counts_the_loss)
{
    struct peer sub, pub;
    peer_start(&sub, (const char *[]){"--nats", srv.url, "--import", "feed.>", "--count",
                                     "feed.>", "--ledger", ledger_path, "--slot", "0", NULL});
    /* 64 KiB of reconnect buffer: about 450 events of 128 B and their
     * protocol lines. */
    peer_start(&pub, (const char *[]){"--nats", srv.url, "--export", "feed.>",
                                     "--reconnect-buf", "65536", NULL});
    enum { N1 = 1000, N2 = 2000, N3 = 1000, N = N1 + N2 + N3 };
    ck_assert_str_eq(peer_ask(&pub, "publish feed.x 1 %d", N1), "published\n");
    ck_assert(ledger_wait(&ledger->region[0], N1, 10000));
    nats_server_signal(&srv, SIGKILL);
    ck_assert_str_eq(peer_ask(&pub, "wait-down"), "down\n");
    ck_assert_str_eq(peer_ask(&sub, "wait-down"), "down\n");
    ck_assert_str_eq(peer_ask(&pub, "publish feed.x %d %d", N1 + 1, N2), "published\n");
    ck_assert(nats_server_start(&srv));
    ck_assert_str_eq(peer_ask(&sub, "sync"), "synced\n"); /* subscribed again */
    ck_assert_str_eq(peer_ask(&pub, "sync"), "synced\n");
    ck_assert_str_eq(peer_ask(&pub, "publish feed.x %d %d", N1 + N2 + 1, N3), "published\n");
    const char *last = peer_end(&pub);
    uint64_t exported = stat_of(last, "exported");
    uint64_t dropped = stat_of(last, "dropped_reconnect_buffer");
    ck_assert_uint_eq(exported + dropped, N); /* every event accounted for */
    ck_assert_uint_gt(dropped, 0);            /* the buffer overflowed */
    ck_assert_uint_ge(stat_of(last, "disconnects"), 1);
    ck_assert_uint_ge(stat_of(last, "reconnects"), 1);
    /* The last event comes after all the others that arrive at all. */
    struct ledger_region *r = &ledger->region[0];
    ck_assert(ledger_wait(r, N1 + N3, 10000));
    ck_assert_str_eq(peer_ask(&sub, "sync"), "synced\n");
    uint64_t received = atomic_load(&r->total);
    ck_assert_uint_le(received, exported);
    assert_seen(r, 1, N1, 1);
    assert_seen(r, N1 + N2 + 1, N, 1);
    for (unsigned i = N1 + 1; i <= N1 + N2; i++)
        ck_assert_uint_le(atomic_load(&r->seen[i]), 1); /* never twice */
    fprintf(stderr, "restart: %d published, %lu exported, %lu dropped (buffer), %lu received\n",
            N, (unsigned long)exported, (unsigned long)dropped, (unsigned long)received);
    peer_end(&sub);
}
END_TEST

START_TEST(server_down_at_start)
{
    struct nats_server s = {0};
    s.port = free_port();
    snprintf(s.dir, sizeof(s.dir), "/tmp/bus-nats-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(s.dir));
    snprintf(s.url, sizeof(s.url), "nats://127.0.0.1:%d", s.port);
    bus_t *bus = new_bus(1);
    bus_nats_config_t cfg;
    bus_nats_config_init(&cfg);
    ck_assert_ok(bus_nats_config_parse(&cfg, "--nats", s.url));
    ck_assert_ok(bus_nats_config_parse(&cfg, "--export", "up.>"));
    cfg.connect_timeout_ms = 500;
    bus_nats_t *nats;
    /* Without retry: a clear error at once. */
    ck_assert_int_eq(bus_nats_create(bus, &cfg, &nats), -ECONNREFUSED);
    ck_assert_ptr_nonnull(strstr(bus_nats_last_error(), "No server available"));
    /* With retry: a bridge that connects when the server comes. */
    cfg.retry_on_failed_connect = true;
    cfg.max_reconnect = -1;
    cfg.reconnect_wait_ms = 50;
    ck_assert_ok(bus_nats_create(bus, &cfg, &nats));
    bus_nats_stats_t st;
    ck_assert_ok(bus_nats_stats(nats, &st));
    ck_assert(!st.connected);
    ck_assert_int_eq(bus_nats_wait_connected(nats, true, SECOND / 10), -ETIMEDOUT);
    ck_assert(nats_server_start(&s));
    ck_assert_ok(bus_nats_wait_connected(nats, true, 10 * SECOND));
    ck_assert_ok(bus_nats_stats(nats, &st));
    ck_assert(st.connected);
    bus_nats_destroy(nats);
    bus_destroy(bus);
    nats_server_stop(&s);
}
END_TEST

/* ---- TLS: a CA of the test's own (make_certs.sh) ---- */

struct pki {
    char dir[32];
    char ca[64], server_cert[64], server_key[64], client_cert[64], client_key[64];
};

/* Makes, in a temporary directory, a CA and a server and a client
 * certificate it signed (the server's for IP 127.0.0.1). */
static void pki_make(struct pki *p)
{
    snprintf(p->dir, sizeof(p->dir), "/tmp/bus-nats-tls-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(p->dir));
    snprintf(p->ca, sizeof(p->ca), "%s/ca.pem", p->dir);
    snprintf(p->server_cert, sizeof(p->server_cert), "%s/server.pem", p->dir);
    snprintf(p->server_key, sizeof(p->server_key), "%s/server.key", p->dir);
    snprintf(p->client_cert, sizeof(p->client_cert), "%s/client.pem", p->dir);
    snprintf(p->client_key, sizeof(p->client_key), "%s/client.key", p->dir);
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "sh %s %s", MAKE_CERTS, p->dir);
    ck_assert_int_eq(system(cmd), 0);
}

static void pki_remove(const struct pki *p)
{
    char cmd[64];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", p->dir);
    ck_assert_int_eq(system(cmd), 0);
}

/* @cfg: a bridge to @url with these TLS files (NULL: none), no export or import. */
static void tls_config(bus_nats_config_t *cfg, const char *url, const char *ca, const char *cert,
                       const char *key)
{
    bus_nats_config_init(cfg);
    ck_assert_ok(bus_nats_config_parse(cfg, "--nats", url));
    cfg->tls_ca_file = ca;
    cfg->tls_cert_file = cert;
    cfg->tls_key_file = key;
}

/* A server that requires TLS, reached with a nats:// URL: cnats switches
 * to TLS; the server's certificate verified with tls_ca_file, refused
 * without it. */
START_TEST(tls_when_the_server_asks)
{
    struct pki pki;
    pki_make(&pki);
    struct nats_server s = {.extra = {"--tls", "--tlscert", pki.server_cert, "--tlskey",
                                      pki.server_key}};
    ck_assert(nats_server_start(&s));
    bus_t *bus = new_bus(1);
    bus_nats_config_t cfg;
    tls_config(&cfg, s.url, NULL, NULL, NULL);
    bus_nats_t *nats = NULL;
    int rc = bus_nats_create(bus, &cfg, &nats); /* the system's CAs do not know it */
    ck_assert_msg(rc == -EACCES, "%d: %s", rc, bus_nats_last_error());
    cfg.tls_ca_file = pki.ca;
    ck_assert_ok(bus_nats_create(bus, &cfg, &nats));
    bus_nats_stats_t st;
    ck_assert_ok(bus_nats_stats(nats, &st));
    ck_assert(st.connected);
    bus_nats_destroy(nats);
    bus_destroy(bus);
    nats_server_stop(&s);
    pki_remove(&pki);
}
END_TEST

static int reply_tls(const bus_event_t *ev, void *ctx)
{
    (void)ctx;
    char out[64];
    int n = snprintf(out, sizeof(out), "re:%.*s", (int)ev->size, (const char *)ev->data);
    return bus_reply(ev, out, (size_t)n);
}

/* Mutual TLS: a server that verifies client certificates (--tlsverify).
 * With the CA, certificate and key, two bridges connect and a request
 * goes from one bus to the other and its reply back; without the client
 * certificate, or with one the server does not trust, the server refuses
 * it: -EACCES, and the error says why (cnats alone would say "Expected
 * 'PONG', got ''"). */
START_TEST(tls_client_certificate)
{
    struct pki pki;
    pki_make(&pki);
    struct nats_server s = {.extra = {"--tlsverify", "--tlscert", pki.server_cert, "--tlskey",
                                      pki.server_key, "--tlscacert", pki.ca}};
    ck_assert(nats_server_start(&s));
    struct local asker, answerer;
    bus_nats_config_t cfg;
    tls_config(&cfg, s.url, pki.ca, pki.client_cert, pki.client_key);
    ck_assert_ok(bus_nats_config_parse(&cfg, "--import", "mtls.>"));
    local_start_with(&answerer, &cfg);
    bus_topic_t *t;
    bus_sub_t *sub;
    ck_assert_ok(bus_topic_open(answerer.bus, "mtls.echo", NULL, &t));
    ck_assert_ok(bus_subscribe(t, reply_tls, NULL, &sub));
    tls_config(&cfg, s.url, pki.ca, pki.client_cert, pki.client_key);
    ck_assert_ok(bus_nats_config_parse(&cfg, "--export", "mtls.>"));
    local_start_with(&asker, &cfg);
    struct reply r;
    ck_assert_ok(request(&asker, "mtls.echo", "hello", 5 * SECOND, &r));
    ck_assert_int_eq((int)r.size, 8);
    ck_assert(memcmp(r.data, "re:hello", 8) == 0);
    /* The CA but no client certificate: the server ends the handshake. */
    tls_config(&cfg, s.url, pki.ca, NULL, NULL);
    bus_nats_t *nats = NULL;
    int rc = bus_nats_create(asker.bus, &cfg, &nats);
    ck_assert_msg(rc == -EACCES, "%d: %s", rc, bus_nats_last_error());
    ck_assert_msg(strstr(bus_nats_last_error(), "requires a TLS client certificate"), "%s",
                  bus_nats_last_error());
    fprintf(stderr, "%s\n", bus_nats_last_error());
    ck_assert_ptr_null(nats);
    bus_unsubscribe(sub);
    local_stop(&asker);
    local_stop(&answerer);
    nats_server_stop(&s);
    /* A server that trusts another CA (its own certificate as the only
     * one): the client certificate is refused, and the error says so. */
    s.extra[6] = pki.server_cert;
    ck_assert(nats_server_start(&s));
    bus_t *bus = new_bus(1);
    tls_config(&cfg, s.url, pki.ca, pki.client_cert, pki.client_key);
    rc = bus_nats_create(bus, &cfg, &nats);
    ck_assert_msg(rc == -EACCES, "%d: %s", rc, bus_nats_last_error());
    ck_assert_msg(strstr(bus_nats_last_error(), "refused tls_cert_file"), "%s",
                  bus_nats_last_error());
    fprintf(stderr, "%s\n", bus_nats_last_error());
    bus_destroy(bus);
    nats_server_stop(&s);
    pki_remove(&pki);
}
END_TEST

/* TLS files that are missing, or not what they should be: bus_nats_create()
 * fails before connecting (the server is down: a connection attempt
 * would say -ECONNREFUSED), and the error names the file. */
START_TEST(tls_files_checked_before_connecting)
{
    struct pki pki;
    pki_make(&pki);
    char url[64], missing[64];
    snprintf(url, sizeof(url), "nats://127.0.0.1:%d", free_port());
    snprintf(missing, sizeof(missing), "%s/nowhere.pem", pki.dir);
    const struct {
        const char *ca, *cert, *key;
        int rc;
        const char *words;
    } cases[] = {
        {missing, NULL, NULL, -ENOENT, "tls_ca_file"},
        {pki.ca, missing, pki.client_key, -ENOENT, "tls_cert_file"},
        {pki.ca, pki.client_cert, missing, -ENOENT, "tls_key_file"},
        {pki.ca, pki.client_cert, NULL, -EINVAL, "tls_key_file"},
        {pki.ca, NULL, pki.client_key, -EINVAL, "tls_cert_file"},
        {pki.client_key, NULL, NULL, -EINVAL, "tls_ca_file"},               /* not a certificate */
        {pki.ca, pki.client_cert, pki.server_key, -EINVAL, "tls_key_file"}, /* not its key */
    };
    bus_t *bus = new_bus(1);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        bus_nats_config_t cfg;
        tls_config(&cfg, url, cases[i].ca, cases[i].cert, cases[i].key);
        bus_nats_t *nats = NULL;
        int rc = bus_nats_create(bus, &cfg, &nats);
        const char *why = bus_nats_last_error();
        fprintf(stderr, "%s\n", why);
        ck_assert_msg(rc == cases[i].rc, "case %zu: %d: %s", i, rc, why);
        ck_assert_msg(strstr(why, cases[i].words), "case %zu: %s", i, why);
        ck_assert_ptr_null(nats);
    }
    bus_destroy(bus);
    pki_remove(&pki);
}
END_TEST

/* Credentials: a server with a user and password, then one with a token;
 * refused without (-EACCES and the server's words), connected with. */
START_TEST(user_password_and_token)
{
    const char *modes[][4] = {{"--user", "bus", "--pass", "s3cret"}, {"--auth", "t0ken"}};
    for (int m = 0; m < 2; m++) {
        struct nats_server s = {.extra = {modes[m][0], modes[m][1], modes[m][2], modes[m][3]}};
        ck_assert(nats_server_start(&s));
        bus_t *bus = new_bus(1);
        bus_nats_config_t cfg;
        bus_nats_config_init(&cfg);
        ck_assert_ok(bus_nats_config_parse(&cfg, "--nats", s.url));
        bus_nats_t *nats = NULL;
        ck_assert_int_eq(bus_nats_create(bus, &cfg, &nats), -EACCES);
        ck_assert_ptr_nonnull(strstr(bus_nats_last_error(), "Authorization"));
        if (m == 0) {
            cfg.user = "bus";
            cfg.password = "s3cret";
        } else {
            cfg.token = "t0ken";
        }
        ck_assert_ok(bus_nats_create(bus, &cfg, &nats));
        bus_nats_destroy(nats);
        bus_destroy(bus);
        nats_server_stop(&s);
    }
}
END_TEST

START_TEST(bad_urls_and_flags)
{
    bus_t *bus = new_bus(1);
    bus_nats_config_t cfg;
    bus_nats_config_init(&cfg);
    bus_nats_t *nats;
    ck_assert_int_eq(bus_nats_create(bus, &cfg, &nats), -EINVAL); /* no server */
    ck_assert_ptr_nonnull(strstr(bus_nats_last_error(), "no server"));
    ck_assert_int_eq(bus_nats_config_parse(&cfg, "--nats", ""), -EINVAL);
    ck_assert_int_eq(bus_nats_config_parse(&cfg, "--nats", "nats://a:1,,nats://b:2"), -EINVAL);
    ck_assert_int_eq(bus_nats_config_parse(&cfg, "--nats", "nats://a b:1"), -EINVAL);
    ck_assert_int_eq(bus_nats_config_parse(&cfg, "--export", "a..b"), -EINVAL);
    ck_assert_int_eq(bus_nats_config_parse(&cfg, "--export", "a.>.b"), -EINVAL);
    ck_assert_int_eq(bus_nats_config_parse(&cfg, "--export", "a.b*"), -EINVAL);
    ck_assert_int_eq(bus_nats_config_parse(&cfg, "--import", "a.>@"), -EINVAL);
    ck_assert_int_eq(bus_nats_config_parse(&cfg, "--import", "a.>@g.x"), -EINVAL);
    ck_assert_int_eq(bus_nats_config_parse(&cfg, "--nats-prefix", "site"), -EINVAL);
    ck_assert_int_eq(bus_nats_config_parse(&cfg, "--port", "80"), -ENOENT);
    ck_assert_uint_eq(cfg.n_exports + cfg.n_imports, 0);
    ck_assert_ok(bus_nats_config_parse(&cfg, "--import", "a.*.c@grp"));
    ck_assert_str_eq(cfg.imports[0].pattern, "a.*.c");
    ck_assert_str_eq(cfg.imports[0].group, "grp");
    ck_assert_ok(bus_nats_config_parse(&cfg, "--import", "d.>"));
    ck_assert_str_eq(cfg.imports[1].group, "");
    for (int i = 0; i < BUS_NATS_MAX_PATTERNS; i++)
        ck_assert_ok(bus_nats_config_parse(&cfg, "--export", "e.>"));
    ck_assert_int_eq(bus_nats_config_parse(&cfg, "--export", "e.>"), -ENOSPC);
    /* URLs cnats cannot use: a clear error, no bridge. */
    const char *bad[] = {"nats://127.0.0.1:notaport", "http://127.0.0.1:1",
                         "nats://127.0.0.1:1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        bus_nats_config_init(&cfg);
        cfg.connect_timeout_ms = 500;
        ck_assert_ok(bus_nats_config_parse(&cfg, "--nats", bad[i]));
        nats = NULL;
        int rc = bus_nats_create(bus, &cfg, &nats);
        ck_assert_msg(rc == -EINVAL || rc == -ECONNREFUSED, "%s: %d", bad[i], rc);
        ck_assert_ptr_null(nats);
        ck_assert_str_ne(bus_nats_last_error(), "");
        fprintf(stderr, "%s: %s\n", bad[i], bus_nats_last_error());
    }
    bus_nats_config_init(&cfg);
    ck_assert_ok(bus_nats_config_parse(&cfg, "--nats", "nats://127.0.0.1:1"));
    cfg.export_buf_bytes = 1; /* checked before connecting */
    ck_assert_int_eq(bus_nats_create(bus, &cfg, &nats), -EINVAL);
    ck_assert_ptr_nonnull(strstr(bus_nats_last_error(), "export_buf_bytes"));
    bus_destroy(bus);
}
END_TEST

START_TEST(prometheus_text)
{
    struct local me;
    local_start(&me, &srv, "prom.>", NULL);
    local_publish(&me, "prom.x", 1, 3);
    size_t len;
    ck_assert_int_eq(bus_nats_prometheus(me.nats, NULL, 0, &len), -ENOSPC);
    char *text = malloc(len + 1);
    ck_assert_ok(bus_nats_prometheus(me.nats, text, len + 1, &len));
    ck_assert_uint_eq(strlen(text), len);
    ck_assert_ptr_nonnull(strstr(text, "\nbus_nats_exported_total 3\n"));
    ck_assert_ptr_nonnull(strstr(text, "bus_nats_dropped_total{cause=\"reconnect_buffer\"} 0\n"));
    ck_assert_ptr_nonnull(strstr(text, "bus_nats_connected 1\n"));
    free(text);
    local_stop(&me);
}
END_TEST

/* The answers of bus_nats_discover(), one string. */
struct answers {
    char text[4096];
    size_t len;
};

static void gather(const char *json, size_t len, void *arg)
{
    struct answers *a = arg;
    ck_assert_uint_lt(a->len + len + 1, sizeof(a->text));
    memcpy(a->text + a->len, json, len);
    a->len += len;
    a->text[a->len++] = '\n';
    a->text[a->len] = '\0';
}

START_TEST(discovery_lists_imports_and_groups)
{
    struct peer p[2];
    peer_start(&p[0], (const char *[]){"--nats", srv.url, "--import", "jobs.>@workers",
                                      "--export", "results.>", "--name", "worker-1", NULL});
    peer_start(&p[1], (const char *[]){"--nats", srv.url, "--import", "audit.*", NULL});
    struct local me;
    local_start(&me, &srv, "jobs.>", NULL);
    struct answers a = {0};
    ck_assert_int_eq(bus_nats_discover(me.nats, 10 * SECOND, 2, gather, &a), 2);
    ck_assert_ptr_nonnull(strstr(a.text, "\"name\":\"worker-1\""));
    ck_assert_ptr_nonnull(strstr(a.text, "\"exports\":[\"results.>\"]"));
    ck_assert_ptr_nonnull(strstr(a.text, "{\"pattern\":\"jobs.>\",\"group\":\"workers\"}"));
    ck_assert_ptr_nonnull(strstr(a.text, "{\"pattern\":\"audit.*\",\"group\":\"\"}"));
    ck_assert_ptr_null(strstr(a.text, "\"exports\":[\"jobs.>\"]")); /* not itself */
    /* No more than there are: a short wait gets the same two. */
    memset(&a, 0, sizeof(a));
    ck_assert_int_eq(bus_nats_discover(me.nats, SECOND / 5, 0, gather, &a), 2);
    for (int i = 0; i < 2; i++)
        peer_end(&p[i]);
    local_stop(&me);
}
END_TEST

/* A discovery on a thread of its own: its answers. */
struct discovery_thread {
    pthread_t thread;
    bus_nats_t *nats;
    struct answers a;
    int rc;
};

static void *discover_on_thread(void *arg)
{
    struct discovery_thread *d = arg;
    d->rc = bus_nats_discover(d->nats, SECOND, 0, gather, &d->a);
    return NULL;
}

START_TEST(discovery_calls_overlap_and_drop_late_answers)
{
    struct peer p[2];
    peer_start(&p[0], (const char *[]){"--nats", srv.url, "--name", "peer-a", NULL});
    peer_start(&p[1], (const char *[]){"--nats", srv.url, "--name", "peer-b", NULL});
    struct local me;
    local_start(&me, &srv, "mine.>", NULL);
    /* One answer taken, the other comes late: the next call must not see it. */
    struct answers first = {0};
    ck_assert_int_eq(bus_nats_discover(me.nats, 10 * SECOND, 1, gather, &first), 1);
    /* Overlapping calls: each gets both peers once, none another's. */
    struct discovery_thread d[4];
    for (int i = 0; i < 4; i++) {
        d[i] = (struct discovery_thread){.nats = me.nats};
        ck_assert_int_eq(pthread_create(&d[i].thread, NULL, discover_on_thread, &d[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(d[i].thread, NULL);
        ck_assert_int_eq(d[i].rc, 2);
        ck_assert_ptr_nonnull(strstr(d[i].a.text, "\"name\":\"peer-a\""));
        ck_assert_ptr_nonnull(strstr(d[i].a.text, "\"name\":\"peer-b\""));
    }
    for (int i = 0; i < 2; i++)
        peer_end(&p[i]);
    local_stop(&me);
}
END_TEST

/* Acknowledged publishes in JetStream mode: how many completed, failed. */
struct acks {
    atomic_uint completed, failed;
};

static void on_stored(const bus_completion_t *c, void *arg)
{
    struct acks *a = arg;
    if (c->status || c->failed || c->handled != 1)
        atomic_fetch_add(&a->failed, 1);
    atomic_fetch_add(&a->completed, 1);
}

static void publish_acknowledged(struct local *me, const char *name, unsigned first, unsigned n,
                                 struct acks *a)
{
    bus_topic_t *t;
    ck_assert_ok(bus_topic_open(me->bus, name, NULL, &t));
    bus_publish_options_t o = {.on_complete = on_stored, .arg = a};
    char payload[128] = {0};
    for (unsigned i = 0; i < n; i++) {
        snprintf(payload, sizeof(payload), "%u", first + i);
        ck_assert_ok(bus_publish_ex(t, payload, sizeof(payload), &o));
    }
    ck_assert_ok(bus_flush(me->bus));
}

/* The number of messages the stream holds, as the server says. */
static uint64_t stream_msgs(const struct nats_server *s, const char *stream)
{
    natsConnection *nc = NULL;
    jsCtx *js = NULL;
    jsStreamInfo *si = NULL;
    ck_assert_int_eq(natsConnection_ConnectTo(&nc, s->url), NATS_OK);
    ck_assert_int_eq(natsConnection_JetStream(&js, nc, NULL), NATS_OK);
    ck_assert_int_eq(js_GetStreamInfo(&si, js, stream, NULL, NULL), NATS_OK);
    uint64_t n = si->State.Msgs;
    jsStreamInfo_Destroy(si);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    return n;
}

START_TEST(jetstream_stored_acked_redelivered_durable)
{
    struct local me;
    local_start(&me, &srv, "js.>", "ORDERS");
    /* Stored before anyone consumes: on_complete after the stream's ack. */
    enum { N = 500, M = 100 };
    struct acks a = {0};
    publish_acknowledged(&me, "js.orders", 1, N, &a);
    ck_assert_uint_eq(atomic_load(&a.completed), N);
    ck_assert_uint_eq(atomic_load(&a.failed), 0);
    ck_assert_uint_eq(stream_msgs(&srv, "ORDERS"), N);
    /* A durable consumer (group "workers") fails the first delivery of
     * every 10th event: NATS delivers those again, the others once. */
    struct peer p;
    peer_start(&p, (const char *[]){"--nats", srv.url, "--jetstream", "ORDERS", "--import",
                                   "js.>@workers", "--count", "js.>", "--ledger", ledger_path,
                                   "--slot", "0", "--fail-every", "10", NULL});
    ck_assert(ledger_wait(&ledger->region[0], N + N / 10, 20000));
    for (unsigned i = 1; i <= N; i++)
        ck_assert_uint_eq(atomic_load(&ledger->region[0].seen[i]), i % 10 ? 1 : 2);
    const char *last = peer_end(&p);
    ck_assert_uint_eq(stat_of(last, "js_acked"), N);
    ck_assert_uint_eq(stat_of(last, "js_nacked"), N / 10);
    /* The consumer is durable: a new member gets only what came since. */
    publish_acknowledged(&me, "js.orders", N + 1, M, &a);
    ck_assert_uint_eq(atomic_load(&a.failed), 0);
    peer_start(&p, (const char *[]){"--nats", srv.url, "--jetstream", "ORDERS", "--import",
                                   "js.>@workers", "--count", "js.>", "--ledger", ledger_path,
                                   "--slot", "1", NULL});
    ck_assert(ledger_wait(&ledger->region[1], M, 20000));
    ck_assert_str_eq(peer_ask(&p, "sync"), "synced\n");
    last = peer_end(&p);
    ck_assert_uint_eq(stat_of(last, "js_acked"), M);
    ck_assert_uint_eq(atomic_load(&ledger->region[1].total), M);
    assert_seen(&ledger->region[1], N + 1, N + M, 1);
    local_stop(&me);
}
END_TEST

/* JetStream redelivery with backoff: a consumer failing every first
 * delivery gets each event again no sooner than the 300 ms backoff. */
START_TEST(jetstream_failed_imports_come_back_after_backoff)
{
    struct local me;
    local_start(&me, &srv, "bo.>", "BACKOFF");
    struct peer p;
    peer_start(&p, (const char *[]){"--nats", srv.url, "--jetstream", "BACKOFF", "--import",
                                   "bo.>@retry", "--count", "bo.>", "--ledger", ledger_path,
                                   "--slot", "0", "--fail-every", "1", "--backoff-ms", "300",
                                   NULL});
    enum { N = 20 };
    struct acks a = {0};
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    publish_acknowledged(&me, "bo.x", 1, N, &a);
    ck_assert(ledger_wait(&ledger->region[0], 2 * N, 20000));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double took = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
    ck_assert_msg(took >= 0.3, "redelivered after %.3f s, before the backoff", took);
    assert_seen(&ledger->region[0], 1, N, 2);
    const char *last = peer_end(&p);
    ck_assert_uint_eq(stat_of(last, "js_nacked"), N);
    ck_assert_uint_eq(stat_of(last, "js_acked"), N);
    local_stop(&me);
}
END_TEST

/* Calls of an always failing handler, by event (its payload's number) and
 * attempt; and the dead letters, by event, with their attempts. */
struct failing {
    atomic_uint calls[3][5];
    atomic_uint letters[3], letter_attempts[3], total_calls, total_letters;
};

static unsigned event_number(const char *payload)
{
    unsigned n = (unsigned)strtoul(payload, NULL, 10);
    ck_assert_uint_lt(n, 3);
    return n;
}

static int always_fail(const bus_event_t *ev, void *ctx)
{
    struct failing *f = ctx;
    atomic_fetch_add(&f->calls[event_number(ev->data)][ev->attempt < 5 ? ev->attempt : 4], 1);
    atomic_fetch_add(&f->total_calls, 1);
    return -EIO;
}

static int count_letter(const bus_event_t *ev, void *ctx)
{
    struct failing *f = ctx;
    unsigned n = event_number((const char *)ev->data + sizeof(bus_dead_letter_t));
    atomic_fetch_add(&f->letters[n], 1);
    atomic_store(&f->letter_attempts[n], bus_dead_letter_attempts(ev));
    atomic_fetch_add(&f->total_letters, 1);
    return 0;
}

/* A bus importing through its bridge, with a topic whose handler always
 * fails. */
struct failing_importer {
    bus_t *bus;
    bus_nats_t *nats;
    bus_topic_t *topic;
};

/* Starts @fi importing @pattern (from JetStream @stream unless NULL, with
 * @max_deliver); @topic's handler calls and the dead letters go to @f. */
static void failing_importer_start(struct failing_importer *fi, struct failing *f,
                                   const char *pattern, const char *topic, const char *stream,
                                   int64_t max_deliver)
{
    bus_topic_t *dl;
    bus_sub_t *sub;
    fi->bus = new_bus(2);
    ck_assert_ok(bus_topic_open(fi->bus, topic, NULL, &fi->topic));
    ck_assert_ok(bus_subscribe(fi->topic, always_fail, f, &sub));
    ck_assert_ok(bus_dead_letter_topic(fi->bus, NULL, &dl));
    ck_assert_ok(bus_subscribe(dl, count_letter, f, &sub));
    bus_nats_config_t cfg;
    bus_nats_config_init(&cfg);
    ck_assert_ok(bus_nats_config_parse(&cfg, "--nats", srv.url));
    if (stream)
        ck_assert_ok(bus_nats_config_parse(&cfg, "--jetstream", stream));
    ck_assert_ok(bus_nats_config_parse(&cfg, "--import", pattern));
    cfg.max_deliver = max_deliver;
    ck_assert_ok(bus_nats_create(fi->bus, &cfg, &fi->nats));
    ck_assert_ok(bus_nats_flush(fi->nats, 10 * SECOND)); /* subscribed */
}

/* Waits for the dead letters of events 1 and 2, then a while longer for
 * any extra delivery or letter; checks that each event was seen with
 * attempts 1 to @deliveries once each and has one letter with attempts
 * @deliveries. Stops the importer. */
static void failing_importer_check(struct failing_importer *fi, struct failing *f,
                                   unsigned deliveries)
{
    for (int i = 0; i < 2000 && atomic_load(&f->total_letters) < 2; i++)
        sleep_ms(10);
    sleep_ms(300); /* a delivery too many, or a second letter, would come now */
    ck_assert_ok(bus_flush(fi->bus));
    for (unsigned n = 1; n <= 2; n++) {
        for (unsigned i = 1; i <= deliveries; i++)
            ck_assert_msg(atomic_load(&f->calls[n][i]) == 1, "event %u: attempt %u seen %u times",
                          n, i, atomic_load(&f->calls[n][i]));
        ck_assert_uint_eq(atomic_load(&f->letters[n]), 1);
        ck_assert_uint_eq(atomic_load(&f->letter_attempts[n]), deliveries);
    }
    ck_assert_uint_eq(atomic_load(&f->total_calls), 2 * deliveries);
    ck_assert_uint_eq(atomic_load(&f->total_letters), 2);
    bus_topic_stats_t ts;
    ck_assert_ok(bus_topic_stats(fi->topic, &ts));
    ck_assert_uint_eq(ts.handler_errors, 2 * deliveries);
    ck_assert_uint_eq(ts.dead_lettered, deliveries > 1 ? 2 : 0); /* as local events */
    ck_assert_uint_eq(ts.retries, 0);
    bus_nats_stats_t st;
    ck_assert_ok(bus_nats_stats(fi->nats, &st));
    ck_assert_uint_eq(st.imported, 2 * deliveries);
    ck_assert_uint_eq(st.js_nacked, deliveries > 1 ? 2 * deliveries : 0);
    ck_assert_uint_eq(st.js_acked, 0);
    bus_nats_destroy(fi->nats);
    bus_destroy(fi->bus);
}

/* JetStream, max_deliver 3, a local handler that always fails: the handler
 * sees NATS's delivery count (1, 2, 3); only the last failure reaches the
 * local dead letters, once per event, with attempts 3; then NATS gives up. */
START_TEST(jetstream_last_delivery_is_one_dead_letter)
{
    struct local me;
    local_start(&me, &srv, "dl.>", "DEADL");
    struct failing f = {0};
    struct failing_importer fi;
    failing_importer_start(&fi, &f, "dl.>", "dl.x", "DEADL", 3);
    struct acks a = {0};
    publish_acknowledged(&me, "dl.x", 1, 2, &a);
    ck_assert_uint_eq(atomic_load(&a.failed), 0);
    failing_importer_check(&fi, &f, 3);
    local_stop(&me);
}
END_TEST

/* Core NATS does not redeliver: a failed import is final at once, one dead
 * letter with attempts 1. */
START_TEST(core_failed_import_is_one_dead_letter)
{
    struct local me;
    local_start(&me, &srv, "cdl.>", NULL);
    struct failing f = {0};
    struct failing_importer fi;
    failing_importer_start(&fi, &f, "cdl.>", "cdl.x", NULL, -1);
    local_publish(&me, "cdl.x", 1, 2);
    failing_importer_check(&fi, &f, 1);
    local_stop(&me);
}
END_TEST

/* Waits until every seq from @first to @last was seen at least once in
 * @r (true), or @timeout_ms passed. */
static bool ledger_wait_all(struct ledger_region *r, unsigned first, unsigned last,
                            int timeout_ms)
{
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        uint32_t total = atomic_load(&r->total);
        unsigned i = first;
        while (i <= last && atomic_load(&r->seen[i]))
            i++;
        if (i > last)
            return true;
        clock_gettime(CLOCK_MONOTONIC, &t);
        int spent = (int)((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000);
        if (spent >= timeout_ms || !ledger_wait(r, total + 1, timeout_ms - spent))
            return false;
    }
}

/* JetStream, a queue group of two, one killed mid-stream: what it held
 * unacknowledged goes to the other after ack_wait; nothing is lost. */
START_TEST(jetstream_group_member_killed_others_take_its_share)
{
    struct local me;
    local_start(&me, &srv, "wk.>", "WORK");
    struct peer p[2]; /* the first is slow: it holds events when it dies */
    for (int i = 0; i < 2; i++)
        peer_start(&p[i], (const char *[]){"--nats", srv.url, "--jetstream", "WORK", "--import",
                                          "wk.>@crew", "--ack-wait-ms", "1000", "--count",
                                          "wk.>", "--ledger", ledger_path, "--slot", "0",
                                          "--handle-ms", i ? "0" : "5", NULL});
    enum { N1 = 500, N2 = 500 };
    struct acks a = {0};
    publish_acknowledged(&me, "wk.items", 1, N1, &a);
    ck_assert(ledger_wait(&ledger->region[0], N1 / 5, 20000)); /* under way */
    peer_kill(&p[0]);
    publish_acknowledged(&me, "wk.items", N1 + 1, N2, &a);
    ck_assert_uint_eq(atomic_load(&a.failed), 0);
    ck_assert(ledger_wait_all(&ledger->region[0], 1, N1 + N2, 30000));
    const char *last = peer_end(&p[1]);
    uint64_t twice = atomic_load(&ledger->region[0].total) - (N1 + N2);
    fprintf(stderr, "killed member: %lu events delivered twice (held by the dead member)\n",
            (unsigned long)twice);
    ck_assert_uint_gt(stat_of(last, "js_acked"), N2); /* its share and more */
    local_stop(&me);
}
END_TEST

/* JetStream, the server killed and restarted mid-stream: the exports in
 * flight are sent again after the reconnect and the stream drops the
 * copies (Nats-Msg-Id): every event stored once, consumed once. */
START_TEST(jetstream_server_restart_nothing_lost_nothing_twice)
{
    struct peer pub, sub;
    peer_start(&pub, (const char *[]){"--nats", srv.url, "--jetstream", "RST", "--export",
                                     "rs.>", NULL});
    enum { N1 = 2000, N2 = 2000, N3 = 1000, N = N1 + N2 + N3 };
    ck_assert_str_eq(peer_ask(&pub, "publish rs.x 1 %d", N1), "published\n");
    nats_server_signal(&srv, SIGKILL);
    ck_assert_str_eq(peer_ask(&pub, "wait-down"), "down\n");
    ck_assert_str_eq(peer_ask(&pub, "publish rs.x %d %d", N1 + 1, N2), "published\n");
    ck_assert(nats_server_start(&srv)); /* same port, same store */
    ck_assert_str_eq(peer_ask(&pub, "sync"), "synced\n");
    ck_assert_str_eq(peer_ask(&pub, "publish rs.x %d %d", N1 + N2 + 1, N3), "published\n");
    const char *last = peer_end(&pub);
    ck_assert_uint_eq(stat_of(last, "js_failed"), 0);
    ck_assert_uint_eq(stat_of(last, "dropped_reconnect_buffer"), 0);
    fprintf(stderr, "jetstream restart: %lu exports sent again after the reconnect\n",
            (unsigned long)stat_of(last, "js_resent"));
    ck_assert_uint_eq(stream_msgs(&srv, "RST"), N);
    peer_start(&sub, (const char *[]){"--nats", srv.url, "--jetstream", "RST", "--import",
                                     "rs.>@readers", "--count", "rs.>", "--ledger", ledger_path,
                                     "--slot", "0", NULL});
    ck_assert(ledger_wait(&ledger->region[0], N, 30000));
    ck_assert_str_eq(peer_ask(&sub, "sync"), "synced\n");
    peer_end(&sub);
    ck_assert_uint_eq(atomic_load(&ledger->region[0].total), N);
    assert_seen(&ledger->region[0], 1, N, 1);
}
END_TEST

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    Suite *s = suite_create("nats");
    TCase *alone = tcase_create("no server");
    tcase_set_timeout(alone, 60);
    tcase_add_test(alone, bad_urls_and_flags);
    tcase_add_test(alone, server_down_at_start);
    tcase_add_test(alone, tls_when_the_server_asks);
    tcase_add_test(alone, tls_client_certificate);
    tcase_add_test(alone, tls_files_checked_before_connecting);
    tcase_add_test(alone, user_password_and_token);
    suite_add_tcase(s, alone);
    TCase *tc = tcase_create("with a server");
    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, world_start, world_stop);
    tcase_add_test(tc, prometheus_text);
    tcase_add_test(tc, fan_out_to_two_processes);
    tcase_add_test(tc, small_export_queue_loses_nothing);
    tcase_add_test(tc, queue_group_exactly_once_across_processes);
    tcase_add_test(tc, request_reply_across_processes);
    tcase_add_test(tc, no_echo_between_processes);
    tcase_add_test(tc, server_restart_mid_stream_counts_the_loss);
    tcase_add_test(tc, slow_consumer_drops_are_counted);
    tcase_add_test(tc, jetstream_stored_acked_redelivered_durable);
    tcase_add_test(tc, discovery_lists_imports_and_groups);
    tcase_add_test(tc, discovery_calls_overlap_and_drop_late_answers);
    tcase_add_test(tc, jetstream_group_member_killed_others_take_its_share);
    tcase_add_test(tc, jetstream_server_restart_nothing_lost_nothing_twice);
    tcase_add_test(tc, jetstream_failed_imports_come_back_after_backoff);
    tcase_add_test(tc, jetstream_last_delivery_is_one_dead_letter);
    tcase_add_test(tc, core_failed_import_is_one_dead_letter);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
