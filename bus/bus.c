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
    if (out->workers > MAX_WORKERS)
        return bus__fail(-EINVAL, "bus_create: workers is over 1024");
    if (out->wait < BUS_WAIT_PARK || out->wait > BUS_WAIT_SPIN)
        return bus__fail(-EINVAL, "bus_create: wait is not a BUS_WAIT_* value");
    if (out->max_topics == 0 || out->max_topics > MAX_TOPICS)
        return bus__fail(-EINVAL, "bus_create: max_topics is 0 or over 2^24");
    if (out->batch == 0 || out->batch > MAX_BATCH)
        return bus__fail(-EINVAL, "bus_create: batch is 0 or over 65536");
    return 0;
}

int bus_create(bus_t **out, const bus_config_t *cfg)
{
    if (!out)
        return bus__fail(-EINVAL, "bus_create: out is NULL");
    struct bus *bus = calloc(1, sizeof(*bus));
    if (!bus)
        return -ENOMEM;
    int rc = resolve_config(cfg, &bus->cfg);
    if (rc) {
        free(bus);
        return rc;
    }
    bus->topics = malloc(bus->cfg.max_topics * sizeof(*bus->topics));
    if (!bus->topics || bus__sched_init(&bus->sched, bus->cfg.max_topics, bus->cfg.workers) != 0) {
        free(bus->topics);
        free(bus);
        return -ENOMEM;
    }
    pthread_mutex_init(&bus->registry_lock, NULL);
    pthread_mutex_init(&bus->shutdown_lock, NULL);
    bus__timers_init(&bus->timers);
    rc = bus__workers_start(bus);
    if (rc) {
        bus__timers_fini(&bus->timers);
        bus__sched_fini(&bus->sched);
        pthread_mutex_destroy(&bus->registry_lock);
        pthread_mutex_destroy(&bus->shutdown_lock);
        free(bus->topics);
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
    /* acquire: pairs with the release in bus_topic_open; topics below the
     * count are fully built. */
    uint32_t count = atomic_load_explicit(&bus->ntopics, memory_order_acquire);
    /* Each topic's tickets handed out now bound the events published before
     * the call. Snapshot them all first, so that waiting on a slow topic does
     * not widen the others' targets. */
    uint64_t *targets = malloc((count ? count : 1) * sizeof(*targets));
    if (!targets)
        return -ENOMEM;
    for (uint32_t i = 0; i < count; i++)
        targets[i] = ring_handed_out(&bus->topics[i]->ring);
    for (uint32_t i = 0; i < count; i++)
        wait_handled(bus->topics[i], targets[i]);
    free(targets);
    return 0;
}

/* Stops intake: no topic or subscription from now on (both check stopping
 * under the lock they take), and no event: sealing a ring makes every later
 * reservation fail with -ESHUTDOWN. */
static void stop_intake(struct bus *bus)
{
    pthread_mutex_lock(&bus->registry_lock);
    /* relaxed: registry_lock and the subs locks publish it. */
    atomic_store_explicit(&bus->stopping, true, memory_order_relaxed);
    pthread_mutex_unlock(&bus->registry_lock);
    uint32_t count = atomic_load_explicit(&bus->ntopics, memory_order_acquire);
    for (uint32_t i = 0; i < count; i++) {
        struct bus_topic *t = bus->topics[i];
        /* A subscribe that took the lock before us has finished; one that
         * takes it after sees stopping. */
        pthread_mutex_lock(&t->subs_lock);
        pthread_mutex_unlock(&t->subs_lock);
        bus__ring_seal(&t->ring);
        /* Producers asleep on a full ring wake up and see the seal. */
        evcount_notify(&t->progress, INT_MAX);
    }
}

int bus_shutdown(bus_t *bus)
{
    if (!bus)
        return -EINVAL;
    /* A worker would wait for itself, the timer thread (an on_reply) would
     * join itself; bus_destroy relies on this check too. */
    if (bus__current_worker_bus() == bus || bus__timers_on_thread(&bus->timers))
        return -EDEADLK;
    /* A second caller waits here until the first has finished. */
    pthread_mutex_lock(&bus->shutdown_lock);
    if (!bus->shut_down) {
        stop_intake(bus);
        /* Deliver what was accepted: every ticket handed out before the seal
         * is committed soon (its producer is between reserve and commit),
         * then dispatched by the running workers. */
        /* acquire: pairs with the release in bus_topic_open (topics built). */
        uint32_t count = atomic_load_explicit(&bus->ntopics, memory_order_acquire);
        for (uint32_t i = 0; i < count; i++)
            wait_handled(bus->topics[i], ring_handed_out(&bus->topics[i]->ring));
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
    pthread_mutex_destroy(&bus->registry_lock);
    pthread_mutex_destroy(&bus->shutdown_lock);
    free(bus);
    return 0;
}
