/* test_core_hrw.c - unit tests for rendezvous hashing (core/hrw.c): the owner does not
 * depend on member order, a member leaving moves only its own keys, a member joining
 * takes only keys for itself, and the spread over 5 members of 5,000 keys is even. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>

#include "core/hrw.h"

#define NKEYS 5000
#define NMEM 5

static uint64_t key_of(size_t i)
{
    char buf[64];
    snprintf(buf, sizeof buf, "job=app,instance=10.1.%zu.%zu:6060", i / 250, i % 250);
    return pg_hrw_member_hash(buf); /* any string hash will do for keys */
}

static void members(uint64_t *m, size_t n)
{
    char buf[48]; /* room for any size_t (-Wformat-truncation under ASan) */
    for (size_t i = 0; i < n; i++) {
        snprintf(buf, sizeof buf, "10.0.0.%zu:4100", i + 1);
        m[i] = pg_hrw_member_hash(buf);
    }
}

static void test_order_independent(void **state)
{
    (void)state;
    uint64_t m[NMEM], r[NMEM];
    members(m, NMEM);
    for (size_t i = 0; i < NMEM; i++)
        r[i] = m[NMEM - 1 - i];
    for (size_t k = 0; k < NKEYS; k++) {
        uint64_t key = key_of(k);
        assert_int_equal(m[pg_hrw_pick(key, m, NMEM)], r[pg_hrw_pick(key, r, NMEM)]);
    }
}

static void test_spread_and_leave(void **state)
{
    (void)state;
    uint64_t m[NMEM], less[NMEM - 1];
    size_t count[NMEM] = {0};
    members(m, NMEM);
    for (size_t i = 0; i < NMEM - 1; i++)
        less[i] = m[i + 1]; /* member 0 leaves */
    size_t moved = 0;
    for (size_t k = 0; k < NKEYS; k++) {
        uint64_t key = key_of(k);
        size_t o = pg_hrw_pick(key, m, NMEM);
        count[o]++;
        uint64_t after = less[pg_hrw_pick(key, less, NMEM - 1)];
        if (after != m[o]) {
            assert_int_equal(o, 0); /* only the leaver's keys move */
            moved++;
        }
    }
    for (size_t i = 0; i < NMEM; i++) { /* ideal 1,000 each */
        assert_true(count[i] > 850);
        assert_true(count[i] < 1150);
    }
    assert_int_equal(moved, count[0]);
}

static void test_join_takes_only_for_itself(void **state)
{
    (void)state;
    uint64_t m[NMEM];
    members(m, NMEM);
    size_t moved = 0;
    for (size_t k = 0; k < NKEYS; k++) {
        uint64_t key = key_of(k);
        size_t before = pg_hrw_pick(key, m, NMEM - 1), after = pg_hrw_pick(key, m, NMEM);
        if (before != after) {
            assert_int_equal(after, NMEM - 1);
            moved++;
        }
    }
    assert_true(moved > 850 && moved < 1150); /* ideal NKEYS / NMEM */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order_independent),
        cmocka_unit_test(test_spread_and_leave),
        cmocka_unit_test(test_join_takes_only_for_itself),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
