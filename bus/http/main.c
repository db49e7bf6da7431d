/* bus-gateway - the bus as an HTTP service (docs/gateway.md).
 *
 *   bus-gateway --listen HOST:PORT [--config FILE] [--workers N] [--data-dir DIR]
 *               [--nats URL[,URL...] [--export PATTERN]... [--import PATTERN[@GROUP]]...
 *                [--nats-prefix PREFIX] [--jetstream STREAM]
 *                [--nats-tls-ca FILE] [--nats-tls-cert FILE --nats-tls-key FILE]]
 *
 * The NATS flags are passed to the library as they are (bus_http_config_t
 * nats_args), which checks them: docs/scale-out.md.
 * Prints "listening on http://HOST:PORT" once it accepts connections (port
 * 0: a free one, printed), serves until SIGTERM or SIGINT, then stops
 * accepting, answers the clients in flight, drains the bus and exits 0.
 * Exit 2: bad command line or config; 1: could not start. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "bus.h"
#include "bus/http.h"

#define GRACE_NS (10ull * 1000000000u)

static int usage(const char *why)
{
    fprintf(stderr,
            "bus-gateway: %s\n"
            "usage: bus-gateway --listen HOST:PORT [--config FILE] [--workers N] [--data-dir DIR]\n"
            "         [--nats URL[,URL...] [--export PATTERN]... [--import PATTERN[@GROUP]]...\n"
            "          [--nats-prefix PREFIX] [--jetstream STREAM]\n"
            "          [--nats-tls-ca FILE] [--nats-tls-cert FILE --nats-tls-key FILE]]\n",
            why);
    return 2;
}

/* HOST:PORT, an IPv4 address and a port from 0 to 65535. */
static bool split_listen(char *arg, bus_http_config_t *cfg)
{
    char *colon = strrchr(arg, ':');
    if (!colon || colon == arg)
        return false;
    char *end;
    errno = 0;
    unsigned long port = strtoul(colon + 1, &end, 10);
    if (errno || *end || end == colon + 1 || port > 65535)
        return false;
    *colon = '\0';
    cfg->host = arg;
    cfg->port = (uint16_t)port;
    return true;
}

/* Thousands of parked clients need as many descriptors. */
static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

int main(int argc, char **argv)
{
    bus_http_config_t cfg;
    bus_http_config_init(&cfg);
    bool listen_given = false;
    /* The flags that are not its own go to the NATS bridge, gathered at
     * the start of argv (each pair moves to where it has been read). */
    char **nats_args = argv + 1;
    cfg.nats_args = (const char *const *)nats_args;
    for (int i = 1; i < argc; i++) {
        char *opt = argv[i];
        if (i + 1 >= argc)
            return usage("an option lacks its value");
        char *val = argv[++i];
        if (!strcmp(opt, "--listen")) {
            if (!split_listen(val, &cfg))
                return usage("--listen wants HOST:PORT");
            listen_given = true;
        } else if (!strcmp(opt, "--config")) {
            cfg.config_file = val;
        } else if (!strcmp(opt, "--data-dir")) {
            cfg.data_dir = val;
        } else if (!strcmp(opt, "--workers")) {
            char *end;
            unsigned long n = strtoul(val, &end, 10);
            if (*end || end == val || n == 0 || n > 256)
                return usage("--workers wants 1 to 256");
            cfg.threads = (unsigned)n;
        } else if (!strncmp(opt, "--", 2)) {
            nats_args[cfg.nats_nargs++] = opt; /* bus_http_start() says if unknown */
            nats_args[cfg.nats_nargs++] = val;
        } else {
            return usage("unknown option");
        }
    }
    if (!listen_given)
        return usage("--listen is required");
    raise_fd_limit();

    /* Every thread started from here on inherits the mask: the signals
     * reach only sigwait below. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);

    bus_t *bus;
    int rc = bus_create(&bus, NULL);
    if (rc) {
        fprintf(stderr, "bus-gateway: bus_create: %s\n", bus_strerror(rc));
        return 1;
    }
    bus_http_t *gw;
    rc = bus_http_start(bus, &cfg, &gw);
    if (rc) {
        fprintf(stderr, "bus-gateway: %s (%s)\n", bus_http_last_error(), bus_strerror(rc));
        bus_destroy(bus);
        return rc == -EINVAL || rc == -ENOTSUP || rc == -ENOENT ? 2 : 1;
    }
    printf("listening on http://%s:%u\n", cfg.host, bus_http_port(gw));
    fflush(stdout);

    int sig;
    sigwait(&stop, &sig);
    fprintf(stderr, "bus-gateway: %s: stopping\n", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    bus_http_stop(gw, GRACE_NS);
    rc = bus_shutdown(bus); /* every accepted event delivered */
    bus_destroy(bus);
    return rc ? 1 : 0;
}
