/* owned.h - what a handler module owns (its subscriptions, and any other
 * resource whose code is the module's, such as an inbox), so that unloading
 * it can remove them before its code is unmapped (docs/servers.md).
 *
 * A resource is owned when it is made by a thread that runs the module's
 * code: its bus_module_init(), or a handler of a subscription it owns
 * (track.c keeps that in a thread-local). The owner is a loaded version of
 * the module (struct bus_modver): a reload makes a new one.
 *
 * To be tracked, a resource embeds a struct bus_owned and
 *  - calls bus__module_adopt() once it is made and live (after the call that
 *    made it succeeded, before it returns the handle); if something else may
 *    free it meanwhile (a topic close frees the subscriptions in its table),
 *    makes it live and adopts it under modules.lock, and that other freer
 *    disowns it under modules.lock too (subs.c);
 *  - calls bus__module_disown() first thing when its user closes it, then
 *    closes it as usual, with a stop step that does nothing the second time:
 *    an unload may have stopped it already (its module's fini closing it).
 *    The unload then leaves it to that close.
 * Every list below is under the bus's modules.lock. */
#ifndef BUS_MODULE_OWNED_H
#define BUS_MODULE_OWNED_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "bus.h"

struct bus;
struct bus_sub;
struct bus_modver;
struct bus_owned;

/* How an unload removes one kind of resource. */
struct owned_ops {
    /* No new call of the module's code (handler, filter) through it starts
     * once this returns, and no worker waits on it; it must not wait for a
     * grace period, and does nothing when the resource is stopped already
     * (see bus__module_disown). Called with
     * the bus's modules.lock held: it may take topic and registry locks,
     * never modules.lock. */
    void (*stop)(struct bus_owned *o);
    /* One grace period after stop, and after the module's fini: frees it,
     * or leaves it to whoever else frees it (a closed topic's table).
     * Called with modules.lock held. */
    void (*release)(struct bus_owned *o);
};

struct bus_owned {
    /* The version that owns it, NULL once disowned; written under
     * modules.lock, read without it by bus__module_disown's fast path. */
    struct bus_modver *_Atomic owner;
    const struct owned_ops *ops;
    /* On the owner's `owned` list, or on its `stopping` list during an
     * unload (stopped true). */
    struct bus_owned *prev, *next;
    bool stopped;
};

/* Subscription handles' (subs.c). */
extern const struct owned_ops bus__sub_owned_ops;

/* The bus's modules (module.c). The lock is recursive: a bus_module_list()
 * callback may subscribe or unsubscribe (which adopt and disown). */
struct bus_modules {
    pthread_mutex_t lock;
    pthread_cond_t async_done;   /* signalled when async_pending falls */
    struct bus_module *first;    /* loaded modules */
    uint32_t async_pending;      /* bus_module_unload_async() threads running */
};

/* The module version whose code the calling thread runs (its init, or a
 * handler of a subscription it owns) if that module is loaded into @bus,
 * else NULL. */
struct bus_modver *bus__module_current(const struct bus *bus);

/* Makes @v (NULL: none) the module whose code the calling thread runs, and
 * returns the one it replaces, to be restored. */
struct bus_modver *bus__module_enter(struct bus_modver *v);

/* Makes @o owned by bus__module_current(@bus), if any; does nothing else. */
void bus__module_adopt(struct bus *bus, struct bus_owned *o, const struct owned_ops *ops);

/* Takes @o off its owner's lists, if it is owned (one relaxed load when
 * not). */
void bus__module_disown(struct bus *bus, struct bus_owned *o);

/* Makes @sub's handler run as @v's code, before it is attached: its calls go
 * through bus__module_handler, which sets the thread's current module around
 * the module's handler, so that what the handler makes is owned by @v.
 * Dispatch does not know: it calls fn(ev, ctx) as for any subscription. */
void bus__module_wrap(struct bus_sub *sub, struct bus_modver *v);

/* The bus's side (bus.c): set up, and at bus_destroy, once the workers are
 * joined, wait for asynchronous unloads and unload every module left. */
void bus__modules_init(struct bus *bus);
void bus__modules_destroy(struct bus *bus);

#endif /* BUS_MODULE_OWNED_H */
