/* introspect.c - what a bus holds: its topics, their subscriptions, and who
 * would receive an event on a name (as NATS's /subsz?test=). Snapshots, for
 * monitoring and debugging; nothing here is on the event path. */
#include <string.h>

#include "internal.h"

/* Counts @t's current subscriptions; @t must stay allocated (a read-side
 * section, a pin, or registry_lock). */
static void count_subs(struct bus_topic *t, bus_topic_subs_t *out)
{
    memset(out, 0, sizeof(*out));
    rcu_read_lock();
    /* acquire: pairs with the release in subs.c; the section keeps the
     * table alive. */
    const struct sub_table *table = atomic_load_explicit(&t->subs, memory_order_acquire);
    out->plain = table->nplain;
    out->grouped = table->count - table->nplain;
    out->groups = table->ngroups;
    for (uint32_t i = 0; i < table->count; i++)
        out->from_patterns += table->entries[i]->pattern_child;
    bus__read_unlock();
}

int bus_topic_subs(const bus_topic_t *topic, bus_topic_subs_t *out)
{
    if (!topic || !out || topic->parent)
        return -EINVAL;
    count_subs((struct bus_topic *)topic, out);
    return 0;
}

struct visit {
    bus_topic_visit_fn fn;
    void *ctx;
};

/* Visits in progress on this thread: bus_topic_close() refuses to run
 * inside one (bus__in_topics_visit). */
static _Thread_local unsigned visiting;

bool bus__in_topics_visit(void)
{
    return visiting != 0;
}

static int visit(struct bus_topic *t, void *arg)
{
    struct visit *v = arg;
    bus_topic_info_t info = {.topic = t, .name = t->name, .cfg = t->cfg};
    bus_topic_stats(t, &info.stats);
    count_subs(t, &info.subs);
    visiting++;
    int rc = v->fn(&info, v->ctx);
    visiting--;
    return rc;
}

int bus_topics_foreach(bus_t *bus, bus_topic_visit_fn fn, void *ctx)
{
    if (!bus || !fn)
        return -EINVAL;
    /* Pinned one at a time, so that fn runs without the registry lock (it
     * may open topics or subscribe) while its topic stays allocated. */
    struct visit v = {fn, ctx};
    return bus__topics_walk(bus, false, visit, &v);
}

int bus_subscriptions_matching(bus_t *bus, const char *name, bus_match_t *out)
{
    if (!bus || !name || !out || !bus__valid_topic_name(name))
        return -EINVAL;
    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&bus->registry_lock);
    struct bus_topic *t = bus__topic_lookup(bus, name);
    if (t) {
        bus_topic_subs_t subs;
        count_subs(t, &subs);
        out->topic_exists = true;
        out->direct = subs.plain + subs.grouped - subs.from_patterns;
    }
    out->patterns = bus__patterns_matching(bus, name);
    pthread_mutex_unlock(&bus->registry_lock);
    return 0;
}
