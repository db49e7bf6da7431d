/* child.h - a child process driven line by line (the NATS tests' peers,
 * nats-bench's receivers): its stdin and stdout are pipes of ours. */
#ifndef BUS_TEST_NATS_CHILD_H
#define BUS_TEST_NATS_CHILD_H

#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

struct child {
    pid_t pid;
    FILE *in, *out;
    char first[256]; /* its first line: "ready\n", or what went wrong */
};

/* Starts argv[0] with @argv (NULL-terminated) and returns true once it
 * printed "ready". The pipes are close-on-exec: a later child must not
 * hold this one's input open (it would never see its end). */
static inline bool child_start(struct child *c, char *const argv[])
{
    int to[2], from[2];
    if (pipe2(to, O_CLOEXEC) || pipe2(from, O_CLOEXEC))
        return false;
    c->pid = fork();
    if (c->pid == 0) {
        dup2(to[0], 0);
        dup2(from[1], 1);
        execv(argv[0], argv);
        _exit(127);
    }
    close(to[0]);
    close(from[1]);
    c->in = fdopen(to[1], "w");
    c->out = fdopen(from[0], "r");
    c->first[0] = '\0';
    return fgets(c->first, sizeof(c->first), c->out) && strcmp(c->first, "ready\n") == 0;
}

/* Ends its input, reads its last line into @line (unless NULL), waits for
 * it; returns its exit status, or -1 if it did not exit (a signal) or
 * printed no line. */
static inline int child_end(struct child *c, char *line, size_t size)
{
    fclose(c->in);
    bool got = !line || fgets(line, (int)size, c->out);
    fclose(c->out);
    int status;
    if (waitpid(c->pid, &status, 0) != c->pid || !WIFEXITED(status) || !got)
        return -1;
    return WEXITSTATUS(status);
}

#endif
