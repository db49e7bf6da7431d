/* test_judges.c - the benchmark's verdicts: a run that measured nothing
 * fails, and churn and inbox figures that cannot be right are marked, not "ok". */
#include <check.h>

#include "scenarios.h"

static struct result passed_run(uint64_t published)
{
    return (struct result){.system = "bus", .scenario = "churn", .ok = true,
                           .published = published};
}

START_TEST(a_run_that_published_nothing_fails)
{
    struct result r = passed_run(0);
    result_check_measured(&r);
    ck_assert(!r.ok);
    ck_assert_str_eq(r.note, "measured nothing: no event was published");
    r = passed_run(1);
    result_check_measured(&r);
    ck_assert(r.ok);
}
END_TEST

/* A passed run with two figures, given to @judge. */
static struct result judged_run(void (*judge)(struct result *), const char *key_a, double a,
                                const char *key_b, double b)
{
    struct result r = passed_run(1000);
    result_extra(&r, key_a, a);
    result_extra(&r, key_b, b);
    judge(&r);
    return r;
}

static struct result churn_run(double ratio, double pairs_per_s)
{
    return judged_run(judge_churn, "ratio", ratio, "churn_pairs_per_s", pairs_per_s);
}

START_TEST(churn_figures_that_cannot_be_right_are_marked)
{
    struct result r = churn_run(1.2, 10000);
    ck_assert(r.ok && r.implausible);
    ck_assert_ptr_nonnull(strstr(r.note, "above 1"));
    r = churn_run(0.9, 2000);
    ck_assert(r.ok && r.implausible);
    ck_assert_ptr_nonnull(strstr(r.note, "under half"));
    r = churn_run(0.9, 9990);
    ck_assert(r.ok && !r.implausible);
    ck_assert_str_eq(r.note, "");
    r = churn_run(1.0, 9990); /* no slower, within the bounds */
    ck_assert(!r.implausible);
}
END_TEST

START_TEST(a_failed_run_stays_failed)
{
    struct result r = passed_run(1000);
    result_fail(&r, "handled 1 of 2");
    result_extra(&r, "ratio", 3.0);
    result_extra(&r, "churn_pairs_per_s", 1.0);
    judge_churn(&r);
    ck_assert(!r.ok && !r.implausible);
    ck_assert_str_eq(r.note, "handled 1 of 2");
}
END_TEST

static struct result inbox_run(double wakeups_per_event, double events_per_take)
{
    return judged_run(judge_inbox, "wakeups_per_event", wakeups_per_event, "events_per_take",
                      events_per_take);
}

START_TEST(inbox_figures_that_cannot_be_right_are_marked)
{
    struct result r = inbox_run(1.5, 10);
    ck_assert(r.ok && r.implausible);
    ck_assert_ptr_nonnull(strstr(r.note, "at most 1 write per event"));
    r = inbox_run(0.01, INBOX_BATCH + 1);
    ck_assert(r.ok && r.implausible);
    ck_assert_ptr_nonnull(strstr(r.note, "events per take"));
    r = inbox_run(0.01, 0.5);
    ck_assert(r.implausible);
    r = judged_run(judge_inbox, "pipe_wakeups_per_event", 1.01, "events_per_take", 2);
    ck_assert(r.implausible);
    ck_assert_ptr_nonnull(strstr(r.note, "pipe_wakeups_per_event"));
    r = inbox_run(1, INBOX_BATCH); /* one write per event: one in flight */
    ck_assert(r.ok && !r.implausible);
    ck_assert_str_eq(r.note, "");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("bench-judges");
    TCase *tc = tcase_create("judges");
    tcase_add_test(tc, a_run_that_published_nothing_fails);
    tcase_add_test(tc, churn_figures_that_cannot_be_right_are_marked);
    tcase_add_test(tc, a_failed_run_stays_failed);
    tcase_add_test(tc, inbox_figures_that_cannot_be_right_are_marked);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
