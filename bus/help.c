/* help.c - a handler publishing onto a full BUS_FULL_BLOCK topic.
 *
 * The worker running the handler cannot simply sleep until a worker frees a
 * slot: it may be the only worker, or the one that holds the topic. So it
 * loops: try to reserve; if it can, dispatch one batch of the full topic
 * itself, nested on its own stack (an ordered topic no worker holds, or a
 * parallel topic's unclaimed events, as one more of its active workers:
 * bus__topic_help); else the topic is held by other workers, and it waits for
 * them, following the wait-for chain (full topic -> the worker that holds it ->
 * the topic that worker waits for -> ...). On an acyclic graph the chain ends
 * at a worker that is running a handler or at a topic someone can drain, so it
 * makes progress. A chain that comes back to this worker is a cycle: nobody can
 * free a slot and the publish returns -EDEADLK (docs/design.md gives the
 * argument). */
#include <time.h>

#include "help.h"
#include "internal.h"

enum {
    CONFIRM_NS = 1000 * 1000, /* between the two looks at a cycle */
    NAP_NS = 50 * 1000        /* a long wait's sleep between looks */
};

/* True if @t is the topic of one of the frames of @w's stack, and for a
 * parallel topic, if that frame's batch holds ticket @ticket (the oldest
 * not yet freed: what keeps the ring full). */
static bool dispatches(struct bus_worker *w, struct bus_topic *t, bool parallel,
                       uint64_t ticket)
{
    /* relaxed: snapshots (help.h). */
    uint32_t depth = atomic_load_explicit(&w->depth, memory_order_relaxed);
    for (uint32_t i = 0; i < depth && i <= HELP_MAX_DEPTH; i++) {
        struct dispatch_frame *f = &w->frames[i];
        if (atomic_load_explicit(&f->topic, memory_order_relaxed) != t)
            continue;
        if (!parallel ||
            (atomic_load_explicit(&f->first, memory_order_relaxed) <= ticket &&
             ticket < atomic_load_explicit(&f->end, memory_order_relaxed)))
            return true;
    }
    return false;
}

/* The worker that keeps the full topic @t full: the one that holds it
 * (ordered), or the one handling its oldest unfreed event (parallel); NULL
 * if none is seen. */
static struct bus_worker *blocker(struct bus_topic *t)
{
    struct bus *bus = t->bus;
    bool parallel = t->cfg.flags & BUS_TOPIC_PARALLEL;
    /* relaxed: a snapshot; cycles are confirmed (below). */
    uint64_t oldest = atomic_load_explicit(&t->ring.released, memory_order_relaxed);
    for (unsigned i = 0; i < bus->cfg.workers; i++)
        if (dispatches(&bus->workers[i], t, parallel, oldest))
            return &bus->workers[i];
    return NULL;
}

/* One look along the wait-for chain from full topic @t. Returns true if it
 * leads back to @me; *sum then fingerprints the waits seen on the way
 * (which workers, which of their waits). */
static bool chain_returns(struct bus_worker *me, struct bus_topic *t, uint64_t *sum)
{
    *sum = 0;
    /* A chain with more hops than there are workers is a snapshot mixing
     * different moments: no cycle is reported. */
    for (unsigned hops = 0; hops <= t->bus->cfg.workers; hops++) {
        struct bus_worker *w = blocker(t);
        if (!w)
            return false;
        if (w == me)
            return true;
        /* relaxed: a snapshot, confirmed by a second look. */
        t = atomic_load_explicit(&w->waiting_on, memory_order_relaxed);
        if (!t)
            return false;
        *sum = *sum * 31 + (uintptr_t)w * 7 +
               atomic_load_explicit(&w->waits, memory_order_relaxed);
    }
    return false;
}

static void nap(long ns)
{
    struct timespec ts = {0, ns};
    nanosleep(&ts, NULL);
}

/* A cycle through @t, seen twice CONFIRM_NS apart with the same waits: the
 * workers on it have not moved in between. A real deadlock never changes,
 * while a chain glimpsed across different moments does. */
static bool cycle(struct bus_worker *me, struct bus_topic *t)
{
    uint64_t first, again;
    if (!chain_returns(me, t, &first))
        return false;
    nap(CONFIRM_NS);
    return chain_returns(me, t, &again) && again == first;
}

/* Where the wait stands after one look: go on, or give up. */
static int help_or_wait(struct bus_worker *me, struct bus_topic *t, struct backoff *b)
{
    bool parallel = t->cfg.flags & BUS_TOPIC_PARALLEL;
    /* relaxed on released: a stale value only delays the verdict. */
    if (dispatches(me, t, parallel,
                   atomic_load_explicit(&t->ring.released, memory_order_relaxed)))
        return -EDEADLK; /* we keep it full ourselves: a cycle of one */
    if (atomic_load_explicit(&me->depth, memory_order_relaxed) <= HELP_MAX_DEPTH) {
        if (bus__topic_help(me, t)) {
            *b = (struct backoff)BACKOFF_INIT;
            return 0;
        }
    } else if (!blocker(t)) {
        return -EDEADLK; /* too deep to help, and nobody else dispatches it */
    }
    if (backoff_wait(b))
        return 0;
    /* A long wait: on a parallel topic, the workers on it are stuck or too
     * few (as in bus__topic_await); call another. */
    bus__topic_recruit(t);
    if (cycle(me, t))
        return -EDEADLK;
    nap(NAP_NS);
    return 0;
}

int bus__help_until(struct bus_worker *me, struct bus_topic *t,
                    bool (*reserved)(struct bus_topic *, void *), void *arg)
{
    /* relaxed: only the owner writes; others take snapshots (help.h). */
    atomic_store_explicit(&me->waits, atomic_load_explicit(&me->waits, memory_order_relaxed) + 1,
                          memory_order_relaxed);
    struct bus_topic *outer = atomic_load_explicit(&me->waiting_on, memory_order_relaxed);
    struct backoff b = BACKOFF_INIT;
    int rc = 0;
    /* rc first: once the wait has given up, a reservation taken by one
     * more look would be left uncommitted (the publish fails), and its
     * ticket would wedge the ring for good. */
    while (rc == 0 && !reserved(t, arg)) {
        /* Set on each round: a nested wait (while we helped) changed it. */
        atomic_store_explicit(&me->waiting_on, t, memory_order_relaxed);
        rc = help_or_wait(me, t, &b);
    }
    atomic_store_explicit(&me->waiting_on, outer, memory_order_relaxed);
    return rc;
}
