/* test_config_relabel.c - relabel_config list parsing (config/relabel_cfg.c): defaults
 * only for absent keys, raw ${1} templates, every Prometheus 3 validation error at its
 * exact line:col, all errors collected in one pass, and the compiled rules usable by
 * pg_relabel_process. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/relabel_cfg.h"

/* Loads text, parses its root as a relabel list; returns the parse result. */
static int parse(const char *text, struct pg_relabel_rule **rules, size_t *n,
                 struct pg_cfg_errors *errs)
{
    struct pg_yaml y;
    assert_int_equal(pg_yaml_load_string(&y, "r.yml", text, strlen(text), errs), 0);
    int rc = pg_cfg_parse_relabel_configs(&y, pg_yaml_root(&y), "relabel_configs", rules, n, errs);
    pg_yaml_free(&y);
    return rc;
}

static void expect_err(const struct pg_cfg_errors *errs, size_t i, int line, int col,
                       const char *msg)
{
    assert_true(i < errs->n);
    if (errs->v[i].line != line || errs->v[i].col != col || strcmp(errs->v[i].msg, msg) != 0)
        fprintf(stderr, "error %zu: got %d:%d: %s\n", i, errs->v[i].line, errs->v[i].col,
                errs->v[i].msg);
    assert_string_equal(errs->v[i].file, "r.yml");
    assert_int_equal(errs->v[i].line, line);
    assert_int_equal(errs->v[i].col, col);
    assert_string_equal(errs->v[i].msg, msg);
}

static void test_defaults_and_explicit_empty(void **state)
{
    (void)state;
    static const char doc[] = "- source_labels: [a, b]\n"
                              "  target_label: t\n"
                              "- separator: \"\"\n"
                              "  regex: \"\"\n"
                              "  replacement: \"\"\n"
                              "  target_label: x\n"
                              "  action: Replace\n"
                              "- action: labelmap\n"
                              "  regex: \"__meta_(.+)\"\n"
                              "  replacement: \"${1}\"\n"
                              "- action: hashmod\n"
                              "  source_labels: [a]\n"
                              "  modulus: 8\n"
                              "  target_label: \"${x}\"\n";
    setenv("x", "ENV", 1);
    struct pg_cfg_errors errs;
    pg_cfg_errors_init(&errs);
    struct pg_relabel_rule *r = NULL;
    size_t n = 0;
    assert_int_equal(parse(doc, &r, &n, &errs), 0);
    assert_int_equal(errs.n, 0);
    assert_int_equal(n, 4);

    assert_int_equal(r[0].n_source, 2);
    assert_string_equal(r[0].source_labels[0], "a");
    assert_string_equal(r[0].source_labels[1], "b");
    assert_string_equal(r[0].separator, ";");
    assert_string_equal(r[0].regex, "(.*)");
    assert_string_equal(r[0].replacement, "$1");
    assert_string_equal(r[0].target_label, "t");
    assert_int_equal(r[0].action, PG_RELABEL_REPLACE);
    assert_non_null(r[0].re);

    assert_int_equal(r[1].n_source, 0);
    assert_string_equal(r[1].separator, "");
    assert_string_equal(r[1].regex, "");
    assert_string_equal(r[1].replacement, "");
    assert_int_equal(r[1].action, PG_RELABEL_REPLACE);
    assert_non_null(r[1].re);

    assert_int_equal(r[2].action, PG_RELABEL_LABELMAP);
    assert_null(r[2].target_label);
    assert_string_equal(r[2].replacement, "${1}");

    assert_int_equal(r[3].action, PG_RELABEL_HASHMOD);
    assert_true(r[3].modulus == 8);
    assert_string_equal(r[3].target_label, "${x}"); /* raw, not env-expanded */
    pg_cfg_relabel_rules_free(r, n);
    pg_cfg_errors_reset(&errs);
}

static void test_null_and_shape(void **state)
{
    (void)state;
    struct pg_cfg_errors errs;
    pg_cfg_errors_init(&errs);
    struct pg_relabel_rule *r = (struct pg_relabel_rule *)&errs;
    size_t n = 7;
    struct pg_yaml y;
    assert_int_equal(pg_yaml_load_string(&y, "r.yml", "x: 1\n", 5, &errs), 0);
    assert_int_equal(pg_cfg_parse_relabel_configs(&y, NULL, "relabel_configs", &r, &n, &errs), 0);
    assert_null(r);
    assert_int_equal(n, 0);
    pg_yaml_free(&y);
    pg_cfg_relabel_rules_free(NULL, 0);

    assert_int_equal(parse("~\n", &r, &n, &errs), 0);
    assert_int_equal(parse("[]\n", &r, &n, &errs), 0);
    assert_null(r);
    assert_int_equal(errs.n, 0);

    assert_int_equal(parse("a: 1\n", &r, &n, &errs), -1);
    expect_err(&errs, 0, 1, 1, "relabel_configs: expected a sequence of relabel configs");
    assert_int_equal(parse("- 3\n", &r, &n, &errs), -1);
    assert_int_equal(errs.n, 2);
    assert_int_equal(errs.v[1].line, 1);
    assert_int_equal(errs.v[1].col, 3);
    assert_non_null(strstr(errs.v[1].msg, "relabel.Config must be a mapping"));
    assert_null(r);
    assert_int_equal(n, 0);
    pg_cfg_errors_reset(&errs);
}

static const char bad_doc[] = "- action: bogus\n"            /* 1 */
                              "- action: replace\n"          /* 2 */
                              "  regex: \"a\"\n"             /* 3 */
                              "- action: hashmod\n"          /* 4 */
                              "  modulus: 0\n"               /* 5 */
                              "  target_label: h\n"          /* 6 */
                              "- action: hashmod\n"          /* 7 */
                              "  target_label: h\n"          /* 8 */
                              "- action: lowercase\n"        /* 9 */
                              "  target_label: \"\"\n"       /* 10 */
                              "- action: keepequal\n"        /* 11 */
                              "  target_label: t\n"          /* 12 */
                              "  regex: \"x\"\n"             /* 13 */
                              "- action: labeldrop\n"        /* 14 */
                              "  source_labels: [a]\n"       /* 15 */
                              "- action: labelkeep\n"        /* 16 */
                              "  separator: \",\"\n"         /* 17 */
                              "- source_labels: [a, \"\"]\n" /* 18 */
                              "  target_label: t\n"          /* 19 */
                              "  bogus_key: 1\n"             /* 20 */
                              "  regex: \"a(b\"\n"           /* 21 */
                              "- action: uppercase\n"        /* 22 */
                              "- action: dropequal\n"        /* 23 */
                              "  target_label: t\n"          /* 24 */
                              "  replacement: \"x\"\n"       /* 25 */
                              "- action: keepequal\n"        /* 26 */
                              "  source_labels: [a]\n"       /* 27 */
                              "- action: labeldrop\n"        /* 28 */
                              "  regex: \"x\"\n"             /* 29 */
                              "  replacement: \"y\"\n"       /* 30 */
                              "- action: dropequal\n"        /* 31 */
                              "  target_label: t\n"          /* 32 */
                              "  modulus: 3\n";              /* 33 */

static void test_validation_errors(void **state)
{
    (void)state;
    struct pg_cfg_errors errs;
    pg_cfg_errors_init(&errs);
    struct pg_relabel_rule *r = NULL;
    size_t n = 5;
    assert_int_equal(parse(bad_doc, &r, &n, &errs), -1);
    assert_null(r);
    assert_int_equal(n, 0);
    expect_err(&errs, 0, 1, 11, "unknown relabel action \"bogus\"");
    expect_err(&errs, 1, 2, 3,
               "relabel configuration for replace action requires 'target_label' value");
    expect_err(&errs, 2, 5, 12, "relabel configuration for hashmod requires non-zero modulus");
    expect_err(&errs, 3, 7, 3, "relabel configuration for hashmod requires non-zero modulus");
    expect_err(&errs, 4, 10, 17,
               "relabel configuration for lowercase action requires 'target_label' value");
    expect_err(&errs, 5, 13, 10,
               "keepequal action requires only 'source_labels' and `target_label`, and no other "
               "fields");
    expect_err(&errs, 6, 15, 18, "labeldrop action requires only 'regex', and no other fields");
    expect_err(&errs, 7, 17, 14, "labelkeep action requires only 'regex', and no other fields");
    expect_err(&errs, 8, 20, 3, "field bogus_key not found in type relabel.Config");
    expect_err(&errs, 9, 18, 22, "\"\" is not a valid label name");
    expect_err(&errs, 10, 21, 10, "error parsing regexp: missing closing ): `^(?s:a(b)$`");
    expect_err(&errs, 11, 22, 3,
               "relabel configuration for uppercase action requires 'target_label' value");
    expect_err(&errs, 12, 25, 16, "'replacement' can not be set for dropequal action");
    expect_err(&errs, 13, 26, 3,
               "relabel configuration for keepequal action requires 'target_label' value");
    expect_err(&errs, 14, 30, 16, "labeldrop action requires only 'regex', and no other fields");
    expect_err(&errs, 15, 33, 12,
               "dropequal action requires only 'source_labels' and `target_label`, and no other "
               "fields");
    assert_int_equal(errs.n, 16);
    pg_cfg_errors_reset(&errs);
}

/* Prometheus's model/relabel: lowercase, uppercase, keepequal and dropequal reject a
 * replacement other than the default "$1" (an explicit "$1" is accepted, as promtool does). */
static void test_replacement_not_allowed(void **state)
{
    (void)state;
    static const char doc[] = "- action: lowercase\n"    /* 1 */
                              "  source_labels: [a]\n"   /* 2 */
                              "  target_label: b\n"      /* 3 */
                              "  replacement: x\n"       /* 4 */
                              "- action: uppercase\n"    /* 5 */
                              "  source_labels: [a]\n"   /* 6 */
                              "  target_label: b\n"      /* 7 */
                              "  replacement: \"\"\n"    /* 8 */
                              "- action: keepequal\n"    /* 9 */
                              "  source_labels: [a]\n"   /* 10 */
                              "  target_label: b\n"      /* 11 */
                              "  replacement: y\n"       /* 12 */
                              "- action: lowercase\n"    /* 13 */
                              "  source_labels: [a]\n"   /* 14 */
                              "  target_label: b\n"      /* 15 */
                              "  replacement: \"$1\"\n"; /* 16 */
    struct pg_cfg_errors errs;
    pg_cfg_errors_init(&errs);
    struct pg_relabel_rule *r = NULL;
    size_t n = 0;
    assert_int_equal(parse(doc, &r, &n, &errs), -1);
    expect_err(&errs, 0, 4, 16, "'replacement' can not be set for lowercase action");
    expect_err(&errs, 1, 8, 16, "'replacement' can not be set for uppercase action");
    expect_err(&errs, 2, 12, 16, "'replacement' can not be set for keepequal action");
    assert_int_equal(errs.n, 3);
    pg_cfg_errors_reset(&errs);
}

static void test_type_errors_collected(void **state)
{
    (void)state;
    static const char doc[] = "- source_labels: a\n"
                              "  modulus: -1\n"
                              "  target_label: [x]\n"
                              "- action: [keep]\n";
    struct pg_cfg_errors errs;
    pg_cfg_errors_init(&errs);
    struct pg_relabel_rule *r = NULL;
    size_t n = 0;
    assert_int_equal(parse(doc, &r, &n, &errs), -1);
    assert_int_equal(errs.n, 4);
    expect_err(&errs, 0, 1, 18, "source_labels: expected a sequence of strings");
    assert_int_equal(errs.v[1].line, 3);
    assert_int_equal(errs.v[1].col, 17);
    assert_int_equal(errs.v[2].line, 2);
    assert_int_equal(errs.v[2].col, 12);
    assert_int_equal(errs.v[3].line, 4);
    assert_int_equal(errs.v[3].col, 11);
    assert_null(r);
    pg_cfg_errors_reset(&errs);
}

static void test_compiled_rules_process(void **state)
{
    (void)state;
    static const char doc[] = "- source_labels: [a, b]\n"
                              "  separator: \"-\"\n"
                              "  regex: \"(.*)-(.*)\"\n"
                              "  target_label: ab\n"
                              "  replacement: \"${2}_${1}\"\n"
                              "- action: labeldrop\n"
                              "  regex: \"drop_.*\"\n"
                              "  target_label: \"\"\n"
                              "- source_labels: [ab]\n"
                              "  regex: \"y_.*\"\n"
                              "  action: keep\n";
    struct pg_cfg_errors errs;
    pg_cfg_errors_init(&errs);
    struct pg_relabel_rule *r = NULL;
    size_t n = 0;
    assert_int_equal(parse(doc, &r, &n, &errs), 0);
    assert_int_equal(n, 3);

    struct pg_labels ls;
    pg_labels_init(&ls);
    assert_int_equal(pg_labels_set(&ls, "a", "x"), 0);
    assert_int_equal(pg_labels_set(&ls, "b", "y"), 0);
    assert_int_equal(pg_labels_set(&ls, "drop_me", "1"), 0);
    assert_int_equal(pg_relabel_process(r, n, &ls, NULL, NULL), 1);
    assert_string_equal(pg_labels_get(&ls, "ab"), "y_x");
    assert_null(pg_labels_get(&ls, "drop_me"));
    assert_string_equal(pg_labels_get(&ls, "a"), "x");
    pg_labels_reset(&ls);

    pg_labels_init(&ls);
    assert_int_equal(pg_labels_set(&ls, "a", "q"), 0);
    assert_int_equal(pg_labels_set(&ls, "b", "z"), 0);
    assert_int_equal(pg_relabel_process(r, n, &ls, NULL, NULL), 0);
    pg_labels_reset(&ls);

    pg_cfg_relabel_rules_free(r, n);
    pg_cfg_errors_reset(&errs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_and_explicit_empty),
        cmocka_unit_test(test_null_and_shape),
        cmocka_unit_test(test_validation_errors),
        cmocka_unit_test(test_replacement_not_allowed),
        cmocka_unit_test(test_type_errors_collected),
        cmocka_unit_test(test_compiled_rules_process),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
