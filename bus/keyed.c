/* keyed.c - keyed topics: per-key order, parallel across keys.
 *
 * A keyed topic owns ordered lanes, hidden topics of the bus that are
 * scheduled like any ordered topic (one worker at a time) but dispatch to
 * the keyed topic's subscriptions. An event's key picks its lane, so events
 * with the same key keep their publish order while the lanes of different
 * keys run on different workers. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

enum { MAX_LANES = 16 };

uint32_t bus__keyed_lane_count(const bus_topic_config_t *cfg)
{
    if (!(cfg->flags & BUS_TOPIC_KEYED))
        return 0;
    uint32_t lanes = cfg->capacity / 2; /* each lane holds at least 2 events */
    return lanes < MAX_LANES ? lanes : MAX_LANES;
}

int bus__keyed_lanes_new(struct bus_topic *t)
{
    uint32_t n = bus__keyed_lane_count(&t->cfg);
    bus_topic_config_t lane_cfg = t->cfg;
    lane_cfg.capacity = t->cfg.capacity / n;
    lane_cfg.flags &= ~(unsigned)BUS_TOPIC_KEYED;
    t->lanes = calloc(n, sizeof(*t->lanes));
    if (!t->lanes)
        return -ENOMEM;
    for (; t->nlanes < n; t->nlanes++) {
        struct bus_topic *lane;
        int rc = bus__topic_new(t->bus, t->name, strlen(t->name), &lane_cfg, &lane);
        if (rc)
            return rc; /* the caller frees the lanes made so far */
        lane->parent = t;
        t->lanes[t->nlanes] = lane;
    }
    return 0;
}

void bus__keyed_lanes_free(struct bus_topic *t)
{
    for (uint32_t i = 0; i < t->nlanes; i++)
        bus__topic_free(t->lanes[i]);
    t->nlanes = 0;
}

/* splitmix64's finalizer: spreads neighbouring keys over the lanes. */
static uint64_t mix(uint64_t key)
{
    key = (key ^ (key >> 30)) * 0xbf58476d1ce4e5b9u;
    key = (key ^ (key >> 27)) * 0x94d049bb133111ebu;
    return key ^ (key >> 31);
}

int bus_publish_keyed(bus_topic_t *t, uint64_t key, const void *data, size_t size)
{
    if (t && t->nlanes)
        t = t->lanes[mix(key) & (t->nlanes - 1)];
    return bus_publish(t, data, size);
}
/* mix(0) == 0: bus_publish() on a keyed topic uses lane 0, the lane of key 0. */
