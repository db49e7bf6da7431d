/* idem.h - Idempotency-Key: a retried publish within the window gets the
 * first answer and publishes nothing. */
#ifndef BUS_HTTP_IDEM_H
#define BUS_HTTP_IDEM_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#define IDEM_KEY_MAX 255

struct idem_entry;

struct idem {
    pthread_mutex_t lock;
    struct idem_entry **buckets;
    size_t nbuckets;
    struct idem_entry *oldest, *newest; /* insertion order, for expiry */
    size_t count, max;
    uint64_t window_ns;
};

enum idem_state {
    IDEM_NEW,  /* first use: the caller publishes, then idem_done or idem_abort */
    IDEM_SEEN, /* answered before: *seq is the first answer's */
    IDEM_BUSY  /* the first request with this key is still in flight */
};

int idem_init(struct idem *t, size_t max_keys, uint64_t window_ns);
void idem_destroy(struct idem *t);

/* Looks @key (of @topic) up and, when new, reserves it. */
enum idem_state idem_begin(struct idem *t, const char *topic, const char *key, uint64_t *seq);
/* The publish succeeded with @seq: remember it for the window. */
void idem_done(struct idem *t, const char *topic, const char *key, uint64_t seq);
/* The publish failed: forget the key, so that a retry publishes. */
void idem_abort(struct idem *t, const char *topic, const char *key);

#endif /* BUS_HTTP_IDEM_H */
