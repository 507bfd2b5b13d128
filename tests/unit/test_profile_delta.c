/* test_scraper_delta.c - client-side delta of cumulative profiles (scraper/delta.c):
 * priming, zero deltas on unchanged profiles, exact deltas on synthetic profiles (built
 * with protobuf-c INIT structs, packed and unpacked so protobuf-c owns them), stack and
 * label independence, id renumbering, clamping, a missing sample type, and a real Go allocs
 * profile from tests/data round-tripping through pg_delta_encode. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "delta_ref.h"
#include "profile/pprof.h"
#include "testutil.h"

#define LIMIT (16u << 20)

static const char *const ALLOC_TYPES[] = {"alloc_objects", "alloc_space"};

static Perftools__Profiles__Profile *load(const char *path)
{
    size_t len, rawlen;
    uint8_t *body = pg_test_slurp(path, &len), *raw;
    Perftools__Profiles__Profile *p = NULL;
    char err[256];
    assert_int_equal(pg_pprof_check(body, len, NULL, LIMIT, &raw, &rawlen, &p, err, sizeof(err)),
                     0);
    free(body);
    free(raw);
    return p;
}

static int type_index(const Perftools__Profiles__Profile *p, const char *name)
{
    for (size_t i = 0; i < p->n_sample_type; i++)
        if (strcmp(p->string_table[p->sample_type[i]->type], name) == 0)
            return (int)i;
    return -1;
}

static int64_t total(const Perftools__Profiles__Profile *p, int t)
{
    int64_t s = 0;
    for (size_t i = 0; i < p->n_sample; i++)
        s += p->sample[i]->value[t];
    return s;
}

/* ---- synthetic profiles ----
 * Three functions main.a/b/c in main.go, one location each (line 10*k). A sample is a
 * stack of 1-3 frames (indices 0..2 into a/b/c), an optional label tag=<x|y>, and four
 * values alloc_objects, alloc_space, inuse_objects, inuse_space. id_base shifts every
 * location and function id, so the same content can appear under different ids. */
struct ssample {
    int frames[3];
    size_t n_frames;
    const char *tag; /* NULL, "x" or "y" */
    int64_t v[4];
};

static const char *STRS[] = {"",
                             "alloc_objects",
                             "count",
                             "alloc_space",
                             "bytes",
                             "inuse_objects",
                             "inuse_space",
                             "main.a",
                             "main.b",
                             "main.c",
                             "main.go",
                             "tag",
                             "x",
                             "y"};

static Perftools__Profiles__Profile *synth(const struct ssample *ss, size_t n, uint64_t id_base)
{
    Perftools__Profiles__Profile p = PERFTOOLS__PROFILES__PROFILE__INIT;
    Perftools__Profiles__ValueType vt[4], *vtp[4];
    static const int64_t vtypes[4][2] = {{1, 2}, {3, 4}, {5, 2}, {6, 4}};
    for (int i = 0; i < 4; i++) {
        perftools__profiles__value_type__init(&vt[i]);
        vt[i].type = vtypes[i][0];
        vt[i].unit = vtypes[i][1];
        vtp[i] = &vt[i];
    }
    Perftools__Profiles__Function fn[3], *fnp[3];
    Perftools__Profiles__Line ln[3], *lnp[3];
    Perftools__Profiles__Location loc[3], *locp[3];
    /* emit in reverse order so ids are not "dense" when id_base != 0 */
    for (int k = 0; k < 3; k++) {
        perftools__profiles__function__init(&fn[k]);
        fn[k].id = id_base + (uint64_t)k + 1;
        fn[k].name = 7 + k;
        fn[k].system_name = 7 + k;
        fn[k].filename = 10;
        fnp[id_base ? 2 - k : k] = &fn[k];
        perftools__profiles__line__init(&ln[k]);
        ln[k].function_id = fn[k].id;
        ln[k].line = 10 * (k + 1);
        lnp[k] = &ln[k];
        perftools__profiles__location__init(&loc[k]);
        loc[k].id = id_base + (uint64_t)k + 1;
        loc[k].address = 0x1000 * (uint64_t)(k + 1) + id_base; /* not part of the key */
        loc[k].n_line = 1;
        loc[k].line = &lnp[k];
        locp[id_base ? 2 - k : k] = &loc[k];
    }
    Perftools__Profiles__Sample *smp = calloc(n ? n : 1, sizeof(*smp));
    Perftools__Profiles__Sample **smpp = calloc(n ? n : 1, sizeof(*smpp));
    uint64_t(*ids)[3] = calloc(n ? n : 1, sizeof(*ids));
    int64_t(*vals)[4] = calloc(n ? n : 1, sizeof(*vals));
    Perftools__Profiles__Label *lab = calloc(n ? n : 1, sizeof(*lab));
    Perftools__Profiles__Label **labp = calloc(n ? n : 1, sizeof(*labp));
    assert_true(smp && smpp && ids && vals && lab && labp);
    for (size_t i = 0; i < n; i++) {
        perftools__profiles__sample__init(&smp[i]);
        for (size_t f = 0; f < ss[i].n_frames; f++)
            ids[i][f] = id_base + (uint64_t)ss[i].frames[f] + 1;
        smp[i].n_location_id = ss[i].n_frames;
        smp[i].location_id = ids[i];
        memcpy(vals[i], ss[i].v, sizeof(vals[i]));
        smp[i].n_value = 4;
        smp[i].value = vals[i];
        if (ss[i].tag) {
            perftools__profiles__label__init(&lab[i]);
            lab[i].key = 11;
            lab[i].str = strcmp(ss[i].tag, "x") == 0 ? 12 : 13;
            labp[i] = &lab[i];
            smp[i].n_label = 1;
            smp[i].label = &labp[i];
        }
        smpp[i] = &smp[i];
    }
    p.n_sample_type = 4;
    p.sample_type = vtp;
    p.n_sample = n;
    p.sample = smpp;
    p.n_location = 3;
    p.location = locp;
    p.n_function = 3;
    p.function = fnp;
    p.n_string_table = sizeof(STRS) / sizeof(STRS[0]);
    p.string_table = (char **)STRS;

    uint8_t *buf;
    size_t len;
    assert_int_equal(pg_delta_encode(&p, &buf, &len), 0);
    Perftools__Profiles__Profile *out = perftools__profiles__profile__unpack(NULL, len, buf);
    assert_non_null(out);
    char err[256];
    assert_int_equal(pg_pprof_validate(out, err, sizeof(err)), 0);
    free(buf);
    free(smp);
    free(smpp);
    free(ids);
    free(vals);
    free(lab);
    free(labp);
    return out;
}

/* Finds the sample whose first frame is function fn0, with n_frames frames and the given
 * tag (NULL = no label); returns NULL when it is not there (e.g. removed). */
static const Perftools__Profiles__Sample *find(const Perftools__Profiles__Profile *p,
                                               const char *fn0, size_t n_frames, const char *tag)
{
    for (size_t i = 0; i < p->n_sample; i++) {
        const Perftools__Profiles__Sample *s = p->sample[i];
        if (s->n_location_id != n_frames)
            continue;
        const Perftools__Profiles__Location *loc = NULL;
        for (size_t k = 0; k < p->n_location; k++)
            if (p->location[k]->id == s->location_id[0])
                loc = p->location[k];
        assert_non_null(loc);
        const Perftools__Profiles__Function *fn = NULL;
        for (size_t k = 0; k < p->n_function; k++)
            if (p->function[k]->id == loc->line[0]->function_id)
                fn = p->function[k];
        assert_non_null(fn);
        if (strcmp(p->string_table[fn->name], fn0) != 0)
            continue;
        const char *t = s->n_label ? p->string_table[s->label[0]->str] : NULL;
        if ((t == NULL) != (tag == NULL) || (t && strcmp(t, tag) != 0))
            continue;
        return s;
    }
    return NULL;
}

static void test_create_destroy(void **state)
{
    (void)state;
    pg_delta_destroy(NULL);
    struct pg_delta *d = pg_delta_create();
    assert_non_null(d);
    pg_delta_destroy(d);
}

static void test_prime_then_identical(void **state)
{
    (void)state;
    struct pg_delta *d = pg_delta_create();
    Perftools__Profiles__Profile *a = load("data/go_allocs.pb.gz");
    Perftools__Profiles__Profile *b = load("data/go_allocs.pb.gz");
    int ao = type_index(b, "alloc_objects"), as = type_index(b, "alloc_space");
    int io = type_index(b, "inuse_objects"), is = type_index(b, "inuse_space");
    assert_true(ao >= 0 && as >= 0 && io >= 0 && is >= 0);
    size_t n = a->n_sample, keep = 0;
    int64_t before = total(a, ao);
    for (size_t i = 0; i < b->n_sample; i++)
        keep += b->sample[i]->value[io] != 0 || b->sample[i]->value[is] != 0;
    assert_true(keep > 0 && keep < n); /* the fixture has both kinds of sample */

    int primed = -1;
    assert_int_equal(pg_delta_apply(d, a, ALLOC_TYPES, 2, &primed), 0);
    assert_int_equal(primed, 1);
    assert_int_equal(a->n_sample, n); /* priming changes nothing */
    assert_int_equal(total(a, ao), before);

    assert_int_equal(pg_delta_apply(d, b, ALLOC_TYPES, 2, &primed), 0);
    assert_int_equal(primed, 0);
    assert_int_equal(b->n_sample, keep);
    for (size_t i = 0; i < b->n_sample; i++) {
        assert_int_equal(b->sample[i]->value[ao], 0);
        assert_int_equal(b->sample[i]->value[as], 0);
        assert_true(b->sample[i]->value[io] != 0 || b->sample[i]->value[is] != 0);
    }
    pg_pprof_free(a);
    pg_pprof_free(b);
    pg_delta_destroy(d);
}

static void test_synthetic_exact(void **state)
{
    (void)state;
    struct pg_delta *d = pg_delta_create();
    int primed;
    /* a, b<-a, c<-b<-a, a{tag=x}, a{tag=y}, c */
    const struct ssample s1[] = {
        {{0}, 1, NULL, {10, 1000, 1, 100}},   {{1, 0}, 2, NULL, {5, 500, 0, 0}},
        {{2, 1, 0}, 3, NULL, {7, 700, 0, 0}}, {{0}, 1, "x", {3, 300, 0, 0}},
        {{0}, 1, "y", {4, 400, 0, 0}},        {{2}, 1, NULL, {100, 9000, 0, 0}},
    };
    /* grows a by (2,200), b<-a unchanged, c<-b<-a by (1,64), tag=x by (6,600), tag=y
     * unchanged, c shrinks (clamped), and a new stack b appears with (8,800) */
    const struct ssample s2[] = {
        {{0}, 1, NULL, {12, 1200, 1, 100}},   {{1, 0}, 2, NULL, {5, 500, 0, 0}},
        {{2, 1, 0}, 3, NULL, {8, 764, 0, 0}}, {{0}, 1, "x", {9, 900, 0, 0}},
        {{0}, 1, "y", {4, 400, 0, 0}},        {{2}, 1, NULL, {50, 4000, 0, 0}},
        {{1}, 1, NULL, {8, 800, 0, 0}},
    };
    /* third round under renumbered ids: same content must still match */
    const struct ssample s3[] = {
        {{0}, 1, NULL, {15, 1500, 0, 0}},
        {{1, 0}, 2, NULL, {5, 500, 0, 0}},
        {{2}, 1, NULL, {51, 4100, 0, 0}},
    };
    Perftools__Profiles__Profile *p1 = synth(s1, 6, 0);
    Perftools__Profiles__Profile *p2 = synth(s2, 7, 0);
    Perftools__Profiles__Profile *p3 = synth(s3, 3, 1000);
    int64_t t1o = total(p1, 0), t1s = total(p1, 1);
    int64_t t2o = total(p2, 0), t2s = total(p2, 1);

    assert_int_equal(pg_delta_apply(d, p1, ALLOC_TYPES, 2, &primed), 0);
    assert_int_equal(primed, 1);
    assert_int_equal(pg_delta_apply(d, p2, ALLOC_TYPES, 2, &primed), 0);
    assert_int_equal(primed, 0);

    const Perftools__Profiles__Sample *s;
    s = find(p2, "main.a", 1, NULL);
    assert_non_null(s);
    assert_int_equal(s->value[0], 2);
    assert_int_equal(s->value[1], 200);
    assert_int_equal(s->value[2], 1); /* non-delta values untouched */
    assert_int_equal(s->value[3], 100);
    assert_null(find(p2, "main.b", 2, NULL)); /* unchanged, no inuse: removed */
    s = find(p2, "main.c", 3, NULL);
    assert_non_null(s);
    assert_int_equal(s->value[0], 1);
    assert_int_equal(s->value[1], 64);
    s = find(p2, "main.a", 1, "x");
    assert_non_null(s);
    assert_int_equal(s->value[0], 6);
    assert_int_equal(s->value[1], 600);
    assert_null(find(p2, "main.a", 1, "y"));
    assert_null(find(p2, "main.c", 1, NULL)); /* shrank: clamped to 0, removed */
    s = find(p2, "main.b", 1, NULL);
    assert_non_null(s);
    assert_int_equal(s->value[0], 8);
    assert_int_equal(s->value[1], 800);
    assert_int_equal(p2->n_sample, 4);
    /* without clamping, the sum of deltas is the growth of the totals; here the shrink of
     * main.c (-50, -5000) was clamped away */
    assert_int_equal(total(p2, 0), t2o - t1o + 50);
    assert_int_equal(total(p2, 1), t2s - t1s + 5000);

    assert_int_equal(pg_delta_apply(d, p3, ALLOC_TYPES, 2, &primed), 0);
    assert_int_equal(primed, 0);
    assert_int_equal(p3->n_sample, 2);
    s = find(p3, "main.a", 1, NULL);
    assert_non_null(s);
    assert_int_equal(s->value[0], 3);
    assert_int_equal(s->value[1], 300);
    s = find(p3, "main.c", 1, NULL);
    assert_non_null(s);
    assert_int_equal(s->value[0], 1);
    assert_int_equal(s->value[1], 100);

    pg_pprof_free(p1);
    pg_pprof_free(p2);
    pg_pprof_free(p3);
    pg_delta_destroy(d);
}

static void test_duplicate_keys_merge(void **state)
{
    (void)state;
    struct pg_delta *d = pg_delta_create();
    int primed;
    const struct ssample s1[] = {{{0}, 1, NULL, {1, 10, 0, 0}}, {{0}, 1, NULL, {2, 20, 0, 0}}};
    const struct ssample s2[] = {{{0}, 1, NULL, {4, 40, 0, 0}}, {{0}, 1, NULL, {2, 20, 0, 0}}};
    Perftools__Profiles__Profile *p1 = synth(s1, 2, 0), *p2 = synth(s2, 2, 0);
    assert_int_equal(pg_delta_apply(d, p1, ALLOC_TYPES, 2, &primed), 0);
    assert_int_equal(pg_delta_apply(d, p2, ALLOC_TYPES, 2, &primed), 0);
    assert_int_equal(p2->n_sample, 1);
    assert_int_equal(p2->sample[0]->value[0], 3);
    assert_int_equal(p2->sample[0]->value[1], 30);
    pg_pprof_free(p1);
    pg_pprof_free(p2);
    pg_delta_destroy(d);
}

static void test_real_growth(void **state)
{
    (void)state;
    struct pg_delta *d = pg_delta_create();
    Perftools__Profiles__Profile *a = load("data/go_allocs.pb.gz");
    Perftools__Profiles__Profile *b = load("data/go_allocs.pb.gz");
    int ao = type_index(b, "alloc_objects"), as = type_index(b, "alloc_space");
    int64_t grow_o = 0, grow_s = 0;
    for (size_t i = 0; i < b->n_sample; i++) {
        if (i % 3 == 0)
            continue;
        b->sample[i]->value[ao] += (int64_t)i;
        b->sample[i]->value[as] += 64 * (int64_t)i;
        grow_o += (int64_t)i;
        grow_s += 64 * (int64_t)i;
    }
    int primed;
    assert_int_equal(pg_delta_apply(d, a, ALLOC_TYPES, 2, &primed), 0);
    assert_int_equal(pg_delta_apply(d, b, ALLOC_TYPES, 2, &primed), 0);
    assert_int_equal(primed, 0);
    assert_int_equal(total(b, ao), grow_o);
    assert_int_equal(total(b, as), grow_s);
    pg_pprof_free(a);
    pg_pprof_free(b);
    pg_delta_destroy(d);
}

static void test_missing_type(void **state)
{
    (void)state;
    struct pg_delta *d = pg_delta_create();
    Perftools__Profiles__Profile *a = load("data/go_allocs.pb.gz");
    Perftools__Profiles__Profile *m = load("data/go_mutex.pb.gz");
    static const char *const mutex_types[] = {"contentions", "delay"};
    static const char *const half[] = {"alloc_objects", "contentions"};
    int primed = 7;
    size_t n = a->n_sample;
    assert_int_equal(pg_delta_apply(d, a, mutex_types, 2, &primed), -1);
    assert_int_equal(pg_delta_apply(d, a, half, 2, &primed), -1);
    assert_int_equal(primed, 7);
    assert_int_equal(a->n_sample, n);
    assert_int_equal(pg_delta_apply(d, m, mutex_types, 2, &primed), 0);
    assert_int_equal(primed, 1);
    pg_pprof_free(a);
    pg_pprof_free(m);
    pg_delta_destroy(d);
}

static void test_encode_roundtrip(void **state)
{
    (void)state;
    struct pg_delta *d = pg_delta_create();
    Perftools__Profiles__Profile *a = load("data/go_allocs.pb.gz");
    Perftools__Profiles__Profile *b = load("data/go_allocs.pb.gz");
    int ao = type_index(b, "alloc_objects");
    for (size_t i = 0; i < b->n_sample; i++)
        b->sample[i]->value[ao] += 1;
    int primed;
    assert_int_equal(pg_delta_apply(d, a, ALLOC_TYPES, 2, &primed), 0);
    assert_int_equal(pg_delta_apply(d, b, ALLOC_TYPES, 2, &primed), 0);
    assert_true(b->n_sample > 0);
    uint8_t *buf;
    size_t len;
    assert_int_equal(pg_delta_encode(b, &buf, &len), 0);
    assert_true(len > 0);
    Perftools__Profiles__Profile *c = perftools__profiles__profile__unpack(NULL, len, buf);
    assert_non_null(c);
    char err[256];
    assert_int_equal(pg_pprof_validate(c, err, sizeof(err)), 0);
    assert_int_equal(c->n_sample, b->n_sample);
    assert_int_equal(c->n_sample_type, b->n_sample_type);
    for (size_t i = 0; i < c->n_sample; i++) {
        assert_int_equal(c->sample[i]->n_value, b->sample[i]->n_value);
        for (size_t v = 0; v < c->sample[i]->n_value; v++)
            assert_int_equal(c->sample[i]->value[v], b->sample[i]->value[v]);
        assert_int_equal(c->sample[i]->n_location_id, b->sample[i]->n_location_id);
    }
    assert_int_equal(pg_delta_encode(NULL, &buf, &len), -1);
    perftools__profiles__profile__free_unpacked(c, NULL);
    free(buf);
    pg_pprof_free(a);
    pg_pprof_free(b);
    pg_delta_destroy(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_destroy),   cmocka_unit_test(test_prime_then_identical),
        cmocka_unit_test(test_synthetic_exact),  cmocka_unit_test(test_duplicate_keys_merge),
        cmocka_unit_test(test_real_growth),      cmocka_unit_test(test_missing_type),
        cmocka_unit_test(test_encode_roundtrip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
