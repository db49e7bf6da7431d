/*
 * bus/module.h - handler modules: shared objects loaded into a running bus,
 * replaced and unloaded while events flow (Vert.x's verticles, nginx's
 * dynamic modules). docs/servers.md shows a module and its host.
 *
 * A module is a shared object that includes this header and defines
 * bus_module_init() and bus_module_fini() (below). The host loads it with
 * bus_module_load(); the bus tracks on the module's behalf every
 * subscription and inbox the module makes (bus_subscribe(),
 * bus_subscribe_ex(), bus_subscribe_pattern(), bus_inbox_open(),
 * bus_inbox_open_pattern()) on the bus it was loaded into:
 *  - during its bus_module_init(), on the thread that runs it;
 *  - during a call of one of its tracked subscriptions' handlers, on that
 *    worker (so a handler may subscribe more, and those are tracked too;
 *    other handlers that its publish onto a full topic runs nested are not
 *    its code, and what they make is not its). Callbacks of the host that
 *    the bus calls on that thread inside the module's own bus calls (a
 *    watermark callback on its publish, the completion of an event it
 *    published that a full ring dropped) count as the module's code.
 * Not tracked: what its fini makes, what threads of its own make, what its
 * other callbacks make (publish completions, request replies, filters,
 * watermark and slow-handler callbacks), and anything on another bus: the
 * module must undo those itself in its fini. The same for its callbacks
 * other than its tracked subscriptions' handlers and filters: fini must
 * not return while the bus may still call one (a bus_publish_ex()
 * completion or a bus_request() on_reply not called yet, watermarks set
 * with its function, a bus_unsubscribe_async() done pending): wait for
 * them there (bus_flush(), the replies, bus_topic_watermarks(topic, 0, 0,
 * NULL, NULL)), or the bus would call unmapped code.
 * bus_module_unload() removes the tracked subscriptions and closes the
 * tracked inboxes (their events left are dropped), waits until none of the
 * module's handlers runs, calls bus_module_fini() and dlcloses the object:
 * once it returns, no code of the module runs or will run.
 * A tracked handle stays valid for the module until then: it may
 * bus_unsubscribe() it or bus_inbox_close() it (then it is no longer
 * tracked) from its handlers or its fini (where the unload has already
 * stopped it: no event reaches it any more; the call frees it). A thread of
 * the module's own that takes from its inbox must be stopped by fini.
 *
 * Conventions as in bus.h: 0 or a negative errno, bus_last_error() says
 * what went wrong for every error of bus_module_load() and
 * bus_module_reload().
 */
#ifndef BUS_MODULE_H
#define BUS_MODULE_H

#include <bus.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct bus_module bus_module_t; /* opaque, owned by its bus */

/*
 * What a module defines (with default visibility: BUS_MODULE_EXPORT).
 *
 * bus_module_init - called once by bus_module_load() (and by
 * bus_module_reload() for the new version), on the loading thread, with
 * the @config string given to it (NULL allowed; valid during the call only:
 * copy what you keep). Subscribe here; events may reach the handlers before
 * init returns. Store what the handlers and fini need in *@state (NULL
 * initially). Return 0, or an error (a negative errno value, by
 * convention): the load fails with it, the subscriptions made so far are
 * removed, fini is not called (free what init allocated before returning)
 * and the object is closed.
 *
 * bus_module_fini - called once by bus_module_unload() (or by a reload for
 * the old version, or by bus_destroy()) with the state init stored, after
 * the module's tracked subscriptions are removed and none of its handlers
 * runs any more: free the state, stop the module's own threads. It may call
 * bus functions as any thread (bus_unsubscribe() of its own handles
 * included), but not bus_module_*() on this module; under bus_destroy() the
 * bus is shut down (publishing fails with -ESHUTDOWN).
 */
#define BUS_MODULE_EXPORT __attribute__((visibility("default")))
BUS_MODULE_EXPORT int bus_module_init(bus_t *bus, const char *config, void **state);
BUS_MODULE_EXPORT void bus_module_fini(void *state);

/**
 * bus_module_load - load the module at @path into @bus: dlopen(@path,
 * RTLD_NOW | RTLD_LOCAL) (dlopen's search rules for a name without '/'),
 * find bus_module_init and bus_module_fini, and call bus_module_init(@bus,
 * @config, &state), tracking what it subscribes (see above).
 * @config: the module's configuration, copied; NULL allowed.
 * @out: receives the module handle, valid until it is unloaded (or
 *   bus_destroy()); untouched on error.
 * The same @path loaded twice (or reloaded onto itself) is one mapping,
 * as dlopen() makes it: its static variables are shared by both loads.
 * Thread-safety: any thread except a worker (a handler) and a
 * bus_module_list() callback (-EDEADLK: a failed init waits for a grace
 * period).
 * Errors: -EINVAL (NULL bus, path or out), -ESHUTDOWN (bus shut down),
 * -ENOENT (no file at @path: the message holds dlerror()'s text),
 * -ELIBBAD (dlopen() refused it: not a shared object of this machine, an
 * undefined symbol, ...: dlerror()'s text), -ENOEXEC (bus_module_init or
 * bus_module_fini missing: the message names it), -EDEADLK, -ENOMEM, or
 * init's own return value (-ECANCELED if it was not negative): the message
 * says "bus_module_init of PATH failed: RC (text)". On an error nothing the
 * module subscribed is left and the object is closed.
 */
BUS_API int bus_module_load(bus_t *bus, const char *path, const char *config,
                            bus_module_t **out);

/**
 * bus_module_unload - unload @mod: unsubscribe everything it owns, wait
 * until none of its handlers runs (the guarantee of bus_unsubscribe()),
 * call its bus_module_fini(), free what it owned, then dlclose() it and free
 * @mod. When it returns no code of the module runs on any thread or will.
 * It waits for one RCU grace period (more if the module's handlers subscribe
 * while it unloads: those are removed too) and for fini.
 * Thread-safety: any thread except a worker of any bus (a handler, which
 * the wait would include: -EDEADLK, use bus_module_unload_async()), a
 * bus_module_list() callback (-EDEADLK), and a caller holding the topics
 * (bus_hold_begin()). Not concurrently with bus_destroy().
 * Errors: -EINVAL (mod NULL), -EDEADLK (as above; nothing is done), -EBUSY
 * (an unload or reload of @mod is in progress; nothing is done).
 */
BUS_API int bus_module_unload(bus_module_t *mod);

/* Called once an asynchronous unload is complete: the module's code is
 * unmapped, so this must not be a function of the module itself. */
typedef void (*bus_module_unloaded_fn)(void *arg);

/**
 * bus_module_unload_async - bus_module_unload() on a thread of its own, for
 * handlers: returns at once; the unload runs on a new thread (not a worker,
 * not liburcu's call_rcu thread, so fini may call anything that waits),
 * then @done(@arg) is called on that thread (@done may be NULL). A module
 * may unload itself this way from its own handler: the unload waits for
 * that handler call (and every other) to return before fini and dlclose.
 * @done must not be the module's code (it runs after the dlclose), nor
 * anything the module's code would free.
 * bus_destroy() waits for unloads in progress (and their @done) first.
 * Thread-safety: any thread, handlers included.
 * Errors: -EINVAL (mod NULL), -EBUSY (an unload or reload of @mod is in
 * progress: a module's handlers racing to unload it get this, the first
 * one wins), -EAGAIN (no thread could be created), -ENOMEM. On an error
 * nothing is done and @done is never called.
 */
BUS_API int bus_module_unload_async(bus_module_t *mod, bus_module_unloaded_fn done, void *arg);

/**
 * bus_module_reload - replace @mod's code while events flow: load @path
 * (NULL = the path of the version loaded now) and run its init with @mod's
 * config, as bus_module_load(); then wait for one grace period; then
 * unload the old version as bus_module_unload() does. @mod stays the
 * handle, now of the new version.
 * What events see (exact; docs/servers.md): a topic's events are
 * dispatched in batches, each with the subscriptions of the topic as they
 * were when its batch started. Every batch that starts after the new
 * version's bus_subscribe*() returned (in its init) calls the new handler;
 * the old handler is removed only after every batch that started before
 * that has ended (the grace period). So for a topic that both versions
 * subscribe to, with plain subscriptions, every event reaches at least one
 * version: the old one if its batch started before the new subscription,
 * the new one otherwise; events whose batch started between the new
 * subscription and the old one's removal reach both, once each. In the
 * same queue group on both sides, each event reaches exactly one member of
 * the group, of either version. Filters apply as usual. Per topic, ordered
 * topics stay ordered: no batch runs the two versions at once, and the old
 * version sees a prefix of the events, the new one a suffix (overlapping
 * in the events that reach both). Inboxes (and anything a version queues
 * for itself) are not handed over: what the old version did not take is
 * released with it.
 * If the new version fails to load, @mod keeps running the old one, and
 * the error is returned.
 * Thread-safety: as bus_module_unload().
 * Errors: as bus_module_load() for the new version (nothing changed), and
 * -EINVAL (mod NULL), -EDEADLK and -EBUSY as bus_module_unload().
 */
BUS_API int bus_module_reload(bus_module_t *mod, const char *path);

/* One loaded module as bus_module_list() shows it. */
typedef struct bus_module_info {
    bus_module_t *module;
    const char *path;         /* of the version loaded now; owned by the bus */
    const char *config;       /* as given to bus_module_load(); NULL if none */
    uint32_t subscriptions;   /* tracked subscriptions and inboxes it owns now */
    uint32_t reloads;         /* successful bus_module_reload()s */
    uint64_t loaded_ns;       /* CLOCK_REALTIME ns when this version was loaded */
} bus_module_info_t;

/* Called once per module; return 0 to go on, anything else to stop (then
 * bus_module_list() returns it). @info is valid during the call only. */
typedef int (*bus_module_visit_fn)(const bus_module_info_t *info, void *ctx);

/**
 * bus_module_list - call @fn(info, @ctx) for every module loaded into @bus,
 * most recent first, on the calling thread, under the bus's module lock:
 * loads, unloads, and modules' handlers that subscribe wait until it
 * returns, so keep @fn short. @fn may subscribe and unsubscribe, and
 * bus_module_unload_async(); it must not call bus_module_load(),
 * bus_module_unload() or bus_module_reload() (-EDEADLK), nor wait for
 * handlers (bus_flush*(), bus_unsubscribe() outside a handler,
 * bus_topic_close(), bus_request_wait(), bus_shutdown(), bus_destroy()):
 * a module's handler may be waiting for that lock. Allocates nothing.
 * Thread-safety: any thread, handlers included, until bus_destroy().
 * Errors: -EINVAL (NULL argument), or the first non-zero value @fn returned.
 */
BUS_API int bus_module_list(bus_t *bus, bus_module_visit_fn fn, void *ctx);

#ifdef __cplusplus
}
#endif

#endif /* BUS_MODULE_H */
