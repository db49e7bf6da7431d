/* stress_misbehave.c - handlers that do what handlers should not.
 *
 *  - cycle.0 -> cycle.1 -> cycle.2 -> cycle.0: each handler republishes the
 *    event twice onto the next topic until its hop count runs out, so the
 *    rings fill; BUS_FULL_BLOCK makes handlers wait (helping) and, once the
 *    full rings close the cycle, get -EDEADLK (never a hang);
 *  - self.full: a handler floods its own ordered topic and must see -EDEADLK
 *    within capacity + 1 publishes (its worker holds the ring's slots);
 *  - errors: a handler fails every odd event; handler_errors must match;
 *  - rude: a handler calls bus_flush and bus_destroy (-EDEADLK, bus left
 *    running) and publishes an oversized event (-EMSGSIZE);
 *  - blocker: a handler blocks on a gate; meanwhile, with two or more
 *    workers, events of another topic must still be delivered.
 * At the end every accepted event has been delivered, by the stats and by
 * the handlers' own counts. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "stress_common.h"

enum {
    CYCLE = 3,
    MAX_HOPS = 6,      /* 2^6 events per seed at most */
    CYCLE_CAPACITY = 32,
    SELF_CAPACITY = 8,
    PROBES = 50,       /* events that must pass a blocked worker */
    WAIT_MS = 10000,   /* how long "must be delivered" may take */
    MIN_ROUNDS = 2,
    BLOCK_US = 5000,   /* how long a round keeps the handler blocked */
};

struct hop {
    uint32_t hops;  /* republish while > 0 */
    uint32_t value; /* odd: the errors handler fails it */
};

/* Counters: relaxed, read at the end after the producers are joined and the
 * bus flushed until quiet; bus_flush orders the handlers' increments. */
struct topic_count {
    bus_topic_t *topic;
    atomic_ulong accepted; /* publish returned 0, by anyone */
    atomic_ulong calls;    /* handler calls */
};

static bus_t *bus;
static struct topic_count cycle[CYCLE], self_full, errors, rude, blocker, probe;
static atomic_ulong odd_published, handler_cycles, self_floods, deadlk_seen, msgsize_seen;

/* The gate the blocker waits at, and how main knows it is waiting. */
static pthread_mutex_t gate_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cond = PTHREAD_COND_INITIALIZER;
static bool gate_open, blocker_waiting;

static void add(atomic_ulong *c, unsigned long n)
{
    atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

static unsigned long get(atomic_ulong *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

/* A publish from a handler onto a cycle of full rings: 0 or -EDEADLK. */
static void publish_from_handler(struct topic_count *t, const struct hop *h)
{
    int rc = bus_publish(t->topic, h, sizeof(*h));
    if (rc == 0)
        add(&t->accepted, 1);
    else if (rc == -EDEADLK)
        add(&handler_cycles, 1);
    else
        stress_fail("publish from a handler: %s", bus_strerror(rc));
}

static int on_cycle(const bus_event_t *ev, void *ctx)
{
    struct topic_count *t = ctx;
    add(&t->calls, 1);
    struct hop h;
    memcpy(&h, ev->data, sizeof(h));
    if (h.hops == 0)
        return 0;
    h.hops--;
    struct topic_count *next = &cycle[(t - cycle + 1) % CYCLE];
    publish_from_handler(next, &h);
    publish_from_handler(next, &h);
    return 0;
}

/* Seeds (hops > 0) flood the topic; the flood's own events (hops 0) do not. */
static int on_self_full(const bus_event_t *ev, void *ctx)
{
    (void)ctx;
    add(&self_full.calls, 1);
    struct hop h;
    memcpy(&h, ev->data, sizeof(h));
    if (h.hops == 0)
        return 0;
    h.hops = 0;
    for (unsigned i = 0; i <= SELF_CAPACITY; i++) {
        int rc = bus_publish(self_full.topic, &h, sizeof(h));
        if (rc == -EDEADLK) {
            add(&self_floods, 1);
            return 0;
        }
        if (rc != 0) {
            stress_fail("self.full: publish: %s", bus_strerror(rc));
            return 0;
        }
        add(&self_full.accepted, 1);
    }
    stress_fail("self.full: %d publishes onto its own full ring, no -EDEADLK",
                SELF_CAPACITY + 1);
    return 0;
}

static int on_errors_fail_odd(const bus_event_t *ev, void *ctx)
{
    (void)ctx;
    add(&errors.calls, 1);
    struct hop h;
    memcpy(&h, ev->data, sizeof(h));
    return h.value % 2 ? -1 : 0;
}

static int on_any_ok(const bus_event_t *ev, void *ctx)
{
    (void)ev;
    (void)ctx;
    return 0;
}

static int on_rude(const bus_event_t *ev, void *ctx)
{
    (void)ev;
    (void)ctx;
    add(&rude.calls, 1);
    STRESS_CHECK(bus_flush(bus) == -EDEADLK, "bus_flush from a handler did not fail");
    STRESS_CHECK(bus_destroy(bus) == -EDEADLK, "bus_destroy from a handler did not fail");
    add(&deadlk_seen, 1);
    static const char big[64];
    STRESS_CHECK(bus_publish(rude.topic, big, sizeof(big)) == -EMSGSIZE,
                 "oversized publish did not fail with -EMSGSIZE");
    add(&msgsize_seen, 1);
    return 0;
}

static int on_blocker(const bus_event_t *ev, void *ctx)
{
    (void)ev;
    (void)ctx;
    add(&blocker.calls, 1);
    struct timespec limit;
    clock_gettime(CLOCK_REALTIME, &limit);
    limit.tv_sec += 3 * WAIT_MS / 1000; /* never hang the suite for good */
    pthread_mutex_lock(&gate_lock);
    blocker_waiting = true;
    pthread_cond_broadcast(&gate_cond);
    int rc = 0;
    while (!gate_open && rc == 0)
        rc = pthread_cond_timedwait(&gate_cond, &gate_lock, &limit);
    blocker_waiting = false;
    pthread_cond_broadcast(&gate_cond);
    pthread_mutex_unlock(&gate_lock);
    STRESS_CHECK(rc == 0, "blocker: nobody opened the gate");
    return 0;
}

static int on_probe(const bus_event_t *ev, void *ctx)
{
    (void)ev;
    (void)ctx;
    /* release: main's acquire load sees the count only after the call. */
    atomic_fetch_add_explicit(&probe.calls, 1, memory_order_release);
    return 0;
}

static void open_topic(struct topic_count *t, const char *name, uint32_t capacity,
                       uint32_t max_payload, int policy, bus_handler_fn fn)
{
    t->topic = stress_topic(bus, name, capacity, max_payload, policy, 0);
    bus_sub_t *sub;
    stress_must(bus_subscribe(t->topic, fn, t, &sub), "bus_subscribe");
}

static void setup(unsigned workers)
{
    bus = stress_bus(workers);
    char name[16];
    for (int i = 0; i < CYCLE; i++) {
        snprintf(name, sizeof(name), "cycle.%d", i);
        open_topic(&cycle[i], name, CYCLE_CAPACITY, sizeof(struct hop), BUS_FULL_BLOCK,
                   on_cycle);
    }
    open_topic(&self_full, "self.full", SELF_CAPACITY, sizeof(struct hop), BUS_FULL_BLOCK,
               on_self_full);
    open_topic(&errors, "errors", 64, sizeof(struct hop), BUS_FULL_BLOCK, on_errors_fail_odd);
    bus_sub_t *sub;
    stress_must(bus_subscribe(errors.topic, on_any_ok, NULL, &sub), "bus_subscribe");
    open_topic(&rude, "rude", 16, sizeof(struct hop), BUS_FULL_BLOCK, on_rude);
    open_topic(&blocker, "blocker", 16, sizeof(struct hop), BUS_FULL_FAIL, on_blocker);
    open_topic(&probe, "probe", 128, sizeof(struct hop), BUS_FULL_BLOCK, on_probe);
}

static uint64_t deadline;

/* True if the event was accepted. */
static bool publish_seed(struct topic_count *t, const struct hop *h)
{
    int rc = bus_publish(t->topic, h, sizeof(*h));
    if (rc == 0)
        add(&t->accepted, 1);
    else if (rc != -EAGAIN) /* -EAGAIN: a FAIL topic, nothing accepted */
        stress_fail("producer publish: %s", bus_strerror(rc));
    return rc == 0;
}

static void *produce(void *arg)
{
    uint64_t rng = *(uint64_t *)arg;
    while (stress_now_ns() < deadline) {
        struct hop h = {1 + stress_below(&rng, MAX_HOPS), stress_below(&rng, 1000)};
        publish_seed(&cycle[stress_below(&rng, CYCLE)], &h);
        if (publish_seed(&errors, &h) && h.value % 2)
            add(&odd_published, 1);
        if (h.value % 64 == 0) {
            publish_seed(&self_full, &h);
            publish_seed(&rude, &h);
        }
    }
    return NULL;
}

static bool wait_blocker(bool waiting)
{
    struct timespec limit;
    clock_gettime(CLOCK_REALTIME, &limit);
    limit.tv_sec += WAIT_MS / 1000;
    pthread_mutex_lock(&gate_lock);
    int rc = 0;
    while (blocker_waiting != waiting && rc == 0)
        rc = pthread_cond_timedwait(&gate_cond, &gate_lock, &limit);
    pthread_mutex_unlock(&gate_lock);
    return rc == 0;
}

static void set_gate(bool open)
{
    pthread_mutex_lock(&gate_lock);
    gate_open = open;
    pthread_cond_broadcast(&gate_cond);
    pthread_mutex_unlock(&gate_lock);
}

/* Probes must get through while a handler blocks one worker. */
static bool probes_delivered(void)
{
    unsigned long before = atomic_load_explicit(&probe.calls, memory_order_acquire);
    struct hop h = {0, 0};
    for (int i = 0; i < PROBES; i++)
        publish_seed(&probe, &h);
    for (int waited = 0; waited < WAIT_MS; waited++) {
        if (atomic_load_explicit(&probe.calls, memory_order_acquire) >= before + PROBES)
            return true;
        stress_sleep_us(1000);
    }
    return false;
}

/* One round: block a worker, check the others still deliver, release it. */
static void blocked_round(unsigned workers)
{
    set_gate(false);
    struct hop h = {0, 0};
    publish_seed(&blocker, &h);
    if (!wait_blocker(true)) {
        stress_fail("the blocking handler was never called");
        return;
    }
    if (workers >= 2)
        STRESS_CHECK(probes_delivered(), "a blocked handler stopped another topic");
    stress_sleep_us(BLOCK_US); /* hold it a while longer: rings fill behind it */
    set_gate(true);
    STRESS_CHECK(wait_blocker(false), "the blocking handler did not return");
}

static void flush_until_quiet(void)
{
    /* Each flush handles what was published before it; handler-made events
     * lose a hop per generation, so MAX_HOPS + 2 flushes leave nothing. */
    for (int i = 0; i < MAX_HOPS + 2; i++)
        stress_must(bus_flush(bus), "bus_flush");
}

static void verify_topic(const char *name, struct topic_count *t, uint64_t subscribers,
                         uint64_t errors_expected)
{
    bus_topic_stats_t st;
    stress_must(bus_topic_stats(t->topic, &st), "bus_topic_stats");
    unsigned long accepted = get(&t->accepted);
    STRESS_CHECK(st.published == accepted && st.dropped == 0 && st.depth == 0,
                 "%s: published %llu dropped %llu depth %u, accepted %lu", name,
                 (unsigned long long)st.published, (unsigned long long)st.dropped, st.depth,
                 accepted);
    STRESS_CHECK(st.delivered + st.handler_errors == accepted * subscribers &&
                     st.handler_errors == errors_expected,
                 "%s: delivered %llu errors %llu, expected %llu calls with %llu errors", name,
                 (unsigned long long)st.delivered, (unsigned long long)st.handler_errors,
                 (unsigned long long)(accepted * subscribers),
                 (unsigned long long)errors_expected);
    STRESS_CHECK(get(&t->calls) == accepted, "%s: %lu handler calls for %lu events", name,
                 get(&t->calls), accepted);
}

static void verify(unsigned rounds)
{
    for (int i = 0; i < CYCLE; i++)
        verify_topic("cycle", &cycle[i], 1, 0);
    verify_topic("self.full", &self_full, 1, 0);
    verify_topic("errors", &errors, 2, get(&odd_published));
    verify_topic("rude", &rude, 1, 0);
    verify_topic("blocker", &blocker, 1, 0);
    printf("  rounds with a blocked worker %u, cycle events %lu, handler cycles %lu, "
           "self floods %lu, handler errors %lu, -EDEADLK checks %lu\n",
           rounds, get(&cycle[0].accepted) + get(&cycle[1].accepted) + get(&cycle[2].accepted),
           get(&handler_cycles), get(&self_floods), get(&odd_published), get(&deadlk_seen));
    /* The run exercised what it claims. */
    STRESS_CHECK(rounds >= MIN_ROUNDS, "only %u blocked rounds", rounds);
    STRESS_CHECK(get(&handler_cycles) > 0, "no handler ever met a cycle of full rings");
    STRESS_CHECK(get(&self_floods) > 0 && get(&deadlk_seen) > 0 && get(&msgsize_seen) > 0,
                 "self flood, -EDEADLK or -EMSGSIZE paths never ran");
}

int main(int argc, char **argv)
{
    struct stress_opts o = {.seconds = 3, .threads = 2, .workers = 2};
    stress_parse(argc, argv, "stress_misbehave", &o);
    setup(o.workers);

    deadline = stress_deadline_ns(o.seconds);
    pthread_t *threads = calloc(o.threads, sizeof(*threads));
    uint64_t *seeds = calloc(o.threads, sizeof(*seeds));
    for (unsigned i = 0; i < o.threads; i++) {
        seeds[i] = stress_seed_for(o.seed, i);
        if (pthread_create(&threads[i], NULL, produce, &seeds[i]) != 0)
            stress_must(-EAGAIN, "pthread_create");
    }
    unsigned rounds = 0;
    for (; stress_now_ns() < deadline; rounds++)
        blocked_round(o.workers);
    for (unsigned i = 0; i < o.threads; i++)
        pthread_join(threads[i], NULL);

    flush_until_quiet();
    verify(rounds);
    stress_must(bus_destroy(bus), "bus_destroy");
    free(threads);
    free(seeds);
    return stress_finish("stress_misbehave");
}
