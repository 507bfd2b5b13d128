/* test_core_metrics.c - unit tests for the Prometheus metrics registry (core/metrics.c):
 * exact exposition text, escaping, number formatting, re-registration, many children,
 * collectors, pg_metric_value, clear and shutdown. Every rendered exposition is also
 * checked line by line against the text format's sample grammar. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "core/metrics.h"

/* Returns 1 when s[0..len) is a sample value: a float strtod reads entirely, or
 * +Inf/-Inf/NaN. */
static int is_number(const char *s, size_t len)
{
    if (len == 0 || len > 63)
        return 0;
    char tmp[64];
    memcpy(tmp, s, len);
    tmp[len] = '\0';
    if (!strcmp(tmp, "+Inf") || !strcmp(tmp, "-Inf") || !strcmp(tmp, "NaN"))
        return 1;
    if (strchr(tmp, 'n') || strchr(tmp, 'N') || strchr(tmp, 'x') || strchr(tmp, 'X'))
        return 0; /* no inf/nan/hex spellings */
    char *end;
    strtod(tmp, &end);
    return *end == '\0';
}

static int name_char(char c, int first, int colon)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon && c == ':') ||
           (!first && c >= '0' && c <= '9');
}

/* Checks one sample line `name{l="v",...} value` (no newline). Returns 1 when valid. */
static int valid_sample(const char *s, size_t len)
{
    size_t i = 0;
    if (i >= len || !name_char(s[i], 1, 1))
        return 0;
    while (i < len && name_char(s[i], 0, 1))
        i++;
    if (i < len && s[i] == '{') {
        i++;
        for (;;) {
            if (i >= len || !name_char(s[i], 1, 0))
                return 0;
            while (i < len && name_char(s[i], 0, 0))
                i++;
            if (i + 1 >= len || s[i] != '=' || s[i + 1] != '"')
                return 0;
            i += 2;
            while (i < len && s[i] != '"') {
                if (s[i] == '\\') {
                    if (i + 1 >= len || (s[i + 1] != '\\' && s[i + 1] != '"' && s[i + 1] != 'n'))
                        return 0;
                    i++;
                }
                i++;
            }
            if (i >= len)
                return 0;
            i++; /* closing quote */
            if (i < len && s[i] == ',') {
                i++;
                continue;
            }
            if (i < len && s[i] == '}') {
                i++;
                break;
            }
            return 0;
        }
    }
    if (i >= len || s[i] != ' ')
        return 0;
    i++;
    return is_number(s + i, len - i);
}

/* Validates a whole exposition; returns the number of sample lines (fails the test on a
 * malformed line). */
static size_t check_exposition(const char *text)
{
    size_t samples = 0;
    const char *p = text;
    while (*p) {
        const char *nl = strchr(p, '\n');
        assert_non_null(nl); /* every line ends with a newline */
        size_t len = (size_t)(nl - p);
        if (len >= 2 && p[0] == '#') {
            assert_true(strncmp(p, "# HELP ", 7) == 0 || strncmp(p, "# TYPE ", 7) == 0);
        } else {
            if (!valid_sample(p, len))
                fail_msg("malformed sample line: %.*s", (int)len, p);
            samples++;
        }
        p = nl + 1;
    }
    return samples;
}

/* Renders the registry into a new NUL-terminated string (caller frees). */
static char *render(void)
{
    struct evbuffer *b = evbuffer_new();
    assert_non_null(b);
    assert_int_equal(pg_metrics_render(b), 0);
    size_t n = evbuffer_get_length(b);
    char *s = malloc(n + 1);
    assert_non_null(s);
    assert_int_equal(evbuffer_remove(b, s, n), (int)n);
    s[n] = '\0';
    evbuffer_free(b);
    check_exposition(s);
    return s;
}

static int teardown(void **state)
{
    (void)state;
    pg_metrics_shutdown();
    return 0;
}

static void test_exact_exposition(void **state)
{
    (void)state;
    static const double b[] = {0.005, 0.1, 1, 2.5, 10};
    struct pg_metric *c =
        pg_metric_counter("pg_scrapes_total", "Scrapes by job and type.", "job,type");
    struct pg_metric *g = pg_metric_gauge("pg_buffer_rows", "Rows in the buffer.", NULL);
    struct pg_metric *h = pg_metric_register(PG_METRIC_HISTOGRAM, "pg_scrape_seconds",
                                             "Scrape duration.", "job", b, 5);
    struct pg_metric *e = pg_metric_gauge("pg_empty", "No children.", "");
    assert_non_null(c);
    assert_non_null(g);
    assert_non_null(h);
    assert_non_null(e);

    /* inserted out of order: render sorts children by label values */
    pg_metric_inc(c, (const char *const[]){"web", "cpu"}, 1);
    pg_metric_inc(c, (const char *const[]){"api", "memory"}, 2);
    pg_metric_inc(c, (const char *const[]){"api", "cpu"}, 40);
    pg_metric_inc(c, (const char *const[]){"api", "cpu"}, 2);
    pg_metric_set(g, NULL, 1.5);
    pg_metric_observe(h, (const char *const[]){"api"}, 0.05);
    pg_metric_observe(h, (const char *const[]){"api"}, 2);
    pg_metric_observe(h, (const char *const[]){"api"}, 100);
    pg_metric_observe(h, (const char *const[]){"api"}, 0.1); /* le is inclusive */

    char *s = render();
    const char *want = "# HELP pg_scrapes_total Scrapes by job and type.\n"
                       "# TYPE pg_scrapes_total counter\n"
                       "pg_scrapes_total{job=\"api\",type=\"cpu\"} 42\n"
                       "pg_scrapes_total{job=\"api\",type=\"memory\"} 2\n"
                       "pg_scrapes_total{job=\"web\",type=\"cpu\"} 1\n"
                       "# HELP pg_buffer_rows Rows in the buffer.\n"
                       "# TYPE pg_buffer_rows gauge\n"
                       "pg_buffer_rows 1.5\n"
                       "# HELP pg_scrape_seconds Scrape duration.\n"
                       "# TYPE pg_scrape_seconds histogram\n"
                       "pg_scrape_seconds_bucket{job=\"api\",le=\"0.005\"} 0\n"
                       "pg_scrape_seconds_bucket{job=\"api\",le=\"0.1\"} 2\n"
                       "pg_scrape_seconds_bucket{job=\"api\",le=\"1\"} 2\n"
                       "pg_scrape_seconds_bucket{job=\"api\",le=\"2.5\"} 3\n"
                       "pg_scrape_seconds_bucket{job=\"api\",le=\"10\"} 3\n"
                       "pg_scrape_seconds_bucket{job=\"api\",le=\"+Inf\"} 4\n"
                       "pg_scrape_seconds_sum{job=\"api\"} 102.14999999999999\n"
                       "pg_scrape_seconds_count{job=\"api\"} 4\n"
                       "# HELP pg_empty No children.\n"
                       "# TYPE pg_empty gauge\n";
    assert_string_equal(s, want);
    free(s);
}

static void test_default_buckets_and_unlabelled_histogram(void **state)
{
    (void)state;
    struct pg_metric *h = pg_metric_histogram("pg_latency_seconds", "Latency.", NULL);
    assert_non_null(h);
    pg_metric_observe(h, NULL, 0.3);
    pg_metric_observe(h, NULL, 45);
    pg_metric_observe(h, NULL, NAN); /* counted, only in +Inf */
    char *s = render();
    const char *want = "# HELP pg_latency_seconds Latency.\n"
                       "# TYPE pg_latency_seconds histogram\n"
                       "pg_latency_seconds_bucket{le=\"0.005\"} 0\n"
                       "pg_latency_seconds_bucket{le=\"0.01\"} 0\n"
                       "pg_latency_seconds_bucket{le=\"0.025\"} 0\n"
                       "pg_latency_seconds_bucket{le=\"0.05\"} 0\n"
                       "pg_latency_seconds_bucket{le=\"0.1\"} 0\n"
                       "pg_latency_seconds_bucket{le=\"0.25\"} 0\n"
                       "pg_latency_seconds_bucket{le=\"0.5\"} 1\n"
                       "pg_latency_seconds_bucket{le=\"1\"} 1\n"
                       "pg_latency_seconds_bucket{le=\"2.5\"} 1\n"
                       "pg_latency_seconds_bucket{le=\"5\"} 1\n"
                       "pg_latency_seconds_bucket{le=\"10\"} 1\n"
                       "pg_latency_seconds_bucket{le=\"30\"} 1\n"
                       "pg_latency_seconds_bucket{le=\"60\"} 2\n"
                       "pg_latency_seconds_bucket{le=\"+Inf\"} 3\n"
                       "pg_latency_seconds_sum NaN\n"
                       "pg_latency_seconds_count 3\n";
    assert_string_equal(s, want);
    free(s);
    assert_true(pg_metric_value(h, NULL) == 3);
}

static void test_bucket_formatting(void **state)
{
    (void)state;
    /* Go's FormatFloat(v, 'g', -1, 64) spellings; a trailing +Inf is accepted and implied */
    static const double b[] = {1e-05, 0.0001, 0.3, 100000, 1e6, 1234567.5, INFINITY};
    struct pg_metric *h =
        pg_metric_register(PG_METRIC_HISTOGRAM, "pg_b", "B.", NULL, b, sizeof b / sizeof b[0]);
    assert_non_null(h);
    pg_metric_observe(h, NULL, 1);
    char *s = render();
    assert_non_null(strstr(s, "pg_b_bucket{le=\"1e-05\"} 0\n"
                              "pg_b_bucket{le=\"0.0001\"} 0\n"
                              "pg_b_bucket{le=\"0.3\"} 0\n"
                              "pg_b_bucket{le=\"100000\"} 1\n"
                              "pg_b_bucket{le=\"1e+06\"} 1\n"
                              "pg_b_bucket{le=\"1.2345675e+06\"} 1\n"
                              "pg_b_bucket{le=\"+Inf\"} 1\n"));
    free(s);
}

static void test_value_formatting(void **state)
{
    (void)state;
    struct pg_metric *g = pg_metric_gauge("pg_v", "Values.", "k");
    assert_non_null(g);
    struct {
        const char *k;
        double v;
        const char *text;
    } cases[] = {
        {"a", 42, "42"},
        {"b", 0.1, "0.1"},
        {"c", 1e15, "1000000000000000"},
        {"d", -3, "-3"},
        {"e", NAN, "NaN"},
        {"f", INFINITY, "+Inf"},
        {"g", -INFINITY, "-Inf"},
        {"h", 1.0 / 3.0, "0.3333333333333333"},
        {"i", 1e300, "1e+300"},
        {"j", 2.5e-7, "2.5e-07"},
        {"l", 0.30000000000000004, "0.30000000000000004"},
        {"k", 0, "0"},
    };
    size_t n = sizeof cases / sizeof cases[0];
    for (size_t i = 0; i < n; i++)
        pg_metric_set(g, (const char *const[]){cases[i].k}, cases[i].v);
    char *s = render();
    for (size_t i = 0; i < n; i++) {
        char line[128];
        snprintf(line, sizeof line, "pg_v{k=\"%s\"} %s\n", cases[i].k, cases[i].text);
        if (!strstr(s, line))
            fail_msg("missing line %s in\n%s", line, s);
        /* every value reads back exactly */
        if (!isnan(cases[i].v) && !isinf(cases[i].v))
            assert_true(strtod(cases[i].text, NULL) == cases[i].v);
    }
    free(s);
}

static void test_escaping(void **state)
{
    (void)state;
    struct pg_metric *c = pg_metric_counter("pg_esc_total", "Back\\slash and\nnewline \"q\".", "v");
    assert_non_null(c);
    pg_metric_inc(c, (const char *const[]){"a\\b\"c\nd"}, 1);
    pg_metric_inc(c, (const char *const[]){""}, 1);
    char *s = render();
    const char *want = "# HELP pg_esc_total Back\\\\slash and\\nnewline \"q\".\n"
                       "# TYPE pg_esc_total counter\n"
                       "pg_esc_total{v=\"\"} 1\n"
                       "pg_esc_total{v=\"a\\\\b\\\"c\\nd\"} 1\n";
    assert_string_equal(s, want);
    free(s);
}

static void test_reregistration(void **state)
{
    (void)state;
    struct pg_metric *a = pg_metric_counter("pg_r_total", "R.", "job,type");
    assert_non_null(a);
    /* same type and labels (whitespace in the list is ignored): the same family */
    assert_ptr_equal(pg_metric_counter("pg_r_total", "other help", "job, type"), a);
    assert_null(pg_metric_gauge("pg_r_total", "R.", "job,type"));
    assert_null(pg_metric_counter("pg_r_total", "R.", "job"));
    assert_null(pg_metric_counter("pg_r_total", "R.", "type,job"));
    assert_null(pg_metric_counter("pg_r_total", "R.", NULL));

    /* invalid definitions */
    assert_null(pg_metric_counter("9bad", "x", NULL));
    assert_null(pg_metric_counter("bad-name", "x", NULL));
    assert_null(pg_metric_counter(NULL, "x", NULL));
    assert_null(pg_metric_counter("pg_x", "x", "a,,b"));
    assert_null(pg_metric_counter("pg_x", "x", "a,a"));
    assert_null(pg_metric_counter("pg_x", "x", "a-b"));
    assert_null(pg_metric_histogram("pg_h", "x", "le"));
    static const double desc[] = {1, 0.5};
    assert_null(pg_metric_register(PG_METRIC_HISTOGRAM, "pg_h", "x", NULL, desc, 2));
    static const double nan_b[] = {0.1, NAN};
    assert_null(pg_metric_register(PG_METRIC_HISTOGRAM, "pg_h", "x", NULL, nan_b, 2));

    /* the failed attempts registered nothing */
    char *s = render();
    assert_string_equal(s, "# HELP pg_r_total R.\n# TYPE pg_r_total counter\n");
    free(s);

    /* after shutdown the name is free again, with another type */
    pg_metrics_shutdown();
    struct pg_metric *g = pg_metric_gauge("pg_r_total", "Now a gauge.", NULL);
    assert_non_null(g);
    pg_metric_set(g, NULL, 7);
    assert_true(pg_metric_value(g, NULL) == 7);
}

static void test_updates_and_value(void **state)
{
    (void)state;
    struct pg_metric *c = pg_metric_counter("pg_c_total", "C.", "job");
    struct pg_metric *g = pg_metric_gauge("pg_g", "G.", "job");
    struct pg_metric *h = pg_metric_histogram("pg_h_seconds", "H.", "job");
    const char *const api[] = {"api"};
    const char *const web[] = {"web"};

    assert_true(pg_metric_value(c, api) == 0); /* absent */
    pg_metric_inc(c, api, 1);
    pg_metric_inc(c, api, 2.5);
    pg_metric_inc(c, api, -1); /* counters never go down */
    pg_metric_inc(c, api, NAN);
    assert_true(pg_metric_value(c, api) == 3.5);
    assert_true(pg_metric_value(c, web) == 0);

    pg_metric_set(g, api, 10);
    pg_metric_inc(g, api, -4);
    assert_true(pg_metric_value(g, api) == 6);
    pg_metric_observe(g, api, 1); /* wrong type: ignored */
    assert_true(pg_metric_value(g, api) == 6);

    pg_metric_observe(h, web, 0.2);
    pg_metric_observe(h, web, 0.4);
    pg_metric_inc(h, web, 5); /* wrong type: ignored */
    pg_metric_set(h, web, 5);
    assert_true(pg_metric_value(h, web) == 2);
    assert_true(pg_metric_value(h, api) == 0);

    /* NULL family and missing label values are no-ops */
    pg_metric_inc(NULL, api, 1);
    pg_metric_set(NULL, api, 1);
    pg_metric_observe(NULL, api, 1);
    pg_metric_clear(NULL);
    assert_true(pg_metric_value(NULL, api) == 0);
    pg_metric_inc(c, NULL, 1);
    assert_true(pg_metric_value(c, NULL) == 0);

    char *s = render();
    assert_non_null(strstr(s, "pg_c_total{job=\"api\"} 3.5\n"));
    assert_non_null(strstr(s, "pg_g{job=\"api\"} 6\n"));
    assert_non_null(strstr(s, "pg_h_seconds_sum{job=\"web\"} 0.6000000000000001\n"));
    assert_non_null(strstr(s, "pg_h_seconds_count{job=\"web\"} 2\n"));
    assert_null(strstr(s, "pg_h_seconds_count{job=\"api\"}"));
    free(s);
}

static void test_clear(void **state)
{
    (void)state;
    struct pg_metric *g = pg_metric_gauge("pg_targets", "Targets per job.", "job");
    struct pg_metric *o = pg_metric_gauge("pg_other", "Other.", NULL);
    pg_metric_set(g, (const char *const[]){"a"}, 1);
    pg_metric_set(g, (const char *const[]){"b"}, 2);
    pg_metric_set(o, NULL, 3);
    pg_metric_clear(g);
    assert_true(pg_metric_value(g, (const char *const[]){"a"}) == 0);
    assert_true(pg_metric_value(o, NULL) == 3);
    char *s = render();
    assert_string_equal(s, "# HELP pg_targets Targets per job.\n"
                           "# TYPE pg_targets gauge\n"
                           "# HELP pg_other Other.\n"
                           "# TYPE pg_other gauge\n"
                           "pg_other 3\n");
    free(s);
    /* the family is usable again after clear */
    pg_metric_set(g, (const char *const[]){"c"}, 4);
    assert_true(pg_metric_value(g, (const char *const[]){"c"}) == 4);
    s = render();
    assert_non_null(strstr(s, "pg_targets{job=\"c\"} 4\n"));
    assert_null(strstr(s, "job=\"a\""));
    free(s);
}

static void test_many_children(void **state)
{
    (void)state;
    struct pg_metric *c = pg_metric_counter("pg_many_total", "Many.", "job,type");
    struct pg_metric *h = pg_metric_histogram("pg_many_seconds", "Many.", "job");
    assert_non_null(c);
    char job[32], type[32];
    for (int round = 0; round < 3; round++)
        for (int i = 999; i >= 0; i--) {
            snprintf(job, sizeof job, "job%04d", i);
            snprintf(type, sizeof type, "t%d", i % 7);
            pg_metric_inc(c, (const char *const[]){job, type}, (double)i);
            pg_metric_observe(h, (const char *const[]){job}, (double)(i % 100));
        }
    for (int i = 0; i < 1000; i++) {
        snprintf(job, sizeof job, "job%04d", i);
        snprintf(type, sizeof type, "t%d", i % 7);
        assert_true(pg_metric_value(c, (const char *const[]){job, type}) == 3.0 * i);
        assert_true(pg_metric_value(h, (const char *const[]){job}) == 3);
    }
    char *s = render();
    /* 1000 counter lines + 1000 * (14 buckets + sum + count) */
    assert_int_equal(check_exposition(s), 1000 + 1000 * 16);
    /* counter children come out sorted by label values */
    const char *p = strstr(s, "pg_many_total{");
    for (int i = 0; i < 1000; i++) {
        char line[96];
        snprintf(line, sizeof line, "pg_many_total{job=\"job%04d\",type=\"t%d\"} %d\n", i, i % 7,
                 3 * i);
        assert_non_null(p);
        assert_memory_equal(p, line, strlen(line));
        p += strlen(line);
    }
    free(s);
    /* a second render with no new children (cached order) is identical */
    char *s2 = render();
    char *s3 = render();
    assert_string_equal(s2, s3);
    free(s2);
    free(s3);
}

struct collect_state {
    struct pg_metric *g;
    int calls;
    int saw_order; /* set when the second collector ran after the first */
};

static void collect_a(void *ud)
{
    struct collect_state *st = ud;
    st->calls++;
    pg_metric_clear(st->g);
    pg_metric_set(st->g, (const char *const[]){"live"}, (double)st->calls * 10);
}

static void collect_b(void *ud)
{
    struct collect_state *st = ud;
    st->saw_order = pg_metric_value(st->g, (const char *const[]){"live"}) == st->calls * 10;
}

static void collect_self_remove(void *ud)
{
    int *n = ud;
    (*n)++;
    pg_metrics_remove_collector(collect_self_remove, ud);
}

static void test_collectors(void **state)
{
    (void)state;
    struct collect_state st = {0};
    st.g = pg_metric_gauge("pg_collected", "Set by a collector.", "state");
    assert_non_null(st.g);
    assert_int_equal(pg_metrics_add_collector(collect_a, &st), 0);
    assert_int_equal(pg_metrics_add_collector(collect_b, &st), 0);
    assert_int_equal(pg_metrics_add_collector(NULL, &st), -1);
    int self = 0;
    assert_int_equal(pg_metrics_add_collector(collect_self_remove, &self), 0);

    char *s = render();
    assert_int_equal(st.calls, 1);
    assert_true(st.saw_order);
    assert_non_null(strstr(s, "pg_collected{state=\"live\"} 10\n"));
    free(s);

    s = render();
    assert_int_equal(st.calls, 2);
    assert_int_equal(self, 1); /* removed itself during the first render */
    assert_non_null(strstr(s, "pg_collected{state=\"live\"} 20\n"));
    free(s);

    pg_metrics_remove_collector(collect_a, &st);
    pg_metrics_remove_collector(collect_b, &st);
    s = render();
    assert_int_equal(st.calls, 2);
    assert_non_null(strstr(s, "pg_collected{state=\"live\"} 20\n"));
    free(s);
}

static void test_render_appends(void **state)
{
    (void)state;
    pg_metric_set(pg_metric_gauge("pg_up", "Up.", NULL), NULL, 1);
    struct evbuffer *b = evbuffer_new();
    assert_non_null(b);
    evbuffer_add(b, "prefix\n", 7);
    assert_int_equal(pg_metrics_render(b), 0);
    size_t n = evbuffer_get_length(b);
    const char *want = "prefix\n# HELP pg_up Up.\n# TYPE pg_up gauge\npg_up 1\n";
    assert_int_equal(n, strlen(want));
    assert_memory_equal(evbuffer_pullup(b, -1), want, n);
    evbuffer_free(b);
    assert_int_equal(pg_metrics_render(NULL), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_exact_exposition, teardown),
        cmocka_unit_test_teardown(test_default_buckets_and_unlabelled_histogram, teardown),
        cmocka_unit_test_teardown(test_bucket_formatting, teardown),
        cmocka_unit_test_teardown(test_value_formatting, teardown),
        cmocka_unit_test_teardown(test_escaping, teardown),
        cmocka_unit_test_teardown(test_reregistration, teardown),
        cmocka_unit_test_teardown(test_updates_and_value, teardown),
        cmocka_unit_test_teardown(test_clear, teardown),
        cmocka_unit_test_teardown(test_many_children, teardown),
        cmocka_unit_test_teardown(test_collectors, teardown),
        cmocka_unit_test_teardown(test_render_appends, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
