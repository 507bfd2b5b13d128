/* bench_buffer.c - buffer append throughput against raw SQLite (not a CTest test).
 *
 * For each blob size, in one run: appends N blobs through pg_buf_append with a
 * pg_buf_flush every B appends (what the sink writer does on its 100 ms timer), then
 * inserts the same blobs with plain SQLite into a table of the same shape and storage
 * settings (same columns in the same order, 64 KiB pages, WAL, synchronous=NORMAL, one
 * prepared INSERT, a transaction per B rows, the labels as a ready-made string). Each side runs R
 * times alternately, each on a fresh database; medians of profiles/s and MB/s and their ratio
 * (buffer / raw) are printed.
 *
 * usage: bench_buffer [--dir DIR] [--batch B] [--rounds R] [SIZE:N ...]
 *        default: 13312:20000 225280:2000 (13 KiB and 220 KiB bodies). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "core/labels.h"
#include "sink/buffer.h"

#define N_BLOBS 16 /* distinct bodies cycled through, so that memory stays small */
#define MAX_ROUNDS 15

struct run {
    size_t size, n, batch;
    uint8_t *blobs[N_BLOBS];
    struct pg_labels labels;
    const char *dir;
};

static double clock_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One side's cost: wall time and this process's CPU time (user + system, which includes
 * the kernel's page-cache copies; steadier than wall time on a shared machine). */
struct cost {
    double wall, cpu;
};

static struct cost cost_start(void)
{
    return (struct cost){clock_s(CLOCK_MONOTONIC), clock_s(CLOCK_PROCESS_CPUTIME_ID)};
}

static struct cost cost_since(struct cost t0)
{
    return (struct cost){clock_s(CLOCK_MONOTONIC) - t0.wall,
                         clock_s(CLOCK_PROCESS_CPUTIME_ID) - t0.cpu};
}

/* Random-ish bytes (xorshift64): SQLite does not compress, so the content only has to
 * be distinct. */
static void fill(uint8_t *p, size_t n, uint64_t seed)
{
    uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        p[i] = (uint8_t)x;
    }
}

static void clean(const char *dir)
{
    const char *files[] = {"buffer.db", "buffer.db-wal", "buffer.db-shm", "lock",
                           "raw.db",    "raw.db-wal",    "raw.db-shm"};
    char path[512];
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
        unlink(path);
    }
}

static struct cost run_buffer(struct run *r)
{
    clean(r->dir);
    const char *be[] = {"b"};
    char err[256];
    struct pg_buf *b = pg_buf_open(r->dir, be, 1, 0, 0, err, sizeof(err));
    if (!b) {
        fprintf(stderr, "open: %s\n", err);
        exit(1);
    }
    struct cost t0 = cost_start();
    for (size_t i = 0; i < r->n; i++) {
        if (pg_buf_append(b, &r->labels, "memory", (int64_t)i, (int64_t)i + 1, NULL,
                          r->blobs[i % N_BLOBS], r->size) != 0) {
            fprintf(stderr, "append failed\n");
            exit(1);
        }
        if ((i + 1) % r->batch == 0 && pg_buf_flush(b) != 0) {
            fprintf(stderr, "flush failed\n");
            exit(1);
        }
    }
    if (pg_buf_flush(b) != 0)
        exit(1);
    struct cost dt = cost_since(t0);
    pg_buf_close(b);
    return dt;
}

static void must(sqlite3 *db, int rc, const char *what)
{
    if (rc != SQLITE_OK && rc != SQLITE_DONE) {
        fprintf(stderr, "%s: %s\n", what, sqlite3_errmsg(db));
        exit(1);
    }
}

static struct cost run_raw(struct run *r, const char *lt)
{
    clean(r->dir);
    char path[512];
    snprintf(path, sizeof(path), "%s/raw.db", r->dir);
    sqlite3 *db;
    sqlite3_stmt *ins;
    must(NULL, sqlite3_open(path, &db), "open");
    must(db,
         sqlite3_exec(db,
                      "PRAGMA page_size=65536; PRAGMA journal_mode=WAL;"
                      " PRAGMA synchronous=NORMAL;"
                      "CREATE TABLE profiles(id INTEGER PRIMARY KEY AUTOINCREMENT, labels TEXT,"
                      " name TEXT, from_ns INTEGER, until_ns INTEGER, tenant TEXT,"
                      " size INTEGER, created_ms INTEGER, body BLOB);",
                      NULL, NULL, NULL),
         "schema");
    must(db,
         sqlite3_prepare_v2(db,
                            "INSERT INTO profiles(labels,name,from_ns,until_ns,tenant,body,size,"
                            "created_ms) VALUES(?,?,?,?,?,?,?,?)",
                            -1, &ins, NULL),
         "prepare");
    struct cost t0 = cost_start();
    for (size_t i = 0; i < r->n; i++) {
        if (i % r->batch == 0)
            must(db, sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), "begin");
        sqlite3_bind_text(ins, 1, lt, -1, SQLITE_STATIC);
        sqlite3_bind_text(ins, 2, "memory", -1, SQLITE_STATIC);
        sqlite3_bind_int64(ins, 3, (int64_t)i);
        sqlite3_bind_int64(ins, 4, (int64_t)i + 1);
        sqlite3_bind_null(ins, 5);
        sqlite3_bind_blob(ins, 6, r->blobs[i % N_BLOBS], (int)r->size, SQLITE_STATIC);
        sqlite3_bind_int64(ins, 7, (int64_t)r->size);
        sqlite3_bind_int64(ins, 8, (int64_t)i);
        must(db, sqlite3_step(ins), "insert");
        sqlite3_reset(ins);
        if ((i + 1) % r->batch == 0 || i + 1 == r->n)
            must(db, sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), "commit");
    }
    struct cost dt = cost_since(t0);
    sqlite3_finalize(ins);
    sqlite3_close(db);
    return dt;
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

static void bench(struct run *r, int rounds)
{
    /* the labels of a typical scraped series, and their stored text for the raw side */
    static const char *const kv[][2] = {
        {"__name__", "memory"},     {"service_name", "checkout"},
        {"job", "kubernetes-pods"}, {"instance", "10.1.2.3:6060"},
        {"namespace", "shop"},      {"pod", "checkout-7d9f8b6c5-x2x9q"},
        {"__delta__", "false"}};
    pg_labels_init(&r->labels);
    char lt[512] = "";
    for (size_t i = 0; i < sizeof(kv) / sizeof(kv[0]); i++)
        pg_labels_set(&r->labels, kv[i][0], kv[i][1]);
    for (size_t i = 0; i < r->labels.n; i++)
        snprintf(lt + strlen(lt), sizeof(lt) - strlen(lt), "%zu:%s%zu:%s",
                 strlen(r->labels.v[i].name), r->labels.v[i].name, strlen(r->labels.v[i].value),
                 r->labels.v[i].value);
    for (int i = 0; i < N_BLOBS; i++) {
        r->blobs[i] = malloc(r->size);
        fill(r->blobs[i], r->size, (uint64_t)i + r->size);
    }
    double bw[MAX_ROUNDS], rw[MAX_ROUNDS], bc[MAX_ROUNDS], rc[MAX_ROUNDS];
    for (int k = 0; k < rounds; k++) {
        /* alternate which side goes first, so neither always pays the other's writeback */
        struct cost b, w;
        if (k % 2) {
            w = run_raw(r, lt);
            b = run_buffer(r);
        } else {
            b = run_buffer(r);
            w = run_raw(r, lt);
        }
        bw[k] = b.wall, bc[k] = b.cpu, rw[k] = w.wall, rc[k] = w.cpu;
        printf("  round %d: buffer %.3f s (cpu %.3f), raw %.3f s (cpu %.3f)\n", k + 1, b.wall,
               b.cpu, w.wall, w.cpu);
        fflush(stdout);
    }
    double mb = median(bw, rounds), mr = median(rw, rounds);
    double cb = median(bc, rounds), cr = median(rc, rounds);
    double mib = (double)r->size * (double)r->n / (1024.0 * 1024.0);
    printf("body %zu B x %zu, batch %zu, median of %d:\n", r->size, r->n, r->batch, rounds);
    printf("  pg_buf_append+flush: %9.0f profiles/s %8.1f MiB/s  cpu %.3f s\n", (double)r->n / mb,
           mib / mb, cb);
    printf("  raw SQLite inserts:  %9.0f profiles/s %8.1f MiB/s  cpu %.3f s\n", (double)r->n / mr,
           mib / mr, cr);
    printf("  ratio buffer/raw:    %.2fx wall, %.2fx cpu (goal >= 0.80x)\n", mr / mb, cr / cb);
    for (int i = 0; i < N_BLOBS; i++)
        free(r->blobs[i]);
    pg_labels_reset(&r->labels);
    clean(r->dir);
}

int main(int argc, char **argv)
{
    const char *dir = "/tmp/pg_bench_buffer";
    size_t batch = 200;
    int rounds = 5, first = argc;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
            dir = argv[++i];
        else if (strcmp(argv[i], "--batch") == 0 && i + 1 < argc)
            batch = (size_t)strtoull(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc)
            rounds = atoi(argv[++i]);
        else {
            first = i;
            break;
        }
    }
    if (!batch || rounds < 1 || rounds > MAX_ROUNDS) {
        fprintf(stderr,
                "usage: bench_buffer [--dir DIR] [--batch B] [--rounds 1..%d] "
                "[SIZE:N ...]\n",
                MAX_ROUNDS);
        return 2;
    }
    const char *defaults[] = {"13312:20000", "225280:2000"};
    const char *const *specs = first < argc ? (const char *const *)argv + first : defaults;
    int n_specs = first < argc ? argc - first : 2;
    for (int i = 0; i < n_specs; i++) {
        struct run r = {.batch = batch, .dir = dir};
        if (sscanf(specs[i], "%zu:%zu", &r.size, &r.n) != 2 || !r.size || !r.n) {
            fprintf(stderr, "bad SIZE:N %s\n", specs[i]);
            return 2;
        }
        char err[256];
        const char *be[] = {"b"};
        struct pg_buf *b = pg_buf_open(dir, be, 1, 0, 0, err, sizeof(err)); /* mkdir -p */
        if (!b) {
            fprintf(stderr, "%s\n", err);
            return 1;
        }
        pg_buf_close(b);
        bench(&r, rounds);
    }
    return 0;
}
