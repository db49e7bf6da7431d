/* journal_bench.c - durable topic figures (docs/performance.md, "Durable
 * topics"), each against a baseline measured in the same run, interleaved:
 *   rate      1 producer, 1 worker, 1 plain subscriber, 64 B: in-memory
 *             topic vs durable BUS_SYNC_INTERVAL topic (medians, ratio)
 *   always    4 producers on a BUS_SYNC_ALWAYS topic, one event per call
 *             (bus_publish), 64 (bus_publish_batch), and one per
 *             bus_publish_ex with on_durable (many in flight): events/s,
 *             call p50/p99, publish-to-on_durable p50/p99, fdatasync count
 *             and mean time
 *   consume   a durable consumer reading a backlog from the oldest event
 *   recovery  reopen time of journals of growing size, with the files in
 *             the page cache and evicted from it (posix_fadvise)
 * usage: bus-journal-bench [rate|always|consume|recovery|all] [events] [dir]
 * dir: where journals go (default /tmp; a disk, not tmpfs, for real syncs). */
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "bus.h"
#include "bus/journal.h"
#include "journal_common.h"

static const char *base;

static void check(int rc, const char *what)
{
    if (rc) {
        fprintf(stderr, "%s: %s (%s)\n", what, bus_strerror(rc), bus_last_error());
        exit(1);
    }
}

static int count(const bus_event_t *ev, void *ctx)
{
    (void)ev;
    atomic_fetch_add_explicit((atomic_ulong *)ctx, 1, memory_order_relaxed);
    return 0;
}

static bus_topic_t *open_topic(bus_t *bus, const char *dir, int sync)
{
    bus_topic_t *t;
    if (!dir) {
        check(bus_topic_open(bus, "bench", NULL, &t), "bus_topic_open");
        return t;
    }
    bus_journal_config_t j;
    bus_journal_config_init(&j);
    j.dir = dir;
    j.sync = sync;
    check(bus_topic_open_durable(bus, "bench", NULL, &j, &t), "bus_topic_open_durable");
    return t;
}

/* One run of 1P/1W/1S: events/s from the first publish to the last call. */
static double one_rate(bool durable, uint64_t n)
{
    bus_config_t cfg;
    bus_config_init(&cfg);
    cfg.workers = 1;
    bus_t *bus;
    check(bus_create(&bus, &cfg), "bus_create");
    char *dir = durable ? jb_fresh_dir(base) : NULL;
    bus_topic_t *t = open_topic(bus, dir, BUS_SYNC_INTERVAL);
    atomic_ulong calls = 0;
    bus_sub_t *sub;
    check(bus_subscribe(t, count, &calls, &sub), "bus_subscribe");
    char payload[64] = "event";
    uint64_t start = jb_now_ns();
    for (uint64_t i = 0; i < n; i++)
        check(bus_publish(t, payload, sizeof(payload)), "bus_publish");
    check(bus_flush(bus), "bus_flush");
    double rate = (double)n * 1e9 / (double)(jb_now_ns() - start);
    check(bus_destroy(bus), "bus_destroy");
    if (dir)
        jb_remove_dir(dir);
    return rate;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* What a page of fresh memory costs on its first write here (the journal
 * writes fresh page-cache pages; a VM whose host backs guest memory lazily
 * makes that the durable path's largest cost). */
static double first_touch_us_per_page(void)
{
    size_t bytes = (size_t)64 << 20;
    unsigned char *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                            -1, 0);
    if (p == MAP_FAILED)
        return 0;
    uint64_t start = jb_now_ns();
    memset(p, 1, bytes);
    double us = (double)(jb_now_ns() - start) / 1e3 / (double)(bytes / 4096);
    munmap(p, bytes);
    return us;
}

static void rate(uint64_t n)
{
    enum { RUNS = 5 };
    double mem[RUNS], dur[RUNS];
    for (int i = 0; i < RUNS; i++) { /* interleaved */
        mem[i] = one_rate(false, n);
        dur[i] = one_rate(true, n);
    }
    qsort(mem, RUNS, sizeof(double), cmp_double);
    qsort(dur, RUNS, sizeof(double), cmp_double);
    printf("rate 1P/1W/1S 64 B, %llu events, median of %d interleaved runs:\n",
           (unsigned long long)n, RUNS);
    printf("  in-memory topic           %12.0f events/s\n", mem[RUNS / 2]);
    printf("  durable BUS_SYNC_INTERVAL %12.0f events/s  (%.0f%% of in-memory)\n",
           dur[RUNS / 2], 100.0 * dur[RUNS / 2] / mem[RUNS / 2]);
    printf("  first write to a fresh 4 KiB page on this machine: %.2f us\n",
           first_touch_us_per_page());
}

/* How a producer publishes onto the BUS_SYNC_ALWAYS topic. */
enum mode {
    ONE,   /* bus_publish: returns once its event is on the disk */
    BATCH, /* bus_publish_batch: the same for a batch */
    ASYNC  /* bus_publish_ex with on_durable: returns once journaled */
};

static const char *mode_name[] = {"bus_publish", "bus_publish_batch",
                                  "bus_publish_ex with on_durable"};

struct producer {
    bus_topic_t *t;
    enum mode mode;
    uint64_t calls, batch;
    uint64_t *lat;     /* each call's time */
    uint64_t *durable; /* ASYNC: each event's start, then its time to on_durable */
};

static atomic_ulong durable_calls; /* on_durable calls, in ASYNC runs */

/* on_durable: the time from the publish to the sync's report. */
static void durable_done(uint64_t seq, int status, void *arg)
{
    (void)seq;
    check(status, "on_durable");
    uint64_t *slot = arg;
    *slot = jb_now_ns() - *slot;
    /* release: the slot's write before the main thread's acquire count. */
    atomic_fetch_add_explicit(&durable_calls, 1, memory_order_release);
}

static void *produce(void *arg)
{
    struct producer *p = arg;
    char payload[64] = "event";
    bus_msg_t msgs[256];
    for (uint64_t i = 0; i < p->batch; i++)
        msgs[i] = (bus_msg_t){payload, sizeof(payload)};
    bus_publish_options_t opts;
    bus_publish_options_init(&opts);
    opts.on_durable = durable_done;
    for (uint64_t i = 0; i < p->calls; i++) {
        uint64_t start = jb_now_ns();
        if (p->mode == ASYNC) {
            p->durable[i] = start;
            opts.durable_arg = &p->durable[i];
            check(bus_publish_ex(p->t, payload, sizeof(payload), &opts), "bus_publish_ex");
        } else if (p->mode == ONE) {
            check(bus_publish(p->t, payload, sizeof(payload)), "bus_publish");
        } else {
            size_t accepted;
            check(bus_publish_batch(p->t, msgs, p->batch, &accepted), "bus_publish_batch");
        }
        p->lat[i] = jb_now_ns() - start;
    }
    return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* 4 producers, each call publishing @batch events (bus_publish or
 * bus_publish_batch), returning once they are on the disk; or (ASYNC) one
 * event per bus_publish_ex, told by on_durable. */
static void always(uint64_t n, enum mode mode, uint64_t batch)
{
    enum { PRODUCERS = 4 };
    bus_config_t cfg;
    bus_config_init(&cfg);
    cfg.workers = 1;
    bus_t *bus;
    check(bus_create(&bus, &cfg), "bus_create");
    char *dir = jb_fresh_dir(base);
    bus_topic_t *t = open_topic(bus, dir, BUS_SYNC_ALWAYS);
    atomic_ulong calls = 0;
    bus_sub_t *sub;
    check(bus_subscribe(t, count, &calls, &sub), "bus_subscribe");
    struct producer p[PRODUCERS];
    pthread_t th[PRODUCERS];
    uint64_t each = n / PRODUCERS / batch, total_calls = each * PRODUCERS;
    uint64_t *lat = malloc(total_calls * sizeof(uint64_t));
    uint64_t *durable = mode == ASYNC ? malloc(total_calls * sizeof(uint64_t)) : NULL;
    atomic_store(&durable_calls, 0);
    uint64_t start = jb_now_ns();
    for (int i = 0; i < PRODUCERS; i++) {
        p[i] = (struct producer){t, mode, each, batch, lat + i * each,
                                 durable ? durable + i * each : NULL};
        pthread_create(&th[i], NULL, produce, &p[i]);
    }
    for (int i = 0; i < PRODUCERS; i++)
        pthread_join(th[i], NULL);
    /* acquire: pairs with durable_done's release. ASYNC ends at the last
     * on_durable: every event on the disk. */
    while (durable && atomic_load_explicit(&durable_calls, memory_order_acquire) < total_calls)
        usleep(50);
    double secs = (double)(jb_now_ns() - start) / 1e9;
    bus_journal_stats_t js;
    check(bus_journal_stats(t, &js), "bus_journal_stats");
    qsort(lat, total_calls, sizeof(uint64_t), cmp_u64);
    uint64_t total = total_calls * batch;
    printf("always: %d producers, 64 B, BUS_SYNC_ALWAYS, %llu events, %llu per call (%s):\n",
           PRODUCERS, (unsigned long long)total, (unsigned long long)batch, mode_name[mode]);
    printf("  %.0f events/s; call p50 %.1f us, p99 %.1f us\n", (double)total / secs,
           (double)lat[total_calls / 2] / 1e3, (double)lat[total_calls * 99 / 100] / 1e3);
    if (durable) {
        qsort(durable, total_calls, sizeof(uint64_t), cmp_u64);
        printf("  publish to on_durable p50 %.1f us, p99 %.1f us\n",
               (double)durable[total_calls / 2] / 1e3,
               (double)durable[total_calls * 99 / 100] / 1e3);
        free(durable);
    }
    printf("  %llu fdatasyncs, mean %.1f us each, %.1f events per sync\n",
           (unsigned long long)js.syncs, js.syncs ? (double)js.sync_ns / (double)js.syncs / 1e3 : 0,
           js.syncs ? (double)total / (double)js.syncs : 0);
    check(bus_destroy(bus), "bus_destroy");
    free(lat);
    jb_remove_dir(dir);
}

static double reopen_ms(bus_t *bus, const char *dir, bus_topic_t **t)
{
    uint64_t start = jb_now_ns();
    *t = open_topic(bus, dir, BUS_SYNC_NONE);
    return (double)(jb_now_ns() - start) / 1e6;
}

/* Takes the journal's files out of the page cache (written back first), so
 * that the next open reads them from the disk; no other file is touched. */
static void evict(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (!strstr(e->d_name, ".seg"))
            continue;
        char path[512];
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        int fd = open(path, O_RDONLY);
        if (fd < 0)
            continue;
        fdatasync(fd);
        posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
        close(fd);
    }
    if (d)
        closedir(d);
}

static void recovery(uint64_t n)
{
    printf("recovery: reopening a journal of N events of 64 B (BUS_SYNC_NONE while written):\n");
    for (uint64_t size = n / 8; size <= n; size *= 2) {
        char *dir = jb_fresh_dir(base);
        bus_t *bus;
        check(bus_create(&bus, NULL), "bus_create");
        bus_topic_t *t = open_topic(bus, dir, BUS_SYNC_NONE);
        char payload[64] = "event";
        bus_msg_t msgs[256];
        for (int i = 0; i < 256; i++)
            msgs[i] = (bus_msg_t){payload, sizeof(payload)};
        for (uint64_t done = 0; done < size;) {
            size_t accepted;
            uint64_t want = size - done < 256 ? size - done : 256;
            check(bus_publish_batch(t, msgs, want, &accepted), "bus_publish_batch");
            done += accepted;
        }
        check(bus_topic_close(t, BUS_CLOSE_DROP, NULL), "bus_topic_close");
        double warm = reopen_ms(bus, dir, &t);
        check(bus_topic_close(t, BUS_CLOSE_DROP, NULL), "bus_topic_close");
        evict(dir);
        double cold = reopen_ms(bus, dir, &t);
        bus_journal_stats_t js;
        check(bus_journal_stats(t, &js), "bus_journal_stats");
        printf("  %10llu events, %6.0f MiB: reopen %8.1f ms in the page cache, %8.1f ms "
               "from the disk\n",
               (unsigned long long)js.last_seq, (double)js.bytes / (1 << 20), warm, cold);
        check(bus_destroy(bus), "bus_destroy");
        jb_remove_dir(dir);
    }
}

struct progress {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    uint64_t seen, want; /* seen: the consumer thread's own */
    bool done;           /* under lock */
};

static int consume(const bus_event_t *ev, void *ctx)
{
    struct progress *p = ctx;
    (void)ev;
    if (++p->seen == p->want) { /* one consumer thread: seen is its own */
        pthread_mutex_lock(&p->lock);
        p->done = true;
        pthread_cond_signal(&p->cond);
        pthread_mutex_unlock(&p->lock);
    }
    return 0;
}

/* A durable consumer reading a backlog of @n events from the oldest. */
static void consume_backlog(uint64_t n)
{
    char *dir = jb_fresh_dir(base);
    bus_t *bus;
    check(bus_create(&bus, NULL), "bus_create");
    bus_topic_t *t = open_topic(bus, dir, BUS_SYNC_NONE);
    char payload[64] = "event";
    for (uint64_t i = 0; i < n; i++)
        check(bus_publish(t, payload, sizeof(payload)), "bus_publish");
    struct progress p = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, n, false};
    uint64_t start = jb_now_ns();
    bus_sub_t *sub;
    check(bus_subscribe_durable(t, "bench", consume, &p, NULL, &sub), "bus_subscribe_durable");
    pthread_mutex_lock(&p.lock);
    while (!p.done)
        pthread_cond_wait(&p.cond, &p.lock);
    pthread_mutex_unlock(&p.lock);
    double secs = (double)(jb_now_ns() - start) / 1e9;
    printf("consume: a durable consumer reading a backlog of %llu events of 64 B: %.0f events/s\n",
           (unsigned long long)n, (double)n / secs);
    check(bus_destroy(bus), "bus_destroy");
    jb_remove_dir(dir);
}

int main(int argc, char **argv)
{
    struct jb_args args = jb_parse(argc, argv);
    uint64_t n = args.events;
    base = args.base;
    if (jb_wants(&args, "rate"))
        rate(n ? n : 2000000);
    if (jb_wants(&args, "always")) {
        always(n ? n : 100000, ONE, 1);
        always(n ? n * 10 : 1000000, BATCH, 64);
        always(n ? n * 10 : 1000000, ASYNC, 1);
    }
    if (jb_wants(&args, "consume"))
        consume_backlog(n ? n : 2000000);
    if (jb_wants(&args, "recovery"))
        recovery(n ? n : 8000000);
    return 0;
}
