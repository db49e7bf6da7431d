/* run_with_server.c - runs PROGRAM [ARGS...] URL with a nats-server of its
 * own (server.h) for the time of the run, in a process group of its own
 * that is killed when it exits (no straggler keeps the test's output
 * open); exits with the program's status. */
#include <stdio.h>

#include "server.h"

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s PROGRAM [ARGS...]\n", argv[0]);
        return 2;
    }
    struct nats_server s = {0};
    if (!nats_server_start(&s))
        return 1;
    pid_t pid = fork();
    if (pid == 0) {
        setpgid(0, 0); /* its children with it, for the clean-up below */
        char *args[64];
        int n = 0;
        for (int i = 1; i < argc && n < 62; i++)
            args[n++] = argv[i];
        args[n++] = s.url;
        args[n] = NULL;
        execv(args[0], args);
        _exit(127);
    }
    setpgid(pid, pid);
    int status = 1;
    waitpid(pid, &status, 0);
    kill(-pid, SIGKILL); /* what it left behind (workers of a failed run) */
    nats_server_stop(&s);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
