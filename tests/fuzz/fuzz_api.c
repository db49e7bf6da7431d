/* fuzz_api.c - libFuzzer target: input bytes drive a sequence of API calls.
 *
 * Each step reads an opcode and its arguments from the input and makes one
 * call (create a bus, open a topic with an arbitrary name and configuration,
 * subscribe, unsubscribe, publish one event or a batch, flush, read stats,
 * pass bad arguments, shut down, destroy). A small model predicts each call's result; after each call the
 * result and the topics' counters are checked against it. A wrong result,
 * crash, hang or sanitizer report is a finding.
 *
 * Built two ways: with clang -fsanitize=fuzzer,address,undefined (the
 * fuzzer), and with a plain main that replays corpus files (replay.c), so
 * the corpus runs with any compiler as a normal test. */
#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Huge requests must fail, not abort: let the sanitizer allocators return
 * NULL the way malloc does. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "allocator_may_return_null=1";
}
const char *__tsan_default_options(void);
const char *__tsan_default_options(void)
{
    return "allocator_may_return_null=1";
}

enum {
    MAX_TOPICS = 8,
    MAX_SUBS = 16,
    MAX_HOPS = 3,             /* onward publishing dies out after this */
    PAYLOAD_BUF = 1 << 16,    /* largest payload we actually copy */
    NAME_BUF = 300,
    MAX_BURST = 64,
};

/* Ring sizes: at most this many bytes are really allocated by a test... */
#define RING_BUDGET (UINT64_C(8) << 20)
/* ...and from this size on, opening must fail: beyond the 47-bit user address
 * space of x86-64, so no allocator can succeed (it must not come back short). */
#define RING_IMPOSSIBLE (UINT64_C(1) << 47)

#define FAIL(...)                                                                          \
    do {                                                                                   \
        fprintf(stderr, "fuzz_api: " __VA_ARGS__);                                         \
        fputc('\n', stderr);                                                               \
        abort();                                                                           \
    } while (0)
/* FUZZ_API_TRACE=1 in the environment prints every checked call. */
static int trace = -1;

static void trace_call(const char *what, int rc)
{
    if (trace < 0)
        trace = getenv("FUZZ_API_TRACE") != NULL;
    if (trace)
        fprintf(stderr, "%-40s -> %d (%s)\n", what, rc, bus_strerror(rc));
}

#define EXPECT_RC(rc, want, what)                                                          \
    do {                                                                                   \
        int rc_ = (rc), want_ = (want);                                                    \
        trace_call(what, rc_);                                                             \
        if (rc_ != want_)                                                                  \
            FAIL("%s returned %d (%s), expected %d", what, rc_, bus_strerror(rc_), want_); \
    } while (0)

/* ---- input ---- */

struct input {
    const uint8_t *p;
    size_t n;
};

static uint8_t take8(struct input *in)
{
    if (in->n == 0)
        return 0;
    in->n--;
    return *in->p++;
}

static uint32_t take32(struct input *in)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++)
        v = v << 8 | take8(in);
    return v;
}

/* ---- model ---- */

struct topic_model {
    bus_topic_t *topic;
    bus_topic_config_t cfg;
    char name[NAME_BUF];
    /* Updated by handlers on worker threads. release on the increments that
     * follow a handler's publish, acquire on the loads in check_stats: a
     * counted publish happens before the stats read. Handler call counts are
     * compared only once the bus is quiet (after bus_flush). */
    atomic_ulong accepted; /* publish returned 0 */
    atomic_ulong ok_calls, err_calls;
};

enum handler_kind { H_OK, H_FAIL, H_ONWARD, H_KINDS };

struct handler {
    enum handler_kind kind;
    struct topic_model *topic, *onward;
};

struct model {
    bus_t *bus;
    bool shut; /* bus_shutdown() was called: intake fails with -ESHUTDOWN */
    uint32_t max_topics;
    unsigned workers;
    struct topic_model topics[MAX_TOPICS];
    unsigned ntopics;
    struct {
        bus_sub_t *sub;
        struct handler *h;
    } subs[MAX_SUBS];
    unsigned nsubs;
};

/* Async unsubscribes whose completion has not run. relaxed: bus_destroy
 * runs every pending completion before it returns, which orders them. */
static atomic_long pending_async;

static void count(atomic_ulong *c, memory_order order)
{
    atomic_fetch_add_explicit(c, 1, order);
}

static int on_event(const bus_event_t *ev, void *ctx)
{
    struct handler *h = ctx;
    if (ev->topic != h->topic->topic || ev->size > h->topic->cfg.max_payload)
        FAIL("handler got an event of another topic or oversized");
    if (h->kind == H_FAIL) {
        count(&h->topic->err_calls, memory_order_relaxed);
        return 1;
    }
    count(&h->topic->ok_calls, memory_order_relaxed);
    uint8_t hops = ev->size ? *(const uint8_t *)ev->data : 0;
    if (h->kind != H_ONWARD || hops == 0 || h->onward->cfg.max_payload == 0)
        return 0;
    uint8_t next = (uint8_t)(hops - 1);
    /* From a handler a full BUS_FULL_BLOCK ring waits (the worker helps
     * drain it) or, when the onward topics form a cycle, says -EDEADLK; a
     * BUS_FULL_FAIL ring says -EAGAIN; -ESHUTDOWN while bus_destroy drains
     * the bus. */
    int rc = bus_publish(h->onward->topic, &next, 1);
    bool fail_policy = h->onward->cfg.full_policy == BUS_FULL_FAIL;
    if (rc == 0)
        count(&h->onward->accepted, memory_order_release);
    else if (!(rc == -EAGAIN && fail_policy) && rc != -EDEADLK && rc != -ESHUTDOWN)
        FAIL("publish from a handler returned %d", rc);
    return 0;
}

static void async_done(void *arg)
{
    free(arg);
    atomic_fetch_sub_explicit(&pending_async, 1, memory_order_relaxed);
}

/* ---- checks ---- */

/* Holds at any time, events flowing or not. */
static void check_stats(struct model *m, struct topic_model *t)
{
    unsigned long before = atomic_load_explicit(&t->accepted, memory_order_acquire);
    bus_topic_stats_t st;
    EXPECT_RC(bus_topic_stats(t->topic, &st), 0, "bus_topic_stats");
    unsigned long after = atomic_load_explicit(&t->accepted, memory_order_acquire);
    uint64_t in = st.published + st.dropped;
    /* Handlers may be between a publish and counting it: one per worker. */
    if (in < before || in > after + m->workers)
        FAIL("%s: published %llu + dropped %llu, accepted %lu..%lu", t->name,
             (unsigned long long)st.published, (unsigned long long)st.dropped, before, after);
    if (st.depth > t->cfg.capacity || st.high_water > t->cfg.capacity)
        FAIL("%s: depth %u high_water %u over capacity %u", t->name, st.depth, st.high_water,
             t->cfg.capacity);
    if (t->cfg.full_policy != BUS_FULL_DROP && st.dropped)
        FAIL("%s: dropped events without BUS_FULL_DROP", t->name);
}

/* Holds once the bus is quiet: every accepted event handled, counts exact. */
static void check_quiet(struct topic_model *t)
{
    bus_topic_stats_t st;
    EXPECT_RC(bus_topic_stats(t->topic, &st), 0, "bus_topic_stats");
    unsigned long accepted = atomic_load_explicit(&t->accepted, memory_order_acquire);
    unsigned long ok = atomic_load_explicit(&t->ok_calls, memory_order_relaxed);
    unsigned long err = atomic_load_explicit(&t->err_calls, memory_order_relaxed);
    if (st.published + st.dropped != accepted || st.depth != 0 || st.delivered != ok ||
        st.handler_errors != err)
        FAIL("%s quiet: published %llu dropped %llu depth %u delivered %llu errors %llu; "
             "accepted %lu, handler ok %lu failed %lu",
             t->name, (unsigned long long)st.published, (unsigned long long)st.dropped,
             st.depth, (unsigned long long)st.delivered,
             (unsigned long long)st.handler_errors, accepted, ok, err);
}

/* ---- operations ---- */

static void op_create(struct model *m, struct input *in)
{
    if (m->bus)
        return;
    bus_config_t cfg;
    bus_config_init(&cfg);
    uint8_t shape = take8(in);
    cfg.workers = shape % 3;                           /* 0 = online CPUs */
    cfg.wait = (shape >> 2) % 2 ? BUS_WAIT_YIELD : BUS_WAIT_PARK;
    static const uint32_t max_topics[] = {1, 2, 3, 8, 65536, 0, (1u << 24) + 1};
    static const uint32_t batches[] = {1, 2, 64, 65536, 0, 65537};
    uint8_t pick = take8(in);
    cfg.max_topics = max_topics[(pick & 7) % 7];
    cfg.batch = batches[(pick >> 3) % 6];
    bool valid = cfg.max_topics != 0 && cfg.max_topics <= (1u << 24) && cfg.batch != 0 &&
                 cfg.batch <= 65536;
    if (shape & 0x80) { /* out-of-range workers or wait */
        if (shape & 0x40)
            cfg.workers = 1025;
        else
            cfg.wait = 3;
        valid = false;
    }
    bus_t *bus = NULL;
    EXPECT_RC(bus_create(&bus, &cfg), valid ? 0 : -EINVAL, "bus_create");
    EXPECT_RC(bus_create(NULL, &cfg), -EINVAL, "bus_create(NULL)");
    if (!valid)
        return;
    memset(m, 0, sizeof(*m));
    m->bus = bus;
    m->max_topics = cfg.max_topics;
    m->workers = cfg.workers ? cfg.workers : 2;
}

static void op_destroy(struct model *m)
{
    if (!m->bus)
        return;
    EXPECT_RC(bus_destroy(m->bus), 0, "bus_destroy");
    if (atomic_load_explicit(&pending_async, memory_order_relaxed) != 0)
        FAIL("bus_destroy returned before every async completion ran");
    for (unsigned i = 0; i < m->nsubs; i++)
        free(m->subs[i].h);
    memset(m, 0, sizeof(*m));
}

/* Names: mostly valid characters, with the reserved and invalid ones mixed
 * in, and lengths around the 255-byte limit. */
static void take_name(struct input *in, char *name)
{
    static const char alphabet[] = "ab.z*> \x7f";
    uint8_t len_byte = take8(in);
    size_t len = len_byte < 250 ? len_byte % 12 : 250 + (size_t)(len_byte - 250) * 2;
    for (size_t i = 0; i < len; i++) {
        uint8_t c = take8(in);
        name[i] = c < 0xf0 ? alphabet[c % 8] : (char)(c & 0x0f ? c : 'q');
    }
    name[len] = '\0';
}

static bool token_char(unsigned char c)
{
    return c > ' ' && c < 0x7f && c != '.' && c != '*' && c != '>';
}

/* The header's rule, written again independently. */
static bool name_valid(const char *name)
{
    size_t len = strlen(name);
    if (len == 0 || len > 255 || name[0] == '.' || name[len - 1] == '.')
        return false;
    for (size_t i = 0; i < len; i++) {
        if (name[i] == '.' ? name[i + 1] == '.' : !token_char((unsigned char)name[i]))
            return false;
    }
    return true;
}

static void take_topic_config(struct input *in, bus_topic_config_t *cfg)
{
    static const uint32_t caps[] = {2, 4, 8, 64, 4096, 1u << 31, 0, 1, 3, 1000, UINT32_MAX};
    static const uint32_t payloads[] = {0, 1, 16, 100, 256, 4096, 65536, 1u << 20,
                                        UINT32_MAX, UINT32_MAX - 15, 1u << 31, 1u << 17};
    uint8_t a = take8(in), b = take8(in);
    cfg->capacity = caps[(a & 15) % 11];
    cfg->max_payload = payloads[(b & 15) % 12];
    cfg->full_policy = (a >> 4) % 4 == 3 ? -1 : (a >> 4) % 4; /* -1: invalid */
    cfg->flags = b & 0x80 ? 0x80 : (b >> 4) & BUS_TOPIC_PARALLEL; /* 0x80: unknown */
}

static bool config_valid(const bus_topic_config_t *c)
{
    return c->capacity >= 2 && c->capacity <= (1u << 31) && !(c->capacity & (c->capacity - 1)) &&
           c->full_policy >= BUS_FULL_BLOCK && c->full_policy <= BUS_FULL_DROP &&
           !(c->flags & ~(unsigned)BUS_TOPIC_PARALLEL);
}

static bool same_config(const bus_topic_config_t *a, const bus_topic_config_t *b)
{
    return a->capacity == b->capacity && a->max_payload == b->max_payload &&
           a->full_policy == b->full_policy && a->flags == b->flags;
}

static struct topic_model *find_topic(struct model *m, const char *name)
{
    for (unsigned i = 0; i < m->ntopics; i++)
        if (strcmp(m->topics[i].name, name) == 0)
            return &m->topics[i];
    return NULL;
}

/* True if the ring's bytes, roughly (capacity x (max_payload + a generous
 * slot header)), exceed @limit; computed without overflowing. */
static bool ring_over(const bus_topic_config_t *c, uint64_t limit)
{
    return c->capacity > limit / ((uint64_t)c->max_payload + 64);
}

static void open_new(struct model *m, const char *name, const bus_topic_config_t *cfg)
{
    bus_topic_t *t = NULL;
    int rc = bus_topic_open(m->bus, name, cfg, &t);
    if (ring_over(cfg, RING_IMPOSSIBLE)) {
        trace_call("bus_topic_open(impossible ring)", rc);
        if (rc != -ENOMEM && rc != -EINVAL)
            FAIL("a ring of %u x %u bytes was opened (rc %d)", cfg->capacity,
                 cfg->max_payload, rc);
        return;
    }
    EXPECT_RC(rc, 0, "bus_topic_open");
    struct topic_model *tm = &m->topics[m->ntopics++];
    tm->topic = t;
    tm->cfg = *cfg;
    strcpy(tm->name, name);
    if (strcmp(bus_topic_name(t), name) != 0)
        FAIL("bus_topic_name gave another name");
}

static void op_open(struct model *m, struct input *in)
{
    char name[NAME_BUF];
    bus_topic_config_t cfg;
    take_name(in, name);
    take_topic_config(in, &cfg);
    uint8_t how = take8(in);
    if (how % 4 == 0 && m->ntopics) { /* reopen an existing topic */
        struct topic_model *old = &m->topics[how / 4 % m->ntopics];
        strcpy(name, old->name);
        if (how & 0x80)
            cfg = old->cfg;
    }
    bus_topic_t *t = NULL;
    if (!name_valid(name) || !config_valid(&cfg)) {
        EXPECT_RC(bus_topic_open(m->bus, name, &cfg, &t), -EINVAL, "bus_topic_open(bad)");
        return;
    }
    if (m->shut) {
        EXPECT_RC(bus_topic_open(m->bus, name, &cfg, &t), -ESHUTDOWN, "bus_topic_open(shut)");
        return;
    }
    struct topic_model *found = find_topic(m, name);
    if (found) {
        bool same = same_config(&found->cfg, &cfg);
        EXPECT_RC(bus_topic_open(m->bus, name, &cfg, &t), same ? 0 : -EEXIST,
                  "bus_topic_open(existing)");
        if (same && t != found->topic)
            FAIL("reopening returned another handle");
        return;
    }
    if (m->ntopics == m->max_topics) {
        EXPECT_RC(bus_topic_open(m->bus, name, &cfg, &t), -ENOSPC, "bus_topic_open(full)");
        return;
    }
    /* Our table is full, or the ring's size depends on this machine's memory. */
    if (m->ntopics == MAX_TOPICS ||
        (ring_over(&cfg, RING_BUDGET) && !ring_over(&cfg, RING_IMPOSSIBLE)))
        return;
    open_new(m, name, &cfg);
}

static void op_subscribe(struct model *m, struct input *in)
{
    uint8_t a = take8(in), b = take8(in);
    if (!m->ntopics || m->nsubs == MAX_SUBS)
        return;
    struct handler *h = malloc(sizeof(*h));
    h->kind = (enum handler_kind)(a % H_KINDS);
    h->topic = &m->topics[(a / H_KINDS) % m->ntopics];
    h->onward = &m->topics[b % m->ntopics]; /* itself included: cycles */
    bus_sub_t *sub = NULL;
    int rc = bus_subscribe(h->topic->topic, on_event, h, &sub);
    if (m->shut) {
        EXPECT_RC(rc, -ESHUTDOWN, "bus_subscribe(shut)");
        free(h); /* failed: the bus never calls it */
        return;
    }
    EXPECT_RC(rc, 0, "bus_subscribe");
    m->subs[m->nsubs].sub = sub;
    m->subs[m->nsubs].h = h;
    m->nsubs++;
}

static void op_unsubscribe(struct model *m, struct input *in)
{
    uint8_t a = take8(in);
    if (!m->nsubs)
        return;
    unsigned i = (a / 2) % m->nsubs;
    if (a % 2) {
        atomic_fetch_add_explicit(&pending_async, 1, memory_order_relaxed);
        EXPECT_RC(bus_unsubscribe_async(m->subs[i].sub, async_done, m->subs[i].h), 0,
                  "bus_unsubscribe_async");
    } else {
        EXPECT_RC(bus_unsubscribe(m->subs[i].sub), 0, "bus_unsubscribe");
        free(m->subs[i].h); /* no call runs or will start: free at once */
    }
    m->subs[i] = m->subs[--m->nsubs];
}

static size_t take_size(struct input *in, uint32_t max_payload)
{
    uint8_t k = take8(in);
    switch (k % 6) {
    case 0: return 0;
    case 1: return max_payload;
    case 2: return (size_t)max_payload + 1;
    case 3: return SIZE_MAX;
    default: return max_payload ? take8(in) % ((size_t)max_payload + 1) : 0;
    }
}

static uint8_t payload[PAYLOAD_BUF];

static void publish_one(struct model *m, struct topic_model *t, size_t size, bool null_data)
{
    if (size > PAYLOAD_BUF && size <= t->cfg.max_payload)
        size = PAYLOAD_BUF; /* legal, but we do not copy megabytes per step */
    int rc = bus_publish(t->topic, null_data ? NULL : payload, size);
    if (null_data && size > 0)
        EXPECT_RC(rc, -EINVAL, "bus_publish(NULL data)");
    else if (size > t->cfg.max_payload)
        EXPECT_RC(rc, -EMSGSIZE, "bus_publish(oversized)");
    else if (m->shut)
        EXPECT_RC(rc, -ESHUTDOWN, "bus_publish(shut)");
    else if (rc == -EAGAIN && t->cfg.full_policy == BUS_FULL_FAIL)
        return;
    else
        EXPECT_RC(rc, 0, "bus_publish");
    if (rc == 0)
        count(&t->accepted, memory_order_relaxed); /* this thread reads it */
}

static void op_publish(struct model *m, struct input *in)
{
    uint8_t a = take8(in), b = take8(in);
    if (!m->ntopics)
        return;
    /* a: topic, 0x80 = NULL data; b: burst - 1 (6 bits), hops (2 bits) */
    struct topic_model *t = &m->topics[(a & 0x7f) % m->ntopics];
    size_t size = take_size(in, t->cfg.max_payload);
    unsigned burst = 1 + (b & 0x3f);
    bool null_data = a & 0x80;
    payload[0] = (uint8_t)(b >> 6); /* hops for onward handlers */
    for (unsigned i = 0; i < burst; i++)
        publish_one(m, t, size, null_data);
}

/* A batch of @count events of one size. published + dropped grows by what
 * was accepted, and under BUS_FULL_DROP by the whole batch (the rest is
 * counted as dropped). */
static void publish_batch(struct model *m, struct topic_model *t, size_t size, bool null_data,
                          size_t count)
{
    bus_msg_t msgs[MAX_BURST];
    for (size_t i = 0; i < count; i++)
        msgs[i] = (bus_msg_t){null_data ? NULL : payload, size};
    size_t accepted = SIZE_MAX;
    int rc = bus_publish_batch(t->topic, msgs, count, &accepted);
    if (accepted > count)
        FAIL("bus_publish_batch accepted %zu of %zu", accepted, count);
    int want = 0;
    if (count == 0)
        want = 0; /* nothing to check or publish, even once shut down */
    else if (null_data && size > 0)
        want = -EINVAL;
    else if (size > t->cfg.max_payload)
        want = -EMSGSIZE;
    else if (m->shut)
        want = -ESHUTDOWN;
    else if (rc == -EAGAIN && t->cfg.full_policy == BUS_FULL_FAIL)
        want = -EAGAIN;
    EXPECT_RC(rc, want, "bus_publish_batch");
    if (rc != 0 && accepted != 0)
        FAIL("bus_publish_batch failed but accepted %zu", accepted);
    if (rc == 0 && count && !accepted && t->cfg.full_policy != BUS_FULL_DROP)
        FAIL("bus_publish_batch returned 0 with nothing accepted");
    if (t->cfg.full_policy == BUS_FULL_BLOCK && rc == 0 && accepted != count)
        FAIL("BUS_FULL_BLOCK batch accepted %zu of %zu", accepted, count);
    size_t in = rc != 0 ? 0 : t->cfg.full_policy == BUS_FULL_DROP ? count : accepted;
    /* relaxed: this thread is the one that reads it (check_stats). */
    atomic_fetch_add_explicit(&t->accepted, in, memory_order_relaxed);
}

static void op_publish_batch(struct model *m, struct input *in)
{
    uint8_t a = take8(in), b = take8(in);
    if (!m->ntopics)
        return;
    /* as op_publish, but b & 0x3f is the batch size (0 allowed) */
    struct topic_model *t = &m->topics[(a & 0x7f) % m->ntopics];
    size_t size = take_size(in, t->cfg.max_payload);
    if (size > PAYLOAD_BUF && size <= t->cfg.max_payload)
        size = PAYLOAD_BUF;
    payload[0] = (uint8_t)(b >> 6);
    publish_batch(m, t, size, a & 0x80, b & 0x3f);
}

/* After bus_shutdown every accepted event has been handled: the bus is quiet
 * at once, and stays usable for flush, stats and unsubscribe. */
static void op_shutdown(struct model *m)
{
    EXPECT_RC(bus_shutdown(m->bus), 0, "bus_shutdown");
    m->shut = true;
    for (unsigned i = 0; i < m->ntopics; i++)
        check_quiet(&m->topics[i]);
}

static void op_flush(struct model *m)
{
    /* Handler-made events lose a hop per generation; each flush handles the
     * generation published before it. */
    for (int i = 0; i < MAX_HOPS + 2; i++)
        EXPECT_RC(bus_flush(m->bus), 0, "bus_flush");
    for (unsigned i = 0; i < m->ntopics; i++)
        check_quiet(&m->topics[i]);
}

static void op_stats(struct model *m, struct input *in)
{
    uint8_t a = take8(in);
    if (m->ntopics)
        check_stats(m, &m->topics[a % m->ntopics]);
}

/* Every entry point refuses NULL with -EINVAL and has no effect. */
static void op_bad_args(struct model *m, struct input *in)
{
    bus_topic_t *t = m->ntopics ? m->topics[0].topic : NULL;
    bus_sub_t *sub;
    bus_topic_stats_t st;
    EXPECT_RC(bus_topic_open(NULL, "a", NULL, &t), -EINVAL, "bus_topic_open(NULL bus)");
    EXPECT_RC(bus_topic_open(m->bus, NULL, NULL, &t), -EINVAL, "bus_topic_open(NULL name)");
    EXPECT_RC(bus_topic_open(m->bus, "a", NULL, NULL), -EINVAL, "bus_topic_open(NULL out)");
    EXPECT_RC(bus_subscribe(NULL, on_event, NULL, &sub), -EINVAL, "bus_subscribe(NULL)");
    if (t) {
        EXPECT_RC(bus_subscribe(t, NULL, NULL, &sub), -EINVAL, "bus_subscribe(NULL fn)");
        EXPECT_RC(bus_subscribe(t, on_event, NULL, NULL), -EINVAL, "bus_subscribe(NULL out)");
        EXPECT_RC(bus_topic_stats(t, NULL), -EINVAL, "bus_topic_stats(NULL out)");
    }
    EXPECT_RC(bus_publish(NULL, "x", 1), -EINVAL, "bus_publish(NULL)");
    size_t accepted;
    EXPECT_RC(bus_publish_batch(NULL, NULL, 0, &accepted), -EINVAL, "bus_publish_batch(NULL)");
    if (t) {
        EXPECT_RC(bus_publish_batch(t, NULL, 1, &accepted), -EINVAL,
                  "bus_publish_batch(NULL msgs)");
        EXPECT_RC(bus_publish_batch(t, NULL, 0, NULL), -EINVAL,
                  "bus_publish_batch(NULL accepted)");
    }
    EXPECT_RC(bus_shutdown(NULL), -EINVAL, "bus_shutdown(NULL)");
    EXPECT_RC(bus_unsubscribe(NULL), -EINVAL, "bus_unsubscribe(NULL)");
    EXPECT_RC(bus_unsubscribe_async(NULL, async_done, NULL), -EINVAL,
              "bus_unsubscribe_async(NULL)");
    EXPECT_RC(bus_flush(NULL), -EINVAL, "bus_flush(NULL)");
    EXPECT_RC(bus_destroy(NULL), -EINVAL, "bus_destroy(NULL)");
    EXPECT_RC(bus_topic_stats(NULL, &st), -EINVAL, "bus_topic_stats(NULL)");
    if (bus_topic_name(NULL) != NULL)
        FAIL("bus_topic_name(NULL) is not NULL");
    bus_config_init(NULL);
    bus_topic_config_init(NULL);
    if (bus_strerror(-(int)take32(in)) == NULL)
        FAIL("bus_strerror returned NULL");
}

enum op { OP_CREATE, OP_OPEN, OP_SUBSCRIBE, OP_UNSUBSCRIBE, OP_PUBLISH, OP_FLUSH,
          OP_STATS, OP_BAD_ARGS, OP_DESTROY, OP_SHUTDOWN, OP_PUBLISH_BATCH, OPS };

static void step(struct model *m, struct input *in)
{
    enum op op = (enum op)(take8(in) % OPS);
    if (op == OP_CREATE || !m->bus) {
        op_create(m, in);
        return;
    }
    switch (op) {
    case OP_OPEN: op_open(m, in); break;
    case OP_SUBSCRIBE: op_subscribe(m, in); break;
    case OP_UNSUBSCRIBE: op_unsubscribe(m, in); break;
    case OP_PUBLISH: op_publish(m, in); break;
    case OP_FLUSH: op_flush(m); break;
    case OP_STATS: op_stats(m, in); break;
    case OP_BAD_ARGS: op_bad_args(m, in); break;
    case OP_DESTROY: op_destroy(m); break;
    case OP_SHUTDOWN: op_shutdown(m); break;
    case OP_PUBLISH_BATCH: op_publish_batch(m, in); break;
    default: break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct model m = {0};
    struct input in = {data, size};
    while (in.n > 0)
        step(&m, &in);
    if (m.bus) {
        op_flush(&m);
        op_destroy(&m);
    }
    return 0;
}
