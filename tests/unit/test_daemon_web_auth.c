/* test_daemon_web_auth.c - basic authentication against bcrypt hashes (daemon/web_auth.h):
 * the right password passes, a wrong one, an unknown user and malformed headers do not,
 * outcomes are cached (a second lookup needs no bcrypt), a changed hash is a new key, and
 * the cache forgets on clear. Hashes are made here with libxcrypt at cost 4. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <crypt.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/web_auth.h"
#include "daemon/web_config.h"

/* A new bcrypt hash of pw (caller frees). */
static char *hash_of(const char *pw)
{
    char salt[CRYPT_GENSALT_OUTPUT_SIZE];
    assert_non_null(crypt_gensalt_rn("$2b$", 4, NULL, 0, salt, sizeof(salt)));
    struct crypt_data *cd = calloc(1, sizeof(*cd));
    assert_non_null(cd);
    char *h = strdup(crypt_r(pw, salt, cd));
    free(cd);
    assert_true(pg_web_config_is_bcrypt(h));
    return h;
}

/* "Basic base64(user:pw)" into out. */
static void header(const char *user, const char *pw, char *out, size_t len)
{
    char raw[256];
    snprintf(raw, sizeof(raw), "%s:%s", user, pw);
    unsigned char b[400];
    EVP_EncodeBlock(b, (const unsigned char *)raw, (int)strlen(raw));
    snprintf(out, len, "Basic %s", b);
}

struct fixture {
    struct pg_web_config cfg;
    struct pg_web_user users[2];
    struct pg_web_auth *auth;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    f->users[0] = (struct pg_web_user){strdup("alice"), hash_of("wonderland")};
    f->users[1] = (struct pg_web_user){strdup("bob"), hash_of("builder")};
    f->cfg.users = f->users;
    f->cfg.n_users = 2;
    f->auth = pg_web_auth_new(8);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    for (int i = 0; i < 2; i++) {
        free(f->users[i].name);
        free(f->users[i].hash);
    }
    pg_web_auth_free(f->auth);
    free(f);
    return 0;
}

/* Decides user:pw like the server: lookup, and on a miss verify and remember. Returns the
 * outcome; *bcrypt says whether a bcrypt ran. */
static int decide(struct fixture *f, const char *hdr, int *bcrypt)
{
    struct pg_web_auth_check *c = NULL;
    int rc = pg_web_auth_lookup(f->auth, &f->cfg, hdr, &c);
    *bcrypt = rc == PG_WEB_AUTH_VERIFY;
    if (rc != PG_WEB_AUTH_VERIFY) {
        assert_null(c);
        return rc == PG_WEB_AUTH_NO_CREDENTIALS ? -2 : rc;
    }
    assert_non_null(c);
    pg_web_auth_verify(c);
    pg_web_auth_remember(f->auth, c);
    rc = c->ok;
    pg_web_auth_check_free(c);
    return rc;
}

static void test_right_wrong_unknown(void **state)
{
    struct fixture *f = *state;
    char h[512];
    int b;
    header("alice", "wonderland", h, sizeof(h));
    assert_int_equal(decide(f, h, &b), 1);
    assert_true(b);
    assert_int_equal(decide(f, h, &b), 1); /* cached */
    assert_false(b);
    header("bob", "builder", h, sizeof(h));
    assert_int_equal(decide(f, h, &b), 1);
    header("alice", "builder", h, sizeof(h)); /* another user's password */
    assert_int_equal(decide(f, h, &b), 0);
    assert_true(b);
    assert_int_equal(decide(f, h, &b), 0); /* the failure is cached too */
    assert_false(b);
    header("mallory", "wonderland", h, sizeof(h));
    assert_int_equal(decide(f, h, &b), 0);
    assert_true(b); /* an unknown user costs a bcrypt (the dummy hash) like a known one */
    header("alice", "", h, sizeof(h));
    assert_int_equal(decide(f, h, &b), 0);
    header("", "wonderland", h, sizeof(h));
    assert_int_equal(decide(f, h, &b), 0);
}

static void test_malformed_headers(void **state)
{
    struct fixture *f = *state;
    int b;
    assert_int_equal(decide(f, NULL, &b), -2);
    assert_false(b);
    assert_int_equal(decide(f, "Bearer abc", &b), -2);
    assert_int_equal(decide(f, "Basic !!!notbase64", &b), -2);
    assert_int_equal(decide(f, "Basic YWxpY2U=", &b), -2); /* "alice", no colon */
    assert_false(b);
    char h[512];
    header("alice", "wonderland", h, sizeof(h));
    h[0] = 'b'; /* the scheme is case-insensitive */
    assert_int_equal(decide(f, h, &b), 1);
}

static void test_changed_hash_and_clear(void **state)
{
    struct fixture *f = *state;
    char h[512];
    int b;
    header("alice", "wonderland", h, sizeof(h));
    assert_int_equal(decide(f, h, &b), 1);
    /* the config changes alice's password: the cached success does not apply */
    free(f->users[0].hash);
    f->users[0].hash = hash_of("looking-glass");
    assert_int_equal(decide(f, h, &b), 0);
    assert_true(b);
    header("alice", "looking-glass", h, sizeof(h));
    assert_int_equal(decide(f, h, &b), 1);
    assert_int_equal(decide(f, h, &b), 1);
    assert_false(b);
    pg_web_auth_clear(f->auth);
    assert_int_equal(decide(f, h, &b), 1);
    assert_true(b);
}

static void test_cache_capacity(void **state)
{
    struct fixture *f = *state;
    char h[512], first[512];
    int b;
    header("alice", "wonderland", first, sizeof(first));
    assert_int_equal(decide(f, first, &b), 1);
    for (int i = 0; i < 8; i++) { /* 8 more outcomes push the first one out */
        char pw[32];
        snprintf(pw, sizeof(pw), "guess-%d", i);
        header("bob", pw, h, sizeof(h));
        assert_int_equal(decide(f, h, &b), 0);
    }
    assert_int_equal(decide(f, first, &b), 1);
    assert_true(b);
}

/* Two requests with the same new credentials both miss the cache; once the first is
 * decided, the second is answered by recall without its own bcrypt. */
static void test_recall_waiting_duplicate(void **state)
{
    struct fixture *f = *state;
    char h[512];
    header("alice", "wonderland", h, sizeof(h));
    struct pg_web_auth_check *c1 = NULL, *c2 = NULL;
    assert_int_equal(pg_web_auth_lookup(f->auth, &f->cfg, h, &c1), PG_WEB_AUTH_VERIFY);
    assert_int_equal(pg_web_auth_lookup(f->auth, &f->cfg, h, &c2), PG_WEB_AUTH_VERIFY);
    assert_int_equal(pg_web_auth_recall(f->auth, c2), -1);
    pg_web_auth_verify(c1);
    assert_int_equal(c1->ok, 1);
    pg_web_auth_remember(f->auth, c1);
    assert_int_equal(pg_web_auth_recall(f->auth, c2), 1);
    pg_web_auth_check_free(c1);
    pg_web_auth_check_free(c2);
}

static void test_is_bcrypt(void **state)
{
    (void)state;
    assert_true(
        pg_web_config_is_bcrypt("$2y$10$mDwo.lAisC94iLAyP81MCesa29IzH37oigHC/42V2pdJlUprsJPze"));
    assert_true(
        pg_web_config_is_bcrypt("$2a$04$mDwo.lAisC94iLAyP81MCesa29IzH37oigHC/42V2pdJlUprsJPze"));
    assert_false(
        pg_web_config_is_bcrypt("$2x$10$mDwo.lAisC94iLAyP81MCesa29IzH37oigHC/42V2pdJlUprsJPze"));
    assert_false(
        pg_web_config_is_bcrypt("$2y$03$mDwo.lAisC94iLAyP81MCesa29IzH37oigHC/42V2pdJlUprsJPze"));
    assert_false(
        pg_web_config_is_bcrypt("$2y$32$mDwo.lAisC94iLAyP81MCesa29IzH37oigHC/42V2pdJlUprsJPze"));
    assert_false(
        pg_web_config_is_bcrypt("$2y$10$mDwo.lAisC94iLAyP81MCesa29IzH37oigHC/42V2pdJlUprsJPz"));
    assert_false(
        pg_web_config_is_bcrypt("$2y$10$mDwo.lAisC94iLAyP81MCesa29IzH37oigHC/42V2pdJlUprsJPz!"));
    assert_false(pg_web_config_is_bcrypt("plaintext"));
    assert_false(pg_web_config_is_bcrypt(""));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_right_wrong_unknown, setup, teardown),
        cmocka_unit_test_setup_teardown(test_malformed_headers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_changed_hash_and_clear, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cache_capacity, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recall_waiting_duplicate, setup, teardown),
        cmocka_unit_test(test_is_bcrypt),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
