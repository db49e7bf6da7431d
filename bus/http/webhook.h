/* webhook.h - webhooks: endpoints that get each event of matching topics
 * POSTed, signed (Standard Webhooks), retried on a schedule, then
 * dead-lettered (docs/gateway.md, "Webhooks").
 *
 * One lock guards the registry: the endpoints, their queues and counters.
 * Bus workers take it to queue an event (webhook.c), HTTP threads to
 * create, list and delete (webhook_api.c), and the sender thread to start
 * and finish attempts (webhook_send.c), which alone touches libcurl. */
#ifndef BUS_HTTP_WEBHOOK_H
#define BUS_HTTP_WEBHOOK_H

#include <curl/curl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "bus.h"
#include "config.h"
#include "host_allow.h"
#include "sign.h"
#include "strbuf.h"

#define WEBHOOK_ID_MAX 64
#define WEBHOOK_DEAD_KEEP 16 /* dead letters kept per endpoint, the newest */
#define WEBHOOK_ERROR_MAX 160
#define WEBHOOK_DELIVERY_ID_MAX (WEBHOOK_ID_MAX + 48)

/* One event on its way to one endpoint: in its queue from the bus handler
 * until it succeeds or is given up. */
struct delivery {
    struct delivery *prev, *next;
    struct webhook *hook;
    char id[WEBHOOK_DELIVERY_ID_MAX]; /* webhook-id, the same on every retry and
                                     after a restart: "msg_<hook>_<msg_no>", or
                                     from a durable topic "msg_<hook>_<topic
                                     hash>_<seq>" (webhook_durable.c) */
    uint64_t msg_no;              /* its key in the state_dir's log */
    bool durable;                 /* from a durable consumer */
    bool replayed;                /* durable, read back from the log at the start */
    char *topic;
    uint64_t seq;
    uint64_t publish_ns;
    uint32_t attempts;            /* made so far */
    uint64_t due_ns;              /* next attempt, CLOCK_MONOTONIC */
    bool in_flight;
    CURL *easy;                   /* while in flight */
    struct curl_slist *headers;
    char *refused;                /* in flight: an address it may not connect to */
    size_t len;
    unsigned char body[];
};

/* A delivery given up, as the endpoint's dead letters show it. */
struct dead_letter {
    char id[WEBHOOK_DELIVERY_ID_MAX];
    char topic[256];
    uint64_t seq;
    uint32_t attempts;
    char error[WEBHOOK_ERROR_MAX];
};

struct webhook {
    struct webhook *next;
    struct webhooks *all;
    char id[WEBHOOK_ID_MAX];
    char *pattern, *url;
    unsigned char key[SECRET_MAX];
    size_t klen;
    bool ordered;           /* one attempt at a time, in queue order */
    bool declared;          /* in the config file, not in the state_dir */
    uint32_t max_in_flight;
    bus_sub_t *sub;         /* its pattern: events of topics not durable */
    /* Its durable consumers, one per declared durable topic it matches
     * (webhook_durable.c); set before the first event can come. */
    struct hook_durable *durable;
    size_t ndurable;
    uint32_t replayed;      /* its queued deliveries that are replayed: a
                               redelivered event may be one of them */
    /* Its queue: every delivery not yet done, in arrival order. */
    struct delivery *head, *tail;
    uint32_t pending, in_flight;
    uint64_t next_msg;
    uint64_t delivered, failed, failed_attempts;
    char last_error[WEBHOOK_ERROR_MAX];
    uint64_t failing_since_ns; /* first failure since the last success; 0 = none */
    bool disabled;             /* failing for disable_after_s, or answered 410 */
    bool listed;               /* in the live list: gets events */
    bool gone;                 /* deleted: freed once nothing is in flight */
    struct dead_letter dead[WEBHOOK_DEAD_KEEP];
    uint64_t dead_total;
};

struct webhooks {
    bus_t *bus;
    const struct webhooks_cfg *cfg;
    struct host_allow allow; /* read-only once started */
    const struct gw_config *gw_cfg; /* its declared durable topics */
    pthread_mutex_t lock;
    struct webhook *list;  /* live endpoints */
    struct webhook *graves; /* deleted, attempts still in flight */
    CURLM *multi;
    pthread_t sender;
    bool stop;             /* under lock */
    unsigned rand_state;   /* the sender's jitter */
    /* The state_dir (webhook_store.c); dir NULL: in memory only. */
    char *dir;
    int log_fd;
    uint64_t log_bytes, log_errors;
    bool loading;
};

/* webhook.c: the registry. */
int webhooks_start(struct webhooks **out, bus_t *bus, const struct gw_config *cfg,
                   char *why, size_t why_size);
/* Unsubscribes every endpoint, stops the sender; pending deliveries are
 * dropped from memory (the state_dir's log keeps them). */
void webhooks_stop(struct webhooks *w);

/* What is wrong with a definition, as a 400's code and message; NULL code
 * when it is fine. */
struct webhook_problem {
    const char *code, *msg;
};
/* Checks and adds an endpoint. @id NULL: a new one is made. @secret NULL:
 * one is generated, and written to @secret_out (at least 96 bytes).
 * 0, -EINVAL (with @problem), -EEXIST (@id taken), -ENOMEM, or an error
 * of bus_subscribe_pattern(). */
int webhook_add(struct webhooks *w, const struct webhook_cfg *def,
                struct webhook_problem *problem, char *id_out, char *secret_out);
/* Frees an endpoint no list and no delivery in flight holds (a failed
 * add's, or a deleted one's, from the graves). */
void webhook_free(struct webhook *h);
/* -ENOENT when no endpoint has @id. */
int webhook_delete(struct webhooks *w, const char *id);
/* A disabled endpoint gets events and attempts again, its failing clock
 * started over (counts, last error and dead letters stay); an endpoint
 * that is not disabled is left as it is. 0, or -ENOENT. */
int webhook_enable(struct webhooks *w, const char *id);
/* One endpoint (or all, @id NULL) as JSON into @b; -ENOENT, -ENOMEM. */
int webhook_render(struct webhooks *w, const char *id, struct strbuf *b);
/* Each endpoint's delivered count, {"ID":N,...}, into @b (the dashboard's
 * history). */
void webhook_render_delivered(struct webhooks *w, struct strbuf *b);

/* Queues @ev for @h (a bus handler's work): 0 queued (or, @durable, queued
 * already); -ECANCELED refused for good (not @durable: disabled, full or no
 * memory; counted as failed); -EAGAIN (@durable) refused for now: disabled,
 * full, no memory or not written to the state_dir's log, the journal keeps
 * it; -EPIPE @h is not listed (being added or retired). Takes the lock. */
int webhook_queue(struct webhook *h, const bus_event_t *ev, bool durable);

/* webhook_durable.c: webhooks of durable topics, fed by a durable consumer
 * per webhook and topic, which acknowledges an event once its delivery is
 * queued and in the state_dir's log.
 * hook_durable_plan: finds the durable topics @h's pattern matches, before
 * its pattern subscription (their events are not its): 0 or -ENOMEM.
 * hook_durable_attach: subscribes @h's consumers (from the events after
 * the plan when @newest, a webhook just created; else from their stored
 * positions); 0 or an error of bus_subscribe_durable().
 * hook_durable_detach: unsubscribes them (their positions stored), and
 * deletes their positions when @forget (a webhook deleted).
 * hook_durable_covers: whether @h gets @topic's events from a consumer
 * (then its pattern subscription passes them over).
 * hook_durable_id: a durable delivery's webhook-id into @out. */
int hook_durable_plan(struct webhooks *w, struct webhook *h);
int hook_durable_attach(struct webhook *h, bool newest);
void hook_durable_detach(struct webhook *h, bool forget);
bool hook_durable_covers(const struct webhook *h, const bus_topic_t *topic);
void hook_durable_id(const struct webhook *h, const char *topic, uint64_t seq,
                     char out[WEBHOOK_DELIVERY_ID_MAX]);

/* webhook_send.c: the sender thread. */
void *webhook_sender_main(void *arg);
/* Links @d at the end of its webhook's queue (under the lock). */
void delivery_append(struct delivery *d);
/* Frees a delivery that is not in flight, unlinking it from its queue;
 * delivery_finish also logs it as done (it will not be sent again after a
 * restart). */
void delivery_drop(struct delivery *d);
void delivery_finish(struct delivery *d);
/* A delivery given up: counted as failed, kept among the dead letters. */
void delivery_bury(struct delivery *d, const char *why);

/* webhook_store.c: the state_dir. All but store_open and store_close are
 * called under the lock. */
int store_open(struct webhooks *w, const char *dir, char *why, size_t why_size);
void store_close(struct webhooks *w);
int store_save_definitions(struct webhooks *w);
/* 0 once the delivery's line is written (survives a kill), else -EIO (no
 * state_dir: 0, nothing written). */
int store_queued(struct webhooks *w, const struct delivery *d);
void store_done(struct webhooks *w, const struct delivery *d);
void store_maybe_reset(struct webhooks *w);

#endif /* BUS_HTTP_WEBHOOK_H */
