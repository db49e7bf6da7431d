/* test_json.c - bus_metrics_json(): the metrics as JSON. With --dump it
 * only prints a sample text, for tests/check_json.py (tests/meson.build:
 * Python's json module parses it and checks its values). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exposition_bus.h"

/* The topic's object holds what bus_topic_metrics() says, field by field,
 * for the figures that do not move once the bus is quiet. */
static void assert_topic_matches(const char *text, bus_topic_t *t, const char *json_name)
{
    bus_topic_metrics_t m;
    ck_assert_ok(bus_topic_metrics(t, &m));
    char head[512], handler[512];
    snprintf(head, sizeof(head),
             "{\"name\":%s,\"published\":%llu,\"delivered\":%llu,\"dropped\":%llu,"
             "\"handler_errors\":%llu,\"blocked\":%llu,\"depth\":%u,\"high_water\":%u,",
             json_name, (unsigned long long)m.stats.published,
             (unsigned long long)m.stats.delivered, (unsigned long long)m.stats.dropped,
             (unsigned long long)m.stats.handler_errors, (unsigned long long)m.stats.blocked,
             m.stats.depth, m.stats.high_water);
    snprintf(handler, sizeof(handler),
             "\"handler\":{\"count\":%llu,\"sum_ns\":%llu,\"p50_ns\":%llu,\"p90_ns\":%llu,"
             "\"p99_ns\":%llu,\"p999_ns\":%llu,\"max_ns\":%llu}}",
             (unsigned long long)m.handler.count, (unsigned long long)m.handler.sum_ns,
             (unsigned long long)m.handler.p50_ns, (unsigned long long)m.handler.p90_ns,
             (unsigned long long)m.handler.p99_ns, (unsigned long long)m.handler.p999_ns,
             (unsigned long long)m.handler.max_ns);
    const char *obj = strstr(text, head);
    ck_assert_msg(obj != NULL, "no %s in %s", head, text);
    const char *end = strstr(obj, handler);
    ck_assert_msg(end != NULL, "no %s in %s", handler, obj);
    ck_assert_ptr_null(memchr(obj, ']', (size_t)(end - obj))); /* same object */
    ck_assert_uint_eq(m.stats.published, 100);
    ck_assert_uint_eq(m.handler.count, 100);
}

START_TEST(values_match_the_snapshots)
{
    setup_bus();
    size_t len;
    char *text = exposition_text(bus_metrics_json, &len);
    ck_assert(text[0] == '{' && text[len - 1] == '\n');
    assert_topic_matches(text, plain, "\"orders.created\"");
    assert_topic_matches(text, odd, "\"say.\\\"hi\\\".back\\\\slash\"");
    bus_metrics_t m;
    ck_assert_ok(bus_metrics(bus, &m));
    char head[256];
    snprintf(head, sizeof(head),
             "{\"bus\":{\"topics\":%u,\"workers\":%u,\"published\":%llu,\"delivered\":%llu,",
             m.topics, m.workers, (unsigned long long)m.published,
             (unsigned long long)m.delivered);
    ck_assert_msg(strncmp(text, head, strlen(head)) == 0, "%s does not start with %s", text,
                  head);
    free(text);
    ck_assert_ok(bus_destroy(bus));
}
END_TEST

START_TEST(short_buffer_and_bad_input)
{
    check_short_buffer_and_bad_input(bus_metrics_json);
}
END_TEST

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--dump") == 0)
        return exposition_dump(bus_metrics_json);
    Suite *s = suite_create("json");
    TCase *tc = tcase_create("json");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, values_match_the_snapshots);
    tcase_add_test(tc, short_buffer_and_bad_input);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
