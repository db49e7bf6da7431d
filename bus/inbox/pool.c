/* pool.c - recycled inbox messages (pool.h). */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>

#include "pool.h"

#define POOL_CLOSED (UINT64_C(1) << 63)
#define SLOT_SIZE (sizeof(struct inbox_msg) + POOL_INLINE)

int bus__inbox_pool_new(uint32_t capacity, struct inbox_pool **out)
{
    struct inbox_pool *p = aligned_alloc(64, sizeof(*p));
    if (!p)
        return -ENOMEM;
    int rc = bus__mpmc_init(&p->free, capacity < POOL_KEPT_MAX ? capacity : POOL_KEPT_MAX);
    if (rc) {
        free(p);
        return rc;
    }
    atomic_init(&p->state, 0);
    atomic_init(&p->refs, 1); /* the inbox's */
    *out = p;
    return 0;
}

static void pool_unref(struct inbox_pool *p)
{
    /* acq_rel: our uses of the pool happen before the last holder's free
     * (release), and the last holder sees all of them (acquire). */
    if (atomic_fetch_sub_explicit(&p->refs, 1, memory_order_acq_rel) == 1) {
        bus__mpmc_fini(&p->free);
        free(p);
    }
}

/* Frees a slot for good. */
static void slot_destroy(struct inbox_msg *m)
{
    struct inbox_pool *p = m->pool;
    free(m);
    pool_unref(p);
}

struct inbox_msg *bus__inbox_msg_new(struct inbox_pool *p, size_t bytes)
{
    struct inbox_msg *m;
    if (bytes > POOL_INLINE) {
        m = malloc(sizeof(*m) + bytes);
        if (m)
            m->pool = NULL;
        return m;
    }
    if ((m = bus__mpmc_pop(&p->free)))
        return m;
    if (!(m = malloc(SLOT_SIZE)))
        return NULL;
    m->pool = p;
    /* relaxed: we hold the inbox's reference, so the count cannot reach 0
     * meanwhile; the decrements' acq_rel orders the free. */
    atomic_fetch_add_explicit(&p->refs, 1, memory_order_relaxed);
    return m;
}

void bus__inbox_msg_free(struct inbox_msg *m)
{
    struct inbox_pool *p = m->pool;
    if (!p) {
        free(m);
        return;
    }
    /* relaxed: the pin's place in state's modification order alone says
     * whether it came before the close's mark (the close then waits for
     * our unpin) or after it (we see the mark). Our slot keeps the pool
     * alive until we free it or push it. */
    uint64_t state = atomic_fetch_add_explicit(&p->state, 1, memory_order_relaxed);
    bool kept = !(state & POOL_CLOSED) && bus__mpmc_push(&p->free, m, NULL);
    /* release: our push happens before the close's drain, whose acquire
     * load reads this unpin or a later pin or unpin (a release sequence). */
    atomic_fetch_sub_explicit(&p->state, 1, memory_order_release);
    if (!kept)
        slot_destroy(m); /* closed, or the list holds enough */
}

void bus__inbox_pool_close(struct inbox_pool *p)
{
    /* relaxed: as the pin in bus__inbox_msg_free; the load below orders
     * the drain. */
    atomic_fetch_or_explicit(&p->state, POOL_CLOSED, memory_order_relaxed);
    /* acquire: pairs with the unpins' release; a release holds its pin
     * only for a push, so this waits briefly. */
    while (atomic_load_explicit(&p->state, memory_order_acquire) != POOL_CLOSED)
        sched_yield();
    for (struct inbox_msg *m; (m = bus__mpmc_pop(&p->free));)
        slot_destroy(m);
    pool_unref(p);
}
