/* progress.c - waiting for a topic's workers to make progress (room in a
 * full ring, or events handled), for blocked producers and flushers. */
#include "internal.h"

void bus__topic_await(struct bus_topic *t, bool (*ready)(struct bus_topic *, void *),
                      void *arg)
{
    struct backoff wait = BACKOFF_INIT;
    while (!ready(t, arg)) {
        if (backoff_wait(&wait))
            continue;
        /* A long wait: on a parallel topic, the workers on it are stuck or
         * too few; call another before sleeping. */
        bus__topic_recruit(t);
        uint32_t key = evcount_prepare(&t->progress);
        if (ready(t, arg)) {
            evcount_cancel(&t->progress);
            return;
        }
        bus__evcount_wait(&t->progress, key);
    }
}
