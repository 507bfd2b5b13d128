/* test_core_log.c - unit tests for pg_log_safe (core/log.c), the one quoting function for
 * text logged inside a quoted logfmt value: quotes, backslashes and control characters,
 * truncation, NULL, and rewriting in place. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "core/log.h"

static void test_quoting(void **state)
{
    (void)state;
    char out[64];
    assert_string_equal(pg_log_safe("a \"b\"\nc\td\\e\x7f", out, sizeof(out)), "a 'b' c d/e ");
    assert_ptr_equal(pg_log_safe("plain", out, sizeof(out)), out);
    assert_string_equal(out, "plain");
    assert_string_equal(pg_log_safe(NULL, out, sizeof(out)), "");
    assert_string_equal(pg_log_safe("héllo", out, sizeof(out)), "héllo"); /* UTF-8 kept */
}

static void test_truncation(void **state)
{
    (void)state;
    char out[4];
    assert_string_equal(pg_log_safe("abcdef", out, sizeof(out)), "abc");
    char one[1];
    assert_string_equal(pg_log_safe("abc", one, sizeof(one)), "");
}

static void test_in_place(void **state)
{
    (void)state;
    char text[] = "Get \"http://x\": EOF\r\n";
    assert_string_equal(pg_log_safe(text, text, sizeof(text)), "Get 'http://x': EOF  ");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quoting),
        cmocka_unit_test(test_truncation),
        cmocka_unit_test(test_in_place),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
