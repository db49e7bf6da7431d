/* repro_ready_queue_convoy.c - regression check of a fixed library defect;
 * built, not registered (it bounds a time: see meson.build). Fixed by
 * replacing ck_ring with bus/readyq.h; what it showed:
 *
 * bus.h: "a producer preempted between its reservation and its commit delays
 * the producers that reserved after it on the same topic (they spin briefly,
 * then yield the CPU to let it finish)". But a publish that finds its topic
 * idle also pushes the topic onto the bus's shared ready queue
 * (bus__sched_push -> ck_ring_enqueue_mpmc), and that push waits for every
 * producer that reserved an earlier ready-queue slot, on ANY topic, with
 * `pause` only, never yielding (ck_ring.h: while (p_tail != producer)
 * ck_pr_stall()). With more publishing threads than cores, a producer
 * preempted inside the push stalls all the others, which burn the CPUs it
 * needs; workers see an empty queue and idle.
 *
 * Here each thread publishes round robin onto topics of its own (nothing
 * shared but the bus), so most publishes find their topic idle and push it;
 * no ring ever fills (no subscriber; 2 workers drain them). Exits 1 if a
 * single bus_publish call took longer than MAX_PUBLISH_MS.
 *
 * usage: repro_ready_queue_convoy [--seconds N] [--threads N] [--workers N]
 * (defaults 2 s, 16 threads, 2 workers: on a 2-core machine a call stalls
 * for 100 ms to seconds, and throughput falls from millions of events per
 * second to tens of thousands). */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "stress_common.h"

enum { MAX_PUBLISH_MS = 100, TOPIC_CAPACITY = 4096, TOPICS_EACH = 64 };

struct producer {
    bus_topic_t *topics[TOPICS_EACH];
    uint64_t deadline, events, worst_ns;
};

static void *produce(void *arg)
{
    struct producer *p = arg;
    uint64_t payload = 0;
    while (stress_now_ns() < p->deadline) {
        uint64_t start = stress_now_ns();
        int rc = bus_publish(p->topics[p->events % TOPICS_EACH], &payload, sizeof(payload));
        uint64_t took = stress_now_ns() - start;
        STRESS_CHECK(rc == 0, "publish: %s", bus_strerror(rc));
        if (took > p->worst_ns)
            p->worst_ns = took;
        p->events++;
    }
    return NULL;
}

int main(int argc, char **argv)
{
    struct stress_opts o = {.seconds = 2, .threads = 16, .workers = 2};
    stress_parse(argc, argv, "repro_ready_queue_convoy", &o);
    bus_t *bus = stress_bus(o.workers);
    struct producer *prods = calloc(o.threads, sizeof(*prods));
    pthread_t *threads = calloc(o.threads, sizeof(*threads));
    uint64_t deadline = stress_deadline_ns(o.seconds), start = stress_now_ns();
    for (unsigned i = 0; i < o.threads; i++) {
        prods[i].deadline = deadline;
        for (unsigned j = 0; j < TOPICS_EACH; j++) {
            char name[32];
            snprintf(name, sizeof(name), "convoy.%u.%u", i, j);
            prods[i].topics[j] = stress_topic(bus, name, TOPIC_CAPACITY, 8, BUS_FULL_BLOCK, 0);
        }
    }
    for (unsigned i = 0; i < o.threads; i++)
        stress_spawn(&threads[i], produce, &prods[i]);
    uint64_t events = 0, worst = 0;
    for (unsigned i = 0; i < o.threads; i++) {
        pthread_join(threads[i], NULL);
        events += prods[i].events;
        worst = prods[i].worst_ns > worst ? prods[i].worst_ns : worst;
    }
    double took = (double)(stress_now_ns() - start) / 1e9;
    printf("  %llu events in %.2f s (%.0f/s), slowest bus_publish %.1f ms\n",
           (unsigned long long)events, took, (double)events / took, (double)worst / 1e6);
    STRESS_CHECK(worst <= MAX_PUBLISH_MS * UINT64_C(1000000),
                 "a bus_publish onto an uncontended topic took %.1f ms (limit %d ms): "
                 "producers convoy in the ready-queue push", (double)worst / 1e6,
                 MAX_PUBLISH_MS);
    stress_must(bus_destroy(bus), "bus_destroy");
    free(prods);
    free(threads);
    return stress_finish("repro_ready_queue_convoy");
}
