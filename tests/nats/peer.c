/* peer.c - a process of the NATS tests (and of docs/scale-out.md's
 * example): a bus with a bridge configured by the bridge's own flags, and
 * optionally a counting subscriber and a replier, driven line by line on
 * stdin; one answer line per command on stdout.
 *
 *   nats-peer --nats URL [--export P]... [--import P[@G]]...
 *             [--count PATTERN --ledger FILE --slot K] [--reply PATTERN]
 *             [--reply-delay-ms MS] [--jetstream STREAM] [--name NAME]
 *             [--ack-wait-ms MS] [--backoff-ms MS] [--handle-ms MS] [--fail-every K]
 *             [--pending MSGS] [--import-capacity SLOTS]  (the counter fails the first delivery of
 *                                every seq divisible by K)
 *             [--reconnect-buf BYTES] [--reconnect-wait-ms MS]
 *   commands: publish TOPIC FIRST N   -> "published"   (N events of 128 B,
 *                                         seq FIRST.. in the payload)
 *             request TOPIC N MS      -> "ok=K enoent=E etimedout=T other=O"
 *             sync                    -> "synced" (bus_nats_flush)
 *             settle                  -> "settled" (cnats holds nothing for
 *                                         the imports, the bus handled all)
 *             wait-down               -> "down"
 *             stats                   -> the bridge's counters
 *   end of input: the counters printed, the bridge and the bus destroyed. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus/nats.h"
#include "ledger.h"

enum { PAYLOAD = 128 };
static const uint64_t SECOND = 1000000000u;

static struct ledger_region *counts;
static unsigned fail_every; /* fail the first delivery of seqs divisible by it */
static unsigned handle_ms;  /* each counted event takes that long (a slow member) */

static int count_event(const bus_event_t *ev, void *ctx)
{
    (void)ctx;
    char text[16] = {0};
    memcpy(text, ev->data, ev->size < sizeof(text) - 1 ? ev->size : sizeof(text) - 1);
    uint32_t seq = (uint32_t)strtoul(text, NULL, 10);
    bool first = seq < LEDGER_SEQS && atomic_load(&counts->seen[seq]) == 0;
    ledger_see(counts, seq);
    if (handle_ms)
        nanosleep(&(struct timespec){.tv_nsec = (long)handle_ms * 1000000L}, NULL);
    return fail_every && seq % fail_every == 0 && first ? -1 : 0;
}

static unsigned reply_delay_ms;

static int reply_event(const bus_event_t *ev, void *ctx)
{
    (void)ctx;
    if (reply_delay_ms) /* a slow service, for the timeout test */
        nanosleep(&(struct timespec){.tv_sec = reply_delay_ms / 1000,
                                     .tv_nsec = (reply_delay_ms % 1000) * 1000000L},
                  NULL);
    char out[PAYLOAD + 8] = "re:";
    size_t n = ev->size < PAYLOAD ? ev->size : PAYLOAD;
    memcpy(out + 3, ev->data, n);
    bus_reply(ev, out, n + 3);
    return 0;
}

static void print_stats(bus_nats_t *nats)
{
    bus_nats_stats_t s;
    bus_nats_stats(nats, &s);
    printf("exported=%lu imported=%lu echo_skipped=%lu requests_out=%lu requests_in=%lu "
           "no_responders=%lu dropped_reconnect_buffer=%lu dropped_closed=%lu "
           "dropped_local_full=%lu dropped_local_error=%lu dropped_slow_consumer=%lu "
           "disconnects=%lu reconnects=%lu connected=%d js_failed=%lu js_resent=%lu "
           "js_acked=%lu js_nacked=%lu\n",
           s.exported, s.imported, s.echo_skipped, s.requests_out, s.requests_in,
           s.no_responders, s.dropped_reconnect_buffer, s.dropped_closed, s.dropped_local_full,
           s.dropped_local_error, s.dropped_slow_consumer, s.disconnects, s.reconnects,
           s.connected, s.js_failed, s.js_resent, s.js_acked, s.js_nacked);
}

static void publish(bus_t *bus, bus_nats_t *nats, const char *topic_name, unsigned first,
                    unsigned n)
{
    bus_topic_t *topic;
    if (bus_topic_open(bus, topic_name, NULL, &topic)) {
        printf("error: topic\n");
        return;
    }
    char payload[PAYLOAD] = {0};
    for (unsigned i = 0; i < n; i++) {
        snprintf(payload, sizeof(payload), "%u", first + i);
        bus_publish(topic, payload, sizeof(payload));
    }
    bus_flush(bus);
    /* While disconnected the events wait in the reconnect buffer: the
     * test decides when the server comes back, so do not wait for it. */
    bus_nats_stats_t s;
    bus_nats_stats(nats, &s);
    if (s.connected)
        bus_nats_flush(nats, 10 * SECOND);
    printf("published\n");
}

static void request(bus_t *bus, const char *topic_name, unsigned n, unsigned ms)
{
    bus_topic_t *topic;
    if (bus_topic_open(bus, topic_name, NULL, &topic)) {
        printf("error: topic\n");
        return;
    }
    unsigned ok = 0, enoent = 0, etimedout = 0, other = 0;
    for (unsigned i = 0; i < n; i++) {
        char req[PAYLOAD] = {0}, reply[PAYLOAD + 8];
        snprintf(req, sizeof(req), "%u", i);
        size_t size;
        int rc = bus_request_wait(topic, req, strlen(req), (uint64_t)ms * 1000000u, reply,
                                  sizeof(reply), &size);
        if (rc == 0 && size == strlen(req) + 3 && memcmp(reply, "re:", 3) == 0 &&
            memcmp(reply + 3, req, size - 3) == 0)
            ok++;
        else if (rc == -ENOENT)
            enoent++;
        else if (rc == -ETIMEDOUT)
            etimedout++;
        else
            other++;
    }
    printf("ok=%u enoent=%u etimedout=%u other=%u\n", ok, enoent, etimedout, other);
}

/* Until every imported message is handled (import_pending 0): each flush
 * lets a blocked delivery thread move on, and no message comes in
 * meanwhile (the test sent a "sync" first). */
static void settle(bus_t *bus, bus_nats_t *nats)
{
    bus_nats_stats_t s;
    do
        bus_flush(bus);
    while (bus_nats_stats(nats, &s) == 0 && s.import_pending > 0);
    bus_flush(bus);
    printf("settled\n");
}

static void serve(bus_t *bus, bus_nats_t *nats)
{
    char line[512], name[256];
    unsigned a, b;
    while (fgets(line, sizeof(line), stdin)) {
        if (sscanf(line, "publish %255s %u %u", name, &a, &b) == 3)
            publish(bus, nats, name, a, b);
        else if (sscanf(line, "request %255s %u %u", name, &a, &b) == 3)
            request(bus, name, a, b);
        else if (strncmp(line, "sync", 4) == 0)
            printf(bus_nats_flush(nats, 30 * SECOND) ? "error: sync\n" : "synced\n");
        else if (strncmp(line, "settle", 6) == 0)
            settle(bus, nats);
        else if (strncmp(line, "wait-down", 9) == 0)
            printf(bus_nats_wait_connected(nats, false, 30 * SECOND) ? "error: down\n"
                                                                      : "down\n");
        else if (strncmp(line, "stats", 5) == 0)
            print_stats(nats);
        else
            printf("error: unknown command\n");
        fflush(stdout);
    }
}

int main(int argc, char **argv)
{
    bus_nats_config_t cfg;
    bus_nats_config_init(&cfg);
    cfg.reconnect_wait_ms = 50;
    cfg.max_reconnect = -1;
    const char *count = NULL, *reply = NULL, *ledger = NULL;
    bus_topic_config_t import_topic;
    uint64_t backoff;
    unsigned slot = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        int rc = bus_nats_config_parse(&cfg, argv[i], argv[i + 1]);
        if (rc == 0)
            continue;
        if (rc != -ENOENT) {
            fprintf(stderr, "nats-peer: %s: %s\n", argv[i], bus_nats_last_error());
            return 2;
        }
        if (strcmp(argv[i], "--count") == 0)
            count = argv[i + 1];
        else if (strcmp(argv[i], "--ledger") == 0)
            ledger = argv[i + 1];
        else if (strcmp(argv[i], "--slot") == 0)
            slot = (unsigned)atoi(argv[i + 1]) % LEDGER_REGIONS;
        else if (strcmp(argv[i], "--reply") == 0)
            reply = argv[i + 1];
        else if (strcmp(argv[i], "--pending") == 0)
            cfg.pending_msgs = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--import-capacity") == 0) {
            bus_topic_config_init(&import_topic);
            import_topic.capacity = (uint32_t)atoi(argv[i + 1]);
            cfg.import_topic = &import_topic;
        } else if (strcmp(argv[i], "--handle-ms") == 0)
            handle_ms = (unsigned)atoi(argv[i + 1]) % 1000;
        else if (strcmp(argv[i], "--backoff-ms") == 0) {
            backoff = strtoull(argv[i + 1], NULL, 10) * 1000000u;
            cfg.backoff_ns = &backoff;
            cfg.backoff_count = 1;
        } else if (strcmp(argv[i], "--ack-wait-ms") == 0)
            cfg.ack_wait_ms = (uint32_t)atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--fail-every") == 0)
            fail_every = (unsigned)atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--name") == 0)
            cfg.name = argv[i + 1];
        else if (strcmp(argv[i], "--reply-delay-ms") == 0)
            reply_delay_ms = (unsigned)atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--reconnect-buf") == 0)
            cfg.reconnect_buf_bytes = atoll(argv[i + 1]);
        else {
            fprintf(stderr, "nats-peer: unknown flag %s\n", argv[i]);
            return 2;
        }
    }
    bus_t *bus;
    bus_nats_t *nats;
    bus_sub_t *sub;
    bus_config_t bus_cfg;
    bus_config_init(&bus_cfg);
    bus_cfg.workers = 2;
    if (bus_create(&bus, &bus_cfg))
        return 1;
    if (count) {
        struct ledger *l = ledger ? ledger_map(ledger, false) : NULL;
        if (!l || bus_subscribe_pattern(bus, count, count_event, NULL, NULL, &sub))
            return 1;
        counts = &l->region[slot];
    }
    if (reply && bus_subscribe_pattern(bus, reply, reply_event, NULL, NULL, &sub))
        return 1;
    if (bus_nats_create(bus, &cfg, &nats)) {
        printf("error: %s\n", bus_nats_last_error());
        return 1;
    }
    printf("ready\n");
    fflush(stdout);
    serve(bus, nats);
    bus_flush(bus);
    print_stats(nats);
    bus_nats_destroy(nats);
    bus_destroy(bus);
    return 0;
}
