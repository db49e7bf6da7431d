/* journal_common.h - what the durable topic benches share (journal_bench.c,
 * journal_peers.c): the clock, the command line, and a fresh directory for
 * each journal or store under the base the user named. */
#ifndef BUS_BENCH_JOURNAL_COMMON_H
#define BUS_BENCH_JOURNAL_COMMON_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static inline uint64_t jb_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The command line: [what] [events] [dir]; what defaults to "all", events
 * to 0 (each scenario's own default), dir to /tmp. */
struct jb_args {
    const char *what;
    uint64_t events;
    const char *base;
};

static inline struct jb_args jb_parse(int argc, char **argv)
{
    struct jb_args a = {"all", 0, "/tmp"};
    if (argc > 1)
        a.what = argv[1];
    if (argc > 2)
        a.events = strtoull(argv[2], NULL, 10);
    if (argc > 3)
        a.base = argv[3];
    return a;
}

/* Whether the command line asked for scenario @name (or for all). */
static inline bool jb_wants(const struct jb_args *a, const char *name)
{
    return strcmp(a->what, "all") == 0 || strcmp(a->what, name) == 0;
}

/* A new directory under @base (malloc'd; jb_remove_dir frees it). */
static inline char *jb_fresh_dir(const char *base)
{
    char *dir = malloc(256);
    if (!dir)
        exit(1);
    snprintf(dir, 256, "%s/bus-jbench-XXXXXX", base);
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        exit(1);
    }
    return dir;
}

static inline void jb_remove_dir(char *dir)
{
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd))
        fprintf(stderr, "could not remove %s\n", dir);
    free(dir);
}

#endif
