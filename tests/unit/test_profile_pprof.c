/* test_scraper_pprof.c - body checks and pprof validation (scraper/pprof.c) against real
 * Go profiles captured from tests/targets/pprofapp and a corpus of bad bodies. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "profile/pprof.h"
#include "testutil.h"

#define LIMIT (16u << 20)

static const char *sample_type_name(const Perftools__Profiles__Profile *p, size_t i)
{
    return p->string_table[p->sample_type[i]->type];
}

static void test_real_allocs(void **state)
{
    (void)state;
    size_t len, rawlen;
    uint8_t *body = pg_test_slurp("data/go_allocs.pb.gz", &len), *raw;
    Perftools__Profiles__Profile *p = NULL;
    char err[256];
    assert_int_equal(pg_pprof_check(body, len, "application/octet-stream", LIMIT, &raw, &rawlen, &p,
                                    err, sizeof(err)),
                     0);
    assert_true(rawlen > len);
    assert_int_equal(p->n_sample_type, 4);
    assert_string_equal(sample_type_name(p, 0), "alloc_objects");
    assert_string_equal(sample_type_name(p, 3), "inuse_space");
    /* raw protobuf (not gzip) is accepted as well */
    uint8_t *raw2;
    size_t raw2len;
    assert_int_equal(
        pg_pprof_check(raw, rawlen, NULL, LIMIT, &raw2, &raw2len, NULL, err, sizeof(err)), 0);
    assert_int_equal(raw2len, rawlen);
    free(raw2);
    pg_pprof_free(p);
    free(raw);
    free(body);
}

static void test_real_goroutine_mutex(void **state)
{
    (void)state;
    const char *files[] = {"data/go_goroutine.pb.gz", "data/go_mutex.pb.gz"};
    const char *first[] = {"goroutine", "contentions"};
    for (int i = 0; i < 2; i++) {
        size_t len, rawlen;
        uint8_t *body = pg_test_slurp(files[i], &len), *raw;
        Perftools__Profiles__Profile *p = NULL;
        char err[256];
        assert_int_equal(
            pg_pprof_check(body, len, NULL, LIMIT, &raw, &rawlen, &p, err, sizeof(err)), 0);
        assert_string_equal(sample_type_name(p, 0), first[i]);
        pg_pprof_free(p);
        free(raw);
        free(body);
    }
}

static void expect_fail(const void *body, size_t len, const char *ct, size_t limit,
                        const char *want)
{
    uint8_t *raw = NULL;
    size_t rawlen = 0;
    char err[256] = "";
    assert_int_equal(pg_pprof_check(body, len, ct, limit, &raw, &rawlen, NULL, err, sizeof(err)),
                     -1);
    assert_null(raw);
    if (!strstr(err, want))
        fail_msg("error %s does not mention %s", err, want);
}

static void test_bad_bodies(void **state)
{
    (void)state;
    const char *html = "\n<!DOCTYPE html><html><body>404 page not found</body></html>";
    expect_fail(html, strlen(html), NULL, LIMIT, "HTML");
    expect_fail("x", 1, "text/html; charset=utf-8", LIMIT, "HTML");
    expect_fail("{\"error\":1}", 11, NULL, LIMIT, "JSON");
    expect_fail("", 0, NULL, LIMIT, "empty");
    expect_fail("\x0a\x05garbage-bytes", 15, NULL, LIMIT, "not a valid protobuf");

    size_t len;
    uint8_t *body = pg_test_slurp("data/go_allocs.pb.gz", &len);
    expect_fail(body, len / 2, NULL, LIMIT, "truncated");
    /* body decompresses to more than the limit */
    expect_fail(body, len, NULL, 512, "exceeds limit");
    free(body);
}

static void test_gzip_bomb(void **state)
{
    (void)state;
    /* 64 MiB of zeros compresses to ~64 KiB; a 1 MiB limit must stop it early */
    size_t n = 64u << 20;
    uint8_t *zeros = calloc(1, n);
    uLong bound = compressBound(n) + 32;
    uint8_t *gz = malloc(bound);
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    assert_int_equal(deflateInit2(&zs, 9, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY), Z_OK);
    zs.next_in = zeros;
    zs.avail_in = (uInt)n;
    zs.next_out = gz;
    zs.avail_out = (uInt)bound;
    assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
    size_t gzlen = bound - zs.avail_out;
    deflateEnd(&zs);
    free(zeros);
    assert_true(gzlen < 1u << 20);
    expect_fail(gz, gzlen, NULL, 1u << 20, "exceeds limit");
    free(gz);
}

/* 4 MiB of empty Samples (field 2, length 0: "12 00") would decode to ~176 MiB: the
 * decoding budget (16x + 1 MiB) rejects it instead of allocating that much */
static void test_decode_amplification(void **state)
{
    (void)state;
    size_t n = 4u << 20;
    uint8_t *body = malloc(n);
    assert_non_null(body);
    for (size_t i = 0; i < n; i += 2) {
        body[i] = 0x12;
        body[i + 1] = 0x00;
    }
    uint8_t *raw = NULL;
    size_t rawlen = 0;
    char err[256] = "";
    assert_int_equal(pg_pprof_check(body, n, NULL, LIMIT, &raw, &rawlen, NULL, err, sizeof(err)),
                     -1);
    assert_non_null(strstr(err, "decoding needs more than"));
    assert_null(raw);
    free(body);
}

static void test_validate_rejects_inconsistent(void **state)
{
    (void)state;
    Perftools__Profiles__Profile p = PERFTOOLS__PROFILES__PROFILE__INIT;
    char *strs[] = {"", "samples", "count"};
    Perftools__Profiles__ValueType vt = PERFTOOLS__PROFILES__VALUE_TYPE__INIT;
    Perftools__Profiles__ValueType *vts[] = {&vt};
    int64_t vals[] = {1, 2};
    Perftools__Profiles__Sample s = PERFTOOLS__PROFILES__SAMPLE__INIT;
    Perftools__Profiles__Sample *ss[] = {&s};
    char err[256];

    assert_int_equal(pg_pprof_validate(&p, err, sizeof(err)), -1); /* no string table */
    p.string_table = strs;
    p.n_string_table = 3;
    assert_int_equal(pg_pprof_validate(&p, err, sizeof(err)), -1); /* no sample types */
    vt.type = 1;
    vt.unit = 7;
    p.sample_type = vts;
    p.n_sample_type = 1;
    assert_int_equal(pg_pprof_validate(&p, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "out of range"));
    vt.unit = 2;
    assert_int_equal(pg_pprof_validate(&p, err, sizeof(err)), 0);
    s.value = vals;
    s.n_value = 2;
    p.sample = ss;
    p.n_sample = 1;
    assert_int_equal(pg_pprof_validate(&p, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "2 values for 1 sample types"));
    s.n_value = 1;
    assert_int_equal(pg_pprof_validate(&p, err, sizeof(err)), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_real_allocs),
        cmocka_unit_test(test_real_goroutine_mutex),
        cmocka_unit_test(test_bad_bodies),
        cmocka_unit_test(test_gzip_bomb),
        cmocka_unit_test(test_validate_rejects_inconsistent),
        cmocka_unit_test(test_decode_amplification),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
