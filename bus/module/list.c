/* list.c - bus_module_list(): the loaded modules, under modules.lock. */
#include <errno.h>

#include "version.h"

static _Thread_local bool listing;

bool bus__module_listing(void)
{
    return listing;
}

int bus_module_list(bus_t *bus, bus_module_visit_fn fn, void *ctx)
{
    if (!bus || !fn)
        return bus__fail(-EINVAL, "bus_module_list: bus or fn is NULL");
    struct bus_modules *reg = &bus->modules;
    pthread_mutex_lock(&reg->lock);
    bool outer = listing;
    listing = true;
    int rc = 0;
    for (struct bus_module *m = reg->first; m && rc == 0; m = m->next) {
        if (m->unloading)
            continue;
        bus_module_info_t info = {
            .module = m,
            .path = m->live->path,
            .config = m->config,
            .subscriptions = m->live->nowned,
            .reloads = m->reloads,
            .loaded_ns = m->live->loaded_ns,
        };
        rc = fn(&info, ctx);
    }
    listing = outer;
    pthread_mutex_unlock(&reg->lock);
    return rc;
}
