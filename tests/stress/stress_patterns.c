/* stress_patterns.c - the delivery patterns under load.
 *
 * Six phases, each on a bus of its own for --seconds / 6, each with
 * --threads producers publishing at full speed:
 *  1. queue groups: one ordered and one parallel topic, each with a group
 *     (one permanent member, members joining and leaving from a churn
 *     thread, some with a filter that passes events on) and 2 plain
 *     subscribers; producers mix single and batch publishes. Every event is
 *     handled by exactly one group member and by each plain subscriber, once;
 *     on the ordered topic the group sees each producer's events in order.
 *  2. acknowledged and zero-copy publish (ordered BLOCK topic, parallel DROP
 *     topic with a small ring), 3 subscribers failing on known events: one
 *     completion per event, handled + failed = 3 with the exact split, after
 *     every handler read the event; a dropped event's completion (-EAGAIN)
 *     runs inside bus_publish_ex; a zero-copy buffer is released once, after
 *     its handlers, then poisoned and freed (a late read trips its checksum
 *     or ASan).
 *  3. request-reply: a queue group of 2 responders on a parallel topic that
 *     reply at once, after a delay around the timeout, only after the timer
 *     answered, or never; one requester uses bus_request_wait. Every request
 *     is answered exactly once, consistently with what bus_reply returned; a
 *     reply after the timeout gets -EALREADY; requests still in flight at
 *     bus_destroy are answered before it returns, none after.
 *  4. wildcards: churners subscribe patterns (matching some kinds of topic,
 *     all, or none) while an opener creates topics and producers publish on
 *     them. Each subscription probes the topics opened before and during its
 *     life: every matching one delivers its probe, no other topic ever calls
 *     it, and no call comes after bus_unsubscribe returned (ctx canary,
 *     poisoned before free).
 *  5. keyed order: 1,000 keys, every producer visits every key: per key and
 *     producer, events arrive in publish order, without loss; a key is never
 *     handled by two workers at once; different keys are.
 *  6. dead letters: handlers of a high- and a low-priority topic fail at
 *     random; every failure produces exactly one dead letter naming its
 *     topic, seq, error and payload, and nothing else does (the dead-letter
 *     ring is given room: it must not drop).
 * Each phase also asserts it exercised what it claims. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stress_common.h"

enum {
    PHASES = 6,
    BURST = 64, /* producer steps between clock reads */
};

/* The producer field of a wildcard probe's stamp. */
#define PROBE_PRODUCER UINT32_MAX

/* Events per (topic, producer) the per-event tables hold; lazily mapped. */
#define EVENT_CAP (UINT64_C(1) << 22)

static struct stress_opts opts;
static unsigned nproducers;
static double slice; /* seconds per phase */

/* ---- actors: the threads of a phase ---- */

struct actor {
    unsigned id;                   /* index within its role */
    uint64_t rng;
    uint64_t deadline;
    unsigned burst;                /* steps between clock reads */
    unsigned min_steps;            /* steps taken even past the deadline */
    bool (*step)(struct actor *a); /* one unit of work; false: nothing left */
    uint64_t n[4];                 /* the role's counts; read by main after join */
};

struct role {
    unsigned count;
    bool (*step)(struct actor *a);
    unsigned burst, min_steps;
};

static void *actor_main(void *arg)
{
    struct actor *a = arg;
    for (unsigned steps = 0; steps < a->min_steps || stress_now_ns() < a->deadline;)
        for (unsigned i = 0; i < a->burst; i++, steps++)
            if (!a->step(a))
                return NULL;
    return NULL;
}

/* The steps each of the phase's producers takes at least, past the
 * deadline if it must, so that the phase publishes @events at the least
 * (each step @per_step of them): on a loaded machine (CI under TSan) a
 * slice of time alone exercised too little. */
static unsigned min_steps_for(unsigned events, unsigned per_step)
{
    unsigned per_producer = (events + nproducers - 1) / nproducers;
    return (per_producer + per_step - 1) / per_step;
}

/* The actors of a phase, role after role, with distinct seeds; free() them. */
static struct actor *cast(const struct role *roles, unsigned nroles, unsigned *total)
{
    static unsigned phase_no;
    unsigned n = 0;
    for (unsigned r = 0; r < nroles; r++)
        n += roles[r].count;
    struct actor *a = calloc(n, sizeof(*a));
    uint64_t deadline = stress_deadline_ns(slice);
    for (unsigned r = 0, i = 0; r < nroles; r++)
        for (unsigned j = 0; j < roles[r].count; j++, i++)
            a[i] = (struct actor){.id = j,
                                  .rng = stress_seed_for(opts.seed, phase_no * 65536u + i),
                                  .deadline = deadline,
                                  .burst = roles[r].burst,
                                  .min_steps = roles[r].min_steps,
                                  .step = roles[r].step};
    phase_no++;
    *total = n;
    return a;
}

/* Runs the actors until their deadline and joins them. */
static void run_actors(struct actor *a, unsigned n)
{
    pthread_t *threads = calloc(n, sizeof(*threads));
    for (unsigned i = 0; i < n; i++)
        stress_spawn(&threads[i], actor_main, &a[i]);
    for (unsigned i = 0; i < n; i++)
        pthread_join(threads[i], NULL);
    free(threads);
}

/* ---- small shared helpers ---- */

/* relaxed counters: statistics, read by main after the threads that write
 * them were joined, or after a flush or bus_destroy (both order handlers
 * before their return). */
static void count(atomic_ulong *c)
{
    atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

static unsigned long counted(const atomic_ulong *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

/* The checked stamp of @ev: intact, for a topic below @topics, from a known
 * producer (or a probe), with a seq the tables hold. */
static bool stamp_of(const bus_event_t *ev, const char *where, uint32_t topics,
                     struct stress_stamp *st)
{
    if (!stress_stamp_check(ev, st)) {
        stress_fail("%s: torn, corrupt or released payload (size %zu, seq %llu)", where,
                    ev->size, (unsigned long long)ev->seq);
        return false;
    }
    if (st->topic >= topics || st->seq >= EVENT_CAP ||
        (st->producer >= nproducers && st->producer != PROBE_PRODUCER)) {
        stress_fail("%s: event stamped for topic %u producer %u seq %llu", where, st->topic,
                    st->producer, (unsigned long long)st->seq);
        return false;
    }
    return true;
}

/* One table of per-event words per producer, indexed by the stamp's seq. */
static _Atomic uint32_t **map_tables(void)
{
    _Atomic uint32_t **t = calloc(nproducers, sizeof(*t));
    for (unsigned p = 0; p < nproducers; p++)
        t[p] = stress_map_lazy(EVENT_CAP * sizeof(**t));
    return t;
}

static void unmap_tables(_Atomic uint32_t **t)
{
    for (unsigned p = 0; p < nproducers; p++)
        stress_unmap((void *)t[p], EVENT_CAP * sizeof(**t));
    free(t);
}

/* relaxed: read after the handlers that wrote it finished (flush/destroy). */
static uint32_t word(_Atomic uint32_t *w)
{
    return atomic_load_explicit(w, memory_order_relaxed);
}

static void check_stats(bus_topic_t *t, uint64_t published, uint64_t delivered,
                        uint64_t errors, uint64_t dropped)
{
    bus_topic_stats_t st;
    stress_must(bus_topic_stats(t, &st), "bus_topic_stats");
    STRESS_CHECK(st.published == published && st.delivered == delivered &&
                     st.handler_errors == errors && st.dropped == dropped && st.depth == 0,
                 "%s: stats published %llu delivered %llu errors %llu dropped %llu depth %u; "
                 "expected %llu %llu %llu %llu 0",
                 bus_topic_name(t), (unsigned long long)st.published,
                 (unsigned long long)st.delivered, (unsigned long long)st.handler_errors,
                 (unsigned long long)st.dropped, st.depth, (unsigned long long)published,
                 (unsigned long long)delivered, (unsigned long long)errors,
                 (unsigned long long)dropped);
}

static uint64_t sum_n(const struct actor *a, unsigned n, unsigned i)
{
    uint64_t total = 0;
    for (unsigned j = 0; j < n; j++)
        total += a[j].n[i];
    return total;
}

/* ==== 1. queue groups ==== */

enum {
    GROUP_TOPICS = 2,
    GROUP_PLAIN = 2,
    GROUP_SLOTS = 4, /* churned members per topic at most */
    GROUP_BATCH = 8,
    GROUP_MIN_EVENTS = 2000,
};
#define GROUP_NAME "workers"
/* Roles: byte 0 counts group deliveries, byte 1 + k plain subscriber k. */
#define GROUP_ALL_ROLES UINT32_C(0x010101)
_Static_assert(GROUP_PLAIN == 2, "GROUP_ALL_ROLES has a byte per role");

struct group_topic;

struct member {
    uint64_t canary; /* plain: a read racing with the poisoning is the bug */
    struct group_topic *topic;
    unsigned role; /* 0: group member, 1 + k: plain subscriber k */
    bool churned;
};

struct group_topic {
    const char *name;
    unsigned flags;
    bus_topic_t *topic;
    _Atomic uint32_t **hits; /* [producer][seq]: a byte per role */
    /* Ordered topic: next seq per producer for the group as a whole. One
     * worker at a time runs the topic's handlers and the bus orders its
     * batches (ring release/acquire), so a plain array is enough. */
    uint64_t *next_seq;
    struct member permanent, plain[GROUP_PLAIN];
    struct member *slot[GROUP_SLOTS]; /* owned by the churn thread */
    bus_sub_t *slot_sub[GROUP_SLOTS];
};

static struct {
    struct group_topic t[GROUP_TOPICS];
    atomic_ulong joins, leaves, churned_calls, filtered;
} grp = {.t = {{.name = "groups.ordered"},
               {.name = "groups.parallel", .flags = BUS_TOPIC_PARALLEL}}};

static void group_check_order(struct group_topic *t, const struct stress_stamp *st)
{
    uint64_t *next = &t->next_seq[st->producer];
    STRESS_CHECK(st->seq == *next, "%s: group got producer %u seq %llu, expected %llu",
                 t->name, st->producer, (unsigned long long)st->seq,
                 (unsigned long long)*next);
    *next = st->seq + 1;
}

static int on_group_event(const bus_event_t *ev, void *arg)
{
    struct member *m = arg;
    struct group_topic *t = m->topic;
    struct stress_stamp st;
    if (m->canary != STRESS_CANARY_ALIVE) {
        stress_fail("%s: member called after it left (canary %llx)", t->name,
                    (unsigned long long)m->canary);
        return 0;
    }
    if (!stamp_of(ev, t->name, GROUP_TOPICS, &st) || &grp.t[st.topic] != t)
        return 0;
    uint32_t bit = UINT32_C(1) << (8 * m->role);
    /* relaxed: the RMW alone decides whether this role saw the event before;
     * the totals are read after bus_flush. */
    uint32_t old = atomic_fetch_add_explicit(&t->hits[st.producer][st.seq], bit,
                                             memory_order_relaxed);
    STRESS_CHECK(!(old & (0xFFu << (8 * m->role))),
                 "%s: producer %u seq %llu delivered twice to role %u", t->name, st.producer,
                 (unsigned long long)st.seq, m->role);
    if (m->role == 0 && !(t->flags & BUS_TOPIC_PARALLEL))
        group_check_order(t, &st);
    if (m->churned)
        count(&grp.churned_calls);
    return 0;
}

/* A churned member's filter: passes every third event on to the next one. */
static bool group_filter(const bus_event_t *ev, void *ctx)
{
    (void)ctx;
    struct stress_stamp st;
    if (ev->size < sizeof(st))
        return true;
    memcpy(&st, ev->data, sizeof(st));
    if (st.seq % 3)
        return true;
    count(&grp.filtered);
    return false;
}

static bus_sub_t *group_subscribe(struct group_topic *t, struct member *m, unsigned role,
                                  bool filtered)
{
    *m = (struct member){STRESS_CANARY_ALIVE, t, role, role == 0 && m != &t->permanent};
    bus_sub_options_t o;
    bus_sub_options_init(&o);
    if (role == 0)
        o.group = GROUP_NAME;
    if (filtered)
        o.filter = group_filter;
    bus_sub_t *sub;
    stress_must(bus_subscribe_ex(t->topic, on_group_event, m, &o, &sub), "bus_subscribe_ex");
    return sub;
}

static void group_setup(bus_t *bus)
{
    for (unsigned i = 0; i < GROUP_TOPICS; i++) {
        struct group_topic *t = &grp.t[i];
        t->topic = stress_topic(bus, t->name, 256, sizeof(struct stress_stamp),
                                BUS_FULL_BLOCK, t->flags);
        t->hits = map_tables();
        t->next_seq = calloc(nproducers, sizeof(*t->next_seq));
        group_subscribe(t, &t->permanent, 0, false);
        for (unsigned k = 0; k < GROUP_PLAIN; k++)
            group_subscribe(t, &t->plain[k], 1 + k, false);
    }
}

static bool group_produce(struct actor *a)
{
    unsigned ti = stress_below(&a->rng, GROUP_TOPICS);
    struct group_topic *t = &grp.t[ti];
    if (a->n[ti] + GROUP_BATCH > EVENT_CAP)
        return true; /* this topic's table is full */
    size_t want = stress_below(&a->rng, 2) ? 1 : GROUP_BATCH, accepted = 0;
    struct stress_stamp stamps[GROUP_BATCH];
    bus_msg_t msgs[GROUP_BATCH];
    for (size_t i = 0; i < want; i++) {
        stress_stamp_fill(&stamps[i], sizeof(stamps[i]), a->id, ti, a->n[ti] + i);
        msgs[i] = (bus_msg_t){&stamps[i], sizeof(stamps[i])};
    }
    int rc = want == 1 ? bus_publish(t->topic, &stamps[0], sizeof(stamps[0]))
                       : bus_publish_batch(t->topic, msgs, want, &accepted);
    if (want == 1 && rc == 0)
        accepted = 1;
    STRESS_CHECK(rc == 0 && accepted == want, "%s: publish of %zu: %s, %zu accepted",
                 t->name, want, bus_strerror(rc), accepted);
    a->n[ti] += accepted;
    return true;
}

/* The churn thread: a member joins a free slot or the slot's member leaves;
 * its ctx is poisoned and freed as soon as bus_unsubscribe returns. */
static bool group_churn(struct actor *a)
{
    struct group_topic *t = &grp.t[stress_below(&a->rng, GROUP_TOPICS)];
    unsigned s = stress_below(&a->rng, GROUP_SLOTS);
    if (t->slot[s]) {
        stress_must(bus_unsubscribe(t->slot_sub[s]), "bus_unsubscribe");
        t->slot[s]->canary = STRESS_CANARY_DEAD;
        free(t->slot[s]);
        t->slot[s] = NULL;
        count(&grp.leaves);
    } else {
        t->slot[s] = malloc(sizeof(*t->slot[s]));
        t->slot_sub[s] = group_subscribe(t, t->slot[s], 0, stress_below(&a->rng, 2));
        count(&grp.joins);
    }
    return true;
}

static void group_verify_topic(struct group_topic *t, unsigned ti, const struct actor *prods)
{
    uint64_t total = 0, wrong = 0;
    for (unsigned p = 0; p < nproducers; p++) {
        total += prods[p].n[ti];
        for (uint64_t seq = 0; seq < prods[p].n[ti]; seq++) {
            uint32_t w = word(&t->hits[p][seq]);
            if (w != GROUP_ALL_ROLES && wrong++ < 5)
                stress_fail("%s: producer %u seq %llu: roles %06x, expected %06x", t->name, p,
                            (unsigned long long)seq, w, GROUP_ALL_ROLES);
        }
    }
    STRESS_CHECK(wrong == 0, "%s: %llu events not handled exactly once by the group and "
                 "each plain subscriber", t->name, (unsigned long long)wrong);
    check_stats(t->topic, total, total * (1 + GROUP_PLAIN), 0, 0);
    STRESS_CHECK(total >= GROUP_MIN_EVENTS, "%s: only %llu events", t->name,
                 (unsigned long long)total);
    printf("  %-16s %9llu events, each to 1 of the group and %d plain subscribers\n",
           t->name, (unsigned long long)total, GROUP_PLAIN);
}

static void group_verify(const struct actor *prods)
{
    for (unsigned i = 0; i < GROUP_TOPICS; i++)
        group_verify_topic(&grp.t[i], i, prods);
    unsigned long joins = counted(&grp.joins), leaves = counted(&grp.leaves);
    unsigned long calls = counted(&grp.churned_calls), filtered = counted(&grp.filtered);
    printf("  churn: %lu joins, %lu leaves; churned members handled %lu, filters passed %lu "
           "on\n", joins, leaves, calls, filtered);
    STRESS_CHECK(joins > 0 && leaves > 0, "groups: no member joined and left");
    STRESS_CHECK(calls > 0, "groups: churned members never handled an event");
    STRESS_CHECK(filtered > 0, "groups: no filter passed an event on");
}

static void group_teardown(void)
{
    for (unsigned i = 0; i < GROUP_TOPICS; i++) {
        struct group_topic *t = &grp.t[i];
        for (unsigned s = 0; s < GROUP_SLOTS; s++)
            free(t->slot[s]); /* bus_destroy freed their subscriptions */
        unmap_tables(t->hits);
        free(t->next_seq);
    }
}

static void phase_groups(void)
{
    printf("phase 1: queue groups\n");
    bus_t *bus = stress_bus(opts.workers);
    group_setup(bus);
    /* Each step publishes 1 or GROUP_BATCH events onto a topic at random:
     * twice the minimum of both topics (one event each) leaves a margin. */
    const struct role roles[] = {{nproducers, group_produce, BURST,
                                  min_steps_for(2 * GROUP_TOPICS * GROUP_MIN_EVENTS, 1)},
                                 {1, group_churn, 1, 0}};
    unsigned n;
    struct actor *a = cast(roles, 2, &n);
    run_actors(a, n);
    stress_must(bus_flush(bus), "bus_flush");
    group_verify(a);
    stress_must(bus_destroy(bus), "bus_destroy");
    group_teardown();
    free(a);
}

/* ==== 2. acknowledged and zero-copy publish ==== */

enum {
    ACK_TOPICS = 2,
    ACK_SUBS = 3,
    ACK_FAIL_ONE_IN = 4,
    ACK_PAYLOAD = 256,   /* max_payload of the topics */
    ACK_MAX_ZC = 4096,   /* largest zero-copy payload: above max_payload */
    ACK_MIN_EVENTS = 2000,
    ACK_POISON = 0xDD,
    ACK_SLOW_EVERY = 256, /* on the DROP topic, subscriber 0 sleeps on these seqs */
    ACK_SLOW_US = 200,    /* ...this long, so that the small ring fills */
};
/* Per-event word: byte 0 handler reads, byte 1 completions, byte 2 releases. */
#define ACK_READ UINT32_C(1)
#define ACK_DONE (UINT32_C(1) << 8)
#define ACK_FREED (UINT32_C(1) << 16)

struct ack_topic {
    const char *name;
    uint32_t capacity;
    int policy;
    unsigned flags;
    bus_topic_t *topic;
    _Atomic uint32_t **marks; /* [producer][seq] */
};

static struct {
    struct ack_topic t[ACK_TOPICS];
    unsigned sub_index[ACK_SUBS];
    atomic_ulong completions, dropped, handled, failed, released;
} ack = {.t = {{"ack.ordered", 256, BUS_FULL_BLOCK, 0, NULL, NULL},
               {"ack.parallel.drop", 16, BUS_FULL_DROP, BUS_TOPIC_PARALLEL, NULL, NULL}}};

/* The event a completion is for, in its callback argument. */
struct ack_key {
    unsigned topic;
    bool zero_copy;
    uint32_t producer;
    uint64_t seq;
};

static void *ack_pack(struct ack_key k)
{
    return (void *)(uintptr_t)(k.seq << 24 | (uint64_t)k.producer << 2 |
                               (uint64_t)k.zero_copy << 1 | k.topic);
}

static struct ack_key ack_unpack(const void *arg)
{
    uint64_t v = (uintptr_t)arg;
    return (struct ack_key){v & 1, v >> 1 & 1, (uint32_t)(v >> 2 & 0x3FFFFF), v >> 24};
}

/* The event being published on this thread, for a dropped event's
 * completion (called before bus_publish_ex returns). */
static _Thread_local const void *ack_publishing;

static bool ack_fails(uint32_t producer, uint64_t seq, unsigned sub)
{
    return stress_seed_for(seq, (uint64_t)producer << 8 | sub) % ACK_FAIL_ONE_IN == 0;
}

static uint32_t ack_expected_handled(uint32_t producer, uint64_t seq)
{
    uint32_t n = 0;
    for (unsigned k = 0; k < ACK_SUBS; k++)
        n += !ack_fails(producer, seq, k);
    return n;
}

static int on_ack_event(const bus_event_t *ev, void *arg)
{
    unsigned k = *(const unsigned *)arg;
    struct stress_stamp st;
    if (!stamp_of(ev, "ack", ACK_TOPICS, &st))
        return 0;
    /* relaxed: the completion runs later on this same worker (sequenced
     * after), so it sees this read counted. */
    uint32_t old = atomic_fetch_add_explicit(&ack.t[st.topic].marks[st.producer][st.seq],
                                             ACK_READ, memory_order_relaxed);
    STRESS_CHECK(old < ACK_DONE, "%s: producer %u seq %llu read after its completion",
                 ack.t[st.topic].name, st.producer, (unsigned long long)st.seq);
    if (ack.t[st.topic].policy == BUS_FULL_DROP && k == 0 && ev->seq % ACK_SLOW_EVERY == 0)
        stress_sleep_us(ACK_SLOW_US);
    return ack_fails(st.producer, st.seq, k) ? -EIO : 0;
}

static void ack_check_dispatched(const bus_completion_t *c, struct ack_key k, uint32_t reads)
{
    uint32_t handled = ack_expected_handled(k.producer, k.seq);
    STRESS_CHECK(c->topic == ack.t[k.topic].topic && c->seq > 0 && reads == ACK_SUBS &&
                     c->handled == handled && c->failed == ACK_SUBS - handled,
                 "%s: producer %u seq %llu: completion seq %llu handled %u failed %u after "
                 "%u reads; expected %u handled, %u failed", ack.t[k.topic].name,
                 k.producer, (unsigned long long)k.seq, (unsigned long long)c->seq,
                 c->handled, c->failed, reads, handled, ACK_SUBS - handled);
    atomic_fetch_add_explicit(&ack.handled, c->handled, memory_order_relaxed);
    atomic_fetch_add_explicit(&ack.failed, c->failed, memory_order_relaxed);
}

static void ack_check_dropped(const bus_completion_t *c, const void *arg, uint32_t reads)
{
    STRESS_CHECK(c->status == -EAGAIN && c->seq == 0 && c->handled == 0 && c->failed == 0 &&
                     reads == 0 && ack_publishing == arg,
                 "dropped event: status %d seq %llu handled %u failed %u reads %u, %s the "
                 "publish call", c->status, (unsigned long long)c->seq, c->handled, c->failed,
                 reads, ack_publishing == arg ? "inside" : "outside");
    count(&ack.dropped);
}

/* The release of a zero-copy buffer: poison it, then free it. */
static void ack_release(const bus_completion_t *c, struct ack_key k, _Atomic uint32_t *mark)
{
    struct stress_stamp st = {0};
    bus_event_t ev = {.data = c->data, .size = 0};
    if (c->data)
        memcpy(&st, c->data, sizeof(st));
    if (st.size >= sizeof(st) && st.size <= ACK_MAX_ZC)
        ev.size = st.size;
    bool ok = ev.size && stress_stamp_check(&ev, &st) && st.producer == k.producer &&
              st.seq == k.seq;
    if (!ok) {
        stress_fail("zero-copy completion for producer %u seq %llu: wrong or damaged buffer",
                    k.producer, (unsigned long long)k.seq);
        return; /* leak it rather than free what may not be ours */
    }
    /* relaxed: single-use count, read after bus_flush. */
    atomic_fetch_add_explicit(mark, ACK_FREED, memory_order_relaxed);
    memset((void *)c->data, ACK_POISON, ev.size);
    free((void *)c->data);
    count(&ack.released);
}

static void on_ack_complete(const bus_completion_t *c, void *arg)
{
    struct ack_key k = ack_unpack(arg);
    _Atomic uint32_t *mark = &ack.t[k.topic].marks[k.producer][k.seq];
    /* relaxed: the RMW alone decides whether a completion came before; the
     * reads it reports were counted on this thread (dispatch) or never. */
    uint32_t old = atomic_fetch_add_explicit(mark, ACK_DONE, memory_order_relaxed);
    STRESS_CHECK((old & 0xFF00) == 0, "%s: producer %u seq %llu completed twice",
                 ack.t[k.topic].name, k.producer, (unsigned long long)k.seq);
    if (c->status == 0)
        ack_check_dispatched(c, k, old & 0xFF);
    else
        ack_check_dropped(c, arg, old & 0xFF);
    if (k.zero_copy)
        ack_release(c, k, mark);
    count(&ack.completions);
}

static bool ack_produce(struct actor *a)
{
    unsigned ti = stress_below(&a->rng, ACK_TOPICS);
    uint64_t seq = a->n[ti];
    if (seq >= EVENT_CAP)
        return true;
    bool zc = stress_below(&a->rng, 2);
    size_t min = sizeof(struct stress_stamp);
    size_t size = min + stress_below(&a->rng, (zc ? ACK_MAX_ZC : ACK_PAYLOAD) - min + 1);
    unsigned char local[ACK_PAYLOAD];
    unsigned char *buf = zc ? malloc(size) : local;
    stress_stamp_fill(buf, size, a->id, ti, seq);
    bus_publish_options_t o;
    bus_publish_options_init(&o);
    o.on_complete = on_ack_complete;
    o.arg = ack_pack((struct ack_key){ti, zc, a->id, seq});
    o.zero_copy = zc;
    ack_publishing = o.arg;
    int rc = bus_publish_ex(ack.t[ti].topic, buf, size, &o);
    ack_publishing = NULL;
    if (rc != 0) {
        stress_fail("%s: bus_publish_ex: %s", ack.t[ti].name, bus_strerror(rc));
        if (zc)
            free(buf); /* still ours: the callback will never run */
        return true;
    }
    a->n[ti]++;
    a->n[2] += zc;
    a->n[3] += zc && size > ACK_PAYLOAD;
    return true;
}

static void ack_setup(bus_t *bus)
{
    for (unsigned i = 0; i < ACK_TOPICS; i++) {
        struct ack_topic *t = &ack.t[i];
        t->topic = stress_topic(bus, t->name, t->capacity, ACK_PAYLOAD, t->policy, t->flags);
        t->marks = map_tables();
        for (unsigned k = 0; k < ACK_SUBS; k++) {
            ack.sub_index[k] = k;
            bus_sub_t *sub;
            stress_must(bus_subscribe(t->topic, on_ack_event, &ack.sub_index[k], &sub),
                        "bus_subscribe");
        }
    }
}

/* Every event: one completion; a zero-copy one released once. */
static uint64_t ack_verify_marks(const struct ack_topic *t, unsigned ti,
                                 const struct actor *prods)
{
    uint64_t total = 0, wrong = 0;
    for (unsigned p = 0; p < nproducers; p++) {
        total += prods[p].n[ti];
        for (uint64_t seq = 0; seq < prods[p].n[ti]; seq++) {
            uint32_t w = word(&t->marks[p][seq]);
            bool ok = (w & 0xFF00) == ACK_DONE && (w >> 16) <= 1 &&
                      ((w & 0xFF) == ACK_SUBS || (w & 0xFF) == 0);
            if (!ok && wrong++ < 5)
                stress_fail("%s: producer %u seq %llu: %u reads, %u completions, %u releases",
                            t->name, p, (unsigned long long)seq, w & 0xFF, w >> 8 & 0xFF,
                            w >> 16);
        }
    }
    STRESS_CHECK(wrong == 0, "%s: %llu events without exactly one completion", t->name,
                 (unsigned long long)wrong);
    return total;
}

static void ack_verify(const struct actor *prods)
{
    uint64_t total = 0, delivered = 0, errors = 0, dropped = 0;
    for (unsigned i = 0; i < ACK_TOPICS; i++) {
        total += ack_verify_marks(&ack.t[i], i, prods);
        bus_topic_stats_t st;
        stress_must(bus_topic_stats(ack.t[i].topic, &st), "bus_topic_stats");
        delivered += st.delivered;
        errors += st.handler_errors;
        dropped += st.dropped;
        STRESS_CHECK(st.depth == 0, "%s: depth %u after flush", ack.t[i].name, st.depth);
    }
    uint64_t zc = sum_n(prods, nproducers, 2), big = sum_n(prods, nproducers, 3);
    unsigned long done = counted(&ack.completions), drops = counted(&ack.dropped);
    unsigned long handled = counted(&ack.handled), failed = counted(&ack.failed);
    unsigned long released = counted(&ack.released);
    printf("  %llu events (%llu zero-copy, %llu above max_payload): %lu completions, "
           "%lu dropped, %lu handled, %lu failed, %lu buffers released\n",
           (unsigned long long)total, (unsigned long long)zc, (unsigned long long)big, done,
           drops, handled, failed, released);
    STRESS_CHECK(done == total && released == zc, "ack: %lu completions for %llu events, "
                 "%lu releases for %llu zero-copy", done, (unsigned long long)total,
                 released, (unsigned long long)zc);
    STRESS_CHECK(handled == delivered && failed == errors && drops == dropped &&
                     handled + failed == (total - drops) * ACK_SUBS,
                 "ack: completions say %lu handled %lu failed %lu dropped; stats %llu %llu "
                 "%llu", handled, failed, drops, (unsigned long long)delivered,
                 (unsigned long long)errors, (unsigned long long)dropped);
    STRESS_CHECK(total >= ACK_MIN_EVENTS && drops > 0 && big > 0 && failed > 0,
                 "ack: exercised too little (events %llu, drops %lu, large zero-copy %llu, "
                 "failures %lu)", (unsigned long long)total, drops, (unsigned long long)big,
                 failed);
}

static void phase_ack(void)
{
    printf("phase 2: acknowledged and zero-copy publish\n");
    bus_t *bus = stress_bus(opts.workers);
    ack_setup(bus);
    const struct role roles[] = {
        {nproducers, ack_produce, BURST, min_steps_for(ACK_MIN_EVENTS, 1)}};
    unsigned n;
    struct actor *a = cast(roles, 1, &n);
    run_actors(a, n);
    stress_must(bus_flush(bus), "bus_flush");
    ack_verify(a);
    stress_must(bus_destroy(bus), "bus_destroy");
    for (unsigned i = 0; i < ACK_TOPICS; i++)
        unmap_tables(ack.t[i].marks);
    free(a);
}

/* ==== 3. request-reply ==== */

enum {
    RPC_TIMEOUT_US = 5000,
    RPC_INFLIGHT = 2,       /* outstanding requests per async requester */
    RPC_RESPONDERS = 2,     /* queue group members */
    RPC_VOLLEY = 32,        /* requests main leaves in flight at bus_destroy */
    RPC_MIN_REQUESTS = 200,
};
#define RPC_CAP (UINT64_C(1) << 20) /* requests per requester */
#define RPC_LATE_LIMIT_S 5.0        /* a late responder's wait for the timer */

enum rpc_kind { RPC_NOW, RPC_RACE, RPC_LATE, RPC_SILENT, RPC_KINDS };
static const char *const rpc_kind_names[RPC_KINDS] = {"now", "race", "late", "silent"};

struct rpc_call { /* request payload */
    uint32_t requester, kind;
    uint64_t n;
    uint32_t reply_at_us, waited; /* RPC_RACE: reply this long after the publish */
};

struct rpc_answer { /* reply payload */
    uint64_t requester, n;
};

struct rpc_record {
    /* Plain: written before bus_request, which orders them before every
     * use (timer arm under a mutex, publish with release). */
    uint32_t requester, kind;
    uint64_t n;
    _Atomic int status;   /* relaxed: published by the release on calls */
    atomic_uint calls;    /* on_reply calls; release/acquire, see rpc_answered */
    _Atomic int reply_rc; /* what bus_reply returned: 1 for 0; 0 = not called */
};

struct rpc_requester {
    struct rpc_record *records;
    /* relaxed: flow control only; the RMWs keep the count exact. */
    atomic_uint inflight;
};

static struct {
    bus_topic_t *topic, *noise;
    struct rpc_requester *req; /* nproducers + 1: the last is main's volley */
    atomic_ulong noise_calls;
    /* relaxed: set after bus_destroy returned; a callback seeing it is late
     * (seeing it is not guaranteed, the answer count after destroy is). */
    atomic_bool destroyed;
} rpc;

static struct rpc_answer rpc_expected(const struct rpc_record *r)
{
    return (struct rpc_answer){r->requester, r->n};
}

/* Records an answer; on_reply's body, and bus_request_wait's result. */
static void rpc_record_answer(struct rpc_record *r, int status, const void *reply,
                              size_t size)
{
    STRESS_CHECK(!atomic_load_explicit(&rpc.destroyed, memory_order_relaxed),
                 "request %u/%llu answered after bus_destroy returned", r->requester,
                 (unsigned long long)r->n);
    struct rpc_answer want = rpc_expected(r);
    STRESS_CHECK(status != 0 || (size == sizeof(want) && memcmp(reply, &want, size) == 0),
                 "request %u/%llu: wrong reply (size %zu)", r->requester,
                 (unsigned long long)r->n, size);
    atomic_store_explicit(&r->status, status, memory_order_relaxed);
    /* release: a late responder that sees the call (acquire) sees the
     * answer complete, and the bus's answered flag set before it. */
    unsigned old = atomic_fetch_add_explicit(&r->calls, 1, memory_order_release);
    STRESS_CHECK(old == 0, "request %u/%llu answered twice (now %s)", r->requester,
                 (unsigned long long)r->n, bus_strerror(status));
}

static void on_rpc_reply(int status, const void *reply, size_t size, void *arg)
{
    struct rpc_record *r = arg;
    rpc_record_answer(r, status, reply, size);
    atomic_fetch_sub_explicit(&rpc.req[r->requester].inflight, 1, memory_order_relaxed);
}

/* A late responder waits until the timer answered its request. */
static bool rpc_answered(struct rpc_record *r)
{
    uint64_t limit = stress_deadline_ns(RPC_LATE_LIMIT_S);
    /* acquire: pairs with the release in rpc_record_answer. */
    while (!atomic_load_explicit(&r->calls, memory_order_acquire)) {
        if (stress_now_ns() > limit)
            return false;
        stress_sleep_us(100);
    }
    return true;
}

static void rpc_sleep_until(uint64_t when)
{
    uint64_t now = stress_now_ns();
    if (when > now)
        stress_sleep_us((unsigned)((when - now) / 1000));
}

static void rpc_check_reply_rc(const struct rpc_record *r, const struct rpc_call *q, int rc)
{
    if (rc == 0 && !q->waited)
        /* relaxed: on_reply ran on this thread, inside bus_reply. */
        STRESS_CHECK(atomic_load_explicit(&r->calls, memory_order_relaxed) == 1 &&
                         atomic_load_explicit(&r->status, memory_order_relaxed) == 0,
                     "request %u/%llu: bus_reply returned 0 but on_reply did not run with 0",
                     q->requester, (unsigned long long)q->n);
    STRESS_CHECK(rc == 0 || rc == -EALREADY, "bus_reply: %s", bus_strerror(rc));
    if (q->kind == RPC_LATE)
        STRESS_CHECK(rc == -EALREADY, "request %u/%llu: reply after the timeout got %s",
                     q->requester, (unsigned long long)q->n, bus_strerror(rc));
}

static int on_rpc_request(const bus_event_t *ev, void *arg)
{
    (void)arg;
    struct rpc_call q;
    if (ev->size != sizeof(q)) {
        stress_fail("rpc: request of %zu bytes", ev->size);
        return 0;
    }
    memcpy(&q, ev->data, sizeof(q));
    struct rpc_record *r = &rpc.req[q.requester].records[q.n];
    if (q.kind == RPC_SILENT)
        return 0;
    if (q.kind == RPC_LATE && !rpc_answered(r)) {
        stress_fail("request %u/%llu: no timeout within %.0f s", q.requester,
                    (unsigned long long)q.n, RPC_LATE_LIMIT_S);
        return 0;
    }
    if (q.kind == RPC_RACE)
        rpc_sleep_until(ev->publish_ns + q.reply_at_us * UINT64_C(1000));
    struct rpc_answer a = rpc_expected(r);
    int rc = bus_reply(ev, &a, sizeof(a));
    /* relaxed: read after bus_destroy joined the workers. */
    atomic_store_explicit(&r->reply_rc, rc == 0 ? 1 : rc, memory_order_relaxed);
    rpc_check_reply_rc(r, &q, rc);
    return 0;
}

static enum rpc_kind rpc_pick(uint64_t *rng)
{
    unsigned roll = stress_below(rng, 16);
    return roll == 0 ? RPC_LATE : roll < 3 ? RPC_RACE : roll < 5 ? RPC_SILENT : RPC_NOW;
}

/* Issues request n of requester @id (asynchronous, or waited for by
 * requester 0). */
static void rpc_issue(unsigned id, uint64_t n, enum rpc_kind kind, uint64_t *rng)
{
    struct rpc_requester *me = &rpc.req[id];
    struct rpc_record *r = &me->records[n];
    r->requester = id;
    r->kind = kind;
    r->n = n;
    struct rpc_call q = {id, kind, n, 0, id == 0};
    if (kind == RPC_RACE) /* around the deadline: either may win */
        q.reply_at_us = RPC_TIMEOUT_US / 2 + stress_below(rng, RPC_TIMEOUT_US);
    if (q.waited) {
        struct rpc_answer a;
        size_t size = 0;
        int st = bus_request_wait(rpc.topic, &q, sizeof(q), RPC_TIMEOUT_US * UINT64_C(1000),
                                  &a, sizeof(a), &size);
        rpc_record_answer(r, st, &a, size);
        return;
    }
    atomic_fetch_add_explicit(&me->inflight, 1, memory_order_relaxed);
    int rc = bus_request(rpc.topic, &q, sizeof(q), RPC_TIMEOUT_US * UINT64_C(1000),
                         on_rpc_reply, r);
    if (rc != 0) {
        atomic_fetch_sub_explicit(&me->inflight, 1, memory_order_relaxed);
        stress_fail("bus_request: %s", bus_strerror(rc));
    }
}

static bool rpc_request(struct actor *a)
{
    if (a->n[0] >= RPC_CAP)
        return false;
    /* A step is one request: it waits for room (requests end at the
     * latest with their timeout), so min_steps counts requests. */
    while (atomic_load_explicit(&rpc.req[a->id].inflight, memory_order_relaxed) >=
           RPC_INFLIGHT)
        stress_sleep_us(50);
    rpc_issue(a->id, a->n[0]++, rpc_pick(&a->rng), &a->rng);
    return true;
}

static int on_noise(const bus_event_t *ev, void *ctx)
{
    (void)ev;
    (void)ctx;
    count(&rpc.noise_calls);
    return 0;
}

/* Full-speed traffic on another topic while requests flow. */
static bool rpc_noise(struct actor *a)
{
    uint64_t n = a->n[0];
    int rc = bus_publish(rpc.noise, &n, sizeof(n));
    STRESS_CHECK(rc == 0, "rpc.noise: %s", bus_strerror(rc));
    a->n[0] += rc == 0;
    return true;
}

static void rpc_setup(bus_t *bus)
{
    rpc.topic = stress_topic(bus, "rpc.calls", 256, sizeof(struct rpc_call), BUS_FULL_BLOCK,
                             BUS_TOPIC_PARALLEL);
    rpc.noise = stress_topic(bus, "rpc.noise", 256, sizeof(uint64_t), BUS_FULL_BLOCK, 0);
    rpc.req = calloc(nproducers + 1, sizeof(*rpc.req));
    for (unsigned i = 0; i <= nproducers; i++)
        rpc.req[i].records = stress_map_lazy(RPC_CAP * sizeof(struct rpc_record));
    bus_sub_options_t o;
    bus_sub_options_init(&o);
    o.group = "responders";
    bus_sub_t *sub;
    for (unsigned i = 0; i < RPC_RESPONDERS; i++)
        stress_must(bus_subscribe_ex(rpc.topic, on_rpc_request, NULL, &o, &sub),
                    "bus_subscribe_ex");
    stress_must(bus_subscribe(rpc.noise, on_noise, NULL, &sub), "bus_subscribe");
    atomic_store_explicit(&rpc.destroyed, false, memory_order_relaxed);
}

struct rpc_tally {
    unsigned long requests, by_status[4], late_already, race_won, race_lost;
};

/* The answer agrees with the responder's bus_reply result and its kind. */
static void rpc_check_record(const struct rpc_record *r, struct rpc_tally *t)
{
    unsigned calls = atomic_load_explicit(&r->calls, memory_order_relaxed);
    int status = atomic_load_explicit(&r->status, memory_order_relaxed);
    int replied = atomic_load_explicit(&r->reply_rc, memory_order_relaxed);
    bool timed_out = status == -ETIMEDOUT;
    bool ok = calls == 1 && (status == 0 || timed_out || status == -ENOMSG) &&
              (status == 0) == (replied == 1) && (replied != -EALREADY || timed_out);
    if (r->kind == RPC_SILENT)
        ok = ok && replied == 0;
    else if (r->kind == RPC_LATE)
        ok = ok && timed_out && replied == -EALREADY;
    else
        ok = ok && status != -ENOMSG && replied != 0;
    STRESS_CHECK(ok, "request %u/%llu (%s): %u answers, status %s, bus_reply %d",
                 r->requester, (unsigned long long)r->n, rpc_kind_names[r->kind], calls,
                 bus_strerror(status), replied == 1 ? 0 : replied);
    t->requests++;
    t->by_status[status == 0 ? 0 : timed_out ? 1 : status == -ENOMSG ? 2 : 3]++;
    t->late_already += r->kind == RPC_LATE && replied == -EALREADY;
    t->race_won += r->kind == RPC_RACE && status == 0;
    t->race_lost += r->kind == RPC_RACE && timed_out;
}

/* Before bus_destroy: the stats live in the topic. */
static void rpc_verify_noise(const struct actor *noise)
{
    uint64_t n = noise->n[0];
    check_stats(rpc.noise, n, n, 0, 0);
    printf("  %llu noise events meanwhile\n", (unsigned long long)n);
    STRESS_CHECK(counted(&rpc.noise_calls) == n, "rpc.noise: %lu calls for %llu events",
                 counted(&rpc.noise_calls), (unsigned long long)n);
}

static void rpc_verify(const struct actor *a, uint64_t volley)
{
    struct rpc_tally t = {0};
    for (unsigned i = 0; i <= nproducers; i++) {
        uint64_t issued = i < nproducers ? a[i].n[0] : volley;
        for (uint64_t n = 0; n < issued; n++)
            rpc_check_record(&rpc.req[i].records[n], &t);
    }
    printf("  %lu requests: %lu replied, %lu timed out (%lu late replies got -EALREADY, "
           "races %lu won / %lu lost), %lu no reply\n",
           t.requests, t.by_status[0], t.by_status[1], t.late_already, t.race_won,
           t.race_lost, t.by_status[2]);
    STRESS_CHECK(t.requests >= RPC_MIN_REQUESTS && t.by_status[0] > 0 && t.by_status[1] > 0 &&
                     t.by_status[2] > 0 && t.late_already > 0,
                 "rpc: exercised too little (%lu requests, %lu replies, %lu timeouts, %lu "
                 "no reply, %lu late)", t.requests, t.by_status[0], t.by_status[1],
                 t.by_status[2], t.late_already);
}

static void phase_rpc(void)
{
    printf("phase 3: request-reply\n");
    bus_t *bus = stress_bus(opts.workers);
    rpc_setup(bus);
    const struct role roles[] = {{nproducers, rpc_request, 1, min_steps_for(RPC_MIN_REQUESTS, 1)},
                                 {1, rpc_noise, BURST, 0}};
    unsigned n;
    struct actor *a = cast(roles, 2, &n);
    run_actors(a, n);
    stress_must(bus_flush(bus), "bus_flush");
    rpc_verify_noise(&a[nproducers]);
    /* A volley of every kind, in flight when bus_destroy starts. */
    uint64_t rng = stress_seed_for(opts.seed, 999);
    for (unsigned i = 0; i < RPC_VOLLEY; i++)
        rpc_issue(nproducers, i, (enum rpc_kind)(i % RPC_KINDS), &rng);
    unsigned inflight = atomic_load_explicit(&rpc.req[nproducers].inflight,
                                             memory_order_relaxed);
    stress_must(bus_destroy(bus), "bus_destroy");
    atomic_store_explicit(&rpc.destroyed, true, memory_order_relaxed);
    stress_sleep_us(5 * RPC_TIMEOUT_US); /* a stray timer would fire by now */
    printf("  %u of the final %d requests in flight when bus_destroy started\n", inflight,
           RPC_VOLLEY);
    STRESS_CHECK(inflight > 0, "rpc: nothing was in flight at bus_destroy");
    rpc_verify(a, RPC_VOLLEY);
    for (unsigned i = 0; i <= nproducers; i++)
        stress_unmap(rpc.req[i].records, RPC_CAP * sizeof(struct rpc_record));
    free(rpc.req);
    free(a);
}

/* ==== 4. wildcard subscriptions ==== */

enum {
    WILD_KINDS = 3,
    WILD_MAX_TOPICS = 512,
    WILD_BATCH = 8,
    WILD_FIRST_TOPICS = 24, /* opened before the actors start */
    WILD_PROBE_BACK = 64,   /* topics opened before a subscription that it probes */
    WILD_CHURNERS = 2,
    WILD_HOLD_US = 1000,    /* a subscription lives up to this long before its probe */
    WILD_MIN_EVENTS = 2000,
};
#define WILD_PROBE_LIMIT_S 10.0

/* Topic n is of kind n % WILD_KINDS. */
static const char *const wild_names[WILD_KINDS] = {"wild.%u.a", "wild.%u.b", "tame.%u.a"};

static const struct {
    const char *text;
    unsigned kinds; /* bit k: matches topics of kind k */
} wild_patterns[] = {
    {"wild.*.a", 1u << 0},           {"wild.>", 1u << 0 | 1u << 1},
    {"*.*.a", 1u << 0 | 1u << 2},    {"tame.>", 1u << 2},
    {"wild.*", 0},                   {">", 1u << 0 | 1u << 1 | 1u << 2},
};
enum { WILD_PATTERNS = sizeof(wild_patterns) / sizeof(wild_patterns[0]) };

struct wild_sub {
    uint64_t canary; /* plain: a read racing with the poisoning is the bug */
    unsigned pattern;
    uint64_t token;       /* the seq of this subscription's probes */
    atomic_ulong probes;  /* relaxed: polled; exact once all arrived */
};

static struct {
    bus_t *bus;
    /* topics[i] is written before ntopics passes i (release); readers load
     * ntopics with acquire, and handlers get the index through an event
     * published after such a load. */
    bus_topic_t *topics[WILD_MAX_TOPICS];
    _Atomic uint32_t ntopics;
    unsigned open_every_us;
    /* relaxed: unique tokens, and counters read after the join. */
    _Atomic uint64_t next_token;
    atomic_ulong calls, probes, opened_during, cycles[WILD_PATTERNS];
} wild;

static int on_wild_event(const bus_event_t *ev, void *arg)
{
    struct wild_sub *s = arg;
    struct stress_stamp st;
    if (s->canary != STRESS_CANARY_ALIVE) {
        stress_fail("pattern called after bus_unsubscribe returned (canary %llx)",
                    (unsigned long long)s->canary);
        return 0;
    }
    if (!stamp_of(ev, "wild", WILD_MAX_TOPICS, &st))
        return 0;
    STRESS_CHECK(ev->topic == wild.topics[st.topic], "wild: event of topic %u on %s",
                 st.topic, bus_topic_name(ev->topic));
    STRESS_CHECK(wild_patterns[s->pattern].kinds >> (st.topic % WILD_KINDS) & 1,
                 "pattern %s called for topic %s", wild_patterns[s->pattern].text,
                 bus_topic_name(ev->topic));
    count(&wild.calls);
    if (st.producer == PROBE_PRODUCER && st.seq == s->token)
        count(&s->probes);
    return 0;
}

static uint32_t wild_count(void)
{
    return atomic_load_explicit(&wild.ntopics, memory_order_acquire);
}

static void wild_open_next(void)
{
    /* relaxed: this thread is the only writer. */
    uint32_t n = atomic_load_explicit(&wild.ntopics, memory_order_relaxed);
    char name[32];
    snprintf(name, sizeof(name), wild_names[n % WILD_KINDS], n);
    wild.topics[n] = stress_topic(wild.bus, name, 16, sizeof(struct stress_stamp),
                                  BUS_FULL_BLOCK, n % 2 ? BUS_TOPIC_PARALLEL : 0);
    atomic_store_explicit(&wild.ntopics, n + 1, memory_order_release);
}

/* The opener: a topic every open_every_us, so opens span the phase. */
static bool wild_opener(struct actor *a)
{
    (void)a;
    if (wild_count() == WILD_MAX_TOPICS)
        return false;
    wild_open_next();
    stress_sleep_us(wild.open_every_us);
    return true;
}

/* A batch onto one random topic: one ready-queue push per batch, see
 * repro_ready_queue_convoy.c for why that matters on a small machine. */
static bool wild_produce(struct actor *a)
{
    uint32_t i = stress_below(&a->rng, wild_count());
    struct stress_stamp st[WILD_BATCH];
    bus_msg_t msgs[WILD_BATCH];
    for (unsigned j = 0; j < WILD_BATCH; j++) {
        stress_stamp_fill(&st[j], sizeof(st[j]), a->id, i, (a->n[0] + j) % EVENT_CAP);
        msgs[j] = (bus_msg_t){&st[j], sizeof(st[j])};
    }
    size_t accepted = 0;
    int rc = bus_publish_batch(wild.topics[i], msgs, WILD_BATCH, &accepted);
    STRESS_CHECK(rc == 0 && accepted == WILD_BATCH, "wild: publish: %s, %zu accepted",
                 bus_strerror(rc), accepted);
    a->n[0] += accepted;
    return true;
}

/* Publishes @s's probe on topics [from, to); returns how many match. */
static unsigned wild_probe(const struct wild_sub *s, uint32_t from, uint32_t to)
{
    unsigned matching = 0;
    for (uint32_t i = from; i < to; i++) {
        struct stress_stamp st;
        stress_stamp_fill(&st, sizeof(st), PROBE_PRODUCER, i, s->token);
        stress_must(bus_publish(wild.topics[i], &st, sizeof(st)), "bus_publish (probe)");
        matching += wild_patterns[s->pattern].kinds >> (i % WILD_KINDS) & 1;
    }
    return matching;
}

/* Waits until @s got @expected probes (queued behind the producers'
 * events), or WILD_PROBE_LIMIT_S passed. A flush would also wait for every
 * other topic; this waits for the probed ones only. */
static unsigned long wild_await_probes(struct wild_sub *s, unsigned expected)
{
    uint64_t limit = stress_deadline_ns(WILD_PROBE_LIMIT_S);
    unsigned long got;
    while ((got = counted(&s->probes)) < expected && stress_now_ns() < limit)
        stress_sleep_us(50);
    return got;
}

/* A churner: subscribe a pattern while topics are being opened, probe the
 * topics that exist now, check every matching one delivered, unsubscribe,
 * poison, free. */
static bool wild_churn(struct actor *a)
{
    struct wild_sub *s = calloc(1, sizeof(*s));
    s->canary = STRESS_CANARY_ALIVE;
    s->pattern = (unsigned)((a->n[0]++ * WILD_CHURNERS + a->id) % WILD_PATTERNS);
    s->token = atomic_fetch_add_explicit(&wild.next_token, 1, memory_order_relaxed);
    const char *text = wild_patterns[s->pattern].text;
    uint32_t before = wild_count();
    bus_sub_t *sub;
    stress_must(bus_subscribe_pattern(wild.bus, text, on_wild_event, s, NULL, &sub),
                "bus_subscribe_pattern");
    stress_sleep_us(stress_below(&a->rng, WILD_HOLD_US));
    uint32_t now = wild_count();
    atomic_fetch_add_explicit(&wild.opened_during, now - before, memory_order_relaxed);
    uint32_t from = before > WILD_PROBE_BACK ? before - WILD_PROBE_BACK : 0;
    unsigned expected = wild_probe(s, from, now);
    unsigned long got = wild_await_probes(s, expected);
    STRESS_CHECK(got == expected, "pattern %s: %lu of %u probes arrived (topics %u..%u, "
                 "%u opened while subscribing)", text, got, expected, from, now - 1,
                 now - before);
    atomic_fetch_add_explicit(&wild.probes, got, memory_order_relaxed);
    stress_must(bus_unsubscribe(sub), "bus_unsubscribe");
    count(&wild.cycles[s->pattern]);
    s->canary = STRESS_CANARY_DEAD;
    free(s);
    return true;
}

static void wild_verify(const struct actor *a)
{
    uint64_t events = sum_n(a, nproducers, 0);
    uint32_t topics = wild_count();
    printf("  %u topics opened, %llu events, %lu pattern calls, %lu probes delivered, "
           "%lu topics opened while a pattern was being subscribed or held\n",
           topics, (unsigned long long)events, counted(&wild.calls), counted(&wild.probes),
           counted(&wild.opened_during));
    printf("  cycles per pattern:");
    for (unsigned p = 0; p < WILD_PATTERNS; p++) {
        printf(" %s %lu", wild_patterns[p].text, counted(&wild.cycles[p]));
        STRESS_CHECK(counted(&wild.cycles[p]) > 0, "pattern %s: no subscribe/unsubscribe "
                     "cycle", wild_patterns[p].text);
    }
    printf("\n");
    STRESS_CHECK(events >= WILD_MIN_EVENTS && counted(&wild.probes) > 0 &&
                     counted(&wild.opened_during) > 0 && topics > WILD_FIRST_TOPICS,
                 "wild: exercised too little (%llu events, %lu probes, %lu topics opened "
                 "during subscriptions)", (unsigned long long)events, counted(&wild.probes),
                 counted(&wild.opened_during));
}

static void phase_wild(void)
{
    printf("phase 4: wildcard subscriptions\n");
    wild.bus = stress_bus(opts.workers);
    wild.open_every_us = (unsigned)(slice * 1e6 / WILD_MAX_TOPICS);
    for (unsigned i = 0; i < WILD_FIRST_TOPICS; i++)
        wild_open_next();
    const struct role roles[] = {{nproducers, wild_produce, BURST / WILD_BATCH,
                                  min_steps_for(WILD_MIN_EVENTS, WILD_BATCH)},
                                 /* every pattern at least once */
                                 {WILD_CHURNERS, wild_churn, 1,
                                  (WILD_PATTERNS + WILD_CHURNERS - 1) / WILD_CHURNERS},
                                 {1, wild_opener, 1, 0}};
    unsigned n;
    struct actor *a = cast(roles, 3, &n);
    run_actors(a, n);
    stress_must(bus_flush(wild.bus), "bus_flush");
    wild_verify(a);
    stress_must(bus_destroy(wild.bus), "bus_destroy");
    free(a);
}

/* ==== 5. keyed order ==== */

enum {
    KEYS = 1000,
    KEY_STRIDE = 919, /* coprime with KEYS: a producer visits every key in turn */
    KEYED_SLOW_EVERY = 512,
    KEYED_SLOW_US = 100, /* a handler sleeps now and then, for other keys to overlap */
    KEYED_MIN_EVENTS = 2000,
};

struct keyed_event {
    uint32_t producer, key;
    uint64_t n; /* per (producer, key), from 0 */
};

static struct {
    bus_topic_t *topic;
    /* [key * nproducers + producer]: next n. A key's events are handled one
     * at a time by its lane, which the bus hands between workers with
     * release/acquire, so plain words are enough. */
    uint64_t *next;
    uint64_t *sent;       /* [producer * KEYS + key]: the producer's own */
    atomic_bool busy[KEYS]; /* relaxed: only the exchange's atomicity matters */
    struct stress_overlap overlap;
    atomic_ulong calls;
} keyed;

static int on_keyed_event(const bus_event_t *ev, void *ctx)
{
    (void)ctx;
    struct keyed_event e;
    if (ev->size != sizeof(e)) {
        stress_fail("keyed: event of %zu bytes", ev->size);
        return 0;
    }
    memcpy(&e, ev->data, sizeof(e));
    if (e.key >= KEYS || e.producer >= nproducers) {
        stress_fail("keyed: key %u producer %u", e.key, e.producer);
        return 0;
    }
    stress_overlap_enter(&keyed.overlap);
    bool was_busy = atomic_exchange_explicit(&keyed.busy[e.key], true, memory_order_relaxed);
    STRESS_CHECK(!was_busy, "keyed: key %u handled on two workers at once", e.key);
    uint64_t *next = &keyed.next[(size_t)e.key * nproducers + e.producer];
    STRESS_CHECK(e.n == *next, "keyed: key %u producer %u: got %llu, expected %llu", e.key,
                 e.producer, (unsigned long long)e.n, (unsigned long long)*next);
    *next = e.n + 1;
    /* relaxed: a count (read after bus_flush) that also paces the sleeps. */
    if (atomic_fetch_add_explicit(&keyed.calls, 1, memory_order_relaxed) %
            KEYED_SLOW_EVERY == 0)
        stress_sleep_us(KEYED_SLOW_US);
    atomic_store_explicit(&keyed.busy[e.key], false, memory_order_relaxed);
    stress_overlap_leave(&keyed.overlap);
    return 0;
}

static bool keyed_produce(struct actor *a)
{
    uint32_t key = (uint32_t)((a->n[0] * KEY_STRIDE + a->id * 97u) % KEYS);
    uint64_t *sent = &keyed.sent[(size_t)a->id * KEYS + key];
    struct keyed_event e = {a->id, key, *sent};
    int rc = bus_publish_keyed(keyed.topic, key, &e, sizeof(e));
    STRESS_CHECK(rc == 0, "keyed: publish: %s", bus_strerror(rc));
    if (rc == 0) {
        (*sent)++;
        a->n[0]++;
    }
    return true;
}

static void keyed_verify(const struct actor *a)
{
    uint64_t total = sum_n(a, nproducers, 0), wrong = 0;
    unsigned keys_used = 0;
    for (unsigned k = 0; k < KEYS; k++) {
        uint64_t events = 0;
        for (unsigned p = 0; p < nproducers; p++) {
            uint64_t sent = keyed.sent[(size_t)p * KEYS + k];
            uint64_t got = keyed.next[(size_t)k * nproducers + p];
            events += sent;
            if (got != sent && wrong++ < 5)
                stress_fail("keyed: key %u producer %u: %llu of %llu arrived", k, p,
                            (unsigned long long)got, (unsigned long long)sent);
        }
        keys_used += events > 0;
    }
    STRESS_CHECK(wrong == 0, "keyed: %llu (key, producer) pairs lost events",
                 (unsigned long long)wrong);
    check_stats(keyed.topic, total, total, 0, 0);
    int overlap = stress_overlap_max(&keyed.overlap);
    printf("  %llu events on %u keys, max %d keys handled at once\n",
           (unsigned long long)total, keys_used, overlap);
    STRESS_CHECK(counted(&keyed.calls) == total, "keyed: %lu calls for %llu events",
                 counted(&keyed.calls), (unsigned long long)total);
    STRESS_CHECK(total >= KEYED_MIN_EVENTS && keys_used == KEYS, "keyed: exercised too "
                 "little (%llu events, %u keys)", (unsigned long long)total, keys_used);
    if (opts.workers >= 2)
        STRESS_CHECK(overlap >= 2, "keyed: different keys never ran concurrently");
}

static void phase_keyed(void)
{
    printf("phase 5: keyed order\n");
    bus_t *bus = stress_bus(opts.workers);
    keyed.topic = stress_topic(bus, "keyed.accounts", 1024, sizeof(struct keyed_event),
                               BUS_FULL_BLOCK, BUS_TOPIC_KEYED);
    keyed.next = calloc((size_t)KEYS * nproducers, sizeof(*keyed.next));
    keyed.sent = calloc((size_t)KEYS * nproducers, sizeof(*keyed.sent));
    bus_sub_t *sub;
    stress_must(bus_subscribe(keyed.topic, on_keyed_event, NULL, &sub), "bus_subscribe");
    /* Every producer visits every key (KEY_STRIDE), whatever the load. */
    const struct role roles[] = {{nproducers, keyed_produce, BURST,
                                  min_steps_for(KEYED_MIN_EVENTS > KEYS * nproducers
                                                    ? KEYED_MIN_EVENTS : KEYS * nproducers, 1)}};
    unsigned n;
    struct actor *a = cast(roles, 1, &n);
    run_actors(a, n);
    stress_must(bus_flush(bus), "bus_flush");
    keyed_verify(a);
    stress_must(bus_destroy(bus), "bus_destroy");
    free(keyed.next);
    free(keyed.sent);
    free(a);
}

/* ==== 6. dead letters ==== */

enum {
    DL_TOPICS = 2,
    DL_SUBS = 2,
    DL_FAIL_ONE_IN = 16,
    DL_ERROR_BASE = 100, /* subscriber k fails with -(DL_ERROR_BASE + k) */
    DL_PAYLOAD = 64,
    DL_RING = 1 << 16,   /* dead-letter ring: room enough never to drop */
    DL_MIN_FAILURES = 50,
};

struct dl_sub {
    unsigned topic, index;
};

static struct {
    bus_topic_t *topics[DL_TOPICS], *dead;
    /* [seq]: bit k = subscriber k failed / its dead letter arrived. */
    _Atomic uint8_t *failed[DL_TOPICS], *lettered[DL_TOPICS];
    /* relaxed: a budget keeping seqs below EVENT_CAP; only the RMW counts. */
    atomic_ulong issued[DL_TOPICS];
    struct dl_sub subs[DL_TOPICS][DL_SUBS];
    atomic_ulong failures, letters;
    uint64_t seed;
} dl;

static const char *const dl_names[DL_TOPICS] = {"dl.high", "dl.low"};
static const unsigned dl_flags[DL_TOPICS] = {BUS_TOPIC_HIGH_PRIORITY,
                                             BUS_TOPIC_LOW_PRIORITY | BUS_TOPIC_PARALLEL};

static int on_dl_event(const bus_event_t *ev, void *arg)
{
    const struct dl_sub *s = arg;
    struct stress_stamp st;
    if (!stamp_of(ev, dl_names[s->topic], DL_TOPICS, &st) || ev->seq >= EVENT_CAP)
        return 0;
    if (stress_seed_for(dl.seed ^ ev->seq, s->topic * DL_SUBS + s->index) % DL_FAIL_ONE_IN)
        return 0;
    /* relaxed: the dead letter is published after this on this thread and
     * reaches its handler through the ring (release/acquire), which orders
     * this before that handler's load. */
    atomic_fetch_or_explicit(&dl.failed[s->topic][ev->seq], (uint8_t)(1u << s->index),
                             memory_order_relaxed);
    count(&dl.failures);
    return -(DL_ERROR_BASE + (int)s->index);
}

static int dl_topic_index(const bus_topic_t *t)
{
    for (int i = 0; i < DL_TOPICS; i++)
        if (dl.topics[i] == t)
            return i;
    return -1;
}

/* The copied payload is the original's, intact. */
static void dl_check_payload(const bus_event_t *ev, const bus_dead_letter_t *d, int ti)
{
    bus_event_t copy = {.data = (const char *)ev->data + sizeof(*d), .size = d->copied};
    struct stress_stamp st;
    STRESS_CHECK(d->copied == d->size && ev->size == sizeof(*d) + d->copied &&
                     stress_stamp_check(&copy, &st) && st.topic == (uint32_t)ti,
                 "dead letter %s seq %llu: payload copied %u of %llu, damaged or foreign",
                 dl_names[ti], (unsigned long long)d->seq, d->copied,
                 (unsigned long long)d->size);
}

static int on_dead_letter(const bus_event_t *ev, void *ctx)
{
    (void)ctx;
    bus_dead_letter_t d;
    if (ev->size < sizeof(d)) {
        stress_fail("dead letter of %zu bytes", ev->size);
        return 0;
    }
    memcpy(&d, ev->data, sizeof(d));
    int ti = dl_topic_index(d.topic);
    unsigned k = (unsigned)(-d.error - DL_ERROR_BASE);
    if (ti < 0 || k >= DL_SUBS || d.seq == 0 || d.seq >= EVENT_CAP) {
        stress_fail("dead letter names topic %p seq %llu error %d", (void *)d.topic,
                    (unsigned long long)d.seq, d.error);
        return 0;
    }
    uint8_t bit = (uint8_t)(1u << k);
    /* relaxed: see on_dl_event; and the RMW alone detects a second letter. */
    uint8_t failed = atomic_load_explicit(&dl.failed[ti][d.seq], memory_order_relaxed);
    uint8_t old = atomic_fetch_or_explicit(&dl.lettered[ti][d.seq], bit, memory_order_relaxed);
    STRESS_CHECK(failed & bit, "dead letter for %s seq %llu subscriber %u, which did not fail",
                 dl_names[ti], (unsigned long long)d.seq, k);
    STRESS_CHECK(!(old & bit), "second dead letter for %s seq %llu subscriber %u",
                 dl_names[ti], (unsigned long long)d.seq, k);
    dl_check_payload(ev, &d, ti);
    count(&dl.letters);
    return 0;
}

static bool dl_produce(struct actor *a)
{
    unsigned ti = stress_below(&a->rng, DL_TOPICS);
    if (atomic_fetch_add_explicit(&dl.issued[ti], 1, memory_order_relaxed) >= EVENT_CAP - 1)
        return true; /* the tables are full for this topic */
    size_t min = sizeof(struct stress_stamp);
    size_t size = min + stress_below(&a->rng, DL_PAYLOAD - min + 1);
    unsigned char buf[DL_PAYLOAD];
    stress_stamp_fill(buf, size, a->id, ti, a->n[ti] % EVENT_CAP);
    int rc = bus_publish(dl.topics[ti], buf, size);
    STRESS_CHECK(rc == 0, "%s: publish: %s", dl_names[ti], bus_strerror(rc));
    a->n[ti] += rc == 0;
    return true;
}

static void dl_setup(bus_t *bus)
{
    bus_topic_config_t cfg = {DL_RING, sizeof(bus_dead_letter_t) + DL_PAYLOAD, BUS_FULL_DROP,
                              0};
    stress_must(bus_dead_letter_topic(bus, &cfg, &dl.dead), "bus_dead_letter_topic");
    bus_sub_t *sub;
    stress_must(bus_subscribe(dl.dead, on_dead_letter, NULL, &sub), "bus_subscribe");
    dl.seed = opts.seed;
    for (unsigned i = 0; i < DL_TOPICS; i++) {
        dl.topics[i] = stress_topic(bus, dl_names[i], 256, DL_PAYLOAD, BUS_FULL_BLOCK,
                                    dl_flags[i]);
        dl.failed[i] = stress_map_lazy(EVENT_CAP);
        dl.lettered[i] = stress_map_lazy(EVENT_CAP);
        for (unsigned k = 0; k < DL_SUBS; k++) {
            dl.subs[i][k] = (struct dl_sub){i, k};
            stress_must(bus_subscribe(dl.topics[i], on_dl_event, &dl.subs[i][k], &sub),
                        "bus_subscribe");
        }
    }
}

/* Per (topic, seq, subscriber): a dead letter iff a failure. */
static uint64_t dl_verify_topic(unsigned ti, uint64_t published)
{
    uint64_t wrong = 0, failures = 0;
    for (uint64_t seq = 1; seq <= published && seq < EVENT_CAP; seq++) {
        uint8_t f = atomic_load_explicit(&dl.failed[ti][seq], memory_order_relaxed);
        uint8_t l = atomic_load_explicit(&dl.lettered[ti][seq], memory_order_relaxed);
        failures += (uint64_t)__builtin_popcount(f);
        if (f != l && wrong++ < 5)
            stress_fail("%s seq %llu: failed subscribers %x, dead letters for %x",
                        dl_names[ti], (unsigned long long)seq, f, l);
    }
    STRESS_CHECK(wrong == 0, "%s: %llu events whose dead letters disagree with failures",
                 dl_names[ti], (unsigned long long)wrong);
    return failures;
}

static void dl_verify(const struct actor *a)
{
    uint64_t failures = 0;
    for (unsigned i = 0; i < DL_TOPICS; i++) {
        uint64_t sent = sum_n(a, nproducers, i);
        uint64_t f = dl_verify_topic(i, sent);
        check_stats(dl.topics[i], sent, sent * DL_SUBS - f, f, 0);
        printf("  %-8s %9llu events, %6llu handler failures\n", dl_names[i],
               (unsigned long long)sent, (unsigned long long)f);
        STRESS_CHECK(f >= DL_MIN_FAILURES, "%s: only %llu failures", dl_names[i],
                     (unsigned long long)f);
        failures += f;
    }
    bus_topic_stats_t st;
    stress_must(bus_topic_stats(dl.dead, &st), "bus_topic_stats");
    /* Not high_water: see repro_high_water.c. */
    printf("  bus.dead_letter: %llu letters, %llu dropped (ring of %d)\n",
           (unsigned long long)st.published, (unsigned long long)st.dropped, DL_RING);
    STRESS_CHECK(st.dropped == 0, "the dead-letter ring filled (%llu dropped): give it room",
                 (unsigned long long)st.dropped);
    STRESS_CHECK(st.published == failures && counted(&dl.letters) == failures &&
                     counted(&dl.failures) == failures && st.delivered == failures,
                 "dead letters: %llu published, %lu handled, for %llu failures",
                 (unsigned long long)st.published, counted(&dl.letters),
                 (unsigned long long)failures);
}

static void phase_dead_letters(void)
{
    printf("phase 6: dead letters\n");
    bus_t *bus = stress_bus(opts.workers);
    dl_setup(bus);
    /* A handler fails one event in DL_FAIL_ONE_IN: twice what the minimum
     * of failures per topic needs. */
    const struct role roles[] = {{nproducers, dl_produce, BURST,
                                  min_steps_for(2 * DL_TOPICS * DL_MIN_FAILURES * DL_FAIL_ONE_IN, 1)}};
    unsigned n;
    struct actor *a = cast(roles, 1, &n);
    run_actors(a, n);
    /* Dead letters are published while the first flush waits. */
    stress_must(bus_flush(bus), "bus_flush");
    stress_must(bus_flush(bus), "bus_flush");
    dl_verify(a);
    stress_must(bus_destroy(bus), "bus_destroy");
    for (unsigned i = 0; i < DL_TOPICS; i++) {
        stress_unmap((void *)dl.failed[i], EVENT_CAP);
        stress_unmap((void *)dl.lettered[i], EVENT_CAP);
    }
    free(a);
}

int main(int argc, char **argv)
{
    opts = (struct stress_opts){.seconds = 3, .threads = 4, .workers = 2};
    stress_parse(argc, argv, "stress_patterns", &opts);
    nproducers = opts.threads;
    slice = opts.seconds / PHASES;
    phase_groups();
    phase_ack();
    phase_rpc();
    phase_wild();
    phase_keyed();
    phase_dead_letters();
    return stress_finish("stress_patterns");
}
