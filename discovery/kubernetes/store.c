/* store.c - the per-kind object cache of kubernetes_sd (struct pg_kube_store, roles.h).
 *
 * Objects are kept in an array sorted by their key, "<namespace>/<name>" or "<name>" for
 * cluster-scoped kinds (client-go's MetaNamespaceKeyFunc), so lookups are a binary search
 * and iteration is in key order. Each entry holds one jansson reference. */
#include "discovery/kubernetes/roles.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct kube_entry {
    char *key;   /* owned */
    json_t *obj; /* one reference */
};

struct pg_kube_store {
    struct kube_entry *v;
    size_t n, cap;
};

struct pg_kube_store *pg_kube_store_create(void)
{
    return calloc(1, sizeof(struct pg_kube_store));
}

void pg_kube_store_clear(struct pg_kube_store *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->n; i++) {
        free(s->v[i].key);
        json_decref(s->v[i].obj);
    }
    s->n = 0;
}

void pg_kube_store_destroy(struct pg_kube_store *s)
{
    if (s == NULL)
        return;
    pg_kube_store_clear(s);
    free(s->v);
    free(s);
}

/* Returns a new "<ns>/<name>" (or "<name>" when ns is NULL or empty) or NULL on OOM. */
static char *make_key(const char *ns, const char *name)
{
    size_t nl = strlen(name);
    if (ns == NULL || ns[0] == '\0')
        return strdup(name);
    size_t sl = strlen(ns);
    char *k = malloc(sl + nl + 2);
    if (k == NULL)
        return NULL;
    memcpy(k, ns, sl);
    k[sl] = '/';
    memcpy(k + sl + 1, name, nl + 1);
    return k;
}

/* Returns the index of key, or -(insertion point) - 1 when absent. */
static long find(const struct pg_kube_store *s, const char *key)
{
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(s->v[mid].key, key);
        if (c == 0)
            return (long)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -(long)lo - 1;
}

int pg_kube_store_put(struct pg_kube_store *s, json_t *obj)
{
    json_t *md = json_object_get(obj, "metadata");
    const char *name = json_string_value(json_object_get(md, "name"));
    if (name == NULL || name[0] == '\0')
        return -1;
    const char *ns = json_string_value(json_object_get(md, "namespace"));
    char *key = make_key(ns, name);
    if (key == NULL)
        return -1;
    long at = find(s, key);
    if (at >= 0) {
        free(key);
        json_incref(obj);
        json_decref(s->v[at].obj);
        s->v[at].obj = obj;
        return 0;
    }
    size_t pos = (size_t)(-at - 1);
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        struct kube_entry *nv = realloc(s->v, cap * sizeof(*nv));
        if (nv == NULL) {
            free(key);
            return -1;
        }
        s->v = nv;
        s->cap = cap;
    }
    memmove(&s->v[pos + 1], &s->v[pos], (s->n - pos) * sizeof(*s->v));
    s->v[pos].key = key;
    s->v[pos].obj = json_incref(obj);
    s->n++;
    return 0;
}

int pg_kube_store_del(struct pg_kube_store *s, const char *ns, const char *name)
{
    if (name == NULL)
        return 0;
    char *key = make_key(ns, name);
    if (key == NULL)
        return 0;
    long at = find(s, key);
    free(key);
    if (at < 0)
        return 0;
    free(s->v[at].key);
    json_decref(s->v[at].obj);
    memmove(&s->v[at], &s->v[at + 1], (s->n - (size_t)at - 1) * sizeof(*s->v));
    s->n--;
    return 1;
}

json_t *pg_kube_store_get(const struct pg_kube_store *s, const char *ns, const char *name)
{
    if (s == NULL || name == NULL)
        return NULL;
    /* Keys are short: build them on the stack when they fit. */
    char buf[512];
    const char *key;
    char *heap = NULL;
    size_t need = (ns ? strlen(ns) : 0) + strlen(name) + 2;
    if (need <= sizeof(buf)) {
        /* need <= sizeof(buf) was checked: plain copies cannot truncate */
        size_t off = 0;
        if (ns != NULL && ns[0] != '\0') {
            size_t nl = strlen(ns);
            memcpy(buf, ns, nl);
            buf[nl] = '/';
            off = nl + 1;
        }
        memcpy(buf + off, name, strlen(name) + 1);
        key = buf;
    } else {
        heap = make_key(ns, name);
        if (heap == NULL)
            return NULL;
        key = heap;
    }
    long at = find(s, key);
    free(heap);
    return at >= 0 ? s->v[at].obj : NULL;
}

void pg_kube_store_foreach(const struct pg_kube_store *s, void (*fn)(void *ud, json_t *obj),
                           void *ud)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->n; i++)
        fn(ud, s->v[i].obj);
}

size_t pg_kube_store_size(const struct pg_kube_store *s)
{
    return s ? s->n : 0;
}
