/* members.c - the cluster's member list and ownership (see members.h). */
#include "cluster/members.h"

#include <stdlib.h>
#include <string.h>

#include "core/hrw.h"

void pg_cluster_members_init(struct pg_cluster_members *m)
{
    memset(m, 0, sizeof *m);
}

static void member_free(struct pg_cluster_member *p)
{
    if (!p)
        return;
    free(p->address);
    free(p->last_error);
    free(p);
}

static struct pg_cluster_member *member_new(const char *address)
{
    struct pg_cluster_member *p = calloc(1, sizeof *p);
    if (!p || !(p->address = strdup(address))) {
        free(p);
        return NULL;
    }
    p->hash = pg_hrw_member_hash(address);
    return p;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Returns the entry of m with address, or NULL. m->v is sorted. */
static struct pg_cluster_member *find(const struct pg_cluster_members *m, const char *address)
{
    size_t lo = 0, hi = m->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(m->v[mid]->address, address);
        if (c == 0)
            return m->v[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* Builds the sorted, deduplicated list of addresses: self and addrs. Returns the count
 * (into *out, borrowed strings) or -1. */
static long sorted_addresses(const char *self, char *const *addrs, size_t n, const char ***out)
{
    const char **v = malloc((n + 1) * sizeof *v);
    if (!v)
        return -1;
    v[0] = self;
    for (size_t i = 0; i < n; i++)
        v[i + 1] = addrs[i];
    qsort(v, n + 1, sizeof *v, cmp_str);
    size_t w = 0;
    for (size_t i = 0; i < n + 1; i++)
        if (w == 0 || strcmp(v[w - 1], v[i]) != 0)
            v[w++] = v[i];
    *out = v;
    return (long)w;
}

int pg_cluster_members_set(struct pg_cluster_members *m, const char *self, char *const *addrs,
                           size_t n, pg_cluster_drop_fn drop, void *ud)
{
    const char **want = NULL;
    long nw = sorted_addresses(self, addrs, n, &want);
    struct pg_cluster_member **nv = nw >= 0 ? calloc((size_t)nw + 1, sizeof *nv) : NULL;
    if (!nv)
        goto oom;
    for (long i = 0; i < nw; i++) {
        struct pg_cluster_member *old = find(m, want[i]);
        if (old)
            nv[i] = old;
        else if (!(nv[i] = member_new(want[i])))
            goto oom;
    }
    /* commit */
    for (long i = 0; i < nw; i++)
        nv[i]->self = !strcmp(nv[i]->address, self);
    for (size_t j = 0; j < m->n; j++) {
        int kept = 0;
        for (long i = 0; i < nw && !kept; i++)
            kept = nv[i] == m->v[j];
        if (!kept) {
            if (drop)
                drop(ud, m->v[j]);
            member_free(m->v[j]);
        }
    }
    free(m->v);
    m->v = nv;
    m->n = (size_t)nw;
    free(want);
    return pg_cluster_members_update_live(m) != 0;
oom:
    for (long i = 0; nv && i < nw; i++)
        if (nv[i] && !find(m, nv[i]->address))
            member_free(nv[i]);
    free(nv);
    free(want);
    return -1;
}

int pg_cluster_member_live(const struct pg_cluster_member *p)
{
    return p->self || p->state == PG_CLUSTER_UP;
}

int pg_cluster_member_result(struct pg_cluster_member *p, int ok, const char *error,
                             double duration_s, int64_t now_ms)
{
    int was = pg_cluster_member_live(p);
    p->last_probe_ms = now_ms;
    p->last_duration_s = duration_s;
    free(p->last_error);
    p->last_error = NULL;
    if (ok) {
        p->fails = 0;
        p->state = PG_CLUSTER_UP;
    } else {
        p->last_error = strdup(error && *error ? error : "probe failed");
        if (p->fails < PG_CLUSTER_DOWN_AFTER)
            p->fails++;
        if (p->fails >= PG_CLUSTER_DOWN_AFTER)
            p->state = PG_CLUSTER_DOWN;
    }
    return was != pg_cluster_member_live(p);
}

int pg_cluster_members_update_live(struct pg_cluster_members *m)
{
    uint64_t *h = malloc((m->n + 1) * sizeof *h);
    size_t *ix = malloc((m->n + 1) * sizeof *ix);
    if (!h || !ix) {
        free(h);
        free(ix);
        return -1;
    }
    size_t n = 0;
    for (size_t i = 0; i < m->n; i++)
        if (pg_cluster_member_live(m->v[i])) {
            h[n] = m->v[i]->hash;
            ix[n++] = i;
        }
    int changed = n != m->n_live || (n && memcmp(h, m->live_hash, n * sizeof *h) != 0);
    free(m->live_hash);
    free(m->live_idx);
    m->live_hash = h;
    m->live_idx = ix;
    m->n_live = n;
    return changed;
}

size_t pg_cluster_members_owner(const struct pg_cluster_members *m, uint64_t key)
{
    if (m->n_live == 0)
        return (size_t)-1;
    return m->live_idx[pg_hrw_pick(key, m->live_hash, m->n_live)];
}

size_t pg_cluster_members_self(const struct pg_cluster_members *m)
{
    for (size_t i = 0; i < m->n; i++)
        if (m->v[i]->self)
            return i;
    return (size_t)-1;
}

const char *pg_cluster_member_state_name(const struct pg_cluster_member *p)
{
    if (p->self || p->state == PG_CLUSTER_UP)
        return "up";
    return p->state == PG_CLUSTER_DOWN ? "down" : "unknown";
}

void pg_cluster_members_reset(struct pg_cluster_members *m, pg_cluster_drop_fn drop, void *ud)
{
    for (size_t i = 0; i < m->n; i++) {
        if (drop)
            drop(ud, m->v[i]);
        member_free(m->v[i]);
    }
    free(m->v);
    free(m->live_hash);
    free(m->live_idx);
    memset(m, 0, sizeof *m);
}
