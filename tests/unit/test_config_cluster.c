/* test_config_cluster.c - the cluster block of the config (config/cluster_cfg.c): defaults,
 * every field, peers from several discovery mechanisms with relabel_configs, and each
 * error with its file:line:col; the address check used for the default identity. */
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
        cmocka_unit_test(test_check_address),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
