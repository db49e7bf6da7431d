/* worker.c - the worker pool: pop a ready topic, dispatch it, and wait by the
 * configured strategy when there is nothing to do. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>

#include "clock.h"
#include "help.h"
#include "internal.h"
#include "timing.h"

enum {
    IDLE_SPINS = 500, /* empty polls before yielding (a few microseconds) */
    IDLE_YIELDS = 50  /* yields before parking */
};

static _Thread_local struct bus_worker *current_worker
    __attribute__((tls_model("initial-exec")));

struct bus_worker *bus__current_worker(void)
{
    return current_worker;
}

struct bus *bus__current_worker_bus(void)
{
    return current_worker ? current_worker->bus : NULL;
}

/* One step of waiting for work, escalating with @idle_rounds. Under
 * BUS_WAIT_SPIN and BUS_WAIT_YIELD every idle worker polls forever (the
 * user gave them the CPUs). Under BUS_WAIT_PARK one idle worker polls for a
 * while (sched.h) and the others park at once; *polling says whether this
 * worker is the poller. */
static void idle_wait(struct bus *bus, unsigned *idle_rounds, bool *polling)
{
    unsigned rounds = ++*idle_rounds;
    bool yield_only = bus->cfg.wait == BUS_WAIT_YIELD;
    if (bus->cfg.wait == BUS_WAIT_SPIN || (yield_only && rounds < IDLE_SPINS)) {
        cpu_relax();
        return;
    }
    if (yield_only) {
        sched_yield();
        return;
    }
    if (rounds == 1)
        *polling = bus__sched_start_polling(&bus->sched);
    if (*polling && rounds < IDLE_SPINS) {
        cpu_relax();
    } else if (*polling && rounds < IDLE_SPINS + IDLE_YIELDS) {
        sched_yield();
    } else {
        if (*polling)
            bus__sched_stop_polling(&bus->sched);
        *polling = false;
        bus__sched_park(&bus->sched, &bus->exiting);
        *idle_rounds = 0;
    }
}

/* Names the thread "bus-w<index>" (top, gdb, perf). */
static void name_thread(unsigned index)
{
    char name[16]; /* the kernel's limit, NUL included */
    snprintf(name, sizeof(name), "bus-w%u", index);
    pthread_setname_np(pthread_self(), name);
}

static void *worker_main(void *arg)
{
    struct bus_worker *self = arg;
    struct bus *bus = self->bus;
    unsigned idle_rounds = 0, turn = 0;
    bool polling = false;
    /* The clock is read when the worker switches between dispatching and
     * waiting, not per event: `busy` says which it does. */
    bool busy = false; /* idle since start_worker */
    /* Set before the start hook, so that it runs under a handler's rules. */
    current_worker = self;
    bus__timing_start(bus);
    name_thread(self->index);
    if (bus->cfg.on_worker_start)
        bus->cfg.on_worker_start(bus, self->index, bus->cfg.worker_hook_arg);
    for (;;) {
        struct bus_topic *t = bus__sched_pop(&bus->sched, &turn);
        if (t) {
            if (!busy)
                worktime_switch(&self->time, WORKTIME_BUSY, clock_now_ns());
            busy = true;
            if (polling)
                bus__sched_stop_polling(&bus->sched);
            polling = false;
            idle_rounds = 0;
            /* More topics wait and nobody polls: get a parked worker going. */
            bus__sched_nudge(&bus->sched);
            bus__topic_dispatch(t);
            continue;
        }
        if (busy)
            worktime_switch(&self->time, WORKTIME_IDLE, clock_now_ns());
        busy = false;
        /* acquire: pairs with bus_destroy's release; everything was drained
         * before exiting was set. */
        if (atomic_load_explicit(&bus->exiting, memory_order_acquire))
            break;
        idle_wait(bus, &idle_rounds, &polling);
    }
    if (polling)
        bus__sched_stop_polling(&bus->sched);
    if (bus->cfg.on_worker_stop)
        bus->cfg.on_worker_stop(bus, self->index, bus->cfg.worker_hook_arg);
    worktime_switch(&self->time, WORKTIME_STOPPED, clock_now_ns());
    return NULL; /* urcu-bp forgets the thread by itself when it exits */
}

/* Starts worker @index, pinned to its CPU if the configuration gives CPUs.
 * Returns pthread_create's error. */
static int start_worker(struct bus *bus, unsigned index)
{
    struct bus_worker *w = &bus->workers[index];
    w->bus = bus;
    w->index = index;
    /* relaxed: the thread's creation, and bus_create's return, order it
     * for the worker and bus_metrics(). Idle from now on. */
    atomic_store_explicit(&w->time.since_ns, clock_now_ns(), memory_order_relaxed);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    if (bus->cfg.worker_cpus_count) {
        cpu_set_t cpus;
        CPU_ZERO(&cpus);
        CPU_SET(bus->cfg.worker_cpus[index % bus->cfg.worker_cpus_count], &cpus);
        pthread_attr_setaffinity_np(&attr, sizeof(cpus), &cpus);
    }
    int err = pthread_create(&w->thread, &attr, worker_main, w);
    pthread_attr_destroy(&attr);
    return err;
}

int bus__workers_start(struct bus *bus)
{
    /* All records up front: a helper reads every one (help.c). */
    bus->workers = calloc(bus->cfg.workers, sizeof(*bus->workers));
    if (!bus->workers)
        return -ENOMEM;
    for (; bus->nthreads < bus->cfg.workers; bus->nthreads++) {
        int err = start_worker(bus, bus->nthreads);
        if (err) {
            bus__workers_stop(bus);
            bus__workers_free(bus);
            /* EINVAL: the affinity names a CPU the system does not have. */
            return err == EINVAL ? -EINVAL : -ENOMEM;
        }
    }
    return 0;
}

void bus__workers_stop(struct bus *bus)
{
    /* seq_cst: ordered before wake_all's bump of wake_seq, so a worker that
     * parks after the bump sees the flag (sched.c); release for the
     * workers' acquire load. */
    atomic_store_explicit(&bus->exiting, true, memory_order_seq_cst);
    bus__sched_wake_all(&bus->sched);
    for (unsigned i = 0; i < bus->nthreads; i++)
        pthread_join(bus->workers[i].thread, NULL);
    /* The records stay until bus_destroy: bus_metrics() reads the workers'
     * times after a shutdown too. */
}

void bus__workers_free(struct bus *bus)
{
    free(bus->workers);
    bus->workers = NULL;
    bus->nthreads = 0;
}
