/* scn_wakeup.c - wake-up latency of a thread that sleeps in epoll_wait
 * (level-triggered) on a descriptor, one event in flight: the publisher
 * stamps the event, publishes it, and waits until the loop has taken it and
 * emptied its queue (so that the descriptor is reset), then sleeps
 * WAKEUP_GAP_NS, so that the next event finds the loop asleep. Each event's
 * latency is the loop's clock right after epoll_wait returned, minus the
 * stamp. Routes:
 *  - wakeup-inbox: publish -> a worker copies the event into an inbox ->
 *    the inbox's eventfd -> epoll_wait returns;
 *  - wakeup-pipe-fed: publish -> a worker calls a subscription's handler,
 *    which pushes a copy onto a pipe_queue (a list under a mutex, a pipe
 *    written on empty -> non-empty) -> epoll_wait on the pipe returns: what
 *    a user writes without inboxes, worker hop included;
 *  - wakeup-pipe: the publisher pushes onto the pipe_queue itself: no
 *    system, no worker hop (the system is not used);
 *  - wakeup-callback: publish -> the handler's entry on a worker, the same
 *    pacing, no loop: the floor under the first two. */
#include <errno.h>
#include <semaphore.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "hist.h"
#include "pull.h"
#include "scenarios.h"

#define WAKEUP_GAP_NS UINT64_C(100000)
#define ARRIVAL_TIMEOUT_S 5 /* an event this late was lost */
enum { LOOP_POLL_MS = 100 }; /* the loop looks at `stop` this often */

struct wakeup {
    bool loop; /* false: wakeup-callback */
    bool pin;
    struct pull q;
    struct hist *h;
    uint64_t woke_ns; /* the loop's: when its epoll_wait returned */
    sem_t arrived;    /* posted once per event, when the loop is idle again */
    struct sink taken;
    alignas(64) _Atomic bool stop;
    _Atomic int error;
};

static void fail_with(struct wakeup *w, int error)
{
    /* relaxed: read by the publisher after the post below, which orders it. */
    atomic_store_explicit(&w->error, error, memory_order_relaxed);
    sem_post(&w->arrived); /* the publisher stops waiting */
}

static uint64_t stamp_of(const void *data)
{
    uint64_t stamp;
    memcpy(&stamp, data, sizeof(stamp));
    return stamp;
}

/* The loop's handler for each event it takes. */
static void on_taken(void *ctx, const void *data, size_t size)
{
    struct wakeup *w = ctx;
    hist_record(w->h, w->woke_ns - stamp_of(data));
    sink_count(&w->taken, data, size);
}

/* Takes the events the wake-up is for, then empties the queue (the take
 * that finds none resets an inbox's descriptor), so that the next event
 * finds the loop asleep. Returns how many it took, or an error. */
static int take_all(struct wakeup *w)
{
    int n = pull_take(&w->q, INBOX_BATCH, on_taken, w), more = n;
    while (more > 0)
        more = pull_take(&w->q, INBOX_BATCH, on_taken, w);
    return n < 0 ? n : more < 0 ? more : n;
}

static void *loop_main(void *arg)
{
    struct wakeup *w = arg;
    if (w->pin)
        pin_thread(1);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN}; /* level-triggered */
    if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, w->q.fd, &ev)) {
        fail_with(w, -errno);
        return NULL;
    }
    /* relaxed: a request to stop; the join orders what follows. */
    while (!atomic_load_explicit(&w->stop, memory_order_relaxed)) {
        struct epoll_event got;
        int ready = epoll_wait(ep, &got, 1, LOOP_POLL_MS);
        w->woke_ns = now_ns();
        if (ready <= 0)
            continue; /* timeout or EINTR */
        int n = take_all(w);
        if (n < 0) {
            fail_with(w, n);
            break;
        }
        if (n > 0)
            sem_post(&w->arrived);
        /* n == 0: level-triggered, the wake-up after the last take */
    }
    close(ep);
    return NULL;
}

/* wakeup-callback's handler. */
static void on_called(void *ctx, const void *data, size_t size)
{
    struct wakeup *w = ctx;
    hist_record(w->h, now_ns() - stamp_of(data));
    sink_count(&w->taken, data, size);
    sem_post(&w->arrived);
}

/* Waits for event @seq to arrive; false (failed in @r) if it does not. */
static bool await_arrival(struct wakeup *w, uint64_t seq, struct result *r)
{
    struct timespec limit;
    clock_gettime(CLOCK_REALTIME, &limit);
    limit.tv_sec += ARRIVAL_TIMEOUT_S;
    while (sem_timedwait(&w->arrived, &limit)) {
        if (errno != EINTR) {
            result_fail(r, "event %llu never arrived", (unsigned long long)seq);
            return false;
        }
    }
    /* relaxed: set before the post we just took, which orders it. */
    int error = atomic_load_explicit(&w->error, memory_order_relaxed);
    if (error)
        result_fail(r, "take/push: %d", error);
    return error == 0;
}

/* Publishes the events one at a time; returns how many went. */
static uint64_t publish_paced(const struct fixture *f, const struct run_params *p,
                              struct wakeup *w, struct result *r)
{
    uint32_t size = busy_topic_config(p, false).max_payload;
    unsigned char *buf = calloc(1, size);
    if (!buf) {
        result_fail(r, "publish: %d", -ENOMEM);
        return 0;
    }
    struct round_trips trips = round_trips_plan(p, true);
    uint64_t sent = 0;
    for (uint64_t seq = 1; round_trips_more(&trips, seq); seq++) {
        sleep_until_ns(now_ns() + WAKEUP_GAP_NS, false);
        uint64_t stamp = now_ns();
        memcpy(buf, &stamp, sizeof(stamp));
        int rc = w->q.kind == PULL_PIPE && w->loop
                     ? pull_push(&w->q, buf, size)
                     : f->ops->publish(f->sys, f->topics[0], buf, size);
        if (rc) {
            result_fail(r, "publish: %d", rc);
            break;
        }
        sent++;
        if (!await_arrival(w, seq, r))
            break;
        if (seq == trips.warmup) /* nothing in flight: the loop is idle */
            memset(w->h, 0, sizeof(*w->h));
    }
    free(buf);
    return sent;
}

/* @kind: what the loop waits on; @loop false: no loop, the handler is the
 * consumer (wakeup-callback). */
static void run_wakeup(const struct sut_ops *ops, const struct run_params *p, bool loop,
                       enum pull_kind kind, struct result *r)
{
    struct fixture f;
    struct wakeup *w = aligned_alloc(64, sizeof(*w));
    int rc = w ? fixture_create(&f, ops, p, 2) : -ENOMEM;
    if (rc) {
        free(w);
        result_fail(r, "create: %d", rc);
        return;
    }
    memset(w, 0, sizeof(*w));
    w->loop = loop;
    w->pin = p->pin;
    w->q = (struct pull){.kind = kind, .fd = -1, .pq = {.rfd = -1}};
    sem_init(&w->arrived, 0, 0);
    struct sut_topic_config cfg = busy_topic_config(p, false);
    pthread_t loop_thread;
    rc = (w->h = hist_new()) ? fixture_open_topics(&f, "wakeup", 1, &cfg) : -ENOMEM;
    if (rc == 0)
        rc = loop ? pull_open(&w->q, kind, &f, f.topics[0], cfg.capacity)
                  : fixture_subscribe(&f, f.topics[0], on_called, w);
    if (rc == 0 && loop && pthread_create(&loop_thread, NULL, loop_main, w))
        rc = -EAGAIN;
    if (rc) {
        result_fail(r, "setup: %d", rc);
        loop = false;
    } else {
        if (p->pin)
            pin_thread(0);
        uint64_t start = now_ns();
        uint64_t sent = publish_paced(&f, p, w, r);
        r->seconds = (double)(now_ns() - start) / 1e9;
        if ((rc = ops->flush(f.sys)))
            result_fail(r, "flush: %d", rc);
        r->published = sent;
        result_check_counts(r, sent, sink_read(&w->taken));
        record_latency(r, w->h);
        struct sut_inbox_counts counts = {0, 0};
        if (loop && (rc = pull_counts(&w->q, &counts)))
            result_fail(r, "inbox/queue counts: %d", rc);
        if (loop)
            result_extra(r, "wakeups_per_event",
                         sent ? (double)counts.wakeups / (double)sent : 0);
    }
    if (loop) {
        atomic_store_explicit(&w->stop, true, memory_order_relaxed); /* see loop_main */
        pthread_join(loop_thread, NULL);
    }
    pull_close(&w->q);
    fixture_destroy(&f);
    sem_destroy(&w->arrived);
    free(w->h);
    free(w);
}

void scenario_wakeup_inbox(const struct sut_ops *ops, const struct run_params *p,
                           struct result *r)
{
    run_wakeup(ops, p, true, PULL_INBOX, r);
}

void scenario_wakeup_pipe_fed(const struct sut_ops *ops, const struct run_params *p,
                              struct result *r)
{
    run_wakeup(ops, p, true, PULL_PIPE_FED, r);
}

void scenario_wakeup_pipe(const struct sut_ops *ops, const struct run_params *p,
                          struct result *r)
{
    run_wakeup(ops, p, true, PULL_PIPE, r);
}

void scenario_wakeup_callback(const struct sut_ops *ops, const struct run_params *p,
                              struct result *r)
{
    run_wakeup(ops, p, false, PULL_PIPE, r);
}
