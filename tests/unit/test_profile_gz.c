/* test_profile_gz.c - libdeflate gzip (profile/gz.c): round trips at several levels, truncated
 * and corrupt input, a gzip bomb over the limit, an output exactly at the limit, a lying ISIZE
 * trailer, multi-member streams, trailing garbage, and use from another thread. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "profile/gz.h"
#include "profile/wire.h"

static uint8_t *pattern(size_t n)
{
    uint8_t *b = malloc(n ? n : 1);
    uint32_t s = 12345;
    for (size_t i = 0; i < n; i++) {
        s = s * 1103515245u + 12345u;
        b[i] = (uint8_t)((i % 64) < 32 ? 'a' + (i % 7) : (s >> 24));
    }
    return b;
}

static void round_trip(size_t n, int level)
{
    uint8_t *in = pattern(n), *gz, *out;
    size_t gzlen, outlen;
    char err[256];
    assert_int_equal(pg_gz_deflate(in, n, level, &gz, &gzlen), 0);
    assert_true(pg_gz_is_gzip(gz, gzlen));
    assert_int_equal(pg_gz_inflate(gz, gzlen, n + 1, &out, &outlen, err, sizeof(err)), 0);
    assert_int_equal(outlen, n);
    assert_memory_equal(out, in, n);
    free(out);
    free(in);
    free(gz);
}

static void test_round_trip(void **state)
{
    (void)state;
    int levels[] = {0, 1, 2, 4, 6, 9, 12, -3, 99};
    for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
        round_trip(0, levels[i]);
        round_trip(1, levels[i]);
        round_trip(300000, levels[i]);
    }
}

static void test_not_gzip_truncated_corrupt(void **state)
{
    (void)state;
    uint8_t *in = pattern(100000), *gz, *out = NULL;
    size_t gzlen, outlen;
    char err[256];
    assert_int_equal(pg_gz_deflate(in, 100000, 6, &gz, &gzlen), 0);
    assert_int_equal(pg_gz_inflate(in, 100, 1 << 20, &out, &outlen, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "not a gzip"));
    assert_int_equal(pg_gz_is_gzip(gz, 1), 0);
    for (size_t cut = 2; cut < gzlen; cut += gzlen / 7) {
        assert_int_equal(pg_gz_inflate(gz, cut, 1 << 20, &out, &outlen, err, sizeof(err)), -1);
        assert_non_null(strstr(err, "truncated"));
    }
    gz[gzlen / 2] ^= 0x55; /* corrupt: bad data or CRC mismatch */
    assert_int_equal(pg_gz_inflate(gz, gzlen, 1 << 20, &out, &outlen, err, sizeof(err)), -1);
    assert_null(out);
    free(in);
    free(gz);
}

/* 64 MiB of zeros compress to ~64 KiB: over the limit it fails without taking the memory. */
static void test_bomb_and_exact_limit(void **state)
{
    (void)state;
    size_t n = (size_t)64 << 20;
    uint8_t *zeros = calloc(1, n), *gz, *out;
    size_t gzlen, outlen;
    char err[256];
    assert_int_equal(pg_gz_deflate(zeros, n, 1, &gz, &gzlen), 0);
    assert_true(gzlen < n / 100);
    assert_int_equal(pg_gz_inflate(gz, gzlen, 1 << 20, &out, &outlen, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "exceeds limit of 1048576 bytes"));
    assert_int_equal(pg_gz_inflate(gz, gzlen, n - 1, &out, &outlen, err, sizeof(err)), -1);
    assert_int_equal(pg_gz_inflate(gz, gzlen, n, &out, &outlen, err, sizeof(err)), 0);
    assert_int_equal(outlen, n);
    free(out);
    /* a lying ISIZE (claims 10 bytes) does not matter: the limit still holds */
    gz[gzlen - 4] = 10;
    gz[gzlen - 3] = gz[gzlen - 2] = gz[gzlen - 1] = 0;
    assert_int_equal(pg_gz_inflate(gz, gzlen, 1 << 20, &out, &outlen, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "exceeds limit"));
    free(gz);
    free(zeros);
}

/* A wrong ISIZE is never trusted for the allocation; libdeflate then rejects the member (it
 * checks ISIZE). A too-small size hint (the last member's ISIZE in a multi-member stream) only
 * costs a retry: see test_multi_member_and_trailing. */
static void test_lying_isize(void **state)
{
    (void)state;
    uint8_t *in = pattern(200000), *gz, *out;
    size_t gzlen, outlen;
    char err[256];
    assert_int_equal(pg_gz_deflate(in, 200000, 6, &gz, &gzlen), 0);
    uint32_t lies[] = {1, 0xffffffffu, 0};
    for (int i = 0; i < 3; i++) {
        for (int k = 0; k < 4; k++)
            gz[gzlen - 4 + k] = (uint8_t)(lies[i] >> (8 * k));
        int rc = pg_gz_inflate(gz, gzlen, 1 << 20, &out, &outlen, err, sizeof(err));
        assert_int_equal(rc, -1);
    }
    free(in);
    free(gz);
}

static void test_multi_member_and_trailing(void **state)
{
    (void)state;
    uint8_t *a = pattern(5000), *b = pattern(70000), *ga, *gb, *out;
    size_t la, lb, outlen;
    char err[256];
    assert_int_equal(pg_gz_deflate(a, 5000, 1, &ga, &la), 0);
    assert_int_equal(pg_gz_deflate(b, 70000, 9, &gb, &lb), 0);
    uint8_t *cat = malloc(la + lb + 8);
    memcpy(cat, ga, la);
    memcpy(cat + la, gb, lb);
    assert_int_equal(pg_gz_inflate(cat, la + lb, 1 << 20, &out, &outlen, err, sizeof(err)), 0);
    assert_int_equal(outlen, 75000);
    assert_memory_equal(out, a, 5000);
    assert_memory_equal(out + 5000, b, 70000);
    free(out);
    /* the limit covers all members together */
    assert_int_equal(pg_gz_inflate(cat, la + lb, 74999, &out, &outlen, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "exceeds limit"));
    /* bytes after the last member that do not start a member are ignored */
    memcpy(cat + la, "\0\0garbage", 9);
    assert_int_equal(pg_gz_inflate(cat, la + 9, 1 << 20, &out, &outlen, err, sizeof(err)), 0);
    assert_int_equal(outlen, 5000);
    free(out);
    /* a second member cut short fails */
    memcpy(cat + la, gb, lb);
    assert_int_equal(pg_gz_inflate(cat, la + lb / 2, 1 << 20, &out, &outlen, err, sizeof(err)), -1);
    free(cat);
    free(a);
    free(b);
    free(ga);
    free(gb);
}

static void *thread_main(void *arg)
{
    (void)arg;
    round_trip(100000, 4);
    round_trip(100000, 1);
    return NULL; /* the thread's libdeflate cache is freed by the key destructor (LSan) */
}

static void test_threads(void **state)
{
    (void)state;
    pthread_t t[3];
    for (int i = 0; i < 3; i++)
        assert_int_equal(pthread_create(&t[i], NULL, thread_main, NULL), 0);
    for (int i = 0; i < 3; i++)
        pthread_join(t[i], NULL);
    pg_gz_thread_release();
    pg_gz_thread_release(); /* twice is fine */
    round_trip(1000, 6);    /* re-created on demand */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_not_gzip_truncated_corrupt),
        cmocka_unit_test(test_bomb_and_exact_limit),
        cmocka_unit_test(test_lying_isize),
        cmocka_unit_test(test_multi_member_and_trailing),
        cmocka_unit_test(test_threads),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    pg_profile_thread_release();
    return rc;
}
