/* pull.c - an inbox or a pipe_queue behind one interface. */
#include "pull.h"

#include <errno.h>

/* PULL_PIPE_FED's handler, on a worker. */
static void push_from_handler(void *ctx, const void *data, size_t size)
{
    struct pull *q = ctx;
    int rc = pipe_queue_push(&q->pq, data, size);
    int none = 0;
    /* relaxed: read by the taker, which fails the run on it; nothing else
     * is published through it. */
    if (rc)
        atomic_compare_exchange_strong_explicit(&q->push_error, &none, rc,
                                                memory_order_relaxed, memory_order_relaxed);
}

int pull_open(struct pull *q, enum pull_kind kind, const struct fixture *f, void *topic,
              uint32_t capacity)
{
    *q = (struct pull){.kind = kind, .f = f, .fd = -1};
    q->pq.rfd = q->pq.wfd = -1;
    atomic_init(&q->push_error, 0);
    if (kind == PULL_INBOX) {
        int rc = f->ops->inbox_open(f->sys, topic, capacity, &q->inbox);
        q->fd = rc ? -1 : f->ops->inbox_fd(q->inbox);
        return rc ? rc : q->fd < 0 ? q->fd : 0;
    }
    int rc = pipe_queue_init(&q->pq);
    q->fd = q->pq.rfd;
    if (rc == 0 && kind == PULL_PIPE_FED)
        rc = f->ops->subscribe(f->sys, topic, push_from_handler, q, &q->sub);
    return rc;
}

int pull_push(struct pull *q, const void *data, size_t size)
{
    return pipe_queue_push(&q->pq, data, size);
}

int pull_take(struct pull *q, unsigned max, sut_handler_fn fn, void *ctx)
{
    if (q->kind == PULL_INBOX) {
        int n = q->f->ops->inbox_take(q->inbox, 0, max, fn, ctx);
        return n == -EAGAIN ? 0 : n;
    }
    /* relaxed: see push_from_handler. */
    int error = atomic_load_explicit(&q->push_error, memory_order_relaxed);
    return error ? error : (int)pipe_queue_take(&q->pq, fn, ctx);
}

int pull_counts(struct pull *q, struct sut_inbox_counts *out)
{
    if (q->kind == PULL_INBOX)
        return q->f->ops->inbox_counts(q->inbox, out);
    *out = (struct sut_inbox_counts){.wakeups = pipe_queue_wakeups(&q->pq), .blocked = 0};
    return 0;
}

void pull_close(struct pull *q)
{
    if (q->inbox)
        q->f->ops->inbox_close(q->inbox);
    if (q->sub)
        q->f->ops->unsubscribe(q->f->sys, q->sub); /* the handler no longer runs */
    if (q->pq.rfd >= 0)
        pipe_queue_fini(&q->pq);
    q->inbox = q->sub = NULL;
    q->pq.rfd = -1;
}
