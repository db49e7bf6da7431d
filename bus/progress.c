/* progress.c - waiting for a topic's workers to make progress (room in a
 * full ring, or events handled), for blocked producers and flushers. */
#include "clock.h"
#include "internal.h"

bool bus__topic_await_until(struct bus_topic *t, bool (*ready)(struct bus_topic *, void *),
                            void *arg, uint64_t deadline_ns)
{
    struct backoff wait = BACKOFF_INIT;
    while (!ready(t, arg)) {
        /* No clock read when there is no deadline. */
        if (deadline_ns != CLOCK_NEVER && clock_now_ns() >= deadline_ns)
            return false;
        if (backoff_wait(&wait))
            continue;
        /* A long wait: on a parallel topic, the workers on it are stuck or
         * too few; call another before sleeping. */
        bus__topic_recruit(t);
        uint32_t key = evcount_prepare(&t->progress);
        if (ready(t, arg)) {
            evcount_cancel(&t->progress);
            return true;
        }
        bus__evcount_wait_until(&t->progress, key, deadline_ns);
    }
    return true;
}

void bus__topic_await(struct bus_topic *t, bool (*ready)(struct bus_topic *, void *),
                      void *arg)
{
    bus__topic_await_until(t, ready, arg, CLOCK_NEVER);
}
