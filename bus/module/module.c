/* module.c - loading, unloading and reloading modules (bus/module.h), and
 * the bus's record of them. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "version.h"

void bus__modules_init(struct bus *bus)
{
    struct bus_modules *reg = &bus->modules;
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(&reg->lock, &attr);
    pthread_mutexattr_destroy(&attr);
    pthread_cond_init(&reg->async_done, NULL);
    reg->first = NULL;
    reg->async_pending = 0;
}

/* Who may wait for a grace period and for a module's fini. A worker of any
 * bus is inside a read-side section (liburcu's grace periods are the
 * process's), and a listing holds modules.lock, which unloads take. */
static int check_caller(const char *who)
{
    if (bus__current_worker_bus())
        return bus__failf(-EDEADLK, "%s: called from a handler, which its wait would wait for",
                          who);
    if (bus__module_listing())
        return bus__failf(-EDEADLK, "%s: called from a bus_module_list() callback", who);
    return 0;
}

int bus_module_load(bus_t *bus, const char *path, const char *config, bus_module_t **out)
{
    if (!bus || !path || !out)
        return bus__fail(-EINVAL, "bus_module_load: bus, path or out is NULL");
    int rc = check_caller("bus_module_load");
    if (rc)
        return rc;
    /* relaxed: a load racing with bus_shutdown fails in its init's
     * subscribes instead. */
    if (atomic_load_explicit(&bus->stopping, memory_order_relaxed))
        return bus__fail(-ESHUTDOWN, "bus_module_load: the bus is shut down");
    struct bus_module *m = calloc(1, sizeof(*m));
    if (!m || (config && !(m->config = strdup(config)))) {
        free(m);
        return -ENOMEM;
    }
    m->bus = bus;
    rc = bus__modver_load(bus, path, config, "bus_module_load", &m->live);
    if (rc) {
        free(m->config);
        free(m);
        return rc;
    }
    struct bus_modules *reg = &bus->modules;
    pthread_mutex_lock(&reg->lock);
    m->next = reg->first;
    if (reg->first)
        reg->first->prev = m;
    reg->first = m;
    pthread_mutex_unlock(&reg->lock);
    *out = m;
    return 0;
}

/* Marks @m busy (and unloading); -EBUSY if an unload or reload has it. */
int bus__module_claim(struct bus_module *m, bool unload)
{
    struct bus_modules *reg = &m->bus->modules;
    pthread_mutex_lock(&reg->lock);
    int rc = m->busy ? -EBUSY : 0;
    if (rc == 0) {
        m->busy = true;
        m->unloading = unload;
    }
    pthread_mutex_unlock(&reg->lock);
    return rc;
}

void bus__module_unclaim(struct bus_module *m)
{
    struct bus_modules *reg = &m->bus->modules;
    pthread_mutex_lock(&reg->lock);
    m->busy = m->unloading = false;
    pthread_mutex_unlock(&reg->lock);
}

void bus__module_unload_claimed(struct bus_module *m)
{
    bus__modver_unload(m->live, true);
    struct bus_modules *reg = &m->bus->modules;
    pthread_mutex_lock(&reg->lock);
    if (m->prev)
        m->prev->next = m->next;
    else
        reg->first = m->next;
    if (m->next)
        m->next->prev = m->prev;
    pthread_mutex_unlock(&reg->lock);
    free(m->config);
    free(m);
}

int bus_module_unload(bus_module_t *m)
{
    if (!m)
        return bus__fail(-EINVAL, "bus_module_unload: mod is NULL");
    int rc = check_caller("bus_module_unload");
    if (rc == 0)
        rc = bus__module_claim(m, true);
    if (rc == 0)
        bus__module_unload_claimed(m);
    return rc;
}

int bus_module_reload(bus_module_t *m, const char *path)
{
    if (!m)
        return bus__fail(-EINVAL, "bus_module_reload: mod is NULL");
    int rc = check_caller("bus_module_reload");
    if (rc == 0)
        rc = bus__module_claim(m, false);
    if (rc)
        return rc;
    /* m->live changes only under our claim. */
    struct bus_modver *old = m->live, *next;
    rc = bus__modver_load(m->bus, path ? path : old->path, m->config, "bus_module_reload",
                          &next);
    if (rc) {
        bus__module_unclaim(m);
        return rc;
    }
    /* Every batch that starts from now on sees the new version's
     * subscriptions; the ones that started before end before the old
     * version's are removed, so no event reaches neither (bus/module.h). */
    synchronize_rcu();
    TSAN_ACQUIRE(&bus__rcu_grace);
    struct bus_modules *reg = &m->bus->modules;
    pthread_mutex_lock(&reg->lock);
    m->live = next;
    m->reloads++;
    pthread_mutex_unlock(&reg->lock);
    bus__modver_unload(old, true);
    bus__module_unclaim(m);
    return 0;
}

void bus__modules_destroy(struct bus *bus)
{
    struct bus_modules *reg = &bus->modules;
    pthread_mutex_lock(&reg->lock);
    /* Their threads unlink their modules, then report their `done`. */
    while (reg->async_pending)
        pthread_cond_wait(&reg->async_done, &reg->lock);
    while (reg->first) {
        struct bus_module *m = reg->first;
        m->busy = m->unloading = true;
        pthread_mutex_unlock(&reg->lock);
        bus__module_unload_claimed(m);
        pthread_mutex_lock(&reg->lock);
    }
    pthread_mutex_unlock(&reg->lock);
    pthread_cond_destroy(&reg->async_done);
    pthread_mutex_destroy(&reg->lock);
}
