/* test_module.c - handler modules: load, unload, reload and self-unload
 * while events flow; errors; what a module owns. The modules are
 * tests/modules/ (PROBE_A and PROBE_B: two versions of probe_module.c). */
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>

#include "modules/probe.h"

static bus_module_t *load(bus_t *bus, const char *path, const char *topic, struct probe *p,
                          const char *flags)
{
    char config[256];
    probe_config(config, sizeof(config), topic, p, flags);
    bus_module_t *m = NULL;
    ck_assert_ok(bus_module_load(bus, path, config, &m));
    p->module = m;
    return m;
}

static bus_topic_t *topic(bus_t *bus, const char *name)
{
    bus_topic_t *t;
    ck_assert_ok(bus_topic_open(bus, name, NULL, &t));
    return t;
}

static uint32_t plain_subs(bus_t *bus, const char *name)
{
    bus_topic_subs_t subs;
    ck_assert_ok(bus_topic_subs(topic(bus, name), &subs));
    return subs.plain + subs.grouped;
}

static void publish(bus_t *bus, const char *name, const char *text)
{
    ck_assert_ok(bus_publish(topic(bus, name), text, strlen(text)));
}

/* What bus_module_list() shows, for a bus with at most one module. */
struct listing {
    int modules;
    bus_module_info_t info;
    char path[256], config[256];
};

static int record_module(const bus_module_info_t *info, void *ctx)
{
    struct listing *l = ctx;
    l->modules++;
    l->info = *info;
    snprintf(l->path, sizeof(l->path), "%s", info->path);
    snprintf(l->config, sizeof(l->config), "%s", info->config ? info->config : "");
    return 0;
}

static struct listing list(bus_t *bus)
{
    struct listing l = {0};
    ck_assert_ok(bus_module_list(bus, record_module, &l));
    return l;
}

START_TEST(load_tracks_and_unload_removes)
{
    bus_t *bus = new_bus(2);
    struct probe *p = calloc(1, sizeof(*p));
    bus_module_t *m = load(bus, PROBE_A, "mod.a", p, "");
    ck_assert_int_eq(atomic_load(&p->inits), 1);
    ck_assert_uint_eq(plain_subs(bus, "mod.a"), 1);
    publish(bus, "mod.a", "x");
    publish(bus, "mod.a.y", "x"); /* the pattern subscription */
    ck_assert_ok(bus_flush(bus));
    ck_assert_uint_eq(atomic_load(&p->calls[1]), 2);

    struct listing l = list(bus);
    ck_assert_int_eq(l.modules, 1);
    ck_assert_ptr_eq(l.info.module, m);
    ck_assert_str_eq(l.path, PROBE_A);
    ck_assert_ptr_nonnull(strstr(l.config, "mod.a "));
    ck_assert_uint_eq(l.info.subscriptions, 2);
    ck_assert_uint_eq(l.info.reloads, 0);
    ck_assert_uint_gt(l.info.loaded_ns, 0);

    ck_assert_ok(bus_module_unload(m));
    ck_assert_int_eq(atomic_load(&p->finis), 1);
    ck_assert_uint_eq(plain_subs(bus, "mod.a"), 0);
    ck_assert_uint_eq(plain_subs(bus, "mod.a.y"), 0);
    ck_assert_int_eq(list(bus).modules, 0);
    publish(bus, "mod.a", "x");
    publish(bus, "mod.a.z", "x"); /* no pattern left to attach to it */
    ck_assert_ok(bus_flush(bus));
    ck_assert_uint_eq(atomic_load(&p->calls[1]), 2);
    ck_assert_ok(bus_destroy(bus));
    free(p);
}
END_TEST

START_TEST(failed_init_leaves_nothing)
{
    bus_t *bus = new_bus(2);
    struct probe *p = calloc(1, sizeof(*p));
    char config[256];
    /* It opens an inbox too: freed with the rest (LeakSanitizer checks). */
    probe_config(config, sizeof(config), "mod.fail", p, "inbox fail");
    bus_module_t *m = NULL;
    ck_assert_int_eq(bus_module_load(bus, PROBE_A, config, &m), -EPROTO);
    ck_assert_ptr_null(m);
    ck_assert_ptr_nonnull(strstr(bus_last_error(), "bus_module_init of " PROBE_A " failed: -71"));
    ck_assert_int_eq(atomic_load(&p->inits), 1);
    ck_assert_int_eq(atomic_load(&p->finis), 0);
    ck_assert_uint_eq(plain_subs(bus, "mod.fail"), 0);
    publish(bus, "mod.fail.x", "x"); /* nor its pattern */
    ck_assert_ok(bus_flush(bus));
    ck_assert_uint_eq(atomic_load(&p->calls[1]), 0);
    ck_assert_int_eq(list(bus).modules, 0);
    ck_assert_ok(bus_destroy(bus));
    free(p);
}
END_TEST

START_TEST(missing_file_and_symbol_say_why)
{
    bus_t *bus = new_bus(1);
    bus_module_t *m = NULL;
    ck_assert_int_eq(bus_module_load(bus, "/nonexistent/mod.so", NULL, &m), -ENOENT);
    ck_assert_ptr_nonnull(strstr(bus_last_error(), "bus_module_load: cannot load /nonexistent/mod.so"));
    ck_assert_ptr_nonnull(strstr(bus_last_error(), "No such file or directory"));
    /* A file that is not a shared object: dlopen refuses it. */
    ck_assert_int_eq(bus_module_load(bus, SOURCE_FILE, NULL, &m), -ELIBBAD);
    ck_assert_ptr_nonnull(strstr(bus_last_error(), SOURCE_FILE ": "));
    ck_assert_int_eq(bus_module_load(bus, NOSYM, NULL, &m), -ENOEXEC);
    ck_assert_ptr_nonnull(strstr(bus_last_error(), "bus_module_fini not found"));
    ck_assert_ptr_null(m);
    ck_assert_int_eq(bus_module_load(bus, NULL, NULL, &m), -EINVAL);
    ck_assert_int_eq(bus_module_unload(NULL), -EINVAL);
    ck_assert_int_eq(bus_module_reload(NULL, NULL), -EINVAL);
    ck_assert_int_eq(bus_module_unload_async(NULL, NULL, NULL), -EINVAL);
    ck_assert_int_eq(list(bus).modules, 0);
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

struct unloader {
    bus_module_t *module;
    int rc;
};

static void *unload_thread(void *arg)
{
    struct unloader *u = arg;
    u->rc = bus_module_unload(u->module);
    return NULL;
}

/* The unload has stopped the module's subscriptions: it waits now. */
static void await_unsubscribed(bus_t *bus, const char *name)
{
    while (plain_subs(bus, name) != 0)
        sched_yield();
}

START_TEST(unload_waits_for_running_handler)
{
    bus_t *bus = new_bus(2);
    struct gate gate;
    gate_init(&gate);
    struct probe *p = calloc(1, sizeof(*p));
    p->gate = &gate;
    struct unloader u = {load(bus, PROBE_A, "mod.wait", p, ""), -1};
    publish(bus, "mod.wait", "gate");
    gate_await_waiters(&gate, 1);
    pthread_t thread;
    ck_assert_ok(pthread_create(&thread, NULL, unload_thread, &u));
    await_unsubscribed(bus, "mod.wait");
    /* Unsubscribed, but its handler runs: no fini, no dlclose yet. */
    ck_assert_int_eq(atomic_load(&p->finis), 0);
    gate_open(&gate);
    ck_assert_ok(pthread_join(thread, NULL));
    ck_assert_ok(u.rc);
    ck_assert_int_eq(atomic_load(&p->finis), 1);
    ck_assert_int_eq(atomic_load(&p->running_at_fini), 0);
    ck_assert_ok(bus_destroy(bus));
    free(p);
}
END_TEST

static void unloaded(void *arg)
{
    gate_open(arg);
}

START_TEST(module_unloads_itself_from_its_handler)
{
    bus_t *bus = new_bus(2);
    struct gate done;
    gate_init(&done);
    struct probe *p = calloc(1, sizeof(*p));
    p->done = unloaded;
    p->done_arg = &done;
    load(bus, PROBE_A, "mod.self", p, "");
    publish(bus, "mod.self", "quit");
    gate_pass(&done); /* returns once `unloaded` has run */
    ck_assert_int_eq(atomic_load(&p->unload_rc), -EDEADLK);
    ck_assert_ok(atomic_load(&p->unload_async_rc));
    ck_assert_int_eq(atomic_load(&p->unload_again_rc), -EBUSY); /* the first one wins */
    ck_assert_int_eq(atomic_load(&p->finis), 1);
    ck_assert_int_eq(atomic_load(&p->running_at_fini), 0);
    ck_assert_uint_eq(plain_subs(bus, "mod.self"), 0);
    ck_assert_int_eq(list(bus).modules, 0);
    ck_assert_ok(bus_destroy(bus));
    free(p);
}
END_TEST

/* Loads the module on @name with @flags and has its handler subscribe to
 * "NAME.extra": it owns 3 subscriptions then. */
static bus_module_t *load_with_extra(bus_t *bus, struct probe *p, const char *name,
                                     const char *flags)
{
    bus_module_t *m = load(bus, PROBE_A, name, p, flags);
    publish(bus, name, "sub");
    ck_assert_ok(bus_flush(bus));
    ck_assert_uint_eq(list(bus).info.subscriptions, 3);
    return m;
}

/* The unload removes the subscription the handler made, whether fini
 * unsubscribes the module's handles itself ("tidy") or not. */
static void unload_removes_handler_subscriptions(const char *flags)
{
    bus_t *bus = new_bus(2);
    struct probe *p = calloc(1, sizeof(*p));
    bus_module_t *m = load_with_extra(bus, p, "mod.more", flags);
    /* "mod.more.extra": the handler's own subscription and the pattern's. */
    ck_assert_uint_eq(plain_subs(bus, "mod.more.extra"), 2);
    ck_assert_ok(bus_module_unload(m));
    ck_assert_int_eq(atomic_load(&p->finis), 1);
    ck_assert_uint_eq(plain_subs(bus, "mod.more"), 0);
    ck_assert_uint_eq(plain_subs(bus, "mod.more.extra"), 0);
    ck_assert_ok(bus_destroy(bus));
    free(p);
}

START_TEST(handler_subscriptions_are_owned)
{
    unload_removes_handler_subscriptions("");
}
END_TEST

START_TEST(fini_may_unsubscribe_its_handles)
{
    unload_removes_handler_subscriptions("tidy");
}
END_TEST

START_TEST(closed_topic_leaves_the_module)
{
    bus_t *bus = new_bus(2);
    struct probe *p = calloc(1, sizeof(*p));
    bus_module_t *m = load_with_extra(bus, p, "mod.closed", "");
    /* The close frees the handler's subscription: not the module's any more. */
    ck_assert_ok(bus_topic_close(topic(bus, "mod.closed.extra"), BUS_CLOSE_DRAIN, NULL));
    ck_assert_uint_eq(list(bus).info.subscriptions, 2);
    ck_assert_ok(bus_topic_close(topic(bus, "mod.closed"), BUS_CLOSE_DROP, NULL));
    ck_assert_uint_eq(list(bus).info.subscriptions, 1);
    ck_assert_ok(bus_module_unload(m));
    ck_assert_int_eq(atomic_load(&p->finis), 1);
    ck_assert_ok(bus_destroy(bus));
    free(p);
}
END_TEST

/* The module's inbox is closed by the unload, or by its fini ("tidy"):
 * either way it is gone, its descriptor closed and its events released. */
static void unload_closes_inbox(const char *flags)
{
    bus_t *bus = new_bus(2);
    struct probe *p = calloc(1, sizeof(*p));
    bus_module_t *m = load(bus, PROBE_A, "mod.inbox", p, flags);
    ck_assert_ptr_nonnull(p->inbox);
    ck_assert_uint_eq(list(bus).info.subscriptions, 3);
    publish(bus, "mod.inbox", "x");
    publish(bus, "mod.inbox", "y");
    ck_assert_ok(bus_flush(bus));
    bus_inbox_stats_t st;
    ck_assert_ok(bus_inbox_stats(p->inbox, &st));
    ck_assert_uint_eq(st.queued, 2);
    int fd = bus_inbox_fd(p->inbox);
    ck_assert_int_ge(fcntl(fd, F_GETFD), 0);
    ck_assert_ok(bus_module_unload(m));
    ck_assert_int_eq(fcntl(fd, F_GETFD), -1);
    ck_assert_int_eq(atomic_load(&p->inbox_left), strstr(flags, "tidy") ? 2 : 0);
    ck_assert_ok(bus_destroy(bus));
    free(p);
}

START_TEST(unload_closes_the_module_inbox)
{
    unload_closes_inbox("inbox");
}
END_TEST

START_TEST(fini_may_close_its_inbox)
{
    unload_closes_inbox("inbox tidy");
}
END_TEST

/* The host's handler that subscribes to "host.own" on its first call. */
struct host_sub {
    bus_t *bus;
    bus_sub_t *sub;
};

static int subscribe_once(const bus_event_t *ev, void *ctx)
{
    (void)ev;
    struct host_sub *h = ctx;
    if (!h->sub)
        ck_assert_ok(bus_subscribe(topic(h->bus, "host.own"), count_only, NULL, &h->sub));
    return 0;
}

/* A module's handler publishes onto a full topic and its worker (the only
 * one) dispatches that topic nested: the host's handler that runs there is
 * not the module's code, and what it subscribes is not the module's. */
START_TEST(nested_handlers_are_not_the_module_s)
{
    bus_t *bus = new_bus(1);
    struct gate gate;
    gate_init(&gate);
    struct probe *p = calloc(1, sizeof(*p));
    p->gate = &gate;
    bus_topic_t *sink = new_topic(bus, "mod.nest-sink", 2, BUS_FULL_BLOCK, 0);
    struct host_sub h = {bus, NULL};
    bus_sub_t *host;
    ck_assert_ok(bus_subscribe(sink, subscribe_once, &h, &host));
    bus_module_t *m = load(bus, PROBE_A, "mod.nest", p, "");
    publish(bus, "mod.nest", "gate");
    gate_await_waiters(&gate, 1); /* the only worker is held */
    ck_assert_ok(bus_publish(sink, "", 0));
    ck_assert_ok(bus_publish(sink, "", 0)); /* full */
    gate_open(&gate); /* the handler publishes onto the full sink */
    ck_assert_ok(bus_flush(bus));
    bus_topic_stats_t st;
    ck_assert_ok(bus_topic_stats(sink, &st));
    ck_assert_uint_eq(st.delivered, 3);
    ck_assert_uint_eq(list(bus).info.subscriptions, 2);
    ck_assert_ok(bus_module_unload(m));
    ck_assert_uint_eq(plain_subs(bus, "host.own"), 1);
    ck_assert_ok(bus_destroy(bus));
    free(p);
}
END_TEST

START_TEST(destroy_unloads_modules)
{
    bus_t *bus = new_bus(2);
    struct probe *p = calloc(1, sizeof(*p));
    struct probe *q = calloc(1, sizeof(*q));
    load(bus, PROBE_A, "mod.d1", p, "");
    load(bus, PROBE_B, "mod.d2", q, "tidy");
    publish(bus, "mod.d1", "x");
    ck_assert_int_eq(list(bus).modules, 2);
    ck_assert_ok(bus_shutdown(bus));
    bus_module_t *late;
    ck_assert_int_eq(bus_module_load(bus, PROBE_A, "mod.d3", &late), -ESHUTDOWN);
    ck_assert_int_eq(list(bus).modules, 2); /* shutdown keeps them */
    ck_assert_ok(bus_destroy(bus));
    ck_assert_uint_eq(atomic_load(&p->calls[1]), 1); /* delivered before fini */
    ck_assert_int_eq(atomic_load(&p->finis), 1);
    ck_assert_int_eq(atomic_load(&q->finis), 1);
    free(p);
    free(q);
}
END_TEST

/* Reloads under load: producers publish onto the module's topic while the
 * module is reloaded, alternating between its two builds. */
struct reload_run {
    bus_t *bus;
    bus_topic_t *topic;
    atomic_uint round;   /* a new budget of events: twice per reload */
    atomic_bool stop;
    atomic_ulong published;
};

/* Each producer publishes up to ROUND_MAX events per round (so that the
 * events spread over every reload without outgrowing the probe). A round
 * starts with each reload, and another once it returned: the reloader then
 * waits for ROUND_MIN handler calls, all the new version's. */
enum { PRODUCERS = 2, ROUND_MAX = 256, ROUND_MIN = 16 };
_Static_assert(1000 * 2 * PRODUCERS * ROUND_MAX < PROBE_EVENTS, "the probe holds every event");

static uint64_t calls(struct probe *p)
{
    return atomic_load(&p->calls[1]) + atomic_load(&p->calls[2]);
}

static void *produce(void *arg)
{
    struct reload_run *r = arg;
    unsigned round = UINT32_MAX, sent = 0;
    while (!atomic_load(&r->stop)) {
        unsigned now = atomic_load(&r->round);
        if (now != round) {
            round = now;
            sent = 0;
        }
        if (sent == ROUND_MAX) {
            sched_yield();
            continue;
        }
        ck_assert_ok(bus_publish(r->topic, "", 0));
        atomic_fetch_add(&r->published, 1);
        sent++;
    }
    return NULL;
}

static void reload_under_load(const char *flags, unsigned reloads)
{
    bus_t *bus = new_bus(2);
    struct probe *p = calloc(1, sizeof(*p));
    bus_module_t *m = load(bus, PROBE_A, "mod.reload", p, flags);
    struct reload_run r = {.bus = bus, .topic = topic(bus, "mod.reload")};
    pthread_t producers[PRODUCERS];
    for (int i = 0; i < PRODUCERS; i++)
        ck_assert_ok(pthread_create(&producers[i], NULL, produce, &r));
    for (unsigned i = 0; i < reloads; i++) {
        atomic_fetch_add(&r.round, 1);
        ck_assert_ok(bus_module_reload(m, i % 2 ? PROBE_A : PROBE_B));
        uint64_t before = calls(p);
        atomic_fetch_add(&r.round, 1);
        while (calls(p) < before + ROUND_MIN)
            sched_yield();
    }
    atomic_store(&r.stop, true);
    for (int i = 0; i < PRODUCERS; i++)
        ck_assert_ok(pthread_join(producers[i], NULL));
    ck_assert_ok(bus_flush(bus));

    uint64_t n = atomic_load(&r.published), neither = 0, both = 0, twice_in_group = 0;
    for (uint64_t seq = 1; seq <= n; seq++) {
        unsigned bits = atomic_load(&p->reached[seq]);
        neither += bits == 0;
        both += bits == 6;
    }
    twice_in_group = strstr(flags, "group") ? both : 0;
    printf("%s: %u reloads, %lu events: %lu reached neither, %lu both versions\n",
           flags[0] ? flags : "plain", reloads, (unsigned long)n, (unsigned long)neither,
           (unsigned long)both);
    ck_assert_uint_eq(neither, 0);
    ck_assert_uint_eq(twice_in_group, 0);
    ck_assert_uint_gt(atomic_load(&p->calls[1]), 0);
    ck_assert_uint_gt(atomic_load(&p->calls[2]), 0);
    /* One version is left, with its two subscriptions; the others are
     * gone (LeakSanitizer checks their memory). */
    struct listing l = list(bus);
    ck_assert_uint_eq(l.info.reloads, reloads);
    ck_assert_uint_eq(l.info.subscriptions, 2);
    ck_assert_uint_eq(plain_subs(bus, "mod.reload"), 1);
    ck_assert_int_eq(atomic_load(&p->inits), (int)reloads + 1);
    ck_assert_int_eq(atomic_load(&p->finis), (int)reloads);
    ck_assert_ok(bus_module_unload(m));
    ck_assert_ok(bus_destroy(bus));
    free(p);
}

START_TEST(reload_1000_times_loses_no_event)
{
    reload_under_load("", 1000);
}
END_TEST

START_TEST(reload_in_queue_group_delivers_each_event_once)
{
    reload_under_load("group", 200);
}
END_TEST

static int reload_from_listing(const bus_module_info_t *info, void *ctx)
{
    *(int *)ctx = bus_module_reload(info->module, NULL);
    return 0;
}

START_TEST(calls_that_would_wait_for_themselves_are_refused)
{
    bus_t *bus = new_bus(2);
    struct probe *p = calloc(1, sizeof(*p));
    bus_module_t *m = load(bus, PROBE_A, "mod.refuse", p, "");
    int rc = 0;
    ck_assert_ok(bus_module_list(bus, reload_from_listing, &rc));
    ck_assert_int_eq(rc, -EDEADLK);
    /* Reloading onto the same path: one mapping, init runs again. */
    ck_assert_ok(bus_module_reload(m, NULL));
    ck_assert_int_eq(atomic_load(&p->inits), 2);
    ck_assert_int_eq(atomic_load(&p->finis), 1);
    ck_assert_ok(bus_module_unload(m));
    ck_assert_ok(bus_destroy(bus));
    free(p);
}
END_TEST

START_TEST(failed_reload_keeps_the_old_version)
{
    bus_t *bus = new_bus(2);
    struct probe *p = calloc(1, sizeof(*p));
    bus_module_t *m = load(bus, PROBE_A, "mod.keep", p, "");
    ck_assert_int_eq(bus_module_reload(m, NOSYM), -ENOEXEC);
    ck_assert_ptr_nonnull(strstr(bus_last_error(), "bus_module_reload: "));
    publish(bus, "mod.keep", "x");
    ck_assert_ok(bus_flush(bus));
    ck_assert_uint_eq(atomic_load(&p->calls[1]), 1);
    struct listing l = list(bus);
    ck_assert_str_eq(l.path, PROBE_A);
    ck_assert_uint_eq(l.info.reloads, 0);
    ck_assert_uint_eq(l.info.subscriptions, 2);
    ck_assert_int_eq(atomic_load(&p->finis), 0);
    ck_assert_ok(bus_module_reload(m, PROBE_B)); /* and it can still be reloaded */
    ck_assert_str_eq(list(bus).path, PROBE_B);
    ck_assert_ok(bus_destroy(bus)); /* unloads it */
    ck_assert_int_eq(atomic_load(&p->finis), 2);
    free(p);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("module");
    TCase *tc = tcase_create("module");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, load_tracks_and_unload_removes);
    tcase_add_test(tc, failed_init_leaves_nothing);
    tcase_add_test(tc, missing_file_and_symbol_say_why);
    tcase_add_test(tc, unload_waits_for_running_handler);
    tcase_add_test(tc, module_unloads_itself_from_its_handler);
    tcase_add_test(tc, handler_subscriptions_are_owned);
    tcase_add_test(tc, fini_may_unsubscribe_its_handles);
    tcase_add_test(tc, closed_topic_leaves_the_module);
    tcase_add_test(tc, unload_closes_the_module_inbox);
    tcase_add_test(tc, fini_may_close_its_inbox);
    tcase_add_test(tc, nested_handlers_are_not_the_module_s);
    tcase_add_test(tc, destroy_unloads_modules);
    tcase_add_test(tc, reload_1000_times_loses_no_event);
    tcase_add_test(tc, reload_in_queue_group_delivers_each_event_once);
    tcase_add_test(tc, calls_that_would_wait_for_themselves_are_refused);
    tcase_add_test(tc, failed_reload_keeps_the_old_version);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
