/* test_core_sbuf.c - the growable string (core/sbuf.h): appends with embedded NULs,
 * growth past the first capacity, curl-style and Go query escaping, take and reset. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "core/sbuf.h"

static void test_append_and_grow(void **state)
{
    (void)state;
    struct pg_sbuf b = {0};
    assert_string_equal(pg_sbuf_cstr(&b), "");
    for (int i = 0; i < 100; i++)
        pg_sbuf_str(&b, "abc");
    assert_int_equal(b.len, 300);
    assert_int_equal(strlen(pg_sbuf_cstr(&b)), 300);
    pg_sbuf_add(&b, "x\0y", 3);
    assert_int_equal(b.len, 303);
    assert_memory_equal(b.s + 300, "x\0y", 4);
    assert_int_equal(b.failed, 0);
    pg_sbuf_reset(&b);
    assert_null(b.s);
    assert_int_equal(b.len, 0);
}

static void test_escape(void **state)
{
    (void)state;
    struct pg_sbuf b = {0};
    const char in[] = "svc{env=prod, a/b~c_d.e-f}\xc3\xa9";
    pg_sbuf_escape(&b, in, strlen(in));
    assert_string_equal(pg_sbuf_cstr(&b), "svc%7Benv%3Dprod%2C%20a%2Fb~c_d.e-f%7D%C3%A9");
    pg_sbuf_reset(&b);
    pg_sbuf_query_escape(&b, "a b&c=d+e~");
    assert_string_equal(pg_sbuf_cstr(&b), "a+b%26c%3Dd%2Be~");
    pg_sbuf_reset(&b);
}

static void test_take(void **state)
{
    (void)state;
    struct pg_sbuf b = {0};
    char *s = pg_sbuf_take(&b);
    assert_string_equal(s, "");
    free(s);
    pg_sbuf_str(&b, "hello");
    s = pg_sbuf_take(&b);
    assert_string_equal(s, "hello");
    assert_null(b.s);
    free(s);
    b.failed = 1; /* as after an out-of-memory append */
    pg_sbuf_str(&b, "ignored");
    assert_null(b.s);
    assert_null(pg_sbuf_cstr(&b));
    assert_null(pg_sbuf_take(&b));
    assert_int_equal(b.failed, 0); /* emptied */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_append_and_grow),
        cmocka_unit_test(test_escape),
        cmocka_unit_test(test_take),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
