/* help.h - what each worker tells the others while it dispatches, so that a
 * handler's publish onto a full BUS_FULL_BLOCK topic can wait without
 * deadlock (help.c).
 *
 * A worker keeps a stack of the topics it dispatches: the one it popped
 * from the ready queue, then one frame per nested dispatch it runs while it
 * helps drain a full topic from inside a handler. Frames and the topic a
 * worker waits for are written by that worker only and read by the others
 * to follow wait-for chains; every field is atomic (relaxed: the readers
 * only take a snapshot and confirm it later, see help.c). */
#ifndef BUS_HELP_H
#define BUS_HELP_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "worktime.h"

struct bus;
struct bus_topic;

/* Nested dispatches a worker may run inside handlers; deeper, a publish
 * that would need one more returns -EDEADLK. An acyclic graph nests at
 * most once per stage of its longest path. */
enum { HELP_MAX_DEPTH = 64 };

struct dispatch_frame {
    _Atomic(struct bus_topic *) topic;
    /* Parallel topics: the claimed tickets [first, end) being delivered. */
    _Atomic uint64_t first, end;
};

struct bus_worker {
    struct bus *bus;
    unsigned index;   /* 0 to workers - 1: the thread's name and hook argument */
    pthread_t thread;
    _Atomic uint32_t depth; /* frames in use */
    /* The full topic a handler on this worker waits for room in, or NULL;
     * `waits` counts the waits started, so a continuing wait can be told
     * from a new one. */
    _Atomic(struct bus_topic *) waiting_on;
    _Atomic uint64_t waits;
    struct worktime time; /* busy vs idle, for bus_metrics() */
    struct dispatch_frame frames[HELP_MAX_DEPTH + 1];
};

/* The worker record of the calling thread, or NULL (worker.c). */
struct bus_worker *bus__current_worker(void);

/* Frames: pushed when a dispatch starts, popped when it ends. relaxed: see
 * above; only the owner writes. */
static inline void frame_push(struct bus_worker *w, struct bus_topic *t)
{
    uint32_t d = atomic_load_explicit(&w->depth, memory_order_relaxed);
    atomic_store_explicit(&w->frames[d].first, 0, memory_order_relaxed);
    atomic_store_explicit(&w->frames[d].end, 0, memory_order_relaxed);
    atomic_store_explicit(&w->frames[d].topic, t, memory_order_relaxed);
    atomic_store_explicit(&w->depth, d + 1, memory_order_relaxed);
}

static inline void frame_pop(struct bus_worker *w)
{
    uint32_t d = atomic_load_explicit(&w->depth, memory_order_relaxed);
    atomic_store_explicit(&w->depth, d - 1, memory_order_relaxed);
}

/* The topic (or keyed lane) @w dispatches now: its top frame's. */
static inline struct bus_topic *frame_topic(struct bus_worker *w)
{
    uint32_t d = atomic_load_explicit(&w->depth, memory_order_relaxed);
    return atomic_load_explicit(&w->frames[d - 1].topic, memory_order_relaxed);
}

/* Parallel topics: the batch the top frame delivers now. */
static inline void frame_claim(struct bus_worker *w, uint64_t first, uint64_t end)
{
    struct dispatch_frame *f =
        &w->frames[atomic_load_explicit(&w->depth, memory_order_relaxed) - 1];
    atomic_store_explicit(&f->first, first, memory_order_relaxed);
    atomic_store_explicit(&f->end, end, memory_order_relaxed);
}

/* A worker's publish found @t full under BUS_FULL_BLOCK: helps or waits
 * until @reserved(t, arg) holds, and returns 0; or returns -EDEADLK on a
 * cycle (see help.c). */
int bus__help_until(struct bus_worker *me, struct bus_topic *t,
                    bool (*reserved)(struct bus_topic *, void *), void *arg);

#endif
