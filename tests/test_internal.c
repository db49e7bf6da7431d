/* test_internal.c - the library's internal paths that no public call can
 * drive into their corner cases. Linked with the static library, whose
 * hidden symbols are still there to link against. */
#include "helpers.h"
#include "../bus/internal.h" /* by path: bus/sched.h would shadow <sched.h> */

/* A batch as large as the largest ring: 2^31 tickets. ring_reserve returned
 * an int, so taking all of them came back as INT_MIN, an "error", after the
 * tickets were taken: nobody committed them and the ring was wedged. A real
 * topic of 2^31 slots needs 128 GiB (64-byte slots) and the batch's
 * bus_msg_t array 32 GiB, more than CI has; ring_reserve reads only the
 * ring's positions and capacity, so a ring with no slots tests it. */
START_TEST(reserve_counts_a_full_2_pow_31_ring)
{
    struct ring r;
    memset(&r, 0, sizeof(r));
    r.capacity = UINT64_C(1) << 31;
    r.mask = r.capacity - 1;
    uint64_t first = 99, depth = 0;
    int64_t n = ring_reserve(&r, r.capacity, &first, &depth);
    ck_assert_int_eq(n, (int64_t)r.capacity);
    ck_assert_uint_eq(first, 0);
    ck_assert_uint_eq(depth, r.capacity);
    ck_assert_uint_eq(ring_handed_out(&r), r.capacity);
    /* Full now, and it says so. */
    ck_assert_int_eq(ring_reserve(&r, 1, &first, &depth), -EAGAIN);
}
END_TEST

static bus_topic_t *topic_with_payload(bus_t *bus, const char *name, uint32_t max_payload,
                                       unsigned flags)
{
    bus_topic_config_t cfg;
    bus_topic_config_init(&cfg);
    cfg.capacity = 8;
    cfg.max_payload = max_payload;
    cfg.flags = flags;
    bus_topic_t *t;
    ck_assert_ok(bus_topic_open(bus, name, &cfg, &t));
    return t;
}

/* Publishes two buffers with the internal publish of parts (dead letters). */
static int publish_two(bus_topic_t *t, const void *a, size_t a_size, const void *b,
                       size_t b_size)
{
    bus_msg_t parts[] = {{a, a_size}, {b, b_size}};
    return bus__publish_parts(t, parts, 2);
}

/* The internal publish of parts (dead letters) checks the sizes against
 * max_payload like bus_publish does: it copied them into the slot unchecked. */
START_TEST(publish_two_checks_sizes)
{
    bus_t *bus = new_bus(1);
    bus_topic_t *t = topic_with_payload(bus, "small", 16, 0);
    char a[16] = "header", b[16] = "payload";
    ck_assert_int_eq(publish_two(t, a, 10, b, 7), -EMSGSIZE);
    ck_assert_int_eq(publish_two(t, a, 17, b, 0), -EMSGSIZE);
    ck_assert_int_eq(publish_two(t, a, 8, b, SIZE_MAX - 4), -EMSGSIZE);
    ck_assert_uint_eq(ring_handed_out(&t->ring), 0);
    ck_assert_ok(publish_two(t, a, 9, b, 7)); /* exactly max_payload */
    ck_assert_uint_eq(ring_handed_out(&t->ring), 1);
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

static int count_size(const bus_event_t *ev, void *ctx)
{
    atomic_fetch_add((atomic_ulong *)ctx, ev->size);
    return 0;
}

/* On a keyed topic the internal publish goes to the lane of key 0, as
 * bus_publish() does: the keyed topic's own ring has 2 slots and no room for
 * a payload. */
START_TEST(publish_two_on_keyed_topic_uses_lane_0)
{
    bus_t *bus = new_bus(1);
    bus_topic_t *t = topic_with_payload(bus, "keyed", 64, BUS_TOPIC_KEYED);
    atomic_ulong bytes = 0;
    subscribe(t, count_size, &bytes);
    char a[32] = {0}, b[32] = {0};
    ck_assert_ok(publish_two(t, a, sizeof(a), b, sizeof(b)));
    ck_assert_uint_eq(ring_handed_out(&t->ring), 0);
    ck_assert_uint_eq(ring_handed_out(&t->lanes[0]->ring), 1);
    ck_assert_ok(bus_flush(bus));
    ck_assert_uint_eq(atomic_load(&bytes), 64);
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("internal");
    TCase *tc = tcase_create("internal");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, reserve_counts_a_full_2_pow_31_ring);
    tcase_add_test(tc, publish_two_checks_sizes);
    tcase_add_test(tc, publish_two_on_keyed_topic_uses_lane_0);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
