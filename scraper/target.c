/* target.c - Prometheus 3 target label population and per-profile URLs for profgate.
 *
 * Mirrors scrape/target.go PopulateLabels: discovered labels (group overlaid by target),
 * defaults added only where unset, relabelling, address validation, removal of __meta_*
 * labels and the instance default. The profile URL query is encoded like Go's
 * url.Values.Encode (keys sorted, QueryEscape: unreserved bytes kept, space as '+').
 *
 * Part of the scraper, as scrape/target.go is of Prometheus's scrape package: its users
 * are the scrape pools (scraper.c) and the `targets` command (daemon/targets.c). */
#include "scraper/target.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "yamlcfg/units.h"
#include "core/errmsg.h"
#include "core/sbuf.h"
#include "scraper/target_check.h"

#define PARAM_PREFIX "__param_"
#define META_PREFIX "__meta_"

static int set_if_unset(struct pg_labels *ls, const char *name, const char *value)
{
    if (pg_labels_get(ls, name) != NULL)
        return 0;
    return pg_labels_set(ls, name, value);
}

/* Overlays src onto dst (src wins). Returns 0 or -1. */
static int overlay(struct pg_labels *dst, const struct pg_labels *src)
{
    if (src == NULL)
        return 0;
    for (size_t i = 0; i < src->n; i++)
        if (pg_labels_set(dst, src->v[i].name, src->v[i].value) != 0)
            return -1;
    return 0;
}

/* Removes every label whose name starts with prefix. Returns 0 or -1. */
static int del_prefix(struct pg_labels *ls, const char *prefix)
{
    size_t plen = strlen(prefix);
    for (size_t i = ls->n; i-- > 0;) {
        if (strncmp(ls->v[i].name, prefix, plen) != 0)
            continue;
        char *name = strdup(ls->v[i].name);
        if (name == NULL)
            return -1;
        pg_labels_del(ls, name);
        free(name);
    }
    return 0;
}

static int add_defaults(const struct pg_cfg_scrape *job, struct pg_labels *ls)
{
    char buf[64];
    if (job->job_name != NULL && set_if_unset(ls, "job", job->job_name) != 0)
        return -1;
    if (set_if_unset(ls, "__scheme__", job->scheme ? job->scheme : "http") != 0)
        return -1;
    if (pg_units_format_duration(job->scrape_interval_ms, buf, sizeof buf) == 0 &&
        set_if_unset(ls, "__scrape_interval__", buf) != 0)
        return -1;
    if (pg_units_format_duration(job->scrape_timeout_ms, buf, sizeof buf) == 0 &&
        set_if_unset(ls, "__scrape_timeout__", buf) != 0)
        return -1;
    for (size_t i = 0; i < job->n_params; i++) {
        const struct pg_cfg_param *pp = &job->params[i];
        if (pp->name == NULL || pp->n_values == 0)
            continue;
        size_t len = strlen(PARAM_PREFIX) + strlen(pp->name) + 1;
        char *name = malloc(len);
        if (name == NULL)
            return -1;
        snprintf(name, len, "%s%s", PARAM_PREFIX, pp->name);
        int rc = set_if_unset(ls, name, pp->values[0] ? pp->values[0] : "");
        free(name);
        if (rc != 0)
            return -1;
    }
    return 0;
}

int pg_target_is_public(const char *name)
{
    return name != NULL && strncmp(name, "__", 2) != 0;
}

int pg_target_prepare(const struct pg_cfg_scrape *job, const struct pg_labels *group_labels,
                      const struct pg_labels *target_labels, struct pg_labels *discovered,
                      struct pg_labels *out)
{
    pg_labels_reset(discovered);
    pg_labels_reset(out);
    if (overlay(discovered, group_labels) != 0 || overlay(discovered, target_labels) != 0 ||
        pg_labels_copy(out, discovered) != 0 || add_defaults(job, out) != 0) {
        pg_labels_reset(out);
        return -1;
    }
    return 0;
}

int pg_target_populate(const struct pg_cfg_scrape *job, const struct pg_labels *group_labels,
                       const struct pg_labels *target_labels, struct pg_labels *discovered,
                       struct pg_labels *out, pg_relabel_trace_fn trace, void *ud, char *err,
                       size_t errlen)
{
    if (pg_target_prepare(job, group_labels, target_labels, discovered, out) != 0) {
        pg_errmsg_set(err, errlen, "out of memory");
        return -1;
    }

    char rerr[96];
    int kept =
        pg_relabel_process_err(job->relabel, job->n_relabel, out, trace, ud, rerr, sizeof rerr);
    if (kept <= 0) {
        /* an error (a regex limit hit) drops the target too, with the reason */
        if (kept < 0)
            pg_errmsg_set(err, errlen, "%s", rerr);
        pg_labels_reset(out);
        return kept;
    }

    return pg_target_finish(out, err, errlen);
}

int pg_target_finish(struct pg_labels *out, char *err, size_t errlen)
{
    const char *addr = pg_labels_get(out, "__address__");
    if (addr == NULL || addr[0] == '\0') {
        pg_errmsg_set(err, errlen, "no address");
        pg_labels_reset(out);
        return -1;
    }
    if (strchr(addr, '/') != NULL) {
        pg_errmsg_set(err, errlen, "%s is not a valid hostname", addr);
        pg_labels_reset(out);
        return -1;
    }

    if (del_prefix(out, META_PREFIX) != 0)
        goto oom;
    addr = pg_labels_get(out, "__address__");
    const char *inst = pg_labels_get(out, "instance");
    if (inst == NULL || inst[0] == '\0') {
        char *a = strdup(addr);
        if (a == NULL)
            goto oom;
        int rc = pg_labels_set(out, "instance", a);
        free(a);
        if (rc != 0)
            goto oom;
    }
    return 1;
oom:
    pg_errmsg_set(err, errlen, "out of memory");
    pg_labels_reset(out);
    return -1;
}

void pg_target_infer_service_name(struct pg_labels *ls, const struct pg_labels *discovered)
{
    if (pg_labels_get(ls, "service_name") != NULL)
        return;
    const char *ann = NULL, *ns = NULL, *ct = NULL;
    if (discovered != NULL) {
        ann =
            pg_labels_get(discovered, "__meta_kubernetes_pod_annotation_pyroscope_io_service_name");
        ns = pg_labels_get(discovered, "__meta_kubernetes_namespace");
        ct = pg_labels_get(discovered, "__meta_kubernetes_pod_container_name");
    }
    if (ann != NULL && ann[0] != '\0') {
        pg_labels_set(ls, "service_name", ann);
    } else if (ns != NULL && ct != NULL && ns[0] != '\0' && ct[0] != '\0') {
        size_t len = strlen(ns) + strlen(ct) + 2;
        char *v = malloc(len);
        if (v == NULL)
            return;
        snprintf(v, len, "%s/%s", ns, ct);
        pg_labels_set(ls, "service_name", v);
        free(v);
    } else {
        pg_labels_set(ls, "service_name", "unspecified");
    }
}

/* The query parameters of p's URL into q (a label set, so sorted by name): the target's
 * __param_<name> labels, then the type's own params below them, then seconds= for types
 * that take it. Returns 0 or -1 (OOM). */
static int profile_query(const struct pg_cfg_scrape *job, const struct pg_labels *labels,
                         const struct pg_cfg_profile *p, struct pg_labels *q)
{
    size_t plen = strlen(PARAM_PREFIX);
    for (size_t i = 0; i < labels->n; i++)
        if (strncmp(labels->v[i].name, PARAM_PREFIX, plen) == 0 &&
            pg_labels_set(q, labels->v[i].name + plen, labels->v[i].value) != 0)
            return -1;
    for (size_t i = 0; i < p->n_params; i++)
        if (p->params[i].n_values > 0 && pg_labels_get(q, p->params[i].name) == NULL &&
            pg_labels_set(q, p->params[i].name, p->params[i].values[0]) != 0)
            return -1;
    if (p->seconds && pg_labels_get(q, "seconds") == NULL) {
        char secs[32];
        snprintf(secs, sizeof secs, "%" PRId64, pg_target_delta_duration_ms(job, labels) / 1000);
        if (pg_labels_set(q, "seconds", secs) != 0)
            return -1;
    }
    return 0;
}

int pg_target_profile(const struct pg_cfg_scrape *job, const struct pg_labels *labels,
                      const struct pg_labels *discovered, const struct pg_cfg_profile *p,
                      struct pg_labels *out, char **url)
{
    struct pg_sbuf b = {0};
    struct pg_labels q;
    pg_labels_init(&q);
    *url = NULL;

    /* Alloy's pyroscope.scrape: the URL path is __profile_path_prefix__ joined with
     * __profile_path__ (either set by discovery or relabeling; absent or empty means
     * the job's path_prefix and the type's path) */
    const char *prefix = pg_labels_get(labels, "__profile_path_prefix__");
    if (prefix == NULL || prefix[0] == '\0')
        prefix = job->path_prefix ? job->path_prefix : "";
    const char *path = pg_labels_get(labels, "__profile_path__");
    if (path == NULL || path[0] == '\0')
        path = p->path ? p->path : "";
    const char *sep = "";
    size_t pflen = strlen(prefix);
    if (pflen > 0 && prefix[pflen - 1] == '/' && path[0] == '/')
        path++; /* one slash between them, as url.JoinPath */
    else if (path[0] != '/' && !(pflen > 0 && prefix[pflen - 1] == '/'))
        sep = "/";
    const char *scheme = pg_labels_get(labels, "__scheme__");
    const char *addr = pg_labels_get(labels, "__address__");
    if (addr == NULL || addr[0] == '\0')
        goto fail;
    if (scheme == NULL || scheme[0] == '\0')
        scheme = job->scheme ? job->scheme : "http";

    if (profile_query(job, labels, p, &q) != 0)
        goto fail;

    pg_sbuf_str(&b, scheme);
    pg_sbuf_str(&b, "://");
    pg_sbuf_str(&b, addr);
    pg_sbuf_str(&b, prefix);
    pg_sbuf_str(&b, sep);
    pg_sbuf_str(&b, path);
    for (size_t i = 0; i < q.n; i++) {
        pg_sbuf_str(&b, i == 0 ? "?" : "&");
        pg_sbuf_query_escape(&b, q.v[i].name);
        pg_sbuf_str(&b, "=");
        pg_sbuf_query_escape(&b, q.v[i].value);
    }
    if (pg_sbuf_cstr(&b) == NULL)
        goto fail;

    /* series labels; profile path reuses the URL's path part */
    if (pg_labels_copy(out, labels) != 0)
        goto fail;
    size_t pathlen = pflen + strlen(sep) + strlen(path) + 1;
    char *pp = malloc(pathlen);
    if (pp == NULL)
        goto fail;
    snprintf(pp, pathlen, "%s%s%s", prefix, sep, path);
    int rc = pg_labels_set(out, "__profile_path__", pp);
    free(pp);
    /* a __name__ that relabeling changed is kept; the type's own name (godeltaprof_memory)
     * is sent as its series name (memory), as Alloy does */
    const char *nm = pg_labels_get(labels, "__name__");
    if (nm == NULL || nm[0] == '\0' || !strcmp(nm, p->name))
        nm = p->sent_name ? p->sent_name : p->name;
    if (rc != 0 || pg_labels_set(out, "__name__", nm) != 0)
        goto fail;
    pg_labels_del(out, "__profile_path_prefix__");
    pg_target_infer_service_name(out, discovered);
    if (pg_labels_get(out, "service_name") == NULL)
        goto fail;

    pg_labels_reset(&q);
    *url = pg_sbuf_take(&b);
    return 0;
fail:
    pg_labels_reset(&q);
    pg_labels_reset(out);
    pg_sbuf_reset(&b);
    return -1;
}
