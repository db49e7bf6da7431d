/* worker.c - the worker pool: pop a ready topic, dispatch it, and wait by the
 * configured strategy when there is nothing to do. */
#include <errno.h>
#include <stdlib.h>

#include "internal.h"

enum {
    IDLE_SPINS = 500, /* empty polls before yielding (a few microseconds) */
    IDLE_YIELDS = 50  /* yields before parking */
};

static _Thread_local struct bus *current_bus __attribute__((tls_model("initial-exec")));

struct bus *bus__current_worker_bus(void)
{
    return current_bus;
}

/* One step of waiting for work, escalating with @idle_rounds. */
/* One step of waiting for work, escalating with @idle_rounds. A worker
 * counts as spinning from its first empty poll until it parks or finds work:
 * producers then leave the parked ones asleep (sched.h). */
static void idle_wait(struct bus *bus, unsigned *idle_rounds)
{
    unsigned rounds = ++*idle_rounds;
    if (rounds == 1)
        bus__sched_spinning(&bus->sched, true);
    if (rounds < IDLE_SPINS || bus->cfg.wait == BUS_WAIT_SPIN) {
        cpu_relax();
    } else if (rounds < IDLE_SPINS + IDLE_YIELDS || bus->cfg.wait == BUS_WAIT_YIELD) {
        sched_yield();
    } else {
        bus__sched_spinning(&bus->sched, false);
        bus__sched_park(&bus->sched, &bus->exiting);
        *idle_rounds = 0;
    }
}

static void *worker_main(void *arg)
{
    struct bus *bus = arg;
    unsigned idle_rounds = 0, turn = 0;
    current_bus = bus;
    for (;;) {
        struct bus_topic *t = bus__sched_pop(&bus->sched, &turn);
        if (t) {
            if (idle_rounds) {
                bus__sched_spinning(&bus->sched, false);
                idle_rounds = 0;
            }
            /* More topics wait and nobody polls: get a parked worker going. */
            bus__sched_nudge(&bus->sched);
            bus__topic_dispatch(t);
            continue;
        }
        /* acquire: pairs with bus_destroy's release; everything was drained
         * before exiting was set. */
        if (atomic_load_explicit(&bus->exiting, memory_order_acquire))
            break;
        idle_wait(bus, &idle_rounds);
    }
    if (idle_rounds)
        bus__sched_spinning(&bus->sched, false);
    return NULL; /* urcu-bp forgets the thread by itself when it exits */
}

int bus__workers_start(struct bus *bus)
{
    bus->threads = calloc(bus->cfg.workers, sizeof(*bus->threads));
    if (!bus->threads)
        return -ENOMEM;
    for (; bus->nthreads < bus->cfg.workers; bus->nthreads++) {
        if (pthread_create(&bus->threads[bus->nthreads], NULL, worker_main, bus) != 0) {
            bus__workers_stop(bus);
            return -ENOMEM;
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
        pthread_join(bus->threads[i], NULL);
    free(bus->threads);
    bus->threads = NULL;
    bus->nthreads = 0;
}
