/* test_config_cluster.c - the cluster block of the config (config/cluster_cfg.c): defaults,
 * every field, peers from several discovery mechanisms with relabel_configs, the probes'
 * scheme and HTTP client options (relative paths against the config's directory, secrets
 * from files), and each error with its file:line:col; the address check used for the
 * default identity. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/cluster.h"
#include "config/config.h"
#include "discovery/sd.h"
#include "testutil.h"

static struct pg_cfg *load_text(const char *text, struct pg_cfg_errors *errs)
{
    char path[64];
    pg_test_write_temp(text, path);
    struct pg_cfg *c = pg_cfg_load(path, errs);
    unlink(path);
    return c;
}

static void test_absent_is_disabled(void **state)
{
    (void)state;
    struct pg_cfg_errors errs;
    pg_cfg_errors_init(&errs);
    struct pg_cfg *c = load_text("scrape_configs: [{job_name: a}]\n", &errs);
    assert_non_null(c);
    assert_false(c->cluster.enabled);
    assert_null(c->cluster.advertise_address);
    assert_int_equal(c->cluster.health_check_interval_ms, 5000);
    assert_int_equal(c->cluster.n_peers_sd, 0);
    assert_null(c->cluster.peers_scheme);
    assert_true(c->cluster.peers_http.follow_redirects);
    assert_false(pg_cfg_http_is_custom(&c->cluster.peers_http));
    pg_cfg_free(c);
    pg_cfg_errors_reset(&errs);
}

/* scheme and the HTTP client options under peers, as in a scrape job; relative files
 * resolve against the config file's directory (/tmp for these temp files). */
static void test_peers_client(void **state)
{
    (void)state;
    char secret[64], text[1024];
    pg_test_write_temp("pa55word\n", secret);
    snprintf(text, sizeof text,
             "cluster:\n"
             "  enabled: true\n"
             "  peers:\n"
             "    static_configs: [{targets: ['a:1']}]\n"
             "    scheme: https\n"
             "    tls_config:\n"
             "      ca_file: certs/ca.crt\n"
             "      cert_file: /etc/profgate/client.crt\n"
             "      key_file: client.key\n"
             "      server_name: profgate.monitoring.svc\n"
             "      insecure_skip_verify: false\n"
             "    basic_auth:\n"
             "      username: peer\n"
             "      password_file: %s\n"
             "    follow_redirects: false\n",
             strrchr(secret, '/') + 1);
    struct pg_cfg_errors errs;
    pg_cfg_errors_init(&errs);
    struct pg_cfg *c = load_text(text, &errs);
    unlink(secret);
    pg_cfg_errors_print(&errs, stderr);
    assert_non_null(c);
    const struct pg_httpc_cfg *h = &c->cluster.peers_http;
    assert_string_equal(c->cluster.peers_scheme, "https");
    assert_string_equal(h->tls.ca_file, "/tmp/certs/ca.crt");
    assert_string_equal(h->tls.cert_file, "/etc/profgate/client.crt");
    assert_string_equal(h->tls.key_file, "/tmp/client.key");
    assert_string_equal(h->tls.server_name, "profgate.monitoring.svc");
    assert_string_equal(h->basic_auth_username, "peer");
    assert_string_equal(h->basic_auth_password, "pa55word");
    assert_false(h->follow_redirects);
    assert_int_equal(c->cluster.n_peers_sd, 1);
    pg_cfg_free(c);

    c = load_text("cluster:\n  enabled: true\n  peers:\n    static_configs: [{targets: "
                  "['a:1']}]\n    authorization:\n      credentials: tok\n",
                  &errs);
    assert_non_null(c);
    assert_null(c->cluster.peers_scheme);
    assert_string_equal(c->cluster.peers_http.auth_type, "Bearer");
    assert_string_equal(c->cluster.peers_http.auth_credentials, "tok");
    pg_cfg_free(c);
    pg_cfg_errors_reset(&errs);
}

static void test_full(void **state)
{
    (void)state;
    struct pg_cfg_errors errs;
    pg_cfg_errors_init(&errs);
    struct pg_cfg *c = load_text("cluster:\n"
                                 "  enabled: true\n"
                                 "  advertise_address: 10.0.0.5:4100\n"
                                 "  health_check_interval: 2s\n"
                                 "  peers:\n"
                                 "    static_configs:\n"
                                 "      - targets: [10.0.0.5:4100, 10.0.0.6:4100]\n"
                                 "    file_sd_configs:\n"
                                 "      - files: [/etc/profgate/peers.json]\n"
                                 "    dns_sd_configs:\n"
                                 "      - names: [profgate.example.internal]\n"
                                 "        type: A\n"
                                 "        port: 4100\n"
                                 "    relabel_configs:\n"
                                 "      - source_labels: [__meta_dns_name]\n"
                                 "        target_label: dns\n",
                                 &errs);
    pg_cfg_errors_print(&errs, stderr);
    assert_non_null(c);
    assert_true(c->cluster.enabled);
    assert_string_equal(c->cluster.advertise_address, "10.0.0.5:4100");
    assert_int_equal(c->cluster.health_check_interval_ms, 2000);
    assert_int_equal(c->cluster.n_peers_sd, 3);
    int has_static = 0, has_file = 0;
    for (size_t i = 0; i < c->cluster.n_peers_sd; i++) {
        has_static |= c->cluster.peers_sd[i].mech == &pg_sd_static;
        has_file |= c->cluster.peers_sd[i].mech == &pg_sd_file;
    }
    assert_true(has_static && has_file);
    assert_int_equal(c->cluster.n_peers_relabel, 1);
    assert_string_equal(c->cluster.peers_relabel[0].target_label, "dns");
    pg_cfg_free(c);
    pg_cfg_errors_reset(&errs);
}

static void test_disabled_block_still_validated(void **state)
{
    (void)state;
    struct pg_cfg_errors errs;
    pg_cfg_errors_init(&errs);
    /* enabled: false needs no peers, but what is there must be valid */
    struct pg_cfg *c = load_text("cluster:\n  enabled: false\n", &errs);
    assert_non_null(c);
    assert_false(c->cluster.enabled);
    pg_cfg_free(c);
    c = load_text("cluster:\n  enabled: false\n  health_check_interval: 0s\n", &errs);
    assert_null(c);
    assert_int_equal(errs.n, 1);
    pg_cfg_errors_reset(&errs);
}

/* Loads text, which must fail with exactly one error containing want at line:col. */
static void expect_one_error(const char *text, int line, int col, const char *want)
{
    struct pg_cfg_errors errs;
    pg_cfg_errors_init(&errs);
    struct pg_cfg *c = load_text(text, &errs);
    if (errs.n != 1 || !strstr(errs.v[0].msg, want)) {
        fprintf(stderr, "config:\n%s\n", text);
        pg_cfg_errors_print(&errs, stderr);
    }
    assert_null(c);
    assert_int_equal(errs.n, 1);
    assert_non_null(strstr(errs.v[0].msg, want));
    assert_int_equal(errs.v[0].line, line);
    assert_int_equal(errs.v[0].col, col);
    pg_cfg_errors_reset(&errs);
}

#define PEERS "  peers:\n    static_configs: [{targets: ['a:1']}]\n"

static void test_errors(void **state)
{
    (void)state;
    expect_one_error("cluster:\n  enabled: true\n  advertize_address: x:1\n" PEERS, 3, 3,
                     "advertize_address");
    expect_one_error("cluster:\n  enabled: yes please\n" PEERS, 2, 12, "enabled");
    expect_one_error("cluster:\n  enabled: true\n  advertise_address: 10.0.0.5\n" PEERS, 3, 22,
                     "missing port");
    expect_one_error("cluster:\n  enabled: true\n  advertise_address: 0.0.0.0:4100\n" PEERS, 3, 22,
                     "reach");
    expect_one_error("cluster:\n  enabled: true\n  advertise_address: ':4100'\n" PEERS, 3, 22,
                     "reach");
    expect_one_error("cluster:\n  enabled: true\n  advertise_address: h:99999\n" PEERS, 3, 22,
                     "invalid port");
    expect_one_error("cluster:\n  enabled: true\n  health_check_interval: 0s\n" PEERS, 3, 26,
                     "greater than 0");
    expect_one_error("cluster:\n  enabled: true\n  health_check_interval: often\n" PEERS, 3, 26,
                     "");
    expect_one_error("cluster:\n  enabled: true\n", 2, 3, "at least one discovery config");
    expect_one_error("cluster:\n  enabled: true\n  peers: {}\n", 3, 10,
                     "at least one discovery config");
    expect_one_error(
        "cluster:\n  enabled: true\n  peers:\n    static_configs: [{targets: ['a:1']}]\n"
        "    scrape_interval: 1s\n",
        5, 5, "scrape_interval");
    expect_one_error(
        "cluster:\n  enabled: true\n  peers:\n    static_configs: [{targets: ['a:1']}]\n"
        "    relabel_configs:\n      - action: nope\n",
        6, 17, "nope");
    expect_one_error("cluster:\n  enabled: true\n  peers:\n    file_sd_configs: [{}]\n", 4, 23,
                     "path name");
    expect_one_error("cluster: [1]\n", 1, 10, "must be a mapping");
}

#define PEERS_SD "cluster:\n  enabled: true\n  peers:\n    static_configs: [{targets: ['a:1']}]\n"

/* the probes' client options: each mistake once, at its position */
static void test_client_errors(void **state)
{
    (void)state;
    expect_one_error(PEERS_SD "    scheme: ftp\n", 5, 13, "unknown scheme ftp");
    expect_one_error(PEERS_SD "    scheme: HTTPS\n", 5, 13, "unknown scheme HTTPS");
    expect_one_error(PEERS_SD
                     "    basic_auth: {username: u, password: p, password_file: /dev/null}\n",
                     5, 59, "at most one of basic_auth password & password_file");
    expect_one_error(PEERS_SD "    basic_auth: {username: u, passwd: p}\n", 5, 31, "passwd");
    expect_one_error(PEERS_SD "    basic_auth: {username: u, password_file: /nonexistent/pw}\n", 5,
                     46, "unable to read file /nonexistent/pw");
    expect_one_error(PEERS_SD "    basic_auth: {username: u, password: p}\n"
                              "    authorization: {credentials: t}\n",
                     6, 20, "at most one of basic_auth, oauth2 & authorization");
    expect_one_error(PEERS_SD "    authorization: {type: Basic, credentials: t}\n", 5, 20,
                     "use \"basic_auth\" instead");
    expect_one_error(PEERS_SD "    tls_config: {cert_file: c.crt}\n", 5, 17,
                     "exactly one of key or key_file must be configured");
    expect_one_error(PEERS_SD "    tls_config: {ca_path: x}\n", 5, 18, "ca_path");
    expect_one_error(PEERS_SD "    tls_config: {insecure_skip_verify: maybe}\n", 5, 40,
                     "insecure_skip_verify");
    expect_one_error(PEERS_SD "    headers: {X-A: b}\n", 5, 5, "headers");
    /* directly under cluster: the client keys belong under peers */
    expect_one_error("cluster:\n  enabled: true\n  scheme: https\n" PEERS, 3, 3, "scheme");
}

static void test_check_address(void **state)
{
    (void)state;
    char err[256];
    assert_int_equal(pg_cfg_cluster_check_address("127.0.0.1:4100", err, sizeof err), 0);
    assert_int_equal(pg_cfg_cluster_check_address("[::1]:4100", err, sizeof err), 0);
    assert_int_equal(pg_cfg_cluster_check_address("profgate-0.profgate:4100", err, sizeof err), 0);
    assert_int_equal(pg_cfg_cluster_check_address(":4100", err, sizeof err), -1);
    assert_int_equal(pg_cfg_cluster_check_address("[::]:4100", err, sizeof err), -1);
    assert_int_equal(pg_cfg_cluster_check_address("::1:4100", err, sizeof err), -1);
    assert_non_null(strstr(err, "brackets"));
    assert_int_equal(pg_cfg_cluster_check_address("host:0", err, sizeof err), -1);
    assert_int_equal(pg_cfg_cluster_check_address("host:4100x", err, sizeof err), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_absent_is_disabled),
        cmocka_unit_test(test_full),
        cmocka_unit_test(test_disabled_block_still_validated),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_peers_client),
        cmocka_unit_test(test_client_errors),
        cmocka_unit_test(test_check_address),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
