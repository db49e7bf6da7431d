/* test_stress.c - many producers, topics and subscribers at once: every
 * subscriber counts every event exactly once. */
#include "helpers.h"

enum { PRODUCERS = 4, TOPICS = 4, SUBS = 3, PER_PRODUCER = 25000 };

struct message {
    uint32_t producer, topic, n;
};

/* Per subscriber: a hit count per (producer, n) and the per-producer order. */
struct tally {
    atomic_uchar hits[PRODUCERS][PER_PRODUCER];
    atomic_ulong bad;
    uint32_t topic;
    bool ordered;
    uint32_t next[PRODUCERS];
};

static int tally_event(const bus_event_t *ev, void *ctx)
{
    struct tally *t = ctx;
    struct message m;
    if (ev->size != sizeof(m)) {
        atomic_fetch_add(&t->bad, 1);
        return 1;
    }
    memcpy(&m, ev->data, sizeof(m));
    if (m.producer >= PRODUCERS || m.n >= PER_PRODUCER || m.topic != t->topic) {
        atomic_fetch_add(&t->bad, 1);
        return 1;
    }
    if (t->ordered) {
        if (m.n != t->next[m.producer])
            atomic_fetch_add(&t->bad, 1);
        t->next[m.producer] = m.n + 1;
    }
    atomic_fetch_add(&t->hits[m.producer][m.n], 1);
    return 0;
}

struct producer {
    bus_topic_t **topics;
    uint32_t id;
};

static void *produce(void *arg)
{
    struct producer *p = arg;
    for (uint32_t n = 0; n < PER_PRODUCER; n++) {
        for (uint32_t t = 0; t < TOPICS; t++) {
            struct message m = {p->id, t, n};
            ck_assert_ok(bus_publish(p->topics[t], &m, sizeof(m)));
        }
    }
    return NULL;
}

START_TEST(every_event_exactly_once_per_subscriber)
{
    bus_t *bus = new_bus(3);
    bus_topic_t *topics[TOPICS];
    struct tally *tallies = calloc(TOPICS * SUBS, sizeof(*tallies));
    bus_sub_t *sub;
    for (uint32_t t = 0; t < TOPICS; t++) {
        char name[16] = "stress.";
        name[7] = (char)('a' + t);
        bool ordered = t % 2 == 0;
        topics[t] = new_topic(bus, name, 64, BUS_FULL_BLOCK, ordered ? 0 : BUS_TOPIC_PARALLEL);
        for (uint32_t s = 0; s < SUBS; s++) {
            struct tally *tl = &tallies[t * SUBS + s];
            tl->topic = t;
            tl->ordered = ordered;
            ck_assert_ok(bus_subscribe(topics[t], tally_event, tl, &sub));
        }
    }
    pthread_t threads[PRODUCERS];
    struct producer args[PRODUCERS];
    for (uint32_t i = 0; i < PRODUCERS; i++) {
        args[i] = (struct producer){topics, i};
        pthread_create(&threads[i], NULL, produce, &args[i]);
    }
    for (int i = 0; i < PRODUCERS; i++)
        pthread_join(threads[i], NULL);
    ck_assert_ok(bus_flush(bus));
    for (int i = 0; i < TOPICS * SUBS; i++) {
        ck_assert_uint_eq(atomic_load(&tallies[i].bad), 0);
        for (int p = 0; p < PRODUCERS; p++)
            for (int n = 0; n < PER_PRODUCER; n++)
                ck_assert_uint_eq(atomic_load(&tallies[i].hits[p][n]), 1);
    }
    for (uint32_t t = 0; t < TOPICS; t++) {
        bus_topic_stats_t st;
        ck_assert_ok(bus_topic_stats(topics[t], &st));
        ck_assert_uint_eq(st.published, PRODUCERS * PER_PRODUCER);
        ck_assert_uint_eq(st.delivered, (uint64_t)SUBS * PRODUCERS * PER_PRODUCER);
    }
    ck_assert_ok(bus_destroy(bus));
    free(tallies);
}
END_TEST

/* The ready queue sized to the bus's topics, with every topic busy: a push
 * may find its cell still being read by a worker that popped it a lap ago.
 * It must wait for the cell, never drop the topic (the topic would stay
 * marked scheduled with nobody to dispatch it, and its producers would block
 * forever). */
struct tiny_producer {
    bus_topic_t *topic;
    unsigned long published;
};

static void *publish_for_a_while(void *arg)
{
    struct tiny_producer *p = arg;
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    do {
        for (int i = 0; i < 1000; i++)
            ck_assert_ok(bus_publish(p->topic, &i, sizeof(i)));
        p->published += 1000;
        clock_gettime(CLOCK_MONOTONIC, &now);
    } while (now.tv_sec - start.tv_sec < 2);
    return NULL;
}

START_TEST(full_ready_queue_never_drops_a_topic)
{
    enum { TOPICS = 2, PER_TOPIC = 2 };
    bus_config_t cfg;
    bus_config_init(&cfg);
    cfg.workers = 2;
    cfg.max_topics = TOPICS;
    bus_t *bus;
    ck_assert_ok(bus_create(&bus, &cfg));
    struct counter c = {0};
    struct tiny_producer prods[TOPICS * PER_TOPIC];
    pthread_t threads[TOPICS * PER_TOPIC];
    for (int t = 0; t < TOPICS; t++) {
        char name[8] = {'t', (char)('0' + t), 0};
        bus_topic_t *topic = new_topic(bus, name, 64, BUS_FULL_BLOCK, 0);
        subscribe(topic, count_only, &c);
        for (int p = 0; p < PER_TOPIC; p++)
            prods[t * PER_TOPIC + p] = (struct tiny_producer){topic, 0};
    }
    for (int i = 0; i < TOPICS * PER_TOPIC; i++)
        pthread_create(&threads[i], NULL, publish_for_a_while, &prods[i]);
    unsigned long published = 0;
    for (int i = 0; i < TOPICS * PER_TOPIC; i++) {
        pthread_join(threads[i], NULL);
        published += prods[i].published;
    }
    ck_assert_ok(bus_flush(bus));
    ck_assert_uint_eq(atomic_load(&c.calls), published);
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("stress");
    TCase *tc = tcase_create("stress");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, every_event_exactly_once_per_subscriber);
    tcase_add_test(tc, full_ready_queue_never_drops_a_topic);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
