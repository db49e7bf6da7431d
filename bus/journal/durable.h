/* durable.h - what makes a topic durable: its journal and its durable
 * consumers, hung off struct bus_topic (internal.h). */
#ifndef BUS_JOURNAL_DURABLE_H
#define BUS_JOURNAL_DURABLE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "../internal.h"

struct journal;
struct consumer;

struct durable {
    struct journal *journal;
    /* The durable consumers (consumer.c), under consumers_lock. */
    pthread_mutex_t consumers_lock;
    struct consumer *consumers;
};

/* The seq the journal gives its next event. */
uint64_t bus__durable_next_seq(const struct durable *d);

/* bus_publish*() on a durable topic (publish.c): @count events, @opts for a
 * single one; same returns as bus_publish_batch(). */
int bus__durable_publish(struct bus_topic *t, const bus_msg_t *msgs, size_t count,
                         const bus_publish_options_t *opts, size_t *accepted);

/* Stops @t's durable consumers, storing their positions (consumer.c):
 * topic close and bus shutdown. Returns 0 (a bus__topics_walk callback). */
int bus__durable_stop(struct bus_topic *t, void *unused);
/* True on the thread of a durable consumer of @bus: bus_topic_close(),
 * bus_shutdown() and bus_destroy() would join it from itself. */
bool bus__durable_on_thread(const struct bus *bus);
/* bus_unsubscribe() of a durable consumer. */
int bus__consumer_unsubscribe(struct bus_sub *sub);
/* Closes the journal's files (sync unless BUS_SYNC_NONE, flock dropped):
 * after the topic's close drained it. Late publishers get -EPIPE. */
void bus__durable_close(struct bus_topic *t);
/* Frees what is left, with the topic. */
void bus__durable_free(struct durable *d);

#endif
