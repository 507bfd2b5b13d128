/* fastdelta.c (profile/) - streaming delta of cumulative pprof profiles on the encoded bytes
 * (see fastdelta.h). Passes: index + check + hash (wire.c), aggregate into a new baseline
 * table, compare with the old table (priming, resets), write the kept samples and the
 * elements and strings they use. */
#include "profile/fastdelta.h"

#include "core/errmsg.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "profile/wire.h"

#define PG_FD_MAX_TYPES 32
#define NONE UINT32_MAX

struct pg_fastdelta {
    uint64_t *slots; /* cap * (1 + nd): key (0 = empty), then nd cumulative values */
    size_t cap, nd, n_keys;
    uint64_t sig; /* hash of the delta'd type names */
    int primed;
};

struct pg_fastdelta *pg_fastdelta_new(void)
{
    return calloc(1, sizeof(struct pg_fastdelta));
}

void pg_fastdelta_free(struct pg_fastdelta *d)
{
    if (!d)
        return;
    free(d->slots);
    free(d);
}

size_t pg_fastdelta_state_bytes(const struct pg_fastdelta *d)
{
    return sizeof(*d) + d->cap * (1 + d->nd) * sizeof(uint64_t);
}

/* ---- table ---- */

struct table {
    uint64_t *slots;
    size_t cap, stride, n_keys;
};

/* Slot holding key, or the empty slot where it would go (the table is never full). */
static size_t tab_probe(const struct table *t, uint64_t key)
{
    size_t i = (size_t)(((unsigned __int128)key * t->cap) >> 64);
    for (;;) {
        uint64_t k = t->slots[i * t->stride];
        if (k == key || k == 0)
            return i;
        if (++i == t->cap)
            i = 0;
    }
}

static int64_t sat_add(int64_t a, int64_t b)
{
    int64_t r;
    if (__builtin_add_overflow(a, b, &r))
        return b > 0 ? INT64_MAX : INT64_MIN;
    return r;
}

static int64_t sat_sub(int64_t a, int64_t b)
{
    int64_t r;
    if (__builtin_sub_overflow(a, b, &r))
        return b < 0 ? INT64_MAX : INT64_MIN;
    return r;
}

/* ---- types ---- */

static int resolve_types(const struct pg_pprof_index *ix, const char *const *types, size_t n_types,
                         size_t *tidx, size_t *nd, uint64_t *sig, char *err, size_t errlen)
{
    size_t n = n_types ? n_types : ix->n_stype;
    if (n > PG_FD_MAX_TYPES) {
        pg_errmsg_set(err, errlen, "delta: more than %d sample types", PG_FD_MAX_TYPES);
        return -1;
    }
    uint64_t h = n;
    for (size_t t = 0; t < n; t++) {
        size_t k = 0;
        if (n_types) {
            size_t nl = types[t] ? strlen(types[t]) : 0;
            for (; k < ix->n_stype; k++) {
                const struct pg_pprof_span *s = &ix->str[ix->stype[2 * k]];
                if (types[t] && s->len == nl && memcmp(ix->pb + s->off, types[t], nl) == 0)
                    break;
            }
            if (k == ix->n_stype) {
                pg_errmsg_set(err, errlen, "delta: sample type %s not in the profile",
                              types[t] ? types[t] : "(null)");
                return -1;
            }
        } else {
            k = t;
        }
        tidx[t] = k;
        const struct pg_pprof_span *s = &ix->str[ix->stype[2 * k]];
        h = XXH3_64bits_withSeed(ix->pb + s->off, s->len, h);
    }
    *nd = n;
    *sig = h ? h : 1;
    return 0;
}

/* ---- pass 2: the new baseline ---- */

#define FIRST 0x80000000u

/* Sums each key's delta'd values into a new table; ix->slot[2i] = sample i's slot, with
 * FIRST set on the first sample of its key. */
static int build_table(struct pg_pprof_index *ix, const size_t *tidx, size_t nd, struct table *nt)
{
    size_t n = ix->n_sample, nst = ix->n_stype;
    if (n >= (FIRST - 1) / 2 ||
        pg_pprof_grow(&ix->slot, &ix->cap_slot, 2 * n + 1, sizeof(*ix->slot)) < 0)
        return -1;
    nt->cap = n + n / 4 + 1;
    nt->stride = 1 + nd;
    nt->n_keys = 0;
    nt->slots = calloc(nt->cap * nt->stride, sizeof(uint64_t));
    if (!nt->slots)
        return -1;
    for (size_t i = 0; i < n; i++) {
        uint64_t key = ix->key[i];
        size_t s = tab_probe(nt, key);
        uint64_t *e = &nt->slots[s * nt->stride];
        const int64_t *v = &ix->vals[i * nst];
        uint32_t first = 0;
        if (e[0] == 0) {
            e[0] = key;
            nt->n_keys++;
            first = FIRST;
        }
        for (size_t t = 0; t < nd; t++)
            e[1 + t] = (uint64_t)sat_add((int64_t)e[1 + t], v[tidx[t]]);
        ix->slot[2 * i] = (uint32_t)s | first;
    }
    return 0;
}

/* Finds each key's previous slot (ix->slot[2i+1], NONE if new). Returns 1 when, over the
 * stacks present in both profiles, the total of EVERY delta'd type went down (a restart:
 * all counters start again; stacks that come and go do not count), else 0. One stack going down is
 * no restart: Go scales heap samples by their average size (runtime/pprof scaleHeapSample), so a
 * stack's alloc_objects can shrink when its allocations get bigger; such a stack's delta is clamped
 * to 0 (sample_values), as Alloy and the previous object-graph delta do. */
static int match_old(const struct pg_fastdelta *d, struct pg_pprof_index *ix,
                     const struct table *nt)
{
    struct table ot = {d->slots, d->cap, 1 + d->nd, d->n_keys};
    int64_t olds[PG_FD_MAX_TYPES] = {0}, news[PG_FD_MAX_TYPES] = {0};
    size_t matched = 0;
    for (size_t i = 0; i < ix->n_sample; i++) {
        ix->slot[2 * i + 1] = NONE;
        if (!(ix->slot[2 * i] & FIRST))
            continue;
        const uint64_t *e = &nt->slots[(ix->slot[2 * i] & ~FIRST) * nt->stride];
        size_t o = tab_probe(&ot, e[0]);
        const uint64_t *oe = &ot.slots[o * ot.stride];
        if (oe[0] == 0)
            continue;
        ix->slot[2 * i + 1] = (uint32_t)o;
        matched++;
        for (size_t t = 0; t < d->nd; t++) {
            olds[t] = sat_add(olds[t], (int64_t)oe[1 + t]);
            news[t] = sat_add(news[t], (int64_t)e[1 + t]);
        }
    }
    for (size_t t = 0; t < d->nd; t++)
        if (news[t] >= olds[t])
            return 0;
    return matched > 0 && d->nd > 0;
}

/* ---- pass 3: output ---- */

static size_t put_varint(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

static size_t varint_size(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

struct marks {
    uint8_t *str, *loc, *fn, *map;
};

static void mark_str(const struct pg_pprof_index *ix, struct marks *m, int64_t i)
{
    if (i >= 0 && (uint64_t)i < ix->n_str) /* checked by wire.c; kept defensive */
        m->str[i] = 1;
}

/* Output values of sample i into ov; returns 1 if any is non-zero. */
static int sample_values(const struct pg_fastdelta *d, const struct pg_pprof_index *ix,
                         const struct table *nt, const size_t *tidx, size_t i, int64_t *ov)
{
    size_t nst = ix->n_stype;
    memcpy(ov, &ix->vals[i * nst], nst * sizeof(*ov));
    uint32_t s = ix->slot[2 * i], o = ix->slot[2 * i + 1];
    const uint64_t *e = &nt->slots[(s & ~FIRST) * nt->stride];
    for (size_t t = 0; t < d->nd; t++) {
        int64_t prev = o == NONE ? 0 : (int64_t)d->slots[(size_t)o * (1 + d->nd) + 1 + t];
        int64_t dv = (s & FIRST) ? sat_sub((int64_t)e[1 + t], prev) : 0;
        ov[tidx[t]] = dv < 0 ? 0 : dv; /* a stack that went down: clamped (match_old) */
    }
    int nz = 0;
    for (size_t k = 0; k < nst; k++)
        nz |= ov[k] != 0;
    return nz;
}

static void mark_labels(const struct pg_pprof_index *ix, struct marks *m,
                        const struct pg_pprof_sample *sm)
{
    const uint8_t *p = ix->pb + sm->s.off, *end = p + sm->s.len;
    struct pg_pb_field f, lf;
    while (pg_pb_next(&p, end, &f) == 1) {
        if (f.num != 3 || f.wt != PG_WT_LEN)
            continue;
        const uint8_t *lp = f.data, *le = f.data + f.len;
        while (pg_pb_next(&lp, le, &lf) == 1)
            if (lf.num == 1 || lf.num == 2 || lf.num == 4)
                mark_str(ix, m, (int64_t)lf.v);
    }
}

/* Copies the fields of sample sm other than its values to out. Returns the bytes written. */
static size_t copy_nonvalue(const struct pg_pprof_index *ix, const struct pg_pprof_sample *sm,
                            uint8_t *out)
{
    const uint8_t *p = ix->pb + sm->s.off, *end = p + sm->s.len, *q;
    if (sm->vlen != PG_PPROF_SPREAD) { /* one value field: copy around it */
        size_t a = sm->voff - sm->s.off;
        memcpy(out, p, a);
        memcpy(out + a, p + a + sm->vlen, sm->s.len - a - sm->vlen);
        return sm->s.len - sm->vlen;
    }
    struct pg_pb_field f;
    size_t w = 0;
    for (q = p; pg_pb_next(&q, end, &f) == 1;) {
        if (f.num == 2)
            continue;
        memcpy(out + w, f.start, (size_t)(q - f.start));
        w += (size_t)(q - f.start);
    }
    return w;
}

/* Writes sample i with values ov (other fields copied), marking what it uses. */
static size_t write_sample(const struct pg_pprof_index *ix, struct marks *m, size_t i,
                           const int64_t *ov, uint8_t *out)
{
    const struct pg_pprof_sample *sm = &ix->sample[i];
    size_t n = 0;
    for (size_t k = 0; k < ix->n_stype; k++)
        n += varint_size((uint64_t)ov[k]);
    size_t keep = sm->vlen != PG_PPROF_SPREAD ? sm->s.len - sm->vlen : 0;
    if (sm->vlen == PG_PPROF_SPREAD) { /* values over several fields: measure first */
        const uint8_t *p = ix->pb + sm->s.off, *end = p + sm->s.len, *q;
        struct pg_pb_field f;
        for (q = p; pg_pb_next(&q, end, &f) == 1;)
            if (f.num != 2)
                keep += (size_t)(q - f.start);
    }
    size_t bl = keep + 1 + varint_size(n) + n;
    size_t w = put_varint(out, 2 << 3 | PG_WT_LEN);
    w += put_varint(out + w, bl);
    w += copy_nonvalue(ix, sm, out + w);
    out[w++] = 2 << 3 | PG_WT_LEN;
    w += put_varint(out + w, n);
    for (size_t k = 0; k < ix->n_stype; k++)
        w += put_varint(out + w, (uint64_t)ov[k]);
    for (uint32_t j = 0; j < sm->n_loc; j++)
        m->loc[ix->locidx[sm->loc_off + j]] = 1;
    if (sm->n_label)
        mark_labels(ix, m, sm);
    return w;
}

/* Marks the functions and mappings of used locations, then the strings of everything kept. */
static void mark_rest(const struct pg_pprof_index *ix, struct marks *m)
{
    for (size_t i = 0; i < ix->n_loc; i++) {
        if (!m->loc[i])
            continue;
        const struct pg_pprof_loc *l = &ix->loc[i];
        uint32_t mi = l->mapping_id ? pg_pprof_map_find(ix, l->mapping_id) : PG_PPROF_NOT_FOUND;
        if (mi != PG_PPROF_NOT_FOUND)
            m->map[mi] = 1;
        for (uint32_t j = 0; j < l->n_line; j++) {
            uint64_t id = ix->lines[l->line_off + j].function_id;
            uint32_t fi = id ? pg_pprof_fn_find(ix, id) : NONE;
            if (fi != NONE)
                m->fn[fi] = 1;
        }
    }
    m->str[0] = 1;
    for (size_t i = 0; i < 2 * ix->n_stype; i++)
        mark_str(ix, m, ix->stype[i]);
    for (size_t i = 0; i < ix->n_refs; i++)
        mark_str(ix, m, ix->refs[i]);
    for (size_t i = 0; i < ix->n_fn; i++)
        if (m->fn[i]) {
            mark_str(ix, m, ix->fn[i].name);
            mark_str(ix, m, ix->fn[i].system_name);
            mark_str(ix, m, ix->fn[i].filename);
        }
    for (size_t i = 0; i < ix->n_map; i++)
        if (m->map[i]) {
            mark_str(ix, m, ix->map[i].filename);
            mark_str(ix, m, ix->map[i].build_id);
        }
}

/* Writes field `field` (< 16) for each of the n elements whose span is at base + soff +
 * i * stride:
 * kept ones with their payload, others as empty (with empty != 0) or not at all. A kept element
 * that starts where the previous one ended in pb, after a header of canonical length, had
 * exactly the header written here (a longer one would not fit), so such runs are copied from
 * pb in one memcpy. */
static size_t put_elems(const struct pg_pprof_index *ix, const uint8_t *kept, size_t n,
                        const void *base, size_t soff, size_t stride, uint32_t field, int empty,
                        uint8_t *out)
{
    const uint8_t tag = (uint8_t)(field << 3 | PG_WT_LEN);
    size_t w = 0, rs = 0, re = 0; /* the run being gathered: pb[rs..re) */
    for (size_t i = 0; i < n; i++) {
        const struct pg_pprof_span *s = (const void *)((const uint8_t *)base + soff + i * stride);
        if (kept[i] && re && s->off == re + 1 + varint_size(s->len)) {
            re = (size_t)s->off + s->len;
            continue;
        }
        memcpy(out + w, ix->pb + rs, re - rs);
        w += re - rs;
        rs = re = 0;
        if (kept[i]) {
            out[w++] = tag;
            w += put_varint(out + w, s->len);
            rs = s->off;
            re = (size_t)s->off + s->len;
        } else if (empty) {
            out[w++] = tag;
            out[w++] = 0;
        }
    }
    memcpy(out + w, ix->pb + rs, re - rs);
    return w + (re - rs);
}

static size_t write_tables(const struct pg_pprof_index *ix, const struct marks *m, uint8_t *out)
{
    size_t w = 0;
#define ELEMS(T, a) ix->a, offsetof(T, s), sizeof(T)
    w += put_elems(ix, m->map, ix->n_map, ELEMS(struct pg_pprof_map, map), 3, 0, out + w);
    w += put_elems(ix, m->loc, ix->n_loc, ELEMS(struct pg_pprof_loc, loc), 4, 0, out + w);
    w += put_elems(ix, m->fn, ix->n_fn, ELEMS(struct pg_pprof_fn, fn), 5, 0, out + w);
#undef ELEMS
    w += put_elems(ix, m->str, ix->n_str, ix->str, 0, sizeof(*ix->str), 6, 1, out + w);
    return w;
}

static int write_output(const struct pg_fastdelta *d, struct pg_pprof_index *ix,
                        const struct table *nt, const size_t *tidx, struct pg_fastdelta_result *res)
{
    size_t nst = ix->n_stype, nel = ix->n_str + ix->n_loc + ix->n_fn + ix->n_map;
    if (pg_pprof_grow(&ix->mark, &ix->cap_mark, nel + 1, 1) < 0)
        return -1;
    memset(ix->mark, 0, nel + 1);
    struct marks m = {ix->mark, ix->mark + ix->n_str, ix->mark + ix->n_str + ix->n_loc,
                      ix->mark + ix->n_str + ix->n_loc + ix->n_fn};
    size_t bound = ix->len + ix->n_sample * (12 + 10 * nst) + nel * 6 + 16;
    uint8_t *out = malloc(bound);
    if (!out)
        return -1;
    size_t w = 0;
    for (size_t i = 0; i < ix->n_other; i++) {
        memcpy(out + w, ix->pb + ix->other[i].off, ix->other[i].len);
        w += ix->other[i].len;
    }
    int64_t ov[PG_FD_MAX_TYPES];
    res->samples_out = 0;
    for (size_t i = 0; i < ix->n_sample; i++) {
        if (!sample_values(d, ix, nt, tidx, i, ov))
            continue;
        w += write_sample(ix, &m, i, ov, out + w);
        res->samples_out++;
    }
    mark_rest(ix, &m);
    w += write_tables(ix, &m, out + w);
    uint8_t *shrunk = realloc(out, w ? w : 1);
    res->out = shrunk ? shrunk : out;
    res->len = w;
    return 0;
}

/* ---- entry point ---- */

static void install(struct pg_fastdelta *d, struct table *nt, size_t nd, uint64_t sig)
{
    free(d->slots);
    d->slots = nt->slots;
    d->cap = nt->cap;
    d->n_keys = nt->n_keys;
    d->nd = nd;
    d->sig = sig;
    d->primed = 1;
}

int pg_fastdelta_apply(struct pg_fastdelta *d, const uint8_t *pb, size_t len,
                       const char *const *types, size_t n_types, struct pg_fastdelta_result *res,
                       char *err, size_t errlen)
{
    memset(res, 0, sizeof(*res));
    struct pg_pprof_index *ix = pg_pprof_index_thread();
    if (!d || !pb || (n_types && !types) || !ix) {
        pg_errmsg_set(err, errlen, "delta: %s", ix ? "invalid argument" : "out of memory");
        return -1;
    }
    size_t tidx[PG_FD_MAX_TYPES], nd;
    uint64_t sig;
    if (pg_pprof_index_build(ix, pb, len, 1, err, errlen) < 0 ||
        resolve_types(ix, types, n_types, tidx, &nd, &sig, err, errlen) < 0)
        return -1;
    if (ix->n_stype > PG_FD_MAX_TYPES) {
        pg_errmsg_set(err, errlen, "delta: more than %d sample types", PG_FD_MAX_TYPES);
        return -1;
    }
    struct table nt;
    if (build_table(ix, tidx, nd, &nt) < 0) {
        pg_errmsg_set(err, errlen, "delta: out of memory");
        return -1;
    }
    res->samples_in = ix->n_sample;
    if (!d->primed || d->sig != sig || d->nd != nd) {
        install(d, &nt, nd, sig);
        res->primed = 1;
        return 0;
    }
    if (match_old(d, ix, &nt)) {
        install(d, &nt, nd, sig);
        res->reset = 1;
        return 0;
    }
    if (write_output(d, ix, &nt, tidx, res) < 0) {
        free(nt.slots);
        memset(res, 0, sizeof(*res));
        pg_errmsg_set(err, errlen, "delta: out of memory");
        return -1;
    }
    install(d, &nt, nd, sig);
    return 0;
}
