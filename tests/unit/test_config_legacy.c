/* test_config_legacy.c - the legacy Pyroscope server pull-mode dialect (config/legacy.c). */
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
#include "discovery/sd.h"
#include "discovery/file_sd.h"
#include "discovery/kubernetes/sd_config.h"
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

/* 1 if some error is at line:col and contains text. */
static int has_error(const struct pg_cfg_errors *errs, int line, int col, const char *text)
{
    for (size_t i = 0; i < errs->n; i++)
        if (errs->v[i].line == line && errs->v[i].col == col && strstr(errs->v[i].msg, text))
            return 1;
    return 0;
}

static const char doc_config[] = "---\n"
                                 "log-level: debug\n"
                                 "scrape-configs:\n"
                                 "  - job-name: pyroscope\n"
                                 "    scrape-interval: 10s\n"
                                 "    enabled-profiles: [cpu, mem]\n"
                                 "    static-configs:\n"
                                 "      - application: rideshare\n"
                                 "        spy-name: gospy\n"
                                 "        targets:\n"
                                 "          - hostname:6060\n"
                                 "        labels:\n"
                                 "          env: dev\n";

static void test_doc_config(void **state)
{
    (void)state;
    struct pg_cfg_errors errs;
    pg_cfg_errors_init(&errs);
    struct pg_cfg *c = load_text(doc_config, &errs);
    pg_cfg_errors_print(&errs, stderr);
    assert_non_null(c);
    assert_int_equal(errs.n, 0);
    assert_int_equal(c->n_scrape, 1);
    const struct pg_cfg_scrape *s = &c->scrape[0];
    assert_string_equal(s->job_name, "pyroscope");
    assert_int_equal(s->line, 4);
    assert_int_equal(s->scrape_interval_ms, 10000);
    assert_int_equal(s->scrape_timeout_ms, 10000);
    assert_int_equal(s->delta_profiling_duration_ms, 9000);
    assert_string_equal(s->scheme, "http");
    assert_string_equal(s->path_prefix, "");
    const struct pg_cfg_static_sd *st = pg_cfg_sd_get(s, &pg_sd_static, 0);
    assert_non_null(st);
    assert_int_equal(st->n_groups, 1);
    assert_int_equal(st->groups[0].n_targets, 1);
    assert_string_equal(st->groups[0].targets[0], "hostname:6060");
    assert_string_equal(pg_labels_get(&st->groups[0].labels, "service_name"), "rideshare");
    assert_string_equal(pg_labels_get(&st->groups[0].labels, "env"), "dev");
    assert_null(pg_labels_get(&st->groups[0].labels, "spy_name"));
    assert_int_equal(s->n_profiles, 9);
    for (size_t i = 0; i < s->n_profiles; i++) {
        int want =
            !strcmp(s->profiles[i].name, "process_cpu") || !strcmp(s->profiles[i].name, "memory");
        assert_int_equal(s->profiles[i].enabled, want);
    }
    assert_int_equal(pg_cfg_profile_find(s, "memory")->delta, 1);
    assert_string_equal(pg_cfg_profile_find(s, "process_cpu")->path, "/debug/pprof/profile");
    pg_cfg_free(c);
    pg_cfg_errors_reset(&errs);
}

static void test_profiles_and_defaults(void **state)
{
    (void)state;
    struct pg_cfg_errors errs;
    pg_cfg_errors_init(&errs);
    struct pg_cfg *c = load_text("scrape-configs:\n"
                                 "  - job-name: a\n"
                                 "  - job-name: b\n"
                                 "    scheme: https\n"
                                 "    scrape-interval: 5s\n"
                                 "    scrape-timeout: 2s\n"
                                 "    enabled-profiles: [goroutines, mutex, block]\n",
                                 &errs);
    pg_cfg_errors_print(&errs, stderr);
    assert_non_null(c);
    assert_int_equal(c->n_scrape, 2);
    const struct pg_cfg_scrape *a = &c->scrape[0], *b = &c->scrape[1];
    assert_int_equal(a->scrape_interval_ms, 15000);
    assert_int_equal(a->scrape_timeout_ms, 10000);
    assert_true(pg_cfg_profile_find(a, "process_cpu")->enabled);
    assert_true(pg_cfg_profile_find(a, "memory")->enabled);
    assert_false(pg_cfg_profile_find(a, "goroutine")->enabled);
    assert_false(pg_cfg_profile_find(a, "block")->enabled);
    assert_string_equal(b->scheme, "https");
    assert_int_equal(b->scrape_interval_ms, 5000);
    assert_int_equal(b->scrape_timeout_ms, 2000);
    assert_false(pg_cfg_profile_find(b, "process_cpu")->enabled);
    assert_false(pg_cfg_profile_find(b, "memory")->enabled);
    assert_true(pg_cfg_profile_find(b, "goroutine")->enabled);
    assert_true(pg_cfg_profile_find(b, "mutex")->enabled);
    assert_true(pg_cfg_profile_find(b, "block")->enabled);
    assert_false(pg_cfg_profile_find(b, "fgprof")->enabled);
    pg_cfg_free(c);
    pg_cfg_errors_reset(&errs);
}

static void test_unknown_key(void **state)
{
    (void)state;
    struct pg_cfg_errors errs;
    pg_cfg_errors_init(&errs);
    struct pg_cfg *c = load_text("scrape-configs:\n"
                                 "  - job-name: a\n"
                                 "    bogus-key: 1\n"
                                 "    enabled-profiles: [cpu, heap]\n"
                                 "    static-configs:\n"
                                 "      - targets: [x:1]\n"
                                 "        nope: 2\n",
                                 &errs);
    pg_cfg_errors_print(&errs, stderr);
    assert_null(c);
    assert_true(has_error(&errs, 3, 5, "field bogus-key not found in type legacy.ScrapeConfig"));
    assert_true(has_error(&errs, 4, 29, "unknown profile type \"heap\""));
    assert_true(has_error(&errs, 7, 9, "field nope not found in type legacy.StaticConfig"));
    assert_true(strstr(errs.v[0].file, "/tmp/pg_test_") != NULL);
    pg_cfg_errors_reset(&errs);

    c = load_text("log-level: info\n"
                  "storage-path: /x\n"
                  "scrape-configs: []\n",
                  &errs);
    assert_null(c);
    assert_true(has_error(&errs, 2, 1, "field storage-path not found in type legacy.Config"));
    pg_cfg_errors_reset(&errs);
}

static void test_mixed_dialects(void **state)
{
    (void)state;
    struct pg_cfg_errors errs;
    pg_cfg_errors_init(&errs);
    struct pg_cfg *c = load_text("scrape_configs:\n"
                                 "  - job_name: a\n"
                                 "scrape-configs:\n"
                                 "  - job-name: b\n",
                                 &errs);
    pg_cfg_errors_print(&errs, stderr);
    assert_null(c);
    assert_true(has_error(&errs, 2, 3, "cannot be mixed"));
    pg_cfg_errors_reset(&errs);

    /* a Prometheus-style file with a legacy job key is still the new dialect */
    c = load_text("scrape_configs:\n"
                  "  - job-name: a\n",
                  &errs);
    assert_null(c);
    assert_true(has_error(&errs, 2, 5, "field job-name not found in type config.ScrapeConfig"));
    pg_cfg_errors_reset(&errs);
}

/* relabel-configs, file-sd-configs, kubernetes-sd-configs (Pyroscope's dashed keys),
 * body-size-limit and per-profile path and params. */
static void test_extensions(void **state)
{
    (void)state;
    struct pg_cfg_errors errs;
    pg_cfg_errors_init(&errs);
    struct pg_cfg *c =
        load_text("scrape-configs:\n"
                  "  - job-name: pods\n"
                  "    enabled-profiles: [cpu, mutex]\n"
                  "    body-size-limit: 8MiB\n"
                  "    profiles:\n"
                  "      mutex: {path: /debug/pprof/delta_mutex, params: {seconds: ['5']}}\n"
                  "    file-sd-configs:\n"
                  "      - files: [sd/*.json]\n"
                  "        refresh-interval: 30s\n"
                  "    kubernetes-sd-configs:\n"
                  "      - role: pod\n"
                  "        kubeconfig-file: /k/config\n"
                  "        namespaces: {names: [default, prod]}\n"
                  "    relabel-configs:\n"
                  "      - source-labels: [__meta_app]\n"
                  "        target-label: __name__\n",
                  &errs);
    pg_cfg_errors_print(&errs, stderr);
    assert_non_null(c);
    const struct pg_cfg_scrape *s = &c->scrape[0];
    assert_true(s->body_size_limit == 8ull << 20);
    const struct pg_cfg_profile *m = pg_cfg_profile_find(s, "mutex");
    assert_string_equal(m->path, "/debug/pprof/delta_mutex");
    assert_int_equal(m->n_params, 1);
    assert_string_equal(m->params[0].name, "seconds");
    assert_string_equal(m->params[0].values[0], "5");
    const struct pg_cfg_file_sd *fs = pg_cfg_sd_get(s, &pg_sd_file, 0);
    assert_non_null(fs);
    assert_int_equal(fs->refresh_interval_ms, 30000);
    assert_true(strstr(fs->files[0], "/sd/*.json") != NULL); /* next to the config file */
    const struct pg_cfg_kube_sd *ks = pg_cfg_sd_get(s, &pg_sd_kubernetes, 0);
    assert_non_null(ks);
    assert_string_equal(ks->kubeconfig_file, "/k/config");
    assert_int_equal(ks->n_namespaces, 2);
    /* the rules, then __name__ (Pyroscope's application name) -> service_name */
    assert_int_equal(s->n_relabel, 2);
    struct pg_labels ls;
    pg_labels_init(&ls);
    pg_labels_set(&ls, "__address__", "a:1");
    pg_labels_set(&ls, "__meta_app", "checkout");
    assert_int_equal(pg_relabel_process(s->relabel, s->n_relabel, &ls, NULL, NULL), 1);
    assert_string_equal(pg_labels_get(&ls, "service_name"), "checkout");
    pg_labels_reset(&ls);
    pg_cfg_free(c);
    pg_cfg_errors_reset(&errs);

    c = load_text("scrape-configs:\n"
                  "  - job-name: a\n"
                  "    relabel-configs:\n"
                  "      - source-labels: [a]\n"
                  "        target-label: b\n"
                  "        action: uppercase\n"
                  "        replacement: x\n"
                  "    profiles:\n"
                  "      heap: {path: /x}\n"
                  "      cpu: {path: nope}\n"
                  "    file-sd-configs:\n"
                  "      - files: [t.txt]\n",
                  &errs);
    pg_cfg_errors_print(&errs, stderr);
    assert_null(c);
    assert_true(has_error(&errs, 7, 22, "'replacement' can not be set for uppercase action"));
    assert_true(has_error(&errs, 9, 7, "unknown profile type \"heap\""));
    assert_true(has_error(&errs, 10, 19, "path must start with /"));
    assert_true(has_error(&errs, 12, 9, "is not valid for file discovery"));
    pg_cfg_errors_reset(&errs);
}

static void test_duplicate_job(void **state)
{
    (void)state;
    struct pg_cfg_errors errs;
    pg_cfg_errors_init(&errs);
    struct pg_cfg *c = load_text("scrape-configs:\n"
                                 "  - job-name: a\n"
                                 "  - job-name: a\n"
                                 "    scrape-interval: 5s\n"
                                 "    scrape-timeout: 6s\n",
                                 &errs);
    assert_null(c);
    assert_true(has_error(&errs, 3, 15, "found multiple scrape configs with job name \"a\""));
    assert_true(has_error(&errs, 5, 21, "scrape-timeout greater than scrape-interval"));
    pg_cfg_errors_reset(&errs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_doc_config),    cmocka_unit_test(test_profiles_and_defaults),
        cmocka_unit_test(test_unknown_key),   cmocka_unit_test(test_mixed_dialects),
        cmocka_unit_test(test_duplicate_job), cmocka_unit_test(test_extensions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
