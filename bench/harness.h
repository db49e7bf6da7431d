/* harness.h - what scenarios share: clocks, waiting, threads, pinning,
 * counting sinks, fixtures (a system with its topics and subscribers) and
 * the result record. */
#ifndef BENCH_HARNESS_H
#define BENCH_HARNESS_H

#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "sut.h"

static inline uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

static inline size_t round_up(size_t n, size_t to)
{
    return (n + to - 1) / to * to;
}

/* One step of waiting for another thread: spin, then yield, then sleep
 * 50 us, so that waits never starve the thread waited for on 2 cores. */
void backoff_step(unsigned *rounds);

/* Sleeps until CLOCK_MONOTONIC reaches @deadline_ns. @precise spins the
 * last 50 us (costs CPU); otherwise the timer's slack (~50 us) applies. */
void sleep_until_ns(uint64_t deadline_ns, bool precise);

/* Pins the calling thread to CPU @index modulo the online CPUs. */
void pin_thread(unsigned index);

/* Resident set size of the process, bytes. */
uint64_t rss_bytes(void);
/* Bytes malloc has handed out and not taken back. */
uint64_t heap_bytes(void);

/* A handler's counter, alone on its cache line. */
struct sink {
    alignas(64) _Atomic uint64_t count;
};
/* sut_handler_fn that counts calls into a struct sink. */
void sink_count(void *ctx, const void *data, size_t size);
uint64_t sink_read(struct sink *s);

/* Parameters of one scenario run, from the command line. */
struct run_params {
    unsigned producers, workers, subs, topics;
    uint32_t payload;
    uint64_t events;   /* 0 = run for `seconds` */
    double seconds;
    double rate;       /* open-loop events/s; 0 = half the system's peak */
    enum sut_wait wait;
    bool pin, quick, watch;
};

enum { LAT_P50, LAT_P90, LAT_P99, LAT_P999, LAT_P9999, LAT_MAX, LAT_COUNT };
enum { MAX_EXTRA = 8 };

struct metric {
    const char *key; /* a string literal */
    double value;
};

/* What one scenario run measured. */
struct result {
    const char *system, *scenario;
    struct run_params params;
    bool skipped;      /* the system cannot run the scenario: see note */
    bool ok;           /* counts matched and nothing failed */
    bool implausible;  /* ok, but a figure cannot be right (noise): see note */
    char note[160];    /* why it failed, was skipped or is implausible */
    uint64_t published, expected, handled;
    double seconds;
    double rate;       /* events published per second, 0 if not measured */
    bool has_latency;
    double lat_ns[LAT_COUNT];
    unsigned nextra;
    struct metric extra[MAX_EXTRA];
};

void result_extra(struct result *r, const char *key, double value);
/* The value of extra @key, or false if @r has none. */
bool result_extra_find(const struct result *r, const char *key, double *value);
/* Records a failure (first one wins) and clears ok. */
void result_fail(struct result *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Marks an ok result whose figures cannot be right (first reason wins). */
void result_implausible(struct result *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Fails a run that published no event: its figures would be zeros. */
void result_check_measured(struct result *r);
/* Checks that every expected handler call happened. */
void result_check_counts(struct result *r, uint64_t expected, uint64_t handled);

/* A system with its topics and subscribers, torn down in one call. */
enum { FIXTURE_MAX_SUBS = 1024 };
struct fixture {
    const struct sut_ops *ops;
    void *sys;
    unsigned ntopics, nsubs;
    void **topics;
    void *subs[FIXTURE_MAX_SUBS];
};

int fixture_create(struct fixture *f, const struct sut_ops *ops, const struct run_params *p,
                   uint32_t max_topics);
/* Opens @count topics called prefix.N with @cfg. */
int fixture_open_topics(struct fixture *f, const char *prefix, unsigned count,
                        const struct sut_topic_config *cfg);
int fixture_subscribe(struct fixture *f, void *topic, sut_handler_fn fn, void *ctx);
/* Unsubscribes everything, then destroys the system. */
void fixture_destroy(struct fixture *f);

/* The topic configuration scenarios use for their busy topics. */
struct sut_topic_config busy_topic_config(const struct run_params *p, bool parallel);

/* Threads started by run_threads wait on it, so they all start together
 * once every thread exists; open_ns is when it opened. */
struct start_gate {
    _Atomic bool open;
    uint64_t open_ns;
};
void start_gate_wait(struct start_gate *gate);

/* Runs fn(args + i * arg_size) on @n threads, opens @gate (may be NULL) once
 * they all exist, and joins them. */
int run_threads(unsigned n, void *(*fn)(void *), void *args, size_t arg_size,
                struct start_gate *gate);

#endif
