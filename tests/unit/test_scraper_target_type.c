/* test_scraper_target_type.c - unit tests for scraper/target_type: which relabel rules see
 * the profile type, the split of a job's rules, and relabeling per target x type (drop a
 * type for one target, keep a type on an annotation, change one type's port and path,
 * the rule that dropped, errors). Jobs are loaded from YAML with pg_cfg_load. */
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
#include "core/labels.h"
#include "scraper/target.h"
#include "scraper/target_type.h"
#include "testcfg.h"

static const struct pg_cfg_profile *profile(const struct pg_cfg_scrape *s, const char *name)
{
    for (size_t i = 0; i < s->n_profiles; i++)
        if (!strcmp(s->profiles[i].name, name))
            return &s->profiles[i];
    return NULL;
}

static void test_rule_per_type(void **state)
{
    (void)state;
    struct pg_cfg *c =
        pg_test_load_cfg("scrape_configs:\n"
                         "  - job_name: a\n"
                         "    relabel_configs:\n"
                         /* 0: keep on a plain label: per target */
                         "      - {source_labels: [env], regex: prod, action: keep}\n"
                         /* 1: labelmap of __meta_ labels: per target */
                         "      - {action: labelmap, regex: __meta_k_(.+)}\n"
                         /* 2: labeldrop of tmp_.*: per target */
                         "      - {action: labeldrop, regex: tmp_.*}\n"
                         /* 3: reads __name__ */
                         "      - {source_labels: [__name__], regex: block, action: drop}\n"
                         /* 4: writes __profile_path__ */
                         "      - {target_label: __profile_path__, replacement: /x}\n"
                         /* 5: labelkeep that would remove __name__ */
                         "      - {action: labelkeep, regex: job|__address__}\n"
                         /* 6: labelkeep keeping all three */
                         "      - {action: labelkeep, regex: '__.*|job'}\n"
                         /* 7: labeldrop matching __profile_path_prefix__ */
                         "      - {action: labeldrop, regex: __profile_.*}\n"
                         /* 8: a templated target label */
                         "      - {source_labels: [a], regex: '(.*)', target_label: "
                         "'${1}', replacement: x}\n"
                         /* 9: labelmap with its own replacement */
                         "      - {action: labelmap, regex: 'x_(.+)', replacement: "
                         "'__${1}__'}\n"
                         /* 10: labelmap to a fixed name */
                         "      - {action: labelmap, regex: __meta_pod, replacement: "
                         "pod}\n");
    const struct pg_cfg_scrape *j = &c->scrape[0];
    assert_int_equal(j->n_relabel, 11);
    int want[] = {0, 0, 0, 1, 1, 1, 0, 1, 1, 1, 0};
    for (size_t i = 0; i < 11; i++)
        assert_int_equal(pg_target_rule_per_type(&j->relabel[i]), want[i]);
    assert_int_equal(pg_target_type_split(j), 3);
    pg_cfg_free(c);
}

/* Populates target (address, labels k=v...) of job for type; returns rc, final labels in
 * fin, the dropping rule in *rule. */
static int typed(const struct pg_cfg_scrape *job, const struct pg_labels *t, const char *type,
                 struct pg_labels *fin, size_t *rule, char *err)
{
    struct pg_labels disc, common;
    pg_labels_init(&disc);
    pg_labels_init(&common);
    size_t split = pg_target_type_split(job);
    int rc =
        pg_target_populate_common(job, NULL, t, &disc, &common, split, NULL, NULL, rule, err, 256);
    if (rc > 0 && split < job->n_relabel)
        rc = pg_target_populate_type(job, &common, split, profile(job, type), fin, NULL, NULL, rule,
                                     err, 256);
    else if (rc > 0)
        pg_labels_copy(fin, &common);
    pg_labels_reset(&disc);
    pg_labels_reset(&common);
    return rc;
}

static const char *alloy_job =
    "scrape_configs:\n"
    "  - job_name: app\n"
    "    profiling_config:\n"
    "      path_prefix: /pre\n"
    "    relabel_configs:\n"
    "      - {source_labels: [env], regex: dev, action: drop}\n"
    /* 1: block and mutex dropped where quiet=true */
    "      - source_labels: [quiet, __name__]\n"
    "        regex: 'true;(block|mutex)'\n"
    "        action: drop\n"
    /* 2: goroutine only where the annotation asks for it */
    "      - source_labels: [__name__, __meta_kubernetes_pod_annotation_profiles_grafana_com_"
    "goroutine_scrape]\n"
    "        regex: 'goroutine;(|false)'\n"
    "        action: drop\n"
    /* 3: memory on another port and path */
    "      - source_labels: [__name__, __address__]\n"
    "        regex: 'memory;([^:]+):\\d+'\n"
    "        target_label: __address__\n"
    "        replacement: '${1}:7070'\n"
    "      - source_labels: [__name__]\n"
    "        regex: memory\n"
    "        target_label: __profile_path__\n"
    "        replacement: /heap\n"
    /* 5: a label from the type */
    "      - source_labels: [__name__]\n"
    "        target_label: ptype\n";

static void test_populate_per_type(void **state)
{
    (void)state;
    struct pg_cfg *c = pg_test_load_cfg(alloy_job);
    const struct pg_cfg_scrape *job = &c->scrape[0];
    assert_int_equal(pg_target_type_split(job), 1);
    struct pg_labels t, fin, sl;
    pg_labels_init(&t);
    pg_labels_init(&fin);
    pg_labels_init(&sl);
    char err[256] = "";
    size_t rule = 99;
    char *url = NULL;

    pg_labels_set(&t, "__address__", "h:6060");
    pg_labels_set(&t, "quiet", "true");
    /* block is dropped by rule 1 on this target */
    assert_int_equal(typed(job, &t, "block", &fin, &rule, err), 0);
    assert_int_equal(rule, 1);
    assert_int_equal(fin.n, 0);
    assert_int_equal(typed(job, &t, "mutex", &fin, &rule, err), 0);
    assert_int_equal(rule, 1);
    /* goroutine has no annotation: dropped by rule 2 */
    assert_int_equal(typed(job, &t, "goroutine", &fin, &rule, err), 0);
    assert_int_equal(rule, 2);
    /* process_cpu stays, with the type label and the default path */
    assert_int_equal(typed(job, &t, "process_cpu", &fin, &rule, err), 1);
    assert_int_equal(rule, PG_TARGET_NO_RULE);
    assert_string_equal(pg_labels_get(&fin, "ptype"), "process_cpu");
    assert_string_equal(pg_labels_get(&fin, "instance"), "h:6060");
    assert_int_equal(pg_target_profile(job, &fin, NULL, profile(job, "process_cpu"), &sl, &url), 0);
    assert_string_equal(url, "http://h:6060/pre/debug/pprof/profile?seconds=14");
    assert_string_equal(pg_labels_get(&sl, "__name__"), "process_cpu");
    free(url);
    /* memory moves to port 7070 and /pre/heap */
    assert_int_equal(typed(job, &t, "memory", &fin, &rule, err), 1);
    assert_int_equal(pg_target_profile(job, &fin, NULL, profile(job, "memory"), &sl, &url), 0);
    assert_string_equal(url, "http://h:7070/pre/heap");
    assert_string_equal(pg_labels_get(&sl, "ptype"), "memory");
    free(url);

    /* another target: block kept, goroutine kept on the annotation */
    pg_labels_set(&t, "quiet", "false");
    pg_labels_set(&t, "__meta_kubernetes_pod_annotation_profiles_grafana_com_goroutine_scrape",
                  "true");
    assert_int_equal(typed(job, &t, "block", &fin, &rule, err), 1);
    assert_int_equal(typed(job, &t, "goroutine", &fin, &rule, err), 1);
    assert_null(pg_labels_get(&fin, "__meta_kubernetes_pod_annotation_profiles_grafana_com_"
                                    "goroutine_scrape"));

    /* the per-target rule drops the whole target once */
    pg_labels_set(&t, "env", "dev");
    assert_int_equal(typed(job, &t, "block", &fin, &rule, err), 0);
    assert_int_equal(rule, 0);

    /* a discovered __name__ never leaks into the type's */
    pg_labels_set(&t, "env", "prod");
    pg_labels_set(&t, "__name__", "whatever");
    assert_int_equal(typed(job, &t, "block", &fin, &rule, err), 1);
    assert_string_equal(pg_labels_get(&fin, "ptype"), "block");

    /* an address removed per type is an error for that type */
    pg_labels_del(&t, "__address__");
    assert_int_equal(typed(job, &t, "block", &fin, &rule, err), -1);
    assert_string_equal(err, "no address");
    assert_int_equal(rule, PG_TARGET_NO_RULE);

    pg_labels_reset(&t);
    pg_labels_reset(&fin);
    pg_labels_reset(&sl);
    pg_cfg_free(c);
}

/* A job whose rules never look at the type runs them once and ends up as before. */
static void test_fast_path(void **state)
{
    (void)state;
    struct pg_cfg *c = pg_test_load_cfg("scrape_configs:\n"
                                        "  - job_name: app\n"
                                        "    relabel_configs:\n"
                                        "      - {source_labels: [__meta_pod], target_label: pod}\n"
                                        "      - {source_labels: [__meta_port], regex: '(.+)', "
                                        "target_label: __address__, replacement: 'h:$1'}\n");
    const struct pg_cfg_scrape *job = &c->scrape[0];
    assert_int_equal(pg_target_type_split(job), job->n_relabel);
    struct pg_labels t, disc, a, b;
    pg_labels_init(&t);
    pg_labels_init(&disc);
    pg_labels_init(&a);
    pg_labels_init(&b);
    pg_labels_set(&t, "__address__", "h:6060");
    pg_labels_set(&t, "__meta_pod", "p1");
    pg_labels_set(&t, "__meta_port", "7000");
    char err[256];
    size_t rule;
    assert_int_equal(pg_target_populate_common(job, NULL, &t, &disc, &a, job->n_relabel, NULL, NULL,
                                               &rule, err, sizeof err),
                     1);
    assert_int_equal(pg_target_populate(job, NULL, &t, &disc, &b, NULL, NULL, err, sizeof err), 1);
    assert_true(pg_labels_equal(&a, &b));
    assert_string_equal(pg_labels_get(&a, "__address__"), "h:7000");
    assert_string_equal(pg_labels_get(&a, "pod"), "p1");
    pg_labels_reset(&t);
    pg_labels_reset(&disc);
    pg_labels_reset(&a);
    pg_labels_reset(&b);
    pg_cfg_free(c);
}

/* The legacy Pyroscope dialect: __name__ is the application name, never the type. */
static void test_legacy_app_name(void **state)
{
    (void)state;
    struct pg_cfg *c = pg_test_load_cfg("scrape-configs:\n"
                                        "  - job-name: legacy\n"
                                        "    enabled-profiles: [cpu, mem]\n"
                                        "    static-configs:\n"
                                        "      - targets: ['h:6060']\n"
                                        "    relabel-configs:\n"
                                        "      - {source-labels: [app], target-label: __name__}\n");
    const struct pg_cfg_scrape *job = &c->scrape[0];
    assert_true(job->legacy_app_name);
    assert_int_equal(pg_target_type_split(job), job->n_relabel);
    struct pg_labels t, fin, sl;
    pg_labels_init(&t);
    pg_labels_init(&fin);
    pg_labels_init(&sl);
    pg_labels_set(&t, "__address__", "h:6060");
    pg_labels_set(&t, "app", "shop");
    char err[256];
    size_t rule;
    assert_int_equal(typed(job, &t, "memory", &fin, &rule, err), 1);
    assert_null(pg_labels_get(&fin, "__name__"));
    assert_string_equal(pg_labels_get(&fin, "service_name"), "shop");
    char *url = NULL;
    assert_int_equal(pg_target_profile(job, &fin, NULL, profile(job, "memory"), &sl, &url), 0);
    assert_string_equal(pg_labels_get(&sl, "__name__"), "memory");
    free(url);
    pg_labels_reset(&t);
    pg_labels_reset(&fin);
    pg_labels_reset(&sl);
    pg_cfg_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_legacy_app_name),
        cmocka_unit_test(test_rule_per_type),
        cmocka_unit_test(test_populate_per_type),
        cmocka_unit_test(test_fast_path),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
