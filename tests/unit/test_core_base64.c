/* test_core_base64.c - unit tests for base64 decoding (core/base64.c): RFC 4648 test
 * vectors, both alphabets, optional padding, whitespace only with the flag, and the
 * inputs that must be rejected. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "core/base64.h"

/* Decodes in with flags and checks the result is exactly want (NUL-terminated too). */
static void expect_ok(const char *in, int flags, const char *want, size_t want_len)
{
    uint8_t *out = NULL;
    size_t n = 12345;
    assert_int_equal(pg_base64_decode(in, strlen(in), flags, &out, &n), 0);
    assert_non_null(out);
    assert_int_equal(n, want_len);
    assert_memory_equal(out, want, want_len);
    assert_int_equal(out[n], 0);
    free(out);
}

static void expect_fail(const char *in, int flags)
{
    uint8_t *out = (uint8_t *)"untouched";
    size_t n = 7;
    assert_int_equal(pg_base64_decode(in, strlen(in), flags, &out, &n), -1);
    assert_string_equal((const char *)out, "untouched");
    assert_int_equal(n, 7);
}

/* RFC 4648 section 10, padded and unpadded. */
static void test_rfc4648_vectors(void **state)
{
    (void)state;
    static const char *const enc[] = {"",         "Zg==",     "Zm8=",    "Zm9v",
                                      "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    static const char *const dec[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    for (size_t i = 0; i < sizeof(enc) / sizeof(enc[0]); i++) {
        expect_ok(enc[i], 0, dec[i], strlen(dec[i]));
        char unpadded[16];
        size_t l = strlen(enc[i]);
        while (l > 0 && enc[i][l - 1] == '=')
            l--;
        memcpy(unpadded, enc[i], l);
        unpadded[l] = '\0';
        expect_ok(unpadded, 0, dec[i], strlen(dec[i]));
        expect_ok(unpadded, PG_BASE64_IGNORE_SPACE, dec[i], strlen(dec[i]));
    }
}

/* Standard and URL-safe alphabets decode to the same bytes, also binary ones. */
static void test_alphabets_and_binary(void **state)
{
    (void)state;
    static const char bin[] = {(char)0xfb, (char)0xff, (char)0xbf, 0x00, 0x01};
    expect_ok("+/+/AAE=", 0, bin, sizeof(bin));
    expect_ok("-_-_AAE", 0, bin, sizeof(bin));
    expect_ok("-/+_AAE", 0, bin, sizeof(bin));
    expect_ok("aGVsbG8gd29ybGQ=", 0, "hello world", 11);
    /* padding is optional and its count is not checked */
    expect_ok("YQ", 0, "a", 1);
    expect_ok("YQ===", 0, "a", 1);
    expect_ok("=", 0, "", 0);
}

/* Whitespace: skipped with PG_BASE64_IGNORE_SPACE, an invalid character without. */
static void test_whitespace(void **state)
{
    (void)state;
    expect_ok("YW\nJj ZA", PG_BASE64_IGNORE_SPACE, "abcd", 4);
    expect_ok(" Zm9v\r\n\tYmFy \n", PG_BASE64_IGNORE_SPACE, "foobar", 6);
    expect_ok("YQ= =\n", PG_BASE64_IGNORE_SPACE, "a", 1);
    expect_fail("YW\nJj ZA", 0);
    expect_fail(" Zm9v", 0);
    expect_fail("Zm9v\n", 0);
}

static void test_rejects(void **state)
{
    (void)state;
    for (int flags = 0; flags <= PG_BASE64_IGNORE_SPACE; flags++) {
        expect_fail("a$==", flags);   /* invalid character */
        expect_fail("YQ==YQ", flags); /* data after padding */
        expect_fail("Y=Q", flags);
        expect_fail("a", flags);     /* one symbol cannot make a byte */
        expect_fail("Zm9vY", flags); /* nor one after a full group */
        expect_fail("Zm9vY===", flags);
        expect_fail("Zm9v\x80", flags); /* non-ASCII */
    }
    expect_fail("Zm9v Y", PG_BASE64_IGNORE_SPACE); /* whitespace does not count as a symbol */
    /* an embedded NUL inside the given length is an invalid character */
    uint8_t *out = NULL;
    size_t n = 0;
    assert_int_equal(pg_base64_decode("Zm\0v", 4, 0, &out, &n), -1);
    /* the length bounds the input: the rest of the string is not read */
    assert_int_equal(pg_base64_decode("Zm9v!!!", 4, 0, &out, &n), 0);
    assert_int_equal(n, 3);
    assert_memory_equal(out, "foo", 3);
    free(out);
}

/* Encoding: RFC 4648's vectors, and a round trip of every byte value. */
static void test_encode(void **state)
{
    (void)state;
    static const char *const v[][2] = {{"", ""},
                                       {"f", "Zg=="},
                                       {"fo", "Zm8="},
                                       {"foo", "Zm9v"},
                                       {"foob", "Zm9vYg=="},
                                       {"fooba", "Zm9vYmE="},
                                       {"foobar", "Zm9vYmFy"}};
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        char *e = pg_base64_encode(v[i][0], strlen(v[i][0]));
        assert_string_equal(e, v[i][1]);
        free(e);
    }
    uint8_t all[256];
    for (int i = 0; i < 256; i++)
        all[i] = (uint8_t)i;
    char *e = pg_base64_encode(all, sizeof(all));
    uint8_t *out;
    size_t n;
    assert_int_equal(pg_base64_decode(e, strlen(e), 0, &out, &n), 0);
    assert_int_equal(n, 256);
    assert_memory_equal(out, all, 256);
    free(out);
    free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc4648_vectors), cmocka_unit_test(test_alphabets_and_binary),
        cmocka_unit_test(test_whitespace),      cmocka_unit_test(test_rejects),
        cmocka_unit_test(test_encode),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
