/* bench_cluster_churn.c - how many targets move when a cluster's membership changes,
 * against the ideal, with rendezvous hashing (core/hrw.h); not a CTest test.
 *
 * A synthetic fleet of Kubernetes-like targets (job, instance=10.x.y.z:port, namespace,
 * pod, container, service_name; the key of a target is pg_labels_hash of its labels, the
 * profile types of one target sharing one key) is owned by replicas named
 * "10.0.0.<i>:4100". Starting from R replicas, each replica leaves and rejoins (one at a
 * time), a new replica joins, then two leave at once. For every change it prints the
 * targets that moved, the ideal (a leave: the leavers' share before; a join: total / N
 * after), their ratio, the moves that did not involve a leaver or joiner (always 0 for
 * rendezvous hashing), and what fixed hashmod sharding (hash % N, with N changed on every
 * replica) would have moved for the same change of N. Then the largest and smallest
 * share at steady state and the CPU time of one owner lookup.
 *
 * usage: bench_cluster_churn [--targets N] [--replicas R] [--seed S]
 *        default: 5000 targets, 5 replicas, seed 1. Exit 1 if a move broke the rule. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/hrw.h"
#include "core/labels.h"

#define MAX_MEMBERS 64

struct fleet {
    size_t n;
    uint64_t *keys;
};

struct view {
    size_t n;
    int id[MAX_MEMBERS]; /* member ids (the i in 10.0.0.<i>:4100), live ones */
    uint64_t hash[MAX_MEMBERS];
};

static uint64_t rng_state;

static uint64_t rng(void)
{
    uint64_t x = rng_state; /* xorshift64* */
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    rng_state = x;
    return x * 0x2545f4914f6cdd1dULL;
}

/* A Kubernetes-style name suffix: n characters of the alphabet the API server uses. */
static void k8s_suffix(char *out, size_t n)
{
    static const char alpha[] = "bcdfghjklmnpqrstvwxz2456789";
    for (size_t i = 0; i < n; i++)
        out[i] = alpha[rng() % (sizeof alpha - 1)];
    out[n] = '\0';
}

/* The labels of target i after relabelling, as a scrape job of pods would have them. */
static int target_labels(struct pg_labels *ls, size_t i)
{
    static const char *const apps[] = {"checkout", "payments",  "cart",  "search", "ledger",
                                       "gateway",  "inventory", "users", "notify", "ads"};
    static const char *const jobs[] = {"kubernetes-pods", "kubernetes-pods", "kubernetes-pods",
                                       "batch-workers"};
    const char *app = apps[rng() % (sizeof apps / sizeof apps[0])];
    char ns[32], pod[96], inst[48], rs[11], sfx[6];
    snprintf(ns, sizeof ns, "team-%02u", (unsigned)(rng() % 24));
    k8s_suffix(rs, 10);
    k8s_suffix(sfx, 5);
    snprintf(pod, sizeof pod, "%s-%s-%s", app, rs, sfx);
    /* distinct addresses: 10.<i / 65536>.<(i / 256) % 256>.<i % 256> */
    snprintf(inst, sizeof inst, "10.%zu.%zu.%zu:%s", 16 + i / 65536, (i / 256) % 256, i % 256,
             rng() % 4 ? "6060" : "8080");
    return pg_labels_set(ls, "job", jobs[rng() % 4]) | pg_labels_set(ls, "instance", inst) |
           pg_labels_set(ls, "namespace", ns) | pg_labels_set(ls, "pod", pod) |
           pg_labels_set(ls, "container", app) | pg_labels_set(ls, "service_name", app);
}

static int fleet_make(struct fleet *f, size_t n)
{
    f->n = n;
    f->keys = calloc(n, sizeof *f->keys);
    if (!f->keys)
        return -1;
    for (size_t i = 0; i < n; i++) {
        struct pg_labels ls;
        pg_labels_init(&ls);
        int rc = target_labels(&ls, i);
        f->keys[i] = pg_labels_hash(&ls);
        pg_labels_reset(&ls);
        if (rc)
            return -1;
    }
    return 0;
}

static void view_add(struct view *v, int id)
{
    char name[32];
    snprintf(name, sizeof name, "10.0.0.%d:4100", id);
    v->id[v->n] = id;
    v->hash[v->n] = pg_hrw_member_hash(name);
    v->n++;
}

static void view_del(struct view *v, int id)
{
    for (size_t i = 0; i < v->n; i++)
        if (v->id[i] == id) {
            memmove(&v->id[i], &v->id[i + 1], (v->n - i - 1) * sizeof v->id[0]);
            memmove(&v->hash[i], &v->hash[i + 1], (v->n - i - 1) * sizeof v->hash[0]);
            v->n--;
            return;
        }
}

static int view_has(const struct view *v, int id)
{
    for (size_t i = 0; i < v->n; i++)
        if (v->id[i] == id)
            return 1;
    return 0;
}

/* owner[i] = the member id that owns target i under view v. */
static void owners(const struct fleet *f, const struct view *v, int *owner)
{
    for (size_t i = 0; i < f->n; i++)
        owner[i] = v->id[pg_hrw_pick(f->keys[i], v->hash, v->n)];
}

/* Targets owned by member id. */
static size_t share(const struct fleet *f, const int *owner, int id)
{
    size_t c = 0;
    for (size_t i = 0; i < f->n; i++)
        c += owner[i] == id;
    return c;
}

/* Applies a change from view a to b and prints one row; returns the number of moves that
 * neither left a leaver nor went to a joiner (rendezvous hashing: always 0). */
static size_t change(const char *what, const struct fleet *f, const struct view *a,
                     const struct view *b, int *before, int *after)
{
    owners(f, a, before);
    owners(f, b, after);
    size_t moved = 0, wrong = 0, ideal = 0, hashmod = 0;
    for (size_t i = 0; i < f->n; i++) {
        hashmod += f->keys[i] % a->n != f->keys[i] % b->n;
        if (before[i] == after[i])
            continue;
        moved++;
        wrong += view_has(b, before[i]) && view_has(a, after[i]);
    }
    if (b->n < a->n) { /* leave: the leavers' share before */
        for (size_t m = 0; m < a->n; m++)
            if (!view_has(b, a->id[m]))
                ideal += share(f, before, a->id[m]);
    } else {
        ideal = (f->n + b->n / 2) / b->n; /* join: 1/N of all, rounded */
    }
    printf("%-26s %zu -> %zu %7zu %7zu %7.3f %7.1f%% %6zu %8zu %7.1f%%\n", what, a->n, b->n, moved,
           ideal, ideal ? (double)moved / (double)ideal : 0.0, 100.0 * (double)moved / (double)f->n,
           wrong, hashmod, 100.0 * (double)hashmod / (double)f->n);
    return wrong;
}

static void steady(const struct fleet *f, const struct view *v, int *owner)
{
    owners(f, v, owner);
    size_t mx = 0, mn = f->n;
    for (size_t m = 0; m < v->n; m++) {
        size_t s = share(f, owner, v->id[m]);
        mx = s > mx ? s : mx;
        mn = s < mn ? s : mn;
    }
    double fair = (double)f->n / (double)v->n;
    printf("steady state, %zu replicas: max share %zu (%.3f of fair %.0f), min %zu (%.3f)\n", v->n,
           mx, (double)mx / fair, fair, mn, (double)mn / fair);
}

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPU nanoseconds of one pg_hrw_pick over v (the whole fleet, repeated). */
static double pick_ns(const struct fleet *f, const struct view *v, int *owner)
{
    int rounds = 200;
    double t0 = cpu_now();
    for (int r = 0; r < rounds; r++)
        owners(f, v, owner);
    return (cpu_now() - t0) * 1e9 / ((double)rounds * (double)f->n);
}

static int run(const struct fleet *f, int replicas)
{
    int *before = calloc(f->n, sizeof *before), *after = calloc(f->n, sizeof *after);
    if (!before || !after) {
        free(before);
        free(after);
        return -1;
    }
    struct view v = {0}, w;
    for (int i = 1; i <= replicas; i++)
        view_add(&v, i);
    steady(f, &v, before);
    printf("\n%-26s %-6s %7s %7s %7s %8s %6s %8s %8s\n", "change", "N", "moved", "ideal", "ratio",
           "moved%", "wrong", "hashmod", "hashmod%");
    size_t wrong = 0;
    char what[64];
    for (int i = 1; i <= replicas; i++) {
        w = v;
        view_del(&w, i);
        snprintf(what, sizeof what, "replica %d leaves", i);
        wrong += change(what, f, &v, &w, before, after);
        snprintf(what, sizeof what, "replica %d rejoins", i);
        wrong += change(what, f, &w, &v, before, after);
    }
    w = v;
    view_add(&w, replicas + 1);
    snprintf(what, sizeof what, "replica %d joins", replicas + 1);
    wrong += change(what, f, &v, &w, before, after);
    v = w;
    view_del(&w, 2);
    view_del(&w, 4);
    wrong += change("replicas 2 and 4 leave", f, &v, &w, before, after);
    printf("\n");
    steady(f, &w, before);
    printf("owner lookup: %.0f ns per target with %zu replicas (CPU time)\n",
           pick_ns(f, &w, before), w.n);
    free(before);
    free(after);
    return wrong ? 1 : 0;
}

int main(int argc, char **argv)
{
    size_t targets = 5000;
    int replicas = 5;
    unsigned long long seed = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--targets") && i + 1 < argc)
            targets = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--replicas") && i + 1 < argc)
            replicas = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--seed") && i + 1 < argc)
            seed = strtoull(argv[++i], NULL, 10);
        else {
            fprintf(stderr, "usage: bench_cluster_churn [--targets N] [--replicas R] [--seed S]\n");
            return 2;
        }
    }
    if (targets == 0 || replicas < 2 || replicas > MAX_MEMBERS - 1) {
        fprintf(stderr, "need targets > 0 and 2 <= replicas <= %d\n", MAX_MEMBERS - 1);
        return 2;
    }
    rng_state = seed * 0x9e3779b97f4a7c15ULL + 1;
    struct fleet f;
    if (fleet_make(&f, targets)) {
        fprintf(stderr, "out of memory\n");
        free(f.keys);
        return 2;
    }
    printf("%zu targets, %d replicas, seed %llu\n", targets, replicas, seed);
    int rc = run(&f, replicas);
    free(f.keys);
    if (rc < 0)
        fprintf(stderr, "out of memory\n");
    else if (rc)
        fprintf(stderr, "FAIL: a target moved between two replicas that both stayed\n");
    return rc < 0 ? 2 : rc;
}
