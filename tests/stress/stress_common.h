/* stress_common.h - what the stress programs share: options, clocks, random
 * numbers, stamped payloads, failure accounting and process resource counts.
 *
 * Every stress program takes `--seconds N --threads N` (plus `--workers N`,
 * `--cycles N`, `--seed N`) and exits 0 only if every invariant held. */
#ifndef BUS_STRESS_COMMON_H
#define BUS_STRESS_COMMON_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bus.h"

struct stress_opts {
    double seconds;   /* how long the timed phase runs */
    unsigned threads; /* producer (or churner) threads */
    unsigned workers; /* bus worker threads */
    unsigned cycles;  /* repetitions, for cycle-based phases */
    uint64_t seed;    /* random seed, printed so a failure can be replayed */
};

/* Fills @o from the command line over the defaults already in @o; prints
 * usage and exits on a bad option. Prints the effective options. */
void stress_parse(int argc, char **argv, const char *name, struct stress_opts *o);

/* ---- time ---- */
uint64_t stress_now_ns(void);
uint64_t stress_deadline_ns(double seconds);
void stress_sleep_us(unsigned us);

/* ---- random numbers (xorshift64*, one state per thread) ---- */
uint64_t stress_rand(uint64_t *state);
/* Uniform in [0, n); n > 0. */
uint32_t stress_below(uint64_t *state, uint32_t n);
/* A non-zero state derived from the run's seed and a thread's index. */
uint64_t stress_seed_for(uint64_t seed, uint64_t index);

/* ---- failures ---- */
/* Records one failed invariant (printed, up to a limit); thread-safe. */
void stress_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
unsigned long stress_failures(void);
#define STRESS_CHECK(cond, ...)                                                     \
    do {                                                                            \
        if (!(cond))                                                                \
            stress_fail(__VA_ARGS__);                                               \
    } while (0)
/* A setup call that must succeed: aborts the run otherwise. */
void stress_must(int rc, const char *what);
/* Prints the verdict; returns the exit status (0 only if nothing failed). */
int stress_finish(const char *name);

/* ---- stamped payloads ----
 * Each event carries who sent it and a checksum of all its bytes, so a
 * subscriber detects loss, duplicates, reordering and torn copies. */
struct stress_stamp {
    uint32_t producer;
    uint32_t topic;
    uint64_t seq;      /* per (producer, topic), from 0 */
    uint32_t size;     /* the whole payload's size, stamp included */
    uint32_t reserved; /* 0 */
    uint64_t checksum; /* of the payload with this field zeroed */
};

/* Writes a stamp and pseudo-random filler into @buf (@size >= sizeof stamp). */
void stress_stamp_fill(void *buf, size_t size, uint32_t producer, uint32_t topic, uint64_t seq);
/* Copies the stamp out of an event; false (stamp untouched) if the event is
 * too short, its size disagrees with the stamp or the checksum is wrong. */
bool stress_stamp_check(const bus_event_t *ev, struct stress_stamp *out);

/* ---- threads ---- */
/* pthread_create that must succeed: aborts the run otherwise. */
void stress_spawn(pthread_t *t, void *(*fn)(void *), void *arg);

/* ---- per-event bookkeeping ---- */
/* @bytes of zeroed memory, mapped lazily (MAP_NORESERVE): only the pages a
 * run touches cost memory, so tables indexed by event number can be sized
 * for a soak. Aborts if it cannot be mapped. */
void *stress_map_lazy(size_t bytes);
void stress_unmap(void *p, size_t bytes);

/* Concurrent calls of some code (handlers of one topic): enter/leave around
 * it; the maximum says whether calls ever overlapped. relaxed inside: the
 * RMW makes the count exact, and the maximum is read once the calls are
 * over (a flush or a join orders them). */
struct stress_overlap {
    atomic_int running, max_running;
};
void stress_overlap_enter(struct stress_overlap *o);
void stress_overlap_leave(struct stress_overlap *o);
int stress_overlap_max(const struct stress_overlap *o);

/* Ctx canaries: a handler checks ALIVE; whoever may free the ctx writes DEAD
 * first, so a late call sees it (or ASan sees the use after free). */
#define STRESS_CANARY_ALIVE UINT64_C(0xA11CEA11CEA11CE0)
#define STRESS_CANARY_DEAD UINT64_C(0xDEADDEADDEADDEAD)

/* ---- process resources (Linux /proc) ---- */
long stress_rss_kb(void);
int stress_count_fds(void);
int stress_count_threads(void);
/* Polls until the thread count is at most @expected or @timeout_ms passed:
 * a joined thread may stay listed for a moment while the kernel reaps it. */
int stress_settle_threads(int expected, unsigned timeout_ms);

/* Bytes the allocator has handed out and not taken back: mallinfo2() with
 * glibc's malloc, the sanitizer allocator's count under ASan or TSan.
 * Unlike RSS it ignores fragmentation and ASan's quarantine. */
size_t stress_heap_bytes(void);

/* ---- sanitizers ---- */
/* True under ASan or TSan. Their RSS is no leak signal: ASan's quarantine
 * keeps freed memory resident, TSan grows shadow and metadata as addresses
 * are reused. stress_heap_bytes() stays exact under both. */
bool stress_under_sanitizer(void);

/* ---- bus setup that must succeed ---- */
bus_t *stress_bus(unsigned workers);
bus_topic_t *stress_topic(bus_t *bus, const char *name, uint32_t capacity,
                          uint32_t max_payload, int policy, unsigned flags);

#endif
