/* open.c - opening, describing and closing inboxes. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "../internal.h"
#include "state.h"

enum {
    CAPACITY_MAX = 1u << 24,
    CAPACITY_DEFAULT = 1024,
};
#define BLOCK_NS_DEFAULT (UINT64_C(100) * 1000 * 1000)
#define BLOCK_NS_MAX (UINT64_C(60) * 1000 * 1000 * 1000)

void bus_inbox_options_init(bus_inbox_options_t *opts)
{
    if (opts)
        *opts = (bus_inbox_options_t){.capacity = CAPACITY_DEFAULT,
                                      .full = BUS_INBOX_BLOCK,
                                      .block_ns = BLOCK_NS_DEFAULT};
}

/* The reason @opts cannot be used, or NULL. */
static const char *invalid_options(const bus_inbox_options_t *opts)
{
    if (opts->capacity == 0 || opts->capacity > CAPACITY_MAX)
        return "bus_inbox_options_t: capacity is 0 or over 2^24";
    if (opts->full != BUS_INBOX_BLOCK && opts->full != BUS_INBOX_DROP_NEWEST &&
        opts->full != BUS_INBOX_DROP_OLDEST)
        return "bus_inbox_options_t: full is not a BUS_INBOX_* policy";
    if (opts->block_ns > BLOCK_NS_MAX)
        return "bus_inbox_options_t: block_ns is over 60 s";
    bus_sub_options_t sub = {.group = opts->group};
    if (!bus__valid_group(&sub))
        return "bus_inbox_options_t: group is \"\" or over 255 bytes";
    return NULL;
}

/* Told by the subscription that no more events will come (pattern.c):
 * the taker's last look, after it sees this, finds every event. */
static void inbox_ended(void *arg, int why)
{
    struct bus_inbox *in = arg;
    /* release: pairs with the acquire in take_stop. */
    atomic_store_explicit(&in->ended, why, memory_order_release);
    bus__inbox_wake(in);
}

/* Once no worker or taker touches it, and its queue was drained. */
static void inbox_free(struct bus_inbox *in)
{
    close(in->efd);
    bus__mpmc_fini(&in->queue);
    bus__inbox_pool_close(in->pool);
    free(in);
}

static int inbox_new(struct bus *bus, const bus_inbox_options_t *opts, struct bus_inbox **out)
{
    struct bus_inbox *in = calloc(1, sizeof(*in));
    if (!in)
        return -ENOMEM;
    int rc = bus__mpmc_init(&in->queue, opts->capacity);
    if (rc) {
        free(in);
        return rc;
    }
    if ((rc = bus__inbox_pool_new(opts->capacity, &in->pool))) {
        bus__mpmc_fini(&in->queue);
        free(in);
        return rc;
    }
    in->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (in->efd < 0) {
        rc = -errno;
        bus__inbox_pool_close(in->pool);
        bus__mpmc_fini(&in->queue);
        free(in);
        return rc;
    }
    /* The first event writes the descriptor: nothing was taken yet. */
    atomic_init(&in->idle, true);
    in->full = opts->full;
    in->block_ns = opts->block_ns;
    in->bus = bus;
    *out = in;
    return 0;
}

/* Workers waiting for room give up (the first step of a close). */
static void stop_waiters(struct bus_inbox *in)
{
    /* relaxed: the notify's fence orders it before the waiters' re-check
     * (evcount.h). */
    atomic_store_explicit(&in->closing, true, memory_order_relaxed);
    evcount_notify(&in->room, INT_MAX);
}

/* The unload of the module that opened it (module/version.c): the close's
 * two halves, a grace period apart. Events left are dropped with it. */
static void owned_stop(struct bus_owned *o)
{
    struct bus_inbox *in = caa_container_of(o, struct bus_inbox, owned);
    stop_waiters(in);
    bus__sub_stop(in->sub);
}

static void owned_release(struct bus_owned *o)
{
    struct bus_inbox *in = caa_container_of(o, struct bus_inbox, owned);
    bus__sub_release(in->sub);
    bus__inbox_drain(in);
    inbox_free(in);
}

static const struct owned_ops inbox_owned_ops = {owned_stop, owned_release};

/* Opens an inbox on @topic, or on @pattern of @bus when topic is NULL. */
static int inbox_open(struct bus *bus, struct bus_topic *topic,
                      const char *pattern, const bus_inbox_options_t *opts, bus_inbox_t **out)
{
    bus_inbox_options_t defaults;
    if (!opts) {
        bus_inbox_options_init(&defaults);
        opts = &defaults;
    }
    const char *why = invalid_options(opts);
    if (why)
        return bus__fail(-EINVAL, why);
    struct bus_inbox *in = NULL;
    int rc = inbox_new(bus, opts, &in);
    if (rc)
        return rc;
    bus_sub_options_t sub = {.group = opts->group,
                             .filter = opts->filter,
                             .filter_ctx = opts->filter_ctx};
    struct sub_end end = {.fn = inbox_ended, .arg = in};
    rc = topic ? bus__subscribe_bound(topic, bus__inbox_put, in, &sub, &end, &in->sub)
               : bus__subscribe_matching(bus, pattern, bus__inbox_put, in, &sub, &end, &in->sub);
    if (rc) {
        inbox_free(in);
        return rc;
    }
    bus__module_adopt(bus, &in->owned, &inbox_owned_ops);
    *out = in;
    return 0;
}

int bus_inbox_open(bus_topic_t *topic, const bus_inbox_options_t *opts, bus_inbox_t **out)
{
    if (!topic || !out)
        return bus__fail(-EINVAL, "bus_inbox_open: topic or out is NULL");
    return inbox_open(topic->bus, topic, NULL, opts, out);
}

int bus_inbox_open_pattern(bus_t *bus, const char *pattern, const bus_inbox_options_t *opts,
                           bus_inbox_t **out)
{
    if (!bus || !pattern || !out)
        return bus__fail(-EINVAL, "bus_inbox_open_pattern: bus, pattern or out is NULL");
    if (!bus__valid_pattern(pattern))
        return bus__fail(-EINVAL, "bus_inbox_open_pattern: malformed pattern (tokens as in "
                                  "topic names, `*`, or `>` as the last token only)");
    return inbox_open(bus, NULL, pattern, opts, out);
}

int bus_inbox_fd(const bus_inbox_t *inbox)
{
    if (!inbox)
        return bus__fail(-EINVAL, "bus_inbox_fd: inbox is NULL");
    return inbox->efd;
}

int bus_inbox_stats(const bus_inbox_t *inbox, bus_inbox_stats_t *out)
{
    if (!inbox || !out)
        return bus__fail(-EINVAL, "bus_inbox_stats: inbox or out is NULL");
    /* relaxed, all: statistics. */
    *out = (bus_inbox_stats_t){
        .queued = mpmc_size(&inbox->queue),
        .received = atomic_load_explicit(&inbox->received, memory_order_relaxed),
        .taken = atomic_load_explicit(&inbox->taken, memory_order_relaxed),
        .dropped = atomic_load_explicit(&inbox->dropped, memory_order_relaxed),
        .blocked = atomic_load_explicit(&inbox->blocked, memory_order_relaxed),
        .wakeups = atomic_load_explicit(&inbox->wakeups, memory_order_relaxed),
        .capacity = (uint32_t)inbox->queue.capacity,
        .high_water = atomic_load_explicit(&inbox->high_water, memory_order_relaxed),
    };
    return 0;
}

/* After the grace period of a close from a handler: no worker touches the
 * inbox any more. */
static void closed_later(void *arg)
{
    struct bus_inbox *in = arg;
    bus__inbox_drain(in);
    inbox_free(in);
}

int bus_inbox_close(bus_inbox_t *inbox)
{
    if (!inbox)
        return bus__fail(-EINVAL, "bus_inbox_close: inbox is NULL");
    /* Its module's unload, if it stopped it, leaves it to this close. */
    bus__module_disown(inbox->bus, &inbox->owned);
    stop_waiters(inbox);
    if (bus__current_worker_bus()) {
        /* A handler: no waiting. Workers may still be adding events, so
         * the count covers those queued now; the rest go with the inbox. */
        int left = (int)bus__inbox_drain(inbox);
        bus_unsubscribe_async(inbox->sub, closed_later, inbox);
        return left;
    }
    bus_unsubscribe(inbox->sub);
    int left = (int)bus__inbox_drain(inbox);
    inbox_free(inbox);
    return left;
}
