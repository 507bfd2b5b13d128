/* test_config_yaml.c - positioned YAML access and error reporting (config/yaml.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "yamlcfg/yaml.h"

static const char doc[] = "global:\n"
                          "  scrape_interval: 15s\n"
                          "  bogus: 1\n"
                          "  scrape_timeout: 1x\n"
                          "  enabled: maybe\n"
                          "  limit: 512MiB\n"
                          "  count: -3\n"
                          "  name: \"${PG_TEST_VAR}-$${x}\"\n"
                          "  list: [a]\n"
                          "  scrape_interval: 20s\n";

static void test_positions_and_types(void **state)
{
    (void)state;
    struct pg_cfg_errors errs;
    pg_cfg_errors_init(&errs);
    struct pg_yaml y;
    assert_int_equal(pg_yaml_load_string(&y, "t.yml", doc, strlen(doc), &errs), 0);
    yaml_node_t *g = pg_yaml_get(&y, pg_yaml_root(&y), "global");
    assert_non_null(g);
    static const char *const allowed[] = {"scrape_interval", "scrape_timeout", "enabled", "limit",
                                          "count",           "name",           "list",    NULL};
    assert_int_equal(pg_yaml_check_keys(&y, g, allowed, "global", &errs), -1);
    assert_int_equal(errs.n, 2);
    assert_int_equal(errs.v[0].line, 3);
    assert_int_equal(errs.v[0].col, 3);
    assert_string_equal(errs.v[0].msg, "field bogus not found in type global");
    assert_int_equal(errs.v[1].line, 10);
    assert_non_null(strstr(errs.v[1].msg, "duplicate key scrape_interval"));

    int64_t ms;
    assert_int_equal(
        pg_yaml_duration(&y, pg_yaml_get(&y, g, "scrape_interval"), "scrape_interval", &ms, &errs),
        0);
    assert_int_equal(ms, 15000);
    assert_int_equal(
        pg_yaml_duration(&y, pg_yaml_get(&y, g, "scrape_timeout"), "scrape_timeout", &ms, &errs),
        -1);
    assert_int_equal(errs.v[2].line, 4);
    assert_int_equal(errs.v[2].col, 19);
    int b;
    assert_int_equal(pg_yaml_bool(&y, pg_yaml_get(&y, g, "enabled"), "enabled", &b, &errs), -1);
    uint64_t sz;
    assert_int_equal(pg_yaml_size(&y, pg_yaml_get(&y, g, "limit"), "limit", &sz, &errs), 0);
    assert_true(sz == 512ull << 20);
    assert_int_equal(pg_yaml_uint(&y, pg_yaml_get(&y, g, "count"), "count", &sz, &errs), -1);
    char *s;
    assert_int_equal(pg_yaml_str(&y, pg_yaml_get(&y, g, "list"), "list", 0, &s, &errs), -1);
    assert_non_null(strstr(errs.v[errs.n - 1].msg, "expected a string, got a sequence"));

    setenv("PG_TEST_VAR", "eu-1", 1);
    assert_int_equal(pg_yaml_str(&y, pg_yaml_get(&y, g, "name"), "name", 1, &s, &errs), 0);
    assert_string_equal(s, "eu-1-${x}");
    free(s);
    assert_int_equal(pg_yaml_str(&y, pg_yaml_get(&y, g, "name"), "name", 0, &s, &errs), 0);
    assert_string_equal(s, "${PG_TEST_VAR}-$${x}");
    free(s);
    pg_yaml_free(&y);
    pg_cfg_errors_reset(&errs);
}

/* numbers, durations and sizes expand ${VAR} (they cannot hold '$' themselves) */
static void test_typed_env_expansion(void **state)
{
    (void)state;
    static const char d[] = "n: ${PG_T_N}\nd: ${PG_T_D}\nz: ${PG_T_Z}MiB\nbad: ${PG_T_UNSET_X}\n";
    setenv("PG_T_N", "7", 1);
    setenv("PG_T_D", "1m30s", 1);
    setenv("PG_T_Z", "64", 1);
    unsetenv("PG_T_UNSET_X");
    struct pg_cfg_errors errs;
    pg_cfg_errors_init(&errs);
    struct pg_yaml y;
    assert_int_equal(pg_yaml_load_string(&y, "e.yml", d, strlen(d), &errs), 0);
    yaml_node_t *r = pg_yaml_root(&y);
    uint64_t u;
    int64_t ms;
    assert_int_equal(pg_yaml_uint(&y, pg_yaml_get(&y, r, "n"), "n", &u, &errs), 0);
    assert_int_equal(u, 7);
    assert_int_equal(pg_yaml_duration(&y, pg_yaml_get(&y, r, "d"), "d", &ms, &errs), 0);
    assert_int_equal(ms, 90000);
    assert_int_equal(pg_yaml_size(&y, pg_yaml_get(&y, r, "z"), "z", &u, &errs), 0);
    assert_true(u == 64ull << 20);
    /* an unset variable expands to "" and is then not a number: reported, positioned */
    assert_int_equal(pg_yaml_uint(&y, pg_yaml_get(&y, r, "bad"), "bad", &u, &errs), -1);
    assert_int_equal(errs.n, 1);
    assert_int_equal(errs.v[0].line, 4);
    pg_yaml_free(&y);
    pg_cfg_errors_reset(&errs);
}

static void test_syntax_error_position(void **state)
{
    (void)state;
    struct pg_cfg_errors errs;
    pg_cfg_errors_init(&errs);
    struct pg_yaml y;
    const char *bad = "a: 1\nb: [1, 2\nc: 3\n";
    assert_int_equal(pg_yaml_load_string(&y, "bad.yml", bad, strlen(bad), &errs), -1);
    assert_int_equal(errs.n, 1);
    assert_true(errs.v[0].line >= 2);
    assert_non_null(strstr(errs.v[0].msg, "yaml:"));
    pg_yaml_free(&y);
    assert_int_equal(pg_yaml_load_file(&y, "/nonexistent/x.yml", &errs), -1);
    assert_non_null(strstr(errs.v[1].msg, "cannot open config file"));
    pg_yaml_free(&y);
    pg_cfg_errors_reset(&errs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_positions_and_types),
        cmocka_unit_test(test_syntax_error_position),
        cmocka_unit_test(test_typed_env_expansion),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
