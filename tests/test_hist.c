/* test_hist.c - the latency histogram (bus/hist.h): buckets tile the range,
 * quantiles stay within the bucket error, concurrent recording loses
 * nothing. Linked with the static library (internal symbols). */
#include <stdlib.h>

#include "helpers.h"
#include "../bus/hist.h"

/* The midpoint of a value's bucket is within 1/64 of the value. */
static const double BUCKET_ERROR = 1.0 / 64;

/* Buckets are contiguous and each holds exactly its values. */
START_TEST(buckets_tile_the_range)
{
    for (unsigned i = 0; i + 1 < HIST_BUCKETS; i++) {
        uint64_t low = bus__hist_bucket_low(i), high = bus__hist_bucket_high(i);
        ck_assert_uint_le(low, high);
        ck_assert_uint_eq(bus__hist_bucket_low(i + 1), high + 1);
        ck_assert_uint_eq(bus__hist_bucket(low), i);
        ck_assert_uint_eq(bus__hist_bucket(high), i);
        /* Relative width: the midpoint is within 1/64 of every member. */
        if (i >= HIST_EXACT)
            ck_assert_double_le((double)(high + 1 - low) / 2 / (double)low, BUCKET_ERROR);
    }
    ck_assert_uint_eq(bus__hist_bucket(0), 0);
    ck_assert_uint_eq(bus__hist_bucket(63), 63);
    ck_assert_uint_eq(bus__hist_bucket(64), 64);
    /* 137 s and beyond share the last bucket. */
    ck_assert_uint_eq(bus__hist_bucket(UINT64_C(1) << 37), HIST_BUCKETS - 1);
    ck_assert_uint_eq(bus__hist_bucket(UINT64_MAX), HIST_BUCKETS - 1);
    ck_assert_uint_eq(bus__hist_bucket((UINT64_C(1) << 37) - 1), HIST_BUCKETS - 1);
}
END_TEST

static void assert_near(uint64_t got, double want)
{
    ck_assert_msg((double)got >= want * (1 - BUCKET_ERROR) - 1 &&
                      (double)got <= want * (1 + BUCKET_ERROR) + 1,
                  "quantile %llu, want %.0f within 1/64", (unsigned long long)got, want);
}

/* 100,000 samples spread quadratically from 1 ns to 1 s (dense at the
 * bottom, sparse at the top: every octave has samples): every quantile is
 * within the bucket error of the exact one. */
START_TEST(quantiles_of_a_known_distribution)
{
    enum { N = 100000 };
    static uint64_t values[N];
    struct hist *h = calloc(1, sizeof(*h));
    for (int i = 0; i < N; i++) {
        values[i] = (uint64_t)(1 + (double)i * (double)i * 0.1); /* 1 ns .. 1 s */
        bus__hist_record(h, values[i], false);
    }
    static struct hist_view view;
    memset(&view, 0, sizeof(view));
    bus__hist_read(h, &view);
    ck_assert_uint_eq(view.count, N);
    ck_assert_uint_eq(view.max, values[N - 1]);
    const double qs[] = {0.001, 0.01, 0.1, 0.5, 0.9, 0.99, 0.999, 1.0};
    for (unsigned k = 0; k < sizeof(qs) / sizeof(qs[0]); k++) {
        uint64_t rank = (uint64_t)(qs[k] * N + 0.999999);
        assert_near(bus__hist_quantile(&view, qs[k]), (double)values[rank - 1]);
    }
    uint64_t sum = 0;
    for (int i = 0; i < N; i++)
        sum += values[i];
    ck_assert_uint_eq(view.sum, sum);
    bus__hist_free(h);
}
END_TEST

/* Buckets are allocated a chunk (an octave) at a time, where samples land. */
START_TEST(only_used_chunks_are_allocated)
{
    struct hist *h = calloc(1, sizeof(*h));
    for (uint64_t ns = 1000; ns < 2000; ns += 7) /* one octave: [1024, 2048) and below */
        bus__hist_record(h, ns, false);
    unsigned used = 0;
    for (unsigned c = 0; c < HIST_CHUNKS; c++)
        used += atomic_load(&h->chunks[c]) != NULL;
    ck_assert_uint_eq(used, 2); /* [512, 1024) for 1000-1023, and [1024, 2048) */
    bus__hist_free(h);
}
END_TEST

START_TEST(empty_histogram_answers_zero)
{
    struct hist_view view;
    memset(&view, 0, sizeof(view));
    ck_assert_uint_eq(bus__hist_quantile(&view, 0.5), 0);
    ck_assert_uint_eq(bus__hist_quantile(&view, 1.0), 0);
}
END_TEST

/* Several threads record into one histogram (a parallel topic's workers)
 * while another reads it: no sample is lost, and the reader never sees more
 * samples in the buckets than have been recorded. */
enum { RECORDERS = 4, PER_RECORDER = 200000 };
static struct hist *shared;
static atomic_bool reading;

static void *recorder(void *arg)
{
    uint64_t base = (uintptr_t)arg;
    for (uint64_t i = 0; i < PER_RECORDER; i++)
        bus__hist_record(shared, base + i % 5000, true);
    return NULL;
}

static void *reader(void *arg)
{
    (void)arg;
    static struct hist_view view;
    while (atomic_load(&reading)) {
        memset(&view, 0, sizeof(view));
        bus__hist_read(shared, &view);
        ck_assert_uint_le(view.count, (uint64_t)RECORDERS * PER_RECORDER);
        if (view.count)
            ck_assert_uint_le(bus__hist_quantile(&view, 0.5), view.max);
    }
    return NULL;
}

START_TEST(concurrent_recording_loses_nothing)
{
    shared = calloc(1, sizeof(*shared));
    atomic_store(&reading, true);
    pthread_t r, w[RECORDERS];
    ck_assert_int_eq(pthread_create(&r, NULL, reader, NULL), 0);
    for (uintptr_t i = 0; i < RECORDERS; i++)
        ck_assert_int_eq(pthread_create(&w[i], NULL, recorder, (void *)(100 + i * 1000)), 0);
    for (int i = 0; i < RECORDERS; i++)
        pthread_join(w[i], NULL);
    atomic_store(&reading, false);
    pthread_join(r, NULL);
    static struct hist_view view;
    memset(&view, 0, sizeof(view));
    bus__hist_read(shared, &view);
    ck_assert_uint_eq(view.count, (uint64_t)RECORDERS * PER_RECORDER);
    ck_assert_uint_eq(view.max, 100 + 3 * 1000 + 4999);
    bus__hist_free(shared);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("hist");
    TCase *tc = tcase_create("hist");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, buckets_tile_the_range);
    tcase_add_test(tc, quantiles_of_a_known_distribution);
    tcase_add_test(tc, empty_histogram_answers_zero);
    tcase_add_test(tc, only_used_chunks_are_allocated);
    tcase_add_test(tc, concurrent_recording_loses_nothing);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
