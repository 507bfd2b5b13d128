/* folded.c (profile/) - folded stacks -> pprof (see folded.h).
 *
 * As Pyroscope's ingest adapter (pkg/ingester/pyroscope/ingest_adapter.go: convertMetadata,
 * sample-rate scaling) and its tree.Pprof. Passes: read each line (count; frames ->
 * location ids through a deduplicating string table; stack -> sample through a hash table
 * of stacks; both tables hash with XXH3 and probe linearly), then pack the profile. Every
 * allocation counts against one budget. */
#include "profile/folded.h"

#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "core/errmsg.h"
#include "core/utf8.h"
#include "profile.pb-c.h"

/* Conversion budget: every allocation made while converting folded stacks (string table,
 * functions, locations, samples, indexes, the packed output) is counted, as its requested
 * size plus PG_FOLDED_MALLOC_OVERHEAD, against PG_FOLDED_BUDGET_RATIO x the body +
 * PG_FOLDED_BUDGET_SLACK: the bound pg_pprof_check puts on decoding a pprof. A body
 * of many distinct short frames would otherwise take ~60x its size. */
#define PG_FOLDED_MALLOC_OVERHEAD 16

struct budget {
    size_t used, limit;
    int exceeded;
};

static int budget_take(struct budget *b, size_t n)
{
    if (n > b->limit - b->used) {
        b->exceeded = 1;
        return -1;
    }
    b->used += n;
    return 0;
}

static void budget_give(struct budget *b, size_t n)
{
    b->used = n > b->used ? 0 : b->used - n;
}

static void *bmalloc(struct budget *b, size_t n)
{
    if (budget_take(b, n + PG_FOLDED_MALLOC_OVERHEAD) < 0)
        return NULL;
    return malloc(n ? n : 1);
}

/* Grows p (holding oldsz bytes, or NULL) to newsz > oldsz bytes. */
static void *brealloc(struct budget *b, void *p, size_t oldsz, size_t newsz)
{
    if (budget_take(b, newsz - oldsz + (p ? 0 : PG_FOLDED_MALLOC_OVERHEAD)) < 0)
        return NULL;
    return realloc(p, newsz);
}

/* Returns the doubled capacity (at least min) for n elements of size sz, or 0 when it
 * would overflow. */
static size_t grow_cap(size_t cap, size_t min, size_t sz)
{
    size_t nc = cap ? cap * 2 : min;
    return nc < cap || nc > SIZE_MAX / sz ? 0 : nc;
}

/* A string table with dedup (open addressing over indexes, load <= 1/2). */
struct strtab {
    char **v;
    size_t n, cap;
    size_t *slots; /* index + 1, 0 = empty */
    size_t nslots;
};

static int strtab_grow(struct strtab *t, struct budget *b)
{
    size_t ns = t->nslots ? grow_cap(t->nslots, 256, sizeof(size_t)) : 256;
    if (!ns || budget_take(b, ns * sizeof(size_t) + PG_FOLDED_MALLOC_OVERHEAD) < 0)
        return -1;
    size_t *slots = calloc(ns, sizeof(*slots));
    if (!slots)
        return -1;
    for (size_t i = 0; i < t->n; i++) {
        size_t h = (size_t)XXH3_64bits(t->v[i], strlen(t->v[i])) & (ns - 1);
        while (slots[h])
            h = (h + 1) & (ns - 1);
        slots[h] = i + 1;
    }
    if (t->slots)
        budget_give(b, t->nslots * sizeof(size_t) + PG_FOLDED_MALLOC_OVERHEAD);
    free(t->slots);
    t->slots = slots;
    t->nslots = ns;
    return 0;
}

/* Returns the index of s[0..n) (added if new), or -1 (out of budget or memory). */
static int64_t strtab_add(struct strtab *t, struct budget *b, const char *s, size_t n)
{
    if ((t->n + 1) * 2 > t->nslots && strtab_grow(t, b) < 0)
        return -1;
    size_t h = (size_t)XXH3_64bits(s, n) & (t->nslots - 1);
    while (t->slots[h]) {
        const char *x = t->v[t->slots[h] - 1];
        if (!strncmp(x, s, n) && x[n] == '\0')
            return (int64_t)(t->slots[h] - 1);
        h = (h + 1) & (t->nslots - 1);
    }
    if (t->n == t->cap) {
        size_t nc = grow_cap(t->cap, 64, sizeof(char *));
        char **v = nc ? brealloc(b, t->v, t->cap * sizeof(*v), nc * sizeof(*v)) : NULL;
        if (!v)
            return -1;
        t->v = v;
        t->cap = nc;
    }
    char *c = bmalloc(b, n + 1);
    if (!c)
        return -1;
    memcpy(c, s, n);
    c[n] = '\0';
    t->v[t->n] = c;
    t->slots[h] = ++t->n;
    return (int64_t)(t->n - 1);
}

static void strtab_free(struct strtab *t)
{
    for (size_t i = 0; i < t->n; i++)
        free(t->v[i]);
    free(t->v);
    free(t->slots);
}

/* Growable array of pointers. */
struct ptrv {
    void **v;
    size_t n, cap;
};

static int ptrv_push(struct ptrv *a, struct budget *b, void *x)
{
    if (a->n == a->cap) {
        size_t nc = grow_cap(a->cap, 64, sizeof(void *));
        void **v = nc ? brealloc(b, a->v, a->cap * sizeof(*v), nc * sizeof(*v)) : NULL;
        if (!v)
            return -1;
        a->v = v;
        a->cap = nc;
    }
    a->v[a->n++] = x;
    return 0;
}

/* One distinct frame: its function, location and line in one allocation (fn first, so a
 * pointer to fn is a pointer to the frame). */
struct frame {
    Perftools__Profiles__Function fn;
    Perftools__Profiles__Location loc;
    Perftools__Profiles__Line line;
    Perftools__Profiles__Line *linep;
};

/* One distinct stack: the sample, its value and its location ids in one allocation (s
 * first). */
struct fsample {
    Perftools__Profiles__Sample s;
    int64_t value;
    uint64_t hash;
    uint64_t ids[];
};

struct folded {
    struct budget bud;
    struct strtab st;
    struct ptrv samples; /* struct fsample* */
    struct ptrv frames;  /* struct frame*, function/location id = index + 1 */
    struct ptrv funcs;   /* &frame->fn, for the profile */
    struct ptrv locs;    /* &frame->loc, for the profile */
    uint64_t *fn_of_str; /* string index -> function id (0 = none) */
    size_t fn_cap;
    size_t *sslots; /* stack index: sample index + 1, 0 = empty (load <= 1/2) */
    size_t nsslots;
    uint64_t *stack; /* the location ids of the line being read, leaf first */
    size_t stack_cap;
    int lines_format; /* 1: one stack per line counting 1; 0: "stack count" */
    int timed;        /* values scaled to nanoseconds by period */
    int64_t period;
};

static void folded_free(struct folded *f)
{
    for (size_t i = 0; i < f->samples.n; i++)
        free(f->samples.v[i]);
    for (size_t i = 0; i < f->frames.n; i++)
        free(f->frames.v[i]);
    free(f->samples.v);
    free(f->frames.v);
    free(f->funcs.v);
    free(f->locs.v);
    free(f->fn_of_str);
    free(f->sslots);
    free(f->stack);
    strtab_free(&f->st);
}

/* Returns the location id of frame name s[0..n), creating function and location, or 0
 * (out of budget or memory). */
static uint64_t folded_loc(struct folded *f, const char *s, size_t n)
{
    int64_t si = strtab_add(&f->st, &f->bud, s, n);
    if (si < 0)
        return 0;
    if ((size_t)si >= f->fn_cap) {
        size_t nc = f->fn_cap ? f->fn_cap : 256;
        while (nc <= (size_t)si)
            nc *= 2;
        uint64_t *v = brealloc(&f->bud, f->fn_of_str, f->fn_cap * sizeof(*v), nc * sizeof(*v));
        if (!v)
            return 0;
        memset(v + f->fn_cap, 0, (nc - f->fn_cap) * sizeof(*v));
        f->fn_of_str = v;
        f->fn_cap = nc;
    }
    if (f->fn_of_str[si])
        return f->fn_of_str[si];
    struct frame *fr = bmalloc(&f->bud, sizeof(*fr));
    if (!fr)
        return 0;
    if (ptrv_push(&f->frames, &f->bud, fr) < 0) {
        free(fr);
        return 0;
    }
    uint64_t id = f->frames.n;
    perftools__profiles__function__init(&fr->fn);
    fr->fn.id = id;
    fr->fn.name = si;
    perftools__profiles__line__init(&fr->line);
    fr->line.function_id = id;
    fr->linep = &fr->line;
    perftools__profiles__location__init(&fr->loc);
    fr->loc.id = id;
    fr->loc.n_line = 1;
    fr->loc.line = &fr->linep;
    if (ptrv_push(&f->funcs, &f->bud, &fr->fn) < 0 || ptrv_push(&f->locs, &f->bud, &fr->loc) < 0)
        return 0;
    f->fn_of_str[si] = id;
    return id;
}

/* Adds value to the sample of the stack ids[0..n) (leaf first), creating it if new.
 * Returns 0, -1 (out of budget or memory) or -2 (the sum overflows). */
static int folded_sample(struct folded *f, const uint64_t *ids, size_t n, int64_t value)
{
    uint64_t h = XXH3_64bits(ids, n * sizeof(*ids));
    if ((f->samples.n + 1) * 2 > f->nsslots) {
        size_t ns = f->nsslots ? grow_cap(f->nsslots, 256, sizeof(size_t)) : 256;
        if (!ns || budget_take(&f->bud, ns * sizeof(size_t) + PG_FOLDED_MALLOC_OVERHEAD) < 0)
            return -1;
        size_t *slots = calloc(ns, sizeof(*slots));
        if (!slots)
            return -1;
        for (size_t i = 0; i < f->samples.n; i++) {
            const struct fsample *x = f->samples.v[i];
            size_t k = (size_t)x->hash & (ns - 1);
            while (slots[k])
                k = (k + 1) & (ns - 1);
            slots[k] = i + 1;
        }
        if (f->sslots)
            budget_give(&f->bud, f->nsslots * sizeof(size_t) + PG_FOLDED_MALLOC_OVERHEAD);
        free(f->sslots);
        f->sslots = slots;
        f->nsslots = ns;
    }
    size_t k = (size_t)h & (f->nsslots - 1);
    while (f->sslots[k]) {
        struct fsample *x = f->samples.v[f->sslots[k] - 1];
        if (x->hash == h && x->s.n_location_id == n && !memcmp(x->ids, ids, n * sizeof(*ids)))
            return __builtin_add_overflow(x->value, value, &x->value) ? -2 : 0;
        k = (k + 1) & (f->nsslots - 1);
    }
    struct fsample *x = bmalloc(&f->bud, sizeof(*x) + n * sizeof(*ids));
    if (!x)
        return -1;
    if (ptrv_push(&f->samples, &f->bud, x) < 0) {
        free(x);
        return -1;
    }
    perftools__profiles__sample__init(&x->s);
    memcpy(x->ids, ids, n * sizeof(*ids));
    x->hash = h;
    x->value = value;
    x->s.n_location_id = n;
    x->s.location_id = x->ids;
    x->s.n_value = 1;
    x->s.value = &x->value;
    f->sslots[k] = f->samples.n;
    return 0;
}

/* What the helpers of pg_folded_to_pprof return besides 0 and -1 (a reason in err): an
 * allocation failed or the budget ran out (the caller tells which). */
#define FOLDED_NOMEM (-3)

/* Parses the count after the last space of a "stack count" line[0..ll). Returns 0 with
 * *value and *stk_len (the length of the stack before that space), or -1 with a reason in
 * err. */
static int folded_count(const char *line, size_t ll, size_t lineno, int64_t *value, size_t *stk_len,
                        char *err, size_t errlen)
{
    const char *sp = NULL;
    for (size_t i = ll; i > 0; i--)
        if (line[i - 1] == ' ') {
            sp = line + i - 1;
            break;
        }
    char num[24];
    size_t nl = sp ? ll - (size_t)(sp + 1 - line) : 0;
    if (!sp || nl == 0 || nl >= sizeof(num)) {
        pg_errmsg_set(err, errlen, "line %zu: want \"frame;frame;... count\"", lineno);
        return -1;
    }
    memcpy(num, sp + 1, nl);
    num[nl] = '\0';
    char *e;
    unsigned long long v = strtoull(num, &e, 10);
    if (*e || num[0] == '-' || v > INT64_MAX) {
        pg_errmsg_set(err, errlen, "line %zu: count \"%s\" is not a non-negative integer", lineno,
                      num);
        return -1;
    }
    *value = (int64_t)v;
    *stk_len = (size_t)(sp - line);
    return 0;
}

/* Sets f->stack[n] = id, growing the stack. Returns 0 or -1 (out of budget or memory). */
static int folded_stack_set(struct folded *f, size_t n, uint64_t id)
{
    if (n == f->stack_cap) {
        size_t nc = grow_cap(f->stack_cap, 64, sizeof(*f->stack));
        uint64_t *ns =
            nc ? brealloc(&f->bud, f->stack, f->stack_cap * sizeof(*ns), nc * sizeof(*ns)) : NULL;
        if (!ns)
            return -1;
        f->stack = ns;
        f->stack_cap = nc;
    }
    f->stack[n] = id;
    return 0;
}

/* Reads the ';'-separated frames of stk[0..len) (root first; empty names skipped) into
 * f->stack as location ids, leaf first. Returns 0 with *nf the number of frames, or -1
 * (out of budget or memory). */
static int folded_frames(struct folded *f, const char *stk, size_t len, size_t *nf)
{
    size_t n = 0;
    const char *fs = stk, *stk_end = stk + len;
    while (fs <= stk_end) {
        const char *fe = memchr(fs, ';', (size_t)(stk_end - fs));
        if (!fe)
            fe = stk_end;
        if (fe > fs) {
            uint64_t id = folded_loc(f, fs, (size_t)(fe - fs));
            if (!id || folded_stack_set(f, n, id) < 0)
                return -1;
            n++;
        }
        fs = fe + 1;
    }
    for (size_t i = 0; i < n / 2; i++) {
        uint64_t t = f->stack[i];
        f->stack[i] = f->stack[n - 1 - i];
        f->stack[n - 1 - i] = t;
    }
    *nf = n;
    return 0;
}

/* Adds one non-empty line[0..ll) (line end removed) to f. Returns 0, -1 with a reason in
 * err, or FOLDED_NOMEM. */
static int folded_line(struct folded *f, const char *line, size_t ll, size_t lineno, char *err,
                       size_t errlen)
{
    if (memchr(line, '\0', ll) || !pg_utf8_valid(line, ll)) {
        pg_errmsg_set(err, errlen, "line %zu: not UTF-8 text", lineno);
        return -1;
    }
    size_t stk_len = ll;
    int64_t value = 1;
    if (!f->lines_format && folded_count(line, ll, lineno, &value, &stk_len, err, errlen) < 0)
        return -1;
    if (f->timed && __builtin_mul_overflow(value, f->period, &value)) {
        pg_errmsg_set(err, errlen, "line %zu: count overflows when scaled to nanoseconds", lineno);
        return -1;
    }
    size_t nf;
    if (folded_frames(f, line, stk_len, &nf) < 0)
        return FOLDED_NOMEM;
    if (!nf) {
        pg_errmsg_set(err, errlen, "line %zu: empty stack", lineno);
        return -1;
    }
    int src = folded_sample(f, f->stack, nf, value);
    if (src == -2) {
        pg_errmsg_set(err, errlen, "line %zu: the counts of this stack overflow when summed",
                      lineno);
        return -1;
    }
    return src < 0 ? FOLDED_NOMEM : 0;
}

/* Adds every line of body[0..len) to f ('\n' or "\r\n" ends a line; empty lines are
 * skipped). Returns 0, -1 with a reason in err (also when there is no sample), or
 * FOLDED_NOMEM. */
static int folded_read(struct folded *f, const uint8_t *body, size_t len, char *err, size_t errlen)
{
    size_t lineno = 0;
    const uint8_t *p = body, *end = body + len;
    while (p < end) {
        const uint8_t *eol = memchr(p, '\n', (size_t)(end - p));
        const uint8_t *le = eol ? eol : end;
        lineno++;
        size_t ll = (size_t)(le - p);
        if (ll && p[ll - 1] == '\r')
            ll--;
        const char *line = (const char *)p;
        p = eol ? eol + 1 : end;
        if (ll == 0)
            continue;
        int rc = folded_line(f, line, ll, lineno, err, errlen);
        if (rc < 0)
            return rc;
    }
    if (!f->samples.n) {
        pg_errmsg_set(err, errlen, "no samples in the body");
        return -1;
    }
    return 0;
}

/* Packs f's samples, locations, functions and strings into a new buffer (from the
 * budget): sample type type/unit, period type cpu/nanoseconds and f->period when timed,
 * time_nanos from_ns, duration until - from (0 when not positive or on overflow). Returns
 * 0 with *out and *outlen, or FOLDED_NOMEM. */
static int folded_pack(struct folded *f, const char *type, const char *unit, int64_t from_ns,
                       int64_t until_ns, uint8_t **out, size_t *outlen)
{
    Perftools__Profiles__Profile prof;
    perftools__profiles__profile__init(&prof);
    Perftools__Profiles__ValueType vt, pt;
    perftools__profiles__value_type__init(&vt);
    perftools__profiles__value_type__init(&pt);
    Perftools__Profiles__ValueType *vtp = &vt;
    int64_t ti = strtab_add(&f->st, &f->bud, type, strlen(type));
    int64_t ui = strtab_add(&f->st, &f->bud, unit, strlen(unit));
    if (ti < 0 || ui < 0)
        return FOLDED_NOMEM;
    vt.type = ti;
    vt.unit = ui;
    prof.n_sample_type = 1;
    prof.sample_type = &vtp;
    if (f->timed) {
        int64_t ci = strtab_add(&f->st, &f->bud, "cpu", 3);
        int64_t ni = strtab_add(&f->st, &f->bud, "nanoseconds", 11);
        if (ci < 0 || ni < 0)
            return FOLDED_NOMEM;
        pt.type = ci;
        pt.unit = ni;
        prof.period_type = &pt;
        prof.period = f->period;
    }
    prof.n_sample = f->samples.n;
    prof.sample = (Perftools__Profiles__Sample **)f->samples.v;
    prof.n_location = f->locs.n;
    prof.location = (Perftools__Profiles__Location **)f->locs.v;
    prof.n_function = f->funcs.n;
    prof.function = (Perftools__Profiles__Function **)f->funcs.v;
    prof.n_string_table = f->st.n;
    prof.string_table = f->st.v;
    prof.time_nanos = from_ns;
    int64_t span;
    prof.duration_nanos =
        until_ns > from_ns && !__builtin_sub_overflow(until_ns, from_ns, &span) ? span : 0;
    size_t sz = perftools__profiles__profile__get_packed_size(&prof);
    uint8_t *buf = bmalloc(&f->bud, sz);
    if (!buf)
        return FOLDED_NOMEM;
    *outlen = perftools__profiles__profile__pack(&prof, buf);
    *out = buf;
    return 0;
}

int pg_folded_to_pprof(const uint8_t *body, size_t len, int lines_format, const char *metric,
                       const char *type, const char *unit, uint32_t sample_rate, int64_t from_ns,
                       int64_t until_ns, uint8_t **out, size_t *outlen, char *err, size_t errlen)
{
    struct folded f;
    memset(&f, 0, sizeof(f));
    f.bud.limit = len > (SIZE_MAX - PG_FOLDED_BUDGET_SLACK) / PG_FOLDED_BUDGET_RATIO
                      ? SIZE_MAX
                      : len * PG_FOLDED_BUDGET_RATIO + PG_FOLDED_BUDGET_SLACK;
    f.lines_format = lines_format;
    f.timed = sample_rate > 0 && (!strcmp(metric, "process_cpu") || !strcmp(metric, "wall"));
    if (f.timed) {
        f.period = 1000000000ll / (int64_t)sample_rate;
        type = !strcmp(metric, "wall") ? "wall" : "cpu";
        unit = "nanoseconds";
    }
    int rc = strtab_add(&f.st, &f.bud, "", 0) < 0 ? FOLDED_NOMEM
                                                  : folded_read(&f, body, len, err, errlen);
    if (rc == 0)
        rc = folded_pack(&f, type, unit, from_ns, until_ns, out, outlen);
    if (rc == FOLDED_NOMEM && f.bud.exceeded) {
        pg_errmsg_set(err, errlen,
                      "folded profile too large: converting it to pprof needs more than %zu "
                      "bytes (%dx the %zu-byte body + 1 MiB)",
                      f.bud.limit, PG_FOLDED_BUDGET_RATIO, len);
        rc = -2;
    } else if (rc == FOLDED_NOMEM) {
        pg_errmsg_set(err, errlen, "out of memory");
        rc = -1;
    }
    folded_free(&f);
    return rc;
}
