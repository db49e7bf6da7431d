/* subs.c - subscribing and unsubscribing while events flow (RCU).
 *
 * A topic's subscribers are an immutable table. A change copies the table
 * under subs_lock, publishes the copy with a release store, and frees the old
 * one after an RCU grace period, when no worker can still be reading it.
 * Workers read the table inside an RCU read-side section (dispatch.c). */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "journal/durable.h"
#include "tsan.h"

static bool same_group(const struct bus_sub *a, const struct bus_sub *b)
{
    return a->group && b->group && strcmp(a->group, b->group) == 0;
}

/* Builds the table for the subscriptions of @old, without @skip, plus @add
 * (each may be NULL): plain ones first, in order, then each group's members
 * together. Returns NULL without memory. */
static struct sub_table *table_build(const struct sub_table *old, const struct bus_sub *skip,
                                     struct bus_sub *add)
{
    uint32_t n = 0;
    struct bus_sub **all = malloc((old->count + 1) * sizeof(*all));
    if (!all)
        return NULL;
    for (uint32_t i = 0; i < old->count; i++)
        if (old->entries[i] != skip)
            all[n++] = old->entries[i];
    if (add)
        all[n++] = add;

    struct sub_table *table = malloc(sizeof(*table) + n * sizeof(table->entries[0]) +
                                     n * sizeof(struct sub_group));
    if (!table) {
        free(all);
        return NULL;
    }
    table->closed = false;
    table->count = n;
    table->groups = (struct sub_group *)&table->entries[n];
    table->ngroups = 0;
    uint32_t placed = 0;
    for (uint32_t i = 0; i < n; i++)
        if (!all[i]->group)
            table->entries[placed++] = all[i];
    table->nplain = placed;
    for (uint32_t i = 0; i < n; i++) {
        if (!all[i]->group)
            continue;
        bool seen = false;
        for (uint32_t j = 0; j < i && !seen; j++)
            seen = same_group(all[j], all[i]);
        if (seen)
            continue;
        struct sub_group *g = &table->groups[table->ngroups++];
        g->first = placed;
        atomic_init(&g->cursor, 0);
        for (uint32_t j = i; j < n; j++)
            if (same_group(all[j], all[i]))
                table->entries[placed++] = all[j];
        g->count = placed - g->first;
    }
    free(all);
    return table;
}

/* call_rcu, with the orderings TSan cannot see in liburcu made explicit:
 * the caller's writes before the callback, and readers' sections before it. */
static void defer(struct rcu_head *head, void (*fn)(struct rcu_head *))
{
    TSAN_RELEASE(head);
    call_rcu(head, fn);
}

static void deferred_start(struct rcu_head *head)
{
    TSAN_ACQUIRE(head);
    TSAN_ACQUIRE(&bus__rcu_grace);
}

static void table_free_rcu(struct rcu_head *head)
{
    deferred_start(head);
    free(caa_container_of(head, struct sub_table, rcu));
}

/* Installs @table in place of the current one, whose memory is reclaimed
 * after a grace period. Called with subs_lock held. */
static void table_replace(struct bus_topic *t, struct sub_table *table)
{
    /* relaxed: subs_lock orders writers among themselves. */
    struct sub_table *old = atomic_load_explicit(&t->subs, memory_order_relaxed);
    /* release: the table's contents are visible to a worker that loads the
     * pointer (acquire in dispatch.c). */
    atomic_store_explicit(&t->subs, table, memory_order_release);
    defer(&old->rcu, table_free_rcu);
}

void bus_sub_options_init(bus_sub_options_t *opts)
{
    if (opts)
        memset(opts, 0, sizeof(*opts));
}

/* Subscription ids for retries (retry.h), from 1. relaxed: only unique. */
static _Atomic uint64_t last_id;

/* Copies the redelivery options; false without memory. */
static bool copy_redelivery(struct bus_sub *sub, const bus_sub_options_t *opts)
{
    sub->max_deliver = opts->max_deliver;
    sub->in_order = opts->redeliver_in_order;
    if (!opts->backoff_count)
        return true;
    sub->backoff_ns = malloc(opts->backoff_count * sizeof(*sub->backoff_ns));
    if (!sub->backoff_ns)
        return false;
    memcpy(sub->backoff_ns, opts->backoff_ns, opts->backoff_count * sizeof(*sub->backoff_ns));
    sub->backoff_count = opts->backoff_count;
    return true;
}

struct bus_sub *bus__sub_new(struct bus_topic *t, bus_handler_fn fn, void *ctx,
                             const bus_sub_options_t *opts)
{
    struct bus_sub *sub = calloc(1, sizeof(*sub));
    if (!sub)
        return NULL;
    sub->fn = fn;
    sub->ctx = ctx;
    sub->topic = t;
    sub->handle = sub;
    sub->id = atomic_fetch_add_explicit(&last_id, 1, memory_order_relaxed) + 1;
    if (opts) {
        sub->pause_after = opts->pause_after;
        sub->filter = opts->filter;
        sub->filter_ctx = opts->filter_ctx;
        if ((opts->group && !(sub->group = strdup(opts->group))) ||
            !copy_redelivery(sub, opts)) {
            bus__sub_free(sub);
            return NULL;
        }
    }
    return sub;
}

void bus__sub_options_of(const struct bus_sub *sub, bus_sub_options_t *opts)
{
    bus_sub_options_init(opts);
    opts->group = sub->group;
    opts->filter = sub->filter;
    opts->filter_ctx = sub->filter_ctx;
    opts->pause_after = sub->pause_after;
    opts->max_deliver = sub->max_deliver;
    opts->backoff_ns = sub->backoff_ns;
    opts->backoff_count = sub->backoff_count;
    opts->redeliver_in_order = sub->in_order;
}

void bus__sub_free(struct bus_sub *sub)
{
    /* relaxed: nobody else touches the subscription any more. */
    bus__hist_free(atomic_load_explicit(&sub->call_time, memory_order_relaxed));
    free(sub->backoff_ns);
    free(sub->group);
    free(sub);
}

int bus__sub_attach(struct bus_sub *sub)
{
    struct bus_topic *t = sub->topic;
    int rc = 0;
    pthread_mutex_lock(&t->subs_lock);
    /* relaxed: bus_shutdown sets stopping before it takes subs_lock, so
     * under the lock we see it. */
    if (atomic_load_explicit(&t->bus->stopping, memory_order_relaxed)) {
        rc = -ESHUTDOWN;
    } else if (atomic_load_explicit(&t->closed, memory_order_relaxed) ||
               atomic_load_explicit(&t->subs, memory_order_relaxed)->closed) {
        /* relaxed: a subscribe racing with the start of a close may go either
         * way (the closer frees what is in the table); once the closer owns
         * the table (subs_lock orders that) it must not change. */
        rc = -EPIPE;
    } else {
        /* relaxed: subs_lock orders writers of the table pointer. */
        struct sub_table *table =
            table_build(atomic_load_explicit(&t->subs, memory_order_relaxed), NULL, sub);
        if (table)
            table_replace(t, table);
        else
            rc = -ENOMEM;
    }
    pthread_mutex_unlock(&t->subs_lock);
    return rc;
}

bool bus__valid_group(const bus_sub_options_t *opts)
{
    return !opts || !opts->group ||
           (opts->group[0] != '\0' && strnlen(opts->group, 256) <= 255);
}

bool bus__valid_pause(const struct bus *bus, const bus_sub_options_t *opts)
{
    return !opts || !opts->pause_after || bus->cfg.slow_handler_ns;
}

/* Attaches a module's @sub and makes it the module's, both under
 * modules.lock: a close that takes the topic's table with @sub in it
 * (under subs_lock, after the attach) then finds it owned when it disowns
 * the table's subscriptions (under modules.lock), so the module's list
 * never keeps one the close frees. */
static int attach_owned(struct bus_sub *sub)
{
    struct bus *bus = sub->topic->bus;
    pthread_mutex_lock(&bus->modules.lock);
    int rc = bus__sub_attach(sub);
    if (rc == 0)
        bus__module_adopt(bus, &sub->owned, &bus__sub_owned_ops);
    pthread_mutex_unlock(&bus->modules.lock);
    return rc;
}

/* A delay this long cannot overflow the clock's deadline within a
 * process's life (146 years). */
#define MAX_BACKOFF_NS (UINT64_C(1) << 62)

const char *bus__invalid_redelivery(const bus_sub_options_t *opts)
{
    if (!opts || !opts->backoff_count)
        return NULL;
    if (!opts->backoff_ns)
        return "bus_subscribe: backoff_ns is NULL with a backoff_count";
    if (opts->max_deliver < 2 || opts->backoff_count > opts->max_deliver - 1)
        return "bus_subscribe: backoff_count is over max_deliver - 1 (the redeliveries)";
    for (uint32_t i = 0; i < opts->backoff_count; i++)
        if (opts->backoff_ns[i] > MAX_BACKOFF_NS)
            return "bus_subscribe: a backoff_ns entry is over 2^62 ns";
    return NULL;
}

int bus_subscribe_ex(bus_topic_t *t, bus_handler_fn fn, void *ctx,
                     const bus_sub_options_t *opts, bus_sub_t **out)
{
    if (!t || !fn || !out)
        return bus__fail(-EINVAL, "bus_subscribe: topic, fn or out is NULL");
    if (!bus__valid_group(opts))
        return bus__fail(-EINVAL, "bus_subscribe_ex: group is \"\" or over 255 bytes");
    if (!bus__valid_pause(t->bus, opts))
        return bus__fail(-EINVAL, "bus_subscribe_ex: pause_after without slow_handler_ns");
    const char *why = bus__invalid_redelivery(opts);
    if (why)
        return bus__fail(-EINVAL, why);
    struct bus_sub *sub = bus__sub_new(t, fn, ctx, opts);
    if (!sub)
        return -ENOMEM;
    /* Owned by the module whose code runs, if any (module/owned.h). */
    struct bus_modver *module = bus__module_current(t->bus);
    if (module)
        bus__module_wrap(sub, module);
    int rc = module ? attach_owned(sub) : bus__sub_attach(sub);
    if (rc) {
        bus__sub_free(sub);
        return rc;
    }
    *out = sub;
    return 0;
}

int bus_subscribe(bus_topic_t *t, bus_handler_fn fn, void *ctx, bus_sub_t **out)
{
    return bus_subscribe_ex(t, fn, ctx, NULL, out);
}

void bus__sub_each(const struct bus_sub *sub, void (*fn)(const struct bus_sub *one, void *arg),
                   void *arg)
{
    if (sub->pattern)
        bus__pattern_each_child(sub, fn, arg);
    else
        fn(sub, arg);
}

static void add_stats(const struct bus_sub *sub, void *arg)
{
    bus_sub_stats_t *out = arg;
    /* relaxed: statistics, a near snapshot. */
    out->delivered += atomic_load_explicit(&sub->delivered, memory_order_relaxed);
    out->handler_errors += atomic_load_explicit(&sub->handler_errors, memory_order_relaxed);
    out->filtered += atomic_load_explicit(&sub->filtered, memory_order_relaxed);
    out->retries += atomic_load_explicit(&sub->retries, memory_order_relaxed);
    out->redelivered += atomic_load_explicit(&sub->redelivered, memory_order_relaxed);
    out->dead_lettered += atomic_load_explicit(&sub->dead_lettered, memory_order_relaxed);
}

int bus_sub_stats(const bus_sub_t *sub, bus_sub_stats_t *out)
{
    if (!sub || !out)
        return -EINVAL;
    memset(out, 0, sizeof(*out));
    bus__sub_each(sub, add_stats, out);
    return 0;
}

/* Takes @sub out of its topic's table and marks it dead: no new call of its
 * handler starts after this returns. Returns false if there was no memory
 * for the smaller table: the old table stays, the dead flag keeps the handler
 * from being called, and the entry is freed with its topic. An unsubscribe is
 * never lost to an allocation failure. */
bool bus__sub_detach(struct bus_sub *sub)
{
    struct bus_topic *t = sub->topic;
    pthread_mutex_lock(&t->subs_lock);
    /* relaxed: subs_lock orders writers of the table pointer. */
    struct sub_table *current = atomic_load_explicit(&t->subs, memory_order_relaxed);
    /* A closing topic's closer owns the old table and frees @sub with it. */
    struct sub_table *table = current->closed ? NULL : table_build(current, sub, NULL);
    if (table)
        table_replace(t, table);
    /* release: pairs with the acquire load in dispatch.c's deliver. */
    atomic_store_explicit(&sub->dead, true, memory_order_release);
    pthread_mutex_unlock(&t->subs_lock);
    return table != NULL;
}

/* Stops every call of the subscription from starting: a topic subscription
 * leaves its table, a pattern subscription leaves the bus and its topics.
 * Once: a module's unload may have stopped it before its fini unsubscribes
 * it (module/owned.h orders the two). */
void bus__sub_stop(struct bus_sub *sub)
{
    if (sub->stopped)
        return;
    sub->stopped = true;
    if (sub->pattern) {
        bus__pattern_detach(sub);
    } else {
        sub->detached = bus__sub_detach(sub);
        bus__retries_forget(sub);
    }
}

/* After a grace period: no call of the handler runs or will start. */
void bus__sub_release(struct bus_sub *sub)
{
    if (sub->pattern)
        bus__pattern_free(sub);
    else if (sub->detached)
        bus__sub_free(sub);
}

/* A module's unload removes the subscriptions it owns in two steps
 * (module/version.c). */
static void owned_stop(struct bus_owned *o)
{
    bus__sub_stop(caa_container_of(o, struct bus_sub, owned));
}

static void owned_release(struct bus_owned *o)
{
    bus__sub_release(caa_container_of(o, struct bus_sub, owned));
}

const struct owned_ops bus__sub_owned_ops = {owned_stop, owned_release};

static struct bus *bus_of(const struct bus_sub *sub)
{
    return sub->pattern ? bus__pattern_bus(sub) : sub->topic->bus;
}

/* The unsubscribe's first step: not its module's any more, and stopped. */
static void stop_owned(struct bus_sub *sub)
{
    bus__module_disown(bus_of(sub), &sub->owned);
    bus__sub_stop(sub);
}

void bus__subs_disown(struct bus *bus, const struct sub_table *table)
{
    for (uint32_t i = 0; i < table->count; i++)
        if (!table->entries[i]->pattern_child)
            bus__module_disown(bus, &table->entries[i]->owned);
}

static void retire_rcu(struct rcu_head *head)
{
    deferred_start(head);
    struct bus_sub *sub = caa_container_of(head, struct bus_sub, rcu);
    bus_unsubscribed_fn done = sub->done;
    void *arg = sub->done_arg;
    bus__sub_release(sub);
    if (done)
        done(arg);
}

void bus__sub_retire(struct bus_sub *sub)
{
    sub->done = NULL;
    defer(&sub->rcu, retire_rcu);
}

int bus_unsubscribe_async(bus_sub_t *sub, bus_unsubscribed_fn done, void *arg)
{
    if (!sub)
        return -EINVAL;
    if (sub->consumer) {
        int rc = bus__consumer_unsubscribe(sub);
        if (done)
            done(arg);
        return rc;
    }
    sub->done = done;
    sub->done_arg = arg;
    stop_owned(sub);
    defer(&sub->rcu, retire_rcu);
    return 0;
}

int bus_unsubscribe(bus_sub_t *sub)
{
    if (!sub)
        return -EINVAL;
    if (sub->consumer)
        return bus__consumer_unsubscribe(sub);
    /* A handler runs inside a read-side section: waiting for a grace period
     * there would wait for itself. */
    if (bus__current_worker_bus())
        return bus_unsubscribe_async(sub, NULL, NULL);
    stop_owned(sub);
    synchronize_rcu();
    TSAN_ACQUIRE(&bus__rcu_grace);
    bus__sub_release(sub);
    return 0;
}

struct sub_table bus__closed_table = {.closed = true};

struct sub_table *bus__subs_close(struct bus_topic *t)
{
    pthread_mutex_lock(&t->subs_lock);
    /* relaxed: subs_lock orders writers of the table pointer. */
    struct sub_table *old = atomic_load_explicit(&t->subs, memory_order_relaxed);
    /* release: as table_replace (the closed table never changes). The old
     * table is not deferred: the closer frees it and its entries after its
     * own grace period. */
    atomic_store_explicit(&t->subs, &bus__closed_table, memory_order_release);
    pthread_mutex_unlock(&t->subs_lock);
    return old;
}

void bus__subs_free(struct bus_topic *t)
{
    /* relaxed: bus_destroy, after the workers were joined. */
    struct sub_table *table = atomic_load_explicit(&t->subs, memory_order_relaxed);
    for (uint32_t i = 0; i < table->count; i++)
        bus__sub_free(table->entries[i]);
    free(table);
}
