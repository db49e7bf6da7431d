/* stress_close.c - closing topics while producers and wildcard subscribers
 * run (bus_topic_close).
 *
 * SLOTS slots each hold one live topic ("room.<slot>.<generation>"); a closer
 * thread per slot keeps replacing it: it opens the next generation (ordered,
 * parallel or keyed, in turn), swaps it into the slot, and closes the old one
 * while producers may still be publishing onto it (alternately draining and
 * dropping). Producers publish onto the topic of a random slot; two wildcard
 * subscriptions (`room.>`, `room.*.*`) live for the whole run, and --threads
 * churners subscribe and unsubscribe a third one (`room.*.>`) all the time.
 * Checked, per closed topic:
 *  - no handler call for it after bus_topic_close() returned;
 *  - the counts add up: the events its producers saw accepted are the final
 *    `published`, and each permanent wildcard subscription received
 *    published - dropped of them (a draining close drops none);
 *  - publishes racing with the close fail with -EPIPE, nothing else;
 *  - a walker thread flushes and lists the topics all the while (each visit
 *    pins a topic that may be closing);
 * and, over the run, that closes raced with publishes (some -EPIPE), that
 * both modes dropped or drained something, and (under ASan) no leak.
 *
 * Producers hold the topics (bus_hold_begin) from loading a slot's handle to
 * their last publish with it, so the close's free waits for them: this is how
 * they may race with it (bus.h). Each topic's record is kept until the end,
 * so a late handler call finds it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stress_common.h"

enum { SLOTS = 8, PERMANENT = 2 };

/* One topic's life. */
struct life {
    bus_topic_t *topic;
    int mode;
    atomic_bool closed; /* set once bus_topic_close() returned */
    atomic_ulong published, refused, received[PERMANENT], late;
    bus_topic_stats_t final;
    struct life *next; /* all lives, freed at the end */
};

struct slot {
    unsigned index;
    struct life *_Atomic life;
    uint64_t seed;
};

struct payload {
    struct life *life;
    uint64_t n;
};

static bus_t *bus;
static uint64_t deadline;
static struct slot slots[SLOTS];
static atomic_ulong closes, epipes, other_errors, dropped_total, drained_total, walks, walked;
static pthread_mutex_t lives_lock = PTHREAD_MUTEX_INITIALIZER;
static struct life *lives;

static int on_event(const bus_event_t *ev, void *ctx)
{
    const struct payload *p = ev->data;
    STRESS_CHECK(ev->size == sizeof(*p), "event of %zu bytes", ev->size);
    struct life *l = p->life;
    /* acquire: pairs with the closer's release after close returned. */
    if (atomic_load_explicit(&l->closed, memory_order_acquire))
        atomic_fetch_add(&l->late, 1);
    uintptr_t k = (uintptr_t)ctx;
    if (k < PERMANENT)
        atomic_fetch_add(&l->received[k], 1);
    return 0;
}

static struct life *open_life(struct slot *s, unsigned generation)
{
    static const unsigned kinds[] = {0, BUS_TOPIC_PARALLEL, BUS_TOPIC_KEYED};
    struct life *l = calloc(1, sizeof(*l));
    if (!l)
        abort();
    char name[64];
    snprintf(name, sizeof(name), "room.%u.%u", s->index, generation);
    l->topic = stress_topic(bus, name, 64, sizeof(struct payload), BUS_FULL_FAIL,
                            kinds[generation % 3]);
    l->mode = generation / 3 % 2 ? BUS_CLOSE_DROP : BUS_CLOSE_DRAIN;
    pthread_mutex_lock(&lives_lock);
    l->next = lives;
    lives = l;
    pthread_mutex_unlock(&lives_lock);
    return l;
}

static void close_life(struct life *l)
{
    stress_must(bus_topic_close(l->topic, l->mode, &l->final), "bus_topic_close");
    /* release: a handler call that starts after this sees it. */
    atomic_store_explicit(&l->closed, true, memory_order_release);
    atomic_fetch_add(&closes, 1);
}

static void *closer(void *arg)
{
    struct slot *s = arg;
    unsigned generation = 1;
    while (stress_now_ns() < deadline) {
        struct life *next = open_life(s, generation++);
        struct life *old = atomic_exchange(&s->life, next);
        close_life(old);
    }
    return NULL;
}

static void *producer(void *arg)
{
    uint64_t *seed = arg;
    uint64_t n = 0;
    while (stress_now_ns() < deadline) {
        struct slot *s = &slots[stress_below(seed, SLOTS)];
        /* The handle stays allocated until the hold ends (bus.h). */
        bus_hold_begin();
        struct life *l = atomic_load(&s->life);
        for (int i = 0; i < 16; i++) {
            struct payload p = {l, n++};
            int rc = bus_publish_keyed(l->topic, stress_rand(seed), &p, sizeof(p));
            if (rc == 0) {
                atomic_fetch_add(&l->published, 1);
            } else if (rc == -EPIPE) {
                atomic_fetch_add(&l->refused, 1);
                atomic_fetch_add(&epipes, 1);
                break;
            } else if (rc != -EAGAIN) {
                atomic_fetch_add(&other_errors, 1);
                break;
            }
        }
        bus_hold_end();
    }
    return NULL;
}

static void *churner(void *arg)
{
    (void)arg;
    while (stress_now_ns() < deadline) {
        bus_sub_t *sub;
        stress_must(bus_subscribe_pattern(bus, "room.*.>", on_event, (void *)(uintptr_t)PERMANENT,
                                          NULL, &sub),
                    "bus_subscribe_pattern");
        stress_must(bus_unsubscribe(sub), "bus_unsubscribe");
    }
    return NULL;
}

static int visit(const bus_topic_info_t *info, void *ctx)
{
    STRESS_CHECK(strncmp(info->name, "room.", 5) == 0, "walk found topic %s", info->name);
    ++*(unsigned long *)ctx;
    return 0;
}

/* Walks the registry while topics close under it: flushes (each visit
 * waits on a topic that may be closing) and listings. */
static void *walker(void *arg)
{
    (void)arg;
    while (stress_now_ns() < deadline) {
        int rc = bus_flush_timeout(bus, 10 * 1000000ull);
        STRESS_CHECK(rc == 0 || rc == -ETIMEDOUT, "bus_flush_timeout: %s", bus_strerror(rc));
        unsigned long seen = 0;
        stress_must(bus_topics_foreach(bus, visit, &seen), "bus_topics_foreach");
        atomic_fetch_add(&walks, 1);
        atomic_fetch_add(&walked, seen);
    }
    return NULL;
}

static void check_life(const struct life *l)
{
    const bus_topic_stats_t *f = &l->final;
    const char *name = l->mode == BUS_CLOSE_DROP ? "drop" : "drain";
    STRESS_CHECK(atomic_load(&l->late) == 0, "%lu calls after close returned (%s)",
                 atomic_load(&l->late), name);
    STRESS_CHECK(f->published == atomic_load(&l->published),
                 "published %llu, producers saw %lu accepted (%s)",
                 (unsigned long long)f->published, atomic_load(&l->published), name);
    for (int k = 0; k < PERMANENT; k++)
        STRESS_CHECK(atomic_load(&l->received[k]) + f->dropped == f->published,
                     "subscription %d: %lu received + %llu dropped != %llu published (%s)",
                     k, atomic_load(&l->received[k]), (unsigned long long)f->dropped,
                     (unsigned long long)f->published, name);
    STRESS_CHECK(l->mode == BUS_CLOSE_DROP || f->dropped == 0, "a drain dropped %llu",
                 (unsigned long long)f->dropped);
    atomic_fetch_add(l->mode == BUS_CLOSE_DROP ? &dropped_total : &drained_total,
                     l->mode == BUS_CLOSE_DROP ? f->dropped : f->delivered);
}

int main(int argc, char **argv)
{
    struct stress_opts o = {.seconds = 3, .threads = 2, .workers = 2};
    stress_parse(argc, argv, "stress_close", &o);
    bus = stress_bus(o.workers);
    bus_sub_t *permanent[PERMANENT];
    const char *patterns[PERMANENT] = {"room.>", "room.*.*"};
    for (uintptr_t k = 0; k < PERMANENT; k++)
        stress_must(bus_subscribe_pattern(bus, patterns[k], on_event, (void *)k, NULL,
                                          &permanent[k]),
                    "bus_subscribe_pattern");
    for (unsigned i = 0; i < SLOTS; i++) {
        slots[i].index = i;
        atomic_init(&slots[i].life, open_life(&slots[i], 0));
    }

    unsigned nproducers = o.threads + 1, n = SLOTS + nproducers + o.threads + 1;
    pthread_t *threads = calloc(n, sizeof(*threads));
    uint64_t *seeds = calloc(n, sizeof(*seeds));
    deadline = stress_deadline_ns(o.seconds);
    for (unsigned i = 0; i < n; i++) {
        seeds[i] = stress_seed_for(o.seed, i);
        if (i < SLOTS)
            stress_spawn(&threads[i], closer, &slots[i]);
        else if (i < SLOTS + nproducers)
            stress_spawn(&threads[i], producer, &seeds[i]);
        else if (i < n - 1)
            stress_spawn(&threads[i], churner, NULL);
        else
            stress_spawn(&threads[i], walker, NULL);
    }
    for (unsigned i = 0; i < n; i++)
        pthread_join(threads[i], NULL);
    /* The last generation: nothing races with these closes. */
    for (unsigned i = 0; i < SLOTS; i++)
        close_life(atomic_load(&slots[i].life));
    for (int k = 0; k < PERMANENT; k++)
        stress_must(bus_unsubscribe(permanent[k]), "bus_unsubscribe");
    stress_must(bus_destroy(bus), "bus_destroy");

    for (struct life *l = lives; l; l = l->next)
        check_life(l);
    printf("stress_close: %lu closes, %lu publishes refused with -EPIPE, %lu events "
           "drained, %lu dropped at close; %lu walks over %lu topics\n",
           atomic_load(&closes), atomic_load(&epipes), atomic_load(&drained_total),
           atomic_load(&dropped_total), atomic_load(&walks), atomic_load(&walked));
    STRESS_CHECK(atomic_load(&other_errors) == 0, "%lu publishes failed otherwise",
                 atomic_load(&other_errors));
    /* The run exercised what it claims. */
    STRESS_CHECK(atomic_load(&closes) > SLOTS, "only %lu closes", atomic_load(&closes));
    STRESS_CHECK(atomic_load(&epipes) > 0, "no publish raced with a close");
    STRESS_CHECK(atomic_load(&drained_total) > 0, "no drain delivered anything");
    STRESS_CHECK(atomic_load(&walks) > 0 && atomic_load(&walked) > 0, "no walk saw a topic");
    while (lives) {
        struct life *l = lives;
        lives = l->next;
        free(l);
    }
    free(threads);
    free(seeds);
    return stress_finish("stress_close");
}
