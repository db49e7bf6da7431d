/* stress_subs.c - subscription torture.
 *
 * Producers publish at full speed (BUS_FULL_DROP: they never wait) while
 * churner threads subscribe and unsubscribe random handlers on random topics.
 * Every handler checks a canary in its ctx; whoever unsubscribes poisons the
 * ctx and frees it the moment the bus says it may:
 *  - churners: right after bus_unsubscribe() returns (not a worker thread);
 *  - handlers that remove themselves or a victim: in the completion callback
 *    of bus_unsubscribe_async() (from a handler, bus_unsubscribe only stops
 *    new calls, so ctx may not be freed when it returns);
 *  - handlers that call bus_unsubscribe() on themselves: never before
 *    bus_destroy() returns (that is all the header promises them).
 * A late call trips the canary (or ASan, as a use after free). */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "stress_common.h"

enum {
    TOPICS = 4,
    PRODUCERS = 2,
    SLOTS = 16,       /* subscriptions a churner owns at once */
    MAX_VICTIMS = 64, /* victims waiting for a killer */
    MIN_EVENTS = 10000,
};

enum kind {
    PLAIN,      /* owned by a churner slot, unsubscribed synchronously */
    VICTIM,     /* waits in the victim pool for a killer or a churner */
    KILLER,     /* from inside a call: removes a victim, then itself (async) */
    SELF_ASYNC, /* from inside a call: removes itself with bus_unsubscribe_async */
    SELF_SYNC,  /* from inside a call: removes itself with bus_unsubscribe */
    KINDS
};

static const char *const kind_names[KINDS] = {"plain", "victim", "killer", "self-async",
                                              "self-sync"};

struct sub_ctx {
    /* Plain: written once before subscribing and once after the last call
     * can have returned; a read that races with the poisoning is exactly
     * the bug this test looks for (TSan reports it, the check counts it). */
    uint64_t canary;
    enum kind kind;
    bus_topic_t *topic;
    unsigned trigger; /* the call on which a killer or self kind acts */
    /* Published after bus_subscribe() returned; release/acquire so the
     * handler that loads it sees a complete handle. */
    bus_sub_t *_Atomic sub;
    /* Whoever flips it owns the unsubscribe (parallel topics run one ctx on
     * two workers at once). acq_rel on the exchange: nothing else rides on it
     * but it costs nothing here. */
    atomic_bool claimed;
    atomic_uint calls;
    /* The orphan list (ctxs no churner slot holds), under orphans_lock. */
    struct sub_ctx *prev, *next;
};

static bus_t *bus;
static bus_topic_t *topics[TOPICS];
static uint64_t deadline;

/* Ctxs no churner owns, so that those still subscribed at the end are freed
 * after bus_destroy, and the victim pool. */
static pthread_mutex_t orphans_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sub_ctx orphans = {.prev = &orphans, .next = &orphans};
static struct sub_ctx *victims[MAX_VICTIMS];
static unsigned nvictims;

/* relaxed counters: read after every thread is joined and the bus
 * destroyed; both order them. */
static atomic_ulong subscribed[KINDS], removed[KINDS], handler_calls;
static atomic_ulong published; /* publish calls that returned 0 */
/* Async unsubscribes whose completion has not run yet. relaxed: bus_destroy
 * calls every pending completion before it returns (rcu_barrier), which
 * orders the decrements before our final load. */
static atomic_long pending_async;

static void count(atomic_ulong *c)
{
    atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

static void orphan_add(struct sub_ctx *c)
{
    pthread_mutex_lock(&orphans_lock);
    c->next = orphans.next;
    c->prev = &orphans;
    orphans.next->prev = c;
    orphans.next = c;
    pthread_mutex_unlock(&orphans_lock);
}

/* Offers a subscribed victim to killers and churners (if the pool has room;
 * else it stays subscribed until the end). */
static void victim_offer(struct sub_ctx *c)
{
    pthread_mutex_lock(&orphans_lock);
    if (nvictims < MAX_VICTIMS)
        victims[nvictims++] = c;
    pthread_mutex_unlock(&orphans_lock);
}

static void orphan_remove_locked(struct sub_ctx *c)
{
    c->prev->next = c->next;
    c->next->prev = c->prev;
}

/* Takes a victim out of the pool (it stays an orphan), or NULL. */
static struct sub_ctx *victim_take(void)
{
    pthread_mutex_lock(&orphans_lock);
    struct sub_ctx *v = nvictims ? victims[--nvictims] : NULL;
    pthread_mutex_unlock(&orphans_lock);
    return v;
}

static void poison_and_free(struct sub_ctx *c)
{
    c->canary = STRESS_CANARY_DEAD;
    free(c);
}

/* Completion of an async unsubscribe: no call can run any more. */
static void async_done(void *arg)
{
    struct sub_ctx *c = arg;
    pthread_mutex_lock(&orphans_lock);
    orphan_remove_locked(c);
    pthread_mutex_unlock(&orphans_lock);
    count(&removed[c->kind]);
    poison_and_free(c);
    atomic_fetch_sub_explicit(&pending_async, 1, memory_order_relaxed);
}

static bool claim(struct sub_ctx *c)
{
    return !atomic_exchange_explicit(&c->claimed, true, memory_order_acq_rel);
}

static void unsubscribe_async(struct sub_ctx *c, bus_sub_t *sub)
{
    atomic_fetch_add_explicit(&pending_async, 1, memory_order_relaxed);
    int rc = bus_unsubscribe_async(sub, async_done, c);
    if (rc != 0) {
        atomic_fetch_sub_explicit(&pending_async, 1, memory_order_relaxed);
        stress_fail("bus_unsubscribe_async: %s", bus_strerror(rc));
    }
}

/* Called from a handler: remove @c's own subscription, if its handle is
 * published yet and nobody else claimed it. */
static void remove_self(struct sub_ctx *c)
{
    bus_sub_t *sub = atomic_load_explicit(&c->sub, memory_order_acquire);
    if (!sub || !claim(c))
        return;
    if (c->kind == SELF_SYNC) {
        /* Must not wait for itself; ctx stays alive until bus_destroy. */
        STRESS_CHECK(bus_unsubscribe(sub) == 0, "bus_unsubscribe from a handler failed");
        count(&removed[SELF_SYNC]);
    } else {
        unsubscribe_async(c, sub);
    }
}

static void kill_a_victim(void)
{
    struct sub_ctx *v = victim_take();
    if (!v)
        return;
    bus_sub_t *sub = atomic_load_explicit(&v->sub, memory_order_acquire);
    if (claim(v))
        unsubscribe_async(v, sub);
}

static int on_event(const bus_event_t *ev, void *arg)
{
    struct sub_ctx *c = arg;
    if (c->canary != STRESS_CANARY_ALIVE) {
        stress_fail("handler called on a dead ctx (canary %llx)",
                    (unsigned long long)c->canary);
        return 0;
    }
    STRESS_CHECK(ev->topic == c->topic, "handler called for another topic");
    count(&handler_calls);
    /* relaxed: a per-ctx call number; only its uniqueness matters. */
    unsigned n = atomic_fetch_add_explicit(&c->calls, 1, memory_order_relaxed) + 1;
    if (n != c->trigger)
        return 0;
    if (c->kind == KILLER)
        kill_a_victim();
    if (c->kind == KILLER || c->kind == SELF_ASYNC || c->kind == SELF_SYNC)
        remove_self(c);
    return 0;
}

static struct sub_ctx *subscribe(enum kind kind, uint64_t *rng)
{
    struct sub_ctx *c = calloc(1, sizeof(*c));
    c->canary = STRESS_CANARY_ALIVE;
    c->kind = kind;
    c->topic = topics[stress_below(rng, TOPICS)];
    c->trigger = 1 + stress_below(rng, 8);
    if (kind != PLAIN)
        orphan_add(c); /* before subscribing: its handler may free it */
    bus_sub_t *sub;
    stress_must(bus_subscribe(c->topic, on_event, c, &sub), "bus_subscribe");
    atomic_store_explicit(&c->sub, sub, memory_order_release);
    count(&subscribed[kind]);
    if (kind == VICTIM)
        victim_offer(c); /* only now: a killer needs the handle */
    return c;
}

/* From a churner (not a worker): once bus_unsubscribe returns, no call is
 * running or will start, so ctx can go at once. */
static void unsubscribe_sync(struct sub_ctx *c)
{
    STRESS_CHECK(bus_unsubscribe(atomic_load_explicit(&c->sub, memory_order_relaxed)) == 0,
                 "bus_unsubscribe failed");
    count(&removed[c->kind]);
    poison_and_free(c);
}

static void churn_victim(uint64_t *rng)
{
    struct sub_ctx *v = victim_take();
    if (!v) {
        subscribe(VICTIM, rng);
        return;
    }
    if (!claim(v))
        return; /* cannot happen: only the pool hands victims out */
    pthread_mutex_lock(&orphans_lock);
    orphan_remove_locked(v);
    pthread_mutex_unlock(&orphans_lock);
    unsubscribe_sync(v);
}

static void churn_once(struct sub_ctx **slots, uint64_t *rng)
{
    unsigned roll = stress_below(rng, 100);
    if (roll < 40) {
        struct sub_ctx **slot = &slots[stress_below(rng, SLOTS)];
        if (*slot) {
            unsubscribe_sync(*slot);
            *slot = NULL;
        } else {
            *slot = subscribe(PLAIN, rng);
        }
    } else if (roll < 65) {
        churn_victim(rng);
    } else if (roll < 80) {
        subscribe(KILLER, rng);
    } else if (roll < 92) {
        subscribe(SELF_ASYNC, rng);
    } else {
        subscribe(SELF_SYNC, rng);
    }
}

static void *churn(void *arg)
{
    uint64_t rng = *(uint64_t *)arg;
    struct sub_ctx *slots[SLOTS] = {0};
    while (stress_now_ns() < deadline)
        churn_once(slots, &rng);
    for (unsigned i = 0; i < SLOTS; i++)
        if (slots[i])
            unsubscribe_sync(slots[i]);
    return NULL;
}

static void *produce(void *arg)
{
    uint64_t rng = *(uint64_t *)arg;
    uint64_t payload[2] = {0};
    unsigned long n = 0;
    while (stress_now_ns() < deadline) {
        for (int i = 0; i < 64; i++, n++) {
            payload[0] = n;
            int rc = bus_publish(topics[stress_below(&rng, TOPICS)], payload, sizeof(payload));
            STRESS_CHECK(rc == 0, "publish: %s", bus_strerror(rc));
        }
    }
    atomic_fetch_add_explicit(&published, n, memory_order_relaxed);
    return NULL;
}

/* After bus_destroy: no handler runs; free what is still subscribed. */
static void free_orphans(void)
{
    pthread_mutex_lock(&orphans_lock);
    while (orphans.next != &orphans) {
        struct sub_ctx *c = orphans.next;
        STRESS_CHECK(c->canary == STRESS_CANARY_ALIVE, "an orphan's canary was overwritten");
        orphan_remove_locked(c);
        poison_and_free(c);
    }
    pthread_mutex_unlock(&orphans_lock);
}

/* Quiet now: every publish that returned 0 was either accepted into a ring
 * or dropped (BUS_FULL_DROP), and nothing is left in a ring. */
static void check_stats(void)
{
    uint64_t in_rings = 0, dropped = 0;
    for (unsigned i = 0; i < TOPICS; i++) {
        bus_topic_stats_t st;
        stress_must(bus_topic_stats(topics[i], &st), "bus_topic_stats");
        STRESS_CHECK(st.depth == 0, "topic %u: depth %u after flush", i, st.depth);
        in_rings += st.published;
        dropped += st.dropped;
    }
    unsigned long calls = atomic_load_explicit(&published, memory_order_relaxed);
    printf("  publish calls %lu: %llu accepted into rings, %llu dropped (full rings)\n", calls,
           (unsigned long long)in_rings, (unsigned long long)dropped);
    STRESS_CHECK(in_rings + dropped == calls, "published %llu + dropped %llu != %lu calls",
                 (unsigned long long)in_rings, (unsigned long long)dropped, calls);
}

static void report_and_check(void)
{
    unsigned long calls = atomic_load_explicit(&handler_calls, memory_order_relaxed);
    printf("  handler calls %lu\n", calls);
    STRESS_CHECK(calls >= MIN_EVENTS, "only %lu handler calls", calls);
    for (int k = 0; k < KINDS; k++) {
        unsigned long s = atomic_load_explicit(&subscribed[k], memory_order_relaxed);
        unsigned long r = atomic_load_explicit(&removed[k], memory_order_relaxed);
        printf("  %-10s subscribed %8lu  unsubscribed before destroy %8lu\n", kind_names[k],
               s, r);
        /* Every path this test claims to torture ran at least once. */
        STRESS_CHECK(s > 0 && r > 0, "%s: no subscribe/unsubscribe cycle completed",
                     kind_names[k]);
    }
    long pending = atomic_load_explicit(&pending_async, memory_order_relaxed);
    STRESS_CHECK(pending == 0, "%ld async completions had not run when bus_destroy returned",
                 pending);
}

int main(int argc, char **argv)
{
    struct stress_opts o = {.seconds = 3, .threads = 4, .workers = 2};
    stress_parse(argc, argv, "stress_subs", &o);
    bus = stress_bus(o.workers);
    for (unsigned i = 0; i < TOPICS; i++) {
        char name[32];
        snprintf(name, sizeof(name), "torture.%u", i);
        topics[i] = stress_topic(bus, name, 256, 16, BUS_FULL_DROP,
                                 i % 2 ? BUS_TOPIC_PARALLEL : 0);
    }

    unsigned n = o.threads + PRODUCERS;
    pthread_t *threads = calloc(n, sizeof(*threads));
    uint64_t *seeds = calloc(n, sizeof(*seeds));
    deadline = stress_deadline_ns(o.seconds);
    for (unsigned i = 0; i < n; i++) {
        seeds[i] = stress_seed_for(o.seed, i);
        stress_spawn(&threads[i], i < o.threads ? churn : produce, &seeds[i]);
    }
    for (unsigned i = 0; i < n; i++)
        pthread_join(threads[i], NULL);

    stress_must(bus_flush(bus), "bus_flush");
    check_stats();
    stress_must(bus_destroy(bus), "bus_destroy");
    report_and_check();
    free_orphans();
    free(threads);
    free(seeds);
    return stress_finish("stress_subs");
}
