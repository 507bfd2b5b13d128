/* test_profile_flame.c - the pprof -> frame tree conversion (profile/flame.c): a hand-built
 * profile with inlined frames and an address-only location (exact tree), real Go profiles
 * (root total == the sum of the sample type's values; unpruned: total == self + children
 * everywhere and selfs sum to the root; pruned: bounded node count, kept totals unchanged,
 * never total < self + kept children), the JSON shape, and bad input. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "profile.pb-c.h"
#include "profile/flame.h"
#include "profile/pprof.h"
#include "testutil.h"

#define LIMIT (64u << 20)

/* strings: 0 "", 1 cpu, 2 nanoseconds, 3 main, 4 a, 5 b, 6 samples, 7 count */
static uint8_t *hand_profile(size_t *len)
{
    static char *strs[] = {"", "cpu", "nanoseconds", "main", "a", "b", "samples", "count"};
    Perftools__Profiles__Profile p;
    perftools__profiles__profile__init(&p);
    Perftools__Profiles__ValueType vt[2], *vtp[2] = {&vt[0], &vt[1]};
    for (int i = 0; i < 2; i++)
        perftools__profiles__value_type__init(&vt[i]);
    vt[0].type = 6, vt[0].unit = 7, vt[1].type = 1, vt[1].unit = 2;
    Perftools__Profiles__Function fn[3], *fnp[3] = {&fn[0], &fn[1], &fn[2]};
    for (int i = 0; i < 3; i++) {
        perftools__profiles__function__init(&fn[i]);
        fn[i].id = (uint64_t)i + 1;
        fn[i].name = 3 + i; /* main, a, b */
    }
    Perftools__Profiles__Line l1[2], l2, *l1p[2] = {&l1[0], &l1[1]}, *l2p[1] = {&l2};
    perftools__profiles__line__init(&l1[0]);
    perftools__profiles__line__init(&l1[1]);
    perftools__profiles__line__init(&l2);
    l1[0].function_id = 3, l1[1].function_id = 2; /* b inlined into a */
    l2.function_id = 1;
    Perftools__Profiles__Location loc[3], *locp[3] = {&loc[0], &loc[1], &loc[2]};
    for (int i = 0; i < 3; i++) {
        perftools__profiles__location__init(&loc[i]);
        loc[i].id = (uint64_t)i + 1;
    }
    loc[0].n_line = 2, loc[0].line = l1p;
    loc[1].n_line = 1, loc[1].line = l2p;
    loc[2].address = 0x1234; /* no lines */
    uint64_t s1[] = {1, 2}, s2[] = {3, 2}, s3[] = {2}, s4[] = {1, 2};
    int64_t v1[] = {1, 10}, v2[] = {1, 5}, v3[] = {1, 2}, v4[] = {7, 0};
    Perftools__Profiles__Sample sm[4], *smp[4] = {&sm[0], &sm[1], &sm[2], &sm[3]};
    uint64_t *ls[] = {s1, s2, s3, s4};
    size_t nls[] = {2, 2, 1, 2};
    int64_t *vs[] = {v1, v2, v3, v4};
    for (int i = 0; i < 4; i++) {
        perftools__profiles__sample__init(&sm[i]);
        sm[i].location_id = ls[i], sm[i].n_location_id = nls[i];
        sm[i].value = vs[i], sm[i].n_value = 2;
    }
    p.n_sample_type = 2, p.sample_type = vtp;
    p.n_function = 3, p.function = fnp;
    p.n_location = 3, p.location = locp;
    p.n_sample = 4, p.sample = smp;
    p.n_string_table = 8, p.string_table = strs;
    *len = perftools__profiles__profile__get_packed_size(&p);
    uint8_t *b = malloc(*len);
    assert_non_null(b);
    perftools__profiles__profile__pack(&p, b);
    return b;
}

/* The kept child of node i named name, or (size_t)-1. */
static size_t find_child(const struct pg_flame *f, size_t i, const char *name)
{
    struct pg_flame_node_info n;
    for (size_t c = 0, k; (k = pg_flame_child(f, i, c)) != (size_t)-1; c++) {
        pg_flame_node(f, k, &n);
        if (!strcmp(n.name, name))
            return k;
    }
    return (size_t)-1;
}

static void expect(const struct pg_flame *f, size_t i, const char *name, int64_t total,
                   int64_t self, size_t kids)
{
    struct pg_flame_node_info n;
    assert_true(i != (size_t)-1);
    pg_flame_node(f, i, &n);
    assert_string_equal(n.name, name);
    assert_int_equal(n.total, total);
    assert_int_equal(n.self, self);
    assert_int_equal(n.n_children, kids);
}

static void test_hand_built(void **state)
{
    (void)state;
    size_t len;
    uint8_t *b = hand_profile(&len);
    char err[256];
    struct pg_flame *f = pg_flame_build(b, len, LIMIT, 1, 1000, 0, err, sizeof(err));
    assert_non_null(f);
    assert_int_equal(pg_flame_sample_types(f), 2);
    const char *t, *u;
    pg_flame_sample_type(f, 1, &t, &u);
    assert_string_equal(t, "cpu");
    assert_string_equal(u, "nanoseconds");
    /* total 17 -> main 17 (self 2) -> {0x1234 5, a 10 -> b 10}; the zero sample adds nothing */
    expect(f, 0, "total", 17, 0, 1);
    size_t m = find_child(f, 0, "main");
    expect(f, m, "main", 17, 2, 2);
    expect(f, find_child(f, m, "0x1234"), "0x1234", 5, 5, 0);
    size_t a = find_child(f, m, "a");
    expect(f, a, "a", 10, 0, 1);
    expect(f, find_child(f, a, "b"), "b", 10, 10, 0);
    assert_int_equal(pg_flame_nodes(f), 5);
    assert_int_equal(pg_flame_pruned(f), 0);
    /* children sorted by name: "0x1234" < "a" */
    struct pg_flame_node_info n;
    pg_flame_node(f, pg_flame_child(f, m, 0), &n);
    assert_string_equal(n.name, "0x1234");
    pg_flame_free(f);

    /* sample type 0 (count): the fourth sample counts 7 */
    f = pg_flame_build(b, len, LIMIT, 0, 1000, 0, err, sizeof(err));
    assert_non_null(f);
    expect(f, 0, "total", 10, 0, 1);
    pg_flame_free(f);

    /* pruned to 3 nodes: total, main, a (the widest); b and 0x1234 dropped */
    f = pg_flame_build(b, len, LIMIT, 1, 3, 0, err, sizeof(err));
    assert_non_null(f);
    assert_int_equal(pg_flame_nodes(f), 3);
    assert_int_equal(pg_flame_pruned(f), 2);
    m = find_child(f, 0, "main");
    expect(f, m, "main", 17, 2, 1);
    expect(f, find_child(f, m, "a"), "a", 10, 0, 0);
    pg_flame_free(f);
    free(b);
}

/* Sum of sample type si over every sample, from the protobuf-c decoding. */
static int64_t oracle_total(const uint8_t *body, size_t len, size_t si)
{
    uint8_t *raw;
    size_t rawlen;
    Perftools__Profiles__Profile *p;
    char err[256];
    assert_int_equal(pg_pprof_check(body, len, NULL, LIMIT, &raw, &rawlen, &p, err, sizeof(err)),
                     0);
    int64_t sum = 0;
    for (size_t i = 0; i < p->n_sample; i++)
        sum += p->sample[i]->value[si];
    pg_pprof_free(p);
    free(raw);
    return sum;
}

/* Checks the tree's invariants; returns the sum of self values. */
static int64_t check_tree(const struct pg_flame *f, int exact)
{
    int64_t selfs = 0;
    for (size_t i = 0; i < pg_flame_nodes(f); i++) {
        struct pg_flame_node_info n;
        pg_flame_node(f, i, &n);
        int64_t kids = 0;
        for (size_t c = 0; c < n.n_children; c++) {
            struct pg_flame_node_info k;
            pg_flame_node(f, pg_flame_child(f, i, c), &k);
            kids += k.total;
        }
        if (exact)
            assert_int_equal(n.total, n.self + kids);
        else
            assert_true(n.total >= n.self + kids);
        selfs += n.self;
    }
    return selfs;
}

static void check_go_profile(const char *path)
{
    size_t len;
    uint8_t *body = pg_test_slurp(path, &len);
    char err[256];
    struct pg_flame *full = pg_flame_build(body, len, LIMIT, 0, SIZE_MAX, 0, err, sizeof(err));
    assert_non_null(full);
    int big = 0; /* some sample type has more than 5 nodes: the pruning below bites */
    for (size_t si = 0; si < pg_flame_sample_types(full); si++) {
        int64_t want = oracle_total(body, len, si);
        struct pg_flame *f = pg_flame_build(body, len, LIMIT, si, SIZE_MAX, 0, err, sizeof(err));
        assert_non_null(f);
        struct pg_flame_node_info root;
        pg_flame_node(f, 0, &root);
        assert_int_equal(root.total, want);
        assert_int_equal(pg_flame_pruned(f), 0);
        assert_int_equal(check_tree(f, 1), want);
        size_t all = pg_flame_nodes(f);
        big |= all > 5;
        /* bounded: at most 5 nodes, the root's total unchanged */
        struct pg_flame *p = pg_flame_build(body, len, LIMIT, si, 5, 0, err, sizeof(err));
        assert_non_null(p);
        assert_true(pg_flame_nodes(p) <= 5);
        assert_int_equal(pg_flame_nodes(p) + pg_flame_pruned(p), all);
        pg_flame_node(p, 0, &root);
        assert_int_equal(root.total, want);
        check_tree(p, 0);
        pg_flame_free(p);
        /* min width 5%: every kept node is at least 5% of the root */
        p = pg_flame_build(body, len, LIMIT, si, SIZE_MAX, 0.05, err, sizeof(err));
        assert_non_null(p);
        for (size_t i = 1; i < pg_flame_nodes(p); i++) {
            struct pg_flame_node_info n;
            pg_flame_node(p, i, &n);
            assert_true((double)n.total >= 0.05 * (double)want - 1);
        }
        check_tree(p, 0);
        pg_flame_free(p);
        pg_flame_free(f);
    }
    assert_true(big);
    pg_flame_free(full);
    free(body);
}

static void test_go_allocs(void **state)
{
    (void)state;
    check_go_profile("data/go_allocs.pb.gz");
}

static void test_go_goroutine(void **state)
{
    (void)state;
    check_go_profile("data/go_goroutine.pb.gz");
}

static void test_json(void **state)
{
    (void)state;
    size_t len;
    uint8_t *body = pg_test_slurp("data/go_goroutine.pb.gz", &len);
    char err[256];
    struct pg_flame *f = pg_flame_build(body, len, LIMIT, 0, 500, 0.001, err, sizeof(err));
    assert_non_null(f);
    char *s = pg_flame_json(f);
    assert_non_null(s);
    json_error_t je;
    json_t *o = json_loads(s, 0, &je);
    assert_non_null(o);
    assert_int_equal(json_integer_value(json_object_get(o, "nodes")), pg_flame_nodes(f));
    json_t *tree = json_object_get(o, "tree"), *names = json_object_get(o, "names");
    assert_true(json_is_array(tree) && json_array_size(tree) == 4);
    assert_string_equal(json_string_value(json_array_get(names, 0)), "total");
    assert_int_equal(json_integer_value(json_array_get(tree, 1)),
                     json_integer_value(json_object_get(o, "total")));
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(o, "sampleTypes"), 0), "type")),
                        "goroutine");
    /* a real Go function name is in the names table */
    int found = 0;
    for (size_t i = 0; i < json_array_size(names); i++)
        found |= !strncmp(json_string_value(json_array_get(names, i)), "runtime.", 8);
    assert_true(found);
    json_decref(o);
    free(s);
    pg_flame_free(f);
    free(body);
}

static void test_bad_input(void **state)
{
    (void)state;
    char err[256] = "";
    const char *html = "<html><body>nope</body></html>";
    assert_null(
        pg_flame_build((const uint8_t *)html, strlen(html), LIMIT, 0, 10, 0, err, sizeof(err)));
    assert_true(err[0] != '\0');
    size_t len;
    uint8_t *b = hand_profile(&len);
    err[0] = '\0';
    assert_null(pg_flame_build(b, len, LIMIT, 2, 10, 0, err, sizeof(err)));
    assert_non_null(strstr(err, "out of range"));
    /* every truncation fails cleanly or builds a consistent tree */
    for (size_t cut = 0; cut < len; cut++) {
        struct pg_flame *f = pg_flame_build(b, cut, LIMIT, 1, 10, 0, err, sizeof(err));
        if (f)
            check_tree(f, 0);
        pg_flame_free(f);
    }
    free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hand_built),   cmocka_unit_test(test_go_allocs),
        cmocka_unit_test(test_go_goroutine), cmocka_unit_test(test_json),
        cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
