/* test_core_oauth2.c - unit tests for reading a token endpoint's answer
 * (pg_oauth2_parse_answer): the Authorization value and its expiry, Go's token type
 * spelling, answers that must be refused, and expiries a hostile server could use to
 * overflow the clock (clamped to 10 years). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "core/oauth2.h"

static int parse(const char *body, char **auth, double *secs, char *err)
{
    return pg_oauth2_parse_answer((const uint8_t *)body, strlen(body), auth, secs, err, 256);
}

static void test_ok(void **state)
{
    (void)state;
    char *auth, err[256];
    double secs;
    assert_int_equal(parse("{\"access_token\":\"t0k\",\"token_type\":\"bearer\",\"expires_in\":60}",
                           &auth, &secs, err),
                     0);
    assert_string_equal(auth, "Bearer t0k");
    assert_true(secs == 60);
    free(auth);
    assert_int_equal(parse("{\"access_token\":\"t\",\"expires_in\":\"30\"}", &auth, &secs, err), 0);
    assert_string_equal(auth, "Bearer t");
    assert_true(secs == 30);
    free(auth);
}

static void test_refused(void **state)
{
    (void)state;
    char *auth, err[256];
    double secs;
    assert_int_equal(parse("{\"error\":\"invalid_client\"}", &auth, &secs, err), -1);
    assert_null(auth);
    assert_non_null(strstr(err, "missing access_token"));
    assert_int_equal(parse("not json", &auth, &secs, err), -1);
    assert_non_null(strstr(err, "cannot parse token response"));
    assert_int_equal(parse("{\"access_token\":\"a\\r\\nX-Evil: 1\"}", &auth, &secs, err), -1);
    assert_non_null(strstr(err, "unusable access_token"));
}

static void test_expiry_clamped(void **state)
{
    (void)state;
    char *auth, err[256];
    double secs;
    assert_int_equal(parse("{\"access_token\":\"t\",\"expires_in\":1e300}", &auth, &secs, err), 0);
    assert_true(secs == 10.0 * 365 * 86400);
    free(auth);
    assert_int_equal(parse("{\"access_token\":\"t\",\"expires_in\":\"nan\"}", &auth, &secs, err),
                     0);
    assert_true(secs == 0);
    free(auth);
    assert_int_equal(parse("{\"access_token\":\"t\",\"expires_in\":-5}", &auth, &secs, err), 0);
    assert_true(secs == 0);
    free(auth);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ok),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_expiry_clamped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
