/* test_config_load.c - defaults, secrets, env expansion and structure of pg_cfg_load. */
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
#include "discovery/file_sd.h"
#include "discovery/kubernetes/sd_config.h"
#include "discovery/sd.h"
#include "discovery/static.h"
#include "testutil.h"

static struct pg_cfg *load_text(const char *text, struct pg_cfg_errors *errs)
{
    char path[64];
    pg_test_write_temp(text, path);
    struct pg_cfg *c = pg_cfg_load(path, errs);
    unlink(path);
    return c;
}

static void test_defaults(void **state)
{
    (void)state;
    struct pg_cfg_errors errs;
    pg_cfg_errors_init(&errs);
    struct pg_cfg *c = load_text("scrape_configs:\n"
                                 "  - job_name: a\n"
                                 "  - job_name: b\n"
                                 "    scrape_interval: 5s\n"
                                 "  - job_name: c\n"
                                 "    scrape_interval: 1m\n"
                                 "    delta_profiling_duration: 30s\n",
                                 &errs);
    pg_cfg_errors_print(&errs, stderr);
    assert_non_null(c);
    assert_int_equal(c->scrape_interval_ms, 15000);
    assert_int_equal(c->scrape_timeout_ms, 10000);
    assert_int_equal(c->n_scrape, 3);
    assert_int_equal(c->scrape[0].scrape_interval_ms, 15000);
    assert_int_equal(c->scrape[0].scrape_timeout_ms, 10000);
    assert_int_equal(c->scrape[0].delta_profiling_duration_ms, 14000);
    assert_int_equal(c->scrape[1].scrape_timeout_ms, 5000); /* min(global timeout, interval) */
    assert_int_equal(c->scrape[1].delta_profiling_duration_ms, 4000);
    assert_int_equal(c->scrape[2].delta_profiling_duration_ms, 30000);
    assert_string_equal(c->scrape[0].scheme, "http");
    assert_true(c->scrape[0].body_size_limit == 64ull << 20);
    assert_true(pg_cfg_profile_find(&c->scrape[0], "process_cpu")->enabled);
    assert_true(pg_cfg_profile_find(&c->scrape[0], "process_cpu")->seconds);
    assert_true(pg_cfg_profile_find(&c->scrape[0], "memory")->delta);
    assert_false(pg_cfg_profile_find(&c->scrape[0], "fgprof")->enabled);
    assert_string_equal(pg_cfg_profile_find(&c->scrape[0], "godeltaprof_memory")->sent_name,
                        "memory");
    assert_string_equal(c->storage_path, "./data");
    assert_true(c->storage_max_size == 1ull << 30);
    pg_cfg_free(c);
    pg_cfg_errors_reset(&errs);
}

static void test_full(void **state)
{
    (void)state;
    FILE *f = fopen("/tmp/pg_cfg_test_secret", "w");
    fputs("s3cr3t\n", f);
    fclose(f);
    setenv("PG_TEST_CLUSTER", "eu-1", 1);
    struct pg_cfg_errors errs;
    pg_cfg_errors_init(&errs);
    struct pg_cfg *c =
        load_text("global:\n"
                  "  scrape_interval: 30s\n"
                  "  external_labels: {cluster: \"${PG_TEST_CLUSTER}\"}\n"
                  "scrape_configs:\n"
                  "  - job_name: go\n"
                  "    scheme: https\n"
                  "    params: {debug: ['1'], x: y}\n"
                  "    basic_auth: {username: u, password_file: /tmp/pg_cfg_test_secret}\n"
                  "    profiling_config:\n"
                  "      path_prefix: /app\n"
                  "      mutex: {enabled: false}\n"
                  "      custom: [{name: my_profile, path: /debug/custom, delta: true}]\n"
                  "    static_configs: [{targets: ['h:1', 'h:2'], labels: {service_name: api}}]\n"
                  "    file_sd_configs: [{files: [a/*.json], refresh_interval: 1m}]\n"
                  "    relabel_configs:\n"
                  "      - source_labels: [__address__]\n"
                  "        target_label: host\n"
                  "storage: {path: /tmp/x, max_size: 512MiB, max_age: 1h}\n"
                  "remote_write:\n"
                  "  - url: http://localhost:4040\n"
                  "    api: ingest\n"
                  "    headers: {X-Scope-OrgID: team-a}\n"
                  "    authorization: {credentials_file: /tmp/pg_cfg_test_secret}\n"
                  "receiver: {enabled: true}\n",
                  &errs);
    pg_cfg_errors_print(&errs, stderr);
    assert_non_null(c);
    assert_string_equal(pg_labels_get(&c->external_labels, "cluster"), "eu-1");
    const struct pg_cfg_scrape *s = &c->scrape[0];
    assert_int_equal(s->scrape_timeout_ms, 10000);
    assert_string_equal(s->scheme, "https");
    assert_int_equal(s->n_params, 2);
    assert_string_equal(s->params[0].name, "debug");
    assert_string_equal(s->params[0].values[0], "1");
    assert_string_equal(s->http.basic_auth_password, "s3cr3t");
    assert_string_equal(s->path_prefix, "/app");
    assert_false(pg_cfg_profile_find(s, "mutex")->enabled);
    assert_true(pg_cfg_profile_find(s, "my_profile")->delta);
    assert_string_equal(pg_cfg_profile_find(s, "my_profile")->path, "/debug/custom");
    const struct pg_cfg_static_sd *st = pg_cfg_sd_get(s, &pg_sd_static, 0);
    assert_non_null(st);
    assert_int_equal(st->n_groups, 1);
    assert_int_equal(st->groups[0].n_targets, 2);
    assert_string_equal(pg_labels_get(&st->groups[0].labels, "service_name"), "api");
    const struct pg_cfg_file_sd *fsd = pg_cfg_sd_get(s, &pg_sd_file, 0);
    assert_non_null(fsd);
    assert_int_equal(fsd->refresh_interval_ms, 60000);
    assert_int_equal(s->n_relabel, 1);
    assert_true(c->storage_max_size == 512ull << 20);
    assert_int_equal(c->storage_max_age_ms, 3600000);
    assert_int_equal(c->remote[0].api, PG_CFG_API_INGEST);
    assert_string_equal(c->remote[0].name, "remote-0");
    assert_string_equal(c->remote[0].http.auth_type, "Bearer");
    assert_string_equal(c->remote[0].http.auth_credentials, "s3cr3t");
    assert_string_equal(pg_labels_get(&c->remote[0].http.headers, "X-Scope-OrgID"), "team-a");
    assert_int_equal(c->remote[0].remote_timeout_ms, 10000);
    assert_int_equal(c->remote[0].min_backoff_ms, 500);
    assert_int_equal(c->remote[0].max_backoff_ms, 300000);
    assert_true(c->receiver_enabled);
    pg_cfg_free(c);
    pg_cfg_errors_reset(&errs);
    unlink("/tmp/pg_cfg_test_secret");
}

static void test_errors_free_everything(void **state)
{
    (void)state;
    struct pg_cfg_errors errs;
    pg_cfg_errors_init(&errs);
    struct pg_cfg *c = load_text("scrape_configs:\n  - job_name: a\n    static_configs: [{targets: "
                                 "[x:1]}]\n    scrape_timeout: 1h\n",
                                 &errs);
    assert_null(c);
    assert_int_equal(errs.n, 1);
    assert_int_equal(errs.v[0].line, 4);
    pg_cfg_errors_reset(&errs);
}

/* Loads text, which must fail with exactly one error containing want at line:col. */
static void expect_one_error(const char *text, int line, int col, const char *want)
{
    struct pg_cfg_errors errs;
    pg_cfg_errors_init(&errs);
    struct pg_cfg *c = load_text(text, &errs);
    if (errs.n != 1 || !strstr(errs.v[0].msg, want))
        pg_cfg_errors_print(&errs, stderr);
    assert_null(c);
    assert_int_equal(errs.n, 1);
    assert_non_null(strstr(errs.v[0].msg, want));
    assert_int_equal(errs.v[0].line, line);
    assert_int_equal(errs.v[0].col, col);
    pg_cfg_errors_reset(&errs);
}

/* Relative paths are the config file's directory's (Prometheus's SetDirectory): file_sd
 * patterns, TLS files, kubeconfig_file, *_file secrets and the receiver's tokens file;
 * absolute ones are kept. */
static void test_relative_paths(void **state)
{
    (void)state;
    char dir[] = "/tmp/pg_relpath_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[128], pw[128], tok[128];
    snprintf(pw, sizeof pw, "%s/pw", dir);
    snprintf(tok, sizeof tok, "%s/tokens", dir);
    FILE *f = fopen(pw, "w");
    fputs("s3cret\n", f);
    fclose(f);
    f = fopen(tok, "w");
    fputs("t1\n", f);
    fclose(f);
    snprintf(path, sizeof path, "%s/p.yml", dir);
    f = fopen(path, "w");
    fputs("scrape_configs:\n"
          "  - job_name: a\n"
          "    basic_auth: {username: u, password_file: pw}\n"
          "    tls_config: {ca_file: certs/ca.pem, cert_file: /etc/c.pem, key_file: k.pem}\n"
          "    file_sd_configs: [{files: [sd/*.json, /abs/t.yml]}]\n"
          "    kubernetes_sd_configs: [{role: pod, kubeconfig_file: kube/config}]\n"
          "receiver:\n"
          "  bearer_tokens_file: tokens\n",
          f);
    fclose(f);
    struct pg_cfg_errors errs;
    pg_cfg_errors_init(&errs);
    struct pg_cfg *c = pg_cfg_load(path, &errs);
    pg_cfg_errors_print(&errs, stderr);
    assert_non_null(c);
    char want[160];
    const struct pg_cfg_scrape *s = &c->scrape[0];
    assert_string_equal(s->http.basic_auth_password, "s3cret");
    snprintf(want, sizeof want, "%s/certs/ca.pem", dir);
    assert_string_equal(s->http.tls.ca_file, want);
    assert_string_equal(s->http.tls.cert_file, "/etc/c.pem");
    snprintf(want, sizeof want, "%s/k.pem", dir);
    assert_string_equal(s->http.tls.key_file, want);
    const struct pg_cfg_file_sd *fs = pg_cfg_sd_get(s, &pg_sd_file, 0);
    snprintf(want, sizeof want, "%s/sd/*.json", dir);
    assert_string_equal(fs->files[0], want);
    assert_string_equal(fs->files[1], "/abs/t.yml");
    const struct pg_cfg_kube_sd *ks = pg_cfg_sd_get(s, &pg_sd_kubernetes, 0);
    snprintf(want, sizeof want, "%s/kube/config", dir);
    assert_string_equal(ks->kubeconfig_file, want);
    assert_string_equal(c->receiver_bearer_tokens_file, tok);
    assert_int_equal(c->n_receiver_bearer_tokens, 1);
    pg_cfg_free(c);
    pg_cfg_errors_reset(&errs);
    unlink(pw);
    unlink(tok);
    unlink(path);
    rmdir(dir);
}

static void test_processing(void **state)
{
    (void)state;
    struct pg_cfg_errors errs;
    pg_cfg_errors_init(&errs);
    struct pg_cfg *c = load_text("scrape_configs: []\n", &errs);
    assert_non_null(c);
    assert_int_equal(c->processing_workers, 0); /* one per CPU */
    assert_int_equal(c->processing_queue_size, 64);
    pg_cfg_free(c);
    c = load_text("processing: {workers: 3, queue_size: 10}\n", &errs);
    pg_cfg_errors_print(&errs, stderr);
    assert_non_null(c);
    assert_int_equal(c->processing_workers, 3);
    assert_int_equal(c->processing_queue_size, 10);
    pg_cfg_free(c);
    pg_cfg_errors_reset(&errs);
    expect_one_error("processing:\n  workers: 2\n  threads: 4\n", 3, 3,
                     "field threads not found in type config.ProcessingConfig");
    expect_one_error("processing:\n  queue_size: 0\n", 2, 15,
                     "processing.queue_size must be between 1 and 1000000");
    expect_one_error("processing:\n  workers: 257\n", 2, 12, "processing.workers must be at most");
    expect_one_error("processing:\n  workers: -1\n", 2, 12, "workers");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_full),
        cmocka_unit_test(test_errors_free_everything),
        cmocka_unit_test(test_processing),
        cmocka_unit_test(test_relative_paths),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
