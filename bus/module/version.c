/* version.c - one version of a module: dlopen and init, and the unload
 * that makes sure none of its code runs before it is dlclosed:
 *  1. stop: every resource it owns (moved to `stopping`): no new call of
 *     its handlers starts;
 *  2. one grace period: the calls in progress (each inside a worker's
 *     read-side section) have returned; steps 1-2 repeat while its handlers
 *     made new resources meanwhile;
 *  3. fini;
 *  4. release (free) what it owned: after fini, so that fini may still
 *     bus_unsubscribe() its handles (that call disowns the handle, its stop
 *     step does nothing the second time, and it frees the handle itself);
 *  5. dlclose.
 * A topic close frees the subscriptions in its table itself: it disowns
 * them first, under modules.lock (subs.c), so an unload never touches one
 * a close has freed. */
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "version.h"

typedef int (*init_fn)(bus_t *, const char *, void **);

static uint64_t realtime_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A shared object's symbol as a function pointer (POSIX allows the cast). */
static void *symbol(void *dl, const char *name)
{
    dlerror();
    return dlsym(dl, name);
}

/* dlopen's failure: a missing file, or another refusal. */
static int open_failed(const char *who, const char *path)
{
    const char *why = dlerror();
    int err = strchr(path, '/') && access(path, F_OK) != 0 ? -ENOENT : -ELIBBAD;
    return bus__failf(err, "%s: cannot load %s: %s", who, path, why ? why : "dlopen failed");
}

static void free_version(struct bus_modver *v)
{
    free(v->path);
    free(v);
}

int bus__modver_load(struct bus *bus, const char *path, const char *config, const char *who,
                     struct bus_modver **out)
{
    struct bus_modver *v = calloc(1, sizeof(*v));
    if (!v || !(v->path = strdup(path))) {
        free(v);
        return -ENOMEM;
    }
    v->bus = bus;
    owned_list_init(&v->owned);
    owned_list_init(&v->stopping);
    v->dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!v->dl) {
        free_version(v);
        return open_failed(who, path);
    }
    init_fn init;
    const char *missing = "bus_module_init";
    *(void **)&init = symbol(v->dl, "bus_module_init");
    if (init) {
        missing = "bus_module_fini";
        *(void **)&v->fini = symbol(v->dl, "bus_module_fini");
    }
    if (!init || !v->fini) {
        int rc = bus__failf(-ENOEXEC, "%s: %s is not a bus module: %s not found", who, path,
                            missing);
        dlclose(v->dl);
        free_version(v);
        return rc;
    }
    v->loaded_ns = realtime_ns();
    int rc = bus__modver_run_init(v, init, config);
    if (rc) {
        int err = rc < 0 ? rc : -ECANCELED;
        bus__modver_unload(v, false);
        return bus__failf(err, "%s: bus_module_init of %s failed: %d (%s)", who, path, rc,
                          bus_strerror(rc));
    }
    *out = v;
    return 0;
}

/* Steps 1-2: until a pass finds nothing new, stop what @v owns and wait for
 * a grace period. At least one: a handler that unsubscribed its own handle
 * from a handler (no wait) may still be running. */
static void stop_all(struct bus_modver *v)
{
    struct bus_modules *reg = &v->bus->modules;
    pthread_mutex_lock(&reg->lock);
    do {
        while (!owned_list_empty(&v->owned)) {
            struct bus_owned *o = v->owned.next;
            owned_unlink(o);
            v->nowned--;
            o->ops->stop(o);
            o->stopped = true;
            owned_link(&v->stopping, o);
        }
        pthread_mutex_unlock(&reg->lock);
        synchronize_rcu();
        TSAN_ACQUIRE(&bus__rcu_grace);
        pthread_mutex_lock(&reg->lock);
    } while (!owned_list_empty(&v->owned));
    pthread_mutex_unlock(&reg->lock);
}

/* Step 4: what is still on `stopping` (fini and closes took theirs). */
static void release_all(struct bus_modver *v)
{
    struct bus_modules *reg = &v->bus->modules;
    pthread_mutex_lock(&reg->lock);
    while (!owned_list_empty(&v->stopping)) {
        struct bus_owned *o = v->stopping.next;
        owned_unlink(o);
        /* relaxed: under the lock (owned.h). */
        atomic_store_explicit(&o->owner, NULL, memory_order_relaxed);
        o->ops->release(o);
    }
    pthread_mutex_unlock(&reg->lock);
}

void bus__modver_unload(struct bus_modver *v, bool fini)
{
    stop_all(v);
    if (fini)
        bus__modver_run_fini(v);
    release_all(v);
    dlclose(v->dl);
    free_version(v);
}
