/* test_core_backoff.c - unit tests for exponential backoff with jitter (core/backoff.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/backoff.h"

/* Without jitter interference: every delay lies in [d/2, d] of the doubled, capped base. */
static void test_growth_and_cap(void **state)
{
    (void)state;
    uint64_t rng = 42;
    int64_t expect[] = {100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000};
    for (unsigned a = 1; a <= 9; a++) {
        int64_t d = expect[a - 1];
        for (int i = 0; i < 200; i++) {
            int64_t got = pg_backoff_delay(100, 5000, a, -1, &rng);
            assert_true(got >= d - d / 2);
            assert_true(got <= d);
        }
    }
    /* huge attempt numbers neither overflow nor loop long */
    int64_t got = pg_backoff_delay(1000, 60000, 4000000000u, -1, &rng);
    assert_true(got >= 30000 && got <= 60000);
    got = pg_backoff_delay(INT64_MAX / 4, INT64_MAX, 200, -1, &rng);
    assert_true(got >= INT64_MAX / 2 && got > 0);
    /* zero minimum stays zero (and terminates) */
    assert_int_equal(pg_backoff_delay(0, 1000, 4000000000u, -1, &rng), 0);
}

/* The jitter really spreads: both halves of [d/2, d] are hit, and the mean is central. */
static void test_jitter_range(void **state)
{
    (void)state;
    uint64_t rng = 7;
    int64_t lo = INT64_MAX, hi = 0, sum = 0;
    const int n = 10000;
    for (int i = 0; i < n; i++) {
        int64_t d = pg_backoff_delay(1000, 1000, 1, -1, &rng);
        assert_true(d >= 500 && d <= 1000);
        lo = d < lo ? d : lo;
        hi = d > hi ? d : hi;
        sum += d;
    }
    assert_true(lo < 520);
    assert_true(hi > 980);
    int64_t mean = sum / n;
    assert_true(mean > 720 && mean < 780);
}

static void test_retry_after_floor(void **state)
{
    (void)state;
    uint64_t rng = 99;
    for (int i = 0; i < 100; i++) {
        /* Retry-After longer than the backoff wins */
        assert_int_equal(pg_backoff_delay(100, 60000, 1, 3000, &rng), 3000);
        /* ... but is capped at max */
        assert_int_equal(pg_backoff_delay(100, 2000, 1, 3000, &rng), 2000);
        /* shorter Retry-After does not shorten the backoff */
        int64_t d = pg_backoff_delay(4000, 60000, 1, 10, &rng);
        assert_true(d >= 2000 && d <= 4000);
        /* Retry-After: 0 is a valid floor of zero */
        d = pg_backoff_delay(4000, 60000, 1, 0, &rng);
        assert_true(d >= 2000 && d <= 4000);
    }
}

static void test_rand(void **state)
{
    (void)state;
    uint64_t a = 1, b = 1, z = 0;
    uint64_t x = pg_backoff_rand(&a);
    assert_int_equal(x, pg_backoff_rand(&b)); /* deterministic per seed */
    assert_int_not_equal(pg_backoff_rand(&a), x);
    assert_int_not_equal(a, 1);
    /* a zero state is not stuck at zero */
    pg_backoff_rand(&z);
    assert_int_not_equal(z, 0);
    assert_int_not_equal(pg_backoff_rand(&z), 0);
    /* bits are spread: both halves of the range are produced */
    uint64_t s = 12345;
    int high = 0;
    for (int i = 0; i < 1000; i++)
        high += pg_backoff_rand(&s) >> 63;
    assert_true(high > 400 && high < 600);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_growth_and_cap),
        cmocka_unit_test(test_jitter_range),
        cmocka_unit_test(test_retry_after_floor),
        cmocka_unit_test(test_rand),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
