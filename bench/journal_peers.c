/* journal_peers.c - the durable topic's work done by what users would use
 * otherwise, each next to the bus's durable topic in the same run
 * (docs/performance.md, "Durable topics"):
 *   sqlite     one INSERT per event into SQLite in WAL mode (autocommit),
 *              synchronous=NORMAL (the WAL is synced at checkpoints: a
 *              process kill loses nothing, a power loss the last
 *              transactions) and FULL (the WAL synced at every commit)
 *   jetstream  NATS JetStream file storage (nats-server -js, started here
 *              on 127.0.0.1 with a temporary store directory): asynchronous
 *              publish (js_PublishAsync, all acknowledged at the end) and
 *              synchronous publish (js_Publish, one ack round trip each)
 * 1 producer, 64-byte events. usage: bus-journal-peers [sqlite|jetstream|all]
 * [events] [dir] */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <nats/nats.h>

#include "bus.h"
#include "bus/journal.h"
#include "journal_common.h"

static const char *base;

static void fail(const char *what, const char *why)
{
    fprintf(stderr, "%s: %s\n", what, why);
    exit(1);
}

/* The bus's durable topic, 1 producer, no subscriber: events/s. */
static double bus_rate(int sync, uint64_t n)
{
    char *dir = jb_fresh_dir(base);
    bus_t *bus;
    if (bus_create(&bus, NULL))
        fail("bus_create", bus_last_error());
    bus_journal_config_t j;
    bus_journal_config_init(&j);
    j.dir = dir;
    j.sync = sync;
    bus_topic_t *t;
    if (bus_topic_open_durable(bus, "bench", NULL, &j, &t))
        fail("bus_topic_open_durable", bus_last_error());
    char payload[64] = "event";
    uint64_t start = jb_now_ns();
    for (uint64_t i = 0; i < n; i++)
        if (bus_publish(t, payload, sizeof(payload)))
            fail("bus_publish", bus_last_error());
    double rate = (double)n * 1e9 / (double)(jb_now_ns() - start);
    bus_destroy(bus);
    jb_remove_dir(dir);
    return rate;
}

static double sqlite_rate(const char *synchronous, uint64_t n)
{
    char *dir = jb_fresh_dir(base);
    char path[300], pragma[64];
    snprintf(path, sizeof(path), "%s/events.db", dir);
    sqlite3 *db;
    if (sqlite3_open(path, &db) != SQLITE_OK)
        fail("sqlite3_open", sqlite3_errmsg(db));
    snprintf(pragma, sizeof(pragma), "PRAGMA synchronous=%s", synchronous);
    const char *setup[] = {"PRAGMA journal_mode=WAL", pragma,
                           "CREATE TABLE events (seq INTEGER PRIMARY KEY, data BLOB)"};
    for (int i = 0; i < 3; i++)
        if (sqlite3_exec(db, setup[i], NULL, NULL, NULL) != SQLITE_OK)
            fail(setup[i], sqlite3_errmsg(db));
    sqlite3_stmt *insert;
    if (sqlite3_prepare_v2(db, "INSERT INTO events (data) VALUES (?)", -1, &insert, NULL))
        fail("prepare", sqlite3_errmsg(db));
    char payload[64] = "event";
    uint64_t start = jb_now_ns();
    for (uint64_t i = 0; i < n; i++) {
        sqlite3_bind_blob(insert, 1, payload, sizeof(payload), SQLITE_STATIC);
        if (sqlite3_step(insert) != SQLITE_DONE)
            fail("insert", sqlite3_errmsg(db));
        sqlite3_reset(insert);
    }
    double rate = (double)n * 1e9 / (double)(jb_now_ns() - start);
    sqlite3_finalize(insert);
    sqlite3_close(db);
    jb_remove_dir(dir);
    return rate;
}

static void sqlite(uint64_t n)
{
    uint64_t few = n / 20 ? n / 20 : 1; /* synced commits are slow */
    printf("sqlite vs durable topic, 1 producer, 64 B (same run):\n");
    printf("  bus BUS_SYNC_INTERVAL       %12.0f events/s\n", bus_rate(BUS_SYNC_INTERVAL, n));
    printf("  SQLite WAL, synchronous=NORMAL %9.0f events/s\n", sqlite_rate("NORMAL", n));
    printf("  bus BUS_SYNC_ALWAYS         %12.0f events/s\n", bus_rate(BUS_SYNC_ALWAYS, few));
    printf("  SQLite WAL, synchronous=FULL %11.0f events/s\n", sqlite_rate("FULL", few));
}

/* A port nobody listens on now (the kernel's pick). */
static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) ||
        getsockname(fd, (struct sockaddr *)&a, &len))
        fail("free_port", "no socket");
    close(fd);
    return ntohs(a.sin_port);
}

struct server {
    pid_t pid;
    char *dir;
    char url[64];
};

static void server_start(struct server *s)
{
    s->dir = jb_fresh_dir(base);
    int port = free_port();
    char port_text[16];
    snprintf(port_text, sizeof(port_text), "%d", port);
    snprintf(s->url, sizeof(s->url), "nats://127.0.0.1:%d", port);
    fflush(stdout); /* the child must not write the parent's buffered lines */
    s->pid = fork();
    if (s->pid == 0) {
        freopen("/dev/null", "w", stdout); /* its banner and log */
        freopen("/dev/null", "w", stderr);
        execlp("nats-server", "nats-server", "-js", "-sd", s->dir, "-a", "127.0.0.1", "-p",
               port_text, (char *)NULL);
        _exit(127);
    }
}

static void server_stop(struct server *s)
{
    kill(s->pid, SIGTERM);
    waitpid(s->pid, NULL, 0);
    jb_remove_dir(s->dir);
}

/* Connects, retrying while the server starts (5 s at most). */
static natsConnection *connect_to(const struct server *s)
{
    natsConnection *nc = NULL;
    for (int i = 0; i < 500; i++) {
        if (natsConnection_ConnectTo(&nc, s->url) == NATS_OK)
            return nc;
        struct timespec ms10 = {0, 10000000};
        nanosleep(&ms10, NULL); /* the server is starting: nothing to wait on */
    }
    fail("natsConnection_ConnectTo", "nats-server did not come up");
    return NULL;
}

static jsCtx *stream(natsConnection *nc)
{
    jsCtx *js;
    if (natsConnection_JetStream(&js, nc, NULL) != NATS_OK)
        fail("natsConnection_JetStream", nats_GetLastError(NULL));
    jsStreamConfig cfg;
    jsStreamConfig_Init(&cfg);
    const char *subjects[] = {"bench"};
    cfg.Name = "BENCH";
    cfg.Subjects = subjects;
    cfg.SubjectsLen = 1;
    cfg.Storage = js_FileStorage;
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    if (js_AddStream(&si, js, &cfg, NULL, &jerr) != NATS_OK)
        fail("js_AddStream", nats_GetLastError(NULL));
    jsStreamInfo_Destroy(si);
    return js;
}

static double jetstream_rate(bool async, uint64_t n)
{
    struct server s;
    server_start(&s);
    natsConnection *nc = connect_to(&s);
    jsCtx *js = stream(nc);
    char payload[64] = "event";
    uint64_t start = jb_now_ns();
    for (uint64_t i = 0; i < n; i++) {
        natsStatus st;
        if (async) {
            st = js_PublishAsync(js, "bench", payload, sizeof(payload), NULL);
        } else {
            jsPubAck *ack = NULL;
            st = js_Publish(&ack, js, "bench", payload, sizeof(payload), NULL, NULL);
            jsPubAck_Destroy(ack);
        }
        if (st != NATS_OK)
            fail("publish", nats_GetLastError(NULL));
    }
    if (async && js_PublishAsyncComplete(js, NULL) != NATS_OK)
        fail("js_PublishAsyncComplete", nats_GetLastError(NULL));
    double rate = (double)n * 1e9 / (double)(jb_now_ns() - start);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    server_stop(&s);
    return rate;
}

static void jetstream(uint64_t n)
{
    printf("NATS JetStream (nats-server 2.9 -js, file storage, syncs every 60 s) vs durable "
           "topic, 1 producer, 64 B (same run):\n");
    printf("  bus BUS_SYNC_INTERVAL          %12.0f events/s\n",
           bus_rate(BUS_SYNC_INTERVAL, n));
    printf("  JetStream js_PublishAsync      %12.0f events/s\n", jetstream_rate(true, n));
    printf("  JetStream js_Publish (sync)    %12.0f events/s\n",
           jetstream_rate(false, n / 10 ? n / 10 : 1));
}

int main(int argc, char **argv)
{
    struct jb_args args = jb_parse(argc, argv);
    uint64_t n = args.events;
    base = args.base;
    if (jb_wants(&args, "sqlite"))
        sqlite(n ? n : 200000);
    if (jb_wants(&args, "jetstream"))
        jetstream(n ? n : 500000);
    nats_Close();
    return 0;
}
