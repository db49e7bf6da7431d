/* stress_inbox.c - inboxes opened, filled, taken from and closed over and
 * over while producers publish, with messages of both kinds (recycled pool
 * slots and ones too big for a slot, bus/inbox/pool.h) and releases racing
 * the close.
 *
 * Each cycle opens a pattern inbox on two ordered topics (so --workers
 * workers put into it at once) with a random capacity and full policy,
 * starts two takers and --threads producers of stamped payloads of random
 * sizes, lets them run a few milliseconds, then stops the producers. Takers
 * hold some of their messages unreleased; a releaser gives them back while
 * bus_inbox_close() runs. Checked:
 *  - every message taken is whole (the stamp's checksum), comes from the
 *    topic its name says, and each taker sees each producer's events of a
 *    topic in publish order;
 *  - the counts add up: after the producers stop and the bus is flushed,
 *    every event published was offered to the inbox (its filter counts),
 *    and offered = taken + left at the close + dropped (evicted events are
 *    counted as received too, under BUS_INBOX_DROP_OLDEST);
 *  - every fourth cycle closes while the producers still publish (a close
 *    racing puts and workers waiting for room): messages stay whole;
 * and, over the run, that each policy ran and that some workers waited
 * for room. ASan checks that no message or pool leaks. */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus/inbox.h"
#include "stress_common.h"

enum { TOPICS = 2, MAX_PRODUCERS = 16, HOLD = 24, BATCH = 16, MAX_PAYLOAD = 1024 };

static const char *const topic_names[TOPICS] = {"inbox.a", "inbox.b"};
static bus_t *bus;
static bus_topic_t *topics[TOPICS];
static struct stress_opts opts;
static unsigned long cycles_of[3], waits, held_at_close; /* main thread only */

/* One cycle's inbox and what its threads saw. */
struct cycle {
    bus_inbox_t *in;
    /* relaxed, all: flags polled in loops, counts read after the joins,
     * the flush or the close that order them. */
    atomic_bool stop_producers, stop_takers;
    atomic_ulong published, offered, taken;
};

struct producer {
    struct cycle *c;
    uint32_t index;
    uint64_t seed;
};

struct taker {
    struct cycle *c;
    bus_inbox_msg_t *held[HOLD];
    unsigned nheld;
};

static bool count_offer(const bus_event_t *ev, void *ctx)
{
    (void)ev;
    struct cycle *c = ctx;
    atomic_fetch_add_explicit(&c->offered, 1, memory_order_relaxed);
    return true;
}

static void *produce(void *arg)
{
    struct producer *p = arg;
    unsigned char buf[MAX_PAYLOAD];
    uint64_t seq[TOPICS] = {0};
    while (!atomic_load_explicit(&p->c->stop_producers, memory_order_relaxed)) {
        uint32_t t = stress_below(&p->seed, TOPICS);
        /* Half fit a pool slot, half are bigger. */
        size_t size = sizeof(struct stress_stamp) +
                      stress_below(&p->seed, stress_below(&p->seed, 2) ? 300 : MAX_PAYLOAD -
                                                                          sizeof(struct stress_stamp));
        stress_stamp_fill(buf, size, p->index, t, seq[t]);
        stress_must(bus_publish(topics[t], buf, size), "bus_publish");
        seq[t]++;
        atomic_fetch_add_explicit(&p->c->published, 1, memory_order_relaxed);
    }
    return NULL;
}

static void check_message(const bus_inbox_msg_t *m, int64_t last[MAX_PRODUCERS][TOPICS])
{
    bus_event_t ev = {.data = m->data, .size = m->size};
    struct stress_stamp st;
    if (!stress_stamp_check(&ev, &st)) {
        stress_fail("a torn message of %zu bytes", m->size);
        return;
    }
    if (st.producer >= MAX_PRODUCERS || st.topic >= TOPICS) {
        stress_fail("a stamp from nowhere: producer %u topic %u", st.producer, st.topic);
        return;
    }
    STRESS_CHECK(strcmp(m->topic, topic_names[st.topic]) == 0, "topic %s for a stamp of %s",
                 m->topic, topic_names[st.topic]);
    STRESS_CHECK((int64_t)st.seq > last[st.producer][st.topic],
                 "producer %u on %s: seq %llu after %lld", st.producer, m->topic,
                 (unsigned long long)st.seq, (long long)last[st.producer][st.topic]);
    last[st.producer][st.topic] = (int64_t)st.seq;
}

static void *take(void *arg)
{
    struct taker *tk = arg;
    int64_t last[MAX_PRODUCERS][TOPICS];
    for (unsigned i = 0; i < MAX_PRODUCERS; i++)
        for (unsigned t = 0; t < TOPICS; t++)
            last[i][t] = -1;
    bus_inbox_msg_t *msgs[BATCH];
    unsigned long n_taken = 0;
    while (!atomic_load_explicit(&tk->c->stop_takers, memory_order_relaxed)) {
        int n = bus_inbox_next_batch(tk->c->in, 1000 * 1000, msgs, BATCH);
        STRESS_CHECK(n > 0 || n == -ETIMEDOUT, "bus_inbox_next_batch: %d", n);
        for (int i = 0; i < n; i++) {
            check_message(msgs[i], last);
            /* Keep some for the releaser, which races the close. */
            if (++n_taken % 7 == 0 && tk->nheld < HOLD)
                tk->held[tk->nheld++] = msgs[i];
            else
                bus_inbox_release(msgs[i]);
        }
    }
    atomic_fetch_add_explicit(&tk->c->taken, n_taken, memory_order_relaxed);
    return NULL;
}

static void *release_held(void *arg)
{
    struct taker *tk = arg;
    for (unsigned i = 0; i < tk->nheld; i++) {
        bus_inbox_release(tk->held[i]);
        if (i % 4 == 0)
            sched_yield();
    }
    return NULL;
}

static void stop(pthread_t *threads, unsigned n, atomic_bool *flag)
{
    atomic_store_explicit(flag, true, memory_order_relaxed);
    for (unsigned i = 0; i < n; i++)
        pthread_join(threads[i], NULL);
}

static void run_cycle(unsigned number, uint64_t *seed)
{
    static const uint32_t capacities[] = {1, 2, 8, 64, 512};
    struct cycle c = {0};
    bus_inbox_options_t o;
    bus_inbox_options_init(&o);
    o.capacity = capacities[stress_below(seed, 5)];
    o.full = (int)stress_below(seed, 3);
    o.block_ns = 2 * 1000 * 1000;
    o.filter = count_offer;
    o.filter_ctx = &c;
    stress_must(bus_inbox_open_pattern(bus, "inbox.*", &o, &c.in), "bus_inbox_open_pattern");
    cycles_of[o.full]++;

    struct taker takers[2] = {{.c = &c}, {.c = &c}};
    struct producer producers[MAX_PRODUCERS];
    pthread_t tt[2], pt[MAX_PRODUCERS], rt[2];
    for (unsigned i = 0; i < 2; i++)
        stress_spawn(&tt[i], take, &takers[i]);
    for (unsigned i = 0; i < opts.threads; i++) {
        producers[i] = (struct producer){&c, i, stress_seed_for(*seed, i)};
        stress_spawn(&pt[i], produce, &producers[i]);
    }
    stress_sleep_us(2000 + stress_below(seed, 8000));
    bool hot = number % 4 == 3; /* close while the producers publish */
    if (!hot) {
        stop(pt, opts.threads, &c.stop_producers);
        stress_must(bus_flush(bus), "bus_flush");
    }
    stop(tt, 2, &c.stop_takers);
    bus_inbox_stats_t st;
    stress_must(bus_inbox_stats(c.in, &st), "bus_inbox_stats");
    for (unsigned i = 0; i < 2; i++) {
        held_at_close += takers[i].nheld;
        stress_spawn(&rt[i], release_held, &takers[i]);
    }
    int left = bus_inbox_close(c.in);
    for (unsigned i = 0; i < 2; i++)
        pthread_join(rt[i], NULL);
    if (hot) {
        stop(pt, opts.threads, &c.stop_producers);
        /* Their last events go to nobody, not to the next cycle's inbox. */
        stress_must(bus_flush(bus), "bus_flush");
        STRESS_CHECK(left >= 0, "bus_inbox_close: %d", left);
        return;
    }
    waits += st.blocked;
    unsigned long published = atomic_load_explicit(&c.published, memory_order_relaxed),
                  offered = atomic_load_explicit(&c.offered, memory_order_relaxed),
                  taken = atomic_load_explicit(&c.taken, memory_order_relaxed);
    STRESS_CHECK(offered == published, "cycle %u: %lu offered of %lu published", number, offered,
                 published);
    STRESS_CHECK(st.taken == taken, "cycle %u: stats say %llu taken, the takers %lu", number,
                 (unsigned long long)st.taken, taken);
    uint64_t received = o.full == BUS_INBOX_DROP_OLDEST ? offered : offered - st.dropped;
    STRESS_CHECK(st.received == received, "cycle %u (policy %d): %llu received, expected %llu",
                 number, o.full, (unsigned long long)st.received,
                 (unsigned long long)received);
    STRESS_CHECK(taken + (unsigned long)left + st.dropped == offered,
                 "cycle %u (policy %d, capacity %u): %lu taken + %d left + %llu dropped != "
                 "%lu offered",
                 number, o.full, o.capacity, taken, left, (unsigned long long)st.dropped, offered);
}

int main(int argc, char **argv)
{
    opts = (struct stress_opts){.seconds = 3, .threads = 2, .workers = 2};
    stress_parse(argc, argv, "stress_inbox", &opts);
    if (opts.threads > MAX_PRODUCERS)
        opts.threads = MAX_PRODUCERS;
    bus = stress_bus(opts.workers);
    for (unsigned t = 0; t < TOPICS; t++)
        topics[t] = stress_topic(bus, topic_names[t], 256, MAX_PAYLOAD, BUS_FULL_BLOCK, 0);
    uint64_t seed = stress_seed_for(opts.seed, 0), deadline = stress_deadline_ns(opts.seconds);
    unsigned cycles = 0;
    while (stress_now_ns() < deadline)
        run_cycle(cycles++, &seed);
    stress_must(bus_destroy(bus), "bus_destroy");

    printf("stress_inbox: %u cycles (block %lu, drop newest %lu, drop oldest %lu), %lu worker "
           "waits for room, %lu messages released during closes\n",
           cycles, cycles_of[0], cycles_of[1], cycles_of[2], waits, held_at_close);
    for (int p = 0; p < 3; p++)
        STRESS_CHECK(cycles_of[p] > 0, "no cycle with policy %d", p);
    STRESS_CHECK(waits > 0, "no worker waited for room");
    STRESS_CHECK(held_at_close > 0, "no release raced a close");
    return stress_finish("stress_inbox");
}
