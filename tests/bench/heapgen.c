/* heapgen.c - deterministic realistic Go heap profile (see heapgen.h for the shape).
 *
 * Two stages. The "world" depends only on the parameters: a call graph over the functions
 * (a few Go runtime / net/http / gRPC roots, a set of standard-library allocators, and
 * application functions each calling 1..4 others "further down"), and n_stacks distinct
 * stacks drawn by random walks from weighted roots through it (hot callees first, so
 * prefixes are shared as in a real service). Then the values depend on (seed, stack,
 * epoch) through a stateless hash, so any epoch can be computed without the previous one.
 * The profile is built as a protobuf-c object and packed; only referenced locations,
 * functions and strings are emitted, in order of first use (as Go's runtime/pprof does). */
#include "heapgen.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "profile.pb-c.h"

#define HG_MAX_CALLEES 3
#define HG_SITES (HG_MAX_CALLEES + 1) /* call sites per function: callees + own alloc */
#define HG_TEXT_START 0x400000ULL
#define HG_FUNC_STRIDE 0x240ULL /* bytes of text per function */
#define HG_MEM_PROFILE_RATE 524288

/* ---- PRNG: splitmix64 ------------------------------------------------------------ */

static uint64_t hg_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* a stateless hash of three numbers (per stack / epoch randomness) */
static uint64_t hg_mix3(uint64_t a, uint64_t b, uint64_t c)
{
    uint64_t s = a ^ (b * 0xd6e8feb86659fd93ULL) ^ (c * 0xa0761d6478bd642fULL);
    hg_next(&s);
    return hg_next(&s);
}

static double hg_unit(uint64_t r)
{
    return (double)(r >> 11) * (1.0 / 9007199254740992.0);
}

static size_t hg_below(uint64_t *s, size_t n)
{
    return (size_t)(hg_unit(hg_next(s)) * (double)n);
}

/* ---- fixed frames: roots and allocators ---------------------------------------- */

struct hg_std {
    const char *name, *file;
};

/* Root chains, outermost first; the last frame calls an application entry point. */
static const struct hg_std hg_std_funcs[] = {
    {"runtime.goexit", "/usr/local/go/src/runtime/asm_amd64.s"},
    {"net/http.(*conn).serve", "/usr/local/go/src/net/http/server.go"},
    {"net/http.serverHandler.ServeHTTP", "/usr/local/go/src/net/http/server.go"},
    {"net/http.(*ServeMux).ServeHTTP", "/usr/local/go/src/net/http/server.go"},
    {"net/http.HandlerFunc.ServeHTTP", "/usr/local/go/src/net/http/server.go"},
    {"google.golang.org/grpc.(*Server).serveStreams.func1.2",
     "/go/pkg/mod/google.golang.org/grpc@v1.56.3/server.go"},
    {"google.golang.org/grpc.(*Server).handleStream",
     "/go/pkg/mod/google.golang.org/grpc@v1.56.3/server.go"},
    {"google.golang.org/grpc.(*Server).processUnaryRPC",
     "/go/pkg/mod/google.golang.org/grpc@v1.56.3/server.go"},
    {"github.com/acme/svc/internal/worker.(*Pool).run.func1",
     "/build/src/github.com/acme/svc/internal/worker/pool.go"},
    {"runtime.main", "/usr/local/go/src/runtime/proc.go"},
    {"main.main", "/build/src/github.com/acme/svc/cmd/svc/main.go"},
    {"github.com/acme/svc/cmd/svc.run", "/build/src/github.com/acme/svc/cmd/svc/run.go"},
    /* allocators (leaf frames) from here */
    {"bytes.growSlice", "/usr/local/go/src/bytes/buffer.go"},
    {"strings.(*Builder).grow", "/usr/local/go/src/strings/builder.go"},
    {"bufio.NewReaderSize", "/usr/local/go/src/bufio/bufio.go"},
    {"bufio.NewWriterSize", "/usr/local/go/src/bufio/bufio.go"},
    {"encoding/json.(*decodeState).literalStore", "/usr/local/go/src/encoding/json/decode.go"},
    {"reflect.New", "/usr/local/go/src/reflect/value.go"},
    {"compress/flate.NewWriter", "/usr/local/go/src/compress/flate/deflate.go"},
    {"google.golang.org/protobuf/internal/impl.consumeBytes",
     "/go/pkg/mod/google.golang.org/protobuf@v1.31.0/internal/impl/codec_gen.go"},
    {"net/http.Header.Clone", "/usr/local/go/src/net/http/header.go"},
    {"context.WithCancel", "/usr/local/go/src/context/context.go"},
    {"fmt.Sprintf", "/usr/local/go/src/fmt/print.go"},
    {"strconv.FormatInt", "/usr/local/go/src/strconv/itoa.go"},
    {"runtime.malg", "/usr/local/go/src/runtime/proc.go"},
    {"io.ReadAll", "/usr/local/go/src/io/io.go"},
    {"net/textproto.(*Reader).ReadMIMEHeader", "/usr/local/go/src/net/textproto/reader.go"},
    {"time.NewTimer", "/usr/local/go/src/time/sleep.go"},
};
#define HG_N_STD (sizeof hg_std_funcs / sizeof hg_std_funcs[0])
#define HG_FIRST_ALLOC 12

/* root chains (indices into hg_std_funcs, outermost first, 0-terminated after the first
 * frame) and their weights in percent */
#define HG_ROOT_MAX 5
static const struct {
    uint8_t frames[HG_ROOT_MAX];
    unsigned len, weight;
} hg_roots[] = {
    {{0, 1, 2, 3, 4}, 5, 45}, /* net/http handler */
    {{0, 5, 6, 7}, 4, 30},    /* gRPC unary handler */
    {{0, 8}, 2, 15},          /* worker pool */
    {{9, 10, 11}, 3, 10},     /* main goroutine */
};

static const char *const hg_modules[] = {
    "github.com/acme/svc/internal", "github.com/acme/svc/pkg",    "github.com/acme/kit",
    "github.com/acme/storage",      "github.com/acme/svc/api/v1", "github.com/acme/auth",
};
#define HG_N_MODULES (sizeof hg_modules / sizeof hg_modules[0])

static const uint32_t hg_size_classes[] = {
    8,     16,    24,    32,    48,    64,    80,    96,    112,   128,   144,   160,
    176,   192,   208,   224,   240,   256,   288,   320,   352,   384,   416,   448,
    480,   512,   576,   640,   704,   768,   896,   1024,  1152,  1280,  1408,  1536,
    1792,  2048,  2304,  2688,  3072,  3200,  3456,  4096,  4864,  5376,  6144,  6528,
    6784,  6912,  8192,  9472,  9728,  10240, 10880, 12288, 13568, 14336, 16384, 18432,
    19072, 20480, 21760, 24576, 27264, 28672, 32768,
};
#define HG_N_SIZES (sizeof hg_size_classes / sizeof hg_size_classes[0])

/* ---- string table ---------------------------------------------------------------- */

struct hg_strtab {
    char **s;
    size_t n, cap;
    uint32_t *slot; /* open addressing: index+1 into s, 0 = empty */
    size_t nslot;
};

static uint64_t hg_strhash(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
    return h;
}

/* index of s in the table, added if new; -1 when out of memory */
static int64_t hg_intern(struct hg_strtab *t, const char *s)
{
    size_t i = (size_t)hg_strhash(s) & (t->nslot - 1);
    for (; t->slot[i]; i = (i + 1) & (t->nslot - 1))
        if (strcmp(t->s[t->slot[i] - 1], s) == 0)
            return t->slot[i] - 1;
    if (t->n == t->cap || 2 * (t->n + 1) > t->nslot)
        return -1; /* sized up front, see hg_strtab_init */
    char *copy = strdup(s);
    if (!copy)
        return -1;
    t->s[t->n] = copy;
    t->slot[i] = (uint32_t)++t->n;
    return (int64_t)t->n - 1;
}

static int hg_strtab_init(struct hg_strtab *t, size_t max_strings)
{
    t->cap = max_strings;
    t->nslot = 64;
    while (t->nslot < 2 * max_strings + 2)
        t->nslot *= 2;
    t->n = 0;
    t->s = calloc(t->cap, sizeof *t->s);
    t->slot = calloc(t->nslot, sizeof *t->slot);
    return t->s && t->slot && hg_intern(t, "") == 0 ? 0 : -1;
}

static void hg_strtab_free(struct hg_strtab *t)
{
    for (size_t i = 0; t->s && i < t->n; i++)
        free(t->s[i]);
    free(t->s);
    free(t->slot);
}

/* ---- the world: functions, call graph, stacks ----------------------------------- */

struct hg_func {
    uint32_t callee[HG_MAX_CALLEES];
    uint8_t n_callees;
    uint32_t start_line;
    uint32_t loc_id[HG_SITES]; /* 0 = not emitted yet */
    uint32_t fn_id;            /* 0 = not emitted yet */
};

struct hg_frame {
    uint32_t func;
    uint8_t site;
};

struct hg_world {
    size_t n_funcs, n_app;
    struct hg_func *funcs;
    size_t n_stacks;
    uint32_t *stack_off; /* stack s = frames[stack_off[s] .. stack_off[s+1]), root first */
    struct hg_frame *frames;
    size_t n_locs, n_fns; /* emitted so far */
};

static void hg_build_graph(struct hg_world *w, uint64_t *rng)
{
    size_t span = w->n_app / 8 < 8 ? 8 : w->n_app / 8;
    for (size_t f = 0; f < w->n_funcs; f++) {
        struct hg_func *fn = &w->funcs[f];
        fn->start_line = 20 + (uint32_t)hg_below(rng, 900);
        if (f < HG_N_STD)
            continue; /* std frames: one site each (call or alloc) */
        size_t a = f - HG_N_STD;
        size_t c = hg_below(rng, 100); /* 1, 2 or 3 callees: 45 / 45 / 10 % */
        fn->n_callees = (uint8_t)(c < 45 ? 1 : c < 90 ? 2 : 3);
        for (int k = 0; k < fn->n_callees; k++)
            fn->callee[k] = (uint32_t)(HG_N_STD + (a + 1 + hg_below(rng, span)) % w->n_app);
    }
}

/* writes the root chain's functions to out, returns how many */
static unsigned hg_root_frames(uint64_t *rng, uint32_t *out)
{
    unsigned pick = (unsigned)hg_below(rng, 100), acc = 0;
    size_t r = 0, nr = sizeof hg_roots / sizeof hg_roots[0];
    for (; r + 1 < nr; r++) {
        acc += hg_roots[r].weight;
        if (pick < acc)
            break;
    }
    for (unsigned i = 0; i < hg_roots[r].len; i++)
        out[i] = hg_roots[r].frames[i];
    return hg_roots[r].len;
}

/* Draws one stack of depth d into fr (root first); returns the number of frames. */
static size_t hg_draw_stack(struct hg_world *w, uint64_t *rng, int depth, struct hg_frame *fr)
{
    uint32_t root[HG_ROOT_MAX];
    unsigned nroot = hg_root_frames(rng, root);
    int leaf = hg_unit(hg_next(rng)) < 0.6;
    long napp = (long)depth - (long)nroot - leaf;
    if (napp < 1)
        napp = 1;
    size_t n = 0;
    for (unsigned i = 0; i < nroot; i++)
        fr[n++] = (struct hg_frame){root[i], 0};
    double u = hg_unit(hg_next(rng));
    uint32_t f = (uint32_t)(HG_N_STD + (size_t)((double)w->n_app * u * u) % w->n_app);
    for (long j = 0; j < napp; j++) {
        const struct hg_func *fn = &w->funcs[f];
        if (j + 1 == napp) {
            fr[n++] = (struct hg_frame){f, fn->n_callees}; /* the allocating site */
            break;
        }
        double v = hg_unit(hg_next(rng));
        uint8_t k = (uint8_t)((double)fn->n_callees * v * v);
        fr[n++] = (struct hg_frame){f, k};
        f = fn->callee[k];
    }
    if (leaf) {
        size_t na = HG_N_STD - HG_FIRST_ALLOC;
        fr[n++] = (struct hg_frame){(uint32_t)(HG_FIRST_ALLOC + hg_below(rng, na)), 0};
    }
    return n;
}

static uint64_t hg_stack_hash(const struct hg_frame *fr, size_t n)
{
    uint64_t h = 0x84222325cbf29ce4ULL;
    for (size_t i = 0; i < n; i++)
        h = hg_mix3(h, fr[i].func, fr[i].site);
    return h | 1; /* 0 marks an empty slot */
}

/* 1 if h was new (and is now in the set), 0 if already there */
static int hg_set_add(uint64_t *set, size_t nslot, uint64_t h)
{
    size_t i = (size_t)(h >> 7) & (nslot - 1);
    for (; set[i]; i = (i + 1) & (nslot - 1))
        if (set[i] == h)
            return 0;
    set[i] = h;
    return 1;
}

static int hg_draw_stacks(struct hg_world *w, const struct pg_heapgen_params *p, uint64_t *rng)
{
    size_t nslot = 64;
    while (nslot < 2 * p->n_stacks)
        nslot *= 2;
    size_t maxf = (size_t)(p->max_depth > 6 ? p->max_depth : 6) + HG_ROOT_MAX + 2;
    uint64_t *set = calloc(nslot, sizeof *set);
    w->stack_off = calloc(p->n_stacks + 1, sizeof *w->stack_off);
    w->frames = malloc(p->n_stacks * maxf * sizeof *w->frames);
    if (!set || !w->stack_off || !w->frames) {
        free(set);
        return -1;
    }
    size_t used = 0, tries = 0;
    for (size_t s = 0; s < p->n_stacks; s++) {
        size_t n;
        do {
            if (++tries > 100 * p->n_stacks + 1000) {
                free(set); /* the graph cannot give that many distinct stacks */
                return -1;
            }
            int d = p->min_depth + (int)hg_below(rng, (size_t)(p->max_depth - p->min_depth + 1));
            n = hg_draw_stack(w, rng, d, w->frames + used);
        } while (!hg_set_add(set, nslot, hg_stack_hash(w->frames + used, n)));
        used += n;
        w->stack_off[s + 1] = (uint32_t)used;
    }
    w->n_stacks = p->n_stacks;
    free(set);
    return 0;
}

static void hg_world_free(struct hg_world *w)
{
    free(w->funcs);
    free(w->stack_off);
    free(w->frames);
}

static int hg_world_build(struct hg_world *w, const struct pg_heapgen_params *p)
{
    memset(w, 0, sizeof *w);
    uint64_t rng = 0x243f6a8885a308d3ULL ^ ((uint64_t)p->seed << 17);
    w->n_funcs = p->n_functions;
    w->n_app = p->n_functions - HG_N_STD;
    w->funcs = calloc(w->n_funcs, sizeof *w->funcs);
    if (!w->funcs)
        return -1;
    hg_build_graph(w, &rng);
    return hg_draw_stacks(w, p, &rng);
}

/* ---- values per epoch -------------------------------------------------------------- */

struct hg_values {
    int64_t alloc_objects, alloc_space, inuse_objects, inuse_space, size;
};

static struct hg_values hg_stack_values(uint32_t seed, size_t s, unsigned epoch)
{
    uint64_t h = hg_mix3(seed, s, 0xa110c);
    double u = hg_unit(h);
    size_t cls = (size_t)((double)HG_N_SIZES * u * u);
    int64_t size = hg_size_classes[cls < HG_N_SIZES ? cls : HG_N_SIZES - 1];
    double t = hg_unit(hg_mix3(h, 1, 2));
    int64_t base = 1 + (int64_t)(t * t * t * 20000.0);
    int64_t objs = base;
    for (unsigned k = 1; k <= epoch; k++) {
        uint64_t r = hg_mix3(seed, s, k);
        if (r % 1000 < 300)
            objs += 1 + (int64_t)((r >> 20) % (uint64_t)(1 + base / 8));
    }
    uint64_t r = hg_mix3(seed ^ 0x1a5e, s, epoch);
    int64_t inuse = 0;
    if (r % 100 >= 8) {
        inuse = objs * (int64_t)(5 + (r >> 16) % 196) / 1000;
        if (inuse < 1)
            inuse = 1;
    }
    return (struct hg_values){objs, objs * size, inuse, inuse * size, size};
}

/* ---- building the protobuf ------------------------------------------------------- */

struct hg_out {
    struct hg_strtab strs;
    Perftools__Profiles__Location *locs;
    Perftools__Profiles__Line *lines;
    Perftools__Profiles__Function *fns;
    Perftools__Profiles__Sample *samples;
    Perftools__Profiles__Label *labels;
    uint64_t *loc_ids;
    int64_t *values;
    size_t max_locs;
    /* the pointer arrays protobuf-c wants */
    Perftools__Profiles__Location **loc_ptrs;
    Perftools__Profiles__Line **line_ptrs;
    Perftools__Profiles__Function **fn_ptrs;
    Perftools__Profiles__Sample **sample_ptrs;
    Perftools__Profiles__Label **label_ptrs;
};

static void hg_func_strings(size_t f, char *name, char *file, size_t cap)
{
    if (f < HG_N_STD) {
        snprintf(name, cap, "%s", hg_std_funcs[f].name);
        snprintf(file, cap, "%s", hg_std_funcs[f].file);
        return;
    }
    size_t a = f - HG_N_STD, pkg = a / 12;
    const char *mod = hg_modules[pkg % HG_N_MODULES];
    unsigned type = (unsigned)((a / 3) % 40), meth = (unsigned)(a % 1000);
    switch (a % 4) {
    case 0: snprintf(name, cap, "%s/pkg%03zu.(*Type%02u).Method%03u", mod, pkg, type, meth); break;
    case 1: snprintf(name, cap, "%s/pkg%03zu.Type%02u.Method%03u", mod, pkg, type, meth); break;
    case 2: snprintf(name, cap, "%s/pkg%03zu.handle%03u", mod, pkg, meth); break;
    default: snprintf(name, cap, "%s/pkg%03zu.(*Type%02u).Method%03u.func1", mod, pkg, type, meth);
    }
    snprintf(file, cap, "/build/src/%s/pkg%03zu/file%zu.go", mod, pkg, (a / 4) % 3);
}

/* emits function f once; returns its id or 0 when out of memory */
static uint32_t hg_emit_function(struct hg_world *w, struct hg_out *o, uint32_t f)
{
    struct hg_func *fn = &w->funcs[f];
    if (fn->fn_id)
        return fn->fn_id;
    char name[256], file[256];
    hg_func_strings(f, name, file, sizeof name);
    int64_t ni = hg_intern(&o->strs, name), fi = hg_intern(&o->strs, file);
    if (ni < 0 || fi < 0)
        return 0;
    Perftools__Profiles__Function *pf = &o->fns[w->n_fns];
    perftools__profiles__function__init(pf);
    pf->id = ++w->n_fns;
    pf->name = ni;
    pf->system_name = ni;
    pf->filename = fi;
    pf->start_line = fn->start_line;
    o->fn_ptrs[pf->id - 1] = pf;
    return fn->fn_id = (uint32_t)pf->id;
}

/* emits the location of frame fr once; returns its id or 0 when out of memory */
static uint64_t hg_emit_location(struct hg_world *w, struct hg_out *o, struct hg_frame fr)
{
    struct hg_func *fn = &w->funcs[fr.func];
    if (fn->loc_id[fr.site])
        return fn->loc_id[fr.site];
    uint32_t fid = hg_emit_function(w, o, fr.func);
    if (!fid || w->n_locs == o->max_locs)
        return 0;
    size_t i = w->n_locs;
    Perftools__Profiles__Line *ln = &o->lines[i];
    perftools__profiles__line__init(ln);
    ln->function_id = fid;
    ln->line = fn->start_line + 2 + 3 * fr.site + (fr.func + fr.site) % 3;
    Perftools__Profiles__Location *loc = &o->locs[i];
    perftools__profiles__location__init(loc);
    loc->id = ++w->n_locs;
    loc->mapping_id = 1;
    loc->address = HG_TEXT_START + 0x1000 + fr.func * HG_FUNC_STRIDE + 0x1b + 0x1c * fr.site +
                   (fr.func * 7 + fr.site) % 8;
    loc->n_line = 1;
    o->line_ptrs[i] = ln;
    loc->line = &o->line_ptrs[i];
    o->loc_ptrs[i] = loc;
    return fn->loc_id[fr.site] = (uint32_t)loc->id;
}

static int hg_out_alloc(struct hg_out *o, const struct hg_world *w)
{
    size_t nframes = w->stack_off[w->n_stacks];
    memset(o, 0, sizeof *o);
    o->max_locs = nframes < w->n_funcs * HG_SITES ? nframes : w->n_funcs * HG_SITES;
    o->locs = calloc(o->max_locs, sizeof *o->locs);
    o->lines = calloc(o->max_locs, sizeof *o->lines);
    o->fns = calloc(w->n_funcs, sizeof *o->fns);
    o->samples = calloc(w->n_stacks, sizeof *o->samples);
    o->labels = calloc(w->n_stacks, sizeof *o->labels);
    o->loc_ids = calloc(nframes, sizeof *o->loc_ids);
    o->values = calloc(4 * w->n_stacks, sizeof *o->values);
    o->loc_ptrs = calloc(o->max_locs, sizeof *o->loc_ptrs);
    o->line_ptrs = calloc(o->max_locs, sizeof *o->line_ptrs);
    o->fn_ptrs = calloc(w->n_funcs, sizeof *o->fn_ptrs);
    o->sample_ptrs = calloc(w->n_stacks, sizeof *o->sample_ptrs);
    o->label_ptrs = calloc(w->n_stacks, sizeof *o->label_ptrs);
    if (!o->locs || !o->lines || !o->fns || !o->samples || !o->labels || !o->loc_ids ||
        !o->values || !o->loc_ptrs || !o->line_ptrs || !o->fn_ptrs || !o->sample_ptrs ||
        !o->label_ptrs)
        return -1;
    return hg_strtab_init(&o->strs, 2 * w->n_funcs + 64);
}

static void hg_out_free(struct hg_out *o)
{
    hg_strtab_free(&o->strs);
    free(o->locs);
    free(o->lines);
    free(o->fns);
    free(o->samples);
    free(o->labels);
    free(o->loc_ids);
    free(o->values);
    free(o->loc_ptrs);
    free(o->line_ptrs);
    free(o->fn_ptrs);
    free(o->sample_ptrs);
    free(o->label_ptrs);
}

/* fills samples, locations and functions for epoch; 0 or -1 */
static int hg_fill_samples(struct hg_world *w, struct hg_out *o, uint32_t seed, unsigned epoch,
                           int64_t bytes_key)
{
    for (size_t s = 0; s < w->n_stacks; s++) {
        Perftools__Profiles__Sample *sm = &o->samples[s];
        perftools__profiles__sample__init(sm);
        size_t b = w->stack_off[s], e = w->stack_off[s + 1];
        sm->location_id = o->loc_ids + b;
        sm->n_location_id = e - b;
        for (size_t i = 0; i < e - b; i++) { /* leaf first */
            uint64_t id = hg_emit_location(w, o, w->frames[e - 1 - i]);
            if (!id)
                return -1;
            sm->location_id[i] = id;
        }
        struct hg_values v = hg_stack_values(seed, s, epoch);
        int64_t *val = o->values + 4 * s;
        val[0] = v.alloc_objects;
        val[1] = v.alloc_space;
        val[2] = v.inuse_objects;
        val[3] = v.inuse_space;
        sm->value = val;
        sm->n_value = 4;
        if (hg_mix3(seed, s, 0x1abe1) % 10 == 0) { /* Go's `bytes` label: the block size */
            perftools__profiles__label__init(&o->labels[s]);
            o->labels[s].key = bytes_key;
            o->labels[s].num = v.size;
            o->label_ptrs[s] = &o->labels[s];
            sm->label = &o->label_ptrs[s];
            sm->n_label = 1;
        }
        o->sample_ptrs[s] = sm;
    }
    return 0;
}

/* ---- mappings, header and packing ------------------------------------------------- */

struct hg_mapdef {
    uint64_t start, limit, offset;
    const char *file, *build_id;
    int symbols;
};

/* packs the profile around o's tables; 0 or -1 */
static int hg_pack(struct hg_world *w, struct hg_out *o, unsigned epoch, uint8_t **pb, size_t *len)
{
    static const char *const types[8] = {"alloc_objects", "count", "alloc_space", "bytes",
                                         "inuse_objects", "count", "inuse_space", "bytes"};
    Perftools__Profiles__ValueType vt[5], *vtp[4];
    for (int i = 0; i < 5; i++) {
        perftools__profiles__value_type__init(&vt[i]);
        const char *ty = i < 4 ? types[2 * i] : "space", *un = i < 4 ? types[2 * i + 1] : "bytes";
        vt[i].type = hg_intern(&o->strs, ty);
        vt[i].unit = hg_intern(&o->strs, un);
        if (vt[i].type < 0 || vt[i].unit < 0)
            return -1;
        if (i < 4)
            vtp[i] = &vt[i];
    }
    uint64_t text_end = HG_TEXT_START + 0x1000 + (w->n_funcs + 16) * HG_FUNC_STRIDE;
    text_end = (text_end + 0xfff) & ~0xfffULL;
    const struct hg_mapdef md[3] = {
        {HG_TEXT_START, text_end, 0, "/usr/local/bin/svc",
         "8f3a62c1d4b5e6f708192a3b4c5d6e7f80912a3b", 1},
        {0x7ffc81a2e000ULL, 0x7ffc81a30000ULL, 0, "[vdso]", "", 0},
        {0xffffffffff600000ULL, 0xffffffffff601000ULL, 0, "[vsyscall]", "", 0},
    };
    Perftools__Profiles__Mapping mp[3], *mpp[3];
    for (int i = 0; i < 3; i++) {
        perftools__profiles__mapping__init(&mp[i]);
        mp[i].id = (uint64_t)i + 1;
        mp[i].memory_start = md[i].start;
        mp[i].memory_limit = md[i].limit;
        mp[i].file_offset = md[i].offset;
        mp[i].filename = hg_intern(&o->strs, md[i].file);
        mp[i].build_id = hg_intern(&o->strs, md[i].build_id);
        if (mp[i].filename < 0 || mp[i].build_id < 0)
            return -1;
        mp[i].has_functions = mp[i].has_filenames = mp[i].has_line_numbers = md[i].symbols;
        mpp[i] = &mp[i];
    }
    Perftools__Profiles__Profile prof = PERFTOOLS__PROFILES__PROFILE__INIT;
    prof.n_sample_type = 4;
    prof.sample_type = vtp;
    prof.n_sample = w->n_stacks;
    prof.sample = o->sample_ptrs;
    prof.n_mapping = 3;
    prof.mapping = mpp;
    prof.n_location = w->n_locs;
    prof.location = o->loc_ptrs;
    prof.n_function = w->n_fns;
    prof.function = o->fn_ptrs;
    prof.n_string_table = o->strs.n;
    prof.string_table = o->strs.s;
    prof.time_nanos = 1700000000000000000LL + (int64_t)epoch * 5000000000LL;
    prof.period_type = &vt[4];
    prof.period = HG_MEM_PROFILE_RATE;
    size_t n = perftools__profiles__profile__get_packed_size(&prof);
    *pb = malloc(n ? n : 1);
    if (!*pb)
        return -1;
    *len = perftools__profiles__profile__pack(&prof, *pb);
    return 0;
}

/* ---- public ---------------------------------------------------------------------- */

void pg_heapgen_default(struct pg_heapgen_params *p)
{
    p->seed = 1;
    p->n_stacks = 3000;
    p->n_functions = 4000;
    p->min_depth = 8;
    p->max_depth = 32;
}

int pg_heapgen_profile(const struct pg_heapgen_params *p, unsigned epoch, uint8_t **pb, size_t *len)
{
    if (!p || !pb || !len || p->n_stacks == 0 || p->n_stacks > 10000000 || p->n_functions < 64 ||
        p->n_functions > 10000000 || p->min_depth < 1 || p->max_depth > 256 ||
        p->min_depth > p->max_depth)
        return -1;
    *pb = NULL;
    *len = 0;
    struct hg_world w;
    struct hg_out o;
    int rc = -1;
    memset(&o, 0, sizeof o);
    if (hg_world_build(&w, p) == 0 && hg_out_alloc(&o, &w) == 0) {
        int64_t bytes_key = hg_intern(&o.strs, "bytes");
        if (bytes_key >= 0 && hg_fill_samples(&w, &o, p->seed, epoch, bytes_key) == 0)
            rc = hg_pack(&w, &o, epoch, pb, len);
    }
    hg_out_free(&o);
    hg_world_free(&w);
    return rc;
}

int pg_heapgen_gzip(const uint8_t *in, size_t len, int level, uint8_t **out, size_t *out_len)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    *out = NULL;
    if (deflateInit2(&zs, level, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return -1;
    size_t cap = deflateBound(&zs, (uLong)len);
    uint8_t *buf = malloc(cap);
    int rc = -1;
    if (buf) {
        zs.next_in = (Bytef *)(uintptr_t)in;
        zs.avail_in = (uInt)len;
        zs.next_out = buf;
        zs.avail_out = (uInt)cap;
        if (deflate(&zs, Z_FINISH) == Z_STREAM_END) {
            *out = buf;
            *out_len = zs.total_out;
            buf = NULL;
            rc = 0;
        }
    }
    free(buf);
    deflateEnd(&zs);
    return rc;
}
