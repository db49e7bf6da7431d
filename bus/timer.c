/* timer.c - the timeout thread and its min-heap of deadlines. */
#include "timer.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "clock.h"

/* A timer_entry's index when it is not in the heap. */
#define TIMER_IDLE SIZE_MAX       /* not armed yet */
#define TIMER_DONE (SIZE_MAX - 1) /* fired or cancelled: never armed again */

/* The timers whose thread runs the calling thread, or NULL. */
static _Thread_local const struct timers *current_timers;

void bus__timers_init(struct timers *tm)
{
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&tm->wake, &attr);
    pthread_condattr_destroy(&attr);
    pthread_mutex_init(&tm->lock, NULL);
    tm->heap = NULL;
    tm->count = tm->size = tm->reserved = 0;
    tm->asleep_until = UINT64_MAX;
    tm->started = tm->stopping = false;
}

static void place(struct timers *tm, size_t i, struct timer_entry *e)
{
    tm->heap[i] = e;
    e->index = i;
}

static void sift_up(struct timers *tm, size_t i)
{
    struct timer_entry *e = tm->heap[i];
    while (i > 0 && tm->heap[(i - 1) / 2]->deadline_ns > e->deadline_ns) {
        place(tm, i, tm->heap[(i - 1) / 2]);
        i = (i - 1) / 2;
    }
    place(tm, i, e);
}

static void sift_down(struct timers *tm, size_t i)
{
    struct timer_entry *e = tm->heap[i];
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= tm->count)
            break;
        if (child + 1 < tm->count &&
            tm->heap[child + 1]->deadline_ns < tm->heap[child]->deadline_ns)
            child++;
        if (tm->heap[child]->deadline_ns >= e->deadline_ns)
            break;
        place(tm, i, tm->heap[child]);
        i = child;
    }
    place(tm, i, e);
}

static void heap_remove(struct timers *tm, struct timer_entry *e)
{
    size_t i = e->index;
    struct timer_entry *last = tm->heap[--tm->count];
    e->index = TIMER_DONE;
    if (last == e)
        return;
    place(tm, i, last);
    sift_up(tm, i);
    sift_down(tm, last->index);
}

static void *timer_main(void *arg)
{
    struct timers *tm = arg;
    current_timers = tm;
    pthread_setname_np(pthread_self(), "bus-timer"); /* for top and gdb */
    pthread_mutex_lock(&tm->lock);
    while (!tm->stopping) {
        uint64_t now = clock_now_ns();
        struct timer_entry *first = tm->count ? tm->heap[0] : NULL;
        if (!first || first->deadline_ns > now) {
            /* With an empty heap, keep the wake-up already planned (see
             * timer.h); once it has passed, sleep until an arm. */
            if (first)
                tm->asleep_until = first->deadline_ns;
            else if (tm->asleep_until <= now)
                tm->asleep_until = UINT64_MAX;
            if (tm->asleep_until == UINT64_MAX) {
                pthread_cond_wait(&tm->wake, &tm->lock);
            } else {
                struct timespec until = {(time_t)(tm->asleep_until / 1000000000u),
                                         (long)(tm->asleep_until % 1000000000u)};
                pthread_cond_timedwait(&tm->wake, &tm->lock, &until);
            }
            continue;
        }
        heap_remove(tm, first);
        pthread_mutex_unlock(&tm->lock);
        first->fire(first);
        pthread_mutex_lock(&tm->lock);
    }
    pthread_mutex_unlock(&tm->lock);
    return NULL;
}

static int grow(struct timers *tm)
{
    size_t size = tm->size ? tm->size * 2 : 64;
    struct timer_entry **heap = realloc(tm->heap, size * sizeof(*heap));
    if (!heap)
        return -ENOMEM;
    tm->heap = heap;
    tm->size = size;
    return 0;
}

bool bus__timers_on_thread(const struct timers *tm)
{
    return current_timers == tm;
}

void bus__timer_entry_init(struct timer_entry *e, uint64_t deadline_ns,
                           void (*fire)(struct timer_entry *entry))
{
    e->deadline_ns = deadline_ns;
    e->index = TIMER_IDLE;
    e->fire = fire;
}

int bus__timer_reserve(struct timers *tm)
{
    int rc = 0;
    pthread_mutex_lock(&tm->lock);
    if (tm->stopping)
        rc = -ESHUTDOWN;
    else if (tm->count + tm->reserved == tm->size)
        rc = grow(tm);
    if (rc == 0 && !tm->started) {
        if (pthread_create(&tm->thread, NULL, timer_main, tm) == 0)
            tm->started = true;
        else
            rc = -ENOMEM;
    }
    if (rc == 0)
        tm->reserved++;
    pthread_mutex_unlock(&tm->lock);
    return rc;
}

void bus__timer_unreserve(struct timers *tm)
{
    pthread_mutex_lock(&tm->lock);
    tm->reserved--;
    pthread_mutex_unlock(&tm->lock);
}

bool bus__timer_arm(struct timers *tm, struct timer_entry *e)
{
    pthread_mutex_lock(&tm->lock);
    tm->reserved--; /* its cell is the one taken below */
    bool arm = e->index == TIMER_IDLE && !tm->stopping;
    if (arm) {
        tm->heap[tm->count++] = e;
        sift_up(tm, tm->count - 1);
        if (e->deadline_ns < tm->asleep_until)
            pthread_cond_signal(&tm->wake); /* earlier than the thread's wake-up */
    }
    pthread_mutex_unlock(&tm->lock);
    return arm;
}

bool bus__timer_cancel(struct timers *tm, struct timer_entry *e)
{
    pthread_mutex_lock(&tm->lock);
    bool armed = e->index < TIMER_DONE;
    if (armed)
        heap_remove(tm, e);
    else
        e->index = TIMER_DONE; /* a later arm does nothing */
    pthread_mutex_unlock(&tm->lock);
    return armed;
}

void bus__timers_stop(struct timers *tm)
{
    pthread_mutex_lock(&tm->lock);
    tm->stopping = true;
    pthread_cond_signal(&tm->wake);
    bool started = tm->started;
    tm->started = false;
    pthread_mutex_unlock(&tm->lock);
    if (started)
        pthread_join(tm->thread, NULL);
}

void bus__timers_fini(struct timers *tm)
{
    bus__timers_stop(tm);
    free(tm->heap);
    pthread_mutex_destroy(&tm->lock);
    pthread_cond_destroy(&tm->wake);
}
