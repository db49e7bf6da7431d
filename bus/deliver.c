/* deliver.c - calling the subscribers of a batch of events: plain ones,
 * one member per queue group, filters, per-subscription counters, completion
 * callbacks, and dead letters for failed calls. Runs on a worker inside an
 * RCU read-side section (dispatch.c). */
#include <string.h>

#include "clock.h"
#include "counter.h"
#include "internal.h"
#include "slow.h"
#include "timing.h"

/* What one call did; indexes the topic's tally (FILTERED is not counted
 * there). */
enum outcome { SKIPPED, HANDLED, FAILED, FILTERED, OUTCOMES };

/* A parallel topic's per-subscription counters for a run of events, added
 * to the subscriptions once per run (tally_flush) instead of with a locked
 * RMW per event: table entries below TALLY_SUBS; later ones are counted per
 * event. Ordered topics and keyed lanes (bus__deliver_ready) count per event
 * and have no tally (NULL), so that code is compiled out of their path:
 * an ordered topic's counters have one writer and cost a plain load and
 * store, less than the tally (callgrind: +10 instructions per event when
 * they used it). */
enum { TALLY_SUBS = 16 };
struct sub_tally {
    uint32_t n[TALLY_SUBS][3]; /* delivered, handler_errors, filtered */
};
enum { TALLY_DELIVERED, TALLY_ERRORS, TALLY_FILTERED };

/* Counts one call of table entry @entry, in @counter or in the tally. */
static inline void count_call(struct sub_tally *tally, bool shared, uint32_t entry,
                              int which, _Atomic uint64_t *counter)
{
    if (tally && entry < TALLY_SUBS)
        tally->n[entry][which]++;
    else
        counter_add(counter, 1, shared);
}

static void tally_init(struct sub_tally *tally, const struct sub_table *table)
{
    memset(tally->n, 0,
           sizeof(tally->n[0]) * (table->count < TALLY_SUBS ? table->count : TALLY_SUBS));
}

static void tally_flush(const struct sub_tally *tally, const struct sub_table *table)
{
    uint32_t n = table->count < TALLY_SUBS ? table->count : TALLY_SUBS;
    for (uint32_t i = 0; i < n; i++) {
        struct bus_sub *sub = table->entries[i];
        const uint32_t *c = tally->n[i];
        if (c[TALLY_DELIVERED])
            counter_add(&sub->delivered, c[TALLY_DELIVERED], true);
        if (c[TALLY_ERRORS])
            counter_add(&sub->handler_errors, c[TALLY_ERRORS], true);
        if (c[TALLY_FILTERED])
            counter_add(&sub->filtered, c[TALLY_FILTERED], true);
    }
}

/* A timed event's handler calls (timing.h): when the current one started
 * (read after the previous call's bookkeeping, so that only the handler is
 * timed), and what the times are for. */
struct call_clock {
    uint64_t start_ns;
    bool record;       /* into the histograms */
    uint64_t slow_ns;  /* the slow handler threshold; 0 = no check */
};

/* After a timed call of @sub: records it and checks it as asked, then
 * starts the clock for the next call, after that bookkeeping. The check
 * alone reuses the end of this call as the start of the next: one clock
 * read per call. */
static inline void call_timed(struct call_clock *clock, struct bus_topic *topic,
                              struct bus_sub *sub)
{
    uint64_t now = clock_now_ns(), ns = now - clock->start_ns;
    bool bookkept = clock->record;
    if (clock->record)
        bus__timing_call(topic, sub, ns);
    if (clock->slow_ns)
        bookkept |= slow_check(topic, sub, ns, clock->slow_ns);
    clock->start_ns = bookkept ? clock_now_ns() : now;
}

/* Calls table entry @entry's handler, unless it is unsubscribed, paused
 * (slow.h) or its filter rejects the event. @clock: NULL, or the event is
 * timed (call_clock). With the slow handler check on every event is timed,
 * so paused subscriptions are looked for on the timed path only. */
static inline enum outcome call(struct bus_sub *sub, uint32_t entry, const bus_event_t *ev,
                                bool shared, struct sub_tally *tally, struct call_clock *clock)
{
    /* acquire: pairs with the release in unsubscribe, so a call that starts
     * after unsubscribe returned sees the flag. */
    if (atomic_load_explicit(&sub->dead, memory_order_acquire))
        return SKIPPED;
    if (clock && __builtin_expect(slow_paused(sub), 0)) {
        bus__slow_skipped(sub);
        return SKIPPED;
    }
    if (sub->filter && !sub->filter(ev, sub->filter_ctx)) {
        count_call(tally, shared, entry, TALLY_FILTERED, &sub->filtered);
        if (clock)
            clock->start_ns = clock_now_ns(); /* the filter's time is no handler's */
        return FILTERED;
    }
    int rc = sub->fn(ev, sub->ctx);
    if (clock)
        call_timed(clock, ev->topic, sub);
    if (rc == 0) {
        count_call(tally, shared, entry, TALLY_DELIVERED, &sub->delivered);
        return HANDLED;
    }
    count_call(tally, shared, entry, TALLY_ERRORS, &sub->handler_errors);
    bus__call_failed(sub, ev, rc);
    return FAILED;
}

/* Gives the event to one member of a queue group, round robin, passing it on
 * past members that are gone, paused or whose filter rejects it; *@called:
 * the entry of the member that handled it or failed. */
static enum outcome call_group(const struct sub_table *table, struct sub_group *g,
                               const bus_event_t *ev, bool shared, struct sub_tally *tally,
                               struct call_clock *clock, uint32_t *called)
{
    /* relaxed: only spreads events; any interleaving is correct. */
    uint32_t start = shared ? atomic_fetch_add_explicit(&g->cursor, 1, memory_order_relaxed)
                            : atomic_load_explicit(&g->cursor, memory_order_relaxed);
    if (!shared)
        atomic_store_explicit(&g->cursor, start + 1, memory_order_relaxed);
    for (uint32_t i = 0; i < g->count; i++) {
        uint32_t entry = g->first + (start + i) % g->count;
        enum outcome o = call(table->entries[entry], entry, ev, shared, tally, clock);
        if (o == HANDLED || o == FAILED) {
            *called = entry;
            return o;
        }
    }
    return SKIPPED;
}

_Thread_local uint64_t bus__batch_end __attribute__((tls_model("initial-exec")));

/* The event this worker is dispatching, for bus_reply. */
struct dispatching {
    const bus_event_t *ev;
    const struct ring_slot *slot;
};
/* initial-exec: a plain %fs-relative access, not a __tls_get_addr call. */
static _Thread_local struct dispatching dispatching __attribute__((tls_model("initial-exec")));

const struct ring_slot *bus__dispatching_slot(const bus_event_t *ev)
{
    return ev && dispatching.ev == ev ? dispatching.slot : NULL;
}

/* Acknowledged publish: every subscriber has had the event. */
static void complete(const struct ring_slot *slot, const bus_event_t *ev, uint32_t handled,
                     uint32_t failed)
{
    bus_completion_t c = {
        .topic = ev->topic,
        .seq = ev->seq,
        .handled = handled,
        .failed = failed,
        .data = ev->data,
    };
    slot->complete(&c, slot->complete_arg);
}

/* Calls every subscriber once for @ev; adds the outcomes to @topic (the
 * topic's tally, indexed by outcome) and @subs. */
__attribute__((always_inline)) static inline void
call_all(const struct sub_table *table, const bus_event_t *ev, bool shared,
         uint64_t topic[OUTCOMES], struct sub_tally *subs, struct call_clock *clock)
{
    /* Locals: handlers may write memory, so the compiler would reload the
     * table's fields on every iteration. */
    struct bus_sub *const *entries = table->entries;
    uint32_t nplain = table->nplain, ngroups = table->ngroups, called;
    for (uint32_t i = 0; i < nplain; i++)
        topic[call(entries[i], i, ev, shared, subs, clock)]++;
    for (uint32_t i = 0; i < ngroups; i++)
        topic[call_group(table, &table->groups[i], ev, shared, subs, clock, &called)]++;
}

/* A void slot (ring.h: a durable publish whose sync failed) holds no event:
 * counted dropped, no call. Durable topics have no lanes: the slot's ring is
 * ev->topic's. Checked only off the untimed path's common case (flags with
 * SLOT_COMPLETE or SLOT_VOID, and timed events). relaxed: a statistic. */
static bool skip_void(const struct ring_slot *slot, const bus_event_t *ev)
{
    if (!(slot->flags & SLOT_VOID))
        return false;
    atomic_fetch_add_explicit(&ev->topic->dropped, 1, memory_order_relaxed);
    return true;
}

/* An event with a completion: reported with its own counts, and findable by
 * bus_reply (and bus__call_failed, for SLOT_PUBLISHER_REDELIVERS) while its
 * handlers run; its attempt is the publisher's. Or a void slot. */
static void deliver_completed(const struct sub_table *table, const struct ring_slot *slot,
                              const bus_event_t *batch_ev, bool shared, uint64_t topic[OUTCOMES],
                              struct sub_tally *subs, struct call_clock *clock)
{
    if (skip_void(slot, batch_ev))
        return;
    bus_event_t ev = *batch_ev;
    ev.attempt = slot->attempt;
    uint64_t mine[OUTCOMES] = {0};
    /* A handler may dispatch other events nested (help.c): restore the outer
     * event's record afterwards, so that its bus_reply still finds it. */
    struct dispatching outer = dispatching;
    dispatching = (struct dispatching){&ev, slot};
    call_all(table, &ev, shared, mine, subs, clock);
    dispatching = outer;
    complete(slot, &ev, (uint32_t)mine[HANDLED], (uint32_t)mine[FAILED]);
    for (int i = 0; i < OUTCOMES; i++)
        topic[i] += mine[i];
}

/* An event chosen for timing (timing.h), for @timing's TIMING_* bits: its
 * wait in the ring, then its handler calls one by one. Out of line, so that
 * the untimed path carries no timing code. */
__attribute__((noinline)) static void
deliver_timed(const struct sub_table *table, const struct ring_slot *slot, const bus_event_t *ev,
              bool shared, uint64_t topic[OUTCOMES], struct sub_tally *subs, unsigned timing)
{
    if (skip_void(slot, ev))
        return;
    struct call_clock clock = {
        .start_ns = clock_now_ns(),
        .record = timing & TIMING_RECORD,
        .slow_ns = timing & TIMING_SLOW ? ev->topic->bus->cfg.slow_handler_ns : 0,
    };
    if (clock.record)
        bus__timing_wait(ev->topic, ev->publish_ns, clock.start_ns);
    if (slot->flags & SLOT_COMPLETE)
        deliver_completed(table, slot, ev, shared, topic, subs, &clock);
    else
        call_all(table, ev, shared, topic, subs, &clock);
}

/* The slot of @ticket; with @check_ready, NULL while it is not committed. */
__attribute__((always_inline)) static inline const struct ring_slot *
committed_slot(struct bus_topic *t, uint64_t ticket, bool check_ready)
{
    const struct ring_slot *slot = ring_slot(&t->ring, ticket);
    /* acquire: pairs with ring_commit's release; the slot is written. */
    if (check_ready && atomic_load_explicit(&slot->ready, memory_order_acquire) != ticket + 1)
        return NULL;
    return slot;
}

/* The events of a topic being closed with BUS_CLOSE_DROP (its closed
 * table): taken without a handler call and counted as dropped; acknowledged
 * publishers hear -EPIPE. Same bounds and return as deliver_run. */
__attribute__((noinline)) static uint64_t discard(struct bus_topic *t, struct bus_topic *owner,
                                                  uint64_t first, uint64_t max,
                                                  bool check_ready)
{
    uint64_t ticket = first;
    for (; ticket < first + max; ticket++) {
        const struct ring_slot *slot = committed_slot(t, ticket, check_ready);
        if (!slot)
            break;
        if (slot->flags & SLOT_COMPLETE) {
            bus_completion_t c = {.topic = owner, .seq = ticket + 1, .status = -EPIPE,
                                  .data = slot_payload(slot)};
            slot->complete(&c, slot->complete_arg);
        }
    }
    /* relaxed: statistics; the closer reads them after the ring drained
     * (acquire on `released`). */
    if (ticket > first)
        atomic_fetch_add_explicit(&t->dropped, ticket - first, memory_order_relaxed);
    return ticket - first;
}

/* Calls the subscribers for tickets from @first on, at most @max of them;
 * with @check_ready, stops at the first ticket not yet committed (ordered
 * topics check as they go instead of in a pass of their own). Returns how
 * many were delivered. */
__attribute__((always_inline)) static inline uint64_t
deliver_run(struct bus_topic *t, uint64_t first, uint64_t max, bool check_ready, bool tallied)
{
    /* acquire (consume): pairs with the release in subs.c, so the table's
     * contents are visible. The read-side section keeps it alive. */
    struct bus_topic *owner = t->parent ? t->parent : t; /* keyed lanes */
    const struct sub_table *table = atomic_load_explicit(&owner->subs, memory_order_acquire);
    if (__builtin_expect(table->closed, 0))
        return discard(t, owner, first, max, check_ready);
    /* Counters and group cursors that several workers may update at once. */
    bool shared = owner->cfg.flags & (BUS_TOPIC_PARALLEL | BUS_TOPIC_KEYED);
    uint64_t tally[OUTCOMES] = {0};
    struct sub_tally sub_tally, *subs = NULL;
    if (tallied) {
        subs = &sub_tally;
        tally_init(subs, table);
    }
    bus_event_t ev = {.topic = owner, .attempt = 1};
    /* The batch's end, in memory: an in-order retry cuts it short from the
     * failure path (retry.c). Restored for the dispatch this one may be
     * nested in (help.c). */
    uint64_t outer_end = bus__batch_end;
    bus__batch_end = first + max;

    uint64_t ticket = first;
    for (; ticket < bus__batch_end; ticket++) {
        const struct ring_slot *slot = committed_slot(t, ticket, check_ready);
        if (!slot)
            break;
        ev.data = slot_payload(slot);
        ev.size = slot->size;
        ev.seq = ticket + 1;
        ev.publish_ns = slot->publish_ns;
        unsigned timing = timing_due(owner->bus);
        if (timing)
            deliver_timed(table, slot, &ev, shared, tally, subs, timing);
        else if (slot->flags & (SLOT_COMPLETE | SLOT_VOID))
            deliver_completed(table, slot, &ev, shared, tally, subs, NULL);
        else
            call_all(table, &ev, shared, tally, subs, NULL);
    }
    bus__batch_end = outer_end;
    if (tallied)
        tally_flush(subs, table);
    /* relaxed: statistics; bus_flush orders them via `released`. */
    if (tally[HANDLED])
        atomic_fetch_add_explicit(&t->delivered, tally[HANDLED], memory_order_relaxed);
    if (tally[FAILED])
        atomic_fetch_add_explicit(&t->handler_errors, tally[FAILED], memory_order_relaxed);
    return ticket - first;
}

void bus__deliver(struct bus_topic *t, uint64_t first, uint64_t n)
{
    deliver_run(t, first, n, false, true);
}

uint64_t bus__deliver_ready(struct bus_topic *t, uint64_t first, uint64_t max)
{
    return deliver_run(t, first, max, true, false);
}

/* The entry of the plain subscription @id in @table, or UINT32_MAX. */
static uint32_t find_plain(const struct sub_table *table, uint64_t id)
{
    for (uint32_t i = 0; i < table->nplain; i++)
        if (table->entries[i]->id == id)
            return i;
    return UINT32_MAX;
}

/* The queue group called @name in @table, or NULL. */
static struct sub_group *find_group(const struct sub_table *table, const char *name)
{
    for (uint32_t i = 0; i < table->ngroups; i++) {
        struct sub_group *g = &table->groups[i];
        if (strcmp(table->entries[g->first]->group, name) == 0)
            return g;
    }
    return NULL;
}

enum retry_result bus__deliver_retry(struct bus_topic *t, struct retry *r)
{
    struct bus_topic *owner = t->parent ? t->parent : t;
    /* acquire: as in deliver_run. */
    const struct sub_table *table = atomic_load_explicit(&owner->subs, memory_order_acquire);
    if (table->closed)
        return RETRY_DROPPED; /* BUS_CLOSE_DROP */
    bool shared = owner->cfg.flags & (BUS_TOPIC_PARALLEL | BUS_TOPIC_KEYED);
    bus_event_t ev = {.topic = owner, .data = r->data, .size = r->size, .seq = r->seq,
                      .publish_ns = r->publish_ns, .attempt = r->attempt + 1};
    r->attempt++;
    struct retry_scope outer = bus__retry_scope;
    bus__retry_scope = (struct retry_scope){.ev = &ev, .retry = r};
    enum outcome o = SKIPPED;
    uint32_t called = UINT32_MAX;
    if (r->group) {
        struct sub_group *g = find_group(table, r->group);
        if (g)
            o = call_group(table, g, &ev, shared, NULL, NULL, &called);
    } else if ((called = find_plain(table, r->sub_id)) != UINT32_MAX) {
        o = call(table->entries[called], called, &ev, shared, NULL, NULL);
    }
    bool again = bus__retry_scope.again;
    bus__retry_scope = outer;
    if (o != HANDLED && o != FAILED)
        return RETRY_DROPPED; /* gone, paused or filtered: not called */
    /* relaxed: statistics. RMWs: the failure path, maybe on several
     * workers (a parallel topic). */
    atomic_fetch_add_explicit(&table->entries[called]->redelivered, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&t->redelivered, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(o == HANDLED ? &t->delivered : &t->handler_errors, 1,
                              memory_order_relaxed);
    return again ? RETRY_AGAIN : RETRY_DONE;
}
