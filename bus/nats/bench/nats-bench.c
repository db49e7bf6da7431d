/* nats-bench - what the NATS bridge costs, against raw cnats in the same
 * run: 128 B events, a second process receiving through nats-server.
 *
 *   nats-bench [--rounds R] [--events N] [--paced N] [--rate R] [--requests K]
 *
 * Starts its own nats-server (127.0.0.1, free port, temporary dir), then
 * for each round, interleaved, for each system (local topic only, the
 * local subscriber of a topic also exported, bridge, raw cnats):
 *   - throughput: N events as fast as the sender goes; the receiver (a
 *     child process, this program with --role) reports events/s from the
 *     sender's start stamp to the last arrival, and the events lost;
 *   - latency: N' events paced at R/s; one-way latency from the stamp in
 *     the payload (CLOCK_MONOTONIC is one clock for every process of the
 *     machine) to the subscriber's handler, p50 and p99;
 *   - request-reply (bridge, raw cnats with SendAsap on the replier): K
 *     round trips, p50 and p99.
 * JetStream (each run its own stream, file storage): the bridge in
 * JetStream mode (exports with js_PublishAsync and Nats-Msg-Id, the other
 * process's import through a push consumer acknowledged after its local
 * handler) against raw cnats (js_PublishAsync without a message id, a
 * push consumer acknowledging in its callback), and raw cnats again with a
 * Nats-Msg-Id per publish (what the stream's deduplication costs, apart
 * from the bridge); besides the receiver's rate, the sender's: events/s
 * until every publish was acknowledged.
 * Prints each round and the medians over the rounds. Environment:
 * BENCH_WORKERS (workers per bus, default 2), BENCH_WAIT=yield (idle
 * workers yield instead of parking: no futex wake-up per hop). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <nats/nats.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../../../tests/nats/child.h"
#include "../../../tests/nats/server.h"
#include "bus/nats.h"

enum { PAYLOAD = 128 };

struct stamp { /* at the start of every payload */
    uint64_t seq, sent_ns, start_ns;
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void sleep_until(uint64_t t)
{
    struct timespec ts = {.tv_sec = (time_t)(t / 1000000000u), .tv_nsec = (long)(t % 1000000000u)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
        continue;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static uint64_t percentile(uint64_t *v, size_t n, double p)
{
    if (!n)
        return 0;
    qsort(v, n, sizeof(*v), cmp_u64);
    return v[(size_t)(p * (double)(n - 1))];
}

/* ---- the receiving side: counts, and the latency of each event ---- */

struct receiver {
    pthread_mutex_t lock;
    pthread_cond_t done_cond;
    uint64_t expected, got, start_ns, last_ns;
    uint64_t *latency; /* per event, ns */
    bool done;
};

static void receiver_init(struct receiver *r, uint64_t expected)
{
    memset(r, 0, sizeof(*r));
    pthread_mutex_init(&r->lock, NULL);
    pthread_cond_init(&r->done_cond, NULL);
    r->expected = expected;
    r->latency = calloc(expected, sizeof(uint64_t));
}

/* Called for each event, one at a time (an ordered topic, or one cnats
 * delivery thread). */
static void receive(struct receiver *r, const void *data, size_t size)
{
    uint64_t now = now_ns();
    struct stamp s;
    if (size < sizeof(s))
        return;
    memcpy(&s, data, sizeof(s));
    pthread_mutex_lock(&r->lock);
    if (r->got < r->expected)
        r->latency[r->got] = now - s.sent_ns;
    r->got++;
    r->start_ns = s.start_ns;
    r->last_ns = now;
    if (r->got == r->expected) {
        r->done = true;
        pthread_cond_broadcast(&r->done_cond);
    }
    pthread_mutex_unlock(&r->lock);
}

/* Waits for every event, or until no event came for a second (losses). */
static void receiver_wait(struct receiver *r)
{
    pthread_mutex_lock(&r->lock);
    uint64_t seen = (uint64_t)-1;
    while (!r->done && seen != r->got) {
        seen = r->got;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += seen ? 1 : 30;
        while (!r->done && pthread_cond_timedwait(&r->done_cond, &r->lock, &ts) == 0)
            continue;
    }
    pthread_mutex_unlock(&r->lock);
}

static void receiver_report(struct receiver *r, FILE *out)
{
    pthread_mutex_lock(&r->lock);
    double secs = (double)(r->last_ns - r->start_ns) / 1e9;
    size_t n = r->got < r->expected ? r->got : r->expected;
    fprintf(out, "%.0f %" PRIu64 " %" PRIu64 " %" PRIu64 "\n", secs > 0 ? (double)r->got / secs : 0,
            r->expected - (r->got < r->expected ? r->got : r->expected),
            percentile(r->latency, n, 0.50), percentile(r->latency, n, 0.99));
    fflush(out);
    pthread_mutex_unlock(&r->lock);
}

/* ---- senders ---- */

/* N events, paced at @rate per second (0 = as fast as it goes). */
typedef void (*send_fn)(void *ctx, const void *data, size_t size);

static void send_events(send_fn send, void *ctx, uint64_t n, uint64_t rate)
{
    unsigned char payload[PAYLOAD] = {0};
    uint64_t start = now_ns();
    for (uint64_t i = 0; i < n; i++) {
        if (rate)
            sleep_until(start + i * 1000000000u / rate);
        struct stamp s = {i + 1, now_ns(), start};
        memcpy(payload, &s, sizeof(s));
        send(ctx, payload, sizeof(payload));
    }
}

static void send_bus(void *ctx, const void *data, size_t size)
{
    if (bus_publish(ctx, data, size))
        abort();
}

static void send_raw(void *ctx, const void *data, size_t size)
{
    natsConnection_Publish(ctx, "bench.raw", data, (int)size);
}

/* ---- the three systems, each a child receiving and this process sending ---- */

static const char *url;
static unsigned workers = 2; /* per bus; env BENCH_WORKERS */
static int wait_mode = BUS_WAIT_PARK; /* idle workers; env BENCH_WAIT=yield */
static char self[4096];

static bus_t *new_bus(unsigned workers)
{
    bus_config_t cfg;
    bus_config_init(&cfg);
    cfg.workers = workers;
    cfg.wait = wait_mode;
    bus_t *bus;
    if (bus_create(&bus, &cfg))
        abort();
    return bus;
}

/* @stream: JetStream mode on that stream (NULL = core NATS). */
static bus_nats_t *new_bridge(bus_t *bus, const char *export, const char *import,
                              const char *stream)
{
    bus_nats_config_t cfg;
    bus_nats_config_init(&cfg);
    bus_nats_config_parse(&cfg, "--nats", url);
    if (stream)
        bus_nats_config_parse(&cfg, "--jetstream", stream);
    if (export)
        bus_nats_config_parse(&cfg, "--export", export);
    if (import)
        bus_nats_config_parse(&cfg, "--import", import);
    cfg.pending_msgs = 1 << 22; /* no drop: the bench measures, the sender waits */
    bus_nats_t *nats;
    if (bus_nats_create(bus, &cfg, &nats)) {
        fprintf(stderr, "nats-bench: %s\n", bus_nats_last_error());
        exit(1);
    }
    return nats;
}

static int on_bus_event(const bus_event_t *ev, void *ctx)
{
    receive(ctx, ev->data, ev->size);
    return 0;
}

static void on_raw_msg(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *ctx)
{
    (void)nc, (void)sub;
    receive(ctx, natsMsg_GetData(msg), (size_t)natsMsg_GetDataLength(msg));
    natsMsg_Destroy(msg);
}

/* JetStream, raw: acknowledged as the bridge's imports are (explicit ack). */
static void on_raw_js_msg(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *ctx)
{
    (void)nc, (void)sub;
    receive(ctx, natsMsg_GetData(msg), (size_t)natsMsg_GetDataLength(msg));
    natsMsg_Ack(msg, NULL);
    natsMsg_Destroy(msg);
}

/* The JetStream runs' names, from the run's number @k: each run has its
 * own stream and subjects, so no run reads another's events. */
static void js_names(bool bridge, unsigned k, char *stream, char *pattern, char *subject)
{
    snprintf(stream, 32, "%s%u", bridge ? "JSB" : "JSR", k);
    snprintf(pattern, 32, "%s%u.>", bridge ? "jsb" : "jsr", k);
    snprintf(subject, 32, "%s%u.x", bridge ? "jsb" : "jsr", k);
}

static int reply_bus(const bus_event_t *ev, void *ctx)
{
    (void)ctx;
    return bus_reply(ev, ev->data, ev->size);
}

static void reply_raw(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *ctx)
{
    (void)sub, (void)ctx;
    natsConnection_Publish(nc, natsMsg_GetReply(msg), natsMsg_GetData(msg),
                           natsMsg_GetDataLength(msg));
    natsMsg_Destroy(msg);
}

/* The child: receives @n events (or answers requests until its input
 * closes), says "ready" once subscribed, prints its report. */
static int child(const char *role, uint64_t n)
{
    struct receiver r;
    receiver_init(&r, n);
    bus_t *bus = NULL;
    bus_nats_t *nats = NULL;
    natsConnection *nc = NULL;
    natsSubscription *sub = NULL;
    bool bridge = strstr(role, "bridge") != NULL;
    char stream[32], pattern[32], subject[32];
    const char *js = strstr(role, "js.");
    if (js) /* "recv-js.K-bridge" or "recv-js.K-raw" */
        js_names(bridge, (unsigned)atoi(js + 3), stream, pattern, subject);
    jsCtx *jsc = NULL;
    if (js && bridge) {
        bus = new_bus(workers);
        bus_sub_t *s;
        if (bus_subscribe_pattern(bus, pattern, on_bus_event, &r, NULL, &s))
            abort();
        nats = new_bridge(bus, NULL, pattern, stream);
    } else if (js) {
        if (natsConnection_ConnectTo(&nc, url) != NATS_OK ||
            natsConnection_JetStream(&jsc, nc, NULL) != NATS_OK)
            abort();
        jsSubOptions so;
        jsSubOptions_Init(&so);
        so.Stream = stream;
        so.ManualAck = true;
        so.Config.AckPolicy = js_AckExplicit;
        so.Config.DeliverPolicy = js_DeliverAll;
        if (js_Subscribe(&sub, jsc, pattern, on_raw_js_msg, &r, NULL, &so, NULL) != NATS_OK)
            abort();
        natsSubscription_SetPendingLimits(sub, -1, -1);
    } else if (bridge) {
        bus = new_bus(workers);
        bus_sub_t *s;
        bool reply = strstr(role, "reply") != NULL;
        if (bus_subscribe_pattern(bus, "bench.>", reply ? reply_bus : on_bus_event, &r, NULL, &s))
            abort();
        nats = new_bridge(bus, NULL, "bench.>", NULL);
    } else {
        natsOptions *o;
        natsOptions_Create(&o);
        natsOptions_SetURL(o, url);
        natsOptions_SetSendAsap(o, true); /* the replier's: see the notes */
        if (natsConnection_Connect(&nc, o) != NATS_OK)
            abort();
        natsOptions_Destroy(o);
        bool reply = strstr(role, "reply") != NULL;
        natsConnection_Subscribe(&sub, nc, "bench.>", reply ? reply_raw : on_raw_msg, &r);
        natsSubscription_SetPendingLimits(sub, -1, -1);
        natsConnection_Flush(nc);
    }
    printf("ready\n");
    fflush(stdout);
    if (strstr(role, "reply")) {
        char line[16];
        while (fgets(line, sizeof(line), stdin))
            continue;
    } else {
        receiver_wait(&r);
        receiver_report(&r, stdout);
    }
    if (nats)
        bus_nats_destroy(nats);
    if (bus)
        bus_destroy(bus);
    natsSubscription_Destroy(sub);
    jsCtx_Destroy(jsc);
    natsConnection_Destroy(nc);
    free(r.latency);
    return 0;
}

static void spawn(struct child *c, const char *role, uint64_t n)
{
    char count[32];
    snprintf(count, sizeof(count), "%" PRIu64, n);
    char *argv[] = {self, "--role", (char *)role, (char *)url, count, NULL};
    if (!child_start(c, argv))
        abort();
}

struct result {
    double rate;
    uint64_t lost, p50, p99;
    double stored; /* JetStream: events/s the sender had acknowledged by the stream */
};

/* Ends the receiver; @res (unless NULL) gets its report. */
static void finish(struct child *c, struct result *res)
{
    char line[256];
    if (res)
        *res = (struct result){0};
    if (child_end(c, res ? line : NULL, sizeof(line)) != 0 ||
        (res && sscanf(line, "%lf %" SCNu64 " %" SCNu64 " %" SCNu64, &res->rate, &res->lost,
                       &res->p50, &res->p99) != 4))
        abort();
}

/* A receiver of this process, reported as a child's would be. */
static struct result local_result(struct receiver *r)
{
    char text[256];
    FILE *f = fmemopen(text, sizeof(text), "w");
    receiver_report(r, f);
    fclose(f);
    struct result res = {0};
    if (sscanf(text, "%lf %" SCNu64 " %" SCNu64 " %" SCNu64, &res.rate, &res.lost, &res.p50,
               &res.p99) != 4)
        abort();
    return res;
}

/* The sending bridge's losses, if any, on stderr (the receiver counts
 * what did not arrive; this says why). */
static void report_drops(bus_nats_t *nats)
{
    bus_nats_stats_t st;
    bus_nats_stats(nats, &st);
    uint64_t dropped = st.dropped_reconnect_buffer + st.dropped_closed + st.js_failed;
    if (dropped)
        fprintf(stderr, "nats-bench: the bridge lost %" PRIu64 " (reconnect buffer %" PRIu64
                ", closed %" PRIu64 ", refused by the stream %" PRIu64 ")\n",
                dropped, st.dropped_reconnect_buffer, st.dropped_closed, st.js_failed);
}

/* One measurement of a system: @rate 0 = throughput, else paced. */

/* A local subscriber; @exported: while the bridge also exports its topic
 * to a second process (what exporting costs local delivery). */
static struct result run_local_sub(uint64_t n, uint64_t rate, bool exported)
{
    struct child p;
    bus_nats_t *nats = NULL;
    struct receiver r;
    receiver_init(&r, n);
    bus_t *bus = new_bus(workers);
    if (exported) {
        spawn(&p, "recv-bridge", n);
        nats = new_bridge(bus, "bench.>", NULL, NULL);
    }
    bus_topic_t *t;
    bus_sub_t *s;
    if (bus_topic_open(bus, "bench.local", NULL, &t) || bus_subscribe(t, on_bus_event, &r, &s))
        abort();
    send_events(send_bus, t, n, rate);
    receiver_wait(&r);
    struct result res = local_result(&r);
    if (exported) {
        struct result remote;
        bus_flush(bus);
        bus_nats_flush(nats, UINT64_MAX);
        finish(&p, &remote);
        res.lost += remote.lost;
        bus_nats_destroy(nats);
    }
    bus_destroy(bus);
    free(r.latency);
    return res;
}

static struct result run_local(uint64_t n, uint64_t rate)
{
    return run_local_sub(n, rate, false);
}

static struct result run_local_exported(uint64_t n, uint64_t rate)
{
    return run_local_sub(n, rate, true);
}

static struct result run_bridge(uint64_t n, uint64_t rate)
{
    struct child p;
    spawn(&p, "recv-bridge", n);
    bus_t *bus = new_bus(workers);
    bus_nats_t *nats = new_bridge(bus, "bench.>", NULL, NULL);
    bus_topic_t *t;
    if (bus_topic_open(bus, "bench.bridge", NULL, &t))
        abort();
    send_events(send_bus, t, n, rate);
    bus_flush(bus);
    bus_nats_flush(nats, UINT64_MAX);
    report_drops(nats);
    struct result res;
    finish(&p, &res);
    bus_nats_destroy(nats);
    bus_destroy(bus);
    return res;
}

static struct result run_raw(uint64_t n, uint64_t rate)
{
    struct child p;
    spawn(&p, "recv-raw", n);
    natsConnection *nc;
    if (natsConnection_ConnectTo(&nc, url) != NATS_OK)
        abort();
    send_events(send_raw, nc, n, rate);
    natsConnection_Flush(nc);
    struct result res;
    finish(&p, &res);
    natsConnection_Destroy(nc);
    return res;
}

/* ---- JetStream: async publish with acknowledgments, a push consumer
 * with explicit acks in the second process ---- */

static natsConnection *admin; /* the parent's, to make and delete streams */
static jsCtx *admin_js;
static unsigned js_runs;

static void stream_add(const char *stream, const char *pattern)
{
    jsStreamConfig sc;
    jsStreamConfig_Init(&sc);
    sc.Name = stream;
    sc.Subjects = &pattern;
    sc.SubjectsLen = 1;
    sc.Storage = js_FileStorage; /* as the bridge makes its stream */
    if (js_AddStream(NULL, admin_js, &sc, NULL, NULL) != NATS_OK)
        abort();
}

static double rate_since(uint64_t n, uint64_t start)
{
    return (double)n * 1e9 / (double)(now_ns() - start);
}

/* A JetStream run's end: the receiver's report, the sender's rate of
 * acknowledged publishes, and the stream deleted. */
static struct result js_end(struct child *p, const char *stream, double stored)
{
    struct result res;
    finish(p, &res);
    res.stored = stored;
    js_DeleteStream(admin_js, stream, NULL, NULL);
    return res;
}

struct js_sender {
    jsCtx *js;
    const char *subject;
    const char *origin; /* Nats-Msg-Id "origin.subject.seq", as the bridge's; NULL: none */
};

static void send_js(void *ctx, const void *data, size_t size)
{
    struct js_sender *s = ctx;
    jsPubOptions po;
    jsPubOptions_Init(&po);
    char id[128];
    if (s->origin) {
        struct stamp st;
        memcpy(&st, data, sizeof(st));
        snprintf(id, sizeof(id), "%s.%s.%" PRIu64, s->origin, s->subject, st.seq);
        po.MsgId = id;
    }
    natsStatus st = js_PublishAsync(s->js, s->subject, data, (int)size, &po);
    if (st != NATS_OK) {
        fprintf(stderr, "nats-bench: js_PublishAsync: %s\n", natsStatus_GetText(st));
        abort();
    }
}

/* The bridge: bus_publish() -> export (js_PublishAsync with Nats-Msg-Id)
 * -> stream -> durable-style push consumer of the other bridge -> bus. */
static struct result run_bridge_js(uint64_t n, uint64_t rate)
{
    char stream[32], pattern[32], subject[32], role[64];
    unsigned k = ++js_runs;
    js_names(true, k, stream, pattern, subject);
    bus_t *bus = new_bus(workers);
    bus_nats_t *nats = new_bridge(bus, pattern, NULL, stream); /* makes the stream */
    snprintf(role, sizeof(role), "recv-js.%u-bridge", k);
    struct child p;
    spawn(&p, role, n);
    bus_topic_t *t;
    if (bus_topic_open(bus, subject, NULL, &t))
        abort();
    uint64_t start = now_ns();
    send_events(send_bus, t, n, rate);
    bus_flush(bus);
    bus_nats_flush(nats, UINT64_MAX); /* every export acknowledged */
    double stored = rate_since(n, start);
    report_drops(nats);
    struct result res = js_end(&p, stream, stored);
    bus_nats_destroy(nats);
    bus_destroy(bus);
    return res;
}

/* @msg_id: each publish with a Nats-Msg-Id (the stream's deduplication,
 * which the bridge's exports pay). */
static struct result run_raw_js_with(uint64_t n, uint64_t rate, bool msg_id)
{
    char stream[32], pattern[32], subject[32], role[64];
    unsigned k = ++js_runs;
    js_names(false, k, stream, pattern, subject);
    stream_add(stream, pattern);
    snprintf(role, sizeof(role), "recv-js.%u-raw", k);
    struct child p;
    spawn(&p, role, n);
    natsConnection *nc;
    jsCtx *js;
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.PublishAsync.MaxPending = 4096; /* as the bridge's */
    jo.PublishAsync.StallWait = 5000;
    if (natsConnection_ConnectTo(&nc, url) != NATS_OK ||
        natsConnection_JetStream(&js, nc, &jo) != NATS_OK)
        abort();
    char origin[64]; /* as long as a bridge's id (pid, time, random) */
    snprintf(origin, sizeof(origin), "%ld.%lx.%lx", (long)getpid(), (unsigned long)now_ns(),
             (unsigned long)random());
    struct js_sender sender = {js, subject, msg_id ? origin : NULL};
    uint64_t start = now_ns();
    send_events(send_js, &sender, n, rate);
    if (js_PublishAsyncComplete(js, NULL) != NATS_OK)
        abort();
    struct result res = js_end(&p, stream, rate_since(n, start));
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    return res;
}

static struct result run_raw_js(uint64_t n, uint64_t rate)
{
    return run_raw_js_with(n, rate, false);
}

static struct result run_raw_js_id(uint64_t n, uint64_t rate)
{
    return run_raw_js_with(n, rate, true);
}

/* K round trips: p50 and p99 in res. */
static struct result run_requests(bool bridge, uint64_t k)
{
    struct child p;
    spawn(&p, bridge ? "reply-bridge" : "reply-raw", 0);
    uint64_t *rtt = calloc(k, sizeof(uint64_t));
    unsigned char payload[PAYLOAD] = {0}, reply[PAYLOAD];
    bus_t *bus = NULL;
    bus_nats_t *nats = NULL;
    bus_topic_t *t = NULL;
    natsConnection *nc = NULL;
    if (bridge) {
        bus = new_bus(workers);
        nats = new_bridge(bus, "bench.>", NULL, NULL);
        if (bus_topic_open(bus, "bench.rr", NULL, &t))
            abort();
    } else if (natsConnection_ConnectTo(&nc, url) != NATS_OK) {
        abort();
    }
    for (uint64_t i = 0; i < k; i++) {
        uint64_t t0 = now_ns();
        if (bridge) {
            size_t size;
            if (bus_request_wait(t, payload, sizeof(payload), 5000000000u, reply, sizeof(reply),
                                 &size))
                abort();
        } else {
            natsMsg *m = NULL;
            if (natsConnection_Request(&m, nc, "bench.rr", payload, sizeof(payload), 5000) !=
                NATS_OK)
                abort();
            natsMsg_Destroy(m);
        }
        rtt[i] = now_ns() - t0;
    }
    struct result res = {.rate = 0};
    res.p99 = percentile(rtt, k, 0.99);
    res.p50 = percentile(rtt, k, 0.50);
    free(rtt);
    if (nats)
        bus_nats_destroy(nats);
    if (bus)
        bus_destroy(bus);
    natsConnection_Destroy(nc);
    finish(&p, NULL);
    return res;
}

enum { SYSTEMS = 7, RAW = 3, RAW_JS = 5, MAX_ROUNDS = 64 };

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(const double *values, int n)
{
    double v[MAX_ROUNDS];
    memcpy(v, values, (size_t)n * sizeof(*v));
    qsort(v, (size_t)n, sizeof(*v), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static const char *const names[SYSTEMS] = {
    "local topic",         "local topic, exported",   "bridge (2 processes)",
    "raw cnats (2 processes)", "bridge JetStream",    "raw cnats JetStream",
    "raw cnats JetStream + Nats-Msg-Id"};
/* Each system's ratios are against this one's in the same round. */
static const int baseline[SYSTEMS] = {RAW, RAW, RAW, RAW, RAW_JS, RAW_JS, RAW_JS};

/* The medians of the request-reply rounds, bridge ([0]) against raw ([1]). */
static void report_requests(int rounds, double rr50[2][MAX_ROUNDS], double rr99[2][MAX_ROUNDS])
{
    double rr_ratio[MAX_ROUNDS];
    for (int r = 0; r < rounds; r++)
        rr_ratio[r] = rr50[0][r] / rr50[1][r];
    double b50 = median(rr50[0], rounds), r50 = median(rr50[1], rounds);
    printf("request-reply bridge     p50 %8.1f us  p99 %8.1f us (%.2fx raw p50)\n", b50,
           median(rr99[0], rounds), median(rr_ratio, rounds));
    printf("request-reply raw asap   p50 %8.1f us  p99 %8.1f us\n", r50, median(rr99[1], rounds));
}

/* --only: the system named exactly @only if there is one (the plain raw
 * JetStream row, whose name the Nats-Msg-Id row's contains), else the
 * systems whose name contains it. */
static bool selected(int s, const char *only)
{
    if (!only)
        return true;
    for (int i = 0; i < SYSTEMS; i++)
        if (strcmp(names[i], only) == 0)
            return i == s;
    return strstr(names[s], only) != NULL;
}

static int usage(void)
{
    fprintf(stderr, "usage: nats-bench [--rounds N] [--events N] [--paced N] [--rate N/s]\n"
                    "                  [--requests N] [--only NAME|SUBSTRING]\n");
    return 2;
}

int main(int argc, char **argv)
{
    if (getenv("BENCH_WORKERS"))
        workers = (unsigned)atoi(getenv("BENCH_WORKERS"));
    if (getenv("BENCH_WAIT") && strcmp(getenv("BENCH_WAIT"), "yield") == 0)
        wait_mode = BUS_WAIT_YIELD;
    if (argc == 5 && strcmp(argv[1], "--role") == 0) {
        url = argv[3];
        return child(argv[2], strtoull(argv[4], NULL, 10));
    }
    int rounds = 5;
    const char *only = NULL; /* --only NAME or SUBSTRING (profiling): see selected() */
    uint64_t events = 200000, paced = 20000, rate = 20000, requests = 2000;
    for (int i = 1; i + 1 < argc; i += 2) {
        uint64_t v = strtoull(argv[i + 1], NULL, 10);
        if (strcmp(argv[i], "--rounds") == 0)
            rounds = (int)(v < MAX_ROUNDS ? v : MAX_ROUNDS);
        else if (strcmp(argv[i], "--events") == 0)
            events = v;
        else if (strcmp(argv[i], "--paced") == 0)
            paced = v;
        else if (strcmp(argv[i], "--rate") == 0)
            rate = v;
        else if (strcmp(argv[i], "--requests") == 0)
            requests = v;
        else if (strcmp(argv[i], "--only") == 0)
            only = argv[i + 1];
        else
            return usage();
    }
    if (argc % 2 == 0) /* an option without its value */
        return usage();
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n <= 0)
        return 1;
    self[n] = '\0';
    struct nats_server server = {0};
    if (!nats_server_start(&server)) {
        fprintf(stderr, "nats-bench: could not start nats-server\n");
        return 1;
    }
    url = server.url;
    if (natsConnection_ConnectTo(&admin, url) != NATS_OK ||
        natsConnection_JetStream(&admin_js, admin, NULL) != NATS_OK)
        return 1;
    static double stored[SYSTEMS][MAX_ROUNDS], tput[SYSTEMS][MAX_ROUNDS], p50[SYSTEMS][MAX_ROUNDS], p99[SYSTEMS][MAX_ROUNDS],
        rr50[2][MAX_ROUNDS], rr99[2][MAX_ROUNDS];
    uint64_t lost = 0;
    struct result (*run[SYSTEMS])(uint64_t, uint64_t) = {
        run_local,     run_local_exported, run_bridge,   run_raw,
        run_bridge_js, run_raw_js,         run_raw_js_id};
    printf("%d rounds, %" PRIu64 " events for throughput, %" PRIu64 " at %" PRIu64
           "/s for latency, %" PRIu64 " requests, 128 B\n",
           rounds, events, paced, rate, requests);
    for (int r = 0; r < rounds; r++) {
        for (int s = 0; s < SYSTEMS; s++) { /* interleaved: each round runs all */
            if (!selected(s, only))
                continue;
            struct result t = run[s](events, 0), l = run[s](paced, rate);
            tput[s][r] = t.rate;
            stored[s][r] = t.stored;
            p50[s][r] = (double)l.p50 / 1000;
            p99[s][r] = (double)l.p99 / 1000;
            lost += t.lost + l.lost;
            printf("round %d  %-33s %10.0f ev/s  p50 %8.1f us  p99 %8.1f us  lost %" PRIu64,
                   r + 1, names[s], t.rate, p50[s][r], p99[s][r], t.lost + l.lost);
            if (t.stored > 0)
                printf("  stored %.0f ev/s", t.stored);
            printf("\n");
        }
        for (int b = 0; b < 2 && (!only || strstr("request-reply", only)); b++) {
            struct result q = run_requests(b == 0, requests);
            rr50[b][r] = (double)q.p50 / 1000;
            rr99[b][r] = (double)q.p99 / 1000;
            printf("round %d  request-reply %-10s p50 %8.1f us  p99 %8.1f us\n", r + 1,
                   b == 0 ? "bridge" : "raw asap", rr50[b][r], rr99[b][r]);
        }
        fflush(stdout);
    }
    /* Ratios per round (the systems of one round ran back to back), then
     * their median: steadier than a ratio of medians on a noisy machine. */
    printf("\nmedians over %d rounds (ratio: the median of the rounds' ratios)\n", rounds);
    for (int s = 0; s < SYSTEMS; s++) {
        if (!selected(s, only))
            continue;
        double ratio[MAX_ROUNDS], stored_ratio[MAX_ROUNDS];
        int base = baseline[s];
        for (int r = 0; r < rounds; r++) {
            ratio[r] = tput[base][r] > 0 ? tput[s][r] / tput[base][r] : 0;
            stored_ratio[r] = stored[base][r] > 0 ? stored[s][r] / stored[base][r] : 0;
        }
        double t = median(tput[s], rounds);
        printf("%-33s %10.0f ev/s (%.2fx %s)  p50 %8.1f us  p99 %8.1f us\n", names[s], t,
               median(ratio, rounds), names[base], median(p50[s], rounds),
               median(p99[s], rounds));
        if (median(stored[s], rounds) > 0) /* JetStream: acknowledged publishes */
            printf("%-33s %10.0f ev/s stored and acknowledged (%.2fx)\n", "",
                   median(stored[s], rounds), median(stored_ratio, rounds));
    }
    if (!only || strstr("request-reply", only))
        report_requests(rounds, rr50, rr99);
    printf("events lost: %" PRIu64 "\n", lost);
    jsCtx_Destroy(admin_js);
    natsConnection_Destroy(admin);
    nats_server_stop(&server);
    return lost ? 2 : 0;
}
