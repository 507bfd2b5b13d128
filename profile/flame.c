/* flame.c - pprof -> pruned frame tree -> JSON for the flame graph (see flame.h).
 *
 * Build: the body is unwrapped (profile/pprof.h), indexed by the per-thread wire index
 * (profile/wire.h), and every sample's stack is walked root-first into a node table; a node
 * is found by (parent, name) in an open-addressing hash. Prune: nodes are ordered by total
 * (descending, creation order on ties, so parents come first) and a prefix is kept. The
 * kept nodes' names are copied out, so the tree owns everything it returns. */
#include "profile/flame.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/errmsg.h"
#include "core/utf8.h"
#include "profile/pprof.h"
#include "profile/wire.h"

#define NONE UINT32_MAX

struct bnode {    /* a node while building */
    int64_t name; /* >= 0: string index; < 0: -(location index + 1), named by address */
    uint32_t parent, first, next;
    int64_t total, self;
};

struct knode {     /* a kept node */
    uint32_t name; /* index into names */
    int64_t total, self;
    uint32_t kid_off, n_kids; /* in kids */
};

struct pg_flame {
    char **names;
    size_t n_names;
    struct knode *nodes;
    size_t n_nodes, pruned;
    uint32_t *kids;
    char **stypes; /* 2 per sample type: type, unit */
    size_t n_stypes, sample_index;
    int64_t min_total;
};

struct builder {
    const struct pg_pprof_index *ix;
    struct bnode *n;
    size_t len, cap;
    uint32_t *ht; /* node indexes, NONE = empty */
    size_t ht_cap;
    uint64_t *locs; /* one sample's location ids */
    size_t cap_locs;
    int too_big; /* more than PG_FLAME_MAX_BUILD_NODES call paths */
};

/* Adds v to *acc, saturating at the int64 limits (sample values are the target's: a sum
 * must not overflow, which would be undefined behaviour). */
static void sat_add(int64_t *acc, int64_t v)
{
    if (__builtin_add_overflow(*acc, v, acc))
        *acc = v > 0 ? INT64_MAX : INT64_MIN;
}

static uint64_t mix(uint64_t parent, int64_t name)
{
    uint64_t h = parent * 0x9e3779b97f4a7c15ull ^ (uint64_t)name * 0xc2b2ae3d27d4eb4full;
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ull;
    return h ^ (h >> 32);
}

static int ht_grow(struct builder *b)
{
    size_t cap = b->ht_cap ? b->ht_cap * 2 : 1024;
    uint32_t *ht = malloc(cap * sizeof(*ht));
    if (!ht)
        return -1;
    memset(ht, 0xff, cap * sizeof(*ht));
    for (size_t i = 1; i < b->len; i++) { /* the root is never looked up */
        size_t h = mix(b->n[i].parent, b->n[i].name) & (cap - 1);
        while (ht[h] != NONE)
            h = (h + 1) & (cap - 1);
        ht[h] = (uint32_t)i;
    }
    free(b->ht);
    b->ht = ht;
    b->ht_cap = cap;
    return 0;
}

/* The child of parent named name, created when missing. Returns its index or NONE (OOM). */
static uint32_t child(struct builder *b, uint32_t parent, int64_t name)
{
    if ((b->len + 1) * 2 > b->ht_cap && ht_grow(b) < 0)
        return NONE;
    size_t h = mix(parent, name) & (b->ht_cap - 1);
    for (; b->ht[h] != NONE; h = (h + 1) & (b->ht_cap - 1)) {
        const struct bnode *c = &b->n[b->ht[h]];
        if (c->parent == parent && c->name == name)
            return b->ht[h];
    }
    if (b->len >= PG_FLAME_MAX_BUILD_NODES) {
        b->too_big = 1; /* a hostile profile (inlined lines x locations) must not take GBs */
        return NONE;
    }
    if (pg_pprof_grow(&b->n, &b->cap, b->len + 1, sizeof(*b->n)) < 0)
        return NONE;
    uint32_t i = (uint32_t)b->len++;
    b->n[i] = (struct bnode){name, parent, NONE, b->n[parent].first, 0, 0};
    b->n[parent].first = i;
    b->ht[h] = i;
    return i;
}

/* Adds value v along location loc's frames (inlined lines caller-first) under *cur. */
static int add_location(struct builder *b, uint32_t li, int64_t v, uint32_t *cur)
{
    const struct pg_pprof_index *ix = b->ix;
    const struct pg_pprof_loc *l = &ix->loc[li];
    if (l->n_line == 0) {
        if ((*cur = child(b, *cur, -(int64_t)li - 1)) == NONE)
            return -1;
        sat_add(&b->n[*cur].total, v);
        return 0;
    }
    for (uint32_t j = l->n_line; j-- > 0;) {
        const struct pg_pprof_line *ln = &ix->lines[l->line_off + j];
        uint32_t fi = ln->function_id ? pg_pprof_fn_find(ix, ln->function_id) : PG_PPROF_NOT_FOUND;
        int64_t name = fi != PG_PPROF_NOT_FOUND ? ix->fn[fi].name : -(int64_t)li - 1;
        if ((*cur = child(b, *cur, name)) == NONE)
            return -1;
        sat_add(&b->n[*cur].total, v);
    }
    return 0;
}

/* Reads sample s: its location ids into b->locs (*n_locs) and its value of type si. */
static int read_sample(struct builder *b, const struct pg_pprof_sample *s, size_t si,
                       size_t *n_locs, int64_t *value)
{
    const uint8_t *p = b->ix->pb + s->s.off, *end = p + s->s.len;
    struct pg_pb_field f;
    int r;
    size_t vi = 0;
    *n_locs = 0;
    *value = 0;
    while ((r = pg_pb_next(&p, end, &f)) == 1) {
        if (f.num != 1 && f.num != 2)
            continue;
        struct pg_pb_ints it;
        uint64_t v;
        pg_pb_ints_begin(&it, &f);
        while ((r = pg_pb_ints_next(&it, &v)) == 1) {
            if (f.num == 2) {
                if (vi++ == si)
                    *value = (int64_t)v;
            } else {
                if (pg_pprof_grow(&b->locs, &b->cap_locs, *n_locs + 1, sizeof(*b->locs)) < 0)
                    return -1;
                b->locs[(*n_locs)++] = v;
            }
        }
        if (r < 0)
            return -1;
    }
    return r;
}

static int build_tree(struct builder *b, size_t si, char *err, size_t errlen)
{
    const struct pg_pprof_index *ix = b->ix;
    if (pg_pprof_grow(&b->n, &b->cap, 1, sizeof(*b->n)) < 0 || ht_grow(b) < 0)
        goto oom;
    b->n[0] = (struct bnode){0, NONE, NONE, NONE, 0, 0};
    b->len = 1;
    for (size_t i = 0; i < ix->n_sample; i++) {
        size_t nl;
        int64_t v;
        if (read_sample(b, &ix->sample[i], si, &nl, &v) < 0) {
            pg_errmsg_set(err, errlen, "sample %zu is malformed", i);
            return -1;
        }
        if (v == 0)
            continue;
        uint32_t cur = 0;
        sat_add(&b->n[0].total, v);
        for (size_t k = nl; k-- > 0;) {
            uint32_t li = pg_pprof_loc_find(ix, b->locs[k]);
            if (li == PG_PPROF_NOT_FOUND)
                continue; /* the wire check refuses these; be safe anyway */
            if (add_location(b, li, v, &cur) < 0)
                goto oom;
        }
        sat_add(&b->n[cur].self, v);
    }
    return 0;
oom:
    if (b->too_big)
        pg_errmsg_set(err, errlen, "the profile has more than %d distinct call paths",
                      PG_FLAME_MAX_BUILD_NODES);
    else
        pg_errmsg_set(err, errlen, "out of memory building the frame tree");
    return -1;
}

/* qsort has no context argument in C11; the tree is built on several workers at once */
static _Thread_local const struct bnode *sort_nodes;

static int by_width(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    int64_t tx = sort_nodes[x].total, ty = sort_nodes[y].total;
    if (tx != ty)
        return tx > ty ? -1 : 1;
    return x < y ? -1 : x > y;
}

static char *str_dup_span(const struct pg_pprof_index *ix, int64_t s)
{
    if (s < 0 || (size_t)s >= ix->n_str)
        return strdup("?");
    const struct pg_pprof_span *sp = &ix->str[s];
    char *out = malloc((size_t)sp->len + 1);
    if (out) {
        memcpy(out, ix->pb + sp->off, sp->len);
        out[sp->len] = '\0';
    }
    return out;
}

/* The output name index of build node bn (names deduplicated by string index). */
static int name_of(struct pg_flame *f, const struct pg_pprof_index *ix, const struct bnode *bn,
                   int32_t *str_out, uint32_t *out)
{
    if (bn->name >= 0 && (size_t)bn->name < ix->n_str && str_out[bn->name] >= 0) {
        *out = (uint32_t)str_out[bn->name];
        return 0;
    }
    char *s;
    if (bn->parent == NONE)
        s = strdup("total");
    else if (bn->name >= 0)
        s = str_dup_span(ix, bn->name);
    else {
        char buf[32];
        snprintf(buf, sizeof(buf), "0x%llx",
                 (unsigned long long)ix->loc[(size_t)(-bn->name - 1)].address);
        s = strdup(buf);
    }
    if (!s)
        return -1;
    f->names[f->n_names] = s;
    *out = (uint32_t)f->n_names++;
    if (bn->parent != NONE && bn->name >= 0 && (size_t)bn->name < ix->n_str)
        str_out[bn->name] = (int32_t)*out;
    return 0;
}

static _Thread_local const struct pg_flame *sort_flame;

static int by_name(const void *a, const void *b)
{
    const struct knode *x = &sort_flame->nodes[*(const uint32_t *)a];
    const struct knode *y = &sort_flame->nodes[*(const uint32_t *)b];
    return strcmp(sort_flame->names[x->name], sort_flame->names[y->name]);
}

/* Keeps the widest nodes of b into f, links children and sorts them by name. */
static int prune(struct pg_flame *f, const struct builder *b, size_t max_nodes, double min_frac)
{
    const struct pg_pprof_index *ix = b->ix;
    size_t n = b->len;
    uint32_t *order = malloc(n * sizeof(*order)), *kidx = malloc(n * sizeof(*kidx));
    int32_t *str_out = malloc((ix->n_str ? ix->n_str : 1) * sizeof(*str_out));
    int rc = -1;
    if (!order || !kidx || !str_out)
        goto out;
    for (size_t i = 0; i < n; i++)
        order[i] = (uint32_t)i, kidx[i] = NONE;
    memset(str_out, 0xff, (ix->n_str ? ix->n_str : 1) * sizeof(*str_out));
    sort_nodes = b->n;
    qsort(order, n, sizeof(*order), by_width);
    int64_t min = (int64_t)(min_frac * (double)b->n[0].total);
    size_t k = 0;
    while (k < n && k < max_nodes &&
           (k == 0 || (b->n[order[k]].total >= min && b->n[order[k]].total > 0)))
        k++;
    f->min_total = k < n ? b->n[order[k - 1]].total : 0;
    f->pruned = n - k;
    if (!(f->nodes = calloc(k, sizeof(*f->nodes))) || !(f->names = calloc(k, sizeof(*f->names))) ||
        !(f->kids = calloc(k, sizeof(*f->kids))))
        goto out;
    for (size_t i = 0; i < k; i++) {
        const struct bnode *bn = &b->n[order[i]];
        kidx[order[i]] = (uint32_t)i;
        f->nodes[i] = (struct knode){0, bn->total, bn->self, 0, 0};
        if (name_of(f, ix, bn, str_out, &f->nodes[i].name) < 0)
            goto out;
        if (bn->parent != NONE)
            f->nodes[kidx[bn->parent]].n_kids++;
    }
    f->n_nodes = k;
    uint32_t off = 0;
    for (size_t i = 0; i < k; i++) {
        f->nodes[i].kid_off = off;
        off += f->nodes[i].n_kids;
        f->nodes[i].n_kids = 0;
    }
    for (size_t i = 1; i < k; i++) {
        struct knode *p = &f->nodes[kidx[b->n[order[i]].parent]];
        f->kids[p->kid_off + p->n_kids++] = (uint32_t)i;
    }
    sort_flame = f;
    for (size_t i = 0; i < k; i++)
        qsort(f->kids + f->nodes[i].kid_off, f->nodes[i].n_kids, sizeof(*f->kids), by_name);
    rc = 0;
out:
    free(order);
    free(kidx);
    free(str_out);
    return rc;
}

static int copy_stypes(struct pg_flame *f, const struct pg_pprof_index *ix)
{
    if (!(f->stypes = calloc(2 * ix->n_stype + 1, sizeof(*f->stypes))))
        return -1;
    f->n_stypes = ix->n_stype;
    for (size_t i = 0; i < 2 * ix->n_stype; i++)
        if (!(f->stypes[i] = str_dup_span(ix, ix->stype[i])))
            return -1;
    return 0;
}

struct pg_flame *pg_flame_build(const uint8_t *body, size_t len, size_t limit, size_t sample_index,
                                size_t max_nodes, double min_frac, char *err, size_t errlen)
{
    uint8_t *raw = NULL;
    size_t rawlen = 0;
    if (pg_pprof_unwrap(body, len, NULL, limit, &raw, &rawlen, err, errlen) < 0)
        return NULL;
    struct pg_pprof_index *ix = pg_pprof_index_thread();
    struct pg_flame *f = calloc(1, sizeof(*f));
    struct builder b = {.ix = ix};
    if (!ix || !f) {
        pg_errmsg_set(err, errlen, "out of memory");
        goto fail;
    }
    if (pg_pprof_index_build(ix, raw, rawlen, 0, err, errlen) < 0)
        goto fail;
    if (sample_index == PG_FLAME_LAST_TYPE && ix->n_stype > 0)
        sample_index = ix->n_stype - 1;
    if (sample_index >= ix->n_stype) {
        pg_errmsg_set(err, errlen, "sample type %zu out of range: the profile has %zu",
                      sample_index, ix->n_stype);
        goto fail;
    }
    f->sample_index = sample_index;
    if (build_tree(&b, sample_index, err, errlen) < 0)
        goto fail;
    if (copy_stypes(f, ix) < 0 || prune(f, &b, max_nodes ? max_nodes : 1, min_frac) < 0) {
        pg_errmsg_set(err, errlen, "out of memory");
        goto fail;
    }
    free(b.n);
    free(b.ht);
    free(b.locs);
    free(raw);
    return f;
fail:
    free(b.n);
    free(b.ht);
    free(b.locs);
    free(raw);
    pg_flame_free(f);
    return NULL;
}

size_t pg_flame_nodes(const struct pg_flame *f)
{
    return f->n_nodes;
}

size_t pg_flame_pruned(const struct pg_flame *f)
{
    return f->pruned;
}

size_t pg_flame_sample_types(const struct pg_flame *f)
{
    return f->n_stypes;
}

void pg_flame_sample_type(const struct pg_flame *f, size_t i, const char **type, const char **unit)
{
    *type = f->stypes[2 * i];
    *unit = f->stypes[2 * i + 1];
}

void pg_flame_node(const struct pg_flame *f, size_t i, struct pg_flame_node_info *out)
{
    const struct knode *n = &f->nodes[i];
    *out = (struct pg_flame_node_info){f->names[n->name], n->total, n->self, n->n_kids};
}

size_t pg_flame_child(const struct pg_flame *f, size_t i, size_t c)
{
    const struct knode *n = &f->nodes[i];
    return c < n->n_kids ? f->kids[n->kid_off + c] : (size_t)-1;
}

static json_t *jstr(const char *s)
{
    json_t *j = json_string(s);
    if (j)
        return j;
    char *clean = pg_utf8_sanitize(s);
    j = json_string(clean ? clean : "?");
    free(clean);
    return j;
}

/* The tree as nested [name, total, self, [children]] arrays, built without recursion (a
 * deep stack cannot overflow the C stack): every node first, then each linked to its
 * parent. */
static json_t *tree_json(const struct pg_flame *f)
{
    json_t **made = calloc(f->n_nodes, sizeof(*made));
    json_t *root = NULL;
    if (!made)
        goto out;
    for (size_t i = 0; i < f->n_nodes; i++) {
        const struct knode *n = &f->nodes[i];
        made[i] =
            json_pack("[I,I,I,[]]", (json_int_t)n->name, (json_int_t)n->total, (json_int_t)n->self);
        if (!made[i])
            goto out;
    }
    /* attach children to parents (arrays are reference-counted: order does not matter) */
    for (size_t i = 0; i < f->n_nodes; i++) {
        json_t *kids = json_array_get(made[i], 3);
        for (uint32_t c = 0; c < f->nodes[i].n_kids; c++)
            if (json_array_append(kids, made[f->kids[f->nodes[i].kid_off + c]]) < 0)
                goto out;
    }
    root = json_incref(made[0]);
out:
    for (size_t i = 0; made && i < f->n_nodes; i++)
        json_decref(made[i]);
    free(made);
    return root;
}

char *pg_flame_json(const struct pg_flame *f)
{
    json_t *o = json_object(), *st = json_array(), *names = json_array();
    json_t *tree = tree_json(f);
    char *s = NULL;
    if (!o || !st || !names || !tree)
        goto out;
    for (size_t i = 0; i < f->n_stypes; i++)
        json_array_append_new(st, json_pack("{s:o,s:o}", "type", jstr(f->stypes[2 * i]), "unit",
                                            jstr(f->stypes[2 * i + 1])));
    for (size_t i = 0; i < f->n_names; i++)
        json_array_append_new(names, jstr(f->names[i]));
    json_object_set(o, "sampleTypes", st);
    json_object_set_new(o, "sampleType", json_integer((json_int_t)f->sample_index));
    json_object_set_new(o, "unit", jstr(f->stypes[2 * f->sample_index + 1]));
    json_object_set_new(o, "total", json_integer(f->nodes[0].total));
    json_object_set_new(o, "nodes", json_integer((json_int_t)f->n_nodes));
    json_object_set_new(o, "prunedNodes", json_integer((json_int_t)f->pruned));
    json_object_set_new(o, "minTotal", json_integer(f->min_total));
    json_object_set(o, "names", names);
    json_object_set(o, "tree", tree);
    s = json_dumps(o, JSON_COMPACT);
out:
    json_decref(o);
    json_decref(st);
    json_decref(names);
    json_decref(tree);
    return s;
}

void pg_flame_free(struct pg_flame *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->n_names; i++)
        free(f->names[i]);
    free(f->names);
    for (size_t i = 0; f->stypes && i < 2 * f->n_stypes; i++)
        free(f->stypes[i]);
    free(f->stypes);
    free(f->nodes);
    free(f->kids);
    free(f);
}
