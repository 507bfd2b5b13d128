/* test_profile_fastdelta.c - the streaming wire-format delta (profile/fastdelta.c): priming,
 * real Go profiles, a property test on random cumulative profile pairs with renumbered ids
 * (previous + delta == current per stack, non-delta'd values unchanged, zero deltas dropped,
 * pruned output valid), resets, equivalence with pg_delta_apply, type changes, errors, state
 * size, mutated input failing safely, and the generator's heap profile (tests/bench/heapgen.h,
 * linked in by tests/bench/CMakeLists.txt). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "fdtest.h"
#include "heapgen.h"
#include "delta_ref.h"
#include "profile/fastdelta.h"
#include "profile/pprof.h"
#include "profile/wire.h"
#include "testutil.h"

#define LIMIT (16u << 20)

static const char *const ALLOC[] = {"alloc_objects", "alloc_space"};

static uint8_t *load_raw(const char *path, size_t *rawlen)
{
    size_t len;
    uint8_t *body = pg_test_slurp(path, &len), *raw;
    char err[256];
    assert_int_equal(pg_pprof_prepare(body, len, NULL, LIMIT, &raw, rawlen, err, sizeof(err)), 0);
    free(body);
    return raw;
}

/* Unpacks and validates an output; fails the test if it is not a valid pprof. */
static Perftools__Profiles__Profile *decode_ok(const uint8_t *b, size_t len)
{
    char err[256];
    assert_int_equal(pg_pprof_wire_check(b, len, err, sizeof(err)), 0);
    Perftools__Profiles__Profile *p = perftools__profiles__profile__unpack(NULL, len, b);
    assert_non_null(p);
    assert_int_equal(pg_pprof_validate(p, err, sizeof(err)), 0);
    return p;
}

static void test_new_free(void **state)
{
    (void)state;
    pg_fastdelta_free(NULL);
    struct pg_fastdelta *d = pg_fastdelta_new();
    assert_non_null(d);
    assert_true(pg_fastdelta_state_bytes(d) > 0);
    pg_fastdelta_free(d);
}

/* A real Go allocs profile twice: primes, then every alloc delta is 0, so exactly the samples
 * with non-zero inuse values are kept, with inuse values unchanged. */
static void test_go_allocs_same_twice(void **state)
{
    (void)state;
    size_t len;
    uint8_t *raw = load_raw("data/go_allocs.pb.gz", &len);
    Perftools__Profiles__Profile *in = perftools__profiles__profile__unpack(NULL, len, raw);
    assert_non_null(in);
    size_t want = 0;
    for (size_t i = 0; i < in->n_sample; i++)
        want += in->sample[i]->value[2] != 0 || in->sample[i]->value[3] != 0;
    struct pg_fastdelta *d = pg_fastdelta_new();
    struct pg_fastdelta_result r;
    char err[256];
    assert_int_equal(pg_fastdelta_apply(d, raw, len, ALLOC, 2, &r, err, sizeof(err)), 0);
    assert_int_equal(r.primed, 1);
    assert_null(r.out);
    assert_int_equal(r.samples_in, in->n_sample);
    assert_int_equal(pg_fastdelta_apply(d, raw, len, ALLOC, 2, &r, err, sizeof(err)), 0);
    assert_int_equal(r.primed, 0);
    assert_int_equal(r.reset, 0);
    assert_non_null(r.out);
    assert_int_equal(r.samples_out, want);
    Perftools__Profiles__Profile *out = decode_ok(r.out, r.len);
    assert_int_equal(out->n_sample, want);
    int64_t in_inuse = 0, out_inuse = 0;
    for (size_t i = 0; i < in->n_sample; i++)
        in_inuse += in->sample[i]->value[3];
    for (size_t i = 0; i < out->n_sample; i++) {
        assert_int_equal(out->sample[i]->value[0], 0);
        assert_int_equal(out->sample[i]->value[1], 0);
        out_inuse += out->sample[i]->value[3];
    }
    assert_int_equal(in_inuse, out_inuse);
    assert_true(out->n_location <= in->n_location);
    assert_int_equal(out->n_string_table, in->n_string_table);
    /* the output deltas itself fine, too (state keeps working) */
    perftools__profiles__profile__free_unpacked(out, NULL);
    perftools__profiles__profile__free_unpacked(in, NULL);
    free(r.out);
    free(raw);
    pg_fastdelta_free(d);
}

/* Mutex: all types delta'd (n_types 0): the same profile twice leaves nothing. */
static void test_go_mutex_all_types(void **state)
{
    (void)state;
    size_t len;
    uint8_t *raw = load_raw("data/go_mutex.pb.gz", &len);
    struct pg_fastdelta *d = pg_fastdelta_new();
    struct pg_fastdelta_result r;
    char err[256];
    assert_int_equal(pg_fastdelta_apply(d, raw, len, NULL, 0, &r, err, sizeof(err)), 0);
    assert_int_equal(r.primed, 1);
    assert_int_equal(pg_fastdelta_apply(d, raw, len, NULL, 0, &r, err, sizeof(err)), 0);
    assert_int_equal(r.samples_out, 0);
    Perftools__Profiles__Profile *out = decode_ok(r.out, r.len);
    assert_int_equal(out->n_sample, 0);
    assert_int_equal(out->n_location, 0);
    assert_int_equal(out->n_function, 0);
    perftools__profiles__profile__free_unpacked(out, NULL);
    free(r.out);
    free(raw);
    pg_fastdelta_free(d);
}

/* ---- property test ---- */

struct pair {
    struct universe u;
    int64_t v0[U_MAXSTK][4], v1[U_MAXSTK][4];
};

static int64_t rnd_val(uint32_t *s)
{
    return fd_rand(s) % 3 == 0 ? 0 : (int64_t)(fd_rand(s) % 100000);
}

static void make_pair(struct pair *pp, uint32_t seed)
{
    universe_init(&pp->u, seed, 20 + fd_rand(&seed) % (U_MAXSTK - 20));
    for (size_t s = 0; s < pp->u.n_stack; s++) {
        int in0 = fd_rand(&seed) % 5 != 0,
            in1 = in0 ? fd_rand(&seed) % 10 != 0 : fd_rand(&seed) % 2;
        for (int t = 0; t < 4; t++)
            pp->v0[s][t] = in0 ? rnd_val(&seed) : -1;
        for (int t = 0; t < 4; t++) {
            int64_t inc = fd_rand(&seed) % 3 == 0 ? 0 : (int64_t)(fd_rand(&seed) % 1000);
            pp->v1[s][t] = !in1 ? -1 : t >= 2 ? rnd_val(&seed) : (in0 ? pp->v0[s][t] : 0) + inc;
        }
    }
}

/* Checks out against the content views of the two inputs (with addresses). */
static void check_delta(const Perftools__Profiles__Profile *p0,
                        const Perftools__Profiles__Profile *p1,
                        const Perftools__Profiles__Profile *out)
{
    struct centry *e0, *e1, *eo;
    size_t n0 = content_view(p0, 1, &e0), n1 = content_view(p1, 1, &e1),
           no = content_view(out, 1, &eo), want = 0;
    for (size_t i = 0; i < n1; i++) {
        const struct centry *prev = cfind(e0, n0, e1[i].key);
        int64_t exp[4];
        for (int t = 0; t < 4; t++)
            exp[t] = t < 2 ? e1[i].v[t] - (prev ? prev->v[t] : 0) : e1[i].v[t];
        for (int t = 0; t < 2; t++) /* a stack that went down is clamped to 0 */
            exp[t] = exp[t] < 0 ? 0 : exp[t];
        int nz = exp[0] || exp[1] || exp[2] || exp[3];
        const struct centry *got = cfind(eo, no, e1[i].key);
        if (!nz) {
            assert_null(got);
            continue;
        }
        want++;
        assert_non_null(got);
        for (int t = 0; t < 4; t++)
            assert_int_equal(got->v[t], exp[t]);
    }
    assert_int_equal(no, want);
    free(e0);
    free(e1);
    free(eo);
}

/* pg_delta_apply on the same inputs gives the same content (by lines, without addresses). */
static void check_equivalent(const uint8_t *b0, size_t l0, const uint8_t *b1, size_t l1,
                             const Perftools__Profiles__Profile *out)
{
    Perftools__Profiles__Profile *a = perftools__profiles__profile__unpack(NULL, l0, b0);
    Perftools__Profiles__Profile *b = perftools__profiles__profile__unpack(NULL, l1, b1);
    struct pg_delta *d = pg_delta_create();
    int primed;
    assert_int_equal(pg_delta_apply(d, a, ALLOC, 2, &primed), 0);
    assert_int_equal(pg_delta_apply(d, b, ALLOC, 2, &primed), 0);
    struct centry *eb, *eo;
    size_t nb = content_view(b, 0, &eb), no = content_view(out, 0, &eo);
    assert_int_equal(nb, no);
    for (size_t i = 0; i < nb; i++) {
        const struct centry *g = cfind(eo, no, eb[i].key);
        assert_non_null(g);
        assert_memory_equal(g->v, eb[i].v, sizeof(g->v));
    }
    free(eb);
    free(eo);
    pg_delta_destroy(d);
    perftools__profiles__profile__free_unpacked(a, NULL);
    perftools__profiles__profile__free_unpacked(b, NULL);
}

static void test_property(void **state)
{
    (void)state;
    struct pair *pp = malloc(sizeof(*pp));
    char err[256];
    for (uint32_t seed = 1; seed <= 150; seed++) {
        make_pair(pp, seed * 2654435761u);
        size_t l0, l1;
        uint8_t *b0 = encode_profile(&pp->u, pp->v0, seed, &l0);
        uint8_t *b1 = encode_profile(&pp->u, pp->v1, seed + 7777, &l1);
        struct pg_fastdelta *d = pg_fastdelta_new();
        struct pg_fastdelta_result r;
        assert_int_equal(pg_fastdelta_apply(d, b0, l0, ALLOC, 2, &r, err, sizeof(err)), 0);
        assert_int_equal(r.primed, 1);
        assert_int_equal(pg_fastdelta_apply(d, b1, l1, ALLOC, 2, &r, err, sizeof(err)), 0);
        assert_int_equal(r.primed | r.reset, 0);
        Perftools__Profiles__Profile *p0 = perftools__profiles__profile__unpack(NULL, l0, b0);
        Perftools__Profiles__Profile *p1 = perftools__profiles__profile__unpack(NULL, l1, b1);
        Perftools__Profiles__Profile *out = decode_ok(r.out, r.len);
        check_delta(p0, p1, out);
        check_equivalent(b0, l0, b1, l1, out);
        /* no dangling references: every kept location/function is used */
        for (size_t i = 0; i < out->n_function; i++)
            assert_true(out->string_table[out->function[i]->name][0] != '\0');
        perftools__profiles__profile__free_unpacked(out, NULL);
        perftools__profiles__profile__free_unpacked(p0, NULL);
        perftools__profiles__profile__free_unpacked(p1, NULL);
        free(r.out);
        free(b0);
        free(b1);
        pg_fastdelta_free(d);
    }
    free(pp);
}

/* A counter going down for a known stack restarts the baseline: nothing emitted, reset
 * reported, and the next scrape deltas against the reset profile. */
/* One stack going down is no restart (Go scales heap samples by their average size, so
 * a stack's alloc_objects can shrink): its delta is clamped to 0, the rest is sent. */
static void test_stack_down_is_clamped(void **state)
{
    (void)state;
    struct pair *pp = malloc(sizeof(*pp));
    char err[256];
    make_pair(pp, 4242);
    size_t s = 0;
    while (pp->v1[s][0] <= 0 || pp->v0[s][0] <= 0)
        s++;
    pp->v1[s][0] = pp->v0[s][0] - 1;
    size_t l0, l1;
    uint8_t *b0 = encode_profile(&pp->u, pp->v0, 1, &l0);
    uint8_t *b1 = encode_profile(&pp->u, pp->v1, 2, &l1);
    struct pg_fastdelta *d = pg_fastdelta_new();
    struct pg_fastdelta_result r;
    assert_int_equal(pg_fastdelta_apply(d, b0, l0, ALLOC, 2, &r, err, sizeof(err)), 0);
    assert_int_equal(pg_fastdelta_apply(d, b1, l1, ALLOC, 2, &r, err, sizeof(err)), 0);
    assert_int_equal(r.reset | r.primed, 0);
    Perftools__Profiles__Profile *p0 = perftools__profiles__profile__unpack(NULL, l0, b0);
    Perftools__Profiles__Profile *p1 = perftools__profiles__profile__unpack(NULL, l1, b1);
    Perftools__Profiles__Profile *out = decode_ok(r.out, r.len);
    check_delta(p0, p1, out); /* expects max(0, current - previous) */
    for (size_t i = 0; i < out->n_sample; i++)
        assert_true(out->sample[i]->value[0] >= 0 && out->sample[i]->value[1] >= 0);
    perftools__profiles__profile__free_unpacked(out, NULL);
    perftools__profiles__profile__free_unpacked(p0, NULL);
    perftools__profiles__profile__free_unpacked(p1, NULL);
    free(r.out);
    free(b0);
    free(b1);
    free(pp);
    pg_fastdelta_free(d);
}

/* A restart: over the stacks seen before, every delta'd total went down. The baseline
 * restarts there, nothing is sent, and the next scrape is a delta against it. */
static void test_reset(void **state)
{
    (void)state;
    struct pair *pp = malloc(sizeof(*pp));
    char err[256];
    make_pair(pp, 4242);
    size_t l0, l2, l3;
    uint8_t *b0 = encode_profile(&pp->u, pp->v0, 1, &l0);
    int64_t(*v2)[4] = malloc(sizeof(pp->v1));
    memcpy(v2, pp->v1, sizeof(pp->v1));
    for (size_t k = 0; k < pp->u.n_stack; k++)
        if (v2[k][0] >= 0 && pp->v0[k][0] >= 0)
            v2[k][0] = pp->v0[k][0] / 2, v2[k][1] = pp->v0[k][1] / 2;
    uint8_t *b2 = encode_profile(&pp->u, v2, 2, &l2);
    struct pg_fastdelta *d = pg_fastdelta_new();
    struct pg_fastdelta_result r;
    assert_int_equal(pg_fastdelta_apply(d, b0, l0, ALLOC, 2, &r, err, sizeof(err)), 0);
    assert_int_equal(pg_fastdelta_apply(d, b2, l2, ALLOC, 2, &r, err, sizeof(err)), 0);
    assert_int_equal(r.reset, 1);
    assert_int_equal(r.primed, 0);
    assert_null(r.out);
    /* next: v3 = v2 + 10 on alloc_objects of every present stack */
    for (size_t k = 0; k < pp->u.n_stack; k++)
        if (v2[k][0] >= 0)
            pp->v1[k][0] = v2[k][0] + 10, pp->v1[k][1] = v2[k][1], pp->v1[k][2] = 0,
            pp->v1[k][3] = 0;
        else
            memcpy(pp->v1[k], v2[k], sizeof(v2[k]));
    uint8_t *b3 = encode_profile(&pp->u, pp->v1, 3, &l3);
    assert_int_equal(pg_fastdelta_apply(d, b3, l3, ALLOC, 2, &r, err, sizeof(err)), 0);
    assert_int_equal(r.reset | r.primed, 0);
    Perftools__Profiles__Profile *p2 = perftools__profiles__profile__unpack(NULL, l2, b2);
    Perftools__Profiles__Profile *p3 = perftools__profiles__profile__unpack(NULL, l3, b3);
    Perftools__Profiles__Profile *out = decode_ok(r.out, r.len);
    check_delta(p2, p3, out);
    assert_true(out->n_sample > 0);
    for (size_t i = 0; i < out->n_sample; i++)
        assert_true(out->sample[i]->value[0] % 10 == 0 && out->sample[i]->value[0] > 0);
    perftools__profiles__profile__free_unpacked(out, NULL);
    perftools__profiles__profile__free_unpacked(p2, NULL);
    perftools__profiles__profile__free_unpacked(p3, NULL);
    free(r.out);
    free(b0);
    free(b2);
    free(b3);
    free(v2);
    free(pp);
    pg_fastdelta_free(d);
}

/* Other delta'd types than before: primes again. */
static void test_types_change(void **state)
{
    (void)state;
    size_t len;
    uint8_t *raw = load_raw("data/go_allocs.pb.gz", &len);
    struct pg_fastdelta *d = pg_fastdelta_new();
    struct pg_fastdelta_result r;
    char err[256];
    static const char *const ONE[] = {"alloc_space"};
    assert_int_equal(pg_fastdelta_apply(d, raw, len, ALLOC, 2, &r, err, sizeof(err)), 0);
    assert_int_equal(r.primed, 1);
    assert_int_equal(pg_fastdelta_apply(d, raw, len, ONE, 1, &r, err, sizeof(err)), 0);
    assert_int_equal(r.primed, 1);
    assert_int_equal(pg_fastdelta_apply(d, raw, len, ONE, 1, &r, err, sizeof(err)), 0);
    assert_int_equal(r.primed, 0);
    free(r.out);
    free(raw);
    pg_fastdelta_free(d);
}

/* Errors leave the state as it was. */
static void test_errors(void **state)
{
    (void)state;
    size_t len;
    uint8_t *raw = load_raw("data/go_allocs.pb.gz", &len);
    struct pg_fastdelta *d = pg_fastdelta_new();
    struct pg_fastdelta_result r;
    char err[256] = "";
    static const char *const NOPE[] = {"contentions"};
    assert_int_equal(pg_fastdelta_apply(d, raw, len, NOPE, 1, &r, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "contentions"));
    assert_null(r.out);
    assert_int_equal(pg_fastdelta_apply(d, raw, len, ALLOC, 2, &r, err, sizeof(err)), 0);
    assert_int_equal(r.primed, 1);
    size_t before = pg_fastdelta_state_bytes(d);
    assert_int_equal(pg_fastdelta_apply(d, raw, len / 2, ALLOC, 2, &r, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "pprof"));
    assert_int_equal(pg_fastdelta_apply(d, raw, len, NOPE, 1, &r, err, sizeof(err)), -1);
    assert_int_equal(pg_fastdelta_state_bytes(d), before);
    assert_int_equal(pg_fastdelta_apply(d, raw, len, ALLOC, 2, &r, err, sizeof(err)), 0);
    assert_int_equal(r.primed, 0); /* still primed from before the errors */
    assert_non_null(r.out);
    free(r.out);
    free(raw);
    pg_fastdelta_free(d);
}

/* <= 32 bytes per distinct stack for 2 delta'd types (plus the header). */
static void test_state_bytes(void **state)
{
    (void)state;
    size_t len;
    uint8_t *raw = load_raw("data/go_allocs.pb.gz", &len);
    struct pg_fastdelta *d = pg_fastdelta_new();
    struct pg_fastdelta_result r;
    char err[256];
    assert_int_equal(pg_fastdelta_apply(d, raw, len, ALLOC, 2, &r, err, sizeof(err)), 0);
    size_t n = r.samples_in, bytes = pg_fastdelta_state_bytes(d);
    assert_true(n > 0);
    assert_true(bytes <= 64 + 32 * n);
    free(raw);
    pg_fastdelta_free(d);
}

/* Mutated bodies fail cleanly or give a valid pprof (run under ASan). */
static void test_mutations(void **state)
{
    (void)state;
    size_t len;
    uint8_t *raw = load_raw("data/go_allocs.pb.gz", &len);
    uint8_t *m = malloc(len);
    uint32_t seed = 99;
    char err[256];
    for (int it = 0; it < 600; it++) {
        memcpy(m, raw, len);
        size_t mlen = len;
        int k = 1 + (int)(fd_rand(&seed) % 4);
        for (int j = 0; j < k; j++)
            m[fd_rand(&seed) % len] = (uint8_t)fd_rand(&seed);
        if (it % 5 == 0)
            mlen = fd_rand(&seed) % len;
        struct pg_fastdelta *d = pg_fastdelta_new();
        struct pg_fastdelta_result r;
        for (int pass = 0; pass < 2; pass++) {
            const uint8_t *b = pass ? m : raw;
            size_t bl = pass ? mlen : len;
            if (pg_fastdelta_apply(d, b, bl, ALLOC, 2, &r, err, sizeof(err)) == 0 && r.out) {
                Perftools__Profiles__Profile *p = decode_ok(r.out, r.len);
                perftools__profiles__profile__free_unpacked(p, NULL);
                free(r.out);
            }
        }
        pg_fastdelta_free(d);
    }
    free(m);
    free(raw);
}

/* The generator's heap profile (tests/bench/heapgen.h) over a few epochs: deltas match the
 * content views and pg_delta_apply; on the default 3000-stack shape the output validates and
 * the state stays <= 32 bytes per stack. */
static void test_heapgen(void **state)
{
    (void)state;
    struct pg_heapgen_params hp;
    pg_heapgen_default(&hp);
    hp.n_stacks = 300;
    hp.n_functions = 600;
    char err[256];
    struct pg_fastdelta *d = pg_fastdelta_new();
    struct pg_fastdelta_result r;
    uint8_t *prev = NULL;
    size_t prevlen = 0;
    for (unsigned e = 0; e < 4; e++) {
        uint8_t *pb;
        size_t len;
        assert_int_equal(pg_heapgen_profile(&hp, e, &pb, &len), 0);
        assert_int_equal(pg_fastdelta_apply(d, pb, len, ALLOC, 2, &r, err, sizeof(err)), 0);
        assert_int_equal(r.primed, e == 0);
        assert_int_equal(r.reset, 0);
        if (e > 0) {
            Perftools__Profiles__Profile *p0 =
                perftools__profiles__profile__unpack(NULL, prevlen, prev);
            Perftools__Profiles__Profile *p1 = perftools__profiles__profile__unpack(NULL, len, pb);
            Perftools__Profiles__Profile *out = decode_ok(r.out, r.len);
            assert_true(out->n_sample > 0 && out->n_sample <= p1->n_sample);
            check_delta(p0, p1, out);
            check_equivalent(prev, prevlen, pb, len, out);
            perftools__profiles__profile__free_unpacked(out, NULL);
            perftools__profiles__profile__free_unpacked(p0, NULL);
            perftools__profiles__profile__free_unpacked(p1, NULL);
            free(r.out);
        }
        free(prev);
        prev = pb;
        prevlen = len;
    }
    free(prev);
    pg_fastdelta_free(d);

    pg_heapgen_default(&hp);
    d = pg_fastdelta_new();
    for (unsigned e = 3; e < 5; e++) {
        uint8_t *pb;
        size_t len;
        assert_int_equal(pg_heapgen_profile(&hp, e, &pb, &len), 0);
        assert_int_equal(pg_fastdelta_apply(d, pb, len, ALLOC, 2, &r, err, sizeof(err)), 0);
        assert_int_equal(r.samples_in, hp.n_stacks);
        assert_true(pg_fastdelta_state_bytes(d) <= 64 + 32 * hp.n_stacks);
        if (r.out) {
            Perftools__Profiles__Profile *out = decode_ok(r.out, r.len);
            assert_int_equal(out->n_sample, r.samples_out);
            perftools__profiles__profile__free_unpacked(out, NULL);
            free(r.out);
        }
        free(pb);
    }
    pg_fastdelta_free(d);
}

static size_t put_varint(uint8_t *o, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        o[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    o[n++] = (uint8_t)v;
    return n;
}

/* Varint v with one byte more than needed (a valid overlong encoding). */
static size_t put_overlong(uint8_t *o, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        o[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    o[n++] = (uint8_t)(v | 0x80);
    o[n++] = 0;
    return n;
}

/* pb with some mapping, location, function and string fields' headers overlong (the tag on
 * every 3rd, the length on every 2nd): the same profile to a decoder. */
static uint8_t *overlong_headers(const uint8_t *pb, size_t len, size_t *olen)
{
    uint8_t *o = malloc(2 * len + 64);
    assert_non_null(o);
    const uint8_t *p = pb, *end = pb + len;
    struct pg_pb_field f;
    size_t w = 0, k = 0;
    while (pg_pb_next(&p, end, &f) == 1) {
        if (f.num < 3 || f.num > 6 || f.wt != PG_WT_LEN || k++ % 6 == 5) {
            memcpy(o + w, f.start, (size_t)(p - f.start));
            w += (size_t)(p - f.start);
            continue;
        }
        uint8_t tag = (uint8_t)(f.num << 3 | PG_WT_LEN);
        if (k % 3 == 0)
            w += put_overlong(o + w, tag);
        else
            o[w++] = tag;
        if (k % 2 == 0)
            w += put_overlong(o + w, f.len);
        else
            w += put_varint(o + w, f.len);
        memcpy(o + w, f.data, f.len);
        w += f.len;
    }
    *olen = w;
    return o;
}

/* Kept mappings, locations, functions and strings are written with canonical headers whatever
 * the input's (runs of canonical input fields are copied as they are): the output of a
 * profile with overlong headers is byte for byte that of the same profile encoded
 * canonically. */
static void test_overlong_headers(void **state)
{
    (void)state;
    struct pg_heapgen_params hp;
    pg_heapgen_default(&hp);
    hp.n_stacks = 200;
    hp.n_functions = 400;
    char err[256];
    struct pg_fastdelta *a = pg_fastdelta_new(), *b = pg_fastdelta_new();
    struct pg_fastdelta_result ra, rb;
    for (unsigned e = 0; e < 3; e++) {
        uint8_t *pb, *ol;
        size_t len, olen;
        assert_int_equal(pg_heapgen_profile(&hp, e, &pb, &len), 0);
        ol = overlong_headers(pb, len, &olen);
        assert_true(olen > len);
        assert_int_equal(pg_fastdelta_apply(a, pb, len, ALLOC, 2, &ra, err, sizeof(err)), 0);
        assert_int_equal(pg_fastdelta_apply(b, ol, olen, ALLOC, 2, &rb, err, sizeof(err)), 0);
        assert_int_equal(ra.primed, rb.primed);
        assert_int_equal(ra.len, rb.len);
        assert_int_equal(ra.samples_out, rb.samples_out);
        if (e > 0) {
            assert_non_null(ra.out);
            assert_memory_equal(ra.out, rb.out, ra.len);
        }
        free(ra.out);
        free(rb.out);
        free(ol);
        free(pb);
    }
    pg_fastdelta_free(a);
    pg_fastdelta_free(b);
}

/* doc_url (field 15) names a string no other field uses: the delta keeps that string
 * (it only blanks strings nothing references). */
static void test_doc_url_kept(void **state)
{
    (void)state;
    size_t len;
    uint8_t *raw = load_raw("data/go_allocs.pb.gz", &len);
    Perftools__Profiles__Profile *in = perftools__profiles__profile__unpack(NULL, len, raw);
    assert_non_null(in);
    static const char url[] = "https://example.com/allocs-help";
    size_t idx = in->n_string_table;
    assert_true(idx < 0x4000); /* a two-byte varint below */
    uint8_t extra[64];
    size_t n = 0;
    extra[n++] = 6 << 3 | 2; /* string_table */
    extra[n++] = (uint8_t)(sizeof(url) - 1);
    memcpy(extra + n, url, sizeof(url) - 1);
    n += sizeof(url) - 1;
    extra[n++] = 15 << 3; /* doc_url, varint */
    extra[n++] = (uint8_t)(0x80 | (idx & 0x7f));
    extra[n++] = (uint8_t)(idx >> 7);
    uint8_t *b = malloc(len + n);
    memcpy(b, raw, len);
    memcpy(b + len, extra, n);
    struct pg_fastdelta *d = pg_fastdelta_new();
    struct pg_fastdelta_result r;
    char err[256];
    assert_int_equal(pg_fastdelta_apply(d, b, len + n, ALLOC, 2, &r, err, sizeof(err)), 0);
    assert_int_equal(pg_fastdelta_apply(d, b, len + n, ALLOC, 2, &r, err, sizeof(err)), 0);
    assert_non_null(r.out);
    Perftools__Profiles__Profile *out = decode_ok(r.out, r.len);
    assert_true(out->doc_url > 0 && (size_t)out->doc_url < out->n_string_table);
    assert_string_equal(out->string_table[out->doc_url], url);
    /* an index past the string table is refused, as Go's pprof parser does */
    b[len + n - 2] = (uint8_t)(0x80 | ((idx + 1) & 0x7f));
    b[len + n - 1] = (uint8_t)((idx + 1) >> 7);
    assert_int_equal(pg_pprof_wire_check(b, len + n, err, sizeof(err)), -1);
    perftools__profiles__profile__free_unpacked(out, NULL);
    perftools__profiles__profile__free_unpacked(in, NULL);
    free(r.out);
    free(b);
    free(raw);
    pg_fastdelta_free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_free),
        cmocka_unit_test(test_go_allocs_same_twice),
        cmocka_unit_test(test_go_mutex_all_types),
        cmocka_unit_test(test_property),
        cmocka_unit_test(test_stack_down_is_clamped),
        cmocka_unit_test(test_reset),
        cmocka_unit_test(test_types_change),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_state_bytes),
        cmocka_unit_test(test_mutations),
        cmocka_unit_test(test_heapgen),
        cmocka_unit_test(test_doc_url_kept),
        cmocka_unit_test(test_overlong_headers),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    pg_profile_thread_release();
    return rc;
}
