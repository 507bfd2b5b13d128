/* bench_profile.c - CPU cost per scrape of the profile pipeline, old path against new, on a
 * big heap profile (not a CTest test; built by the normal build so it keeps compiling).
 *
 * Old path: zlib inflate, protobuf-c unpack + pg_pprof_validate, pg_delta_apply, protobuf-c
 * pack, zlib deflate level 6. New path: libdeflate inflate (pg_gz_inflate), pg_fastdelta_apply
 * (which checks the body itself; pg_pprof_wire_check is timed on its own too), libdeflate
 * deflate of the delta at levels 1, 2, 4, 6. Floor at level L = inflate + deflate(L) of the
 * delta, measured in the same run. CPU time is CLOCK_PROCESS_CPUTIME_ID; each round primes a
 * fresh state on epoch 0 and deltas epochs 1..K-1; the figures are medians over rounds of
 * the mean per scrape.
 *
 * Usage: bench_profile [--rounds N] [--epochs K] [--stacks N] [--only-new] [file.pb[.gz]]
 * (default: the generator's heap profile, tests/bench/heapgen.h; with a file, every epoch is
 * that file, so alloc deltas are 0). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#include "heapgen.h"
#include "delta_ref.h"
#include "profile/fastdelta.h"
#include "profile/gz.h"
#include "profile/pprof.h"
#include "profile/wire.h"

#define LIMIT ((size_t)256 << 20)
#define MAXE 64
#define MAXR 101

static const char *const TYPES[] = {"alloc_objects", "alloc_space"};
static const int LEVELS[] = {1, 2, 4, 6};
#define NLEV 4

enum {
    S_ZINF,
    S_UNPACK,
    S_DELTA,
    S_PACK,
    S_ZDEF6,
    S_INF,
    S_CHECK,
    S_FD,
    S_DEF, /* + level index */
    S_N = S_DEF + NLEV
};
static const char *SNAME[S_N] = {"old: zlib inflate",       "old: unpack+validate",
                                 "old: pg_delta_apply",     "old: pack",
                                 "old: zlib deflate -6",    "new: libdeflate inflate",
                                 "new: wire check (alone)", "new: fastdelta (checks too)",
                                 "new: deflate -1",         "new: deflate -2",
                                 "new: deflate -4",         "new: deflate -6"};

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int zinflate(const uint8_t *in, size_t len, uint8_t **out, size_t *olen)
{
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    if (inflateInit2(&zs, 15 + 16) != Z_OK)
        return -1;
    size_t cap = len * 4, used = 0;
    uint8_t *b = malloc(cap);
    zs.next_in = (Bytef *)(uintptr_t)in;
    zs.avail_in = (uInt)len;
    int rc;
    do {
        if (used == cap)
            b = realloc(b, cap *= 2);
        zs.next_out = b + used;
        zs.avail_out = (uInt)(cap - used);
        rc = inflate(&zs, Z_NO_FLUSH);
        used = cap - zs.avail_out;
    } while (rc == Z_OK || (rc == Z_BUF_ERROR && used == cap));
    inflateEnd(&zs);
    *out = b;
    *olen = used;
    return rc == Z_STREAM_END ? 0 : -1;
}

static int zdeflate6(const uint8_t *in, size_t len, uint8_t **out, size_t *olen)
{
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    if (deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return -1;
    size_t cap = deflateBound(&zs, (uLong)len);
    *out = malloc(cap);
    zs.next_in = (Bytef *)(uintptr_t)in;
    zs.avail_in = (uInt)len;
    zs.next_out = *out;
    zs.avail_out = (uInt)cap;
    int rc = deflate(&zs, Z_FINISH);
    *olen = cap - zs.avail_out;
    deflateEnd(&zs);
    return rc == Z_STREAM_END ? 0 : -1;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_d);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

struct run {
    uint8_t *gz[MAXE];
    size_t gzlen[MAXE], rawlen;
    int epochs;
    double t[S_N][MAXR];
    size_t outlen, samples_in, samples_out, deflen[NLEV], z6len, old_outlen, state_bytes;
};

#define TIME(stage, expr)                                                                          \
    do {                                                                                           \
        double t0_ = now_ms();                                                                     \
        if ((expr) != 0) {                                                                         \
            fprintf(stderr, "%s failed\n", SNAME[stage]);                                          \
            exit(1);                                                                               \
        }                                                                                          \
        acc[stage] += now_ms() - t0_;                                                              \
    } while (0)

static int unpack_validate(const uint8_t *raw, size_t len, Perftools__Profiles__Profile **p)
{
    char err[256];
    *p = perftools__profiles__profile__unpack(NULL, len, raw);
    return !*p || pg_pprof_validate(*p, err, sizeof(err)) != 0;
}

static int delta_old(struct pg_delta *d, Perftools__Profiles__Profile *p, int *primed)
{
    return pg_delta_apply(d, p, TYPES, 2, primed);
}

static void old_round(struct run *r, int round)
{
    double acc[S_N] = {0};
    struct pg_delta *d = pg_delta_create();
    for (int e = 0; e < r->epochs; e++) {
        uint8_t *raw, *pb, *z;
        size_t rl, pl, zl;
        Perftools__Profiles__Profile *p;
        int primed;
        TIME(S_ZINF, zinflate(r->gz[e], r->gzlen[e], &raw, &rl));
        TIME(S_UNPACK, unpack_validate(raw, rl, &p));
        TIME(S_DELTA, delta_old(d, p, &primed));
        if (!primed) {
            TIME(S_PACK, pg_delta_encode(p, &pb, &pl));
            TIME(S_ZDEF6, zdeflate6(pb, pl, &z, &zl));
            r->old_outlen = pl;
            r->z6len = zl;
            free(pb);
            free(z);
        }
        perftools__profiles__profile__free_unpacked(p, NULL);
        free(raw);
        if (e == 0) /* the priming scrape is not counted */
            memset(acc, 0, sizeof(acc));
    }
    for (int s = S_ZINF; s <= S_ZDEF6; s++)
        r->t[s][round] = acc[s] / (r->epochs - 1);
    pg_delta_destroy(d);
}

static int fd_apply(struct pg_fastdelta *d, const uint8_t *raw, size_t rl,
                    struct pg_fastdelta_result *res)
{
    char err[256];
    int rc = pg_fastdelta_apply(d, raw, rl, TYPES, 2, res, err, sizeof(err));
    if (rc)
        fprintf(stderr, "fastdelta: %s\n", err);
    return rc;
}

static int wire_check(const uint8_t *raw, size_t rl)
{
    char err[256];
    return pg_pprof_wire_check(raw, rl, err, sizeof(err));
}

static int gz_inflate(const uint8_t *in, size_t len, uint8_t **out, size_t *olen)
{
    char err[256];
    return pg_gz_inflate(in, len, LIMIT, out, olen, err, sizeof(err));
}

static void new_round(struct run *r, int round)
{
    double acc[S_N] = {0};
    struct pg_fastdelta *d = pg_fastdelta_new();
    for (int e = 0; e < r->epochs; e++) {
        uint8_t *raw, *z;
        size_t rl, zl;
        struct pg_fastdelta_result res;
        TIME(S_INF, gz_inflate(r->gz[e], r->gzlen[e], &raw, &rl));
        TIME(S_CHECK, wire_check(raw, rl));
        TIME(S_FD, fd_apply(d, raw, rl, &res));
        if (res.out) {
            for (int l = 0; l < NLEV; l++) {
                TIME(S_DEF + l, pg_gz_deflate(res.out, res.len, LEVELS[l], &z, &zl));
                r->deflen[l] = zl;
                free(z);
            }
            r->outlen = res.len;
            r->samples_out = res.samples_out;
            free(res.out);
        }
        r->samples_in = res.samples_in;
        r->rawlen = rl;
        free(raw);
        if (e == 0)
            memset(acc, 0, sizeof(acc));
    }
    for (int s = S_INF; s < S_N; s++)
        r->t[s][round] = acc[s] / (r->epochs - 1);
    r->state_bytes = pg_fastdelta_state_bytes(d);
    pg_fastdelta_free(d);
}

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc(n > 0 ? (size_t)n : 1);
    if (fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        b = NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return b;
}

/* Fills r->gz[0..epochs) with gzip bodies (Go gzips its profiles at BestSpeed: level 1). */
static int load_inputs(struct run *r, const char *file, size_t stacks)
{
    for (int e = 0; e < r->epochs; e++) {
        uint8_t *pb;
        size_t len;
        if (file) {
            pb = slurp(file, &len);
            if (!pb)
                return -1;
            if (pg_gz_is_gzip(pb, len)) {
                r->gz[e] = pb;
                r->gzlen[e] = len;
                continue;
            }
        } else {
            struct pg_heapgen_params p;
            pg_heapgen_default(&p);
            if (stacks)
                p.n_stacks = stacks;
            if (pg_heapgen_profile(&p, (unsigned)e, &pb, &len) != 0)
                return -1;
        }
        int rc = pg_heapgen_gzip(pb, len, 1, &r->gz[e], &r->gzlen[e]);
        free(pb);
        if (rc != 0)
            return -1;
    }
    return 0;
}

static void report(struct run *r, int rounds)
{
    double m[S_N];
    for (int s = 0; s < S_N; s++)
        m[s] = median(r->t[s], rounds);
    printf("body %zu bytes gzip, %zu bytes decoded, %zu samples in, %zu out; delta %zu bytes "
           "(old path's %zu)\n",
           r->gzlen[r->epochs - 1], r->rawlen, r->samples_in, r->samples_out, r->outlen,
           r->old_outlen);
    printf("CPU ms per scrape, median of %d rounds x %d scrapes:\n", rounds, r->epochs - 1);
    for (int s = 0; s < S_N; s++)
        printf("  %-28s %8.3f\n", SNAME[s], m[s]);
    double old = m[S_ZINF] + m[S_UNPACK] + m[S_DELTA] + m[S_PACK] + m[S_ZDEF6];
    printf("old all-in (deflate -6 -> %zu bytes): %.3f ms\n", r->z6len, old);
    double base = m[S_INF] + m[S_FD];
    printf("new without re-compression (inflate + fastdelta): %.3f ms\n", base);
    for (int l = 0; l < NLEV; l++) {
        double floor = m[S_INF] + m[S_DEF + l], all = base + m[S_DEF + l];
        printf("level %d: %7zu bytes; new all-in %.3f ms, floor %.3f ms, ratio %.2f\n", LEVELS[l],
               r->deflen[l], all, floor, all / floor);
    }
    printf("fastdelta state: %zu bytes, %.1f bytes per stack (%zu stacks)\n", r->state_bytes,
           r->samples_in ? (double)r->state_bytes / (double)r->samples_in : 0.0, r->samples_in);
}

int main(int argc, char **argv)
{
    int rounds = 9, epochs = 6, only_new = 0;
    size_t stacks = 0;
    const char *file = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc)
            rounds = atoi(argv[++i]);
        else if (strcmp(argv[i], "--epochs") == 0 && i + 1 < argc)
            epochs = atoi(argv[++i]);
        else if (strcmp(argv[i], "--stacks") == 0 && i + 1 < argc)
            stacks = (size_t)atol(argv[++i]);
        else if (strcmp(argv[i], "--only-new") == 0)
            only_new = 1; /* for profiling the new path (old figures then read 0) */
        else if (argv[i][0] != '-')
            file = argv[i];
        else {
            fprintf(stderr, "usage: %s [--rounds N] [--epochs K] [--stacks N] [file]\n", argv[0]);
            return 2;
        }
    }
    if (rounds < 1 || rounds > MAXR || epochs < 2 || epochs > MAXE) {
        fprintf(stderr, "rounds 1..%d, epochs 2..%d\n", MAXR, MAXE);
        return 2;
    }
    struct run *r = calloc(1, sizeof(*r));
    r->epochs = epochs;
    if (load_inputs(r, file, stacks) != 0) {
        fprintf(stderr, "cannot load the profile\n");
        return 1;
    }
    for (int i = 0; i < rounds; i++) {
        if (!only_new)
            old_round(r, i);
        new_round(r, i);
    }
    report(r, rounds);
    for (int e = 0; e < epochs; e++)
        free(r->gz[e]);
    free(r);
    pg_profile_thread_release();
    return 0;
}
