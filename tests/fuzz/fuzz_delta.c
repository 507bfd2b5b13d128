/* fuzz_delta.c - libFuzzer harness 2: the streaming client-side delta on consecutive scrapes.
 *
 * Input: byte 0 picks the delta'd types and the call sequence, bytes 1-2 (little-endian)
 * split the rest into two bodies A and B. Byte 0 bit 0: n_types = 0 (every sample type),
 * else {alloc_objects, alloc_space} (PG_SCRAPE_DELTA_ALLOC); bit 1: a third scrape of B
 * (a self-delta); bit 2: then A again (a counter reset, or a delta back). Each body goes
 * through what scraper/work.c does for a delta type: pg_pprof_unwrap (4 MiB limit), then
 * pg_fastdelta_apply on one state, then pg_gz_deflate level 1 of the output.
 *
 * A model of the state (key -> summed values of the delta'd types, the delta'd type
 * names) predicts every call from the profile's own index (profile/wire.h: the same sample
 * keys and values fastdelta uses). Invariants:
 * - a body the index refuses makes the call fail; the model (so the state) is unchanged;
 * - primed exactly on the first success or when the delta'd type names change; reset
 *   exactly when, over the keys known before, the total of every delta'd type went down;
 *   a single key that went down gets a delta of 0 (clamped);
 * - otherwise res.out passes pg_pprof_wire_check and pg_pprof_check, its samples are the
 *   input's in order, kept when a value is non-zero, with the same location ids, the
 *   non-delta'd values unchanged and each key's delta on its first sample (0 on the others);
 * - totals identity (when nothing saturates): per delta'd type, sum(out) = sum over the
 *   current keys of max(0, current - previous); with no reset and the same body (self
 *   delta) every delta'd value is 0;
 * - the gzip (level 1) of res.out inflates back to the same bytes.
 * Everything is freed (LeakSanitizer checks). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "profile/fastdelta.h"
#include "profile/gz.h"
#include "profile/pprof.h"
#include "profile/wire.h"

#define LIMIT (4u << 20)
#define MAXT 32

/* One profile as the index sees it, and (after the call) as the model's state. */
struct snap {
    size_t n, nst, nd;
    uint64_t *key;     /* n sample keys */
    int64_t *vals;     /* n * nst values */
    size_t tidx[MAXT]; /* delta'd type -> sample type index */
    char *names[MAXT]; /* delta'd type names */
    uint64_t *skey;    /* distinct keys, sorted */
    __int128 *ssum;    /* per distinct key, nd exact sums */
    int64_t *ssat;     /* per distinct key, nd saturated sums (as fastdelta keeps them) */
    size_t nk;
};

static void snap_free(struct snap *s)
{
    free(s->key);
    free(s->vals);
    for (size_t t = 0; t < MAXT; t++)
        free(s->names[t]);
    free(s->skey);
    free(s->ssum);
    free(s->ssat);
    memset(s, 0, sizeof(*s));
}

static int64_t sat_add(int64_t a, int64_t b)
{
    int64_t r;
    if (__builtin_add_overflow(a, b, &r))
        return b > 0 ? INT64_MAX : INT64_MIN;
    return r;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Index of key in s's distinct keys, or -1. */
static long find_key(const struct snap *s, uint64_t k)
{
    const uint64_t *p = s->nk ? bsearch(&k, s->skey, s->nk, sizeof(k), cmp_u64) : NULL;
    return p ? (long)(p - s->skey) : -1;
}

/* Fills s from the index of pb (same keys/values as fastdelta) and the delta'd types.
 * Returns 0, -1 when the index refuses pb, -2 when the types do not resolve. */
static int snap_build(struct snap *s, const uint8_t *pb, size_t len, int all)
{
    static const char *const alloc[] = {"alloc_objects", "alloc_space"};
    struct pg_pprof_index *ix = pg_pprof_index_thread();
    char err[256];
    if (!ix)
        abort();
    if (pg_pprof_index_build(ix, pb, len, 1, err, sizeof err) < 0)
        return -1;
    s->n = ix->n_sample;
    s->nst = ix->n_stype;
    s->nd = all ? s->nst : 2;
    if (s->nd > MAXT || s->nst > MAXT)
        return -2;
    for (size_t t = 0; t < s->nd; t++) {
        size_t k = t;
        if (!all)
            for (k = 0; k < s->nst; k++) {
                const struct pg_pprof_span *sp = &ix->str[ix->stype[2 * k]];
                if (sp->len == strlen(alloc[t]) && !memcmp(pb + sp->off, alloc[t], sp->len))
                    break;
            }
        if (k == s->nst)
            return -2;
        s->tidx[t] = k;
        const struct pg_pprof_span *sp = &ix->str[ix->stype[2 * k]];
        s->names[t] = strndup((const char *)pb + sp->off, sp->len);
    }
    s->key = malloc((s->n + 1) * sizeof(uint64_t));
    s->vals = malloc((s->n * s->nst + 1) * sizeof(int64_t));
    s->skey = malloc((s->n + 1) * sizeof(uint64_t));
    if (!s->key || !s->vals || !s->skey)
        abort();
    if (s->n) { /* a profile without samples may have no key array at all */
        memcpy(s->key, ix->key, s->n * sizeof(uint64_t));
        memcpy(s->vals, ix->vals, s->n * s->nst * sizeof(int64_t));
        memcpy(s->skey, ix->key, s->n * sizeof(uint64_t));
    }
    qsort(s->skey, s->n, sizeof(uint64_t), cmp_u64);
    for (size_t i = 0; i < s->n; i++) /* unique */
        if (!i || s->skey[i] != s->skey[s->nk - 1])
            s->skey[s->nk++] = s->skey[i];
    s->ssum = calloc(s->nk * s->nd + 1, sizeof(__int128));
    s->ssat = calloc(s->nk * s->nd + 1, sizeof(int64_t));
    if (!s->ssum || !s->ssat)
        abort();
    for (size_t i = 0; i < s->n; i++) {
        long k = find_key(s, s->key[i]);
        if (s->key[i] == 0 || k < 0)
            abort(); /* keys are never 0 */
        for (size_t t = 0; t < s->nd; t++) {
            int64_t v = s->vals[i * s->nst + s->tidx[t]];
            s->ssum[k * s->nd + t] += v;
            s->ssat[k * s->nd + t] = sat_add(s->ssat[k * s->nd + t], v);
        }
    }
    return 0;
}

static int same_types(const struct snap *a, const struct snap *b)
{
    if (a->nd != b->nd)
        return 0;
    for (size_t t = 0; t < a->nd; t++)
        if (strcmp(a->names[t], b->names[t]))
            return 0;
    return 1;
}

/* 1 when, over the keys in both, every delta'd type's (saturated) total went down. */
static int expect_reset(const struct snap *prev, const struct snap *cur)
{
    int64_t olds[MAXT] = {0}, news[MAXT] = {0};
    size_t matched = 0;
    for (size_t k = 0; k < cur->nk; k++) {
        long o = find_key(prev, cur->skey[k]);
        if (o < 0)
            continue;
        matched++;
        for (size_t t = 0; t < cur->nd; t++) {
            olds[t] = sat_add(olds[t], prev->ssat[o * prev->nd + t]);
            news[t] = sat_add(news[t], cur->ssat[k * cur->nd + t]);
        }
    }
    for (size_t t = 0; t < cur->nd; t++)
        if (news[t] >= olds[t])
            return 0;
    return matched > 0 && cur->nd > 0;
}

static int64_t sat_sub(int64_t a, int64_t b)
{
    int64_t r;
    if (__builtin_sub_overflow(a, b, &r))
        return b < 0 ? INT64_MAX : INT64_MIN;
    return r;
}

/* 1 when every delta'd value of s is small enough that no sum or difference saturates. */
static int small(const struct snap *s)
{
    for (size_t i = 0; i < s->n; i++)
        for (size_t t = 0; t < s->nd; t++) {
            int64_t v = s->vals[i * s->nst + s->tidx[t]];
            if (v > (INT64_C(1) << 40) || v < -(INT64_C(1) << 40))
                return 0;
        }
    return 1;
}

/* res->out decodes: wire check, protobuf-c + validate, and pg_pprof_check (which may only
 * refuse it for its leading bytes: its HTML/JSON sniffing looks at a sample type of length
 * '{' after '\n'). Returns the decoded profile. */
static Perftools__Profiles__Profile *decode_out(const struct pg_fastdelta_result *res)
{
    char err[256];
    if (pg_pprof_wire_check(res->out, res->len, err, sizeof err) < 0) {
        fprintf(stderr, "delta output fails the wire check: %s\n", err);
        abort();
    }
    Perftools__Profiles__Profile *q =
        perftools__profiles__profile__unpack(NULL, res->len, res->out);
    if (!q || pg_pprof_validate(q, err, sizeof err) < 0) {
        fprintf(stderr, "delta output fails protobuf-c/validate: %s\n", q ? err : "unpack");
        abort();
    }
    uint8_t *raw = NULL;
    size_t rawlen;
    if (pg_pprof_check(res->out, res->len, NULL, res->len + 1, &raw, &rawlen, NULL, err,
                       sizeof err) < 0 &&
        strncmp(err, "body is ", 8) != 0) {
        fprintf(stderr, "delta output refused by pg_pprof_check: %s\n", err);
        abort();
    }
    free(raw);
    return q;
}

/* The scraper gzips the delta at level 1: it must inflate back to the same bytes. */
static void gzip_roundtrip(const struct pg_fastdelta_result *res)
{
    uint8_t *gz = NULL, *back = NULL;
    size_t gzlen = 0, backlen = 0;
    char err[256];
    if (pg_gz_deflate(res->out, res->len, 1, &gz, &gzlen) < 0)
        return; /* out of memory */
    if (pg_gz_inflate(gz, gzlen, res->len + 1, &back, &backlen, err, sizeof err) < 0 ||
        backlen != res->len || (backlen && memcmp(back, res->out, backlen) != 0))
        abort();
    free(gz);
    free(back);
}

/* Expected output values of cur's sample i into ov (first[k]: key k already seen). Returns
 * 1 when the sample is kept (a value is non-zero). */
static int expect_values(const struct snap *prev, const struct snap *cur, size_t i, uint8_t *seen,
                         int64_t *ov)
{
    long k = find_key(cur, cur->key[i]), o = find_key(prev, cur->key[i]);
    memcpy(ov, &cur->vals[i * cur->nst], cur->nst * sizeof(*ov));
    for (size_t t = 0; t < cur->nd; t++) {
        int64_t p = o < 0 ? 0 : prev->ssat[o * prev->nd + t];
        int64_t dv = seen[k] ? 0 : sat_sub(cur->ssat[k * cur->nd + t], p);
        ov[cur->tidx[t]] = dv < 0 ? 0 : dv; /* a key that went down: clamped */
    }
    seen[k] = 1;
    int nz = 0;
    for (size_t t = 0; t < cur->nst; t++)
        nz |= ov[t] != 0;
    return nz;
}

static int same_ids(const uint64_t *a, size_t na, const uint64_t *b, size_t nb)
{
    return na == nb && (!na || !memcmp(a, b, na * sizeof(*a)));
}

/* Totals identity: per delta'd type, sum(out) = sum over cur's keys of max(0, cur - prev). */
static void totals(const struct snap *prev, const struct snap *cur,
                   const Perftools__Profiles__Profile *q, int self)
{
    for (size_t t = 0; t < cur->nd; t++) {
        __int128 out = 0, want = 0;
        for (size_t j = 0; j < q->n_sample; j++) {
            int64_t v = q->sample[j]->value[cur->tidx[t]];
            if (self && v != 0)
                abort(); /* the delta of a profile against itself is 0 */
            out += v;
        }
        for (size_t k = 0; k < cur->nk; k++) {
            long o = find_key(prev, cur->skey[k]);
            __int128 dv = cur->ssum[k * cur->nd + t] - (o < 0 ? 0 : prev->ssum[o * prev->nd + t]);
            want += dv < 0 ? 0 : dv;
        }
        if (out != want) {
            fprintf(stderr, "totals identity broken for %s\n", cur->names[t]);
            abort();
        }
    }
}

/* Checks a delta output against the model: prev -> cur, raw the current body. */
static void check_output(const struct pg_fastdelta_result *res, const struct snap *prev,
                         const struct snap *cur, const uint8_t *raw, size_t rawlen, int self)
{
    Perftools__Profiles__Profile *q = decode_out(res);
    /* the input as protobuf-c sees it, for location ids and labels (may be refused) */
    Perftools__Profiles__Profile *in = perftools__profiles__profile__unpack(NULL, rawlen, raw);
    uint8_t *seen = calloc(cur->nk + 1, 1);
    int64_t ov[MAXT];
    size_t j = 0;
    if (!seen || q->n_sample != res->samples_out || (in && in->n_sample != cur->n))
        abort();
    for (size_t i = 0; i < cur->n; i++) {
        if (!expect_values(prev, cur, i, seen, ov))
            continue;
        if (j >= q->n_sample)
            abort(); /* a sample with a non-zero value was dropped */
        const Perftools__Profiles__Sample *o = q->sample[j++];
        if (o->n_value != cur->nst || (cur->nst && memcmp(o->value, ov, cur->nst * 8) != 0))
            abort(); /* wrong values (non-delta'd changed, or a wrong delta) */
        if (in && (!same_ids(o->location_id, o->n_location_id, in->sample[i]->location_id,
                             in->sample[i]->n_location_id) ||
                   o->n_label != in->sample[i]->n_label))
            abort(); /* kept sample's stack or labels changed */
    }
    if (j != q->n_sample)
        abort(); /* a sample with only zero values was kept */
    if (small(prev) && small(cur))
        totals(prev, cur, q, self);
    gzip_roundtrip(res);
    free(seen);
    perftools__profiles__profile__free_unpacked(in, NULL);
    perftools__profiles__profile__free_unpacked(q, NULL);
}

struct model {
    int primed;
    struct snap prev;
    const uint8_t *last; /* the body of the last successful call */
};

/* One scrape of body b[0..n) against the model m. */
static void scrape(struct pg_fastdelta *d, struct model *m, const uint8_t *b, size_t n, int all)
{
    static const char *const alloc[] = {"alloc_objects", "alloc_space"};
    uint8_t *raw = NULL;
    size_t rawlen = 0;
    char err[256];
    if (pg_pprof_unwrap(b, n, NULL, LIMIT, &raw, &rawlen, err, sizeof err) < 0)
        return; /* the job fails before the delta */
    struct snap cur = {0};
    int sb = snap_build(&cur, raw, rawlen, all);
    struct pg_fastdelta_result res;
    int rc =
        pg_fastdelta_apply(d, raw, rawlen, all ? NULL : alloc, all ? 0 : 2, &res, err, sizeof err);
    if (sb < 0 || rc < 0) {
        if (sb == 0 || rc == 0 || res.out) {
            fprintf(stderr, "index %d, fastdelta %d (%s)\n", sb, rc, rc ? err : "");
            abort(); /* fastdelta and the index disagree on the body */
        }
        snap_free(&cur);
        free(raw);
        return;
    }
    int primed = !m->primed || !same_types(&m->prev, &cur);
    int reset = !primed && expect_reset(&m->prev, &cur);
    if (res.primed != primed || res.reset != reset || res.samples_in != cur.n ||
        (primed || reset) != (res.out == NULL)) {
        fprintf(stderr, "primed %d/%d reset %d/%d\n", res.primed, primed, res.reset, reset);
        abort();
    }
    if (res.out)
        check_output(&res, &m->prev, &cur, raw, rawlen, m->last == b);
    free(res.out);
    free(raw);
    snap_free(&m->prev);
    m->prev = cur;
    m->primed = 1;
    m->last = b;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    uint8_t mode = data[0];
    size_t split = (size_t)data[1] | (size_t)data[2] << 8;
    data += 3;
    size -= 3;
    if (split > size)
        split = size;
    const uint8_t *a = data, *b = data + split;
    size_t na = split, nb = size - split;
    int all = mode & 1;
    struct pg_fastdelta *d = pg_fastdelta_new();
    struct model m = {0};
    if (!d)
        return 0;
    scrape(d, &m, a, na, all);
    scrape(d, &m, b, nb, all);
    if (mode & 2)
        scrape(d, &m, b, nb, all);
    if (mode & 4)
        scrape(d, &m, a, na, all);
    snap_free(&m.prev);
    pg_fastdelta_free(d);
    return 0;
}
