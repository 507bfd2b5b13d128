/* test_scraper_target_check.c - scraper/target_check: Prometheus's checks of a target after
 * relabeling (interval, timeout, UTF-8 values) with its exact messages, the label limits
 * and target_limit messages, and the per-target delta duration behind seconds=. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"
#include "core/labels.h"
#include "scraper/target.h"
#include "scraper/target_check.h"
#include "testcfg.h"

/* A target's final labels with the given interval and timeout (NULL: absent). */
static void target(struct pg_labels *ls, const char *iv, const char *to)
{
    pg_labels_init(ls);
    pg_labels_set(ls, "__address__", "127.0.0.1:6060");
    pg_labels_set(ls, "instance", "127.0.0.1:6060");
    pg_labels_set(ls, "job", "app");
    if (iv)
        pg_labels_set(ls, "__scrape_interval__", iv);
    if (to)
        pg_labels_set(ls, "__scrape_timeout__", to);
}

/* Runs pg_target_check on a target with iv/to; returns its message ("" when accepted). */
static const char *check(const char *iv, const char *to, int64_t *ivms, int64_t *toms)
{
    static char err[512];
    struct pg_labels ls;
    target(&ls, iv, to);
    err[0] = '\0';
    int64_t a = 0, b = 0;
    int rc = pg_target_check(&ls, &a, &b, err, sizeof err);
    assert_int_equal(rc, err[0] ? -1 : 0);
    if (ivms)
        *ivms = a;
    if (toms)
        *toms = b;
    pg_labels_reset(&ls);
    return err;
}

static void test_interval_timeout(void **state)
{
    (void)state;
    int64_t iv, to;
    assert_string_equal(check("1m", "20s", &iv, &to), "");
    assert_int_equal(iv, 60000);
    assert_int_equal(to, 20000);
    assert_string_equal(check("5x", "10s", NULL, NULL),
                        "error parsing scrape interval: not a valid duration string: \"5x\"");
    assert_string_equal(check(NULL, "10s", NULL, NULL),
                        "error parsing scrape interval: empty duration string");
    assert_string_equal(check("0s", "10s", NULL, NULL), "scrape interval cannot be 0");
    assert_string_equal(check("15s", "bad", NULL, NULL),
                        "error parsing scrape timeout: not a valid duration string: \"bad\"");
    assert_string_equal(check("15s", "0", NULL, NULL), "scrape timeout cannot be 0");
    assert_string_equal(
        check("10s", "20s", NULL, NULL),
        "scrape timeout cannot be greater than scrape interval (\"20s\" > \"10s\")");
    assert_string_equal(check("10s", "10s", NULL, NULL), "");
}

static void test_invalid_utf8_value(void **state)
{
    (void)state;
    struct pg_labels ls;
    target(&ls, "15s", "10s");
    pg_labels_set(&ls, "team", "a\xff\"b");
    char err[256] = "";
    int64_t iv, to;
    assert_int_equal(pg_target_check(&ls, &iv, &to, err, sizeof err), -1);
    assert_string_equal(err, "invalid label value for \"team\": \"a\\xff\\\"b\"");
    pg_labels_reset(&ls);
}

static void test_label_limits(void **state)
{
    (void)state;
    struct pg_labels s;
    pg_labels_init(&s);
    pg_labels_set(&s, "__name__", "process_cpu");
    pg_labels_set(&s, "__delta__", "false"); /* internal: not counted */
    pg_labels_set(&s, "instance", "127.0.0.1:6060");
    pg_labels_set(&s, "job", "app");
    pg_labels_set(&s, "service_name", "checkout");
    char err[512] = "";
    struct pg_cfg_limits lim = {0};
    assert_int_equal(pg_target_check_label_limits(&lim, &s, err, sizeof err), 0);
    lim.label_limit = 4;
    assert_int_equal(pg_target_check_label_limits(&lim, &s, err, sizeof err), 0);
    lim.label_limit = 3;
    assert_int_equal(pg_target_check_label_limits(&lim, &s, err, sizeof err), -1);
    assert_string_equal(
        err, "label_limit exceeded (metric: process_cpu, number of labels: 4, limit: 3)");
    lim.label_limit = 0;
    lim.label_name_length_limit = 8;
    assert_int_equal(pg_target_check_label_limits(&lim, &s, err, sizeof err), -1);
    assert_string_equal(err, "label_name_length_limit exceeded (metric: process_cpu, label name: "
                             "service_name, length: 12, limit: 8)");
    lim.label_name_length_limit = 0;
    lim.label_value_length_limit = 12;
    assert_int_equal(pg_target_check_label_limits(&lim, &s, err, sizeof err), -1);
    assert_string_equal(err, "label_value_length_limit exceeded (metric: process_cpu, label name: "
                             "instance, value: \"127.0.0.1:6060\", length: 14, limit: 12)");
    /* Go's %.50q: the value is cut to 50 runes before quoting */
    char longv[80];
    memset(longv, 'v', 70);
    longv[70] = '\0';
    pg_labels_set(&s, "instance", "i");
    pg_labels_set(&s, "zz", longv);
    lim.label_value_length_limit = 60;
    assert_int_equal(pg_target_check_label_limits(&lim, &s, err, sizeof err), -1);
    char want[300];
    snprintf(want, sizeof want,
             "label_value_length_limit exceeded (metric: process_cpu, label name: zz, value: "
             "\"%.50s\", length: 70, limit: 60)",
             longv);
    assert_string_equal(err, want);
    pg_labels_reset(&s);
}

static void test_target_limit(void **state)
{
    (void)state;
    struct pg_cfg_limits lim = {0};
    char err[128] = "";
    assert_int_equal(pg_target_limit_exceeded(&lim, 1000, err, sizeof err), 0);
    lim.target_limit = 2;
    assert_int_equal(pg_target_limit_exceeded(&lim, 2, err, sizeof err), 0);
    assert_int_equal(pg_target_limit_exceeded(&lim, 3, err, sizeof err), 1);
    assert_string_equal(err, "target_limit exceeded (number of targets: 3, limit: 2)");
}

/* Returns the seconds= in the process_cpu URL of a target of job whose interval label is
 * iv (NULL: the job's). */
static long cpu_seconds(const struct pg_cfg_scrape *job, const char *iv)
{
    struct pg_labels ls, out;
    target(&ls, iv, "5s");
    pg_labels_init(&out);
    char *url = NULL;
    assert_int_equal(
        pg_target_profile(job, &ls, NULL, pg_cfg_profile_find(job, "process_cpu"), &out, &url), 0);
    const char *q = strstr(url, "seconds=");
    assert_non_null(q);
    long secs = strtol(q + 8, NULL, 10);
    free(url);
    pg_labels_reset(&out);
    pg_labels_reset(&ls);
    return secs;
}

static void test_seconds_follow_target_interval(void **state)
{
    (void)state;
    struct pg_cfg *c = pg_test_load_cfg("scrape_configs:\n"
                                        "  - job_name: derived\n"
                                        "    scrape_interval: 15s\n"
                                        "  - job_name: explicit\n"
                                        "    scrape_interval: 30s\n"
                                        "    delta_profiling_duration: 10s\n");
    const struct pg_cfg_scrape *d = &c->scrape[0], *e = &c->scrape[1];
    assert_int_equal(cpu_seconds(d, NULL), 14);
    assert_int_equal(cpu_seconds(d, "15s"), 14);
    assert_int_equal(cpu_seconds(d, "1m"), 59);
    assert_int_equal(cpu_seconds(d, "5s"), 4);
    assert_int_equal(cpu_seconds(d, "1s"), 1);
    assert_int_equal(cpu_seconds(e, NULL), 10);
    assert_int_equal(cpu_seconds(e, "2m"), 10); /* explicit and below the interval: kept */
    assert_int_equal(cpu_seconds(e, "8s"), 7);  /* not below: follows the interval */
    pg_cfg_free(c);
}

static void test_limits_inherit_global(void **state)
{
    (void)state;
    struct pg_cfg *c = pg_test_load_cfg("global:\n"
                                        "  target_limit: 10\n"
                                        "  label_limit: 20\n"
                                        "  label_name_length_limit: 30\n"
                                        "  label_value_length_limit: 40\n"
                                        "  keep_dropped_targets: 50\n"
                                        "scrape_configs:\n"
                                        "  - job_name: a\n"
                                        "  - job_name: b\n"
                                        "    target_limit: 1\n"
                                        "    label_limit: 2\n"
                                        "    label_name_length_limit: 3\n"
                                        "    label_value_length_limit: 4\n"
                                        "    keep_dropped_targets: 5\n"
                                        "  - job_name: c\n"
                                        "    target_limit: 0\n");
    const struct pg_cfg_limits *a = &c->scrape[0].limits, *b = &c->scrape[1].limits,
                               *z = &c->scrape[2].limits;
    assert_int_equal(a->target_limit, 10);
    assert_int_equal(a->label_limit, 20);
    assert_int_equal(a->label_name_length_limit, 30);
    assert_int_equal(a->label_value_length_limit, 40);
    assert_int_equal(a->keep_dropped_targets, 50);
    assert_int_equal(b->target_limit, 1);
    assert_int_equal(b->label_limit, 2);
    assert_int_equal(b->label_name_length_limit, 3);
    assert_int_equal(b->label_value_length_limit, 4);
    assert_int_equal(b->keep_dropped_targets, 5);
    assert_int_equal(z->target_limit, 10); /* 0 takes the global value, as in Prometheus */
    pg_cfg_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_interval_timeout),
        cmocka_unit_test(test_invalid_utf8_value),
        cmocka_unit_test(test_label_limits),
        cmocka_unit_test(test_target_limit),
        cmocka_unit_test(test_seconds_follow_target_interval),
        cmocka_unit_test(test_limits_inherit_global),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
