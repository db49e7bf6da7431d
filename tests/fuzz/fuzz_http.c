/* fuzz_http.c - libFuzzer target for the HTTP gateway's request handling:
 * each input is sent as raw bytes on a fresh TCP connection to a gateway
 * running in this process (127.0.0.1, a free port), then the answer is read
 * until the server closes or a short deadline passes. So libmicrohttpd's
 * parsing and every route of ours (path, query, headers, body, percent
 * decoding, auth, JSON bodies, idempotency keys, streams) see the input;
 * the sanitizers watch the server's threads. Waits are capped by the
 * config (max_wait_s 0, request timeouts of 20 ms, 10 ms heartbeats) so
 * that an input costs milliseconds. Seeds: corpus_http/ (one request each;
 * make_http_seeds.py). */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bus.h"
#include "bus/http.h"

static const char config[] =
    "[gateway]\n"
    "max_wait_s = 0\n"
    "heartbeat_ms = 10\n"
    "request_timeout_ms = 20\n"
    "request_timeout_max_ms = 20\n"
    "connection_timeout_s = 1\n"
    "body_timeout_ms = 200\n"
    "max_topics = 64\n"
    "idempotency_keys = 1000\n"
    "[defaults]\n"
    "max_payload = 256\n"
    "retention_events = 8\n"
    "[topic small]\n"
    "max_payload = 8\n"
    "retention_events = 2\n"
    "[token all]\n"
    "secret = fuzz-secret\n"
    "publish = >\n"
    "subscribe = a.*, small\n";

static uint16_t port;
/* Globals, so that LeakSanitizer sees what the gateway holds as reachable. */
static bus_t *bus;
static bus_http_t *gw;

static void start_gateway(void)
{
    char path[] = "/tmp/fuzz_http_XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0 || write(fd, config, sizeof(config) - 1) != (ssize_t)(sizeof(config) - 1))
        abort();
    close(fd);
    if (bus_create(&bus, NULL))
        abort();
    bus_http_config_t cfg;
    bus_http_config_init(&cfg);
    cfg.config_file = path;
    if (bus_http_start(bus, &cfg, &gw)) {
        fprintf(stderr, "fuzz_http: %s\n", bus_http_last_error());
        abort();
    }
    unlink(path);
    port = bus_http_port(gw);
    /* The gateway and its bus live until the process ends. */
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int open_descriptors(void)
{
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    for (struct dirent *e; d && (e = readdir(d));)
        n += e->d_name[0] != '.';
    if (d)
        closedir(d);
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!port)
        start_gateway();
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (s < 0 || connect(s, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
        /* The server must always accept: say why it did not, and how many
         * descriptors this process (client and gateway) holds. */
        int err = errno;
        fprintf(stderr, "fuzz_http: %s: %s; open descriptors: %d\n", s < 0 ? "socket" : "connect",
                strerror(err), open_descriptors());
        abort();
    }
    size_t sent = 0;
    while (sent < size) {
        ssize_t n = send(s, data + sent, size - sent, MSG_NOSIGNAL);
        if (n <= 0)
            break; /* closed on us: a refused request */
        sent += (size_t)n;
    }
    shutdown(s, SHUT_WR);
    char buf[65536];
    uint64_t deadline = now_ms() + 100;
    for (uint64_t t; (t = now_ms()) < deadline;) {
        struct pollfd p = {.fd = s, .events = POLLIN};
        if (poll(&p, 1, (int)(deadline - t)) <= 0)
            break;
        if (recv(s, buf, sizeof(buf), 0) <= 0)
            break;
    }
    close(s);
    return 0;
}
