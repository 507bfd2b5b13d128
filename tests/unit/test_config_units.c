/*
 * tests/unit/test_config_units.c - cmocka tests for config/units.c.
 *
 * Covers Prometheus-style duration and byte-size parsing (valid and invalid
 * inputs, overflow, error text), formatting, and parse/format round trips.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "yamlcfg/units.h"

#define SEC 1000LL
#define MIN (60 * SEC)
#define HOUR (60 * MIN)
#define DAY (24 * HOUR)
#define WEEK (7 * DAY)
#define YEAR (365 * DAY)

static void test_duration_valid(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        int64_t ms;
    } cases[] = {
        {"0", 0},           {"0s", 0},
        {"0ms", 0},         {"15s", 15 * SEC},
        {"500ms", 500},     {"1h30m", HOUR + 30 * MIN},
        {"1y", YEAR},       {"2w", 2 * WEEK},
        {"3d", 3 * DAY},    {"90m", 90 * MIN},
        {"1m1ms", MIN + 1}, {"1y1w1d1h1m1s1ms", YEAR + WEEK + DAY + HOUR + MIN + SEC + 1},
        {"007s", 7 * SEC},  {"1000ms", SEC},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int64_t ms = -1;
        char err[128] = "";
        assert_int_equal(pg_units_parse_duration(cases[i].s, &ms, err, sizeof(err)), 0);
        assert_true(ms == cases[i].ms);
        assert_string_equal(err, "");
    }
}

static void test_duration_invalid(void **state)
{
    (void)state;
    static const char *bad[] = {
        "",
        "-1s",
        "1.5h",
        "0.5s",
        "1 h",
        " 1h",
        "1h ",
        "30m1h",
        "1s1h",
        "1h1h",
        "1ms1s",
        "1x",
        "1",
        "10",
        "h",
        "1hh",
        "1H",
        "1sm",
        "1msx",
        "s1",
        "99999999999999999999s",
        "300000000y",
        "9223372036854775807ms1ms",
        "+1s",
        "1h-1m",
        "0x10s",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int64_t ms = 42;
        char err[128] = "";
        assert_int_equal(pg_units_parse_duration(bad[i], &ms, err, sizeof(err)), -1);
        assert_true(ms == 42);
        assert_true(strlen(err) > 0);
    }
    assert_int_equal(pg_units_parse_duration(NULL, NULL, NULL, 0), -1);
}

static void test_duration_error_text(void **state)
{
    (void)state;
    int64_t ms;
    char err[128];
    assert_int_equal(pg_units_parse_duration("xyz", &ms, err, sizeof(err)), -1);
    assert_string_equal(err, "not a valid duration string: \"xyz\"");
    assert_int_equal(pg_units_parse_duration("30m1h", &ms, err, sizeof(err)), -1);
    assert_string_equal(err, "not a valid duration string: \"30m1h\"");
    /* a tiny buffer is truncated but stays NUL-terminated */
    char small[8];
    assert_int_equal(pg_units_parse_duration("xyz", &ms, small, sizeof(small)), -1);
    assert_int_equal(strlen(small), sizeof(small) - 1);
}

static void test_duration_max(void **state)
{
    (void)state;
    int64_t ms = 0;
    assert_int_equal(pg_units_parse_duration("9223372036854775807ms", &ms, NULL, 0), 0);
    assert_true(ms == INT64_MAX);
    assert_int_equal(pg_units_parse_duration("9223372036854775808ms", &ms, NULL, 0), -1);
}

static void test_duration_format(void **state)
{
    (void)state;
    static const struct {
        int64_t ms;
        const char *s;
    } cases[] = {
        {0, "0s"},
        {500, "500ms"},
        {15 * SEC, "15s"},
        {HOUR + 30 * MIN, "1h30m"},
        {90 * MIN, "1h30m"},
        {YEAR, "1y"},
        {WEEK, "1w"},
        {2 * WEEK, "2w"},
        {8 * DAY, "8d"},
        {DAY + 1, "1d1ms"},
        {YEAR + WEEK, "1y1w"},
        {YEAR + WEEK + DAY + HOUR + MIN + SEC + 1, "1y8d1h1m1s1ms"},
        {SEC + 1, "1s1ms"},
    };
    char buf[64];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(pg_units_format_duration(cases[i].ms, buf, sizeof(buf)), 0);
        assert_string_equal(buf, cases[i].s);
    }
    assert_int_equal(pg_units_format_duration(-1, buf, sizeof(buf)), -1);
    assert_string_equal(buf, "");
    char small[4];
    assert_int_equal(pg_units_format_duration(HOUR + 30 * MIN, small, sizeof(small)), -1);
    assert_string_equal(small, "");
    assert_int_equal(pg_units_format_duration(0, NULL, 0), -1);
}

static void test_duration_roundtrip(void **state)
{
    (void)state;
    static const int64_t vals[] = {
        0,        1,         999, SEC, 61 * SEC, HOUR + 1, DAY, WEEK, WEEK + 1, 3 * YEAR + 5 * DAY,
        YEAR - 1, INT64_MAX,
    };
    char buf[64];
    for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
        int64_t back = -1;
        assert_int_equal(pg_units_format_duration(vals[i], buf, sizeof(buf)), 0);
        assert_int_equal(pg_units_parse_duration(buf, &back, NULL, 0), 0);
        assert_true(back == vals[i]);
    }
    static const char *strs[] = {"1h30m", "15s", "500ms", "1y", "2w", "14d3h", "1d1ms"};
    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
        int64_t ms;
        assert_int_equal(pg_units_parse_duration(strs[i], &ms, NULL, 0), 0);
        assert_int_equal(pg_units_format_duration(ms, buf, sizeof(buf)), 0);
        assert_string_equal(buf, strs[i]);
    }
}

static void test_size_valid(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        uint64_t b;
    } cases[] = {
        {"0", 0},
        {"0B", 0},
        {"4096", 4096},
        {"17B", 17},
        {"1KB", 1024},
        {"1KiB", 1024},
        {"512MB", 512ULL << 20},
        {"512MiB", 512ULL << 20},
        {"2GB", 2ULL << 30},
        {"2GiB", 2ULL << 30},
        {"3TB", 3ULL << 40},
        {"3TiB", 3ULL << 40},
        {"5PB", 5ULL << 50},
        {"5PiB", 5ULL << 50},
        {"15EB", 15ULL << 60},
        {"15EiB", 15ULL << 60},
        {"18446744073709551615", UINT64_MAX},
        {"18446744073709551615B", UINT64_MAX},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint64_t b = 1;
        char err[128] = "";
        assert_int_equal(pg_units_parse_size(cases[i].s, &b, err, sizeof(err)), 0);
        assert_true(b == cases[i].b);
        assert_string_equal(err, "");
    }
}

static void test_size_invalid(void **state)
{
    (void)state;
    static const char *bad[] = {
        "",
        "-1",
        "-1MB",
        "1.5GB",
        "0.5KB",
        "1 MB",
        " 1MB",
        "1MB ",
        "1kb",
        "1mb",
        "1K",
        "1M",
        "1XB",
        "MB",
        "1MBB",
        "1MiBx",
        "16EB",
        "16EiB",
        "18446744073709551616",
        "99999999999999999999999",
        "17179869184GB",
        "+1",
        "1GB512MB",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint64_t b = 42;
        char err[128] = "";
        assert_int_equal(pg_units_parse_size(bad[i], &b, err, sizeof(err)), -1);
        assert_true(b == 42);
        assert_true(strlen(err) > 0);
    }
    assert_int_equal(pg_units_parse_size(NULL, NULL, NULL, 0), -1);
}

static void test_size_format(void **state)
{
    (void)state;
    static const struct {
        uint64_t b;
        const char *s;
    } cases[] = {
        {0, "0B"},
        {1, "1B"},
        {1023, "1023B"},
        {1024, "1KiB"},
        {1536, "1536B"},
        {536870912, "512MiB"},
        {1ULL << 30, "1GiB"},
        {3ULL << 40, "3TiB"},
        {5ULL << 50, "5PiB"},
        {1ULL << 60, "1EiB"},
        {15ULL << 60, "15EiB"},
        {UINT64_MAX, "18446744073709551615B"},
    };
    char buf[64];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(pg_units_format_size(cases[i].b, buf, sizeof(buf)), 0);
        assert_string_equal(buf, cases[i].s);
    }
    char small[4];
    assert_int_equal(pg_units_format_size(536870912, small, sizeof(small)), -1);
    assert_string_equal(small, "");
    assert_int_equal(pg_units_format_size(0, NULL, 0), -1);
}

static void test_size_roundtrip(void **state)
{
    (void)state;
    static const uint64_t vals[] = {
        0, 1, 1000, 1024, 1025, 4096, 512ULL << 20, 7ULL << 30, 1ULL << 63, UINT64_MAX,
    };
    char buf[64];
    for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
        uint64_t back = 1;
        assert_int_equal(pg_units_format_size(vals[i], buf, sizeof(buf)), 0);
        assert_int_equal(pg_units_parse_size(buf, &back, NULL, 0), 0);
        assert_true(back == vals[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_duration_valid),      cmocka_unit_test(test_duration_invalid),
        cmocka_unit_test(test_duration_error_text), cmocka_unit_test(test_duration_max),
        cmocka_unit_test(test_duration_format),     cmocka_unit_test(test_duration_roundtrip),
        cmocka_unit_test(test_size_valid),          cmocka_unit_test(test_size_invalid),
        cmocka_unit_test(test_size_format),         cmocka_unit_test(test_size_roundtrip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
