/* pipe_queue.c - a mutex-protected list with a pipe as its wake-up. */
#include "pipe_queue.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct pipe_item {
    struct pipe_item *next;
    size_t size;
    unsigned char data[];
};

int pipe_queue_init(struct pipe_queue *q)
{
    memset(q, 0, sizeof(*q));
    q->rfd = q->wfd = -1;
    int fds[2];
    if (pipe2(fds, O_NONBLOCK | O_CLOEXEC))
        return -errno;
    q->rfd = fds[0];
    q->wfd = fds[1];
    q->tail = &q->head;
    pthread_mutex_init(&q->lock, NULL);
    return 0;
}

void pipe_queue_fini(struct pipe_queue *q)
{
    for (struct pipe_item *it = q->head, *next; it; it = next) {
        next = it->next;
        free(it);
    }
    close(q->rfd);
    close(q->wfd);
    pthread_mutex_destroy(&q->lock);
}

int pipe_queue_push(struct pipe_queue *q, const void *data, size_t size)
{
    struct pipe_item *it = malloc(sizeof(*it) + size);
    if (!it)
        return -ENOMEM;
    it->next = NULL;
    it->size = size;
    memcpy(it->data, data, size);
    pthread_mutex_lock(&q->lock);
    bool was_empty = q->head == NULL;
    *q->tail = it;
    q->tail = &it->next;
    q->wakeups += was_empty;
    pthread_mutex_unlock(&q->lock);
    /* Outside the lock, as usual: a taker that drains and takes between our
     * unlock and this write gets one spurious wake-up, never a lost event. */
    if (was_empty) {
        /* A full pipe (EAGAIN) is readable already: nothing to add. */
        ssize_t ignored = write(q->wfd, "", 1);
        (void)ignored;
    }
    return 0;
}

unsigned pipe_queue_take(struct pipe_queue *q, sut_handler_fn fn, void *ctx)
{
    char drain[64];
    while (read(q->rfd, drain, sizeof(drain)) == (ssize_t)sizeof(drain))
        ;
    pthread_mutex_lock(&q->lock);
    struct pipe_item *it = q->head;
    q->head = NULL;
    q->tail = &q->head;
    pthread_mutex_unlock(&q->lock);
    unsigned n = 0;
    for (struct pipe_item *next; it; it = next, n++) {
        next = it->next;
        fn(ctx, it->data, it->size);
        free(it);
    }
    return n;
}

uint64_t pipe_queue_wakeups(struct pipe_queue *q)
{
    pthread_mutex_lock(&q->lock);
    uint64_t n = q->wakeups;
    pthread_mutex_unlock(&q->lock);
    return n;
}
