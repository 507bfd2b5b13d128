/* test_daemon_ui_match.c - the small parsers behind the web UI's filters and replies:
 * pg_ui_contains / pg_ui_labels_match (the targets and service-discovery search: ASCII
 * case-insensitive, labels as name=value, long labels), pg_ui_size_param (limit/offset)
 * and pg_web_accepts_gzip (Accept-Encoding with q-values). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdlib.h>
#include <string.h>

#include "core/labels.h"
#include "daemon/ui_json.h"
#include "daemon/web_gzip.h"

static void test_contains(void **state)
{
    (void)state;
    assert_true(pg_ui_contains("http://Host:80/debug", "host:80"));
    assert_true(pg_ui_contains("abc", ""));
    assert_true(pg_ui_contains("abc", NULL));
    assert_true(pg_ui_contains("aab", "ab"));
    assert_false(pg_ui_contains("abc", "abcd"));
    assert_false(pg_ui_contains(NULL, "a"));
    assert_false(pg_ui_contains("", "a"));
}

static void test_labels_match(void **state)
{
    (void)state;
    struct pg_labels ls;
    pg_labels_init(&ls);
    pg_labels_set(&ls, "team", "Gophers");
    char big[2000];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = 0;
    big[1500] = 'Z';
    pg_labels_set(&ls, "long", big);
    assert_true(pg_ui_labels_match(&ls, "team=goph"));
    assert_true(pg_ui_labels_match(&ls, "m=gophers"));
    assert_true(pg_ui_labels_match(&ls, "xzx")); /* in the long value (heap buffer) */
    assert_true(pg_ui_labels_match(&ls, "long=xx"));
    assert_false(pg_ui_labels_match(&ls, "team=cats"));
    assert_false(pg_ui_labels_match(&ls, "gophers team"));
    assert_true(pg_ui_labels_match(&ls, ""));
    assert_false(pg_ui_labels_match(NULL, "a"));
    pg_labels_reset(&ls);
}

static void test_size_param(void **state)
{
    (void)state;
    size_t v = 7;
    assert_int_equal(pg_ui_size_param(NULL, &v), 0);
    assert_int_equal(pg_ui_size_param("", &v), 0);
    assert_int_equal(v, 7);
    assert_int_equal(pg_ui_size_param("0", &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(pg_ui_size_param("250", &v), 0);
    assert_int_equal(v, 250);
    assert_int_equal(pg_ui_size_param("-1", &v), -1);
    assert_int_equal(pg_ui_size_param("12x", &v), -1);
    assert_int_equal(pg_ui_size_param("99999999999999999999999", &v), -1);
    assert_int_equal(v, 250);
}

static int accepts(const char *header)
{
    struct evhttp_request *req = evhttp_request_new(NULL, NULL);
    if (header)
        evhttp_add_header(evhttp_request_get_input_headers(req), "Accept-Encoding", header);
    int r = pg_web_accepts_gzip(req);
    evhttp_request_free(req);
    return r;
}

static void test_accepts_gzip(void **state)
{
    (void)state;
    assert_true(accepts("gzip"));
    assert_true(accepts("gzip, deflate, br"));
    assert_true(accepts("br,GZIP"));
    assert_true(accepts("deflate, gzip;q=0.5"));
    assert_true(accepts("*"));
    assert_true(accepts("gzip ; q=1.0"));
    assert_false(accepts(NULL));
    assert_false(accepts(""));
    assert_false(accepts("identity"));
    assert_false(accepts("br, deflate"));
    assert_false(accepts("gzip;q=0"));
    assert_false(accepts("gzip;q=0.000, br"));
    assert_false(accepts("x-gzip"));
    assert_false(accepts("gzipped"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_contains),
        cmocka_unit_test(test_labels_match),
        cmocka_unit_test(test_size_param),
        cmocka_unit_test(test_accepts_gzip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
