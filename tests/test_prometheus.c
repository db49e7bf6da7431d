/* test_prometheus.c - bus_metrics_prometheus(): the text exposition format.
 * With --dump it only prints a sample text, for `promtool check metrics`
 * (tests/meson.build runs that when promtool is installed). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exposition_bus.h"

/* The value of the sample line @line (after its labels' closing brace). */
static double line_value(const char *line)
{
    return strtod(strchr(line, '}') + 2, NULL);
}

/* The value of the sample line that starts with @prefix, or -1. */
static double sample(const char *text, const char *prefix)
{
    for (const char *line = text; *line; line = strchr(line, '\n') + 1) {
        if (strncmp(line, prefix, strlen(prefix)) == 0)
            return line_value(line);
        if (!strchr(line, '\n'))
            break;
    }
    return -1;
}

START_TEST(counters_gauges_and_escaped_labels)
{
    setup_bus();
    size_t len;
    char *text = exposition_text(bus_metrics_prometheus, &len);
    ck_assert(text[len - 1] == '\n');
    ck_assert_double_eq(sample(text, "bus_topic_published_total{topic=\"orders.created\"}"), 100);
    ck_assert_double_eq(sample(text, "bus_topic_delivered_total{topic=\"orders.created\"}"), 100);
    ck_assert_double_eq(
        sample(text, "bus_topic_published_total{topic=\"say.\\\"hi\\\".back\\\\slash\"}"), 100);
    ck_assert_double_eq(sample(text, "bus_topic_depth{topic=\"orders.created\"}"), 0);
    /* One HELP and one TYPE per family. */
    const char *first = strstr(text, "# TYPE bus_topic_published_total counter\n");
    ck_assert_ptr_nonnull(first);
    ck_assert_ptr_null(strstr(first + 1, "# TYPE bus_topic_published_total"));
    free(text);
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

/* Buckets are cumulative and end with +Inf equal to _count; the counts are
 * the timed events (every event here). */
START_TEST(histograms_are_cumulative)
{
    setup_bus();
    size_t len;
    char *text = exposition_text(bus_metrics_prometheus, &len);
    const char *prefix = "bus_topic_handler_seconds_bucket{topic=\"orders.created\",le=\"";
    double last = 0;
    int buckets = 0;
    for (const char *line = strstr(text, prefix); line && strncmp(line, prefix,
                                                                  strlen(prefix)) == 0;
         line = strchr(line, '\n') + 1) {
        double v = line_value(line);
        ck_assert_double_ge(v, last);
        last = v;
        buckets++;
    }
    ck_assert_int_eq(buckets, 33); /* 32 powers of two and +Inf */
    ck_assert_double_eq(last, 100);
    ck_assert_double_eq(
        sample(text, "bus_topic_handler_seconds_count{topic=\"orders.created\"}"), 100);
    ck_assert_double_eq(sample(text, "bus_topic_wait_seconds_count{topic=\"orders.created\"}"),
                        100);
    ck_assert_double_gt(sample(text, "bus_topic_wait_seconds_sum{topic=\"orders.created\"}"), 0);
    ck_assert_ptr_nonnull(strstr(
        text, "bus_topic_handler_seconds_bucket{topic=\"orders.created\",le=\"+Inf\"} 100\n"));
    free(text);
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

START_TEST(short_buffer_and_bad_input)
{
    check_short_buffer_and_bad_input(bus_metrics_prometheus);
}
END_TEST

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--dump") == 0)
        return exposition_dump(bus_metrics_prometheus);
    Suite *s = suite_create("prometheus");
    TCase *tc = tcase_create("prometheus");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, counters_gauges_and_escaped_labels);
    tcase_add_test(tc, histograms_are_cumulative);
    tcase_add_test(tc, short_buffer_and_bad_input);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
