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

int main(void)
{
    Suite *s = suite_create("stress");
    TCase *tc = tcase_create("stress");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, every_event_exactly_once_per_subscriber);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
