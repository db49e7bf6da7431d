/* stress_pipeline.c - back-pressure through a random acyclic graph of small
 * BUS_FULL_BLOCK topics whose handlers forward every event to later topics
 * (ordered and parallel, single and batch publishes; fan-out, fan-in), with
 * 1, 2, 4 ... up to --workers (default 4) workers in turn, a phase each,
 * while producers publish as fast as they can.
 *
 * Invariants: no publish from a handler fails (the graph has no cycle, so
 * never -EDEADLK, and BUS_FULL_BLOCK never -EAGAIN); every event arrives
 * intact (stamp checksum) and each accepted event is handled exactly once by
 * each subscriber (stats against the publishers' own counts); on the source
 * topics, which are ordered, each producer's events come in its order. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stress_common.h"

enum {
    TOPICS = 8,
    SOURCES = 2,     /* topics 0 and 1 take the producers' events (ordered) */
    MAX_FORWARDS = 2,
    MAX_PRODUCERS = 16,
    PAYLOAD = 48
};

struct node {
    bus_topic_t *topic;
    bool parallel;
    unsigned nforwards;
    unsigned next[MAX_FORWARDS];
    bool batch; /* forwards with bus_publish_batch */
    uint32_t capacity;
    atomic_ulong accepted; /* publishes onto this topic that returned 0 */
    atomic_ulong calls;
    uint64_t next_seq[MAX_PRODUCERS]; /* sources: one worker at a time */
};

static struct node nodes[TOPICS];
static atomic_ulong forward_errors;
/* Inner topics that filled up, over all the phases: whether a given phase's
 * random graph and timing fill one is chance (a phase on a loaded machine
 * once filled none), the run as a whole must. */
static unsigned filled_total;

static void add(atomic_ulong *c, unsigned long n)
{
    /* relaxed: counters read after the flushes, which order them. */
    atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

static unsigned long get(atomic_ulong *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

static int forward_one(struct node *to, const bus_event_t *ev, bool batch)
{
    if (!batch) {
        int rc = bus_publish(to->topic, ev->data, ev->size);
        if (rc == 0)
            add(&to->accepted, 1);
        return rc;
    }
    bus_msg_t m = {ev->data, ev->size};
    size_t accepted = 0;
    int rc = bus_publish_batch(to->topic, &m, 1, &accepted);
    add(&to->accepted, accepted);
    return rc == 0 && accepted != 1 ? -EPROTO : rc;
}

/* Source 0 copies each event to all its next topics (fan-out); the others
 * route each event to one of theirs (so paths split and merge again without
 * multiplying the load). */
static void forward(struct node *n, const bus_event_t *ev)
{
    bool copy = n == &nodes[0];
    for (unsigned i = 0; i < n->nforwards; i++) {
        if (!copy && i != ev->seq % n->nforwards)
            continue;
        int rc = forward_one(&nodes[n->next[i]], ev, n->batch);
        if (rc) {
            add(&forward_errors, 1);
            stress_fail("topic %ld -> %u: %s", (long)(n - nodes), n->next[i],
                        bus_strerror(rc));
        }
    }
}

static int on_event(const bus_event_t *ev, void *ctx)
{
    struct node *n = ctx;
    add(&n->calls, 1);
    struct stress_stamp st;
    if (!stress_stamp_check(ev, &st)) {
        stress_fail("topic %ld: torn or foreign event", (long)(n - nodes));
        return 0;
    }
    if (n - nodes < SOURCES) {
        STRESS_CHECK(st.seq == n->next_seq[st.producer],
                     "source %ld: producer %u seq %llu, expected %llu", (long)(n - nodes),
                     st.producer, (unsigned long long)st.seq,
                     (unsigned long long)n->next_seq[st.producer]);
        n->next_seq[st.producer] = st.seq + 1;
    }
    forward(n, ev);
    return 0;
}

/* A random acyclic graph: each topic forwards to one or two later ones,
 * except the last, a leaf. Never into a source: a source checks that it
 * gets each producer's events in order, and forwards would break that. */
static void build(bus_t *bus, uint64_t *rng)
{
    memset(nodes, 0, sizeof(nodes));
    for (unsigned i = 0; i < TOPICS; i++) {
        struct node *n = &nodes[i];
        n->parallel = i >= SOURCES && stress_below(rng, 3) == 0;
        n->batch = stress_below(rng, 4) == 0;
        n->nforwards = i + 1 < TOPICS ? 1 + stress_below(rng, MAX_FORWARDS) : 0;
        unsigned first = i + 1 > SOURCES ? i + 1 : SOURCES;
        for (unsigned f = 0; f < n->nforwards; f++)
            n->next[f] = first + stress_below(rng, TOPICS - first);
        char name[16];
        snprintf(name, sizeof(name), "node.%u", i);
        n->capacity = stress_below(rng, 2) ? 16 : 64;
        n->topic = stress_topic(bus, name, n->capacity, PAYLOAD, BUS_FULL_BLOCK,
                                n->parallel ? BUS_TOPIC_PARALLEL : 0);
        bus_sub_t *sub;
        stress_must(bus_subscribe(n->topic, on_event, n, &sub), "bus_subscribe");
    }
}

struct producer {
    pthread_t thread;
    uint32_t index;
    uint64_t deadline;
};

static void *produce(void *arg)
{
    struct producer *p = arg;
    struct node *src = &nodes[p->index % SOURCES];
    unsigned char buf[PAYLOAD];
    for (uint64_t seq = 0; stress_now_ns() < p->deadline; seq++) {
        stress_stamp_fill(buf, sizeof(buf), p->index, 0, seq);
        int rc = bus_publish(src->topic, buf, sizeof(buf));
        if (rc) {
            stress_fail("producer %u: %s", p->index, bus_strerror(rc));
            break;
        }
        add(&src->accepted, 1);
    }
    return NULL;
}

static void verify(unsigned workers)
{
    unsigned long total = 0;
    unsigned filled = 0;
    for (unsigned i = 0; i < TOPICS; i++) {
        struct node *n = &nodes[i];
        bus_topic_stats_t st;
        stress_must(bus_topic_stats(n->topic, &st), "bus_topic_stats");
        STRESS_CHECK(st.published == get(&n->accepted) && st.depth == 0 && st.dropped == 0,
                     "%u workers, node %u: published %llu depth %u, accepted %lu", workers,
                     i, (unsigned long long)st.published, st.depth, get(&n->accepted));
        STRESS_CHECK(get(&n->calls) == get(&n->accepted) && st.handler_errors == 0,
                     "%u workers, node %u: %lu calls for %lu events", workers, i,
                     get(&n->calls), get(&n->accepted));
        total += get(&n->calls);
        filled += i >= SOURCES && st.high_water == n->capacity;
    }
    printf("  %u workers: %lu handler calls, %u inner topics filled up\n", workers, total,
           filled);
    STRESS_CHECK(total > 0, "%u workers: no handler call", workers);
    filled_total += filled;
}

int main(int argc, char **argv)
{
    struct stress_opts o = {.seconds = 3, .threads = 2, .workers = 4};
    stress_parse(argc, argv, "stress_pipeline", &o);
    if (o.threads > MAX_PRODUCERS)
        o.threads = MAX_PRODUCERS;
    uint64_t rng = stress_seed_for(o.seed, 0);
    unsigned phases = 1;
    while (1u << phases <= o.workers)
        phases++;
    for (unsigned workers = 1; workers <= o.workers; workers *= 2) {
        bus_t *bus = stress_bus(workers);
        build(bus, &rng);
        struct producer prs[MAX_PRODUCERS];
        uint64_t deadline = stress_deadline_ns(o.seconds / phases);
        for (unsigned i = 0; i < o.threads; i++) {
            prs[i] = (struct producer){.index = i, .deadline = deadline};
            stress_spawn(&prs[i].thread, produce, &prs[i]);
        }
        for (unsigned i = 0; i < o.threads; i++)
            pthread_join(prs[i].thread, NULL);
        for (unsigned i = 0; i < TOPICS; i++) /* one flush per stage */
            stress_must(bus_flush(bus), "bus_flush");
        verify(workers);
        stress_must(bus_destroy(bus), "bus_destroy");
    }
    STRESS_CHECK(get(&forward_errors) == 0, "%lu failed forwards", get(&forward_errors));
    /* The run exercised what it claims: handlers met full rings. */
    STRESS_CHECK(filled_total > 0, "no inner topic ever filled up");
    return stress_finish("stress_pipeline");
}
