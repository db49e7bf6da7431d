/* waiters.c - events published with on_durable (bus_publish_options_t):
 * the publisher queues its record's seq under the journal's lock and
 * returns; the keeper thread syncs and reports every waiter the sync
 * covered, in seq order, outside the lock (journal.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "journal.h"

int journal_waiter_room(struct journal *j)
{
    if (j->nwaiters < j->waiters_cap)
        return 0;
    size_t cap = j->waiters_cap ? j->waiters_cap * 2 : 256;
    struct journal_waiter *grown = realloc(j->waiters, cap * sizeof(*grown));
    if (!grown)
        return -ENOMEM;
    j->waiters = grown;
    j->waiters_cap = cap;
    return 0;
}

void journal_add_waiter(struct journal *j, uint64_t ticket, uint64_t depth, bus_durable_fn fn,
                        void *arg, journal_synced_fn synced_fn, void *owner)
{
    j->synced_fn = synced_fn;
    j->synced_owner = owner;
    j->waiters[j->nwaiters++] = (struct journal_waiter){j->next_seq - 1, ticket, depth, fn, arg};
}

void journal_poke_keeper(struct journal *j)
{
    /* acq_rel: the keeper's exchange that clears it reads this store (or a
     * later one) before it takes the waiters, so it sees ours; only the
     * publisher that set it wakes the keeper. */
    if (atomic_exchange_explicit(&j->keeper_poked, true, memory_order_acq_rel))
        return;
    pthread_mutex_lock(&j->keeper_lock);
    pthread_cond_signal(&j->keeper_wake);
    pthread_mutex_unlock(&j->keeper_lock);
}

/* What take() hands over: the waiters, and whom to report them to (read
 * under the lock: publishers write it with each waiter). */
struct taken {
    journal_synced_fn fn;
    void *owner;
};

/* Moves up to @max waiters with a seq up to @upto (all with @all) from the
 * head of the queue to @out: how many. */
static size_t take(struct journal *j, uint64_t upto, bool all, struct journal_waiter *out,
                   size_t max, struct taken *to)
{
    pthread_mutex_lock(&j->lock);
    to->fn = j->synced_fn;
    to->owner = j->synced_owner;
    size_t n = 0;
    while (n < j->nwaiters && n < max && (all || j->waiters[n].seq <= upto))
        n++;
    if (n) { /* j->waiters is NULL until the first waiter: memcpy must not see it */
        memcpy(out, j->waiters, n * sizeof(*out));
        memmove(j->waiters, j->waiters + n, (j->nwaiters - n) * sizeof(*out));
        j->nwaiters -= n;
    }
    pthread_mutex_unlock(&j->lock);
    return n;
}

void journal_report_waiters(struct journal *j)
{
    enum { CHUNK = 512 }; /* reported per take: the lock is held for a copy */
    struct journal_waiter batch[CHUNK];
    /* relaxed: the error is read after the sync that set it, which ran on
     * this thread or released sync_lock before this thread's sync_upto
     * returned. */
    int status = atomic_load_explicit(&j->error, memory_order_relaxed);
    /* acquire: pairs with sync_once's release (the same reasoning). */
    uint64_t upto = atomic_load_explicit(&j->synced, memory_order_acquire);
    struct taken to;
    size_t n;
    while ((n = take(j, upto, status != 0, batch, CHUNK, &to)) > 0)
        to.fn(to.owner, batch, n, status);
}
