/* test_core_labels.c - unit tests for the sorted label set (core/labels.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "core/labels.h"

static void test_sorted_unique(void **state)
{
    (void)state;
    struct pg_labels ls;
    pg_labels_init(&ls);
    assert_int_equal(pg_labels_set(&ls, "job", "api"), 0);
    assert_int_equal(pg_labels_set(&ls, "__address__", "a:1"), 0);
    assert_int_equal(pg_labels_set(&ls, "instance", "x"), 0);
    assert_int_equal(pg_labels_set(&ls, "job", "web"), 0);
    assert_int_equal(ls.n, 3);
    assert_string_equal(ls.v[0].name, "__address__");
    assert_string_equal(ls.v[1].name, "instance");
    assert_string_equal(ls.v[2].name, "job");
    assert_string_equal(pg_labels_get(&ls, "job"), "web");
    assert_null(pg_labels_get(&ls, "nope"));
    assert_int_equal(pg_labels_del(&ls, "instance"), 1);
    assert_int_equal(pg_labels_del(&ls, "instance"), 0);
    assert_int_equal(ls.n, 2);
    pg_labels_reset(&ls);
    assert_int_equal(ls.n, 0);
}

static void test_prefix_ordering(void **state)
{
    (void)state;
    struct pg_labels ls;
    pg_labels_init(&ls);
    pg_labels_set(&ls, "ab", "2");
    pg_labels_set(&ls, "a", "1");
    pg_labels_set(&ls, "abc", "3");
    pg_labels_setn(&ls, "a_xx", 1, "9x", 1); /* name "a", value "9" */
    assert_int_equal(ls.n, 3);
    assert_string_equal(pg_labels_get(&ls, "a"), "9");
    assert_string_equal(ls.v[1].name, "ab");
    pg_labels_reset(&ls);
}

static void test_copy_equal_hash_format(void **state)
{
    (void)state;
    struct pg_labels a, b;
    pg_labels_init(&a);
    pg_labels_init(&b);
    pg_labels_set(&a, "x", "q\"uote\n");
    pg_labels_set(&a, "a", "");
    assert_int_equal(pg_labels_copy(&b, &a), 0);
    assert_true(pg_labels_equal(&a, &b));
    assert_true(pg_labels_hash(&a) == pg_labels_hash(&b));
    pg_labels_set(&b, "a", "1");
    assert_false(pg_labels_equal(&a, &b));
    assert_true(pg_labels_hash(&a) != pg_labels_hash(&b));
    char *s = pg_labels_format(&a);
    assert_string_equal(s, "{a=\"\", x=\"q\\\"uote\\n\"}");
    free(s);
    pg_labels_reset(&a);
    pg_labels_reset(&b);
}

static void test_valid_name(void **state)
{
    (void)state;
    assert_true(pg_labels_valid_name("__meta_x1"));
    assert_true(pg_labels_valid_name("A"));
    assert_false(pg_labels_valid_name(""));
    assert_false(pg_labels_valid_name("1a"));
    assert_false(pg_labels_valid_name("a.b"));
    assert_false(pg_labels_valid_name("a-b"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sorted_unique),
        cmocka_unit_test(test_prefix_ordering),
        cmocka_unit_test(test_copy_equal_hash_format),
        cmocka_unit_test(test_valid_name),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
