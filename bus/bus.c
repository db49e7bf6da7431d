/* bus.c - the bus's life: create, flush, shut down, destroy. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

enum { MAX_WORKERS = 1024, MAX_TOPICS = 1u << 24, MAX_BATCH = 65536 };

void bus_config_init(bus_config_t *cfg)
{
    if (!cfg)
        return;
    memset(cfg, 0, sizeof(*cfg));
    cfg->workers = 0;
    cfg->wait = BUS_WAIT_PARK;
    cfg->max_topics = 65536;
    cfg->batch = 64;
}

static int resolve_config(const bus_config_t *in, bus_config_t *out)
{
    if (in)
        *out = *in;
    else
        bus_config_init(out);
    if (out->workers == 0) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        out->workers = cpus > 0 ? (unsigned)cpus : 1;
    }
    if (out->workers > MAX_WORKERS || out->wait < BUS_WAIT_PARK ||
        out->wait > BUS_WAIT_SPIN || out->max_topics == 0 ||
        out->max_topics > MAX_TOPICS || out->batch == 0 || out->batch > MAX_BATCH)
        return -EINVAL;
    return 0;
}

int bus_create(bus_t **out, const bus_config_t *cfg)
{
    if (!out)
        return -EINVAL;
    struct bus *bus = calloc(1, sizeof(*bus));
    if (!bus)
        return -ENOMEM;
    int rc = resolve_config(cfg, &bus->cfg);
    if (rc) {
        free(bus);
        return rc;
    }
    if (bus__sched_init(&bus->sched, bus->cfg.max_topics, bus->cfg.workers) != 0) {
        free(bus);
        return -ENOMEM;
    }
    bus__registry_init(bus);
    pthread_mutex_init(&bus->shutdown_lock, NULL);
    bus__timers_init(&bus->timers);
    rc = bus__workers_start(bus);
    if (rc) {
        bus__timers_fini(&bus->timers);
        bus__sched_fini(&bus->sched);
        bus__registry_fini(bus);
        pthread_mutex_destroy(&bus->shutdown_lock);
        free(bus);
        return rc;
    }
    *out = bus;
    return 0;
}

static bool handled_upto(struct bus_topic *t, void *target)
{
    return ring_drained(&t->ring, *(uint64_t *)target);
}

/* Waits until topic @t has handled every ticket below @target. */
static void wait_handled(struct bus_topic *t, uint64_t target)
{
    bus__topic_await(t, handled_upto, &target);
}

int bus_flush(bus_t *bus)
{
    if (!bus)
        return -EINVAL;
    if (bus__current_worker_bus() == bus)
        return -EDEADLK;
    /* Pinned: a topic closed meanwhile stays allocated until we let go. */
    struct topic_snapshot snap;
    if (bus__topics_pin(bus, true, &snap) != 0)
        return -ENOMEM;
    uint32_t count = snap.count;
    /* Each topic's tickets handed out now bound the events published before
     * the call. Snapshot them all first, so that waiting on a slow topic does
     * not widen the others' targets. */
    uint64_t *targets = malloc((count ? count : 1) * sizeof(*targets));
    if (!targets) {
        bus__topics_unpin(&snap);
        return -ENOMEM;
    }
    for (uint32_t i = 0; i < count; i++)
        targets[i] = ring_handed_out(&snap.topics[i]->ring);
    for (uint32_t i = 0; i < count; i++)
        wait_handled(snap.topics[i], targets[i]);
    free(targets);
    bus__topics_unpin(&snap);
    return 0;
}

/* No event on @t from now on: sealing its ring makes every later
 * reservation fail with -ESHUTDOWN. */
static void stop_topic(struct bus_topic *t)
{
    /* A subscribe that took the lock before us has finished; one that
     * takes it after sees stopping. */
    pthread_mutex_lock(&t->subs_lock);
    pthread_mutex_unlock(&t->subs_lock);
    bus__ring_seal(&t->ring);
    /* Producers asleep on a full ring wake up and see the seal. */
    evcount_notify(&t->progress, INT_MAX);
}

static void wait_all_handed_out(struct bus_topic *t)
{
    wait_handled(t, ring_handed_out(&t->ring));
}

int bus_shutdown(bus_t *bus)
{
    if (!bus)
        return -EINVAL;
    if (bus__current_worker_bus() == bus)
        return -EDEADLK;
    /* A second caller waits here until the first has finished. */
    pthread_mutex_lock(&bus->shutdown_lock);
    if (!bus->shut_down) {
        /* Stops intake: no topic, subscription or close from now on (they
         * check stopping under the lock they take), and no event. */
        bus__topics_stop(bus, stop_topic);
        /* Deliver what was accepted: every ticket handed out before the seal
         * is committed soon (its producer is between reserve and commit),
         * then dispatched by the running workers. The topics are frozen. */
        bus__topics_frozen_foreach(bus, wait_all_handed_out);
        bus__workers_stop(bus);
        /* Every request's event has been dispatched and its timer disarmed. */
        bus__timers_stop(&bus->timers);
        bus->shut_down = true;
    }
    pthread_mutex_unlock(&bus->shutdown_lock);
    return 0;
}

int bus_destroy(bus_t *bus)
{
    int rc = bus_shutdown(bus);
    if (rc)
        return rc;
    /* Pending call_rcu callbacks (async unsubscribe completions, old tables)
     * run before we free what they might touch. */
    rcu_barrier();
    bus__timers_fini(&bus->timers);
    bus__topics_free(bus);
    bus__sched_fini(&bus->sched);
    bus__registry_fini(bus);
    pthread_mutex_destroy(&bus->shutdown_lock);
    free(bus);
    return 0;
}
