/* publish.c - the producer side: copy events into their topic's ring. */
#include <string.h>

#include "clock.h"
#include "help.h"
#include "journal/durable.h"
#include "publish.h"

static inline bool reserved_or_refused(struct bus_topic *t, void *arg)
{
    struct reservation *r = arg;
    r->rc = ring_reserve(&t->ring, r->want, &r->first, &r->depth);
    return r->rc != -EAGAIN;
}

int bus__publish_full(struct bus_topic *t, bool (*ready)(struct bus_topic *, void *), void *arg)
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
        bus__topic_await(t, ready, arg);
        return 1;
    }
    int rc = bus__help_until(me, t, ready, arg);
    return rc ? rc : 1;
}

/* The ring was full: apply the topic's policy. Returns the number reserved,
 * 0 when the events are to be dropped (BUS_FULL_DROP), or a negative error. */
__attribute__((noinline)) static int64_t on_full(struct bus_topic *t, struct reservation *r)
{
    int rc = bus__publish_full(t, reserved_or_refused, r);
    return rc == 1 ? r->rc : rc;
}

int bus__publish_sealed(struct bus_topic *t)
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
    return rc == -ESHUTDOWN ? bus__publish_sealed(t) : rc;
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

/* Out of line: the in-memory path carries only the test of t->durable. */
__attribute__((noinline)) static int publish_durable_one(struct bus_topic *t, const void *data,
                                                         size_t size,
                                                         const bus_publish_options_t *opts)
{
    /* A zero-copy event may exceed max_payload; a record's length is 32
     * bits. */
    if (size > UINT32_MAX)
        return bus__fail(-EMSGSIZE, "bus_publish_ex: over 4 GiB on a durable topic");
    bus_msg_t msg = {data, size};
    size_t accepted;
    return bus__durable_publish(t, &msg, 1, opts, &accepted);
}

int bus_publish(bus_topic_t *t, const void *data, size_t size)
{
    if (!t || (!data && size))
        return bus__fail(-EINVAL, "bus_publish: topic is NULL, or data is NULL with size > 0");
    if (size > t->cfg.max_payload)
        return bus__fail(-EMSGSIZE, "bus_publish: size is over the topic's max_payload");
    if (__builtin_expect(t->durable != NULL, 0))
        return publish_durable_one(t, data, size, NULL);
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
    if (opts && opts->on_durable && !t->durable)
        return bus__fail(-EINVAL, "bus_publish_ex: on_durable on a topic that is not durable");
    if (opts && (opts->attempt > 1 || opts->publisher_redelivers) && !opts->on_complete)
        return bus__fail(-EINVAL,
                         "bus_publish_ex: attempt > 1 or publisher_redelivers without on_complete");
    if (size > t->cfg.max_payload && !(opts && opts->zero_copy))
        return bus__fail(-EMSGSIZE, "bus_publish_ex: size is over the topic's max_payload");
    if (__builtin_expect(t->durable != NULL, 0))
        return publish_durable_one(t, data, size, opts);
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
    if (t->durable)
        return bus__durable_publish(t, msgs, count, NULL, accepted);

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
