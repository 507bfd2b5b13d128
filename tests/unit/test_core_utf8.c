/* test_core_utf8.c - unit tests for UTF-8 validation (core/utf8.c): every sequence length
 * at its boundaries, and the forms Go's utf8.Valid rejects (overlong, surrogate, above
 * U+10FFFF, truncated, stray continuation bytes). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "core/utf8.h"

static int valid(const char *s)
{
    return pg_utf8_valid(s, strlen(s));
}

static void test_valid(void **state)
{
    (void)state;
    assert_true(pg_utf8_valid("", 0));
    assert_true(valid("plain ascii ~\x7f"));
    assert_true(valid("\xc2\x80"));                  /* U+0080 */
    assert_true(valid("\xdf\xbf"));                  /* U+07FF */
    assert_true(valid("\xe0\xa0\x80"));              /* U+0800 */
    assert_true(valid("\xed\x9f\xbf"));              /* U+D7FF */
    assert_true(valid("\xee\x80\x80"));              /* U+E000 */
    assert_true(valid("\xef\xbf\xbf"));              /* U+FFFF */
    assert_true(valid("\xf0\x90\x80\x80"));          /* U+10000 */
    assert_true(valid("\xf4\x8f\xbf\xbf"));          /* U+10FFFF */
    assert_true(valid("h\xc3\xa9llo \xe2\x82\xac")); /* mixed */
    assert_true(pg_utf8_valid("a\0b", 3));           /* NUL is U+0000 */
}

static void test_invalid(void **state)
{
    (void)state;
    assert_false(valid("\x80")); /* stray continuation */
    assert_false(valid("a\xbf"));
    assert_false(valid("\xc0\xaf")); /* overlong, 2 bytes */
    assert_false(valid("\xc1\xbf"));
    assert_false(valid("\xe0\x9f\xbf"));     /* overlong, 3 bytes */
    assert_false(valid("\xf0\x8f\xbf\xbf")); /* overlong, 4 bytes */
    assert_false(valid("\xed\xa0\x80"));     /* surrogate U+D800 */
    assert_false(valid("\xed\xbf\xbf"));     /* surrogate U+DFFF */
    assert_false(valid("\xf4\x90\x80\x80")); /* above U+10FFFF */
    assert_false(valid("\xf5\x80\x80\x80"));
    assert_false(valid("\xff"));
    assert_false(valid("\xc3")); /* truncated */
    assert_false(valid("\xe2\x82"));
    assert_false(valid("\xf0\x9f\x98"));
    assert_false(valid("\xe2\x28\xa1")); /* bad continuation */
    /* the length bounds the input: a sequence cut by len is truncated */
    assert_false(pg_utf8_valid("\xc3\xa9", 1));
    assert_true(pg_utf8_valid("ab\xff", 2));
}

static void test_sanitize(void **state)
{
    (void)state;
    char *a = pg_utf8_sanitize("ok \xC3\xA9");
    assert_string_equal(a, "ok \xC3\xA9"); /* valid text is unchanged */
    free(a);
    char *b = pg_utf8_sanitize("a\xFF"
                               "b\xC3");
    assert_string_equal(b, "a\xEF\xBF\xBD"
                           "b\xEF\xBF\xBD");
    assert_true(pg_utf8_valid(b, strlen(b)));
    free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sanitize),
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_invalid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
