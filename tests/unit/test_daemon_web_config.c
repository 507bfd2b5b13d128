/* test_daemon_web_config.c - the exporter-toolkit web config file (daemon/web_config.h),
 * its tls_server_config block (yamlcfg/tls_server.h) as the receiver's config loads it
 * too, and the TLS context's refusal of files that do not load (daemon/web_tls.h):
 * defaults, every key, errors at file:line:col, and no hash in any error text. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"
#include "daemon/web_config.h"
#include "daemon/web_tls.h"
#include "testutil.h"

#define HASH "$2y$10$mDwo.lAisC94iLAyP81MCesa29IzH37oigHC/42V2pdJlUprsJPze"

static struct pg_web_config *load_web(const char *text, struct pg_cfg_errors *errs)
{
    char path[64];
    pg_test_write_temp(text, path);
    struct pg_web_config *c = pg_web_config_load(path, errs);
    unlink(path);
    return c;
}

/* Asserts that errs holds an error at line:col whose message contains text. */
static void assert_error(const struct pg_cfg_errors *errs, int line, int col, const char *text)
{
    for (size_t i = 0; i < errs->n; i++)
        if (errs->v[i].line == line && errs->v[i].col == col && strstr(errs->v[i].msg, text))
            return;
    for (size_t i = 0; i < errs->n; i++)
        fprintf(stderr, "  have %d:%d: %s\n", errs->v[i].line, errs->v[i].col, errs->v[i].msg);
    fail_msg("no error %d:%d: %s", line, col, text);
}

static void test_empty_file_is_open(void **state)
{
    (void)state;
    struct pg_cfg_errors errs;
    pg_cfg_errors_init(&errs);
    struct pg_web_config *c = load_web("", &errs);
    assert_non_null(c);
    assert_int_equal(c->tls_on, 0);
    assert_int_equal(c->n_users, 0);
    pg_web_config_free(c);
    c = load_web("tls_server_config: {}\nbasic_auth_users: {}\n", &errs);
    assert_non_null(c);
    assert_int_equal(c->tls_on, 0);
    pg_web_config_free(c);
    pg_cfg_errors_reset(&errs);
}

static void test_every_key(void **state)
{
    (void)state;
    struct pg_cfg_errors errs;
    pg_cfg_errors_init(&errs);
    struct pg_web_config *c = load_web("tls_server_config:\n"
                                       "  cert_file: /dev/null\n"
                                       "  key_file: /dev/null\n"
                                       "  client_ca_file: /dev/null\n"
                                       "  client_auth_type: VerifyClientCertIfGiven\n"
                                       "  min_version: TLS13\n"
                                       "  max_version: TLS13\n"
                                       "  prefer_server_cipher_suites: false\n"
                                       "basic_auth_users:\n"
                                       "  alice: '" HASH "'\n"
                                       "  bob: " HASH "\n",
                                       &errs);
    assert_int_equal(errs.n, 0);
    assert_non_null(c);
    assert_int_equal(c->tls_on, 1);
    assert_string_equal(c->tls.cert_file, "/dev/null");
    assert_string_equal(c->tls.client_ca_file, "/dev/null");
    assert_int_equal(c->tls.client_auth, PG_CFG_VERIFY_CLIENT_CERT_IF_GIVEN);
    assert_int_equal(c->tls.min_version, PG_CFG_TLS13);
    assert_int_equal(c->tls.max_version, PG_CFG_TLS13);
    assert_int_equal(c->tls.prefer_server_cipher_suites, 0);
    assert_null(c->tls.key); /* key_file is read by the listener, not kept inline */
    assert_int_equal(c->n_users, 2);
    assert_string_equal(c->users[1].name, "bob");
    assert_string_equal(c->users[1].hash, HASH);
    pg_web_config_free(c);
    /* defaults, and inline PEM */
    c = load_web("tls_server_config:\n  cert: abc\n  key: def\n", &errs);
    assert_non_null(c);
    assert_int_equal(c->tls_on, 1);
    assert_string_equal(c->tls.cert, "abc");
    assert_string_equal(c->tls.key, "def");
    assert_int_equal(c->tls.client_auth, PG_CFG_NO_CLIENT_CERT);
    assert_int_equal(c->tls.min_version, PG_CFG_TLS12);
    assert_int_equal(c->tls.max_version, PG_CFG_TLS13);
    assert_int_equal(c->tls.prefer_server_cipher_suites, 1);
    pg_web_config_free(c);
    pg_cfg_errors_reset(&errs);
}

/* Relative file names are resolved against the web config file's directory. */
static void test_relative_paths(void **state)
{
    (void)state;
    char pem[64];
    pg_test_write_temp("not checked here\n", pem); /* /tmp/pg_test_XXXXXX */
    char text[256];
    snprintf(text, sizeof(text), "tls_server_config:\n  cert_file: %s\n  key_file: %s\n", pem + 5,
             pem + 5);
    struct pg_cfg_errors errs;
    pg_cfg_errors_init(&errs);
    struct pg_web_config *c = load_web(text, &errs); /* also in /tmp */
    unlink(pem);
    assert_int_equal(errs.n, 0);
    assert_non_null(c);
    assert_string_equal(c->tls.cert_file, pem);
    assert_string_equal(c->tls.key_file, pem);
    pg_web_config_free(c);
    pg_cfg_errors_reset(&errs);
}

static void test_errors(void **state)
{
    (void)state;
    struct pg_cfg_errors errs;
    pg_cfg_errors_init(&errs);
    assert_null(load_web("basic_auth_users:\n"
                         "  alice: letmein-plaintext\n"
                         "  bob: [x]\n"
                         "rate_limit: {burst: 2}\n"
                         "tls_server_config:\n"
                         "  key: x\n"
                         "  client_ca: y\n"
                         "  client_auth_type: RequireAnyClientCert\n"
                         "  curve_preferences: [X25519]\n"
                         "bogus: 1\n",
                         &errs));
    assert_error(&errs, 2, 10, "user alice: the password hash is not a bcrypt hash");
    assert_error(&errs, 3, 8, "user bob: expected a bcrypt hash");
    assert_error(&errs, 4, 13, "rate_limit is not supported");
    assert_error(&errs, 6, 3, "tls_server_config: missing cert_file or cert");
    assert_error(&errs, 9, 22, "curve_preferences is not supported");
    assert_error(&errs, 10, 1, "field bogus not found in type web.Config");
    for (size_t i = 0; i < errs.n; i++)
        assert_null(strstr(errs.v[i].msg, "letmein"));
    pg_cfg_errors_reset(&errs);
    assert_null(load_web("- a\n", &errs));
    assert_error(&errs, 1, 1, "web.Config must be a mapping");
    pg_cfg_errors_reset(&errs);
}

static struct pg_cfg *load_cfg(const char *text, struct pg_cfg_errors *errs)
{
    char path[64];
    pg_test_write_temp(text, path);
    struct pg_cfg *c = pg_cfg_load(path, errs);
    unlink(path);
    return c;
}

static void test_receiver_listener_config(void **state)
{
    (void)state;
    struct pg_cfg_errors errs;
    pg_cfg_errors_init(&errs);
    struct pg_cfg *c = load_cfg("receiver:\n  enabled: true\n", &errs);
    assert_non_null(c);
    assert_null(c->receiver_listen_address); /* shares the web port */
    assert_null(c->receiver_tls);
    pg_cfg_free(c);
    c = load_cfg("receiver:\n  enabled: true\n  listen_address: '[::1]:4443'\n"
                 "  tls_server_config:\n    cert_file: /dev/null\n    key_file: /dev/null\n"
                 "    client_ca_file: /dev/null\n"
                 "    client_auth_type: RequireAndVerifyClientCert\n",
                 &errs);
    assert_int_equal(errs.n, 0);
    assert_non_null(c);
    assert_string_equal(c->receiver_listen_address, "[::1]:4443");
    assert_non_null(c->receiver_tls);
    assert_int_equal(c->receiver_tls->client_auth, PG_CFG_REQUIRE_AND_VERIFY_CLIENT_CERT);
    struct pg_cfg_tls_server copy = *c->receiver_tls;
    assert_true(pg_cfg_tls_server_equal(&copy, c->receiver_tls));
    copy.min_version = PG_CFG_TLS13;
    assert_false(pg_cfg_tls_server_equal(&copy, c->receiver_tls));
    assert_false(pg_cfg_tls_server_equal(NULL, c->receiver_tls));
    assert_true(pg_cfg_tls_server_equal(NULL, NULL));
    pg_cfg_free(c);
    /* a block without certificate: plain HTTP on the receiver's own port */
    c = load_cfg("receiver:\n  enabled: true\n  listen_address: ':4443'\n"
                 "  tls_server_config: {}\n",
                 &errs);
    assert_non_null(c);
    assert_null(c->receiver_tls);
    pg_cfg_free(c);
    assert_null(load_cfg("receiver:\n  listen_address: 'localhost:http'\n", &errs));
    assert_error(&errs, 2, 19, "listen_address localhost:http: want host:port");
    pg_cfg_errors_reset(&errs);
}

static void test_tls_context_refuses_bad_files(void **state)
{
    (void)state;
    struct pg_cfg_tls_server t = {.cert_file = "/dev/null",
                                  .key_file = "/dev/null",
                                  .min_version = PG_CFG_TLS12,
                                  .max_version = PG_CFG_TLS13};
    char err[512] = "";
    assert_null(pg_web_tls_new(&t, "test", err, sizeof(err)));
    assert_non_null(strstr(err, "cert_file /dev/null: cannot load the certificate"));
    t.cert_file = NULL;
    t.cert = "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n";
    assert_null(pg_web_tls_new(&t, "test", err, sizeof(err)));
    assert_non_null(strstr(err, "cert (inline): cannot load the certificate"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_file_is_open),
        cmocka_unit_test(test_every_key),
        cmocka_unit_test(test_relative_paths),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_receiver_listener_config),
        cmocka_unit_test(test_tls_context_refuses_bad_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
