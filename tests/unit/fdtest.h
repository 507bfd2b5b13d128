/* fdtest.h - random cumulative pprof profiles built with protobuf-c, and a content view of
 * decoded profiles, for the fastdelta unit tests (static functions: one copy per test).
 * A "universe" fixes functions, locations (address + 1-2 lines; some share their lines
 * with another location at a different address) and stacks (1-6 locations + a subset of
 * 4 labels); a profile gives values to some stacks and is encoded with renumbered,
 * shuffled ids and shuffled table, sample and label order. */
#ifndef PG_FDTEST_H
#define PG_FDTEST_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "profile.pb-c.h"

#define U_FN 24
#define U_LOC 40
#define U_MAXSTK 256

struct universe {
    uint64_t addr[U_LOC];
    int nl[U_LOC], fn[U_LOC][2], line[U_LOC][2];
    int depth[U_MAXSTK], loc[U_MAXSTK][6], labels[U_MAXSTK];
    size_t n_stack;
};

static uint32_t fd_rand(uint32_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

/* 1 if stack s has the same line content and labels as an earlier stack */
static int stack_dup(const struct universe *u, size_t s)
{
    for (size_t o = 0; o < s; o++) {
        int same = u->depth[o] == u->depth[s] && u->labels[o] == u->labels[s];
        for (int k = 0; same && k < u->depth[s]; k++) {
            int a = u->loc[o][k], b = u->loc[s][k];
            same = u->nl[a] == u->nl[b];
            for (int j = 0; same && j < u->nl[a]; j++)
                same = u->fn[a][j] == u->fn[b][j] && u->line[a][j] == u->line[b][j];
        }
        if (same)
            return 1;
    }
    return 0;
}

static void universe_init(struct universe *u, uint32_t seed, size_t n_stack)
{
    memset(u, 0, sizeof(*u));
    for (int i = 0; i < U_LOC; i++) {
        u->addr[i] = 0x400000 + 0x40 * (uint64_t)i;
        u->nl[i] = 1 + (fd_rand(&seed) % 4 == 0);
        for (int j = 0; j < 2; j++) {
            u->fn[i][j] = (int)(fd_rand(&seed) % U_FN);
            u->line[i][j] = 1 + (int)(fd_rand(&seed) % 50);
        }
        if (i >= 2 && fd_rand(&seed) % 8 == 0) { /* same lines as another location */
            int o = (int)(fd_rand(&seed) % (uint32_t)i);
            u->nl[i] = u->nl[o];
            memcpy(u->fn[i], u->fn[o], sizeof(u->fn[i]));
            memcpy(u->line[i], u->line[o], sizeof(u->line[i]));
        }
    }
    u->n_stack = n_stack;
    for (size_t s = 0; s < n_stack; s++) {
        do {
            u->depth[s] = 1 + (int)(fd_rand(&seed) % 6);
            for (int k = 0; k < u->depth[s]; k++)
                u->loc[s][k] = (int)(fd_rand(&seed) % U_LOC);
            u->labels[s] = (int)(fd_rand(&seed) % 16);
        } while (stack_dup(u, s));
    }
}

static const char *LBL_KEY[4] = {"k1", "k1", "k2", "bytes"};
static const char *LBL_STR[4] = {"a", "b", "c", NULL};

struct strtab {
    char *s[256];
    size_t n;
};

static int64_t intern(struct strtab *t, const char *s)
{
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->s[i], s) == 0)
            return (int64_t)i;
    t->s[t->n] = (char *)s;
    return (int64_t)t->n++;
}

static void shuffle(void **a, size_t n, uint32_t *seed)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = fd_rand(seed) % i;
        void *t = a[i - 1];
        a[i - 1] = a[j];
        a[j] = t;
    }
}

/* Encodes a profile: stack s present when vals[s][0..3] are not all -1. Returns the bytes. */
static uint8_t *encode_profile(const struct universe *u, int64_t (*vals)[4], uint32_t seed,
                               size_t *len)
{
    static char names[U_FN][16], files[4][16];
    struct strtab st = {{0}, 0};
    intern(&st, "");
    static const char *TN[4][2] = {{"alloc_objects", "count"},
                                   {"alloc_space", "bytes"},
                                   {"inuse_objects", "count"},
                                   {"inuse_space", "bytes"}};
    Perftools__Profiles__ValueType vt[4], *vtp[4];
    for (int i = 0; i < 4; i++) {
        perftools__profiles__value_type__init(&vt[i]);
        vt[i].type = intern(&st, TN[i][0]);
        vt[i].unit = intern(&st, TN[i][1]);
        vtp[i] = &vt[i];
    }
    uint64_t fbase = 1 + fd_rand(&seed) % 3 * 100, lbase = 1 + fd_rand(&seed) % 3 * 1000;
    Perftools__Profiles__Function fn[U_FN], *fnp[U_FN];
    for (int i = 0; i < U_FN; i++) {
        snprintf(names[i], sizeof(names[i]), "pkg.f%d", i);
        snprintf(files[i % 4], sizeof(files[0]), "f%d.go", i % 4);
        perftools__profiles__function__init(&fn[i]);
        fn[i].id = fbase + (uint64_t)(U_FN - 1 - i) * (fbase > 1 ? 3 : 1);
        fn[i].name = fn[i].system_name = intern(&st, names[i]);
        fn[i].filename = intern(&st, files[i % 4]);
        fnp[i] = &fn[i];
    }
    Perftools__Profiles__Line ln[U_LOC][2], *lnp[U_LOC][2];
    Perftools__Profiles__Location loc[U_LOC], *locp[U_LOC];
    for (int i = 0; i < U_LOC; i++) {
        perftools__profiles__location__init(&loc[i]);
        loc[i].id = lbase + (uint64_t)i * (lbase > 1 ? 7 : 1);
        loc[i].address = u->addr[i];
        loc[i].n_line = (size_t)u->nl[i];
        loc[i].line = lnp[i];
        for (int j = 0; j < u->nl[i]; j++) {
            perftools__profiles__line__init(&ln[i][j]);
            ln[i][j].function_id = fn[u->fn[i][j]].id;
            ln[i][j].line = u->line[i][j];
            lnp[i][j] = &ln[i][j];
        }
        locp[i] = &loc[i];
    }
    Perftools__Profiles__Sample smp[U_MAXSTK], *smpp[U_MAXSTK];
    Perftools__Profiles__Label lab[U_MAXSTK][4], *labp[U_MAXSTK][4];
    uint64_t ids[U_MAXSTK][6];
    size_t n = 0;
    for (size_t s = 0; s < u->n_stack; s++) {
        if (vals[s][0] < 0)
            continue;
        perftools__profiles__sample__init(&smp[n]);
        for (int k = 0; k < u->depth[s]; k++)
            ids[n][k] = loc[u->loc[s][k]].id;
        smp[n].n_location_id = (size_t)u->depth[s];
        smp[n].location_id = ids[n];
        smp[n].n_value = 4;
        smp[n].value = vals[s];
        for (int b = 0; b < 4; b++) {
            if (!(u->labels[s] & (1 << b)))
                continue;
            Perftools__Profiles__Label *l = &lab[n][smp[n].n_label];
            perftools__profiles__label__init(l);
            l->key = intern(&st, LBL_KEY[b]);
            if (LBL_STR[b])
                l->str = intern(&st, LBL_STR[b]);
            else {
                l->num = 1024;
                l->num_unit = intern(&st, "bytes");
            }
            labp[n][smp[n].n_label++] = l;
        }
        shuffle((void **)labp[n], smp[n].n_label, &seed);
        smp[n].label = labp[n];
        smpp[n] = &smp[n];
        n++;
    }
    shuffle((void **)fnp, U_FN, &seed);
    shuffle((void **)locp, U_LOC, &seed);
    shuffle((void **)smpp, n, &seed);
    Perftools__Profiles__Profile p = PERFTOOLS__PROFILES__PROFILE__INIT;
    p.n_sample_type = 4;
    p.sample_type = vtp;
    p.n_sample = n;
    p.sample = smpp;
    p.n_location = U_LOC;
    p.location = locp;
    p.n_function = U_FN;
    p.function = fnp;
    p.n_string_table = st.n;
    p.string_table = st.s;
    p.period = 512 * 1024;
    *len = perftools__profiles__profile__get_packed_size(&p);
    uint8_t *b = malloc(*len ? *len : 1);
    perftools__profiles__profile__pack(&p, b);
    return b;
}

/* ---- content view ---- */

struct centry {
    char key[4096];
    int64_t v[4];
};

static const char *pstr(const Perftools__Profiles__Profile *p, int64_t i)
{
    return i >= 0 && (size_t)i < p->n_string_table ? p->string_table[i] : "?";
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Content key of a sample: frames (address if with_addr, then lines) and sorted labels. */
/* snprintf at out + *w that never runs past outlen (keys longer than the buffer are cut) */
#define CK_PUT(...)                                                                                \
    do {                                                                                           \
        if (*w < outlen) {                                                                         \
            int n_ = snprintf(out + *w, outlen - *w, __VA_ARGS__);                                 \
            *w += n_ > 0 ? (size_t)n_ : 0;                                                         \
        }                                                                                          \
    } while (0)

static void content_key(const Perftools__Profiles__Profile *p, const Perftools__Profiles__Sample *s,
                        int with_addr, char *out, size_t outlen)
{
    size_t w0 = 0, *w = &w0;
    out[0] = 0;
    for (size_t i = 0; i < s->n_location_id; i++) {
        const Perftools__Profiles__Location *l = NULL;
        for (size_t k = 0; k < p->n_location && !l; k++)
            if (p->location[k]->id == s->location_id[i])
                l = p->location[k];
        if (!l) {
            CK_PUT("?|");
            continue;
        }
        if (with_addr)
            CK_PUT("%llx:", (unsigned long long)l->address);
        for (size_t j = 0; j < l->n_line; j++) {
            const Perftools__Profiles__Function *f = NULL;
            for (size_t k = 0; k < p->n_function && !f; k++)
                if (p->function[k]->id == l->line[j]->function_id)
                    f = p->function[k];
            CK_PUT("%s@%s:%lld;", f ? pstr(p, f->name) : "?", f ? pstr(p, f->filename) : "?",
                   (long long)l->line[j]->line);
        }
        CK_PUT("|");
    }
    char lb[8][64];
    const char *lp[8];
    size_t nl = s->n_label < 8 ? s->n_label : 8;
    for (size_t j = 0; j < nl; j++) {
        const Perftools__Profiles__Label *l = s->label[j];
        snprintf(lb[j], sizeof(lb[j]), "%s=%s/%lld%s", pstr(p, l->key), pstr(p, l->str),
                 (long long)l->num, pstr(p, l->num_unit));
        lp[j] = lb[j];
    }
    qsort(lp, nl, sizeof(lp[0]), cmp_str);
    for (size_t j = 0; j < nl; j++)
        CK_PUT("{%s}", lp[j]);
}

/* Content view: one entry per distinct key, values summed. Returns the count. */
static size_t content_view(const Perftools__Profiles__Profile *p, int with_addr,
                           struct centry **out)
{
    struct centry *e = calloc(p->n_sample + 1, sizeof(*e));
    size_t n = 0;
    char k[4096];
    for (size_t i = 0; i < p->n_sample; i++) {
        content_key(p, p->sample[i], with_addr, k, sizeof(k));
        size_t j = 0;
        while (j < n && strcmp(e[j].key, k) != 0)
            j++;
        if (j == n)
            strcpy(e[n++].key, k);
        for (size_t t = 0; t < 4 && t < p->sample[i]->n_value; t++)
            e[j].v[t] += p->sample[i]->value[t];
    }
    *out = e;
    return n;
}

static const struct centry *cfind(const struct centry *e, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(e[i].key, key) == 0)
            return &e[i];
    return NULL;
}

#endif
