/* bus.c - the bus's life: create, flush, shut down, destroy. */
#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "internal.h"
#include "journal/durable.h"

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
    cfg->timing_sample = 64;
    cfg->slow_handler_ns = 0; /* off: no clock read per call */
}

/* CPU numbers fit a cpu_set_t (the system may still lack them: that shows
 * when the workers start). */
static bool valid_cpus(const bus_config_t *cfg)
{
    if (cfg->worker_cpus_count && !cfg->worker_cpus)
        return false;
    for (unsigned i = 0; i < cfg->worker_cpus_count; i++)
        if (cfg->worker_cpus[i] >= CPU_SETSIZE)
            return false;
    return true;
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
    if (!valid_cpus(out))
        return bus__fail(-EINVAL, "bus_create: worker_cpus is NULL or names a CPU over CPU_SETSIZE");
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
    /* Read by the workers' start only; the caller may free it now. */
    bus->cfg.worker_cpus = NULL;
    bus->cfg.worker_cpus_count = 0;
    bus__modules_init(bus);
    *out = bus;
    return 0;
}

/* Refuses callers that would wait for themselves: a handler of @bus waiting
 * for its own worker. */
static int check_caller(struct bus *bus)
{
    if (!bus)
        return -EINVAL;
    /* A worker would wait for itself, the timer thread (an on_reply) or a
     * durable consumer would join itself; bus_destroy relies on this check
     * too. */
    if (bus__current_worker_bus() == bus || bus__timers_on_thread(&bus->timers) ||
        bus__durable_on_thread(bus))
        return -EDEADLK;
    return 0;
}

/* Calls @fn on every open topic and keyed lane of @bus (a ring each) until
 * it returns non-zero (returned). Topics opened meanwhile may be missed. */
static int for_each_topic(struct bus *bus, int (*fn)(struct bus_topic *, void *), void *arg)
{
    return bus__topics_walk(bus, true, fn, arg);
}

/* Which topics a drain or a seal applies to. The bus's own topics ("bus.",
 * such as the dead-letter topic) receive events that the bus publishes for
 * the user's: shutdown seals and drains them last. */
enum topic_set { ALL_TOPICS, USER_TOPICS, OWN_TOPICS };

static bool in_set(const struct bus_topic *t, enum topic_set set)
{
    if (set == ALL_TOPICS)
        return true;
    /* Keyed lanes carry their parent's name. */
    bool own = strncmp(t->name, "bus.", 4) == 0;
    return own == (set == OWN_TOPICS);
}

struct drain {
    enum topic_set set;
    uint64_t deadline_ns;
    uint64_t tickets; /* the sum of the targets waited for */
};

/* Every ticket below *@target handled, its retries included (retry.h). */
static bool handled_upto(struct bus_topic *t, void *target)
{
    uint64_t upto = *(uint64_t *)target;
    return ring_drained(&t->ring, upto) && !bus__retries_pending(t, upto);
}

/* Waits until @t has handled every ticket handed out when we got here. */
static int drain_topic(struct bus_topic *t, void *arg)
{
    struct drain *d = arg;
    if (!in_set(t, d->set))
        return 0;
    uint64_t target = ring_handed_out(&t->ring);
    d->tickets += target;
    return bus__topic_await_until(t, handled_upto, &target, d->deadline_ns) ? 0 : -ETIMEDOUT;
}

/* One pass over the topics of @set: 0 once each has handled the tickets it
 * had handed out when the pass reached it, or -ETIMEDOUT. *@tickets, if not
 * NULL, receives the sum of those ticket counts. A topic's target is read
 * when the pass reaches it, not all up front, so that nothing is allocated;
 * it is larger only by events published during the pass. */
static int drain(struct bus *bus, enum topic_set set, uint64_t deadline_ns, uint64_t *tickets)
{
    struct drain d = {.set = set, .deadline_ns = deadline_ns};
    int rc = for_each_topic(bus, drain_topic, &d);
    if (tickets)
        *tickets = d.tickets;
    return rc;
}

int bus_flush_timeout(bus_t *bus, uint64_t timeout_ns)
{
    int rc = check_caller(bus);
    if (rc)
        return rc;
    return drain(bus, ALL_TOPICS, clock_deadline_ns(timeout_ns), NULL);
}

int bus_flush(bus_t *bus)
{
    return bus_flush_timeout(bus, CLOCK_NEVER);
}

/* Quiet: passes until one hands out no ticket the previous did not. Tickets
 * only grow, so equal sums mean that no topic handed out a ticket between
 * its visits in the two passes; every topic was drained at the end of the
 * first pass then (it had handled its tickets, and got no new one), so no
 * handler was running either: a running handler holds an unreleased ticket,
 * and anything it publishes takes a ticket before that one is released.
 * (The sums wrap only after 2^64 events within one flush.) */
int bus_flush_quiet(bus_t *bus, uint64_t timeout_ns)
{
    int rc = check_caller(bus);
    if (rc)
        return rc;
    uint64_t deadline = clock_deadline_ns(timeout_ns);
    uint64_t before, after;
    rc = drain(bus, ALL_TOPICS, deadline, &before);
    while (rc == 0) {
        rc = drain(bus, ALL_TOPICS, deadline, &after);
        if (rc == 0 && after == before)
            return 0;
        before = after;
    }
    return rc;
}

/* Waits for subscribes in progress on @t: one that took the lock before us
 * has finished; one that takes it after sees stopping. */
static int fence_subscribers(struct bus_topic *t, void *unused)
{
    (void)unused;
    pthread_mutex_lock(&t->subs_lock);
    pthread_mutex_unlock(&t->subs_lock);
    return 0;
}

/* Seals @t if in the set (*@set): every later reservation fails with
 * -ESHUTDOWN, and producers asleep on a full ring wake up to see it. */
static int seal_topic(struct bus_topic *t, void *set)
{
    if (in_set(t, *(enum topic_set *)set)) {
        bus__ring_seal(&t->ring);
        evcount_notify(&t->progress, INT_MAX);
    }
    return 0;
}

static void seal(struct bus *bus, enum topic_set set)
{
    for_each_topic(bus, seal_topic, &set);
}

/* Stops intake: no topic or subscription from now on (both check stopping
 * under the lock they take), and no event on the user's topics. Idempotent.
 * Returns -ETIMEDOUT if closes in progress (they need the workers) did not
 * finish by @deadline_ns; intake is stopped all the same: the walks skip the
 * closing topics, which their closers seal. */
static int stop_intake(struct bus *bus, uint64_t deadline_ns)
{
    int rc = bus__topics_stop(bus, deadline_ns);
    for_each_topic(bus, fence_subscribers, NULL);
    /* Durable consumers are no workers: stopped here (positions stored). */
    for_each_topic(bus, bus__durable_stop, NULL);
    seal(bus, USER_TOPICS);
    return rc;
}

/* The end of a shutdown, once everything is delivered: join the workers and
 * the timer thread, once. */
static void stop_threads(struct bus *bus)
{
    pthread_mutex_lock(&bus->shutdown_lock);
    if (!bus->shut_down) {
        bus__workers_stop(bus);
        /* Every request's event has been dispatched and its timer disarmed. */
        bus__timers_stop(&bus->timers);
        bus->shut_down = true;
        bus__patterns_end(bus);
    }
    pthread_mutex_unlock(&bus->shutdown_lock);
}

static bool is_shut_down(struct bus *bus)
{
    pthread_mutex_lock(&bus->shutdown_lock);
    bool done = bus->shut_down;
    pthread_mutex_unlock(&bus->shutdown_lock);
    return done;
}

/* Every step is idempotent and the waits only read, so concurrent callers,
 * and a caller after a timed-out one, all drive the same shutdown. Every
 * ticket handed out before a seal is committed soon (its producer is between
 * reserve and commit), then dispatched by the running workers. The user's
 * topics are drained before the bus's own are sealed: their handlers' dead
 * letters find the dead-letter topic open. */
int bus_shutdown_timeout(bus_t *bus, uint64_t timeout_ns)
{
    int rc = check_caller(bus);
    if (rc)
        return rc;
    if (is_shut_down(bus))
        return 0;
    uint64_t deadline = clock_deadline_ns(timeout_ns);
    rc = stop_intake(bus, deadline);
    if (rc)
        return rc;
    rc = drain(bus, USER_TOPICS, deadline, NULL);
    if (rc)
        return rc;
    seal(bus, OWN_TOPICS);
    rc = drain(bus, OWN_TOPICS, deadline, NULL);
    if (rc)
        return rc;
    stop_threads(bus);
    return 0;
}

int bus_shutdown(bus_t *bus)
{
    return bus_shutdown_timeout(bus, CLOCK_NEVER);
}

int bus_destroy(bus_t *bus)
{
    int rc = bus_shutdown(bus);
    if (rc)
        return rc;
    /* Before the subscriptions are freed: modules' fini may use them. */
    bus__modules_destroy(bus);
    /* Pending call_rcu callbacks (async unsubscribe completions, old tables)
     * run before we free what they might touch. */
    rcu_barrier();
    bus__workers_free(bus);
    bus__timers_fini(&bus->timers);
    bus__topics_free(bus);
    bus__sched_fini(&bus->sched);
    bus__registry_fini(bus);
    pthread_mutex_destroy(&bus->shutdown_lock);
    free(bus);
    return 0;
}
