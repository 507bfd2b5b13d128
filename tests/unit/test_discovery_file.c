/* test_discovery_file.c - unit tests for file_sd reading (discovery/file_sd.c).
 *
 * Fixtures live in tests/data/file_sd/; the tests run from the tests/ directory. Glob
 * expansion is tested over a fresh mkdtemp directory. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "discovery/file_sd.h"

#define D "data/file_sd/"

static void check_good(struct pg_tgroup *g, size_t n, const char *path)
{
    char src[512];
    assert_int_equal(n, 2);
    snprintf(src, sizeof(src), "%s:0", path);
    assert_string_equal(g[0].source, src);
    snprintf(src, sizeof(src), "%s:1", path);
    assert_string_equal(g[1].source, src);

    assert_int_equal(g[0].labels.n, 3);
    assert_string_equal(pg_labels_get(&g[0].labels, "__meta_filepath"), path);
    assert_string_equal(pg_labels_get(&g[0].labels, "env"), "prod");
    assert_string_equal(pg_labels_get(&g[0].labels, "team"), "infra");
    assert_int_equal(g[0].n_targets, 2);
    assert_int_equal(g[0].targets[0].n, 1);
    assert_string_equal(pg_labels_get(&g[0].targets[0], "__address__"), "localhost:6060");
    assert_string_equal(pg_labels_get(&g[0].targets[1], "__address__"), "10.0.0.1:6060");

    assert_int_equal(g[1].labels.n, 1);
    assert_string_equal(pg_labels_get(&g[1].labels, "__meta_filepath"), path);
    assert_int_equal(g[1].n_targets, 1);
    assert_string_equal(pg_labels_get(&g[1].targets[0], "__address__"), "db:6061");
}

static void test_good_json(void **state)
{
    (void)state;
    struct pg_tgroup *g;
    size_t n;
    char err[256] = "";
    assert_int_equal(pg_sd_file_read(D "good.json", &g, &n, err, sizeof(err)), 0);
    check_good(g, n, D "good.json");
    pg_tgroup_free_array(g, n);
}

static void test_good_yaml(void **state)
{
    (void)state;
    struct pg_tgroup *g;
    size_t n;
    char err[256] = "";
    assert_int_equal(pg_sd_file_read(D "good.yml", &g, &n, err, sizeof(err)), 0);
    check_good(g, n, D "good.yml");
    pg_tgroup_free_array(g, n);
}

static void test_empty(void **state)
{
    (void)state;
    const char *files[] = {D "empty.json", D "empty.yml"};
    for (size_t i = 0; i < 2; i++) {
        struct pg_tgroup *g = (void *)1;
        size_t n = 99;
        char err[256] = "";
        assert_int_equal(pg_sd_file_read(files[i], &g, &n, err, sizeof(err)), 0);
        assert_null(g);
        assert_int_equal(n, 0);
    }
}

static void test_bad(void **state)
{
    (void)state;
    static const struct {
        const char *file, *want;
    } cases[] = {
        {D "bad_target_type.json", "must be a string"},
        {D "bad_empty_target.json", "is empty"},
        {D "bad_label_name.json", "empty label name"},
        {D "bad_label_value.json", "value of label env must be a string"},
        {D "bad_syntax.json", D "bad_syntax.json:"},
        {D "bad_empty_target.yml", D "bad_empty_target.yml:3:7: empty target"},
        {D "bad_label_value.yml", D "bad_label_value.yml:3:10: value of label env"},
        {D "bad_key.yml", D "bad_key.yml:2:3: field lables not found"},
        {D "bad_syntax.yml", D "bad_syntax.yml:"},
        {D "missing.json", D "missing.json"},
        {D "missing.yml", D "missing.yml"},
        {D "good.txt", "unknown file extension"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct pg_tgroup *g = (void *)1;
        size_t n = 99;
        char err[512] = "";
        assert_int_equal(pg_sd_file_read(cases[i].file, &g, &n, err, sizeof(err)), -1);
        assert_null(g);
        assert_int_equal(n, 0);
        if (!strstr(err, cases[i].want))
            fail_msg("%s: error '%s' lacks %s", cases[i].file, err, cases[i].want);
        assert_non_null(strstr(err, cases[i].file));
    }
}

struct errlog {
    int n;
    char path[512];
    char msg[512];
};

static void on_err(void *ud, const char *path, const char *msg)
{
    struct errlog *l = ud;
    l->n++;
    snprintf(l->path, sizeof(l->path), "%s", path);
    snprintf(l->msg, sizeof(l->msg), "%s", msg);
}

static void write_file(const char *dir, const char *name, const char *text)
{
    char p[512];
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_glob(void **state)
{
    (void)state;
    char dir[] = "/tmp/pg_file_sd_XXXXXX";
    assert_non_null(mkdtemp(dir));
    write_file(dir, "b.json", "[{\"targets\": [\"b:1\"]}]");
    write_file(dir, "a.json", "[{\"targets\": [\"a:1\"]}, {\"targets\": [\"a:2\"]}]");
    write_file(dir, "c.json", "[{\"targets\": [\"\"]}]"); /* bad: reported and skipped */
    write_file(dir, "d.yml", "- targets: [d:1]\n  labels: {x: y}\n");
    write_file(dir, "e.txt", "ignored by the pattern");

    char pj[600], py[600], pn[600], pa[600], pb[600], pc[600], pd[600];
    snprintf(pj, sizeof(pj), "%s/*.json", dir);
    snprintf(py, sizeof(py), "%s/*.yml", dir);
    snprintf(pn, sizeof(pn), "%s/nothing/*.json", dir);
    char *files[] = {pj, pn, py};
    struct pg_cfg_file_sd cfg = {.files = files, .n_files = 3, .refresh_interval_ms = 300000};
    struct errlog log = {0};
    struct pg_tgroup *g;
    size_t n;
    assert_int_equal(pg_sd_file_read_all(&cfg, &g, &n, on_err, &log), 0);

    snprintf(pa, sizeof(pa), "%s/a.json", dir);
    snprintf(pb, sizeof(pb), "%s/b.json", dir);
    snprintf(pc, sizeof(pc), "%s/c.json", dir);
    snprintf(pd, sizeof(pd), "%s/d.yml", dir);
    assert_int_equal(log.n, 1);
    assert_string_equal(log.path, pc);
    assert_non_null(strstr(log.msg, "is empty"));

    assert_int_equal(n, 4);
    char src[700];
    snprintf(src, sizeof(src), "%s:0", pa);
    assert_string_equal(g[0].source, src);
    assert_string_equal(pg_labels_get(&g[0].targets[0], "__address__"), "a:1");
    snprintf(src, sizeof(src), "%s:1", pa);
    assert_string_equal(g[1].source, src);
    assert_string_equal(pg_labels_get(&g[1].targets[0], "__address__"), "a:2");
    snprintf(src, sizeof(src), "%s:0", pb);
    assert_string_equal(g[2].source, src);
    assert_string_equal(pg_labels_get(&g[2].labels, "__meta_filepath"), pb);
    snprintf(src, sizeof(src), "%s:0", pd);
    assert_string_equal(g[3].source, src);
    assert_string_equal(pg_labels_get(&g[3].labels, "x"), "y");
    assert_string_equal(pg_labels_get(&g[3].labels, "__meta_filepath"), pd);
    pg_tgroup_free_array(g, n);

    /* nothing matched at all: ok and empty */
    cfg.files = (char *[]){pn};
    cfg.n_files = 1;
    assert_int_equal(pg_sd_file_read_all(&cfg, &g, &n, on_err, &log), 0);
    assert_null(g);
    assert_int_equal(n, 0);

    const char *names[] = {"a.json", "b.json", "c.json", "d.yml", "e.txt"};
    for (size_t i = 0; i < 5; i++) {
        char p[600];
        snprintf(p, sizeof(p), "%s/%s", dir, names[i]);
        unlink(p);
    }
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_json), cmocka_unit_test(test_good_yaml),
        cmocka_unit_test(test_empty),     cmocka_unit_test(test_bad),
        cmocka_unit_test(test_glob),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
