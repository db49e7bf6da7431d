/* retry.h - redelivery of failed handler calls (bus_sub_options_t.max_deliver).
 *
 * A failed call that has tries left becomes a retry: a record holding a
 * copy of the event (its ring slot is freed as usual), armed on the bus's
 * timer thread for the backoff delay. When it fires, the timer pushes it
 * onto its ring's ready stack and queues the ring like a publisher would;
 * the worker that dispatches the ring runs the ready retries before its
 * next batch. So a delay holds no worker, and the success path pays one
 * load per batch (is anything ready?) and nothing per event.
 *
 * Every record of a ring is on its live list (retry_lock) from its creation
 * until it is resolved (succeeded, dead-lettered, dropped), so that
 * unsubscribe and close can cancel the armed ones and flush and close can
 * wait for them. A record names its subscription by id (or its queue group
 * by name) and finds it in the table when it runs, so it never keeps a
 * subscription alive. In-order retries (redeliver_in_order) also hold
 * their ring: while retry_holds is not 0, the ring's events stay undelivered.
 *
 * Scheduling (dispatch.c's protocol): the timer pushes the record, issues a
 * seq_cst fence and queues the ring (bus__topic_schedule); a worker handing
 * the ring back stores `scheduled` 0 (seq_cst), then loads the ready stack
 * and retry_holds (seq_cst). One sees the other, as for a publisher's
 * commit: no ready retry is left without a worker, and a held ring is not
 * queued again and again while it waits. */
#ifndef BUS_RETRY_H
#define BUS_RETRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "timer.h"

struct bus_topic;
struct bus_sub;

struct retry {
    struct timer_entry timer;
    struct retry *next;                   /* on the ready stack */
    struct retry *live_prev, *live_next;  /* on the live list (retry_lock) */
    struct bus_topic *ring;  /* the topic, or keyed lane, it came from */
    uint64_t sub_id;         /* a plain subscription's id; 0 for a group */
    const char *group;       /* a queue group's name (in this record), or NULL */
    bool in_order;           /* holds its ring until resolved */
    bool armed;              /* in the timer's hands (retry_lock) */
    uint32_t attempt;        /* deliveries made so far */
    uint64_t seq, publish_ns, size;
    unsigned char data[];    /* the payload, then the group's name */
};

/* The retry a worker runs, for its failed call: set around the call only
 * (ring events pay nothing), saved and restored as dispatches nest (help.c).
 * A failure whose event is not @ev is a ring event's, nested in the retry's
 * handler. The ring is the worker's top dispatch frame (help.h). */
struct retry_scope {
    const bus_event_t *ev;
    struct retry *retry;
    bool again; /* the retry's call failed and armed it again */
};
extern _Thread_local struct retry_scope bus__retry_scope
    __attribute__((tls_model("initial-exec")));

/* The ticket after the last one of the batch the worker delivers now
 * (deliver.c): an in-order retry sets it to the failed event's successor,
 * which ends the batch there. */
extern _Thread_local uint64_t bus__batch_end __attribute__((tls_model("initial-exec")));

/* A handler call of @sub failed with @rc for @ev: tries again later, or
 * dead-letters the event (a subscription without redelivery: at once). */
void bus__call_failed(struct bus_sub *sub, const bus_event_t *ev, int rc);
/* The delay before redelivery number @n (1 = the first) of @sub's events:
 * backoff_ns[n - 1], the last entry repeating; 0 without a schedule. Also
 * the schedule of durable consumers (journal/consumer.c), which retry on
 * their own thread. */
uint64_t bus__retry_backoff(const struct bus_sub *sub, uint32_t n);

/* Runs @t's ready retries (the caller dispatches @t, in a read-side
 * section); returns how many. */
uint64_t bus__retries_run(struct bus_topic *t);
/* True while an in-order retry holds @t. */
bool bus__retries_hold(struct bus_topic *t);
/* After `scheduled` went to 0: whether @t must be queued again for its
 * retries, given whether its ring has a committed event (seq_cst loads). */
bool bus__retries_want_worker(struct bus_topic *t, bool ring_ready);

/* True while @t has a retry of an event with seq <= @upto (flush), or any
 * retry at all with @upto UINT64_MAX. */
bool bus__retries_pending(struct bus_topic *t, uint64_t upto);
/* Unsubscribe: drops @sub's armed retries on its topic (counted). */
void bus__retries_forget(const struct bus_sub *sub);
/* bus_topic_close(BUS_CLOSE_DROP): drops @t's armed retries (counted); the
 * others are dropped by the worker that runs them. */
void bus__retries_drop(struct bus_topic *t);

/* What became of a retry run (bus__deliver_retry). */
enum retry_result {
    RETRY_DONE,    /* its call returned 0, or it failed for the last time */
    RETRY_AGAIN,   /* its call failed and armed it again: hands off */
    RETRY_DROPPED  /* nobody to call: subscription gone, group empty, closed */
};
/* A retry's delivery (deliver.c): calls its subscription, or a member of
 * its group, in the table of now, as attempt r->attempt + 1. */
enum retry_result bus__deliver_retry(struct bus_topic *t, struct retry *r);

#endif
