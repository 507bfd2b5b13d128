/* delta_ref.c - the reference delta (see delta_ref.h): per-key cumulative baseline and
 * in-place delta of decoded pprof profiles. The baseline is an open-addressing hash table keyed by
 * a 64-bit hash of the sample's resolved stack and labels; key 0 marks an empty slot (a real hash
 * of 0 is mapped to 1). A 64-bit collision would merge two stacks' values; at realistic stack
 * counts (< 1e6) its probability is below 1e-7 per scrape and it only skews a delta. */
#include "delta_ref.h"

#include <stdlib.h>
#include <string.h>

struct pg_delta {
    size_t n_types; /* values per slot; 0 = not primed */
    size_t cap;     /* slots, power of two */
    uint64_t *keys; /* cap keys, 0 = empty */
    int64_t *vals;  /* cap * n_types cumulative values */
};

struct pg_delta *pg_delta_create(void)
{
    return calloc(1, sizeof(struct pg_delta));
}

void pg_delta_destroy(struct pg_delta *d)
{
    if (!d)
        return;
    free(d->keys);
    free(d->vals);
    free(d);
}

/* ---- hashing ---- */

#define FNV_OFF 1469598103934665603ULL
#define FNV_PRIME 1099511628211ULL

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

static uint64_t h_bytes(uint64_t h, const void *b, size_t n)
{
    const unsigned char *c = b;
    for (size_t i = 0; i < n; i++) {
        h ^= c[i];
        h *= FNV_PRIME;
    }
    return h;
}

static uint64_t h_u64(uint64_t h, uint64_t v)
{
    unsigned char b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)(v >> (8 * i));
    return h_bytes(h, b, sizeof(b));
}

static const char *str_at(const Perftools__Profiles__Profile *p, int64_t idx)
{
    if (idx < 0 || (uint64_t)idx >= p->n_string_table || !p->string_table[idx])
        return "";
    return p->string_table[idx];
}

/* Strings are hashed with a length prefix so that ("ab","c") != ("a","bc"). */
static uint64_t h_str(uint64_t h, const char *s)
{
    size_t n = strlen(s);
    return h_bytes(h_u64(h, n), s, n);
}

/* Id lookups: Go emits ids 1..n at index id-1 ("dense"); otherwise binary search over
 * a copy sorted by id. */
static const Perftools__Profiles__Location *find_loc(const Perftools__Profiles__Profile *p,
                                                     const Perftools__Profiles__Location **sorted,
                                                     int dense, uint64_t id)
{
    if (dense)
        return (id >= 1 && id <= p->n_location) ? p->location[id - 1] : NULL;
    size_t lo = 0, hi = p->n_location;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (sorted[mid]->id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return (lo < p->n_location && sorted[lo]->id == id) ? sorted[lo] : NULL;
}

static const Perftools__Profiles__Function *find_fn(const Perftools__Profiles__Profile *p,
                                                    const Perftools__Profiles__Function **sorted,
                                                    int dense, uint64_t id)
{
    if (dense)
        return (id >= 1 && id <= p->n_function) ? p->function[id - 1] : NULL;
    size_t lo = 0, hi = p->n_function;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (sorted[mid]->id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return (lo < p->n_function && sorted[lo]->id == id) ? sorted[lo] : NULL;
}

static int cmp_loc(const void *a, const void *b)
{
    const Perftools__Profiles__Location *x = *(const Perftools__Profiles__Location *const *)a;
    const Perftools__Profiles__Location *y = *(const Perftools__Profiles__Location *const *)b;
    return x->id < y->id ? -1 : x->id > y->id;
}

static int cmp_fn(const void *a, const void *b)
{
    const Perftools__Profiles__Function *x = *(const Perftools__Profiles__Function *const *)a;
    const Perftools__Profiles__Function *y = *(const Perftools__Profiles__Function *const *)b;
    return x->id < y->id ? -1 : x->id > y->id;
}

struct resolver {
    const Perftools__Profiles__Profile *p;
    const Perftools__Profiles__Location **locs;
    const Perftools__Profiles__Function **fns;
    int loc_dense, fn_dense;
};

static int resolver_init(struct resolver *r, const Perftools__Profiles__Profile *p)
{
    memset(r, 0, sizeof(*r));
    r->p = p;
    r->loc_dense = r->fn_dense = 1;
    for (size_t i = 0; i < p->n_location; i++)
        if (p->location[i]->id != i + 1)
            r->loc_dense = 0;
    for (size_t i = 0; i < p->n_function; i++)
        if (p->function[i]->id != i + 1)
            r->fn_dense = 0;
    if (!r->loc_dense) {
        r->locs = malloc(p->n_location * sizeof(*r->locs));
        if (!r->locs)
            return -1;
        memcpy(r->locs, p->location, p->n_location * sizeof(*r->locs));
        qsort(r->locs, p->n_location, sizeof(*r->locs), cmp_loc);
    }
    if (!r->fn_dense) {
        r->fns = malloc(p->n_function * sizeof(*r->fns));
        if (!r->fns) {
            free(r->locs);
            return -1;
        }
        memcpy(r->fns, p->function, p->n_function * sizeof(*r->fns));
        qsort(r->fns, p->n_function, sizeof(*r->fns), cmp_fn);
    }
    return 0;
}

static void resolver_free(struct resolver *r)
{
    free(r->locs);
    free(r->fns);
}

static uint64_t sample_key(const struct resolver *r, const Perftools__Profiles__Sample *s)
{
    const Perftools__Profiles__Profile *p = r->p;
    uint64_t h = h_u64(FNV_OFF, s->n_location_id);
    for (size_t i = 0; i < s->n_location_id; i++) {
        const Perftools__Profiles__Location *loc =
            find_loc(p, r->locs, r->loc_dense, s->location_id[i]);
        if (!loc) {
            h = h_u64(h_u64(h, 'I'), s->location_id[i]);
            continue;
        }
        if (loc->n_line == 0) { /* unsymbolized frame: the address is all we have */
            h = h_u64(h_u64(h, 'A'), loc->address);
            continue;
        }
        h = h_u64(h_u64(h, 'L'), loc->n_line);
        for (size_t j = 0; j < loc->n_line; j++) {
            const Perftools__Profiles__Line *ln = loc->line[j];
            const Perftools__Profiles__Function *fn =
                find_fn(p, r->fns, r->fn_dense, ln->function_id);
            h = h_str(h, fn ? str_at(p, fn->name) : "");
            h = h_str(h, fn ? str_at(p, fn->filename) : "");
            h = h_u64(h, (uint64_t)ln->line);
        }
    }
    /* labels: order-independent combination of per-label hashes */
    uint64_t lh = 0;
    for (size_t i = 0; i < s->n_label; i++) {
        const Perftools__Profiles__Label *l = s->label[i];
        uint64_t x = h_str(FNV_OFF, str_at(p, l->key));
        x = h_str(x, l->str ? str_at(p, l->str) : "");
        x = h_u64(x, (uint64_t)l->num);
        x = h_str(x, l->num_unit ? str_at(p, l->num_unit) : "");
        lh += mix64(x);
    }
    h = mix64(h ^ mix64(lh + s->n_label));
    return h ? h : 1;
}

/* ---- table ---- */

static size_t slot_find(const uint64_t *keys, size_t cap, uint64_t key)
{
    size_t m = cap - 1, i = (size_t)key & m;
    while (keys[i] && keys[i] != key)
        i = (i + 1) & m;
    return i;
}

static int64_t sat_add(int64_t a, int64_t b)
{
    int64_t r;
    if (__builtin_add_overflow(a, b, &r))
        return b > 0 ? INT64_MAX : INT64_MIN;
    return r;
}

/* current - previous, clamped to [0, INT64_MAX] */
static int64_t clamp_sub(int64_t cur, int64_t prev)
{
    int64_t r;
    if (cur <= prev)
        return 0;
    if (__builtin_sub_overflow(cur, prev, &r))
        return INT64_MAX;
    return r;
}

/* For each of delta_types, the index of the sample type of that name in p. Returns a
 * malloc'd array of n_types indexes, or NULL when one is missing or out of memory. */
static size_t *type_indexes(const Perftools__Profiles__Profile *p, const char *const *delta_types,
                            size_t n_types)
{
    size_t *idx = malloc(n_types * sizeof(*idx));
    if (!idx)
        return NULL;
    for (size_t t = 0; t < n_types; t++) {
        size_t k = 0;
        while (k < p->n_sample_type &&
               !(delta_types[t] && strcmp(str_at(p, p->sample_type[k]->type), delta_types[t]) == 0))
            k++;
        if (k == p->n_sample_type) {
            free(idx);
            return NULL;
        }
        idx[t] = k;
    }
    return idx;
}

/* The profile being applied, aggregated per key: the table that becomes the baseline. */
struct cur_table {
    size_t cap;           /* slots, power of two */
    uint64_t *keys;       /* cap keys, 0 = empty */
    int64_t *vals;        /* cap * n_types summed cumulative values */
    size_t *slot;         /* per sample: the slot of its key */
    unsigned char *first; /* per sample: 1 if it is the first sample of its key */
};

static void cur_table_free(struct cur_table *c)
{
    free(c->keys);
    free(c->vals);
    free(c->slot);
    free(c->first);
}

/* Pass 1: sums the current cumulative values of the types at idx per key into a new
 * table c. Returns 0, or -1 on OOM (c left freed). */
static int aggregate(struct cur_table *c, const Perftools__Profiles__Profile *p, const size_t *idx,
                     size_t n_types)
{
    size_t n = p->n_sample;
    c->cap = 16;
    while (c->cap < 2 * n)
        c->cap *= 2;
    struct resolver r;
    c->keys = calloc(c->cap, sizeof(*c->keys));
    c->vals = calloc(c->cap * n_types, sizeof(*c->vals));
    c->slot = malloc((n ? n : 1) * sizeof(*c->slot));
    c->first = malloc(n ? n : 1);
    if (!c->keys || !c->vals || !c->slot || !c->first || resolver_init(&r, p) != 0) {
        cur_table_free(c);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        const Perftools__Profiles__Sample *s = p->sample[i];
        uint64_t key = sample_key(&r, s);
        size_t sl = slot_find(c->keys, c->cap, key);
        c->first[i] = c->keys[sl] == 0;
        c->keys[sl] = key;
        c->slot[i] = sl;
        for (size_t t = 0; t < n_types; t++)
            if (idx[t] < s->n_value)
                c->vals[sl * n_types + t] = sat_add(c->vals[sl * n_types + t], s->value[idx[t]]);
    }
    resolver_free(&r);
    return 0;
}

/* Pass 2: replaces p's values of the types at idx by deltas against the baseline d; the
 * first sample of a key carries the delta, the others get 0. */
static void replace_by_deltas(const struct pg_delta *d, Perftools__Profiles__Profile *p,
                              const struct cur_table *c, const size_t *idx, size_t n_types)
{
    for (size_t i = 0; i < p->n_sample; i++) {
        Perftools__Profiles__Sample *s = p->sample[i];
        size_t sl = c->slot[i];
        size_t old = slot_find(d->keys, d->cap, c->keys[sl]);
        int have = d->keys[old] != 0;
        for (size_t t = 0; t < n_types; t++) {
            if (idx[t] >= s->n_value)
                continue;
            int64_t dv = 0;
            if (c->first[i])
                dv = clamp_sub(c->vals[sl * n_types + t], have ? d->vals[old * n_types + t] : 0);
            s->value[idx[t]] = dv;
        }
    }
}

/* Pass 3: drops (and frees) the samples left with nothing but zeros. */
static void drop_zero_samples(Perftools__Profiles__Profile *p)
{
    size_t w = 0;
    for (size_t i = 0; i < p->n_sample; i++) {
        Perftools__Profiles__Sample *s = p->sample[i];
        int nonzero = 0;
        for (size_t v = 0; v < s->n_value && !nonzero; v++)
            nonzero = s->value[v] != 0;
        if (nonzero)
            p->sample[w++] = s;
        else
            perftools__profiles__sample__free_unpacked(s, NULL);
    }
    p->n_sample = w;
}

int pg_delta_apply(struct pg_delta *d, Perftools__Profiles__Profile *p,
                   const char *const *delta_types, size_t n_types, int *primed_only)
{
    if (!d || !p || !delta_types || n_types == 0 || !primed_only)
        return -1;
    size_t *idx = type_indexes(p, delta_types, n_types);
    if (!idx)
        return -1;
    struct cur_table c;
    if (aggregate(&c, p, idx, n_types) != 0) {
        free(idx);
        return -1;
    }
    int prime = d->n_types != n_types || !d->keys;
    if (!prime) {
        replace_by_deltas(d, p, &c, idx, n_types);
        drop_zero_samples(p);
    }
    free(d->keys);
    free(d->vals);
    d->keys = c.keys;
    d->vals = c.vals;
    d->cap = c.cap;
    d->n_types = n_types;
    *primed_only = prime;
    free(c.slot);
    free(c.first);
    free(idx);
    return 0;
}

int pg_delta_encode(const Perftools__Profiles__Profile *p, uint8_t **out, size_t *len)
{
    if (!p || !out || !len)
        return -1;
    size_t n = perftools__profiles__profile__get_packed_size(p);
    uint8_t *b = malloc(n ? n : 1);
    if (!b)
        return -1;
    size_t w = perftools__profiles__profile__pack(p, b);
    if (w != n) {
        free(b);
        return -1;
    }
    *out = b;
    *len = n;
    return 0;
}
