/* kubernetes.c - the "kubernetes" discovery mechanism (Prometheus kubernetes_sd_configs).
 *
 * One instance per kubernetes_sd_configs entry (loaded by sd_config.c). It runs one informer per
 * watched resource kind and namespace (cluster-wide when no namespace is configured; nodes and
 * namespaces are always cluster-wide), each following client-go's reflector: LIST (paginated with
 * limit/continue, label and field selectors of the same role) fills the kind's store
 * (roles.h), then WATCH from the list's resourceVersion with allowWatchBookmarks and a
 * random timeoutSeconds in [300, 600). Events update the store; BOOKMARK only moves the
 * resourceVersion; a 410 Gone (ERROR event or HTTP status) relists, and the relist
 * reports objects that vanished meanwhile as deletions; a watch that ended normally is
 * re-opened from the last resourceVersion; errors back off (1s doubling to 30s, jittered;
 * reset on success) and never empty anything.
 *
 * Which kinds a role watches: pod → pods (+ nodes with attach_metadata.node); service →
 * services; endpoints → endpoints, pods, services (+ nodes); endpointslice →
 * endpointslices, pods, services (+ nodes); node → nodes; ingress → ingresses; any role
 * with attach_metadata.namespace also watches namespaces. A change of a related object
 * re-emits the groups that depend on it: a pod or service → the endpoints(lices) that
 * reference it, a node → the pods (or endpoints) on it, a namespace → the objects in it.
 *
 * Emission: changed group sources are collected in a dirty set and flushed by a short
 * timer, so bursts of events rebuild each group once. Nothing is emitted before every
 * informer finished its first list; the first emit is then the full set.
 *
 * Metrics: profgate_sd_refreshes_total{mechanism="kubernetes"} (lists),
 * profgate_sd_refresh_failures_total{mechanism="kubernetes"} (failed lists and watches),
 * profgate_sd_kubernetes_watch_restarts_total, profgate_sd_kubernetes_events_total{role,event}. */
#include <event2/event.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/backoff.h"
#include "core/curlm.h"
#include "core/log.h"
#include "core/metrics.h"
#include "discovery/kubernetes/client.h"
#include "discovery/kubernetes/roles.h"
#include "discovery/kubernetes/sd_config.h"
#include "discovery/sd.h"

#define KUBE_LIST_MAX ((size_t)256 << 20) /* one LIST page body */
#define KUBE_LINE_MAX ((size_t)16 << 20)  /* one watch event */
#define KUBE_LIST_LIMIT 500               /* items per LIST page */
#define KUBE_LIST_TIMEOUT_MS 120000       /* one LIST page */
#define KUBE_BACKOFF_MIN_MS 1000
#define KUBE_BACKOFF_MAX_MS 30000
#define KUBE_FLUSH_MS 100 /* dirty-set flush delay */
#define KUBE_MIN_WATCH_S 300

enum kube_kind {
    KK_POD = 0,
    KK_SERVICE,
    KK_ENDPOINTS,
    KK_ENDPOINTSLICE,
    KK_NODE,
    KK_INGRESS,
    KK_NAMESPACE,
    KK_N
};

static const struct {
    const char *name;     /* metric role label */
    const char *prefix;   /* API group path */
    const char *resource; /* plural resource name */
    int namespaced;
    int sel_role; /* the selectors' role that applies, -1 none */
} kk_info[KK_N] = {
    [KK_POD] = {"pod", "/api/v1", "pods", 1, PG_CFG_KUBE_POD},
    [KK_SERVICE] = {"service", "/api/v1", "services", 1, PG_CFG_KUBE_SERVICE},
    [KK_ENDPOINTS] = {"endpoints", "/api/v1", "endpoints", 1, PG_CFG_KUBE_ENDPOINTS},
    [KK_ENDPOINTSLICE] = {"endpointslice", "/apis/discovery.k8s.io/v1", "endpointslices", 1,
                          PG_CFG_KUBE_ENDPOINTSLICE},
    [KK_NODE] = {"node", "/api/v1", "nodes", 0, PG_CFG_KUBE_NODE},
    [KK_INGRESS] = {"ingress", "/apis/networking.k8s.io/v1", "ingresses", 1, PG_CFG_KUBE_INGRESS},
    [KK_NAMESPACE] = {"namespace", "/api/v1", "namespaces", 0, -1},
};

struct kube_inst;

struct kube_inf {
    struct kube_inst *k;
    enum kube_kind kind;
    char *ns;                          /* NULL: cluster-wide */
    const char *label_sel, *field_sel; /* borrowed from the config, may be NULL */
    char *rv;                          /* last resourceVersion, NULL before the first list */
    int synced;                        /* first list done */
    struct pg_kube_req *req;           /* running LIST or WATCH */
    int watching;                      /* req is a WATCH */
    struct event *timer;               /* owned: retry timer */
    unsigned attempt;                  /* consecutive failures */
    /* LIST pagination */
    json_t *items; /* array of the pages so far */
    char *cont;
    int paginate;
    /* current WATCH */
    int gone;      /* 410 seen */
    int ev_error;  /* another ERROR event seen */
    size_t events; /* events received on this watch */
};

struct kube_inst {
    const struct pg_cfg_kube_sd *cfg;
    char *job;
    enum pg_cfg_kube_role role;
    enum kube_kind primary;
    struct pg_kube_client *client;
    struct event_base *base;
    struct pg_curlm *cm; /* owned */
    pg_sd_emit_fn emit;
    void *ud;
    struct pg_kube_store *stores[KK_N]; /* NULL when the kind is not watched */
    struct kube_inf **infs;
    size_t n_infs;
    json_t *dirty; /* source -> [namespace|null, name] */
    struct event *flush_ev;
    int ready;      /* every informer listed once and the full set was emitted */
    int first_emit; /* the full set is due */
    int started;
    uint64_t rng;
    struct pg_metric *m_refresh, *m_fail, *m_restarts, *m_events;
};

static const char *const mech_label[] = {"kubernetes"};

/* ---- small helpers ------------------------------------------------------------------- */

static const json_t *jget(const json_t *o, const char *k)
{
    return json_is_object(o) ? json_object_get(o, k) : NULL;
}

static const char *jstr(const json_t *o, const char *k)
{
    return json_string_value(jget(o, k));
}

static const char *obj_ns(const json_t *obj)
{
    return jstr(jget(obj, "metadata"), "namespace");
}

static const char *obj_name(const json_t *obj)
{
    return jstr(jget(obj, "metadata"), "name");
}

static int streq(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

/* Appends "&key=<escaped value>" (or "?key=..." when first) to *q. Returns 0 or -1. */
static int q_add(char **q, const char *key, const char *value)
{
    char *esc = curl_easy_escape(NULL, value, 0);
    if (!esc)
        return -1;
    char *n;
    int rc = asprintf(&n, "%s%c%s=%s", *q ? *q : "", *q && **q ? '&' : '?', key, esc);
    curl_free(esc);
    if (rc < 0)
        return -1;
    free(*q);
    *q = n;
    return 0;
}

static void count_event(struct kube_inst *k, enum kube_kind kind, const char *event)
{
    const char *lv[] = {kk_info[kind].name, event};
    pg_metric_inc(k->m_events, lv, 1);
}

/* ---- dirty set and emission ---------------------------------------------------------- */

static void schedule_flush(struct kube_inst *k, int now)
{
    if (!k->flush_ev || !k->ready)
        return;
    if (now) {
        event_del(k->flush_ev);
        event_active(k->flush_ev, EV_TIMEOUT, 0);
        return;
    }
    if (evtimer_pending(k->flush_ev, NULL))
        return;
    struct timeval tv = {0, KUBE_FLUSH_MS * 1000};
    evtimer_add(k->flush_ev, &tv);
}

/* Marks obj's group (of the primary kind) as changed. */
static void mark(struct kube_inst *k, const json_t *obj)
{
    char src[1024];
    const char *name = obj_name(obj);
    if (!name || pg_kube_source(k->role, obj, src, sizeof(src)) < 0)
        return;
    json_t *v = json_pack("[s?s]", obj_ns(obj), name);
    if (!v || json_object_set_new(k->dirty, src, v) < 0)
        pg_log_error("sd.kubernetes", "job=%s msg=\"out of memory\"", k->job);
    schedule_flush(k, 0);
}

static void on_flush(evutil_socket_t fd, short what, void *arg)
{
    struct kube_inst *k = arg;
    (void)fd;
    (void)what;
    size_t n = json_object_size(k->dirty);
    if (n == 0 && !k->first_emit)
        return;
    struct pg_tgroup *groups = calloc(n + 1, sizeof(*groups));
    if (!groups) {
        pg_log_error("sd.kubernetes", "job=%s msg=\"out of memory\"", k->job);
        schedule_flush(k, 0);
        return;
    }
    struct pg_kube_ctx ctx = {
        .pods = k->stores[KK_POD],
        .services = k->stores[KK_SERVICE],
        .nodes = k->stores[KK_NODE],
        .namespaces = k->stores[KK_NAMESPACE],
        .attach_node = k->cfg->attach_node,
        .attach_namespace = k->cfg->attach_namespace,
    };
    size_t g = 0, pending = 0;
    const char *src;
    json_t *v;
    void *tmp;
    json_object_foreach_safe(k->dirty, tmp, src, v)
    {
        const char *ns = json_string_value(json_array_get(v, 0));
        const char *name = json_string_value(json_array_get(v, 1));
        json_t *obj = name ? pg_kube_store_get(k->stores[k->primary], ns, name) : NULL;
        if (obj) {
            /* An object that exists but yields no group (a node without a usable address,
             * a malformed object, OOM) keeps its previous group: nothing is sent for it
             * (roles.h), so live targets are never removed by a bad update. */
            if (pg_kube_build_group(k->role, obj, &ctx, &groups[g]) == 0) {
                g++;
            } else {
                pg_log_debug("sd.kubernetes",
                             "job=%s source=%s msg=\"no group built, previous group kept\"", k->job,
                             src);
            }
        } else if (pg_tgroup_init(&groups[g], src) == 0) { /* gone: an empty group removes it */
            g++;
        } else {
            pending++; /* OOM: the deletion stays dirty and is retried */
            continue;
        }
        json_object_del(k->dirty, src);
    }
    if (pending > 0) {
        pg_log_error("sd.kubernetes", "job=%s msg=\"out of memory, deletions deferred\" count=%zu",
                     k->job, pending);
        schedule_flush(k, 0);
    }
    if (g == 0 && !k->first_emit) {
        free(groups); /* only kept groups or deferred deletions: nothing changed */
        return;
    }
    if (k->first_emit)
        pg_log_info("sd.kubernetes", "job=%s role=%s msg=\"initial sync\" groups=%zu", k->job,
                    kk_info[k->primary].name, g);
    k->first_emit = 0;
    k->emit(k->ud, groups, g);
    pg_tgroup_free_array(groups, g);
}

struct scan {
    struct kube_inst *k;
    enum kube_kind changed; /* kind of the changed object */
    const char *ns, *name;
};

/* Does the endpoints/endpointslice object reference pod ns/name or node name? */
static int refs_in_addrs(const json_t *addrs, const struct scan *s)
{
    size_t i;
    const json_t *a;
    json_array_foreach(addrs, i, a)
    {
        if (s->changed == KK_NODE) {
            if (streq(jstr(a, "nodeName"), s->name))
                return 1;
            continue;
        }
        const json_t *ref = jget(a, "targetRef");
        if (streq(jstr(ref, "kind"), "Pod") && streq(jstr(ref, "name"), s->name)) {
            const char *rns = jstr(ref, "namespace");
            if (!rns || streq(rns, s->ns))
                return 1;
        }
    }
    return 0;
}

static void scan_one(void *ud, json_t *obj)
{
    struct scan *s = ud;
    struct kube_inst *k = s->k;
    const char *ons = obj_ns(obj);
    int hit = 0;
    switch (s->changed) {
    case KK_NAMESPACE: hit = streq(ons, s->name); break;
    case KK_SERVICE: /* endpointslices of the service */
        hit = streq(ons, s->ns) &&
              streq(jstr(jget(jget(obj, "metadata"), "labels"), "kubernetes.io/service-name"),
                    s->name);
        break;
    case KK_NODE:
    case KK_POD:
        if (s->changed == KK_POD && !streq(ons, s->ns))
            break;
        if (k->primary == KK_POD) {
            hit = streq(jstr(jget(obj, "spec"), "nodeName"), s->name);
        } else if (k->primary == KK_ENDPOINTS) {
            size_t i;
            const json_t *sub;
            json_array_foreach(jget(obj, "subsets"), i, sub)
            {
                if (refs_in_addrs(jget(sub, "addresses"), s) ||
                    refs_in_addrs(jget(sub, "notReadyAddresses"), s)) {
                    hit = 1;
                    break;
                }
            }
        } else if (k->primary == KK_ENDPOINTSLICE) {
            hit = refs_in_addrs(jget(obj, "endpoints"), s);
        }
        break;
    default: break;
    }
    if (hit)
        mark(k, obj);
}

/* Reacts to a change (add/update/delete) of obj of kind: marks the affected groups. */
static void changed(struct kube_inst *k, enum kube_kind kind, const json_t *obj)
{
    if (!k->ready)
        return; /* the first emit takes everything */
    if (kind == k->primary) {
        mark(k, obj);
        return;
    }
    struct scan s = {k, kind, obj_ns(obj), obj_name(obj)};
    if (!s.name)
        return;
    if (kind == KK_SERVICE && k->primary == KK_ENDPOINTS) {
        json_t *ep = pg_kube_store_get(k->stores[KK_ENDPOINTS], s.ns, s.name);
        if (ep)
            mark(k, ep);
        return;
    }
    pg_kube_store_foreach(k->stores[k->primary], scan_one, &s);
}

/* Removes what client-go users strip too: managedFields is large and never a label. */
static void slim(json_t *obj)
{
    json_t *md = json_object_get(obj, "metadata");
    if (json_is_object(md))
        json_object_del(md, "managedFields");
}

/* ---- informers ----------------------------------------------------------------------- */

static void inf_list(struct kube_inf *f);
static void inf_watch(struct kube_inf *f);

static void inf_retry_later(struct kube_inf *f, int64_t retry_after_ms)
{
    f->attempt++;
    int64_t ms = pg_backoff_delay(KUBE_BACKOFF_MIN_MS, KUBE_BACKOFF_MAX_MS, f->attempt,
                                  retry_after_ms, &f->k->rng);
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000)};
    evtimer_add(f->timer, &tv);
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
    struct kube_inf *f = arg;
    (void)fd;
    (void)what;
    if (f->rv && f->synced)
        inf_watch(f);
    else
        inf_list(f);
}

/* Builds "<prefix>[/namespaces/<ns>]/<resource>" plus the selectors; extra params after. */
static char *inf_path(struct kube_inf *f, char **q)
{
    char *path;
    const char *ns = f->ns;
    int rc = ns ? asprintf(&path, "%s/namespaces/%s/%s", kk_info[f->kind].prefix, ns,
                           kk_info[f->kind].resource)
                : asprintf(&path, "%s/%s", kk_info[f->kind].prefix, kk_info[f->kind].resource);
    if (rc < 0)
        return NULL;
    *q = NULL;
    if ((f->label_sel && q_add(q, "labelSelector", f->label_sel) < 0) ||
        (f->field_sel && q_add(q, "fieldSelector", f->field_sel) < 0)) {
        free(path);
        free(*q);
        return NULL;
    }
    return path;
}

static const char *inf_desc(const struct kube_inf *f)
{
    return f->ns ? f->ns : "";
}

/* State of one relist: the fresh items by key, and the objects in f's scope (its
 * namespace, or everything when cluster-wide) that are not among them. */
struct replace {
    struct kube_inf *f;
    json_t *fresh; /* key -> item */
    json_t *gone;  /* array of vanished objects */
};

static void obj_key(const json_t *obj, char *buf, size_t len)
{
    const char *ns = obj_ns(obj), *name = obj_name(obj);
    if (ns && *ns)
        snprintf(buf, len, "%s/%s", ns, name ? name : "");
    else
        snprintf(buf, len, "%s", name ? name : "");
}

static void collect_gone(void *ud, json_t *obj)
{
    struct replace *r = ud;
    if (r->f->ns && !streq(obj_ns(obj), r->f->ns))
        return;
    char key[1024];
    obj_key(obj, key, sizeof(key));
    if (!json_object_get(r->fresh, key))
        json_array_append(r->gone, obj);
}

/* Makes the store's content in f's scope equal to items; reports the differences. */
static int inf_replace(struct kube_inf *f, json_t *items)
{
    struct kube_inst *k = f->k;
    struct pg_kube_store *st = k->stores[f->kind];
    struct replace r = {f, json_object(), json_array()};
    if (!r.fresh || !r.gone)
        goto oom;
    size_t i;
    json_t *it;
    char key[1024];
    json_array_foreach(items, i, it)
    {
        if (!obj_name(it))
            continue;
        obj_key(it, key, sizeof(key));
        if (json_object_set(r.fresh, key, it) < 0)
            goto oom;
    }
    pg_kube_store_foreach(st, collect_gone, &r);
    json_array_foreach(r.gone, i, it)
    {
        pg_kube_store_del(st, obj_ns(it), obj_name(it));
        changed(k, f->kind, it);
    }
    const char *kk;
    json_object_foreach(r.fresh, kk, it)
    {
        json_t *old = pg_kube_store_get(st, obj_ns(it), obj_name(it));
        const char *orv = old ? jstr(jget(old, "metadata"), "resourceVersion") : NULL;
        const char *nrv = jstr(jget(it, "metadata"), "resourceVersion");
        int differs = !old || !orv || !nrv || strcmp(orv, nrv) != 0;
        slim(it);
        if (pg_kube_store_put(st, it) < 0)
            goto oom;
        if (differs)
            changed(k, f->kind, it);
    }
    json_decref(r.fresh);
    json_decref(r.gone);
    return 0;
oom:
    json_decref(r.fresh);
    json_decref(r.gone);
    return -1;
}

static void mark_all(void *ud, json_t *obj)
{
    mark(ud, obj);
}

/* After an informer's first list: once every informer has listed, emit the full set. */
static void maybe_ready(struct kube_inst *k)
{
    if (k->ready)
        return;
    for (size_t i = 0; i < k->n_infs; i++)
        if (!k->infs[i]->synced)
            return;
    k->ready = 1;
    k->first_emit = 1;
    json_object_clear(k->dirty);
    pg_kube_store_foreach(k->stores[k->primary], mark_all, k);
    schedule_flush(k, 1);
}

static void on_list_done(void *ud, const struct pg_kube_resp *resp)
{
    struct kube_inf *f = ud;
    struct kube_inst *k = f->k;
    f->req = NULL;
    json_t *root = NULL;
    if (!resp->failed && resp->status == 410 && f->cont) {
        /* continue token expired: list again from the start, unpaginated */
        pg_log_info("sd.kubernetes",
                    "job=%s resource=%s namespace=%s msg=\"continue token "
                    "expired, listing without pagination\"",
                    k->job, kk_info[f->kind].resource, inf_desc(f));
        f->paginate = 0;
        json_array_clear(f->items);
        free(f->cont);
        f->cont = NULL;
        inf_list(f);
        return;
    }
    if (resp->failed || resp->status != 200) {
        pg_metric_inc(k->m_fail, mech_label, 1);
        pg_log_warn("sd.kubernetes",
                    "job=%s resource=%s namespace=%s msg=\"list failed\" status=%ld err=\"%s\"",
                    k->job, kk_info[f->kind].resource, inf_desc(f), resp->status,
                    resp->error ? resp->error : "unexpected status");
        goto retry;
    }
    json_error_t jerr;
    root = json_loadb(resp->body, resp->len, 0, &jerr);
    json_t *items = json_object_get(root, "items");
    if (!root || !(json_is_array(items) || json_is_null(items))) {
        pg_metric_inc(k->m_fail, mech_label, 1);
        pg_log_safe(jerr.text, jerr.text, sizeof(jerr.text));
        pg_log_warn("sd.kubernetes",
                    "job=%s resource=%s namespace=%s msg=\"bad list response\" err=\"%s\"", k->job,
                    kk_info[f->kind].resource, inf_desc(f), root ? "no items" : jerr.text);
        goto retry;
    }
    if (json_is_array(items) && json_array_extend(f->items, items) < 0)
        goto oom;
    const json_t *md = json_object_get(root, "metadata");
    const char *cont = jstr(md, "continue");
    free(f->cont);
    f->cont = NULL;
    if (cont && *cont && f->paginate) {
        if (!(f->cont = strdup(cont)))
            goto oom;
        json_decref(root);
        inf_list(f); /* next page */
        return;
    }
    const char *rv = jstr(md, "resourceVersion");
    free(f->rv);
    f->rv = rv && *rv ? strdup(rv) : NULL;
    if (inf_replace(f, f->items) < 0)
        goto oom;
    pg_log_debug("sd.kubernetes", "job=%s resource=%s namespace=%s msg=\"listed\" items=%zu rv=%s",
                 k->job, kk_info[f->kind].resource, inf_desc(f), json_array_size(f->items),
                 f->rv ? f->rv : "");
    json_array_clear(f->items);
    json_decref(root);
    f->synced = 1;
    f->attempt = 0;
    f->paginate = 1;
    maybe_ready(k);
    if (f->rv)
        inf_watch(f);
    else
        inf_retry_later(f, -1); /* a list without resourceVersion cannot be watched */
    return;
oom:
    pg_log_error("sd.kubernetes", "job=%s msg=\"out of memory\"", k->job);
retry:
    json_decref(root);
    json_array_clear(f->items);
    free(f->cont);
    f->cont = NULL;
    f->paginate = 1; /* an unpaginated list that failed (e.g. too large) pages again */
    inf_retry_later(f, -1);
}

static void inf_list(struct kube_inf *f)
{
    struct kube_inst *k = f->k;
    char *q = NULL, err[256];
    char *path = inf_path(f, &q);
    char *pq = NULL;
    if (!path)
        goto fail;
    if (f->paginate) {
        char lim[16];
        snprintf(lim, sizeof(lim), "%d", KUBE_LIST_LIMIT);
        if (q_add(&q, "limit", lim) < 0 || (f->cont && q_add(&q, "continue", f->cont) < 0))
            goto fail;
    }
    if (asprintf(&pq, "%s%s", path, q ? q : "") < 0) {
        pq = NULL;
        goto fail;
    }
    if (!f->cont)
        pg_metric_inc(k->m_refresh, mech_label, 1);
    f->watching = 0;
    f->req = pg_kube_get(k->client, k->cm, pq, KUBE_LIST_MAX, KUBE_LIST_TIMEOUT_MS, NULL,
                         on_list_done, f, err, sizeof(err));
    if (!f->req) {
        pg_log_warn("sd.kubernetes", "job=%s msg=\"cannot start list\" err=\"%s\"", k->job, err);
        goto fail;
    }
    free(path);
    free(q);
    free(pq);
    return;
fail:
    free(path);
    free(q);
    free(pq);
    pg_metric_inc(k->m_fail, mech_label, 1);
    f->paginate = 1; /* the retry pages (again) */
    inf_retry_later(f, -1);
}

static void set_rv(struct kube_inf *f, const json_t *obj)
{
    const char *rv = jstr(jget(obj, "metadata"), "resourceVersion");
    if (!rv || !*rv || streq(rv, f->rv))
        return;
    char *n = strdup(rv);
    if (n) {
        free(f->rv);
        f->rv = n;
    }
}

static int on_event_line(void *ud, const char *line, size_t len)
{
    struct kube_inf *f = ud;
    struct kube_inst *k = f->k;
    struct pg_kube_store *st = k->stores[f->kind];
    json_error_t jerr;
    json_t *ev = json_loadb(line, len, 0, &jerr);
    const char *type = jstr(ev, "type");
    json_t *obj = ev ? json_object_get(ev, "object") : NULL;
    if (!type || !json_is_object(obj)) {
        pg_log_safe(jerr.text, jerr.text, sizeof(jerr.text));
        pg_log_warn("sd.kubernetes", "job=%s resource=%s msg=\"bad watch event\" err=\"%s\"",
                    k->job, kk_info[f->kind].resource, ev ? "no type or object" : jerr.text);
        json_decref(ev);
        f->ev_error = 1;
        return -1;
    }
    f->events++;
    f->attempt = 0;
    int rc = 0;
    if (strcmp(type, "ADDED") == 0 || strcmp(type, "MODIFIED") == 0) {
        count_event(k, f->kind, type[0] == 'A' ? "add" : "update");
        set_rv(f, obj);
        slim(obj);
        if (pg_kube_store_put(st, obj) == 0)
            changed(k, f->kind, obj);
    } else if (strcmp(type, "DELETED") == 0) {
        count_event(k, f->kind, "delete");
        set_rv(f, obj);
        if (obj_name(obj)) {
            pg_kube_store_del(st, obj_ns(obj), obj_name(obj));
            changed(k, f->kind, obj);
        }
    } else if (strcmp(type, "BOOKMARK") == 0) {
        set_rv(f, obj);
    } else if (strcmp(type, "ERROR") == 0) {
        json_int_t code = json_integer_value(json_object_get(obj, "code"));
        if (code == 410) {
            f->gone = 1;
        } else {
            f->ev_error = 1;
            char reason[128], msg[512];
            snprintf(reason, sizeof(reason), "%s", jstr(obj, "reason") ? jstr(obj, "reason") : "");
            snprintf(msg, sizeof(msg), "%s", jstr(obj, "message") ? jstr(obj, "message") : "");
            pg_log_safe(reason, reason, sizeof(reason));
            pg_log_safe(msg, msg, sizeof(msg));
            pg_log_warn("sd.kubernetes",
                        "job=%s resource=%s namespace=%s msg=\"watch error event\" code=%lld "
                        "reason=\"%s\" message=\"%s\"",
                        k->job, kk_info[f->kind].resource, inf_desc(f), (long long)code, reason,
                        msg);
        }
        rc = -1;
    }
    json_decref(ev);
    return rc;
}

static void on_watch_done(void *ud, const struct pg_kube_resp *resp)
{
    struct kube_inf *f = ud;
    struct kube_inst *k = f->k;
    f->req = NULL;
    f->watching = 0;
    if (f->gone || resp->status == 410) {
        pg_log_info("sd.kubernetes",
                    "job=%s resource=%s namespace=%s msg=\"resource version too old, "
                    "relisting\" rv=%s",
                    k->job, kk_info[f->kind].resource, inf_desc(f), f->rv ? f->rv : "");
        pg_metric_inc(k->m_restarts, NULL, 1);
        free(f->rv);
        f->rv = NULL;
        inf_list(f);
        return;
    }
    if (!resp->failed && resp->status == 200 && !f->ev_error &&
        (f->events > 0 || resp->duration_s >= 1.0)) {
        /* ended normally (timeoutSeconds or the server closed it): go on from the last RV */
        pg_metric_inc(k->m_restarts, NULL, 1);
        inf_watch(f);
        return;
    }
    pg_metric_inc(k->m_fail, mech_label, 1);
    pg_metric_inc(k->m_restarts, NULL, 1);
    pg_log_warn("sd.kubernetes",
                "job=%s resource=%s namespace=%s msg=\"watch failed, retrying\" status=%ld "
                "err=\"%s\"",
                k->job, kk_info[f->kind].resource, inf_desc(f), resp->status,
                resp->error ? resp->error
                            : (resp->status != 200 ? "unexpected status" : "empty watch"));
    inf_retry_later(f, -1);
}

static void inf_watch(struct kube_inf *f)
{
    struct kube_inst *k = f->k;
    char *q = NULL, err[256], to[16];
    char *path = inf_path(f, &q);
    char *pq = NULL;
    unsigned t = KUBE_MIN_WATCH_S + (unsigned)(pg_backoff_rand(&k->rng) % KUBE_MIN_WATCH_S);
    snprintf(to, sizeof(to), "%u", t);
    if (!path || q_add(&q, "watch", "1") < 0 || q_add(&q, "resourceVersion", f->rv) < 0 ||
        q_add(&q, "allowWatchBookmarks", "true") < 0 || q_add(&q, "timeoutSeconds", to) < 0 ||
        asprintf(&pq, "%s%s", path, q) < 0) {
        pq = NULL;
        goto fail;
    }
    f->gone = f->ev_error = 0;
    f->events = 0;
    f->watching = 1;
    f->req = pg_kube_get(k->client, k->cm, pq, KUBE_LINE_MAX, (int64_t)(t + 30) * 1000,
                         on_event_line, on_watch_done, f, err, sizeof(err));
    if (!f->req) {
        pg_log_warn("sd.kubernetes", "job=%s msg=\"cannot start watch\" err=\"%s\"", k->job, err);
        goto fail;
    }
    free(path);
    free(q);
    free(pq);
    return;
fail:
    free(path);
    free(q);
    free(pq);
    f->watching = 0;
    pg_metric_inc(k->m_fail, mech_label, 1);
    inf_retry_later(f, -1);
}

/* ---- instance ------------------------------------------------------------------------ */

static void inf_free(struct kube_inf *f)
{
    if (!f)
        return;
    pg_kube_cancel(f->req);
    if (f->timer)
        event_free(f->timer);
    free(f->ns);
    free(f->rv);
    free(f->cont);
    json_decref(f->items);
    free(f);
}

static int add_inf(struct kube_inst *k, enum kube_kind kind, const char *ns)
{
    struct kube_inf *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    f->k = k;
    f->kind = kind;
    f->paginate = 1;
    if ((ns && !(f->ns = strdup(ns))) || !(f->items = json_array())) {
        inf_free(f);
        return -1;
    }
    for (size_t i = 0; i < k->cfg->n_selectors; i++) {
        const struct pg_cfg_kube_selector *s = &k->cfg->selectors[i];
        if ((int)s->role == kk_info[kind].sel_role) {
            f->label_sel = s->label;
            f->field_sel = s->field;
            break;
        }
    }
    struct kube_inf **t = realloc(k->infs, (k->n_infs + 1) * sizeof(*t));
    if (!t) {
        inf_free(f);
        return -1;
    }
    k->infs = t;
    k->infs[k->n_infs++] = f;
    if (!k->stores[kind] && !(k->stores[kind] = pg_kube_store_create()))
        return -1;
    return 0;
}

/* Adds the informers of kind: one per namespace, or one cluster-wide. */
static int add_kind(struct kube_inst *k, enum kube_kind kind)
{
    const struct pg_cfg_kube_sd *c = k->cfg;
    if (!kk_info[kind].namespaced || (c->n_namespaces == 0 && !c->own_namespace))
        return add_inf(k, kind, NULL);
    const char *own = c->own_namespace ? pg_kube_client_own_namespace(k->client) : NULL;
    for (size_t i = 0; i < c->n_namespaces; i++) {
        if (own && streq(own, c->namespaces[i]))
            own = NULL; /* listed already */
        if (add_inf(k, kind, c->namespaces[i]) < 0)
            return -1;
    }
    if (own && add_inf(k, kind, own) < 0)
        return -1;
    return 0;
}

static void kube_stop(void *inst)
{
    struct kube_inst *k = inst;
    for (size_t i = 0; i < k->n_infs; i++) {
        struct kube_inf *f = k->infs[i];
        pg_kube_cancel(f->req);
        f->req = NULL;
        if (f->timer)
            evtimer_del(f->timer);
    }
    if (k->flush_ev)
        event_del(k->flush_ev);
    k->started = 0;
}

static void kube_destroy(void *inst)
{
    struct kube_inst *k = inst;
    if (!k)
        return;
    kube_stop(k);
    for (size_t i = 0; i < k->n_infs; i++)
        inf_free(k->infs[i]);
    free(k->infs);
    if (k->flush_ev)
        event_free(k->flush_ev);
    pg_curlm_destroy(k->cm);
    for (int i = 0; i < KK_N; i++)
        pg_kube_store_destroy(k->stores[i]);
    json_decref(k->dirty);
    pg_kube_client_destroy(k->client);
    free(k->job);
    free(k);
}

static void *kube_create(const void *cfg, const char *job)
{
    const struct pg_cfg_kube_sd *c = cfg;
    struct kube_inst *k = calloc(1, sizeof(*k));
    if (!k)
        return NULL;
    k->cfg = c;
    k->role = c->role;
    k->job = strdup(job ? job : "");
    k->dirty = json_object();
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    k->rng = ((uint64_t)ts.tv_sec * 1000000007u) ^ (uint64_t)ts.tv_nsec ^
             ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)k;
    if (!k->rng)
        k->rng = 1;
    if (!k->job || !k->dirty)
        goto fail;
    char err[512];
    if (!(k->client = pg_kube_client_create(c, err, sizeof(err)))) {
        pg_log_safe(err, err, sizeof(err));
        pg_log_error("sd.kubernetes",
                     "job=%s msg=\"cannot configure the Kubernetes client\" "
                     "err=\"%s\"",
                     k->job, err);
        goto fail;
    }
    if (c->own_namespace && !pg_kube_client_own_namespace(k->client)) {
        pg_log_error("sd.kubernetes",
                     "job=%s msg=\"namespaces.own_namespace: cannot determine the own "
                     "namespace (no service-account namespace file)\"",
                     k->job);
        goto fail;
    }
    switch (c->role) {
    case PG_CFG_KUBE_POD: k->primary = KK_POD; break;
    case PG_CFG_KUBE_SERVICE: k->primary = KK_SERVICE; break;
    case PG_CFG_KUBE_ENDPOINTS: k->primary = KK_ENDPOINTS; break;
    case PG_CFG_KUBE_ENDPOINTSLICE: k->primary = KK_ENDPOINTSLICE; break;
    case PG_CFG_KUBE_NODE: k->primary = KK_NODE; break;
    case PG_CFG_KUBE_INGRESS: k->primary = KK_INGRESS; break;
    default: goto fail;
    }
    if (add_kind(k, k->primary) < 0)
        goto fail;
    if (k->primary == KK_ENDPOINTS || k->primary == KK_ENDPOINTSLICE) {
        if (add_kind(k, KK_POD) < 0 || add_kind(k, KK_SERVICE) < 0)
            goto fail;
    }
    if (c->attach_node && k->primary != KK_NODE &&
        (k->primary == KK_POD || k->primary == KK_ENDPOINTS || k->primary == KK_ENDPOINTSLICE) &&
        add_kind(k, KK_NODE) < 0)
        goto fail;
    if (c->attach_namespace && add_kind(k, KK_NAMESPACE) < 0)
        goto fail;
    k->m_refresh = pg_metric_counter("profgate_sd_refreshes_total",
                                     "Discovery refreshes (lists, reads, queries) per mechanism.",
                                     "mechanism");
    k->m_fail = pg_metric_counter("profgate_sd_refresh_failures_total",
                                  "Failed discovery refreshes per mechanism.", "mechanism");
    k->m_restarts = pg_metric_counter("profgate_sd_kubernetes_watch_restarts_total",
                                      "Kubernetes watches re-opened (timeout, error or 410).", "");
    k->m_events =
        pg_metric_counter("profgate_sd_kubernetes_events_total",
                          "Kubernetes objects added, updated or deleted, per kind.", "role,event");
    return k;
fail:
    kube_destroy(k);
    return NULL;
}

static int kube_start(void *inst, struct event_base *base, pg_sd_emit_fn emit, void *ud)
{
    struct kube_inst *k = inst;
    k->base = base;
    k->emit = emit;
    k->ud = ud;
    if (!k->cm && !(k->cm = pg_curlm_create(base)))
        return -1;
    if (!k->flush_ev && !(k->flush_ev = evtimer_new(base, on_flush, k)))
        return -1;
    for (size_t i = 0; i < k->n_infs; i++)
        if (!k->infs[i]->timer && !(k->infs[i]->timer = evtimer_new(base, on_retry, k->infs[i])))
            return -1;
    k->started = 1;
    pg_log_info("sd.kubernetes", "job=%s role=%s server=%s informers=%zu msg=\"starting\"", k->job,
                kk_info[k->primary].name, pg_kube_client_server(k->client), k->n_infs);
    for (size_t i = 0; i < k->n_infs; i++)
        inf_list(k->infs[i]);
    return 0;
}

const struct pg_sd_mechanism pg_sd_kubernetes = {
    .name = "kubernetes",
    .config_key = "kubernetes_sd_configs",
    .config_load = pg_kube_config_load,
    .config_free = pg_kube_config_free,
    .create = kube_create,
    .start = kube_start,
    .stop = kube_stop,
    .destroy = kube_destroy,
};
