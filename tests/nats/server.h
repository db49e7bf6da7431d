/* server.h - a nats-server of the test's own: 127.0.0.1, a free port, a
 * temporary JetStream directory; stopped (or killed and restarted on the
 * same port and directory) by the test. */
#ifndef BUS_TEST_NATS_SERVER_H
#define BUS_TEST_NATS_SERVER_H

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct nats_server {
    pid_t pid;
    int port;
    char dir[64];
    char url[64];
    const char *extra[8]; /* more arguments (TLS, authentication), NULL-ended */
};

/* A port nobody listens on now (the kernel's choice of a free one). */
static inline int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) ||
        getsockname(fd, (struct sockaddr *)&a, &len)) {
        perror("free_port");
        exit(1);
    }
    close(fd);
    return ntohs(a.sin_port);
}

static inline bool port_accepts(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bool ok = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
    close(fd);
    return ok;
}

/* Starts the server on s->port (kept from a previous start, or a free one)
 * and returns once it accepts connections: the server has no readiness
 * signal but its port, so this probes it, 10 s at most. */
static inline bool nats_server_start(struct nats_server *s)
{
    if (!s->port) {
        s->port = free_port();
        snprintf(s->dir, sizeof(s->dir), "/tmp/bus-nats-XXXXXX");
        if (!mkdtemp(s->dir))
            return false;
        snprintf(s->url, sizeof(s->url), "nats://127.0.0.1:%d", s->port);
    }
    char port[16];
    snprintf(port, sizeof(port), "%d", s->port);
    s->pid = fork();
    if (s->pid == 0) {
        /* Its log in its directory, out of the test's output. */
        char log[96];
        snprintf(log, sizeof(log), "%s/server.log", s->dir);
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        const char *argv[24] = {"nats-server", "-a", "127.0.0.1", "-p", port, "-js", "-sd", s->dir};
        for (int i = 0; i < 8 && s->extra[i]; i++)
            argv[8 + i] = s->extra[i];
        execvp("nats-server", (char *const *)argv);
        _exit(127);
    }
    for (int i = 0; i < 1000; i++) {
        if (port_accepts(s->port))
            return true;
        if (waitpid(s->pid, NULL, WNOHANG) == s->pid) {
            s->pid = 0;
            return false; /* it died: port taken, or no nats-server */
        }
        nanosleep(&(struct timespec){.tv_nsec = 10000000}, NULL);
    }
    return false;
}

/* SIGKILL (as a crash) or SIGTERM; the port and directory stay for a
 * restart. */
static inline void nats_server_signal(struct nats_server *s, int sig)
{
    if (s->pid > 0) {
        kill(s->pid, sig);
        waitpid(s->pid, NULL, 0);
        s->pid = 0;
    }
}

static inline void nats_server_stop(struct nats_server *s)
{
    nats_server_signal(s, SIGTERM);
    if (s->dir[0]) {
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf %s", s->dir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", s->dir);
    }
    s->port = 0;
}

#endif
