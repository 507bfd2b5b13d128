/* roles.c - Kubernetes objects to target groups, as Prometheus's kubernetes_sd builds them.
 *
 * One builder per role (pod.go, service.go, endpoints.go, endpointslice.go, node.go,
 * ingress.go in Prometheus's discovery/kubernetes): the same targets in the same order,
 * the same __meta_kubernetes_* labels (empty values included where Prometheus sets them),
 * label and annotation names sanitised like strutil.SanitizeLabelName, and the
 * attach_metadata joins (node, namespace) from the caller's caches. Where Prometheus
 * iterates a Go map (pods seen by an endpoints object) the order here is first seen. */
#include "discovery/kubernetes/roles.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define META "__meta_kubernetes_"

/* ---- JSON access (absent or mistyped fields read as Go's zero values) ---- */

static const json_t *jget(const json_t *o, const char *k)
{
    return json_is_object(o) ? json_object_get(o, k) : NULL;
}

static const char *jstr(const json_t *o, const char *k)
{
    const json_t *v = jget(o, k);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static const char *jstr0(const json_t *o, const char *k)
{
    const char *s = jstr(o, k);
    return s ? s : "";
}

static json_int_t jint(const json_t *o, const char *k)
{
    const json_t *v = jget(o, k);
    return json_is_integer(v) ? json_integer_value(v) : 0;
}

/* ---- label helpers: *err latches the first allocation failure ---- */

static void put(struct pg_labels *ls, const char *name, const char *value, int *err)
{
    if (*err)
        return;
    if (pg_labels_set(ls, name, value ? value : "") != 0)
        *err = 1;
}

static void put_int(struct pg_labels *ls, const char *name, json_int_t v, int *err)
{
    char buf[32];
    snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT, v);
    put(ls, name, buf, err);
}

/* Length of the UTF-8 sequence starting at s (1 for an invalid byte, as Go decodes it). */
static size_t utf8_len(const unsigned char *s)
{
    size_t n;
    if (s[0] < 0x80)
        return 1;
    if ((s[0] & 0xE0) == 0xC0 && s[0] >= 0xC2)
        n = 2;
    else if ((s[0] & 0xF0) == 0xE0)
        n = 3;
    else if ((s[0] & 0xF8) == 0xF0 && s[0] <= 0xF4)
        n = 4;
    else
        return 1;
    for (size_t i = 1; i < n; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 1;
    return n;
}

/* Sets prefix + sanitize(raw) = value. Every rune outside [a-zA-Z0-9_] becomes one '_'. */
static void put_san(struct pg_labels *ls, const char *prefix, const char *raw, const char *value,
                    int *err)
{
    if (*err)
        return;
    size_t pl = strlen(prefix), rl = strlen(raw);
    char *name = malloc(pl + rl + 1);
    if (name == NULL) {
        *err = 1;
        return;
    }
    memcpy(name, prefix, pl);
    size_t o = pl;
    const unsigned char *s = (const unsigned char *)raw;
    for (size_t i = 0; i < rl;) {
        unsigned char c = s[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '_') {
            name[o++] = (char)c;
            i++;
        } else {
            name[o++] = '_';
            i += utf8_len(s + i);
        }
    }
    name[o] = '\0';
    put(ls, name, value, err);
    free(name);
}

/* <prefix>label_<k>, <prefix>labelpresent_<k>, <prefix>annotation_<k>,
 * <prefix>annotationpresent_<k> for obj's metadata labels and annotations. */
static void put_labels_annotations(struct pg_labels *ls, const json_t *obj, const char *prefix,
                                   int *err)
{
    char p1[64], p2[64];
    const char *k;
    json_t *v;
    const json_t *md = jget(obj, "metadata");
    const json_t *lab = jget(md, "labels");
    snprintf(p1, sizeof(p1), "%slabel_", prefix);
    snprintf(p2, sizeof(p2), "%slabelpresent_", prefix);
    if (json_is_object(lab)) {
        json_object_foreach((json_t *)lab, k, v)
        {
            put_san(ls, p1, k, json_is_string(v) ? json_string_value(v) : "", err);
            put_san(ls, p2, k, "true", err);
        }
    }
    const json_t *ann = jget(md, "annotations");
    snprintf(p1, sizeof(p1), "%sannotation_", prefix);
    snprintf(p2, sizeof(p2), "%sannotationpresent_", prefix);
    if (json_is_object(ann)) {
        json_object_foreach((json_t *)ann, k, v)
        {
            put_san(ls, p1, k, json_is_string(v) ? json_string_value(v) : "", err);
            put_san(ls, p2, k, "true", err);
        }
    }
}

/* Prometheus's addObjectMetaLabels: <role>_name plus labels and annotations. */
static void put_object_meta(struct pg_labels *ls, const json_t *obj, const char *role, int *err)
{
    char prefix[64], name[80];
    snprintf(prefix, sizeof(prefix), META "%s_", role);
    snprintf(name, sizeof(name), "%sname", prefix);
    put(ls, name, jstr0(jget(obj, "metadata"), "name"), err);
    put_labels_annotations(ls, obj, prefix, err);
}

/* attach_metadata.node: the node's name, labels and annotations, when it is known. */
static void put_node_meta(struct pg_labels *ls, const struct pg_kube_ctx *ctx, const char *node,
                          int *err)
{
    if (ctx == NULL || !ctx->attach_node || ctx->nodes == NULL || node == NULL)
        return;
    const json_t *n = pg_kube_store_get(ctx->nodes, NULL, node);
    if (n != NULL)
        put_object_meta(ls, n, "node", err);
}

/* attach_metadata.namespace: the namespace's labels and annotations, when it is known. */
static void put_namespace_meta(struct pg_labels *ls, const struct pg_kube_ctx *ctx, const char *ns,
                               int *err)
{
    if (ctx == NULL || !ctx->attach_namespace || ctx->namespaces == NULL || ns == NULL)
        return;
    const json_t *n = pg_kube_store_get(ctx->namespaces, NULL, ns);
    if (n != NULL)
        put_labels_annotations(ls, n, META "namespace_", err);
}

/* net.JoinHostPort(host, port) into a new string, or NULL on OOM. */
static char *join_host_port(const char *host, json_int_t port)
{
    char *s = NULL;
    int rc;
    if (strchr(host, ':') != NULL)
        rc = asprintf(&s, "[%s]:%" JSON_INTEGER_FORMAT, host, port);
    else
        rc = asprintf(&s, "%s:%" JSON_INTEGER_FORMAT, host, port);
    return rc < 0 ? NULL : s;
}

static void put_addr(struct pg_labels *ls, const char *host, json_int_t port, int *err)
{
    if (*err)
        return;
    char *a = join_host_port(host, port);
    if (a == NULL) {
        *err = 1;
        return;
    }
    put(ls, "__address__", a, err);
    free(a);
}

/* ---- pods ---- */

/* Containers then init containers, as Prometheus appends them. */
static size_t n_containers(const json_t *pod)
{
    const json_t *spec = jget(pod, "spec");
    return json_array_size(jget(spec, "containers")) +
           json_array_size(jget(spec, "initContainers"));
}

static const json_t *container_at(const json_t *pod, size_t i, int *is_init)
{
    const json_t *spec = jget(pod, "spec");
    size_t nc = json_array_size(jget(spec, "containers"));
    *is_init = i >= nc;
    return i < nc ? json_array_get(jget(spec, "containers"), i)
                  : json_array_get(jget(spec, "initContainers"), i - nc);
}

/* "true"/"false"/... of the Ready condition lower-cased, "unknown" without one. */
static void put_pod_ready(struct pg_labels *ls, const json_t *pod, int *err)
{
    const json_t *conds = jget(jget(pod, "status"), "conditions");
    for (size_t i = 0; i < json_array_size(conds); i++) {
        const json_t *c = json_array_get(conds, i);
        if (strcmp(jstr0(c, "type"), "Ready") == 0) {
            const char *st = jstr0(c, "status");
            char buf[32];
            size_t j = 0;
            for (; st[j] && j + 1 < sizeof(buf); j++)
                buf[j] = (st[j] >= 'A' && st[j] <= 'Z') ? (char)(st[j] - 'A' + 'a') : st[j];
            buf[j] = '\0';
            put(ls, META "pod_ready", buf, err);
            return;
        }
    }
    put(ls, META "pod_ready", "unknown", err);
}

/* Prometheus's podLabels (no namespace). */
static void put_pod_labels(struct pg_labels *ls, const json_t *pod, int *err)
{
    const json_t *st = jget(pod, "status");
    put(ls, META "pod_ip", jstr0(st, "podIP"), err);
    put_pod_ready(ls, pod, err);
    put(ls, META "pod_phase", jstr0(st, "phase"), err);
    put(ls, META "pod_node_name", jstr0(jget(pod, "spec"), "nodeName"), err);
    put(ls, META "pod_host_ip", jstr0(st, "hostIP"), err);
    put(ls, META "pod_uid", jstr0(jget(pod, "metadata"), "uid"), err);
    put_object_meta(ls, pod, "pod", err);

    const json_t *refs = jget(jget(pod, "metadata"), "ownerReferences");
    for (size_t i = 0; i < json_array_size(refs); i++) {
        const json_t *r = json_array_get(refs, i);
        if (!json_is_true(jget(r, "controller")))
            continue;
        const char *kind = jstr0(r, "kind"), *name = jstr0(r, "name");
        if (kind[0] != '\0')
            put(ls, META "pod_controller_kind", kind, err);
        if (name[0] != '\0')
            put(ls, META "pod_controller_name", name, err);
        break;
    }
}

/* The status.containerStatuses (or initContainerStatuses) containerID of name, or "". */
static const char *container_id(const json_t *pod, const char *name, int is_init)
{
    const json_t *sts =
        jget(jget(pod, "status"), is_init ? "initContainerStatuses" : "containerStatuses");
    for (size_t i = 0; i < json_array_size(sts); i++) {
        const json_t *s = json_array_get(sts, i);
        if (strcmp(jstr0(s, "name"), name) == 0)
            return jstr0(s, "containerID");
    }
    return "";
}

static int build_pod(const json_t *pod, const struct pg_kube_ctx *ctx, struct pg_tgroup *g)
{
    int err = 0;
    const char *ip = jstr0(jget(pod, "status"), "podIP");
    /* PodIP is empty while a pod starts or after eviction: a group without targets. */
    if (ip[0] == '\0')
        return 0;
    put_pod_labels(&g->labels, pod, &err);
    put(&g->labels, META "namespace", jstr0(jget(pod, "metadata"), "namespace"), &err);
    put_node_meta(&g->labels, ctx, jstr0(jget(pod, "spec"), "nodeName"), &err);
    put_namespace_meta(&g->labels, ctx, jstr0(jget(pod, "metadata"), "namespace"), &err);

    for (size_t i = 0; i < n_containers(pod) && !err; i++) {
        int is_init;
        const json_t *c = container_at(pod, i, &is_init);
        const char *cname = jstr0(c, "name");
        const char *cid = container_id(pod, cname, is_init);
        const json_t *ports = jget(c, "ports");
        if (json_array_size(ports) == 0) {
            struct pg_labels *t = pg_tgroup_add_target(g);
            if (t == NULL)
                return -1;
            put(t, "__address__", ip, &err);
            put(t, META "pod_container_name", cname, &err);
            put(t, META "pod_container_id", cid, &err);
            put(t, META "pod_container_image", jstr0(c, "image"), &err);
            put(t, META "pod_container_init", is_init ? "true" : "false", &err);
            continue;
        }
        for (size_t j = 0; j < json_array_size(ports); j++) {
            const json_t *p = json_array_get(ports, j);
            json_int_t port = jint(p, "containerPort");
            struct pg_labels *t = pg_tgroup_add_target(g);
            if (t == NULL)
                return -1;
            put_addr(t, ip, port, &err);
            put(t, META "pod_container_name", cname, &err);
            put(t, META "pod_container_id", cid, &err);
            put(t, META "pod_container_image", jstr0(c, "image"), &err);
            put_int(t, META "pod_container_port_number", port, &err);
            put(t, META "pod_container_port_name", jstr0(p, "name"), &err);
            put(t, META "pod_container_port_protocol", jstr0(p, "protocol"), &err);
            put(t, META "pod_container_init", is_init ? "true" : "false", &err);
        }
    }
    return err ? -1 : 0;
}

/* ---- services ---- */

/* Prometheus's serviceLabels: namespace, service_name, labels and annotations. */
static void put_service_labels(struct pg_labels *ls, const json_t *svc, int *err)
{
    put(ls, META "namespace", jstr0(jget(svc, "metadata"), "namespace"), err);
    put_object_meta(ls, svc, "service", err);
}

static int build_service(const json_t *svc, const struct pg_kube_ctx *ctx, struct pg_tgroup *g)
{
    int err = 0;
    const json_t *md = jget(svc, "metadata"), *spec = jget(svc, "spec");
    const char *name = jstr0(md, "name"), *ns = jstr0(md, "namespace");
    const char *type = jstr0(spec, "type");
    put_service_labels(&g->labels, svc, &err);
    put_namespace_meta(&g->labels, ctx, ns, &err);

    char *host = NULL;
    if (asprintf(&host, "%s.%s.svc", name, ns) < 0)
        return -1;
    const json_t *ports = jget(spec, "ports");
    for (size_t i = 0; i < json_array_size(ports) && !err; i++) {
        const json_t *p = json_array_get(ports, i);
        json_int_t port = jint(p, "port");
        struct pg_labels *t = pg_tgroup_add_target(g);
        if (t == NULL) {
            err = 1;
            break;
        }
        put_addr(t, host, port, &err);
        put(t, META "service_port_name", jstr0(p, "name"), &err);
        put_int(t, META "service_port_number", port, &err);
        put(t, META "service_port_protocol", jstr0(p, "protocol"), &err);
        put(t, META "service_type", type, &err);
        if (strcmp(type, "ExternalName") == 0)
            put(t, META "service_external_name", jstr0(spec, "externalName"), &err);
        else
            put(t, META "service_cluster_ip", jstr0(spec, "clusterIP"), &err);
        if (strcmp(type, "LoadBalancer") == 0)
            put(t, META "service_loadbalancer_ip", jstr0(spec, "loadBalancerIP"), &err);
    }
    free(host);
    return err ? -1 : 0;
}

/* ---- endpoints and endpointslices: the pods they point at ---- */

struct seen_pod {
    const json_t *pod;
    json_int_t *ports; /* endpoint ports already targeted for this pod */
    size_t n, cap;
};

struct seen_pods {
    struct seen_pod *v;
    size_t n, cap;
};

static void seen_free(struct seen_pods *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i].ports);
    free(s->v);
}

/* Returns the entry of pod (added on first sight) or NULL on OOM. */
static struct seen_pod *seen_get(struct seen_pods *s, const json_t *pod)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->v[i].pod == pod)
            return &s->v[i];
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 4;
        struct seen_pod *nv = realloc(s->v, cap * sizeof(*nv));
        if (nv == NULL)
            return NULL;
        s->v = nv;
        s->cap = cap;
    }
    struct seen_pod *e = &s->v[s->n++];
    memset(e, 0, sizeof(*e));
    e->pod = pod;
    return e;
}

static int seen_add_port(struct seen_pod *e, json_int_t port)
{
    if (e->n == e->cap) {
        size_t cap = e->cap ? e->cap * 2 : 4;
        json_int_t *nv = realloc(e->ports, cap * sizeof(*nv));
        if (nv == NULL)
            return -1;
        e->ports = nv;
        e->cap = cap;
    }
    e->ports[e->n++] = port;
    return 0;
}

static int seen_has_port(const struct seen_pod *e, json_int_t port)
{
    for (size_t i = 0; i < e->n; i++)
        if (e->ports[i] == port)
            return 1;
    return 0;
}

/* The pod a targetRef of kind Pod names, from ctx->pods, or NULL. */
static const json_t *resolve_pod(const struct pg_kube_ctx *ctx, const json_t *ref)
{
    if (ctx == NULL || ctx->pods == NULL || ref == NULL || strcmp(jstr0(ref, "kind"), "Pod") != 0)
        return NULL;
    return pg_kube_store_get(ctx->pods, jstr0(ref, "namespace"), jstr0(ref, "name"));
}

/* The container labels of pod port cport of container c. */
static void put_container_port(struct pg_labels *t, const json_t *c, const json_t *cport,
                               json_int_t port, const char *protocol, int is_init, int *err)
{
    put(t, META "pod_container_name", jstr0(c, "name"), err);
    put(t, META "pod_container_image", jstr0(c, "image"), err);
    put(t, META "pod_container_port_name", jstr0(cport, "name"), err);
    put_int(t, META "pod_container_port_number", port, err);
    put(t, META "pod_container_port_protocol", protocol, err);
    put(t, META "pod_container_init", is_init ? "true" : "false", err);
}

/* Joins target t with pod: the pod labels and, when a container port equals port
 * (has_port), that container's labels; records port as seen for the pod.
 * use_cport_protocol: endpointslice takes the container port's protocol, endpoints the
 * endpoint port's (endpoint_protocol). */
static int join_pod(struct seen_pods *seen, const json_t *pod, struct pg_labels *t, int has_port,
                    json_int_t port, const char *endpoint_protocol, int use_cport_protocol,
                    int *err)
{
    struct seen_pod *e = seen_get(seen, pod);
    if (e == NULL)
        return -1;
    put_pod_labels(t, pod, err);
    for (size_t i = 0; has_port && i < n_containers(pod); i++) {
        int is_init;
        const json_t *c = container_at(pod, i, &is_init);
        const json_t *cports = jget(c, "ports");
        for (size_t j = 0; j < json_array_size(cports); j++) {
            const json_t *cp = json_array_get(cports, j);
            if (jint(cp, "containerPort") != port)
                continue;
            put_container_port(t, c, cp, port,
                               use_cport_protocol ? jstr0(cp, "protocol") : endpoint_protocol,
                               is_init, err);
            break;
        }
    }
    if (has_port && seen_add_port(e, port) != 0)
        return -1;
    return 0;
}

/* For every pod seen, a target per container port no endpoint port covered. */
static int add_uncovered_ports(struct seen_pods *seen, struct pg_tgroup *g, int *err)
{
    for (size_t s = 0; s < seen->n && !*err; s++) {
        const json_t *pod = seen->v[s].pod;
        const char *ip = jstr0(jget(pod, "status"), "podIP");
        if (ip[0] == '\0')
            continue;
        for (size_t i = 0; i < n_containers(pod); i++) {
            int is_init;
            const json_t *c = container_at(pod, i, &is_init);
            const json_t *cports = jget(c, "ports");
            for (size_t j = 0; j < json_array_size(cports); j++) {
                const json_t *cp = json_array_get(cports, j);
                json_int_t port = jint(cp, "containerPort");
                if (seen_has_port(&seen->v[s], port))
                    continue;
                struct pg_labels *t = pg_tgroup_add_target(g);
                if (t == NULL)
                    return -1;
                put_addr(t, ip, port, err);
                put_container_port(t, c, cp, port, jstr0(cp, "protocol"), is_init, err);
                put_pod_labels(t, pod, err);
            }
        }
    }
    return *err ? -1 : 0;
}

/* ---- endpoints ---- */

static int endpoints_add(const json_t *addr, const json_t *port, const char *ready,
                         const struct pg_kube_ctx *ctx, struct seen_pods *seen, struct pg_tgroup *g,
                         int *err)
{
    struct pg_labels *t = pg_tgroup_add_target(g);
    if (t == NULL)
        return -1;
    json_int_t pnum = jint(port, "port");
    put_addr(t, jstr0(addr, "ip"), pnum, err);
    put(t, META "endpoint_port_name", jstr0(port, "name"), err);
    put(t, META "endpoint_port_protocol", jstr0(port, "protocol"), err);
    put(t, META "endpoint_ready", ready, err);

    const json_t *ref = jget(addr, "targetRef");
    if (json_is_object(ref)) {
        put(t, META "endpoint_address_target_kind", jstr0(ref, "kind"), err);
        put(t, META "endpoint_address_target_name", jstr0(ref, "name"), err);
    } else {
        ref = NULL;
    }
    const char *node = jstr(addr, "nodeName");
    if (node != NULL)
        put(t, META "endpoint_node_name", node, err);
    const char *hostname = jstr0(addr, "hostname");
    if (hostname[0] != '\0')
        put(t, META "endpoint_hostname", hostname, err);

    if (node != NULL)
        put_node_meta(t, ctx, node, err);
    else if (ref != NULL && strcmp(jstr0(ref, "kind"), "Node") == 0)
        put_node_meta(t, ctx, jstr0(ref, "name"), err);

    const json_t *pod = resolve_pod(ctx, ref);
    if (pod == NULL)
        return *err ? -1 : 0;
    if (join_pod(seen, pod, t, 1, pnum, jstr0(port, "protocol"), 0, err) != 0)
        return -1;
    return *err ? -1 : 0;
}

static int build_endpoints(const json_t *eps, const struct pg_kube_ctx *ctx, struct pg_tgroup *g)
{
    int err = 0;
    const json_t *md = jget(eps, "metadata");
    const char *ns = jstr0(md, "namespace");
    put(&g->labels, META "namespace", ns, &err);
    if (ctx != NULL && ctx->services != NULL) {
        const json_t *svc = pg_kube_store_get(ctx->services, ns, jstr0(md, "name"));
        if (svc != NULL)
            put_service_labels(&g->labels, svc, &err);
    }
    put_object_meta(&g->labels, eps, "endpoints", &err);
    put_namespace_meta(&g->labels, ctx, ns, &err);
    if (err)
        return -1;

    struct seen_pods seen = {0};
    int rc = 0;
    const json_t *subsets = jget(eps, "subsets");
    for (size_t s = 0; s < json_array_size(subsets) && rc == 0; s++) {
        const json_t *ss = json_array_get(subsets, s);
        const json_t *ports = jget(ss, "ports"), *ready = jget(ss, "addresses"),
                     *notready = jget(ss, "notReadyAddresses");
        for (size_t p = 0; p < json_array_size(ports) && rc == 0; p++) {
            const json_t *port = json_array_get(ports, p);
            for (size_t a = 0; a < json_array_size(ready) && rc == 0; a++)
                rc = endpoints_add(json_array_get(ready, a), port, "true", ctx, &seen, g, &err);
            for (size_t a = 0; a < json_array_size(notready) && rc == 0; a++)
                rc = endpoints_add(json_array_get(notready, a), port, "false", ctx, &seen, g, &err);
        }
    }
    if (rc == 0)
        rc = add_uncovered_ports(&seen, g, &err);
    seen_free(&seen);
    return rc == 0 && !err ? 0 : -1;
}

/* ---- endpointslices (discovery.k8s.io/v1) ---- */

static void put_bool_field(struct pg_labels *t, const char *name, const json_t *o, const char *k,
                           int *err)
{
    const json_t *v = jget(o, k);
    if (json_is_boolean(v))
        put(t, name, json_is_true(v) ? "true" : "false", err);
}

static int endpointslice_add(const char *addr, const json_t *ep, const json_t *port,
                             const struct pg_kube_ctx *ctx, struct seen_pods *seen,
                             struct pg_tgroup *g, int *err)
{
    struct pg_labels *t = pg_tgroup_add_target(g);
    if (t == NULL)
        return -1;
    const json_t *pv = jget(port, "port");
    int has_port = json_is_integer(pv);
    json_int_t pnum = has_port ? json_integer_value(pv) : 0;
    if (has_port)
        put_addr(t, addr, pnum, err);
    else
        put(t, "__address__", addr, err);

    const char *s;
    if ((s = jstr(port, "name")) != NULL)
        put(t, META "endpointslice_port_name", s, err);
    if ((s = jstr(port, "protocol")) != NULL)
        put(t, META "endpointslice_port_protocol", s, err);
    if (has_port)
        put_int(t, META "endpointslice_port", pnum, err);
    if ((s = jstr(port, "appProtocol")) != NULL)
        put(t, META "endpointslice_port_app_protocol", s, err);

    const json_t *cond = jget(ep, "conditions");
    put_bool_field(t, META "endpointslice_endpoint_conditions_ready", cond, "ready", err);
    put_bool_field(t, META "endpointslice_endpoint_conditions_serving", cond, "serving", err);
    put_bool_field(t, META "endpointslice_endpoint_conditions_terminating", cond, "terminating",
                   err);
    if ((s = jstr(ep, "hostname")) != NULL)
        put(t, META "endpointslice_endpoint_hostname", s, err);

    const json_t *ref = jget(ep, "targetRef");
    if (json_is_object(ref)) {
        put(t, META "endpointslice_address_target_kind", jstr0(ref, "kind"), err);
        put(t, META "endpointslice_address_target_name", jstr0(ref, "name"), err);
    } else {
        ref = NULL;
    }
    const char *node = jstr(ep, "nodeName");
    if (node != NULL)
        put(t, META "endpointslice_endpoint_node_name", node, err);
    if ((s = jstr(ep, "zone")) != NULL)
        put(t, META "endpointslice_endpoint_zone", s, err);
    const json_t *topo = jget(ep, "deprecatedTopology");
    if (json_is_object(topo)) {
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)topo, k, v)
        {
            put_san(t, META "endpointslice_endpoint_topology_", k,
                    json_is_string(v) ? json_string_value(v) : "", err);
            put_san(t, META "endpointslice_endpoint_topology_present_", k, "true", err);
        }
    }

    if (ref != NULL && strcmp(jstr0(ref, "kind"), "Node") == 0)
        put_node_meta(t, ctx, jstr0(ref, "name"), err);
    else
        put_node_meta(t, ctx, node, err);

    const json_t *pod = resolve_pod(ctx, ref);
    if (pod == NULL)
        return *err ? -1 : 0;
    if (join_pod(seen, pod, t, has_port, pnum, NULL, 1, err) != 0)
        return -1;
    return *err ? -1 : 0;
}

static int build_endpointslice(const json_t *eps, const struct pg_kube_ctx *ctx,
                               struct pg_tgroup *g)
{
    int err = 0;
    const json_t *md = jget(eps, "metadata");
    const char *ns = jstr0(md, "namespace");
    put(&g->labels, META "namespace", ns, &err);
    put(&g->labels, META "endpointslice_address_type", jstr0(eps, "addressType"), &err);
    put_object_meta(&g->labels, eps, "endpointslice", &err);
    /* Every EndpointSlice names its Service in the kubernetes.io/service-name label. */
    const char *svcname = jstr(jget(md, "labels"), "kubernetes.io/service-name");
    if (svcname != NULL && ctx != NULL && ctx->services != NULL) {
        const json_t *svc = pg_kube_store_get(ctx->services, ns, svcname);
        if (svc != NULL)
            put_service_labels(&g->labels, svc, &err);
    }
    put_namespace_meta(&g->labels, ctx, ns, &err);
    if (err)
        return -1;

    struct seen_pods seen = {0};
    int rc = 0;
    const json_t *eplist = jget(eps, "endpoints"), *ports = jget(eps, "ports");
    for (size_t e = 0; e < json_array_size(eplist) && rc == 0; e++) {
        const json_t *ep = json_array_get(eplist, e);
        const json_t *addrs = jget(ep, "addresses");
        for (size_t p = 0; p < json_array_size(ports) && rc == 0; p++) {
            const json_t *port = json_array_get(ports, p);
            for (size_t a = 0; a < json_array_size(addrs) && rc == 0; a++) {
                const json_t *av = json_array_get(addrs, a);
                rc = endpointslice_add(json_is_string(av) ? json_string_value(av) : "", ep, port,
                                       ctx, &seen, g, &err);
            }
        }
    }
    if (rc == 0)
        rc = add_uncovered_ports(&seen, g, &err);
    seen_free(&seen);
    return rc == 0 && !err ? 0 : -1;
}

/* ---- nodes ---- */

/* The first address of the first type present in Prometheus's preference order. */
static const char *node_address(const json_t *node)
{
    static const char *const order[] = {"InternalIP",  "InternalDNS",  "ExternalIP",
                                        "ExternalDNS", "LegacyHostIP", "Hostname"};
    const json_t *addrs = jget(jget(node, "status"), "addresses");
    for (size_t o = 0; o < sizeof(order) / sizeof(order[0]); o++)
        for (size_t i = 0; i < json_array_size(addrs); i++) {
            const json_t *a = json_array_get(addrs, i);
            if (strcmp(jstr0(a, "type"), order[o]) == 0)
                return jstr0(a, "address");
        }
    return NULL;
}

static int build_node(const json_t *node, struct pg_tgroup *g)
{
    int err = 0;
    const char *name = jstr0(jget(node, "metadata"), "name");
    put(&g->labels, META "node_provider_id", jstr0(jget(node, "spec"), "providerID"), &err);
    put_object_meta(&g->labels, node, "node", &err);

    const char *addr = node_address(node);
    if (addr == NULL)
        return -1; /* Prometheus logs "No node address found" and sends nothing */
    json_int_t port =
        jint(jget(jget(jget(node, "status"), "daemonEndpoints"), "kubeletEndpoint"), "Port");
    struct pg_labels *t = pg_tgroup_add_target(g);
    if (t == NULL)
        return -1;
    put_addr(t, addr, port, &err);
    put(t, "instance", name, &err);
    /* node_address_<type>: the first address of each type. */
    const json_t *addrs = jget(jget(node, "status"), "addresses");
    for (size_t i = 0; i < json_array_size(addrs); i++) {
        const json_t *a = json_array_get(addrs, i);
        const char *type = jstr0(a, "type");
        int first = 1;
        for (size_t j = 0; j < i; j++)
            if (strcmp(jstr0(json_array_get(addrs, j), "type"), type) == 0)
                first = 0;
        if (first)
            put_san(t, META "node_address_", type, jstr0(a, "address"), &err);
    }
    return err ? -1 : 0;
}

/* ---- ingresses ---- */

/* A TLS host matches when equal, or as "*.rest" against a host with as many labels whose
 * labels after the first are equal. */
static int host_matches(const char *pattern, const char *host)
{
    if (strcmp(pattern, host) == 0)
        return 1;
    if (strncmp(pattern, "*", 1) != 0 || (pattern[1] != '.' && pattern[1] != '\0'))
        return 0;
    const char *hd = strchr(host, '.');
    if (pattern[1] == '\0')
        return hd == NULL; /* "*" against a single-label host */
    return hd != NULL && strcmp(pattern + 1, hd) == 0;
}

static int build_ingress(const json_t *ing, const struct pg_kube_ctx *ctx, struct pg_tgroup *g)
{
    int err = 0;
    const json_t *md = jget(ing, "metadata"), *spec = jget(ing, "spec");
    const char *ns = jstr0(md, "namespace");
    put(&g->labels, META "namespace", ns, &err);
    const char *cls = jstr(spec, "ingressClassName");
    if (cls != NULL)
        put(&g->labels, META "ingress_class_name", cls, &err);
    put_object_meta(&g->labels, ing, "ingress", &err);
    put_namespace_meta(&g->labels, ctx, ns, &err);

    const json_t *rules = jget(spec, "rules"), *tls = jget(spec, "tls");
    for (size_t r = 0; r < json_array_size(rules) && !err; r++) {
        const json_t *rule = json_array_get(rules, r);
        const char *host = jstr0(rule, "host");
        int tls_host = 0;
        for (size_t i = 0; i < json_array_size(tls) && !tls_host; i++) {
            const json_t *hosts = jget(json_array_get(tls, i), "hosts");
            for (size_t j = 0; j < json_array_size(hosts) && !tls_host; j++) {
                const json_t *h = json_array_get(hosts, j);
                tls_host = json_is_string(h) && host_matches(json_string_value(h), host);
            }
        }
        const char *scheme = tls_host ? "https" : "http";
        const json_t *http = jget(rule, "http");
        const json_t *paths = json_is_object(http) ? jget(http, "paths") : NULL;
        /* No http section: one target for "/"; an empty path is "/". */
        size_t np = json_is_object(http) ? json_array_size(paths) : 1;
        for (size_t i = 0; i < np; i++) {
            const char *path = paths ? jstr0(json_array_get(paths, i), "path") : "";
            struct pg_labels *t = pg_tgroup_add_target(g);
            if (t == NULL)
                return -1;
            put(t, "__address__", host, &err);
            put(t, META "ingress_scheme", scheme, &err);
            put(t, META "ingress_host", host, &err);
            put(t, META "ingress_path", path[0] ? path : "/", &err);
        }
    }
    return err ? -1 : 0;
}

/* ---- public ---- */

int pg_kube_source(enum pg_cfg_kube_role role, const json_t *obj, char *buf, size_t len)
{
    const json_t *md = jget(obj, "metadata");
    const char *name = jstr(md, "name"), *ns = jstr0(md, "namespace");
    const char *prefix;
    if (name == NULL || name[0] == '\0')
        return -1;
    switch (role) {
    case PG_CFG_KUBE_POD: prefix = "pod"; break;
    case PG_CFG_KUBE_SERVICE: prefix = "svc"; break;
    case PG_CFG_KUBE_ENDPOINTS: prefix = "endpoints"; break;
    case PG_CFG_KUBE_ENDPOINTSLICE: prefix = "endpointslice"; break;
    case PG_CFG_KUBE_INGRESS: prefix = "ingress"; break;
    case PG_CFG_KUBE_NODE: {
        int n = snprintf(buf, len, "node/%s", name);
        return n < 0 || (size_t)n >= len ? -1 : 0;
    }
    default: return -1;
    }
    int n = snprintf(buf, len, "%s/%s/%s", prefix, ns, name);
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

int pg_kube_build_group(enum pg_cfg_kube_role role, const json_t *obj,
                        const struct pg_kube_ctx *ctx, struct pg_tgroup *out)
{
    const json_t *md = jget(obj, "metadata");
    const char *name = jstr(md, "name"), *ns = jstr0(md, "namespace");
    if (name == NULL || name[0] == '\0')
        return -1;
    size_t len = strlen(name) + strlen(ns) + 32;
    char *src = malloc(len);
    if (src == NULL)
        return -1;
    if (pg_kube_source(role, obj, src, len) != 0 || pg_tgroup_init(out, src) != 0) {
        free(src);
        pg_tgroup_reset(out);
        return -1;
    }
    free(src);
    int rc;
    switch (role) {
    case PG_CFG_KUBE_POD: rc = build_pod(obj, ctx, out); break;
    case PG_CFG_KUBE_SERVICE: rc = build_service(obj, ctx, out); break;
    case PG_CFG_KUBE_ENDPOINTS: rc = build_endpoints(obj, ctx, out); break;
    case PG_CFG_KUBE_ENDPOINTSLICE: rc = build_endpointslice(obj, ctx, out); break;
    case PG_CFG_KUBE_NODE: rc = build_node(obj, out); break;
    case PG_CFG_KUBE_INGRESS: rc = build_ingress(obj, ctx, out); break;
    default: rc = -1; break;
    }
    if (rc != 0)
        pg_tgroup_reset(out);
    return rc;
}
