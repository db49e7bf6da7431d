/* stress_memory.c - resident memory stays flat under long churn.
 *
 * One long-lived bus. Each cycle subscribes handlers on random topics,
 * publishes events of random sizes (up to max_payload, so every ring slot is
 * touched early), unsubscribes half of the handlers synchronously and half
 * asynchronously (old subscription tables and subscriptions are reclaimed
 * through call_rcu), and flushes. After the warm-up and after the last cycle,
 * once every async completion has run, we compare
 *  - heap bytes in use (allocator's own count): exact, must not grow beyond
 *    what is legitimately in flight (call_rcu backlog);
 *  - RSS: also catches memory outside malloc (mmap), but drifts with
 *    fragmentation, so its tolerance is wider. */
#include <errno.h>
#include <malloc.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "stress_common.h"

enum {
    TOPICS = 4,
    CAPACITY = 256,
    MAX_PAYLOAD = 1024,
    SUBS_PER_CYCLE = 16,
    EVENTS_PER_CYCLE = 512,
    WARMUP_CYCLES = 20, /* rings touched, arenas and call_rcu settled */
    MIN_CYCLES = 1000,
    /* Heap growth allowed between the two measurements: what is still in
     * flight when we measure (old subscription tables queued for call_rcu,
     * the library's own lazily grown structures): measured 3-17 KB whatever
     * the number of cycles (3,776 or 18,254). One leaked 64-byte object per
     * cycle over the >= 1,000 cycles of any run is 64 KB: caught. */
    HEAP_TOLERANCE_KB = 48,
    /* Plus the topics' latency histograms (bus/hist.h), which grow a
     * 256-byte chunk at a time as timed events land in new octaves: at most
     * 33 chunks for each of a topic's two histograms, a bounded one-time
     * growth that slow outliers may bring after the warm-up. (A
     * subscription's histogram is freed with it: a leak of those is caught
     * by the 48 KB.) */
    TOPIC_HISTS_KB = TOPICS * 2 * 33 * 256 / 1024,
    /* RSS: glibc keeps freed chunks and its arenas' tops; flat-heap runs
     * drift by up to ~2 MB over 250,000 cycles (steps of ~250 KB with long
     * flat stretches between them). A leak of ~50 bytes per
     * subscription over 40 s of soak (~4 M subscriptions) exceeds this. */
    RSS_TOLERANCE_KB = 4096,
};

/* relaxed counters: a handler count read after bus_flush (which orders the
 * handlers before it), and async completions, read after the final
 * bus_destroy (which runs every pending completion before it returns). */
static atomic_ulong calls;
static atomic_long pending_async;

static int count_call(const bus_event_t *ev, void *ctx)
{
    (void)ev;
    (void)ctx;
    atomic_fetch_add_explicit(&calls, 1, memory_order_relaxed);
    return 0;
}

static void async_done(void *arg)
{
    (void)arg;
    atomic_fetch_sub_explicit(&pending_async, 1, memory_order_relaxed);
}

/* Waits (up to 10 s) until every async completion has run, so that both
 * measurements see the call_rcu queue drained to the same point. */
static void settle_async(void)
{
    for (int ms = 0; ms < 10000; ms++) {
        if (atomic_load_explicit(&pending_async, memory_order_relaxed) == 0)
            return;
        stress_sleep_us(1000);
    }
}

static void churn_cycle(bus_t *bus, bus_topic_t **topics, uint64_t *rng)
{
    bus_sub_t *subs[SUBS_PER_CYCLE];
    for (int i = 0; i < SUBS_PER_CYCLE; i++)
        stress_must(bus_subscribe(topics[stress_below(rng, TOPICS)], count_call, NULL,
                                  &subs[i]),
                    "bus_subscribe");
    static const unsigned char payload[MAX_PAYLOAD];
    for (int i = 0; i < EVENTS_PER_CYCLE; i++)
        stress_must(bus_publish(topics[stress_below(rng, TOPICS)], payload,
                                stress_below(rng, MAX_PAYLOAD + 1)),
                    "bus_publish");
    for (int i = 0; i < SUBS_PER_CYCLE; i++) {
        if (i % 2) {
            stress_must(bus_unsubscribe(subs[i]), "bus_unsubscribe");
        } else {
            atomic_fetch_add_explicit(&pending_async, 1, memory_order_relaxed);
            stress_must(bus_unsubscribe_async(subs[i], async_done, NULL),
                        "bus_unsubscribe_async");
        }
    }
    stress_must(bus_flush(bus), "bus_flush");
}

int main(int argc, char **argv)
{
    struct stress_opts o = {.seconds = 3, .threads = 1, .workers = 2};
    stress_parse(argc, argv, "stress_memory", &o);
    /* max_topics sized to the topics we open: a ready queue's cells are
     * faulted in when its positions first reach them (bus/readyq.h), a
     * one-time growth of 16 bytes per cell that with the default 65,536
     * topics (2 MiB a level) would land in the measured cycles. With 64 the
     * warm-up laps the queues many times. */
    bus_config_t cfg;
    bus_config_init(&cfg);
    cfg.workers = o.workers;
    cfg.max_topics = 64;
    bus_t *bus = NULL;
    stress_must(bus_create(&bus, &cfg), "bus_create");
    bus_topic_t *topics[TOPICS];
    for (unsigned i = 0; i < TOPICS; i++) {
        char name[16];
        snprintf(name, sizeof(name), "churn.%u", i);
        topics[i] = stress_topic(bus, name, CAPACITY, MAX_PAYLOAD, BUS_FULL_BLOCK,
                                 i % 2 ? BUS_TOPIC_PARALLEL : 0);
    }
    uint64_t rng = stress_seed_for(o.seed, 0);
    for (int i = 0; i < WARMUP_CYCLES; i++)
        churn_cycle(bus, topics, &rng);
    settle_async();
    /* Freed memory glibc still holds (arena tops, free chunks in the worker
     * threads' arenas) goes back to the system before each RSS reading, so
     * that the comparison sees what is in use, not how much the allocator
     * kept from the last burst (a loaded run once kept 7 MB). */
    malloc_trim(0);
    long first = stress_rss_kb(), peak = first;
    size_t heap_first = stress_heap_bytes();
    uint64_t deadline = stress_deadline_ns(o.seconds);
    unsigned long n = 0;
    for (; n < MIN_CYCLES || stress_now_ns() < deadline; n++) {
        churn_cycle(bus, topics, &rng);
        if (n % 64 == 0) {
            long now = stress_rss_kb();
            peak = now > peak ? now : peak;
        }
    }
    settle_async();
    malloc_trim(0);
    long last = stress_rss_kb();
    size_t heap_last = stress_heap_bytes();
    stress_must(bus_destroy(bus), "bus_destroy");

    printf("  %lu cycles (%lu subscriptions, %lu events, %lu handler calls): "
           "heap %zu -> %zu KB, RSS %ld -> %ld KB, peak %ld KB\n",
           n, n * SUBS_PER_CYCLE, n * EVENTS_PER_CYCLE,
           atomic_load_explicit(&calls, memory_order_relaxed), heap_first / 1024,
           heap_last / 1024, first, last, peak);
    STRESS_CHECK(heap_last <= heap_first + (HEAP_TOLERANCE_KB + TOPIC_HISTS_KB) * 1024,
                 "heap grew by %zu KB (tolerance %d KB)", (heap_last - heap_first) / 1024,
                 HEAP_TOLERANCE_KB + TOPIC_HISTS_KB);
    long pending = atomic_load_explicit(&pending_async, memory_order_relaxed);
    STRESS_CHECK(pending == 0, "%ld async completions never ran", pending);
    if (stress_under_sanitizer())
        printf("  (sanitizer build: RSS not checked, the heap count is)\n");
    else
        STRESS_CHECK(last - first <= RSS_TOLERANCE_KB, "RSS grew by %ld KB (tolerance %d KB)",
                     last - first, RSS_TOLERANCE_KB);
    return stress_finish("stress_memory");
}
