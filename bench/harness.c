/* harness.c - shared scenario plumbing. */
#include "harness.h"

#include <errno.h>
#include <malloc.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { BACKOFF_SPINS = 1000, BACKOFF_YIELDS = 100, BACKOFF_SLEEP_NS = 50000 };

void backoff_step(unsigned *rounds)
{
    unsigned r = (*rounds)++;
    if (r < BACKOFF_SPINS) {
        cpu_relax();
    } else if (r < BACKOFF_SPINS + BACKOFF_YIELDS) {
        sched_yield();
    } else {
        struct timespec ts = {0, BACKOFF_SLEEP_NS};
        nanosleep(&ts, NULL);
    }
}

void sleep_until_ns(uint64_t deadline_ns, bool precise)
{
    enum { SPIN_NS = 50000 };
    uint64_t margin = precise ? SPIN_NS : 0;
    uint64_t now = now_ns();
    if (deadline_ns > now + margin) {
        uint64_t wake = deadline_ns - margin;
        struct timespec ts = {(time_t)(wake / 1000000000u), (long)(wake % 1000000000u)};
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
    }
    while (now_ns() < deadline_ns)
        cpu_relax();
}

void pin_thread(unsigned index)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(index % (unsigned)(cpus > 0 ? cpus : 1), &set);
    pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

uint64_t rss_bytes(void)
{
    unsigned long pages_total = 0, pages_resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f)
        return 0;
    if (fscanf(f, "%lu %lu", &pages_total, &pages_resident) != 2)
        pages_resident = 0;
    fclose(f);
    return (uint64_t)pages_resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

uint64_t heap_bytes(void)
{
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
}

void sink_count(void *ctx, const void *data, size_t size)
{
    (void)data;
    (void)size;
    /* relaxed: a count, read after flush, which orders it. */
    atomic_fetch_add_explicit(&((struct sink *)ctx)->count, 1, memory_order_relaxed);
}

uint64_t sink_read(struct sink *s)
{
    /* relaxed: callers read after flush/join, which order the adds. */
    return atomic_load_explicit(&s->count, memory_order_relaxed);
}

void result_extra(struct result *r, const char *key, double value)
{
    if (r->nextra < MAX_EXTRA)
        r->extra[r->nextra++] = (struct metric){key, value};
}

bool result_extra_find(const struct result *r, const char *key, double *value)
{
    for (unsigned i = 0; i < r->nextra; i++) {
        if (strcmp(r->extra[i].key, key) == 0) {
            *value = r->extra[i].value;
            return true;
        }
    }
    return false;
}

void result_fail(struct result *r, const char *fmt, ...)
{
    if (r->ok || !r->note[0]) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(r->note, sizeof(r->note), fmt, ap);
        va_end(ap);
    }
    r->ok = false;
}

void result_implausible(struct result *r, const char *fmt, ...)
{
    if (!r->ok || r->implausible)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->note, sizeof(r->note), fmt, ap);
    va_end(ap);
    r->implausible = true;
}

void result_check_measured(struct result *r)
{
    if (r->published == 0)
        result_fail(r, "measured nothing: no event was published");
}

void result_check_counts(struct result *r, uint64_t expected, uint64_t handled)
{
    r->expected += expected;
    r->handled += handled;
    if (handled != expected)
        result_fail(r, "handled %llu of %llu expected handler calls",
                    (unsigned long long)handled, (unsigned long long)expected);
}

int fixture_create(struct fixture *f, const struct sut_ops *ops, const struct run_params *p,
                   uint32_t max_topics)
{
    memset(f, 0, sizeof(*f));
    f->ops = ops;
    struct sut_config cfg = {.workers = p->workers, .wait = p->wait, .max_topics = max_topics,
                             .watch = p->watch};
    f->topics = calloc(max_topics, sizeof(*f->topics));
    if (!f->topics)
        return -ENOMEM;
    int rc = ops->create(&cfg, &f->sys);
    if (rc) {
        free(f->topics);
        f->topics = NULL;
    }
    return rc;
}

int fixture_open_topics(struct fixture *f, const char *prefix, unsigned count,
                        const struct sut_topic_config *cfg)
{
    for (unsigned i = 0; i < count; i++) {
        char name[64];
        snprintf(name, sizeof(name), "%s.%u", prefix, i);
        int rc = f->ops->topic_open(f->sys, name, cfg, &f->topics[f->ntopics]);
        if (rc)
            return rc;
        f->ntopics++;
    }
    return 0;
}

int fixture_subscribe(struct fixture *f, void *topic, sut_handler_fn fn, void *ctx)
{
    if (f->nsubs == FIXTURE_MAX_SUBS)
        return -ENOSPC;
    int rc = f->ops->subscribe(f->sys, topic, fn, ctx, &f->subs[f->nsubs]);
    if (rc == 0)
        f->nsubs++;
    return rc;
}

void fixture_destroy(struct fixture *f)
{
    if (f->sys) {
        for (unsigned i = 0; i < f->nsubs; i++)
            f->ops->unsubscribe(f->sys, f->subs[i]);
        f->ops->destroy(f->sys);
    }
    free(f->topics);
    memset(f, 0, sizeof(*f));
}

struct sut_topic_config busy_topic_config(const struct run_params *p, bool parallel)
{
    /* Payload at least 8 bytes: latency scenarios carry a timestamp. */
    return (struct sut_topic_config){
        .capacity = 4096,
        .max_payload = p->payload > 8 ? p->payload : 8,
        .parallel = parallel,
    };
}

int run_threads(unsigned n, void *(*fn)(void *), void *args, size_t arg_size,
                struct start_gate *gate)
{
    pthread_t *threads = calloc(n, sizeof(*threads));
    if (!threads)
        return -ENOMEM;
    unsigned started = 0;
    int rc = 0;
    for (; started < n; started++) {
        if (pthread_create(&threads[started], NULL, fn, (char *)args + started * arg_size)) {
            rc = -EAGAIN;
            break;
        }
    }
    if (gate) {
        gate->open_ns = now_ns();
        /* release: open_ns and the scenario's setup happen before the
         * threads' acquire load that sees the gate open. Opened even after a
         * failure, so that the threads already started can finish. */
        atomic_store_explicit(&gate->open, true, memory_order_release);
    }
    for (unsigned i = 0; i < started; i++)
        pthread_join(threads[i], NULL);
    free(threads);
    return rc;
}

void start_gate_wait(struct start_gate *gate)
{
    unsigned rounds = 0;
    /* acquire: pairs with the release in run_threads. */
    while (!atomic_load_explicit(&gate->open, memory_order_acquire))
        backoff_step(&rounds);
}
