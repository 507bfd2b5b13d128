/* wire.h - a minimal protobuf wire reader for pprof and a streaming structural check.
 *
 * pprof bodies are read here straight from their encoded bytes: no protobuf-c object graph,
 * no allocation per sample. pg_pprof_index_build makes one pass over the top-level fields
 * (remembering where each string, sample, mapping, location and function is) and then checks
 * and, on request, hashes the parts: it is both the validator (pg_pprof_wire_check) and the
 * first passes of the streaming delta (profile/fastdelta.c). The index is scratch memory
 * reused between calls (grown on demand, never shrunk); each thread has its own, freed at
 * thread exit or by pg_profile_thread_release(). */
#ifndef PG_WIRE_H
#define PG_WIRE_H

#include <stddef.h>
#include <stdint.h>

/* ---- wire reader ---- */

/* the readers are small and on every hot path: inlined even where gcc would not */
#define PG_PB_INLINE static inline __attribute__((always_inline))

enum { PG_WT_VARINT = 0, PG_WT_I64 = 1, PG_WT_LEN = 2, PG_WT_I32 = 5 };

struct pg_pb_field {
    uint32_t num;         /* field number */
    int wt;               /* wire type */
    uint64_t v;           /* varint / fixed value */
    const uint8_t *data;  /* PG_WT_LEN: payload */
    size_t len;           /* PG_WT_LEN: payload length */
    const uint8_t *start; /* first byte of the field (its tag) */
};

/* The tail of pg_pb_varint, out of line: reads a varint at p (< end) of any length; p is NULL
 * when truncated or too long. Returned by value so that callers' cursors stay in registers. */
struct pg_pb_vr {
    const uint8_t *p;
    uint64_t v;
};
struct pg_pb_vr pg_pb_varint_long(const uint8_t *p, const uint8_t *end);

/* Reads a varint at *pp (< end). Returns 0 and advances, or -1 when truncated/too long.
 * 1- and 2-byte varints (tags, ids, most small values) are read inline. */
PG_PB_INLINE int pg_pb_varint(const uint8_t **pp, const uint8_t *end, uint64_t *v)
{
    const uint8_t *p = *pp;
    if (__builtin_expect(p < end && p[0] < 0x80, 1)) {
        *v = p[0];
        *pp = p + 1;
        return 0;
    }
    if (end - p >= 2 && p[1] < 0x80) { /* p[0] >= 0x80 here */
        *v = (uint64_t)(p[0] & 0x7f) | (uint64_t)p[1] << 7;
        *pp = p + 2;
        return 0;
    }
    struct pg_pb_vr r = pg_pb_varint_long(p, end);
    if (!r.p)
        return -1;
    *v = r.v;
    *pp = r.p;
    return 0;
}

/* Reads the next field at *pp. Returns 1 (field read, *pp advanced), 0 at end, -1 when
 * malformed (bad tag, group wire types, truncated). */
PG_PB_INLINE int pg_pb_next(const uint8_t **pp, const uint8_t *end, struct pg_pb_field *f)
{
    const uint8_t *p = *pp;
    if (p >= end)
        return 0;
    f->start = p;
    f->data = NULL;
    f->len = 0;
    uint64_t tag = p[0];
    if (tag >= 0x08 && tag < 0x80) /* one-byte tag: field 1..15 */
        p++;
    else if (pg_pb_varint(&p, end, &tag) < 0 || (tag >> 3) == 0 || (tag >> 3) > 0x1fffffff)
        return -1;
    f->num = (uint32_t)(tag >> 3);
    f->wt = (int)(tag & 7);
    if (f->wt == PG_WT_VARINT) {
        if (pg_pb_varint(&p, end, &f->v) < 0)
            return -1;
    } else if (f->wt == PG_WT_LEN) {
        if (pg_pb_varint(&p, end, &f->v) < 0 || f->v > (uint64_t)(end - p))
            return -1;
        f->data = p;
        f->len = (size_t)f->v;
        p += f->len;
    } else if (f->wt == PG_WT_I64 || f->wt == PG_WT_I32) {
        size_t n = f->wt == PG_WT_I64 ? 8 : 4;
        if ((size_t)(end - p) < n)
            return -1;
        f->v = 0;
        for (size_t i = 0; i < n; i++)
            f->v |= (uint64_t)p[i] << (8 * i);
        p += n;
    } else {
        return -1;
    }
    *pp = p;
    return 1;
}

/* Iterates a repeated integer field that may be packed (PG_WT_LEN) or not (PG_WT_VARINT):
 * call pg_pb_ints_begin once per field occurrence, then pg_pb_ints_next until it returns 0.
 * Returns 1 with *v, 0 at end, -1 when malformed or the wire type is wrong. */
struct pg_pb_ints {
    const uint8_t *p, *end;
    int single; /* 1 = one unpacked value pending, 2 = done */
    uint64_t v;
    int bad;
};
void pg_pb_ints_begin(struct pg_pb_ints *it, const struct pg_pb_field *f);
static inline int pg_pb_ints_next(struct pg_pb_ints *it, uint64_t *v)
{
    if (it->bad)
        return -1;
    if (it->single) {
        if (it->single == 2)
            return 0;
        it->single = 2;
        *v = it->v;
        return 1;
    }
    if (it->p >= it->end)
        return 0;
    return pg_pb_varint(&it->p, it->end, v) < 0 ? -1 : 1;
}

/* ---- pprof index ---- */

struct pg_pprof_span {
    uint32_t off, len; /* payload of a length-delimited field, as offsets into the body */
};

struct pg_pprof_fn {
    uint64_t id, hash;
    int64_t name, system_name, filename;
    struct pg_pprof_span s;
};

struct pg_pprof_map {
    uint64_t id, hash;
    int64_t filename, build_id;
    struct pg_pprof_span s;
};

struct pg_pprof_loc {
    uint64_t id, mapping_id, address, hash;
    struct pg_pprof_span s;
    uint32_t line_off, n_line; /* in pg_pprof_index.lines */
};

struct pg_pprof_line {
    uint64_t function_id;
    int64_t line;
};

#define PG_PPROF_SPREAD UINT32_MAX
struct pg_pprof_sample {
    struct pg_pprof_span s;
    uint32_t voff, vlen;     /* the value field (tag to end) as body offsets; vlen is
                              * PG_PPROF_SPREAD when values are in several fields */
    uint32_t loc_off, n_loc; /* location indexes in pg_pprof_index.locidx (hash only) */
    uint32_t n_label;
};

/* id -> array index; dense when ids are 1..n in order (Go's encoder), else sorted pairs */
struct pg_pprof_idmap {
    int dense;
    struct pg_pprof_idpair {
        uint64_t id;
        uint32_t idx;
    } * pairs;
    size_t cap;
};

#define PG_PPROF_NOT_FOUND UINT32_MAX

struct pg_pprof_index {
    const uint8_t *pb;
    size_t len;
    struct pg_pprof_span *str, *other; /* other: whole fields to copy verbatim */
    struct pg_pprof_sample *sample;
    struct pg_pprof_line *lines;
    size_t n_lines, cap_lines;
    uint32_t *locidx;  /* per sample, its location indexes (hash only) */
    uint64_t *lochash; /* per location, its hash (hash only; compact for the sample pass) */
    size_t cap_lochash;
    uint64_t *strhash; /* per string, its hash once computed (hash only) */
    size_t cap_strhash;
    size_t n_locidx, cap_locidx;
    size_t n_str, n_sample, n_other, cap_str, cap_sample, cap_other;
    struct pg_pprof_fn *fn;
    struct pg_pprof_map *map;
    struct pg_pprof_loc *loc;
    size_t n_fn, n_map, n_loc, cap_fn, cap_map, cap_loc;
    struct pg_pprof_idmap fn_ids, map_ids, loc_ids;
    int64_t *stype; /* 2 per sample type: type, unit string indexes */
    size_t n_stype, cap_stype;
    int64_t *refs; /* other top-level string references (period type, comments, ...) */
    size_t n_refs, cap_refs;
    /* filled when hashing (pg_pprof_index_build with hash != 0) */
    uint64_t *key; /* n_sample sample keys (stack content + labels), never 0 */
    int64_t *vals; /* n_sample * n_stype values */
    size_t cap_key, cap_vals;
    uint64_t *tmp; /* hash input scratch */
    size_t cap_tmp;
    /* scratch for fastdelta.c (not touched here) */
    uint8_t *mark; /* per string / location / function / mapping "used" flags */
    size_t cap_mark;
    uint32_t *slot;
    size_t cap_slot;
};

/* Indexes and checks the pprof body pb[0..len) with the rules of pg_pprof_validate (string
 * table starts with "", sample types exist, every string index in range, each sample has
 * one value per sample type) plus: every location id a sample references exists, and every
 * non-zero function id (lines) and mapping id (locations) exists. With hash != 0 it also
 * fills key[] (content hash of each sample: location addresses, mappings' file and build id,
 * lines' function name/system name/filename/line, labels order-independent; not ids, which
 * may be renumbered between scrapes) and vals[]. The index points into pb, which must
 * outlive its use. Returns 0, or -1 with a reason in err. */
int pg_pprof_index_build(struct pg_pprof_index *ix, const uint8_t *pb, size_t len, int hash,
                         char *err, size_t errlen);

/* Array index of the element with this id, or PG_PPROF_NOT_FOUND. */
uint32_t pg_pprof_idmap_find(const struct pg_pprof_idmap *m, size_t n, uint64_t id);
static inline uint32_t pg_pprof_loc_find(const struct pg_pprof_index *ix, uint64_t id)
{
    if (ix->loc_ids.dense)
        return id >= 1 && id <= ix->n_loc ? (uint32_t)(id - 1) : PG_PPROF_NOT_FOUND;
    return pg_pprof_idmap_find(&ix->loc_ids, ix->n_loc, id);
}
static inline uint32_t pg_pprof_map_find(const struct pg_pprof_index *ix, uint64_t id)
{
    if (ix->map_ids.dense)
        return id >= 1 && id <= ix->n_map ? (uint32_t)(id - 1) : PG_PPROF_NOT_FOUND;
    return pg_pprof_idmap_find(&ix->map_ids, ix->n_map, id);
}
static inline uint32_t pg_pprof_fn_find(const struct pg_pprof_index *ix, uint64_t id)
{
    if (ix->fn_ids.dense)
        return id >= 1 && id <= ix->n_fn ? (uint32_t)(id - 1) : PG_PPROF_NOT_FOUND;
    return pg_pprof_idmap_find(&ix->fn_ids, ix->n_fn, id);
}

/* Grows *buf (elements of size sz, *cap of them) to hold at least n. Returns 0 or -1. */
int pg_pprof_grow_slow(void *buf, size_t *cap, size_t n, size_t sz);
static inline int pg_pprof_grow(void *buf, size_t *cap, size_t n, size_t sz)
{
    return n <= *cap ? 0 : pg_pprof_grow_slow(buf, cap, n, sz);
}

/* The calling thread's scratch index (created on demand), or NULL when out of memory. */
struct pg_pprof_index *pg_pprof_index_thread(void);

/* Frees the calling thread's cached scratch: the index and libdeflate objects (profile/gz.h).
 * Optional: they are freed automatically when a thread exits. */
void pg_profile_thread_release(void);

/* Structural check of an uncompressed pprof body without building a protobuf-c object graph
 * (same rules as pg_pprof_index_build). Returns 0, or -1 with a reason in err. */
int pg_pprof_wire_check(const uint8_t *pb, size_t len, char *err, size_t errlen);

#endif
