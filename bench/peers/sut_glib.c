/* sut_glib.c - GLib: a GThreadPool of W exclusive threads, fed through its
 * GAsyncQueue by g_thread_pool_push(), one malloc'd copy per event. */
#include <errno.h>
#include <glib.h>
#include <stdlib.h>

#include "queue_peer.h"

struct glib_queue {
    GThreadPool *pool;
};

static struct glib_queue *queue_of(struct queue_peer *p)
{
    return (struct glib_queue *)p->queue_state;
}

static void run_event(gpointer msg, gpointer peer)
{
    queue_peer_handle_msg(peer, msg);
}

static int glib_init(struct queue_peer *p, const struct sut_config *cfg)
{
    GError *err = NULL;
    queue_of(p)->pool = g_thread_pool_new(run_event, p, (gint)cfg->workers, TRUE, &err);
    if (!queue_of(p)->pool) {
        g_clear_error(&err);
        return -ENOMEM;
    }
    return 0;
}

static void glib_fini(struct queue_peer *p)
{
    (void)p; /* the pool went in glib_stop */
}

static int glib_push(struct queue_peer *p, struct reg_topic *t, const void *data, size_t size)
{
    struct peer_msg *m = peer_msg_new(t, data, size);
    if (!m)
        return -ENOMEM;
    GError *err = NULL;
    if (!g_thread_pool_push(queue_of(p)->pool, m, &err)) {
        g_clear_error(&err);
        free(m);
        return -EAGAIN;
    }
    return 0;
}

static void glib_stop(struct queue_peer *p)
{
    /* immediate FALSE, wait TRUE: runs what is queued, then joins. */
    g_thread_pool_free(queue_of(p)->pool, FALSE, TRUE);
    queue_of(p)->pool = NULL;
}

static const struct queue_ops glib_queue_ops = {
    .state_size = sizeof(struct glib_queue),
    .init = glib_init,
    .fini = glib_fini,
    .push = glib_push,
    .serve = NULL, /* GThreadPool runs its own threads */
    .stop = glib_stop,
};

static int glib_create(const struct sut_config *cfg, void **sys)
{
    return queue_peer_create(&glib_queue_ops, cfg, sys);
}

const struct sut_ops sut_glib_ops =
    QUEUE_PEER_OPS("glib", "GLib GThreadPool (GAsyncQueue inside), malloc per event",
                   SUT_CAN_CHURN | SUT_CAN_FORWARD, 0, glib_create);
