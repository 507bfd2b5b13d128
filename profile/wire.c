/* wire.c (profile/) - protobuf wire reader, pprof index and streaming check (see wire.h).
 * Field numbers are those of core/proto/profile.proto. */
#include "profile/wire.h"

#include "core/errmsg.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
/* xxHash's implementation is a header: inline it (the calls are on 8-64 byte inputs) */
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "profile/gz.h"

#define BAD(...)                                                                                   \
    do {                                                                                           \
        pg_errmsg_set(err, errlen, __VA_ARGS__);                                                   \
        return -1;                                                                                 \
    } while (0)
#define MALFORMED() BAD("pprof: body is not a valid protobuf profile")

void pg_pb_ints_begin(struct pg_pb_ints *it, const struct pg_pb_field *f)
{
    memset(it, 0, sizeof(*it));
    if (f->wt == PG_WT_LEN) {
        it->p = f->data;
        it->end = f->data + f->len;
    } else if (f->wt == PG_WT_VARINT) {
        it->single = 1;
        it->v = f->v;
    } else {
        it->bad = 1;
    }
}

struct pg_pb_vr pg_pb_varint_long(const uint8_t *p, const uint8_t *end)
{
    struct pg_pb_vr r = {NULL, 0};
    uint64_t x = 0;
    if (end - p >= 10) { /* no end check per byte */
        for (int i = 0; i < 10; i++) {
            uint8_t b = p[i];
            x |= (uint64_t)(b & 0x7f) << (7 * i);
            if (b < 0x80) {
                r.p = p + i + 1;
                r.v = x;
                return r;
            }
        }
        return r;
    }
    for (int s = 0; s < 70; s += 7) {
        if (p >= end)
            return r;
        uint8_t b = *p++;
        x |= (uint64_t)(b & 0x7f) << s;
        if (!(b & 0x80)) {
            r.p = p;
            r.v = x;
            return r;
        }
    }
    return r;
}

int pg_pprof_grow_slow(void *buf, size_t *cap, size_t n, size_t sz)
{
    if (n <= *cap)
        return 0;
    size_t nc = *cap ? *cap : 16;
    while (nc < n)
        nc = nc > SIZE_MAX / 2 ? n : nc * 2;
    if (nc > SIZE_MAX / sz)
        return -1;
    void *nb = realloc(*(void **)buf, nc * sz);
    if (!nb)
        return -1;
    *(void **)buf = nb;
    *cap = nc;
    return 0;
}

#define PUSH(arr, n, cap)                                                                          \
    (((n) < (cap) || pg_pprof_grow_slow(&(arr), &(cap), (n) + 1, sizeof(*(arr))) == 0)             \
         ? &(arr)[(n)++]                                                                           \
         : NULL)

/* ---- per-thread scratch ---- */

static pthread_key_t ix_key;
static pthread_once_t ix_once = PTHREAD_ONCE_INIT;
static _Thread_local struct pg_pprof_index *tls_ix;

static void ix_free(void *v)
{
    struct pg_pprof_index *ix = v;
    if (!ix)
        return;
    free(ix->str);
    free(ix->sample);
    free(ix->lines);
    free(ix->locidx);
    free(ix->lochash);
    free(ix->strhash);
    free(ix->other);
    free(ix->fn);
    free(ix->map);
    free(ix->loc);
    free(ix->fn_ids.pairs);
    free(ix->map_ids.pairs);
    free(ix->loc_ids.pairs);
    free(ix->stype);
    free(ix->refs);
    free(ix->key);
    free(ix->vals);
    free(ix->tmp);
    free(ix->mark);
    free(ix->slot);
    free(ix);
}

static void ix_key_init(void)
{
    (void)pthread_key_create(&ix_key, ix_free);
}

struct pg_pprof_index *pg_pprof_index_thread(void)
{
    if (tls_ix)
        return tls_ix;
    pthread_once(&ix_once, ix_key_init);
    struct pg_pprof_index *ix = calloc(1, sizeof(*ix));
    if (!ix || pthread_setspecific(ix_key, ix) != 0) {
        free(ix);
        return NULL;
    }
    tls_ix = ix;
    return ix;
}

void pg_profile_thread_release(void)
{
    if (tls_ix) {
        pthread_setspecific(ix_key, NULL);
        ix_free(tls_ix);
        tls_ix = NULL;
    }
    pg_gz_thread_release();
}

/* ---- top-level scan ---- */

static int span_of(const struct pg_pprof_index *ix, const struct pg_pb_field *f,
                   struct pg_pprof_span *s)
{
    s->off = (uint32_t)(f->data - ix->pb);
    s->len = (uint32_t)f->len;
    return 0;
}

/* Reads the varint fields of a small message into vals[1..nmax] (others skipped); a known
 * field with another wire type is malformed. Fields 1-15 of wire type 0 (one-byte tag: all
 * of pprof's scalars) are read without pg_pb_next. */
static int read_scalars(const uint8_t *p, size_t len, uint64_t *vals, uint32_t nmax)
{
    const uint8_t *end = p + len;
    struct pg_pb_field f;
    uint64_t v;
    while (p < end) {
        uint8_t t = p[0];
        if ((t & 0x87) == 0 && t >= 8) {
            p++;
            if (pg_pb_varint(&p, end, &v) < 0)
                return -1;
            if ((uint32_t)(t >> 3) <= nmax)
                vals[t >> 3] = v;
            continue;
        }
        if (pg_pb_next(&p, end, &f) < 0)
            return -1;
        if (f.num > nmax)
            continue;
        if (f.wt != PG_WT_VARINT)
            return -1;
        vals[f.num] = f.v;
    }
    return 0;
}

/* One line of a location (payload p[0..len)) into ix->lines. */
static int scan_line(struct pg_pprof_index *ix, const uint8_t *p, size_t len)
{
    uint64_t v[4] = {0};
    struct pg_pprof_line *ln = PUSH(ix->lines, ix->n_lines, ix->cap_lines);
    if (!ln || read_scalars(p, len, v, 3) < 0)
        return -1;
    ln->function_id = v[1];
    ln->line = (int64_t)v[2];
    return 0;
}

/* A location's scalars, and its lines into ix->lines. Fields 1-4 with their one-byte tags are
 * read here; anything else goes through pg_pb_next. */
static int scan_loc(struct pg_pprof_index *ix, const struct pg_pb_field *lf, struct pg_pprof_loc *l)
{
    const uint8_t *p = lf->data, *end = lf->data + lf->len;
    struct pg_pb_field f;
    uint64_t s[4] = {0}, x; /* by field number: id, mapping_id, address */
    memset(l, 0, sizeof(*l));
    span_of(ix, lf, &l->s);
    l->line_off = (uint32_t)ix->n_lines;
    while (p < end) {
        uint8_t t = p[0];
        if (t == (4 << 3 | PG_WT_LEN)) {
            p++;
            if (pg_pb_varint(&p, end, &x) < 0 || x > (uint64_t)(end - p) ||
                scan_line(ix, p, (size_t)x) < 0)
                return -1;
            p += x;
            l->n_line++;
            continue;
        }
        if (t == 1 << 3 || t == 2 << 3 || t == 3 << 3) {
            p++;
            if (pg_pb_varint(&p, end, &s[t >> 3]) < 0)
                return -1;
            continue;
        }
        if (pg_pb_next(&p, end, &f) < 0)
            return -1;
        if (f.num == 4) {
            if (f.wt != PG_WT_LEN || scan_line(ix, f.data, f.len) < 0)
                return -1;
            l->n_line++;
        } else if (f.num <= 5 && f.wt != PG_WT_VARINT) {
            return -1;
        } else if (f.num <= 3) {
            s[f.num] = f.v;
        }
    }
    l->id = s[1];
    l->mapping_id = s[2];
    l->address = s[3];
    return 0;
}

/* Top-level fields copied verbatim (7-14 and unknown ones): checks wire types and collects
 * their string references. */
static int scan_other(struct pg_pprof_index *ix, const struct pg_pb_field *f)
{
    uint64_t v[3] = {0};
    switch (f->num) {
    case 7:
    case 8:
    case 14:
    case 15: { /* string index scalars (drop/keep_frames, default_sample_type, doc_url) */
        int64_t *r = f->wt == PG_WT_VARINT ? PUSH(ix->refs, ix->n_refs, ix->cap_refs) : NULL;
        if (!r)
            return -1;
        *r = (int64_t)f->v;
        break;
    }
    case 9:
    case 10:
    case 12:
        if (f->wt != PG_WT_VARINT)
            return -1;
        break;
    case 11: /* period_type */
        if (f->wt != PG_WT_LEN || read_scalars(f->data, f->len, v, 2) < 0)
            return -1;
        for (int i = 1; i <= 2; i++) {
            int64_t *r = PUSH(ix->refs, ix->n_refs, ix->cap_refs);
            if (!r)
                return -1;
            *r = (int64_t)v[i];
        }
        break;
    case 13: { /* comment: repeated string indexes */
        struct pg_pb_ints it;
        uint64_t c;
        int r;
        pg_pb_ints_begin(&it, f);
        while ((r = pg_pb_ints_next(&it, &c)) == 1) {
            int64_t *ref = PUSH(ix->refs, ix->n_refs, ix->cap_refs);
            if (!ref)
                return -1;
            *ref = (int64_t)c;
        }
        if (r < 0)
            return -1;
        break;
    }
    default: break;
    }
    return 0;
}

static int scan_field(struct pg_pprof_index *ix, const struct pg_pb_field *f, const uint8_t *fend)
{
    if (f->num >= 1 && f->num <= 6 && f->wt != PG_WT_LEN)
        return -1;
    switch (f->num) {
    case 1: { /* sample_type */
        uint64_t v[3] = {0};
        if (read_scalars(f->data, f->len, v, 2) < 0 ||
            pg_pprof_grow(&ix->stype, &ix->cap_stype, 2 * ix->n_stype + 2, sizeof(int64_t)) < 0)
            return -1;
        ix->stype[2 * ix->n_stype] = (int64_t)v[1];
        ix->stype[2 * ix->n_stype + 1] = (int64_t)v[2];
        ix->n_stype++;
        break; /* also copied verbatim */
    }
    case 2: {
        struct pg_pprof_sample *s = PUSH(ix->sample, ix->n_sample, ix->cap_sample);
        return s ? span_of(ix, f, &s->s) : -1;
    }
    case 3: {
        uint64_t v[7] = {0};
        struct pg_pprof_map *m = PUSH(ix->map, ix->n_map, ix->cap_map);
        if (!m || read_scalars(f->data, f->len, v, 6) < 0)
            return -1;
        m->id = v[1];
        m->filename = (int64_t)v[5];
        m->build_id = (int64_t)v[6];
        return span_of(ix, f, &m->s);
    }
    case 4: {
        struct pg_pprof_loc *l = PUSH(ix->loc, ix->n_loc, ix->cap_loc);
        return l ? scan_loc(ix, f, l) : -1;
    }
    case 5: {
        uint64_t v[6] = {0};
        struct pg_pprof_fn *fn = PUSH(ix->fn, ix->n_fn, ix->cap_fn);
        if (!fn || read_scalars(f->data, f->len, v, 5) < 0)
            return -1;
        fn->id = v[1];
        fn->name = (int64_t)v[2];
        fn->system_name = (int64_t)v[3];
        fn->filename = (int64_t)v[4];
        return span_of(ix, f, &fn->s);
    }
    case 6: {
        struct pg_pprof_span *s = PUSH(ix->str, ix->n_str, ix->cap_str);
        return s ? span_of(ix, f, s) : -1;
    }
    default:
        if (scan_other(ix, f) < 0)
            return -1;
        break;
    }
    struct pg_pprof_span *o = PUSH(ix->other, ix->n_other, ix->cap_other);
    if (!o)
        return -1;
    o->off = (uint32_t)(f->start - ix->pb);
    o->len = (uint32_t)(fend - f->start);
    return 0;
}

/* Samples and strings (one-byte tags, only their spans kept) are taken here, the rest by
 * scan_field. */
static int scan_top(struct pg_pprof_index *ix, char *err, size_t errlen)
{
    const uint8_t *p = ix->pb, *end = ix->pb + ix->len, *q;
    struct pg_pb_field f;
    struct pg_pprof_span *s;
    uint64_t n;
    while (p < end) {
        if (p[0] == (2 << 3 | PG_WT_LEN) || p[0] == (6 << 3 | PG_WT_LEN)) {
            q = p + 1;
            if (pg_pb_varint(&q, end, &n) < 0 || n > (uint64_t)(end - q))
                MALFORMED();
            if (p[0] == (2 << 3 | PG_WT_LEN)) {
                struct pg_pprof_sample *sm = PUSH(ix->sample, ix->n_sample, ix->cap_sample);
                s = sm ? &sm->s : NULL;
            } else {
                s = PUSH(ix->str, ix->n_str, ix->cap_str);
            }
            if (!s)
                MALFORMED();
            s->off = (uint32_t)(q - ix->pb);
            s->len = (uint32_t)n;
            p = q + n;
            continue;
        }
        if (pg_pb_next(&p, end, &f) < 0 || scan_field(ix, &f, p) < 0)
            MALFORMED();
    }
    return 0;
}

/* ---- checks ---- */

#define STR_OK(ix, i) ((i) >= 0 && (uint64_t)(i) < (ix)->n_str)
#define CHECK_STR(idx, what)                                                                       \
    do {                                                                                           \
        if (!STR_OK(ix, idx))                                                                      \
            BAD("pprof: %s string index %lld out of range", what, (long long)(idx));               \
    } while (0)

/* Hash of string i, computed once per build (strhash[i] 0 = not yet). */
static uint64_t str_hash(const struct pg_pprof_index *ix, int64_t i)
{
    uint64_t h = ix->strhash[i];
    if (h == 0) {
        const struct pg_pprof_span *s = &ix->str[i];
        h = XXH3_64bits(ix->pb + s->off, s->len) | 1;
        ix->strhash[i] = h;
    }
    return h;
}

static int check_tables(struct pg_pprof_index *ix, int hash, char *err, size_t errlen)
{
    if (ix->n_str == 0 || ix->str[0].len != 0)
        BAD("pprof: string table must start with the empty string");
    if (hash) {
        if (pg_pprof_grow(&ix->strhash, &ix->cap_strhash, ix->n_str, sizeof(uint64_t)) < 0)
            BAD("pprof: out of memory");
        memset(ix->strhash, 0, ix->n_str * sizeof(uint64_t));
    }
    if (ix->n_stype == 0)
        BAD("pprof: profile has no sample types");
    for (size_t i = 0; i < ix->n_stype; i++) {
        CHECK_STR(ix->stype[2 * i], "sample type");
        CHECK_STR(ix->stype[2 * i + 1], "sample unit");
    }
    for (size_t i = 0; i < ix->n_refs; i++)
        CHECK_STR(ix->refs[i], "profile");
    for (size_t i = 0; i < ix->n_fn; i++) {
        struct pg_pprof_fn *fn = &ix->fn[i];
        CHECK_STR(fn->name, "function name");
        CHECK_STR(fn->system_name, "function system name");
        CHECK_STR(fn->filename, "function filename");
        if (hash) {
            uint64_t h[3] = {str_hash(ix, fn->name), str_hash(ix, fn->system_name),
                             str_hash(ix, fn->filename)};
            fn->hash = XXH3_64bits(h, sizeof(h));
        }
    }
    for (size_t i = 0; i < ix->n_map; i++) {
        struct pg_pprof_map *m = &ix->map[i];
        CHECK_STR(m->filename, "mapping filename");
        CHECK_STR(m->build_id, "mapping build id");
        if (hash) {
            uint64_t h[2] = {str_hash(ix, m->filename), str_hash(ix, m->build_id)};
            m->hash = XXH3_64bits(h, sizeof(h));
        }
    }
    return 0;
}

/* ---- id maps ---- */

static int cmp_pair(const void *a, const void *b)
{
    const struct pg_pprof_idpair *x = a, *y = b;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* elems: n structs of size stride whose first member is the uint64 id */
static int idmap_build(struct pg_pprof_idmap *m, const void *elems, size_t stride, size_t n)
{
    const uint8_t *e = elems;
    m->dense = 1;
    for (size_t i = 0; i < n && m->dense; i++)
        m->dense = *(const uint64_t *)(const void *)(e + i * stride) == i + 1;
    if (m->dense)
        return 0;
    if (pg_pprof_grow(&m->pairs, &m->cap, n, sizeof(*m->pairs)) < 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        m->pairs[i].id = *(const uint64_t *)(const void *)(e + i * stride);
        m->pairs[i].idx = (uint32_t)i;
    }
    qsort(m->pairs, n, sizeof(*m->pairs), cmp_pair);
    return 0;
}

uint32_t pg_pprof_idmap_find(const struct pg_pprof_idmap *m, size_t n, uint64_t id)
{
    if (m->dense)
        return id >= 1 && id <= n ? (uint32_t)(id - 1) : PG_PPROF_NOT_FOUND;
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (m->pairs[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && m->pairs[lo].id == id ? m->pairs[lo].idx : PG_PPROF_NOT_FOUND;
}

/* ---- locations ---- */

/* Checks a location's references and, when hashing, sets its content hash from its
 * address, mapping and lines (function content and line number). */
static int check_loc(struct pg_pprof_index *ix, struct pg_pprof_loc *l, int hash, char *err,
                     size_t errlen)
{
    uint64_t mh = 0;
    if (l->mapping_id) {
        uint32_t mi = pg_pprof_map_find(ix, l->mapping_id);
        if (mi == PG_PPROF_NOT_FOUND)
            BAD("pprof: location %llu references missing mapping %llu", (unsigned long long)l->id,
                (unsigned long long)l->mapping_id);
        mh = ix->map[mi].hash;
    }
    if (hash && l->n_line == 1) { /* the common case: the hash input on the stack */
        const struct pg_pprof_line *ln = &ix->lines[l->line_off];
        uint64_t h[4] = {l->address, mh, 0, (uint64_t)ln->line};
        if (ln->function_id) {
            uint32_t fi = pg_pprof_fn_find(ix, ln->function_id);
            if (fi == PG_PPROF_NOT_FOUND)
                BAD("pprof: location %llu references missing function %llu",
                    (unsigned long long)l->id, (unsigned long long)ln->function_id);
            h[2] = ix->fn[fi].hash;
        }
        ix->lochash[l - ix->loc] = l->hash = XXH3_64bits(h, sizeof(h));
        return 0;
    }
    size_t nt = 0;
    if (hash) {
        if (pg_pprof_grow(&ix->tmp, &ix->cap_tmp, 2, sizeof(*ix->tmp)) < 0)
            BAD("pprof: out of memory");
        ix->tmp[nt++] = l->address;
        ix->tmp[nt++] = mh;
    }
    if (hash &&
        pg_pprof_grow(&ix->tmp, &ix->cap_tmp, 2 + 2 * (size_t)l->n_line, sizeof(*ix->tmp)) < 0)
        BAD("pprof: out of memory");
    for (uint32_t j = 0; j < l->n_line; j++) {
        const struct pg_pprof_line *ln = &ix->lines[l->line_off + j];
        uint64_t fh = 0;
        if (ln->function_id) {
            uint32_t fi = pg_pprof_fn_find(ix, ln->function_id);
            if (fi == PG_PPROF_NOT_FOUND)
                BAD("pprof: location %llu references missing function %llu",
                    (unsigned long long)l->id, (unsigned long long)ln->function_id);
            fh = ix->fn[fi].hash;
        }
        if (hash) {
            ix->tmp[nt++] = fh;
            ix->tmp[nt++] = (uint64_t)ln->line;
        }
    }
    if (hash)
        ix->lochash[l - ix->loc] = l->hash = XXH3_64bits(ix->tmp, nt * sizeof(*ix->tmp));
    return 0;
}

/* ---- samples ---- */

static uint64_t label_hash(const struct pg_pprof_index *ix, const uint64_t *v)
{
    uint64_t h[4] = {str_hash(ix, (int64_t)v[1]), str_hash(ix, (int64_t)v[2]), v[3],
                     str_hash(ix, (int64_t)v[4])};
    return XXH3_64bits(h, sizeof(h));
}

static int check_label(const struct pg_pprof_index *ix, const struct pg_pb_field *f, int hash,
                       uint64_t *lh, char *err, size_t errlen)
{
    uint64_t v[5] = {0};
    if (f->wt != PG_WT_LEN || read_scalars(f->data, f->len, v, 4) < 0)
        MALFORMED();
    CHECK_STR((int64_t)v[1], "label key");
    CHECK_STR((int64_t)v[2], "label value");
    CHECK_STR((int64_t)v[4], "label unit");
    if (hash)
        *lh += label_hash(ix, v);
    return 0;
}

/* Location ids of one field occurrence: checked, and (hash) their hashes appended to tmp
 * and their indexes to locidx. */
static int sample_locs(struct pg_pprof_index *ix, const struct pg_pb_field *f, size_t i, int hash,
                       size_t *nt, char *err, size_t errlen)
{
    struct pg_pb_ints it;
    uint64_t x;
    int q;
    size_t most = f->wt == PG_WT_LEN ? f->len : 1; /* a varint takes at least one byte */
    if (hash &&
        (pg_pprof_grow(&ix->tmp, &ix->cap_tmp, *nt + most, sizeof(*ix->tmp)) < 0 ||
         pg_pprof_grow(&ix->locidx, &ix->cap_locidx, ix->n_locidx + most, sizeof(uint32_t)) < 0))
        BAD("pprof: out of memory");
    if (f->wt == PG_WT_LEN && ix->loc_ids.dense) { /* the common case, kept tight */
        const uint8_t *p = f->data, *end = f->data + f->len;
        uint64_t nloc = ix->n_loc;
        if (!hash) { /* tmp and locidx may still be NULL */
            while (p < end) {
                if (pg_pb_varint(&p, end, &x) < 0)
                    MALFORMED();
                if (x - 1 >= nloc)
                    BAD("pprof: sample %zu references missing location %llu", i,
                        (unsigned long long)x);
            }
            return 0;
        }
        uint64_t *th = ix->tmp + *nt;
        const uint64_t *lh = ix->lochash;
        uint32_t *li = ix->locidx + ix->n_locidx;
        size_t n = 0;
        while (p < end) {
            x = p[0];
            if (x < 0x80) {
                p++;
            } else if (end - p >= 2 && p[1] < 0x80) {
                x = (x & 0x7f) | (uint64_t)p[1] << 7;
                p += 2;
            } else if (pg_pb_varint(&p, end, &x) < 0) {
                MALFORMED();
            }
            if (x - 1 >= nloc)
                BAD("pprof: sample %zu references missing location %llu", i, (unsigned long long)x);
            th[n] = lh[x - 1];
            li[n++] = (uint32_t)(x - 1);
        }
        *nt += n;
        ix->n_locidx += n;
        return 0;
    }
    pg_pb_ints_begin(&it, f);
    while ((q = pg_pb_ints_next(&it, &x)) == 1) {
        uint32_t li = pg_pprof_loc_find(ix, x);
        if (li == PG_PPROF_NOT_FOUND)
            BAD("pprof: sample %zu references missing location %llu", i, (unsigned long long)x);
        if (!hash)
            continue;
        ix->tmp[(*nt)++] = ix->lochash[li];
        ix->locidx[ix->n_locidx++] = li;
    }
    if (q < 0)
        MALFORMED();
    return 0;
}

/* Values of one field occurrence (packed or not) into vals[*nv..nst) (vals NULL: counted
 * only); *nv counts them all. */
static int read_values(const struct pg_pb_field *f, int64_t *vals, size_t nst, size_t *nv)
{
    size_t n = *nv;
    uint64_t x;
    if (f->wt == PG_WT_VARINT) {
        if (vals && n < nst)
            vals[n] = (int64_t)f->v;
        *nv = n + 1;
        return 0;
    }
    if (f->wt != PG_WT_LEN)
        return -1;
    for (const uint8_t *p = f->data, *end = p + f->len; p < end; n++) {
        if (pg_pb_varint(&p, end, &x) < 0)
            return -1;
        if (vals && n < nst)
            vals[n] = (int64_t)x;
    }
    *nv = n;
    return 0;
}

static int check_sample(struct pg_pprof_index *ix, size_t i, int hash, char *err, size_t errlen)
{
    struct pg_pprof_sample *sm = &ix->sample[i];
    const uint8_t *p = ix->pb + sm->s.off, *end = p + sm->s.len;
    size_t nv = 0, nt = 0, nst = ix->n_stype;
    uint64_t lh = 0;
    struct pg_pb_field f;
    int r, nvf = 0;
    sm->loc_off = (uint32_t)ix->n_locidx;
    sm->n_label = 0;
    while ((r = pg_pb_next(&p, end, &f)) == 1) {
        if (f.num == 1) {
            if (sample_locs(ix, &f, i, hash, &nt, err, errlen) < 0)
                return -1;
        } else if (f.num == 2) {
            sm->voff = (uint32_t)(f.start - ix->pb);
            sm->vlen = nvf++ ? PG_PPROF_SPREAD : (uint32_t)(p - f.start);
            if (read_values(&f, hash ? ix->vals + i * nst : NULL, nst, &nv) < 0)
                MALFORMED();
        } else if (f.num == 3) {
            if (check_label(ix, &f, hash, &lh, err, errlen) < 0)
                return -1;
            sm->n_label++;
        }
    }
    if (r < 0)
        MALFORMED();
    if (nv != nst)
        BAD("pprof: sample %zu has %zu values for %zu sample types", i, nv, nst);
    sm->n_loc = (uint32_t)(ix->n_locidx - sm->loc_off);
    if (hash) {
        uint64_t k = XXH3_64bits_withSeed(ix->tmp, nt * sizeof(*ix->tmp),
                                          lh + sm->n_label * 0x9e3779b97f4a7c15ULL);
        ix->key[i] = k ? k : 1;
    }
    return 0;
}

/* ---- entry points ---- */

static void index_reset(struct pg_pprof_index *ix, const uint8_t *pb, size_t len)
{
    ix->pb = pb;
    ix->len = len;
    ix->n_str = ix->n_sample = ix->n_other = ix->n_lines = ix->n_locidx = 0;
    ix->n_fn = ix->n_map = ix->n_loc = 0;
    ix->n_stype = ix->n_refs = 0;
}

int pg_pprof_index_build(struct pg_pprof_index *ix, const uint8_t *pb, size_t len, int hash,
                         char *err, size_t errlen)
{
    if (len >= UINT32_MAX)
        BAD("pprof: profile larger than 4 GiB");
    index_reset(ix, pb, len);
    if (scan_top(ix, err, errlen) < 0 || check_tables(ix, hash, err, errlen) < 0)
        return -1;
    if (idmap_build(&ix->fn_ids, ix->fn, sizeof(*ix->fn), ix->n_fn) < 0 ||
        idmap_build(&ix->map_ids, ix->map, sizeof(*ix->map), ix->n_map) < 0 ||
        idmap_build(&ix->loc_ids, ix->loc, sizeof(*ix->loc), ix->n_loc) < 0)
        BAD("pprof: out of memory");
    if (hash && pg_pprof_grow(&ix->lochash, &ix->cap_lochash, ix->n_loc, sizeof(uint64_t)) < 0)
        BAD("pprof: out of memory");
    for (size_t i = 0; i < ix->n_loc; i++)
        if (check_loc(ix, &ix->loc[i], hash, err, errlen) < 0)
            return -1;
    if (hash && (pg_pprof_grow(&ix->key, &ix->cap_key, ix->n_sample, sizeof(*ix->key)) < 0 ||
                 (ix->n_sample && ix->n_stype > SIZE_MAX / sizeof(int64_t) / ix->n_sample) ||
                 pg_pprof_grow(&ix->vals, &ix->cap_vals, ix->n_sample * ix->n_stype,
                               sizeof(*ix->vals)) < 0))
        BAD("pprof: out of memory");
    for (size_t i = 0; i < ix->n_sample; i++)
        if (check_sample(ix, i, hash, err, errlen) < 0)
            return -1;
    return 0;
}

int pg_pprof_wire_check(const uint8_t *pb, size_t len, char *err, size_t errlen)
{
    struct pg_pprof_index *ix = pg_pprof_index_thread();
    if (!ix)
        BAD("pprof: out of memory");
    return pg_pprof_index_build(ix, pb, len, 0, err, errlen);
}
