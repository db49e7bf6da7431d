/* publish.c - the producer side: copy events into their topic's ring. */
#include <string.h>

#include "clock.h"
#include "help.h"
#include "internal.h"

/* Remembers the largest depth seen, for tickets [first, end) just committed.
 * @estimate (from the producers' cached consumer position) can only be too
 * high; only when it beats the record is the real position read, so the
 * common case stays off the consumers' cache line. relaxed: a statistic,
 * ordered with nothing; the CAS only keeps the maximum. */
static void note_depth(struct bus_topic *t, uint64_t estimate, uint64_t end)
{
    uint32_t seen = atomic_load_explicit(&t->high_water, memory_order_relaxed);
    if (estimate <= seen)
        return;
    uint64_t released = atomic_load_explicit(&t->ring.released, memory_order_relaxed);
    uint64_t depth = released < end ? end - released : 0;
    while (depth > seen &&
           !atomic_compare_exchange_weak_explicit(&t->high_water, &seen, (uint32_t)depth,
                                                  memory_order_relaxed,
                                                  memory_order_relaxed))
        ;
}

static void count_dropped(struct bus_topic *t, uint64_t n)
{
    /* relaxed: a statistic. */
    atomic_fetch_add_explicit(&t->dropped, n, memory_order_relaxed);
}

/* A reservation attempt, as a condition bus__topic_await can wait on. */
struct reservation {
    uint64_t want, first, depth;
    int64_t rc; /* ring_reserve's: a count up to 2^31, or an error */
};

static inline bool reserved_or_refused(struct bus_topic *t, void *arg)
{
    struct reservation *r = arg;
    r->rc = ring_reserve(&t->ring, r->want, &r->first, &r->depth);
    return r->rc != -EAGAIN;
}

/* The ring was full: apply the topic's policy. Returns the number reserved,
 * 0 when the events are to be dropped (BUS_FULL_DROP), or a negative error. */
__attribute__((noinline)) static int64_t on_full(struct bus_topic *t, struct reservation *r)
{
    struct bus_worker *me = bus__current_worker();
    /* A handler must not just sleep: its own worker may be the one that
     * would drain the topic. On its own bus it helps (help.c); a worker of
     * another bus cannot, and its wait could close a cycle nobody sees, so
     * it is refused. Refused at once, the event is lost to a stuck handler
     * unless another worker takes over a parallel topic (a waiting
     * publisher asks in bus__topic_await and bus__help_until). */
    bool refused = t->cfg.full_policy != BUS_FULL_BLOCK || (me && me->bus != t->bus);
    if (refused)
        bus__topic_recruit(t);
    switch (t->cfg.full_policy) {
    case BUS_FULL_DROP:
        return 0;
    case BUS_FULL_FAIL:
        return -EAGAIN;
    default:
        break;
    }
    if (refused)
        return -EAGAIN;
    /* relaxed: a statistic (a publish that had to wait for room). */
    atomic_fetch_add_explicit(&t->blocked, 1, memory_order_relaxed);
    if (!me) {
        bus__topic_await(t, reserved_or_refused, r);
        return r->rc;
    }
    int rc = bus__help_until(me, t, reserved_or_refused, r);
    return rc ? rc : r->rc;
}

/* A sealed ring: the topic is being closed (-EPIPE) or the bus shut down. */
__attribute__((noinline)) static int sealed(struct bus_topic *t)
{
    const struct bus_topic *owner = t->parent ? t->parent : t; /* keyed lanes */
    /* acquire fence: our reservation read the seal, a release RMW made after
     * the closer set `closed` (close.c); relaxed load after it. */
    atomic_thread_fence(memory_order_acquire);
    return atomic_load_explicit(&owner->closed, memory_order_relaxed) ? -EPIPE : -ESHUTDOWN;
}

/* Reserves 1 to @r->want slots; see on_full for a full ring. */
static inline int64_t reserve(struct bus_topic *t, struct reservation *r)
{
    int64_t rc = reserved_or_refused(t, r) ? r->rc : on_full(t, r);
    return rc == -ESHUTDOWN ? sealed(t) : rc;
}

/* memcpy for payloads, inlined for the small sizes events usually have:
 * two overlapping fixed-size copies cover any size in (n/2, n], so no call
 * and no loop. */
static inline void copy_payload(unsigned char *dst, const void *src, size_t size)
{
    const unsigned char *s = src;
    if (size > 32) {
        memcpy(dst, src, size);
    } else if (size > 16) {
        memcpy(dst, s, 16);
        memcpy(dst + size - 16, s + size - 16, 16);
    } else if (size >= 8) {
        memcpy(dst, s, 8);
        memcpy(dst + size - 8, s + size - 8, 8);
    } else {
        for (size_t i = 0; i < size; i++)
            dst[i] = s[i];
    }
}

static inline void fill(struct bus_topic *t, uint64_t ticket, uint64_t now, const void *data,
                 size_t size, const bus_publish_options_t *opts)
{
    struct ring_slot *slot = ring_slot(&t->ring, ticket);
    slot_stamp(slot, now);
    slot->size = size;
    slot->flags = 0;
    if (opts) {
        if (opts->on_complete) {
            slot->flags |= SLOT_COMPLETE;
            slot->complete = opts->on_complete;
            slot->complete_arg = opts->arg;
        }
        if (opts->zero_copy) {
            slot->flags |= SLOT_EXTERNAL;
            slot->external = data;
            return;
        }
    }
    copy_payload(slot->data, data, size);
}

/* Commits [first, first + n) and makes sure a worker will dispatch them. */
__attribute__((always_inline)) static inline void
commit(struct bus_topic *t, const struct reservation *r, uint64_t n)
{
    ring_commit(&t->ring, r->first, n);
    note_depth(t, r->depth, r->first + n);
    bus__watermark_published(t, r->depth);
    /* seq_cst: see the scheduling protocol in dispatch.c. */
    if (!atomic_load_explicit(&t->scheduled, memory_order_seq_cst))
        bus__topic_schedule(t);
}

/* Tells the publisher its event was dropped by a full BUS_FULL_DROP ring. */
static void report_drop(struct bus_topic *t, const void *data,
                        const bus_publish_options_t *opts)
{
    if (opts && opts->on_complete) {
        bus_completion_t c = {.topic = t, .status = -EAGAIN, .data = data};
        opts->on_complete(&c, opts->arg);
    }
}

/* A keyed topic's events without a key go to the lane of key 0. */
static struct bus_topic *unkeyed(struct bus_topic *t)
{
    return t->nlanes ? t->lanes[0] : t;
}

/* Inlined into each caller, so that bus_publish's copy (opts NULL) has no
 * option branches. */
__attribute__((always_inline)) static inline int
publish_one(struct bus_topic *t, const void *data, size_t size, const bus_publish_options_t *opts)
{
    t = unkeyed(t);
    uint64_t now = clock_now_ns();
    struct reservation r = {.want = 1};
    int64_t n = reserve(t, &r);
    if (n <= 0) {
        if (n == 0) {
            count_dropped(t, 1);
            report_drop(t, data, opts);
        }
        return (int)n;
    }
    fill(t, r.first, now, data, size, opts);
    if (opts && opts->seq)
        *opts->seq = r.first + 1; /* before the commit publishes the slot */
    commit(t, &r, 1);
    return 0;
}

int bus_publish(bus_topic_t *t, const void *data, size_t size)
{
    if (!t || (!data && size))
        return bus__fail(-EINVAL, "bus_publish: topic is NULL, or data is NULL with size > 0");
    if (size > t->cfg.max_payload)
        return bus__fail(-EMSGSIZE, "bus_publish: size is over the topic's max_payload");
    return publish_one(t, data, size, NULL);
}

void bus_publish_options_init(bus_publish_options_t *opts)
{
    if (opts)
        memset(opts, 0, sizeof(*opts));
}

int bus_publish_ex(bus_topic_t *t, const void *data, size_t size,
                   const bus_publish_options_t *opts)
{
    if (!t || (!data && size))
        return bus__fail(-EINVAL, "bus_publish_ex: topic is NULL, or data is NULL with size > 0");
    if (opts && opts->zero_copy && !opts->on_complete)
        return bus__fail(-EINVAL, "bus_publish_ex: zero_copy without on_complete");
    if (size > t->cfg.max_payload && !(opts && opts->zero_copy))
        return bus__fail(-EMSGSIZE, "bus_publish_ex: size is over the topic's max_payload");
    return publish_one(t, data, size, opts);
}

static int check_batch(const struct bus_topic *t, const bus_msg_t *msgs, size_t count)
{
    if (!msgs && count)
        return bus__fail(-EINVAL, "bus_publish_batch: msgs is NULL with count > 0");
    for (size_t i = 0; i < count; i++) {
        if (!msgs[i].data && msgs[i].size)
            return bus__fail(-EINVAL, "bus_publish_batch: a message has data NULL with size > 0");
        if (msgs[i].size > t->cfg.max_payload)
            return bus__fail(-EMSGSIZE,
                             "bus_publish_batch: a size is over the topic's max_payload");
    }
    return 0;
}

int bus_publish_batch(bus_topic_t *t, const bus_msg_t *msgs, size_t count, size_t *accepted)
{
    if (!t || !accepted)
        return bus__fail(-EINVAL, "bus_publish_batch: topic or accepted is NULL");
    *accepted = 0;
    int rc = check_batch(t, msgs, count);
    if (rc)
        return rc;

    t = unkeyed(t);
    uint64_t now = clock_now_ns();
    size_t done = 0;
    while (done < count) {
        struct reservation r = {.want = count - done};
        int64_t n = reserve(t, &r);
        if (n <= 0) {
            if (n == 0)
                count_dropped(t, count - done);
            rc = (int)n;
            break;
        }
        for (size_t i = 0; i < (size_t)n; i++)
            fill(t, r.first + i, now, msgs[done + i].data, msgs[done + i].size, NULL);
        commit(t, &r, (uint64_t)n);
        done += (size_t)n;
        /* Only BUS_FULL_BLOCK waits for room for the rest. */
        if (done < count && t->cfg.full_policy != BUS_FULL_BLOCK) {
            if (t->cfg.full_policy == BUS_FULL_DROP)
                count_dropped(t, count - done);
            break;
        }
    }
    *accepted = done;
    /* An error only when nothing was accepted. */
    return done ? 0 : rc;
}

int bus__publish_parts(struct bus_topic *t, const bus_msg_t *parts, size_t n)
{
    /* A keyed topic's own ring has no room for payloads: its lanes do. */
    t = unkeyed(t);
    size_t size = 0;
    for (size_t i = 0; i < n; i++) {
        if (parts[i].size > t->cfg.max_payload - size)
            return -EMSGSIZE;
        size += parts[i].size;
    }
    struct reservation r = {.want = 1};
    int64_t got = ring_reserve(&t->ring, 1, &r.first, &r.depth);
    if (got < 0) {
        if (got == -EAGAIN)
            count_dropped(t, 1);
        return (int)got;
    }
    struct ring_slot *slot = ring_slot(&t->ring, r.first);
    slot_stamp(slot, clock_now_ns());
    slot->size = size;
    slot->flags = 0;
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        if (parts[i].size)
            memcpy(slot->data + at, parts[i].data, parts[i].size);
        at += parts[i].size;
    }
    commit(t, &r, 1);
    return 0;
}
