/* stress_shutdown.c - bus_destroy under load, and create/destroy cycles.
 *
 * Phase 1 (rounds, for half of --seconds): producers publish at full speed
 * onto ordered and parallel topics while the bus ends, by bus_shutdown()
 * (then join, check the handles still work, bus_destroy()) on even rounds and
 * by bus_destroy() alone on odd rounds. Each producer
 * stops at its first -ESHUTDOWN (and checks that a second call gets it too);
 * a late joiner opens topics and subscribes until it gets -ESHUTDOWN. Every
 * event whose publish returned 0 must reach every subscriber exactly once.
 * The header forbids calls that start after bus_destroy returns, so an event
 * published just before destroy lands on a "sentinel" topic whose handler
 * holds bus_destroy (which waits for accepted events) until every producer
 * has seen -ESHUTDOWN and stopped calling.
 *
 * Phase 2 (--cycles): create a bus, open topics, subscribe, publish,
 * unsubscribe (sync and async), destroy. Afterwards the process has the
 * threads, file descriptors and resident memory it had after the first cycle. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "stress_common.h"

enum {
    TOPICS = 3,
    SUBSCRIBERS = 2,
    MAX_PRODUCERS = 64,
    HOLD_MS = 30000,     /* the sentinel never holds destroy longer */
    MAX_DELAY_US = 5000, /* producers run this long at most before destroy */
    MIN_ROUNDS = 3,
    /* Phase 2 may leave this much more resident memory than after its first
     * cycle: allocator arenas and cached thread stacks settle in the first
     * cycles (measured: < 300 KB), while a leak of even one 64-byte object
     * per subscription, topic or event made per cycle adds more than this
     * over the default 200 cycles (200 x (8 subs + 4 topics + 400 events)). */
    RSS_TOLERANCE_KB = 2048,
    /* stdio buffers and the like; one leaked 64-byte object per cycle over
     * 200 cycles is 12.8 KB. */
    HEAP_TOLERANCE_BYTES = 8192,
};

struct round_topic {
    bus_topic_t *topic;
    atomic_ulong accepted;               /* summed by producers on exit */
    atomic_ulong calls[SUBSCRIBERS];     /* per subscriber */
};

struct round {
    bus_t *bus;
    struct round_topic topics[TOPICS];
    bus_topic_t *sentinel;
    /* Threads that may still call into the bus. release on the decrement,
     * acquire in the sentinel: a producer's last call happens before
     * bus_destroy may go on. */
    atomic_int callers;
    uint64_t seed;
};

static const struct {
    uint32_t capacity;
    int policy;
    unsigned flags;
} round_specs[TOPICS] = {
    {16, BUS_FULL_BLOCK, 0},
    {16, BUS_FULL_BLOCK, BUS_TOPIC_PARALLEL},
    {8, BUS_FULL_FAIL, 0},
};

static int count_call(const bus_event_t *ev, void *ctx)
{
    (void)ev;
    /* relaxed: read after bus_destroy returned, which joined the workers. */
    atomic_fetch_add_explicit((atomic_ulong *)ctx, 1, memory_order_relaxed);
    return 0;
}

static int ignore_event(const bus_event_t *ev, void *ctx)
{
    (void)ev;
    (void)ctx;
    return 0;
}

static int hold_destroy(const bus_event_t *ev, void *ctx)
{
    (void)ev;
    struct round *r = ctx;
    for (int ms = 0; atomic_load_explicit(&r->callers, memory_order_acquire) > 0; ms++) {
        if (ms == HOLD_MS) {
            stress_fail("callers did not stop after bus_destroy began");
            break;
        }
        stress_sleep_us(1000);
    }
    return 0;
}

static void caller_done(struct round *r)
{
    atomic_fetch_sub_explicit(&r->callers, 1, memory_order_release);
}

#define EXPECT_AFTER_SHUTDOWN(call, want, what)                                        \
    do {                                                                               \
        int rc_ = (call);                                                              \
        STRESS_CHECK(rc_ == (want), "after bus_shutdown, %s returned %d", what, rc_);   \
    } while (0)

struct producer {
    struct round *r;
    uint64_t rng;
    unsigned long accepted[TOPICS];
};

static void *produce(void *arg)
{
    struct producer *p = arg;
    for (;;) {
        unsigned ti = stress_below(&p->rng, TOPICS);
        uint64_t payload = stress_rand(&p->rng);
        int rc = bus_publish(p->r->topics[ti].topic, &payload, sizeof(payload));
        if (rc == 0) {
            p->accepted[ti]++;
        } else if (rc == -ESHUTDOWN) {
            rc = bus_publish(p->r->topics[ti].topic, &payload, sizeof(payload));
            STRESS_CHECK(rc == -ESHUTDOWN, "publish after -ESHUTDOWN returned %d", rc);
            break;
        } else if (rc != -EAGAIN) {
            stress_fail("publish: %s", bus_strerror(rc));
            break;
        }
    }
    /* relaxed: main reads the sums after joining this thread. */
    for (unsigned i = 0; i < TOPICS; i++)
        atomic_fetch_add_explicit(&p->r->topics[i].accepted, p->accepted[i],
                                  memory_order_relaxed);
    caller_done(p->r);
    return NULL;
}

/* Opens topics and subscribes until the bus refuses with -ESHUTDOWN. */
static void *late_joiner(void *arg)
{
    struct round *r = arg;
    for (unsigned n = 0;; n++) {
        char name[32];
        snprintf(name, sizeof(name), "late.%u", n % 64);
        bus_topic_t *t;
        int rc = bus_topic_open(r->bus, name, NULL, &t);
        bus_sub_t *sub;
        if (rc == 0)
            rc = bus_subscribe(t, ignore_event, NULL, &sub);
        if (rc == -ESHUTDOWN)
            break;
        if (rc != 0) {
            stress_fail("late joiner: %s", bus_strerror(rc));
            break;
        }
    }
    caller_done(r);
    return NULL;
}

static void round_setup(struct round *r, unsigned workers)
{
    r->bus = stress_bus(workers);
    for (unsigned i = 0; i < TOPICS; i++) {
        char name[16];
        snprintf(name, sizeof(name), "load.%u", i);
        struct round_topic *t = &r->topics[i];
        t->topic = stress_topic(r->bus, name, round_specs[i].capacity, 8,
                                round_specs[i].policy, round_specs[i].flags);
        for (unsigned j = 0; j < SUBSCRIBERS; j++) {
            bus_sub_t *sub;
            stress_must(bus_subscribe(t->topic, count_call, &t->calls[j], &sub),
                        "bus_subscribe");
        }
    }
    r->sentinel = stress_topic(r->bus, "sentinel", 2, 0, BUS_FULL_FAIL, 0);
    bus_sub_t *sub;
    stress_must(bus_subscribe(r->sentinel, hold_destroy, r, &sub), "bus_subscribe");
}

/* Every accepted event reached every subscriber exactly once. */
static unsigned long round_verify(struct round *r)
{
    unsigned long total = 0;
    for (unsigned i = 0; i < TOPICS; i++) {
        struct round_topic *t = &r->topics[i];
        unsigned long accepted = atomic_load_explicit(&t->accepted, memory_order_relaxed);
        for (unsigned j = 0; j < SUBSCRIBERS; j++) {
            unsigned long calls = atomic_load_explicit(&t->calls[j], memory_order_relaxed);
            STRESS_CHECK(calls == accepted,
                         "topic %u subscriber %u: %lu calls for %lu accepted events", i, j,
                         calls, accepted);
        }
        total += accepted;
    }
    return total;
}

/* After bus_shutdown and the join: handles still work, intake stays shut,
 * the stats agree with what producers were told. */
static void check_after_shutdown(struct round *r)
{
    EXPECT_AFTER_SHUTDOWN(bus_shutdown(r->bus), 0, "second bus_shutdown");
    EXPECT_AFTER_SHUTDOWN(bus_flush(r->bus), 0, "bus_flush");
    EXPECT_AFTER_SHUTDOWN(bus_publish(r->sentinel, NULL, 0), -ESHUTDOWN, "bus_publish");
    for (unsigned i = 0; i < TOPICS; i++) {
        bus_topic_stats_t st;
        EXPECT_AFTER_SHUTDOWN(bus_topic_stats(r->topics[i].topic, &st), 0, "bus_topic_stats");
        unsigned long accepted =
            atomic_load_explicit(&r->topics[i].accepted, memory_order_relaxed);
        STRESS_CHECK(st.published == accepted && st.depth == 0 &&
                         st.delivered == accepted * SUBSCRIBERS,
                     "topic %u after shutdown: published %llu delivered %llu depth %u, "
                     "accepted %lu", i, (unsigned long long)st.published,
                     (unsigned long long)st.delivered, st.depth, accepted);
    }
}

static unsigned long destroy_round(unsigned workers, unsigned nproducers, uint64_t seed,
                                   bool use_shutdown)
{
    struct round *r = calloc(1, sizeof(*r));
    round_setup(r, workers);
    struct producer prods[MAX_PRODUCERS] = {0};
    pthread_t threads[MAX_PRODUCERS + 1];
    atomic_init(&r->callers, (int)nproducers + 1);
    for (unsigned i = 0; i < nproducers; i++) {
        prods[i] = (struct producer){.r = r, .rng = stress_seed_for(seed, i)};
        stress_must(pthread_create(&threads[i], NULL, produce, &prods[i]) ? -EAGAIN : 0,
                    "pthread_create");
    }
    stress_must(pthread_create(&threads[nproducers], NULL, late_joiner, r) ? -EAGAIN : 0,
                "pthread_create");

    uint64_t rng = seed;
    stress_sleep_us(stress_below(&rng, MAX_DELAY_US));
    if (use_shutdown) {
        stress_must(bus_shutdown(r->bus), "bus_shutdown");
    } else {
        stress_must(bus_publish(r->sentinel, NULL, 0), "publish the sentinel");
        stress_must(bus_destroy(r->bus), "bus_destroy");
    }
    for (unsigned i = 0; i <= nproducers; i++)
        pthread_join(threads[i], NULL);
    unsigned long total = round_verify(r);
    if (use_shutdown) {
        check_after_shutdown(r);
        stress_must(bus_destroy(r->bus), "bus_destroy");
    }
    free(r);
    return total;
}

/* ---- phase 2 ---- */

static void one_cycle(unsigned workers, uint64_t *rng)
{
    bus_t *bus = stress_bus(workers);
    bus_sub_t *subs[2 * TOPICS + 2];
    unsigned nsubs = 0;
    for (unsigned i = 0; i <= TOPICS; i++) {
        char name[16];
        snprintf(name, sizeof(name), "cycle.%u", i);
        bus_topic_t *t = stress_topic(bus, name, 64, 128, BUS_FULL_BLOCK,
                                      i % 2 ? BUS_TOPIC_PARALLEL : 0);
        for (int j = 0; j < 2; j++)
            stress_must(bus_subscribe(t, ignore_event, NULL, &subs[nsubs++]), "subscribe");
        unsigned char payload[128] = {0};
        for (int e = 0; e < 100; e++)
            stress_must(bus_publish(t, payload, 1 + stress_below(rng, 128)), "publish");
    }
    /* Some subscriptions go before destroy, the rest go with the bus. */
    stress_must(bus_unsubscribe(subs[0]), "bus_unsubscribe");
    stress_must(bus_unsubscribe_async(subs[1], NULL, NULL), "bus_unsubscribe_async");
    stress_must(bus_destroy(bus), "bus_destroy");
}

struct usage {
    int threads, fds;
    long rss_kb;
    size_t heap;
};

static void cycles(unsigned workers, unsigned n, uint64_t seed)
{
    uint64_t rng = seed;
    one_cycle(workers, &rng); /* warms up liburcu's call_rcu thread, arenas */
    struct usage first = {stress_count_threads(), stress_count_fds(), stress_rss_kb(),
                          stress_heap_bytes()};
    for (unsigned i = 1; i < n; i++)
        one_cycle(workers, &rng);
    struct usage last = {stress_settle_threads(first.threads, 1000), stress_count_fds(),
                         stress_rss_kb(), stress_heap_bytes()};
    printf("  %u create/destroy cycles: threads %d -> %d, fds %d -> %d, heap %zu -> %zu KB, "
           "RSS %ld -> %ld KB\n",
           n, first.threads, last.threads, first.fds, last.fds, first.heap / 1024,
           last.heap / 1024, first.rss_kb, last.rss_kb);
    /* Every bus frees all it allocated: nothing in flight once destroy
     * returned (its rcu_barrier ran the pending frees). */
    STRESS_CHECK(last.heap <= first.heap + HEAP_TOLERANCE_BYTES,
                 "heap grew by %zu bytes over %u cycles", last.heap - first.heap, n);
    STRESS_CHECK(last.threads == first.threads, "threads left behind: %d -> %d",
                 first.threads, last.threads);
    STRESS_CHECK(last.fds == first.fds, "file descriptors left behind: %d -> %d", first.fds,
                 last.fds);
    if (stress_under_sanitizer())
        printf("  (sanitizer build: RSS not checked, the heap count is)\n");
    else
        STRESS_CHECK(last.rss_kb - first.rss_kb <= RSS_TOLERANCE_KB,
                     "RSS grew by %ld KB over %u cycles", last.rss_kb - first.rss_kb, n);
}

int main(int argc, char **argv)
{
    struct stress_opts o = {.seconds = 3, .threads = 4, .workers = 2, .cycles = 200};
    stress_parse(argc, argv, "stress_shutdown", &o);
    if (o.threads > MAX_PRODUCERS)
        o.threads = MAX_PRODUCERS;

    uint64_t deadline = stress_deadline_ns(o.seconds / 2);
    unsigned rounds = 0;
    unsigned long events = 0;
    for (; rounds < MIN_ROUNDS || stress_now_ns() < deadline; rounds++)
        events += destroy_round(o.workers, o.threads, stress_seed_for(o.seed, rounds),
                                rounds % 2 == 0);
    printf("  %u end-under-load rounds (half bus_shutdown, half bus_destroy), "
           "%lu accepted events all delivered\n", rounds, events);
    STRESS_CHECK(events > 0, "no event was accepted before destroy");

    cycles(o.workers, o.cycles, o.seed);
    return stress_finish("stress_shutdown");
}
