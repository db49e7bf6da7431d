/* async.c - bus_module_unload_async(): the unload on a thread of its own.
 * Not a worker (it waits for a grace period, which a worker's read-side
 * section would block) and not liburcu's call_rcu thread (fini may wait for
 * grace periods, or for call_rcu callbacks, which would wait for it). */
#include <errno.h>
#include <stdlib.h>

#include "version.h"

struct async_unload {
    struct bus_module *module;
    bus_module_unloaded_fn done;
    void *arg;
};

static void *unload_thread(void *arg)
{
    struct async_unload job = *(struct async_unload *)arg;
    free(arg);
    struct bus *bus = job.module->bus;
    bus__module_unload_claimed(job.module);
    if (job.done)
        job.done(job.arg);
    struct bus_modules *reg = &bus->modules;
    pthread_mutex_lock(&reg->lock);
    if (--reg->async_pending == 0)
        pthread_cond_broadcast(&reg->async_done);
    /* bus_destroy() may free the bus once we unlock: nothing after. */
    pthread_mutex_unlock(&reg->lock);
    return NULL;
}

int bus_module_unload_async(bus_module_t *m, bus_module_unloaded_fn done, void *arg)
{
    if (!m)
        return bus__fail(-EINVAL, "bus_module_unload_async: mod is NULL");
    struct async_unload *job = malloc(sizeof(*job));
    if (!job)
        return -ENOMEM;
    *job = (struct async_unload){m, done, arg};
    int rc = bus__module_claim(m, true);
    if (rc) {
        free(job);
        return rc;
    }
    struct bus_modules *reg = &m->bus->modules;
    pthread_mutex_lock(&reg->lock);
    reg->async_pending++;
    pthread_mutex_unlock(&reg->lock);

    pthread_attr_t attr;
    pthread_t thread;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    rc = pthread_create(&thread, &attr, unload_thread, job);
    pthread_attr_destroy(&attr);
    if (rc == 0) {
        pthread_setname_np(thread, "bus-unload");
        return 0;
    }
    pthread_mutex_lock(&reg->lock);
    reg->async_pending--;
    pthread_mutex_unlock(&reg->lock);
    bus__module_unclaim(m);
    free(job);
    return -EAGAIN;
}
