/* topic.c - opening, closing and describing durable topics (bus/journal.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../lasterr.h"
#include "consumer.h"
#include "durable.h"
#include "journal.h"

static const char *journal_config_problem(const bus_journal_config_t *j)
{
    if (!j->dir)
        return "bus_topic_open_durable: jcfg->dir is NULL";
    if (j->sync < BUS_SYNC_NONE || j->sync > BUS_SYNC_ALWAYS)
        return "bus_topic_open_durable: sync is not a BUS_SYNC_* value";
    if (j->segment_bytes < 4096)
        return "bus_topic_open_durable: segment_bytes is under 4 KiB";
    if (j->sync == BUS_SYNC_INTERVAL && j->sync_interval_ms == 0)
        return "bus_topic_open_durable: sync_interval_ms is 0";
    return NULL;
}

uint64_t bus__durable_next_seq(const struct durable *d)
{
    return d->journal->next_seq; /* before the topic is shared */
}

int bus_topic_open_durable(bus_t *bus, const char *name, const bus_topic_config_t *cfg,
                           const bus_journal_config_t *jcfg, bus_topic_t **out)
{
    if (!bus || !name || !jcfg || !out)
        return bus__fail(-EINVAL, "bus_topic_open_durable: bus, name, jcfg or out is NULL");
    const char *problem = journal_config_problem(jcfg);
    if (problem)
        return bus__fail(-EINVAL, problem);
    bus_topic_config_t defaults;
    if (!cfg) {
        bus_topic_config_init(&defaults);
        cfg = &defaults;
    }
    if (cfg->flags & BUS_TOPIC_KEYED)
        return bus__fail(-EINVAL, "bus_topic_open_durable: BUS_TOPIC_KEYED (seqs per lane)");
    struct durable *d = calloc(1, sizeof(*d));
    if (!d)
        return -ENOMEM;
    pthread_mutex_init(&d->consumers_lock, NULL);
    int rc = journal_open(jcfg, &d->journal);
    if (rc == 0)
        rc = bus__topic_open_new(bus, name, cfg, d, out);
    if (rc)
        bus__durable_free(d);
    return rc;
}

void bus__durable_close(struct bus_topic *t)
{
    bus__durable_stop(t, NULL);
    journal_shut(t->durable->journal);
}

void bus__durable_free(struct durable *d)
{
    bus__consumers_free(d);
    if (d->journal)
        journal_close(d->journal);
    pthread_mutex_destroy(&d->consumers_lock);
    free(d);
}

int bus_journal_stats(const bus_topic_t *topic, bus_journal_stats_t *out)
{
    if (!topic || !out || !topic->durable)
        return bus__fail(-EINVAL, "bus_journal_stats: NULL argument, or not a durable topic");
    journal_stats(topic->durable->journal, out);
    return 0;
}
