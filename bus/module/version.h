/* version.h - a module and its loaded versions (bus/module/). */
#ifndef BUS_MODULE_VERSION_H
#define BUS_MODULE_VERSION_H

#include "../internal.h"
#include "bus/module.h"

/* One loaded version of a module: its shared object, its state, and what
 * it owns. Lists are circular, with the fields below as heads; under the
 * bus's modules.lock. */
struct bus_modver {
    struct bus *bus;
    void *dl;
    void *state;
    void (*fini)(void *state);
    char *path;
    uint64_t loaded_ns;        /* CLOCK_REALTIME */
    struct bus_owned owned;    /* live resources */
    struct bus_owned stopping; /* stopped by the unload in progress */
    uint32_t nowned;           /* on `owned` */
};

/* The handle the host holds: the live version, replaced by a reload. */
struct bus_module {
    struct bus *bus;
    char *config;
    struct bus_modver *live; /* under modules.lock */
    uint32_t reloads;
    /* Under modules.lock: an unload or reload runs, and another one is
     * refused; an unload runs (bus_module_list() skips it, bus_destroy()
     * leaves it to its thread). */
    bool busy, unloading;
    struct bus_module *prev, *next; /* bus->modules.first */
};

/* The circular lists of struct bus_owned (owned.h), heads included. */
static inline void owned_list_init(struct bus_owned *head)
{
    head->prev = head->next = head;
}

static inline bool owned_list_empty(const struct bus_owned *head)
{
    return head->next == head;
}

static inline void owned_link(struct bus_owned *head, struct bus_owned *o)
{
    o->prev = head;
    o->next = head->next;
    head->next->prev = o;
    head->next = o;
}

static inline void owned_unlink(struct bus_owned *o)
{
    o->prev->next = o->next;
    o->next->prev = o->prev;
    o->prev = o->next = NULL;
}

/* dlopen @path, find its symbols and run its init with @config: 0 and
 * *@out, or a negative errno with bus_last_error() set (@who names the
 * public call). A failed init leaves nothing it owned. */
int bus__modver_load(struct bus *bus, const char *path, const char *config, const char *who,
                     struct bus_modver **out);

/* Removes what @v owns, waits for its handlers, runs its fini (if @fini),
 * frees what it owned, dlcloses it and frees @v. Not from a worker. */
void bus__modver_unload(struct bus_modver *v, bool fini);

/* Runs @fn with the calling thread's current module set to @v (NULL: none),
 * so that what it makes is owned by @v (track.c). */
int bus__modver_run_init(struct bus_modver *v, int (*init)(bus_t *, const char *, void **),
                         const char *config);
void bus__modver_run_fini(struct bus_modver *v);

/* Claims @m for an unload (@unload) or a reload: 0, or -EBUSY if one has
 * it already; unclaim gives it back. */
int bus__module_claim(struct bus_module *m, bool unload);
void bus__module_unclaim(struct bus_module *m);

/* Unloads @m, claimed for it (busy and unloading), and frees it. */
void bus__module_unload_claimed(struct bus_module *m);

/* True while the calling thread runs a bus_module_list() callback (list.c). */
bool bus__module_listing(void);

#endif /* BUS_MODULE_VERSION_H */
