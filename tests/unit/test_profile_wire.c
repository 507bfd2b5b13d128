/* test_profile_wire.c - the streaming pprof check (profile/wire.c) and pg_pprof_prepare:
 * real Go profiles pass, each rule fails with its reason on a hand-made profile, body checks
 * (empty, HTML, JSON, gzip limit), and on mutated real profiles whatever the wire check
 * accepts, protobuf-c decodes and pg_pprof_validate accepts. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "profile/gz.h"
#include "profile/pprof.h"
#include "profile/wire.h"
#include "testutil.h"

#define LIMIT (16u << 20)

static void test_go_profiles(void **state)
{
    (void)state;
    const char *files[] = {"data/go_allocs.pb.gz", "data/go_goroutine.pb.gz",
                           "data/go_mutex.pb.gz"};
    for (int i = 0; i < 3; i++) {
        size_t len, rawlen, rl2;
        uint8_t *body = pg_test_slurp(files[i], &len), *raw, *raw2;
        char err[256];
        assert_int_equal(pg_pprof_prepare(body, len, NULL, LIMIT, &raw, &rawlen, err, sizeof(err)),
                         0);
        assert_int_equal(pg_pprof_wire_check(raw, rawlen, err, sizeof(err)), 0);
        /* raw protobuf is accepted as is */
        assert_int_equal(pg_pprof_prepare(raw, rawlen, NULL, LIMIT, &raw2, &rl2, err, sizeof(err)),
                         0);
        assert_int_equal(rl2, rawlen);
        assert_memory_equal(raw, raw2, rawlen);
        /* over the limit */
        assert_int_equal(
            pg_pprof_prepare(body, len, NULL, 100, &raw2 /* untouched */, &rl2, err, sizeof(err)),
            -1);
        assert_non_null(strstr(err, "exceeds limit"));
        free(raw2);
        free(raw);
        free(body);
    }
}

static void test_body_checks(void **state)
{
    (void)state;
    uint8_t *raw = NULL;
    size_t rl;
    char err[256];
    const char *html = "  <!DOCTYPE html><html></html>", *json = "{\"a\":1}";
    assert_int_equal(pg_pprof_prepare((const uint8_t *)"", 0, NULL, LIMIT, &raw, &rl, err, 256),
                     -1);
    assert_string_equal(err, "empty body");
    assert_int_equal(pg_pprof_prepare((const uint8_t *)html, strlen(html), NULL, LIMIT, &raw, &rl,
                                      err, sizeof(err)),
                     -1);
    assert_non_null(strstr(err, "HTML"));
    assert_int_equal(pg_pprof_prepare((const uint8_t *)json, strlen(json), NULL, LIMIT, &raw, &rl,
                                      err, sizeof(err)),
                     -1);
    assert_non_null(strstr(err, "JSON"));
    assert_int_equal(pg_pprof_prepare((const uint8_t *)"\x0a\x02", 2, "text/html; charset=utf-8",
                                      LIMIT, &raw, &rl, err, sizeof(err)),
                     -1);
    assert_non_null(strstr(err, "HTML"));
    assert_null(raw);
}

/* ---- hand-made profiles ---- */

struct buf {
    uint8_t b[512];
    size_t n;
};

static void put_v(struct buf *b, uint64_t v)
{
    while (v >= 0x80) {
        b->b[b->n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    b->b[b->n++] = (uint8_t)v;
}

static void put_tag(struct buf *b, unsigned f, unsigned wt)
{
    put_v(b, (uint64_t)f << 3 | wt);
}

static void put_msg(struct buf *b, unsigned f, const struct buf *m)
{
    put_tag(b, f, 2);
    put_v(b, m->n);
    memcpy(b->b + b->n, m->b, m->n);
    b->n += m->n;
}

static void put_str(struct buf *b, const char *s)
{
    put_tag(b, 6, 2);
    put_v(b, strlen(s));
    memcpy(b->b + b->n, s, strlen(s));
    b->n += strlen(s);
}

/* A valid profile: strings "", "count", "main", sample type count/count, function 1, location
 * 1 -> function 1, one sample [1] value 5; each knob breaks one rule. */
struct knobs {
    int first_str, stype_idx, fn_name, loc_fn, sample_loc, n_values, label_key, wt_bad, map_id;
};

static void build(const struct knobs *k, struct buf *out)
{
    struct buf m = {0};
    memset(out, 0, sizeof(*out));
    put_tag(&m, 1, 0), put_v(&m, (uint64_t)k->stype_idx), put_tag(&m, 2, 0), put_v(&m, 1);
    put_msg(out, 1, &m);
    memset(&m, 0, sizeof(m)); /* sample */
    put_tag(&m, 1, 2), put_v(&m, 1), put_v(&m, (uint64_t)k->sample_loc);
    put_tag(&m, 2, 2), put_v(&m, (uint64_t)k->n_values);
    for (int i = 0; i < k->n_values; i++)
        put_v(&m, 5);
    struct buf l = {0};
    put_tag(&l, 1, 0), put_v(&l, (uint64_t)k->label_key), put_tag(&l, 2, 0), put_v(&l, 2);
    put_msg(&m, 3, &l);
    put_msg(out, 2, &m);
    memset(&m, 0, sizeof(m)); /* location */
    struct buf ln = {0};
    put_tag(&ln, 1, 0), put_v(&ln, (uint64_t)k->loc_fn), put_tag(&ln, 2, 0), put_v(&ln, 7);
    put_tag(&m, 1, 0), put_v(&m, 1);
    if (k->map_id)
        put_tag(&m, 2, 0), put_v(&m, (uint64_t)k->map_id);
    put_msg(&m, 4, &ln);
    put_msg(out, 4, &m);
    memset(&m, 0, sizeof(m)); /* function */
    put_tag(&m, 1, 0), put_v(&m, 1), put_tag(&m, 2, 0), put_v(&m, (uint64_t)k->fn_name);
    put_msg(out, 5, &m);
    put_str(out, k->first_str ? "x" : "");
    put_str(out, "count");
    put_str(out, "main");
    if (k->wt_bad)
        put_tag(out, 9, 2), put_v(out, 0); /* time_nanos as a length-delimited field */
}

static void expect(const struct knobs *k, const char *why)
{
    struct buf b;
    char err[256] = "";
    build(k, &b);
    int rc = pg_pprof_wire_check(b.b, b.n, err, sizeof(err));
    Perftools__Profiles__Profile *p = perftools__profiles__profile__unpack(NULL, b.n, b.b);
    if (!why) {
        assert_int_equal(rc, 0);
        assert_non_null(p);
        assert_int_equal(pg_pprof_validate(p, err, sizeof(err)), 0);
    } else {
        assert_int_equal(rc, -1);
        assert_non_null(strstr(err, why));
    }
    pg_pprof_free(p);
}

static void test_rules(void **state)
{
    (void)state;
    const struct knobs ok = {0, 1, 2, 1, 1, 1, 1, 0, 0};
    struct knobs k = ok;
    expect(&k, NULL);
    k = ok, k.first_str = 1, expect(&k, "string table must start with the empty string");
    k = ok, k.stype_idx = 3, expect(&k, "sample type string index 3 out of range");
    k = ok, k.fn_name = 9, expect(&k, "function name string index 9 out of range");
    k = ok, k.label_key = 5, expect(&k, "label key string index 5 out of range");
    k = ok, k.n_values = 2, expect(&k, "sample 0 has 2 values for 1 sample types");
    k = ok, k.sample_loc = 2, expect(&k, "references missing location 2");
    k = ok, k.loc_fn = 4, expect(&k, "references missing function 4");
    k = ok, k.loc_fn = 0, expect(&k, NULL); /* function id 0 = none */
    k = ok, k.map_id = 3, expect(&k, "references missing mapping 3");
    k = ok, k.wt_bad = 1, expect(&k, "not a valid protobuf");
    struct buf b;
    char err[256];
    build(&ok, &b);
    for (size_t cut = 1; cut < b.n; cut++)
        if (pg_pprof_wire_check(b.b, cut, err, sizeof(err)) == 0) /* a cut at a field end */
            assert_non_null(perftools__profiles__profile__unpack(NULL, cut, b.b) ? "" : NULL);
    uint8_t none[1];
    assert_int_equal(pg_pprof_wire_check(none, 0, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "string table"));
}

/* Differential: the wire check accepts nothing protobuf-c + pg_pprof_validate reject. */
static void test_mutations(void **state)
{
    (void)state;
    size_t len, rawlen;
    uint8_t *body = pg_test_slurp("data/go_mutex.pb.gz", &len), *raw;
    char err[256];
    assert_int_equal(pg_pprof_prepare(body, len, NULL, LIMIT, &raw, &rawlen, err, sizeof(err)), 0);
    uint8_t *m = malloc(rawlen);
    uint32_t s = 7;
    int accepted = 0;
    for (int it = 0; it < 3000; it++) {
        memcpy(m, raw, rawlen);
        for (int j = 0; j < 1 + it % 3; j++) {
            s = s * 1103515245u + 12345u;
            size_t at = (s >> 8) % rawlen;
            s = s * 1103515245u + 12345u;
            m[at] = (uint8_t)(s >> 16);
        }
        if (pg_pprof_wire_check(m, rawlen, err, sizeof(err)) != 0)
            continue;
        accepted++;
        Perftools__Profiles__Profile *p = perftools__profiles__profile__unpack(NULL, rawlen, m);
        assert_non_null(p);
        assert_int_equal(pg_pprof_validate(p, err, sizeof(err)), 0);
        pg_pprof_free(p);
    }
    assert_true(accepted > 0);
    free(m);
    free(raw);
    free(body);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_go_profiles),
        cmocka_unit_test(test_body_checks),
        cmocka_unit_test(test_rules),
        cmocka_unit_test(test_mutations),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    pg_profile_thread_release();
    return rc;
}
