/* subs.c - subscribing and unsubscribing while events flow (RCU).
 *
 * A topic's subscribers are an immutable table. A change copies the table
 * under subs_lock, publishes the copy with a release store, and frees the old
 * one after an RCU grace period, when no worker can still be reading it.
 * Workers read the table inside an RCU read-side section (dispatch.c). */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "tsan.h"

static struct sub_table *table_alloc(uint32_t count)
{
    struct sub_table *table = malloc(sizeof(*table) + count * sizeof(table->subs[0]));
    if (table)
        table->count = count;
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

int bus_subscribe(bus_topic_t *t, bus_handler_fn fn, void *ctx, bus_sub_t **out)
{
    if (!t || !fn || !out)
        return -EINVAL;
    struct bus_sub *sub = calloc(1, sizeof(*sub));
    if (!sub)
        return -ENOMEM;
    sub->fn = fn;
    sub->ctx = ctx;
    sub->topic = t;

    int rc = 0;
    pthread_mutex_lock(&t->subs_lock);
    /* relaxed: bus_destroy sets stopping before it takes subs_lock to free
     * the subscriptions, so under the lock we see it. */
    if (atomic_load_explicit(&t->bus->stopping, memory_order_relaxed)) {
        rc = -ESHUTDOWN;
    } else {
        const struct sub_table *old = atomic_load_explicit(&t->subs, memory_order_relaxed);
        struct sub_table *table = table_alloc(old->count + 1);
        if (!table) {
            rc = -ENOMEM;
        } else {
            memcpy(table->subs, old->subs, old->count * sizeof(old->subs[0]));
            table->subs[old->count] = sub;
            table_replace(t, table);
        }
    }
    pthread_mutex_unlock(&t->subs_lock);
    if (rc) {
        free(sub);
        return rc;
    }
    *out = sub;
    return 0;
}

/* Takes @sub out of its topic's table and marks it dead: no new call of its
 * handler starts after this returns. Returns false if there was no memory
 * for the smaller table: the old table stays, the dead flag keeps the handler
 * from being called, and the entry is freed with its topic. An unsubscribe is
 * never lost to an allocation failure. */
static bool detach(struct bus_sub *sub)
{
    struct bus_topic *t = sub->topic;
    pthread_mutex_lock(&t->subs_lock);
    const struct sub_table *old = atomic_load_explicit(&t->subs, memory_order_relaxed);
    struct sub_table *table = table_alloc(old->count - 1);
    if (table) {
        uint32_t n = 0;
        for (uint32_t i = 0; i < old->count; i++)
            if (old->subs[i] != sub)
                table->subs[n++] = old->subs[i];
        table_replace(t, table);
    }
    /* release: pairs with the acquire load in dispatch.c's deliver. */
    atomic_store_explicit(&sub->dead, true, memory_order_release);
    pthread_mutex_unlock(&t->subs_lock);
    return table != NULL;
}

/* After a grace period: no call of the handler runs or will start. */
static void retire_rcu(struct rcu_head *head)
{
    deferred_start(head);
    struct bus_sub *sub = caa_container_of(head, struct bus_sub, rcu);
    bool detached = sub->detached;
    if (sub->done)
        sub->done(sub->done_arg);
    if (detached)
        free(sub);
}

int bus_unsubscribe_async(bus_sub_t *sub, bus_unsubscribed_fn done, void *arg)
{
    if (!sub)
        return -EINVAL;
    sub->done = done;
    sub->done_arg = arg;
    sub->detached = detach(sub);
    defer(&sub->rcu, retire_rcu);
    return 0;
}

int bus_unsubscribe(bus_sub_t *sub)
{
    if (!sub)
        return -EINVAL;
    /* A handler runs inside a read-side section: waiting for a grace period
     * there would wait for itself. */
    if (bus__current_worker_bus())
        return bus_unsubscribe_async(sub, NULL, NULL);
    bool detached = detach(sub);
    synchronize_rcu();
    TSAN_ACQUIRE(&bus__rcu_grace);
    if (detached)
        free(sub);
    return 0;
}

void bus__subs_free(struct bus_topic *t)
{
    struct sub_table *table = atomic_load_explicit(&t->subs, memory_order_relaxed);
    for (uint32_t i = 0; i < table->count; i++)
        free(table->subs[i]);
    free(table);
}
