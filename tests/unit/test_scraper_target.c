/* test_scraper_target.c - unit tests for scraper/target: Prometheus 3 target label
 * population (precedence, defaults, params, relabel drop, address checks, __meta_
 * removal, instance default), service_name inference and per-profile URLs/labels.
 * Jobs are loaded from YAML written to a temporary file with pg_cfg_load. */
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
#include "testcfg.h"

static const char *job_yaml = "scrape_configs:\n"
                              "  - job_name: app\n"
                              "    params: {debug: ['1', '2'], 'x y': ['a&b c']}\n"
                              "    profiling_config:\n"
                              "      path_prefix: /pre\n"
                              "    relabel_configs:\n"
                              "      - source_labels: [__meta_drop]\n"
                              "        regex: yes\n"
                              "        action: drop\n"
                              "      - source_labels: [__meta_pod]\n"
                              "        target_label: pod\n";

static const struct pg_cfg_profile *profile(const struct pg_cfg_scrape *s, const char *name)
{
    for (size_t i = 0; i < s->n_profiles; i++)
        if (!strcmp(s->profiles[i].name, name))
            return &s->profiles[i];
    return NULL;
}

/* Runs populate on group/target labels; returns rc, leaving results in disc/out (which
 * must be initialised; their old contents are replaced). */
static int populate(const struct pg_cfg_scrape *job, const struct pg_labels *g,
                    const struct pg_labels *t, struct pg_labels *disc, struct pg_labels *out,
                    char *err, size_t errlen)
{
    return pg_target_populate(job, g, t, disc, out, NULL, NULL, err, errlen);
}

static void test_populate_basic(void **state)
{
    (void)state;
    struct pg_cfg *c = pg_test_load_cfg(job_yaml);
    struct pg_labels g, t, disc, out;
    char err[128] = "";
    pg_labels_init(&g);
    pg_labels_init(&t);
    pg_labels_init(&disc);
    pg_labels_init(&out);
    pg_labels_set(&g, "env", "group");
    pg_labels_set(&g, "zone", "z1");
    pg_labels_set(&t, "env", "target");
    pg_labels_set(&t, "__address__", "h:6060");
    pg_labels_set(&t, "__meta_pod", "p1");
    pg_labels_set(&t, "__param_debug", "9");

    assert_int_equal(populate(&c->scrape[0], &g, &t, &disc, &out, err, sizeof err), 1);
    /* discovered: group overlaid by target */
    assert_string_equal(pg_labels_get(&disc, "env"), "target");
    assert_string_equal(pg_labels_get(&disc, "zone"), "z1");
    assert_string_equal(pg_labels_get(&disc, "__meta_pod"), "p1");
    assert_null(pg_labels_get(&disc, "job"));
    /* final */
    assert_string_equal(pg_labels_get(&out, "env"), "target");
    assert_string_equal(pg_labels_get(&out, "job"), "app");
    assert_string_equal(pg_labels_get(&out, "__scheme__"), "http");
    assert_string_equal(pg_labels_get(&out, "__scrape_interval__"), "15s");
    assert_string_equal(pg_labels_get(&out, "__scrape_timeout__"), "10s");
    assert_string_equal(pg_labels_get(&out, "__param_debug"), "9"); /* target's wins */
    assert_string_equal(pg_labels_get(&out, "__param_x y"), "a&b c");
    assert_string_equal(pg_labels_get(&out, "pod"), "p1");
    assert_null(pg_labels_get(&out, "__meta_pod"));
    assert_string_equal(pg_labels_get(&out, "instance"), "h:6060"); /* no port added */
    assert_string_equal(pg_labels_get(&out, "__address__"), "h:6060");
    assert_true(pg_target_is_public("env"));
    assert_false(pg_target_is_public("__address__"));

    /* explicit instance kept */
    pg_labels_set(&t, "instance", "mine");
    assert_int_equal(populate(&c->scrape[0], &g, &t, &disc, &out, err, sizeof err), 1);
    assert_string_equal(pg_labels_get(&out, "instance"), "mine");

    /* job param defaults: first value */
    pg_labels_del(&t, "__param_debug");
    assert_int_equal(populate(&c->scrape[0], &g, &t, &disc, &out, err, sizeof err), 1);
    assert_string_equal(pg_labels_get(&out, "__param_debug"), "1");

    /* relabel drop */
    pg_labels_set(&t, "__meta_drop", "yes");
    assert_int_equal(populate(&c->scrape[0], &g, &t, &disc, &out, err, sizeof err), 0);
    assert_int_equal(out.n, 0);
    pg_labels_del(&t, "__meta_drop");

    /* missing / empty / slash address */
    pg_labels_del(&t, "__address__");
    assert_int_equal(populate(&c->scrape[0], &g, &t, &disc, &out, err, sizeof err), -1);
    assert_string_equal(err, "no address");
    pg_labels_set(&t, "__address__", "");
    assert_int_equal(populate(&c->scrape[0], &g, &t, &disc, &out, err, sizeof err), -1);
    assert_string_equal(err, "no address");
    pg_labels_set(&t, "__address__", "h:1/x");
    assert_int_equal(populate(&c->scrape[0], &g, &t, &disc, &out, err, sizeof err), -1);
    assert_string_equal(err, "h:1/x is not a valid hostname");
    assert_int_equal(out.n, 0);

    pg_labels_reset(&g);
    pg_labels_reset(&t);
    pg_labels_reset(&disc);
    pg_labels_reset(&out);
    pg_cfg_free(c);
}

static void test_service_name(void **state)
{
    (void)state;
    struct pg_labels ls, d;
    pg_labels_init(&ls);
    pg_labels_init(&d);

    pg_target_infer_service_name(&ls, &d);
    assert_string_equal(pg_labels_get(&ls, "service_name"), "unspecified");

    pg_labels_reset(&ls);
    pg_labels_set(&d, "__meta_kubernetes_namespace", "ns");
    pg_target_infer_service_name(&ls, &d);
    assert_string_equal(pg_labels_get(&ls, "service_name"), "unspecified");
    pg_labels_reset(&ls);
    pg_labels_set(&d, "__meta_kubernetes_pod_container_name", "ct");
    pg_target_infer_service_name(&ls, &d);
    assert_string_equal(pg_labels_get(&ls, "service_name"), "ns/ct");

    pg_labels_reset(&ls);
    pg_labels_set(&d, "__meta_kubernetes_pod_annotation_pyroscope_io_service_name", "svc");
    pg_target_infer_service_name(&ls, &d);
    assert_string_equal(pg_labels_get(&ls, "service_name"), "svc");

    /* an existing service_name is kept */
    pg_labels_set(&ls, "service_name", "given");
    pg_target_infer_service_name(&ls, &d);
    assert_string_equal(pg_labels_get(&ls, "service_name"), "given");

    pg_labels_reset(&ls);
    pg_labels_reset(&d);
}

static void test_profile_url(void **state)
{
    (void)state;
    struct pg_cfg *c = pg_test_load_cfg(job_yaml);
    const struct pg_cfg_scrape *job = &c->scrape[0];
    struct pg_labels t, disc, out, sl;
    char err[128] = "";
    pg_labels_init(&t);
    pg_labels_init(&sl);
    pg_labels_init(&disc);
    pg_labels_init(&out);
    pg_labels_set(&t, "__address__", "h:6060");
    pg_labels_set(&t, "__meta_kubernetes_namespace", "ns");
    pg_labels_set(&t, "__meta_kubernetes_pod_container_name", "ct");
    assert_int_equal(populate(job, NULL, &t, &disc, &out, err, sizeof err), 1);

    char *url = NULL;
    const struct pg_cfg_profile *cpu = profile(job, "process_cpu");
    assert_non_null(cpu);
    assert_int_equal(pg_target_profile(job, &out, &disc, cpu, &sl, &url), 0);
    assert_string_equal(url,
                        "http://h:6060/pre/debug/pprof/profile?debug=1&seconds=14&x+y=a%26b+c");
    assert_string_equal(pg_labels_get(&sl, "__name__"), "process_cpu");
    assert_string_equal(pg_labels_get(&sl, "__profile_path__"), "/pre/debug/pprof/profile");
    assert_string_equal(pg_labels_get(&sl, "service_name"), "ns/ct");
    assert_string_equal(pg_labels_get(&sl, "job"), "app");
    free(url);

    /* an explicit seconds param wins */
    pg_labels_set(&out, "__param_seconds", "3");
    assert_int_equal(pg_target_profile(job, &out, &disc, cpu, &sl, &url), 0);
    assert_string_equal(url, "http://h:6060/pre/debug/pprof/profile?debug=1&seconds=3&x+y=a%26b+c");
    free(url);
    pg_labels_del(&out, "__param_seconds");

    const struct pg_cfg_profile *gm = profile(job, "godeltaprof_memory");
    assert_non_null(gm);
    assert_int_equal(pg_target_profile(job, &out, &disc, gm, &sl, &url), 0);
    assert_string_equal(pg_labels_get(&sl, "__name__"), "memory");
    assert_string_equal(url, "http://h:6060/pre/debug/pprof/delta_heap?debug=1&x+y=a%26b+c");
    free(url);

    /* __profile_path__ from relabeling replaces the type's path; the prefix stays (Alloy) */
    pg_labels_set(&out, "__profile_path__", "/custom/pprof/heap");
    assert_int_equal(pg_target_profile(job, &out, &disc, gm, &sl, &url), 0);
    assert_string_equal(url, "http://h:6060/pre/custom/pprof/heap?debug=1&x+y=a%26b+c");
    assert_string_equal(pg_labels_get(&sl, "__profile_path__"), "/pre/custom/pprof/heap");
    assert_string_equal(pg_labels_get(&sl, "__name__"), "memory");
    free(url);
    /* a relative one is joined with one slash, as url.JoinPath */
    pg_labels_set(&out, "__profile_path__", "relative");
    assert_int_equal(pg_target_profile(job, &out, &disc, gm, &sl, &url), 0);
    assert_string_equal(url, "http://h:6060/pre/relative?debug=1&x+y=a%26b+c");
    free(url);
    /* __profile_path_prefix__ replaces path_prefix; an empty one means path_prefix */
    pg_labels_set(&out, "__profile_path_prefix__", "/other/");
    assert_int_equal(pg_target_profile(job, &out, &disc, gm, &sl, &url), 0);
    assert_string_equal(url, "http://h:6060/other/relative?debug=1&x+y=a%26b+c");
    assert_null(pg_labels_get(&sl, "__profile_path_prefix__"));
    free(url);
    pg_labels_set(&out, "__profile_path_prefix__", "");
    pg_labels_del(&out, "__profile_path__");
    assert_int_equal(pg_target_profile(job, &out, &disc, gm, &sl, &url), 0);
    assert_string_equal(url, "http://h:6060/pre/debug/pprof/delta_heap?debug=1&x+y=a%26b+c");
    free(url);
    /* a __name__ changed by relabeling is kept; the type's own name maps to sent_name */
    pg_labels_set(&out, "__name__", "godeltaprof_memory");
    assert_int_equal(pg_target_profile(job, &out, &disc, gm, &sl, &url), 0);
    assert_string_equal(pg_labels_get(&sl, "__name__"), "memory");
    free(url);
    pg_labels_set(&out, "__name__", "heap_custom");
    assert_int_equal(pg_target_profile(job, &out, &disc, gm, &sl, &url), 0);
    assert_string_equal(pg_labels_get(&sl, "__name__"), "heap_custom");
    free(url);
    pg_labels_del(&out, "__name__");
    pg_labels_del(&out, "__profile_path_prefix__");

    /* no address */
    pg_labels_del(&out, "__address__");
    assert_int_equal(pg_target_profile(job, &out, &disc, gm, &sl, &url), -1);
    assert_null(url);

    pg_labels_reset(&t);
    pg_labels_reset(&disc);
    pg_labels_reset(&out);
    pg_labels_reset(&sl);
    pg_cfg_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_populate_basic),
        cmocka_unit_test(test_service_name),
        cmocka_unit_test(test_profile_url),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
