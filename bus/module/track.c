/* track.c - which module's code a thread runs, and the resources it owns.
 *
 * `current` is the version whose code the thread runs: set while its init
 * runs (version.c) and while a handler of a subscription it owns runs
 * (module_handler, which such a subscription's fn is), cleared while a
 * handler's publish dispatches other handlers nested (dispatch.c).
 * Resources made meanwhile on the same bus are adopted by it: linked on its
 * `owned` list under the bus's modules.lock, which an unload moves to
 * `stopping` (version.c). */
#include "version.h"

/* initial-exec: a plain %fs-relative access, as deliver.c's. */
static _Thread_local struct bus_modver *current __attribute__((tls_model("initial-exec")));

struct bus_modver *bus__module_current(const struct bus *bus)
{
    return current && current->bus == bus ? current : NULL;
}

struct bus_modver *bus__module_enter(struct bus_modver *v)
{
    struct bus_modver *outer = current;
    current = v;
    return outer;
}

/* A module's subscription's fn; @ctx is the subscription (a pattern's, for
 * its children). */
static int module_handler(const bus_event_t *ev, void *ctx)
{
    const struct bus_sub *sub = ctx;
    /* Nested dispatch (help.c) and a module's handler publishing onto a
     * full topic that runs another module's handler: restore the outer. */
    struct bus_modver *outer = bus__module_enter(sub->module);
    int rc = sub->module_fn(ev, sub->module_ctx);
    bus__module_enter(outer);
    return rc;
}

void bus__module_wrap(struct bus_sub *sub, struct bus_modver *v)
{
    sub->module = v;
    sub->module_fn = sub->fn;
    sub->module_ctx = sub->ctx;
    sub->fn = module_handler;
    sub->ctx = sub;
}

int bus__modver_run_init(struct bus_modver *v, int (*init)(bus_t *, const char *, void **),
                         const char *config)
{
    struct bus_modver *outer = bus__module_enter(v);
    int rc = init(v->bus, config, &v->state);
    bus__module_enter(outer);
    return rc;
}

void bus__modver_run_fini(struct bus_modver *v)
{
    /* No module's: what fini makes is not tracked (by the unload in
     * progress, which is past its stop, nor by a module whose init or
     * handler unloads this one). */
    struct bus_modver *outer = bus__module_enter(NULL);
    v->fini(v->state);
    bus__module_enter(outer);
}

void bus__module_adopt(struct bus *bus, struct bus_owned *o, const struct owned_ops *ops)
{
    struct bus_modver *v = bus__module_current(bus);
    if (!v)
        return;
    o->ops = ops;
    o->stopped = false;
    pthread_mutex_lock(&bus->modules.lock);
    owned_link(&v->owned, o);
    v->nowned++;
    /* relaxed: modules.lock orders it with every writer; the unlocked
     * readers are the resource's own closer (bus__module_disown), which
     * the handle's hand-over from this thread orders. */
    atomic_store_explicit(&o->owner, v, memory_order_relaxed);
    pthread_mutex_unlock(&bus->modules.lock);
}

void bus__module_disown(struct bus *bus, struct bus_owned *o)
{
    /* relaxed: see bus__module_adopt; a resource never becomes owned after
     * it was handed out, so NULL here stays NULL. */
    if (!atomic_load_explicit(&o->owner, memory_order_relaxed))
        return;
    pthread_mutex_lock(&bus->modules.lock);
    /* relaxed: under the lock. */
    struct bus_modver *v = atomic_load_explicit(&o->owner, memory_order_relaxed);
    if (v) {
        if (!o->stopped)
            v->nowned--;
        owned_unlink(o);
        atomic_store_explicit(&o->owner, NULL, memory_order_relaxed);
    }
    pthread_mutex_unlock(&bus->modules.lock);
}
