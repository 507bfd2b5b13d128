/* test_discovery_kube_roles.c - kubernetes_sd object → target group translation and the
 * object store (discovery/kubernetes/roles.h).
 *
 * Fixtures in data/kube/ are objects as the API serves them. Every expected label set
 * below is written out by hand from the label lists of Prometheus's kubernetes_sd_config
 * documentation (and its discovery/kubernetes tests) and compared exactly: same names,
 * same values, nothing more. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "testutil.h"

#include "discovery/kubernetes/roles.h"

#define M "__meta_kubernetes_"

static json_t *load(const char *name)
{
    char path[256];
    snprintf(path, sizeof(path), "data/kube/%s", name);
    json_error_t je;
    json_t *o = json_load_file(path, 0, &je);
    if (o == NULL)
        fail_msg("%s:%d: %s", path, je.line, je.text);
    return o;
}

static json_t *parse(const char *text)
{
    json_error_t je;
    json_t *o = json_loads(text, 0, &je);
    if (o == NULL)
        fail_msg("inline json:%d: %s", je.line, je.text);
    return o;
}

/* Asserts that ls holds exactly the pairs of the NULL-terminated name/value lists (up to
 * four, any NULL), printing both sides on a mismatch. */
static void expect(const struct pg_labels *ls, const char *const *a, const char *const *b,
                   const char *const *c, const char *const *d)
{
    const char *const *lists[] = {a, b, c, d};
    size_t want = 0;
    int bad = 0;
    for (size_t l = 0; l < 4; l++) {
        for (size_t i = 0; lists[l] && lists[l][i]; i += 2) {
            want++;
            const char *v = pg_labels_get(ls, lists[l][i]);
            if (v == NULL || strcmp(v, lists[l][i + 1]) != 0) {
                print_error("label %s: want \"%s\", got %s%s%s\n", lists[l][i], lists[l][i + 1],
                            v ? "\"" : "", v ? v : "(absent)", v ? "\"" : "");
                bad = 1;
            }
        }
    }
    if (ls->n != want) {
        print_error("want %zu labels, got %zu\n", want, ls->n);
        bad = 1;
    }
    if (bad) {
        char *s = pg_labels_format(ls);
        print_error("got: %s\n", s ? s : "(oom)");
        free(s);
        fail();
    }
}

/* ---- the label sets shared by several roles ---- */

/* Label tables are one name/value pair per line. */
/* clang-format off */

/* podLabels of data/kube/pod.json. */
static const char *const POD_LABELS[] = {
    M "pod_name", "web-7d4b9c-abcde",
    M "pod_ip", "10.244.1.23",
    M "pod_ready", "true",
    M "pod_phase", "Running",
    M "pod_node_name", "node-a",
    M "pod_host_ip", "10.0.1.11",
    M "pod_uid", "3f1c2b9e-8a7d-4c3e-9b1a-2d5e6f7a8b9c",
    M "pod_controller_kind", "ReplicaSet",
    M "pod_controller_name", "web-7d4b9c",
    M "pod_label_app_kubernetes_io_name", "web",
    M "pod_labelpresent_app_kubernetes_io_name", "true",
    M "pod_label_pod_template_hash", "7d4b9c",
    M "pod_labelpresent_pod_template_hash", "true",
    M "pod_annotation_pyroscope_io_service_name", "shop-web",
    M "pod_annotationpresent_pyroscope_io_service_name", "true",
    M "pod_annotation_profiles_grafana_com_cpu_scrape", "true",
    M "pod_annotationpresent_profiles_grafana_com_cpu_scrape", "true",
    NULL};

static const char *const NS_SHOP[] = {
    M "namespace", "shop",
    NULL};

/* serviceLabels of data/kube/service.json. */
static const char *const SVC_LABELS[] = {
    M "namespace", "shop",
    M "service_name", "web",
    M "service_label_app_kubernetes_io_name", "web",
    M "service_labelpresent_app_kubernetes_io_name", "true",
    M "service_annotation_prometheus_io_scrape", "true",
    M "service_annotationpresent_prometheus_io_scrape", "true",
    NULL};

/* attach_metadata.node labels of data/kube/node.json and node_b.json. */
static const char *const NODE_A_META[] = {
    M "node_name", "node-a",
    M "node_label_kubernetes_io_hostname", "node-a",
    M "node_labelpresent_kubernetes_io_hostname", "true",
    M "node_label_topology_kubernetes_io_zone", "eu-west-1a",
    M "node_labelpresent_topology_kubernetes_io_zone", "true",
    M "node_label_node_role_kubernetes_io_worker", "",
    M "node_labelpresent_node_role_kubernetes_io_worker", "true",
    M "node_annotation_node_alpha_kubernetes_io_ttl", "0",
    M "node_annotationpresent_node_alpha_kubernetes_io_ttl", "true",
    NULL};

static const char *const NODE_B_META[] = {
    M "node_name", "node-b",
    M "node_label_kubernetes_io_hostname", "node-b",
    M "node_labelpresent_kubernetes_io_hostname", "true",
    NULL};

/* attach_metadata.namespace labels of data/kube/namespace.json. */
static const char *const NS_META[] = {
    M "namespace_label_kubernetes_io_metadata_name", "shop",
    M "namespace_labelpresent_kubernetes_io_metadata_name", "true",
    M "namespace_label_team", "payments",
    M "namespace_labelpresent_team", "true",
    M "namespace_annotation_owner", "payments@example.com",
    M "namespace_annotationpresent_owner", "true",
    NULL};

/* The pod role's targets of data/kube/pod.json: containers, then init containers. */
static const char *const POD_T_HTTP[] = {
    "__address__", "10.244.1.23:8080",
    M "pod_container_name", "app",
    M "pod_container_id", "containerd://2222bbbb",
    M "pod_container_image", "registry.example.com/shop/web:1.4.2",
    M "pod_container_port_name", "http",
    M "pod_container_port_number", "8080",
    M "pod_container_port_protocol", "TCP",
    M "pod_container_init", "false",
    NULL};
static const char *const POD_T_PPROF[] = {
    "__address__", "10.244.1.23:6060",
    M "pod_container_name", "app",
    M "pod_container_id", "containerd://2222bbbb",
    M "pod_container_image", "registry.example.com/shop/web:1.4.2",
    M "pod_container_port_name", "pprof",
    M "pod_container_port_number", "6060",
    M "pod_container_port_protocol", "TCP",
    M "pod_container_init", "false",
    NULL};
static const char *const POD_T_WARMER[] = {
    "__address__", "10.244.1.23",
    M "pod_container_name", "cache-warmer",
    M "pod_container_id", "containerd://3333cccc",
    M "pod_container_image", "registry.example.com/shop/cache-warmer:0.9.0",
    M "pod_container_init", "false",
    NULL};
static const char *const POD_T_SHIPPER[] = {
    "__address__", "10.244.1.23:2020",
    M "pod_container_name", "log-shipper",
    M "pod_container_id", "containerd://1111aaaa",
    M "pod_container_image", "fluent/fluent-bit:3.0",
    M "pod_container_port_name", "shipper-metrics",
    M "pod_container_port_number", "2020",
    M "pod_container_port_protocol", "TCP",
    M "pod_container_init", "true",
    NULL};

/* Container labels joined onto endpoints targets (no container id there). */
static const char *const JOIN_HTTP[] = {
    M "pod_container_name", "app",
    M "pod_container_image", "registry.example.com/shop/web:1.4.2",
    M "pod_container_port_name", "http",
    M "pod_container_port_number", "8080",
    M "pod_container_port_protocol", "TCP",
    M "pod_container_init", "false",
    NULL};
/* Targets added for pod ports no endpoint port covered. */
static const char *const EXTRA_PPROF[] = {
    "__address__", "10.244.1.23:6060",
    M "pod_container_name", "app",
    M "pod_container_image", "registry.example.com/shop/web:1.4.2",
    M "pod_container_port_name", "pprof",
    M "pod_container_port_number", "6060",
    M "pod_container_port_protocol", "TCP",
    M "pod_container_init", "false",
    NULL};
static const char *const EXTRA_SHIPPER[] = {
    "__address__", "10.244.1.23:2020",
    M "pod_container_name", "log-shipper",
    M "pod_container_image", "fluent/fluent-bit:3.0",
    M "pod_container_port_name", "shipper-metrics",
    M "pod_container_port_number", "2020",
    M "pod_container_port_protocol", "TCP",
    M "pod_container_init", "true",
    NULL};

/* ---- pod ---- */

static void test_pod(void **state)
{
    (void)state;
    json_t *pod = load("pod.json");
    struct pg_tgroup g;
    assert_int_equal(pg_kube_build_group(PG_CFG_KUBE_POD, pod, NULL, &g), 0);
    assert_string_equal(g.source, "pod/shop/web-7d4b9c-abcde");
    expect(&g.labels, POD_LABELS, NS_SHOP, NULL, NULL);
    assert_int_equal(g.n_targets, 4);
    expect(&g.targets[0], POD_T_HTTP, NULL, NULL, NULL);
    expect(&g.targets[1], POD_T_PPROF, NULL, NULL, NULL);
    expect(&g.targets[2], POD_T_WARMER, NULL, NULL, NULL);
    expect(&g.targets[3], POD_T_SHIPPER, NULL, NULL, NULL);
    pg_tgroup_reset(&g);
    json_decref(pod);
}

static void test_pod_attach_metadata(void **state)
{
    (void)state;
    json_t *pod = load("pod.json"), *node = load("node.json"), *ns = load("namespace.json");
    struct pg_kube_store *nodes = pg_kube_store_create(), *nss = pg_kube_store_create();
    assert_int_equal(pg_kube_store_put(nodes, node), 0);
    assert_int_equal(pg_kube_store_put(nss, ns), 0);
    struct pg_kube_ctx ctx = {.nodes = nodes, .namespaces = nss};
    struct pg_tgroup g;

    /* Caches present but attach_metadata off: nothing attached. */
    assert_int_equal(pg_kube_build_group(PG_CFG_KUBE_POD, pod, &ctx, &g), 0);
    expect(&g.labels, POD_LABELS, NS_SHOP, NULL, NULL);
    pg_tgroup_reset(&g);

    ctx.attach_node = 1;
    assert_int_equal(pg_kube_build_group(PG_CFG_KUBE_POD, pod, &ctx, &g), 0);
    expect(&g.labels, POD_LABELS, NS_SHOP, NODE_A_META, NULL);
    expect(&g.targets[0], POD_T_HTTP, NULL, NULL, NULL);
    pg_tgroup_reset(&g);

    ctx.attach_namespace = 1;
    assert_int_equal(pg_kube_build_group(PG_CFG_KUBE_POD, pod, &ctx, &g), 0);
    expect(&g.labels, POD_LABELS, NS_SHOP, NODE_A_META, NS_META);
    assert_int_equal(g.n_targets, 4);
    pg_tgroup_reset(&g);

    /* The node is not (or no longer) known: no node labels, the pod still builds. */
    assert_int_equal(pg_kube_store_del(nodes, NULL, "node-a"), 1);
    ctx.attach_namespace = 0;
    assert_int_equal(pg_kube_build_group(PG_CFG_KUBE_POD, pod, &ctx, &g), 0);
    expect(&g.labels, POD_LABELS, NS_SHOP, NULL, NULL);
    pg_tgroup_reset(&g);

    pg_kube_store_destroy(nodes);
    pg_kube_store_destroy(nss);
    json_decref(pod);
    json_decref(node);
    json_decref(ns);
}

static void test_pod_without_ip(void **state)
{
    (void)state;
    json_t *pod = load("pod_pending.json");
    struct pg_tgroup g;
    assert_int_equal(pg_kube_build_group(PG_CFG_KUBE_POD, pod, NULL, &g), 0);
    assert_string_equal(g.source, "pod/shop/web-7d4b9c-zzzzz");
    assert_int_equal(g.labels.n, 0);
    assert_int_equal(g.n_targets, 0);
    pg_tgroup_reset(&g);
    json_decref(pod);
}

/* A minimal pod: no Ready condition ("unknown"), no phase, no controller, an IPv6 IP, a
 * port without name, a container without status, and names that need sanitising. */
static void test_pod_minimal_ipv6_sanitise(void **state)
{
    (void)state;
    json_t *pod = parse("{\"metadata\": {\"name\": \"p\", \"namespace\": \"n\", \"uid\": \"u\","
                        "  \"labels\": {\"\xc3\xbcn\xc3\xaf"
                        "code-\xd0\xba\xd0\xbb\xd1\x8e"
                        "\xd1\x87/x\": \"v\"},"
                        "  \"annotations\": {\"a.b/c-d\": \"\"},"
                        "  \"ownerReferences\": [{\"kind\": \"Job\", \"name\": \"j\"}]},"
                        " \"spec\": {\"containers\": [{\"name\": \"c\", \"image\": \"i\","
                        "   \"ports\": [{\"containerPort\": 9090}]}]},"
                        " \"status\": {\"podIP\": \"fd00::17\"}}");
    struct pg_tgroup g;
    assert_int_equal(pg_kube_build_group(PG_CFG_KUBE_POD, pod, NULL, &g), 0);
    static const char *const want[] = {
        M "namespace", "n",
        M "pod_name", "p",
        M "pod_ip", "fd00::17",
        M "pod_ready", "unknown",
        M "pod_phase", "",
        M "pod_node_name", "",
        M "pod_host_ip", "",
        M "pod_uid", "u",
        /* one '_' per rune: ü n ï code - к л ю ч / x */
        M "pod_label__n_code______x", "v",
        M "pod_labelpresent__n_code______x", "true",
        M "pod_annotation_a_b_c_d", "",
        M "pod_annotationpresent_a_b_c_d", "true",
        NULL};
    expect(&g.labels, want, NULL, NULL, NULL);
    assert_int_equal(g.n_targets, 1);
    static const char *const t[] = {
        "__address__", "[fd00::17]:9090",
        M "pod_container_name", "c",
        M "pod_container_id", "",
        M "pod_container_image", "i",
        M "pod_container_port_name", "",
        M "pod_container_port_number", "9090",
        M "pod_container_port_protocol", "",
        M "pod_container_init", "false",
        NULL};
    expect(&g.targets[0], t, NULL, NULL, NULL);
    pg_tgroup_reset(&g);
    json_decref(pod);
}

/* ---- service ---- */

static void test_service(void **state)
{
    (void)state;
    json_t *svc = load("service.json");
    struct pg_tgroup g;
    assert_int_equal(pg_kube_build_group(PG_CFG_KUBE_SERVICE, svc, NULL, &g), 0);
    assert_string_equal(g.source, "svc/shop/web");
    expect(&g.labels, SVC_LABELS, NULL, NULL, NULL);
    assert_int_equal(g.n_targets, 2);
    static const char *const t0[] = {
        "__address__", "web.shop.svc:80",
        M "service_port_name", "http",
        M "service_port_number", "80",
        M "service_port_protocol", "TCP",
        M "service_type", "ClusterIP",
        M "service_cluster_ip", "10.96.12.34",
        NULL};
    static const char *const t1[] = {
        "__address__", "web.shop.svc:6060",
        M "service_port_name", "pprof",
        M "service_port_number", "6060",
        M "service_port_protocol", "TCP",
        M "service_type", "ClusterIP",
        M "service_cluster_ip", "10.96.12.34",
        NULL};
    expect(&g.targets[0], t0, NULL, NULL, NULL);
    expect(&g.targets[1], t1, NULL, NULL, NULL);
    pg_tgroup_reset(&g);
    json_decref(svc);
}

static void test_service_types_and_namespace_meta(void **state)
{
    (void)state;
    json_t *lb = load("service_lb.json"), *ext = load("service_external.json"),
           *ns = load("namespace.json");
    struct pg_kube_store *nss = pg_kube_store_create();
    assert_int_equal(pg_kube_store_put(nss, ns), 0);
    struct pg_kube_ctx ctx = {.namespaces = nss, .attach_namespace = 1};
    struct pg_tgroup g;

    assert_int_equal(pg_kube_build_group(PG_CFG_KUBE_SERVICE, lb, &ctx, &g), 0);
    static const char *const lbg[] = {
        M "namespace", "shop",
        M "service_name", "edge",
        NULL};
    expect(&g.labels, lbg, NS_META, NULL, NULL);
    assert_int_equal(g.n_targets, 1);
    static const char *const lbt[] = {
        "__address__", "edge.shop.svc:443",
        M "service_port_name", "",
        M "service_port_number", "443",
        M "service_port_protocol", "TCP",
        M "service_type", "LoadBalancer",
        M "service_cluster_ip", "10.96.40.1",
        M "service_loadbalancer_ip", "203.0.113.10",
        NULL};
    expect(&g.targets[0], lbt, NULL, NULL, NULL);
    pg_tgroup_reset(&g);

    assert_int_equal(pg_kube_build_group(PG_CFG_KUBE_SERVICE, ext, &ctx, &g), 0);
    assert_string_equal(g.source, "svc/shop/payments-api");
    static const char *const extg[] = {
        M "namespace", "shop",
        M "service_name", "payments-api",
        NULL};
    expect(&g.labels, extg, NS_META, NULL, NULL);
    static const char *const extt[] = {
        "__address__", "payments-api.shop.svc:443",
        M "service_port_name", "https",
        M "service_port_number", "443",
        M "service_port_protocol", "TCP",
        M "service_type", "ExternalName",
        M "service_external_name", "payments.example.net",
        NULL};
    expect(&g.targets[0], extt, NULL, NULL, NULL);
    pg_tgroup_reset(&g);

    pg_kube_store_destroy(nss);
    json_decref(lb);
    json_decref(ext);
    json_decref(ns);
}

/* ---- endpoints ---- */

static const char *const EPS_GROUP[] = {
    M "endpoints_name", "web",
    M "endpoints_label_app_kubernetes_io_name", "web",
    M "endpoints_labelpresent_app_kubernetes_io_name", "true",
    M "endpoints_annotation_endpoints_kubernetes_io_last_change_trigger_time",
        "2024-05-02T10:15:09Z",
    M "endpoints_annotationpresent_endpoints_kubernetes_io_last_change_trigger_time", "true",
    NULL};
static const char *const EPS_T_POD[] = {
    "__address__", "10.244.1.23:8080",
    M "endpoint_port_name", "http",
    M "endpoint_port_protocol", "TCP",
    M "endpoint_ready", "true",
    M "endpoint_address_target_kind", "Pod",
    M "endpoint_address_target_name", "web-7d4b9c-abcde",
    M "endpoint_node_name", "node-a",
    NULL};
static const char *const EPS_T_NOTREADY[] = {
    "__address__", "10.244.2.7:8080",
    M "endpoint_port_name", "http",
    M "endpoint_port_protocol", "TCP",
    M "endpoint_ready", "false",
    M "endpoint_address_target_kind", "Pod",
    M "endpoint_address_target_name", "web-7d4b9c-fghij",
    M "endpoint_node_name", "node-b",
    NULL};
static const char *const EPS_T_LEGACY[] = {
    "__address__", "10.0.9.9:9187",
    M "endpoint_port_name", "metrics",
    M "endpoint_port_protocol", "TCP",
    M "endpoint_ready", "true",
    M "endpoint_hostname", "legacy-db",
    NULL};

static void test_endpoints(void **state)
{
    (void)state;
    json_t *eps = load("endpoints.json"), *pod = load("pod.json"), *svc = load("service.json");
    struct pg_kube_store *pods = pg_kube_store_create(), *svcs = pg_kube_store_create();
    assert_int_equal(pg_kube_store_put(pods, pod), 0);
    assert_int_equal(pg_kube_store_put(svcs, svc), 0);
    struct pg_kube_ctx ctx = {.pods = pods, .services = svcs};
    struct pg_tgroup g;

    assert_int_equal(pg_kube_build_group(PG_CFG_KUBE_ENDPOINTS, eps, &ctx, &g), 0);
    assert_string_equal(g.source, "endpoints/shop/web");
    expect(&g.labels, SVC_LABELS, EPS_GROUP, NULL, NULL);
    assert_int_equal(g.n_targets, 5);
    expect(&g.targets[0], EPS_T_POD, POD_LABELS, JOIN_HTTP, NULL);
    expect(&g.targets[1], EPS_T_NOTREADY, NULL, NULL, NULL); /* its pod is not cached */
    expect(&g.targets[2], EPS_T_LEGACY, NULL, NULL, NULL);
    /* The pod's ports no endpoint port covered (container, then init container). */
    expect(&g.targets[3], EXTRA_PPROF, POD_LABELS, NULL, NULL);
    expect(&g.targets[4], EXTRA_SHIPPER, POD_LABELS, NULL, NULL);
    pg_tgroup_reset(&g);

    /* Without caches: no service or pod labels and no extra targets. */
    assert_int_equal(pg_kube_build_group(PG_CFG_KUBE_ENDPOINTS, eps, NULL, &g), 0);
    expect(&g.labels, NS_SHOP, EPS_GROUP, NULL, NULL);
    assert_int_equal(g.n_targets, 3);
    expect(&g.targets[0], EPS_T_POD, NULL, NULL, NULL);
    pg_tgroup_reset(&g);

    pg_kube_store_destroy(pods);
    pg_kube_store_destroy(svcs);
    json_decref(eps);
    json_decref(pod);
    json_decref(svc);
}

static void test_endpoints_attach_metadata(void **state)
{
    (void)state;
    json_t *eps = load("endpoints.json"), *pod = load("pod.json"), *na = load("node.json"),
           *nb = load("node_b.json"), *ns = load("namespace.json");
    struct pg_kube_store *pods = pg_kube_store_create(), *nodes = pg_kube_store_create(),
                         *nss = pg_kube_store_create();
    assert_int_equal(pg_kube_store_put(pods, pod), 0);
    assert_int_equal(pg_kube_store_put(nodes, na), 0);
    assert_int_equal(pg_kube_store_put(nodes, nb), 0);
    assert_int_equal(pg_kube_store_put(nss, ns), 0);
    struct pg_kube_ctx ctx = {
        .pods = pods, .nodes = nodes, .namespaces = nss, .attach_node = 1, .attach_namespace = 1};
    struct pg_tgroup g;
    assert_int_equal(pg_kube_build_group(PG_CFG_KUBE_ENDPOINTS, eps, &ctx, &g), 0);
    expect(&g.labels, NS_SHOP, EPS_GROUP, NS_META, NULL);
    assert_int_equal(g.n_targets, 5);
    expect(&g.targets[0], EPS_T_POD, POD_LABELS, JOIN_HTTP, NODE_A_META);
    expect(&g.targets[1], EPS_T_NOTREADY, NODE_B_META, NULL, NULL);
    expect(&g.targets[2], EPS_T_LEGACY, NULL, NULL, NULL);
    expect(&g.targets[3], EXTRA_PPROF, POD_LABELS, NULL, NULL);
    pg_tgroup_reset(&g);

    pg_kube_store_destroy(pods);
    pg_kube_store_destroy(nodes);
    pg_kube_store_destroy(nss);
    json_decref(eps);
    json_decref(pod);
    json_decref(na);
    json_decref(nb);
    json_decref(ns);
}

/* An endpoints address whose targetRef is a Node gets that node's metadata. */
static void test_endpoints_node_target(void **state)
{
    (void)state;
    json_t *eps = parse("{\"metadata\": {\"name\": \"kubelet\", \"namespace\": \"kube-system\"},"
                        " \"subsets\": [{\"addresses\": [{\"ip\": \"10.0.1.11\","
                        "   \"targetRef\": {\"kind\": \"Node\", \"name\": \"node-a\"}}],"
                        "  \"ports\": [{\"name\": \"https-metrics\", \"port\": 10250,"
                        "   \"protocol\": \"TCP\"}]}]}");
    json_t *na = load("node.json");
    struct pg_kube_store *nodes = pg_kube_store_create();
    assert_int_equal(pg_kube_store_put(nodes, na), 0);
    struct pg_kube_ctx ctx = {.nodes = nodes, .attach_node = 1};
    struct pg_tgroup g;
    assert_int_equal(pg_kube_build_group(PG_CFG_KUBE_ENDPOINTS, eps, &ctx, &g), 0);
    static const char *const grp[] = {
        M "namespace", "kube-system",
        M "endpoints_name", "kubelet",
        NULL};
    expect(&g.labels, grp, NULL, NULL, NULL);
    static const char *const t[] = {
        "__address__", "10.0.1.11:10250",
        M "endpoint_port_name", "https-metrics",
        M "endpoint_port_protocol", "TCP",
        M "endpoint_ready", "true",
        M "endpoint_address_target_kind", "Node",
        M "endpoint_address_target_name", "node-a",
        NULL};
    assert_int_equal(g.n_targets, 1);
    expect(&g.targets[0], t, NODE_A_META, NULL, NULL);
    pg_tgroup_reset(&g);
    pg_kube_store_destroy(nodes);
    json_decref(eps);
    json_decref(na);
}

/* ---- endpointslice ---- */

/* With SVC_LABELS (which carries __meta_kubernetes_namespace). */
static const char *const EPSL_GROUP[] = {
    M "endpointslice_address_type", "IPv4",
    M "endpointslice_name", "web-x8k2p",
    M "endpointslice_label_kubernetes_io_service_name", "web",
    M "endpointslice_labelpresent_kubernetes_io_service_name", "true",
    M "endpointslice_label_endpointslice_kubernetes_io_managed_by",
        "endpointslice-controller.k8s.io",
    M "endpointslice_labelpresent_endpointslice_kubernetes_io_managed_by", "true",
    NULL};
static const char *const EPSL_T_POD[] = {
    "__address__", "10.244.1.23:8080",
    M "endpointslice_port_name", "http",
    M "endpointslice_port_protocol", "TCP",
    M "endpointslice_port", "8080",
    M "endpointslice_port_app_protocol", "http",
    M "endpointslice_endpoint_conditions_ready", "true",
    M "endpointslice_endpoint_conditions_serving", "true",
    M "endpointslice_endpoint_conditions_terminating", "false",
    M "endpointslice_endpoint_node_name", "node-a",
    M "endpointslice_endpoint_zone", "eu-west-1a",
    M "endpointslice_address_target_kind", "Pod",
    M "endpointslice_address_target_name", "web-7d4b9c-abcde",
    NULL};
static const char *const EPSL_T_OTHER[] = {
    "__address__", "10.244.2.7:8080",
    M "endpointslice_port_name", "http",
    M "endpointslice_port_protocol", "TCP",
    M "endpointslice_port", "8080",
    M "endpointslice_port_app_protocol", "http",
    M "endpointslice_endpoint_conditions_ready", "false",
    M "endpointslice_endpoint_conditions_serving", "false",
    M "endpointslice_endpoint_conditions_terminating", "true",
    M "endpointslice_endpoint_hostname", "web-1",
    M "endpointslice_endpoint_node_name", "node-b",
    M "endpointslice_endpoint_zone", "eu-west-1b",
    M "endpointslice_endpoint_topology_topology_kubernetes_io_zone", "eu-west-1b",
    M "endpointslice_endpoint_topology_present_topology_kubernetes_io_zone", "true",
    M "endpointslice_address_target_kind", "Pod",
    M "endpointslice_address_target_name", "web-7d4b9c-fghij",
    NULL};

static void test_endpointslice(void **state)
{
    (void)state;
    json_t *eps = load("endpointslice.json"), *pod = load("pod.json"), *svc = load("service.json"),
           *na = load("node.json"), *ns = load("namespace.json");
    struct pg_kube_store *pods = pg_kube_store_create(), *svcs = pg_kube_store_create(),
                         *nodes = pg_kube_store_create(), *nss = pg_kube_store_create();
    assert_int_equal(pg_kube_store_put(pods, pod), 0);
    assert_int_equal(pg_kube_store_put(svcs, svc), 0);
    assert_int_equal(pg_kube_store_put(nodes, na), 0);
    assert_int_equal(pg_kube_store_put(nss, ns), 0);
    struct pg_kube_ctx ctx = {.pods = pods, .services = svcs, .nodes = nodes, .namespaces = nss};
    struct pg_tgroup g;

    assert_int_equal(pg_kube_build_group(PG_CFG_KUBE_ENDPOINTSLICE, eps, &ctx, &g), 0);
    assert_string_equal(g.source, "endpointslice/shop/web-x8k2p");
    expect(&g.labels, EPSL_GROUP, SVC_LABELS, NULL, NULL);
    assert_int_equal(g.n_targets, 4);
    expect(&g.targets[0], EPSL_T_POD, POD_LABELS, JOIN_HTTP, NULL);
    expect(&g.targets[1], EPSL_T_OTHER, NULL, NULL, NULL);
    expect(&g.targets[2], EXTRA_PPROF, POD_LABELS, NULL, NULL);
    expect(&g.targets[3], EXTRA_SHIPPER, POD_LABELS, NULL, NULL);
    pg_tgroup_reset(&g);

    ctx.attach_node = ctx.attach_namespace = 1;
    assert_int_equal(pg_kube_build_group(PG_CFG_KUBE_ENDPOINTSLICE, eps, &ctx, &g), 0);
    expect(&g.labels, EPSL_GROUP, SVC_LABELS, NS_META, NULL);
    expect(&g.targets[0], EPSL_T_POD, POD_LABELS, JOIN_HTTP, NODE_A_META);
    expect(&g.targets[1], EPSL_T_OTHER, NULL, NULL, NULL); /* node-b not cached */
    pg_tgroup_reset(&g);

    pg_kube_store_destroy(pods);
    pg_kube_store_destroy(svcs);
    pg_kube_store_destroy(nodes);
    pg_kube_store_destroy(nss);
    json_decref(eps);
    json_decref(pod);
    json_decref(svc);
    json_decref(na);
    json_decref(ns);
}

/* A port without a number: the bare address, no port labels but the ones present. */
static void test_endpointslice_portless(void **state)
{
    (void)state;
    json_t *eps = parse("{\"metadata\": {\"name\": \"s\", \"namespace\": \"n\"},"
                        " \"addressType\": \"IPv6\","
                        " \"endpoints\": [{\"addresses\": [\"fd00::1\"]}],"
                        " \"ports\": [{\"name\": \"\"}]}");
    struct pg_tgroup g;
    assert_int_equal(pg_kube_build_group(PG_CFG_KUBE_ENDPOINTSLICE, eps, NULL, &g), 0);
    static const char *const grp[] = {
        M "namespace", "n",
        M "endpointslice_address_type", "IPv6",
        M "endpointslice_name", "s",
        NULL};
    expect(&g.labels, grp, NULL, NULL, NULL);
    static const char *const t[] = {
        "__address__", "fd00::1",
        M "endpointslice_port_name", "",
        NULL};
    assert_int_equal(g.n_targets, 1);
    expect(&g.targets[0], t, NULL, NULL, NULL);
    pg_tgroup_reset(&g);
    json_decref(eps);
}

/* ---- node ---- */

static void test_node(void **state)
{
    (void)state;
    json_t *na = load("node.json"), *nb = load("node_b.json");
    struct pg_tgroup g;

    assert_int_equal(pg_kube_build_group(PG_CFG_KUBE_NODE, na, NULL, &g), 0);
    assert_string_equal(g.source, "node/node-a");
    static const char *const pid[] = {
        M "node_provider_id", "aws:///eu-west-1a/i-0abc123def4567890",
        NULL};
    expect(&g.labels, pid, NODE_A_META, NULL, NULL);
    assert_int_equal(g.n_targets, 1);
    /* InternalIP wins; node_address_<type> holds the first address of each type. */
    static const char *const ta[] = {
        "__address__", "10.0.1.11:10250",
        "instance", "node-a",
        M "node_address_Hostname", "node-a",
        M "node_address_ExternalIP", "34.1.2.3",
        M "node_address_InternalIP", "10.0.1.11",
        M "node_address_InternalDNS", "ip-10-0-1-11.eu-west-1.compute.internal",
        NULL};
    expect(&g.targets[0], ta, NULL, NULL, NULL);
    pg_tgroup_reset(&g);

    /* ExternalDNS is preferred to Hostname. */
    assert_int_equal(pg_kube_build_group(PG_CFG_KUBE_NODE, nb, NULL, &g), 0);
    static const char *const nopid[] = {
        M "node_provider_id", "",
        NULL};
    expect(&g.labels, nopid, NODE_B_META, NULL, NULL);
    static const char *const tb[] = {
        "__address__", "node-b.example.com:10250",
        "instance", "node-b",
        M "node_address_Hostname", "node-b",
        M "node_address_ExternalDNS", "node-b.example.com",
        NULL};
    expect(&g.targets[0], tb, NULL, NULL, NULL);
    pg_tgroup_reset(&g);

    json_decref(na);
    json_decref(nb);
}

static void test_node_address_preference(void **state)
{
    (void)state;
    static const struct {
        const char *addrs, *want;
    } cases[] = {
        {"[{\"type\":\"Hostname\",\"address\":\"h\"},{\"type\":\"LegacyHostIP\","
         "\"address\":\"1.1.1.1\"}]",
         "1.1.1.1:10250"},
        {"[{\"type\":\"ExternalDNS\",\"address\":\"e.dns\"},{\"type\":\"ExternalIP\","
         "\"address\":\"2.2.2.2\"}]",
         "2.2.2.2:10250"},
        {"[{\"type\":\"ExternalIP\",\"address\":\"2.2.2.2\"},{\"type\":\"InternalDNS\","
         "\"address\":\"i.dns\"}]",
         "i.dns:10250"},
        {"[{\"type\":\"Hostname\",\"address\":\"h\"}]", "h:10250"},
        {"[{\"type\":\"InternalIP\",\"address\":\"fd00::5\"}]", "[fd00::5]:10250"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char text[512];
        snprintf(text, sizeof(text),
                 "{\"metadata\":{\"name\":\"n\"},\"status\":{\"addresses\":%s,"
                 "\"daemonEndpoints\":{\"kubeletEndpoint\":{\"Port\":10250}}}}",
                 cases[i].addrs);
        json_t *n = parse(text);
        struct pg_tgroup g;
        assert_int_equal(pg_kube_build_group(PG_CFG_KUBE_NODE, n, NULL, &g), 0);
        assert_string_equal(pg_labels_get(&g.targets[0], "__address__"), cases[i].want);
        pg_tgroup_reset(&g);
        json_decref(n);
    }
    /* No usable address: Prometheus sends nothing for it. */
    json_t *n = parse("{\"metadata\":{\"name\":\"n\"},\"status\":{\"addresses\":[]}}");
    struct pg_tgroup g;
    assert_int_equal(pg_kube_build_group(PG_CFG_KUBE_NODE, n, NULL, &g), -1);
    json_decref(n);
}

/* ---- ingress ---- */

static void test_ingress(void **state)
{
    (void)state;
    json_t *ing = load("ingress.json"), *ns = load("namespace.json");
    struct pg_tgroup g;
    assert_int_equal(pg_kube_build_group(PG_CFG_KUBE_INGRESS, ing, NULL, &g), 0);
    assert_string_equal(g.source, "ingress/shop/web");
    static const char *const grp[] = {
        M "namespace", "shop",
        M "ingress_class_name", "nginx",
        M "ingress_name", "web",
        M "ingress_label_app_kubernetes_io_name", "web",
        M "ingress_labelpresent_app_kubernetes_io_name", "true",
        M "ingress_annotation_nginx_ingress_kubernetes_io_rewrite_target", "/",
        M "ingress_annotationpresent_nginx_ingress_kubernetes_io_rewrite_target", "true",
        NULL};
    expect(&g.labels, grp, NULL, NULL, NULL);
    assert_int_equal(g.n_targets, 4);
    static const char *const t0[] = {
        "__address__", "shop.example.com",
        M "ingress_scheme", "https",
        M "ingress_host", "shop.example.com",
        M "ingress_path", "/",
        NULL};
    static const char *const t1[] = {
        "__address__", "shop.example.com",
        M "ingress_scheme", "https",
        M "ingress_host", "shop.example.com",
        M "ingress_path", "/debug",
        NULL};
    /* matched by the TLS wildcard, empty path → "/" */
    static const char *const t2[] = {
        "__address__", "v1.api.example.com",
        M "ingress_scheme", "https",
        M "ingress_host", "v1.api.example.com",
        M "ingress_path", "/",
        NULL};
    /* no TLS host, no http section → one "/" target */
    static const char *const t3[] = {
        "__address__", "status.example.com",
        M "ingress_scheme", "http",
        M "ingress_host", "status.example.com",
        M "ingress_path", "/",
        NULL};
    expect(&g.targets[0], t0, NULL, NULL, NULL);
    expect(&g.targets[1], t1, NULL, NULL, NULL);
    expect(&g.targets[2], t2, NULL, NULL, NULL);
    expect(&g.targets[3], t3, NULL, NULL, NULL);
    pg_tgroup_reset(&g);

    struct pg_kube_store *nss = pg_kube_store_create();
    assert_int_equal(pg_kube_store_put(nss, ns), 0);
    struct pg_kube_ctx ctx = {.namespaces = nss, .attach_namespace = 1};
    assert_int_equal(pg_kube_build_group(PG_CFG_KUBE_INGRESS, ing, &ctx, &g), 0);
    expect(&g.labels, grp, NS_META, NULL, NULL);
    pg_tgroup_reset(&g);
    pg_kube_store_destroy(nss);

    /* A wildcard covers exactly one label; an empty paths list yields no target. */
    json_t *w = parse("{\"metadata\":{\"name\":\"w\",\"namespace\":\"n\"},\"spec\":{"
                      "\"tls\":[{\"hosts\":[\"*.example.com\"]}],\"rules\":["
                      "{\"host\":\"a.b.example.com\"},{\"host\":\"c.example.com\","
                      "\"http\":{\"paths\":[]}},{\"host\":\"d.example.com\"}]}}");
    assert_int_equal(pg_kube_build_group(PG_CFG_KUBE_INGRESS, w, NULL, &g), 0);
    assert_int_equal(g.n_targets, 2);
    assert_string_equal(pg_labels_get(&g.targets[0], M "ingress_scheme"), "http");
    assert_string_equal(pg_labels_get(&g.targets[1], "__address__"), "d.example.com");
    assert_string_equal(pg_labels_get(&g.targets[1], M "ingress_scheme"), "https");
    pg_tgroup_reset(&g);
    json_decref(w);

    json_decref(ing);
    json_decref(ns);
}

/* ---- sources and deletion ---- */

static void test_sources(void **state)
{
    (void)state;
    static const struct {
        enum pg_cfg_kube_role role;
        const char *file, *want;
    } cases[] = {
        {PG_CFG_KUBE_POD, "pod.json", "pod/shop/web-7d4b9c-abcde"},
        {PG_CFG_KUBE_SERVICE, "service.json", "svc/shop/web"},
        {PG_CFG_KUBE_ENDPOINTS, "endpoints.json", "endpoints/shop/web"},
        {PG_CFG_KUBE_ENDPOINTSLICE, "endpointslice.json", "endpointslice/shop/web-x8k2p"},
        {PG_CFG_KUBE_NODE, "node.json", "node/node-a"},
        {PG_CFG_KUBE_INGRESS, "ingress.json", "ingress/shop/web"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *o = load(cases[i].file);
        char buf[128];
        assert_int_equal(pg_kube_source(cases[i].role, o, buf, sizeof(buf)), 0);
        assert_string_equal(buf, cases[i].want);
        /* The built group has the same source, so a deletion (an empty group under
         * pg_kube_source) replaces exactly it. */
        struct pg_tgroup g, del;
        assert_int_equal(pg_kube_build_group(cases[i].role, o, NULL, &g), 0);
        assert_string_equal(g.source, buf);
        assert_true(g.n_targets > 0);
        assert_int_equal(pg_tgroup_init(&del, buf), 0);
        assert_string_equal(del.source, g.source);
        assert_int_equal(del.n_targets, 0);
        assert_int_equal(del.labels.n, 0);
        pg_tgroup_reset(&del);
        pg_tgroup_reset(&g);
        /* Too small a buffer. */
        assert_int_equal(pg_kube_source(cases[i].role, o, buf, strlen(cases[i].want)), -1);
        json_decref(o);
    }
    /* No metadata.name: no source, no group. */
    json_t *bad = parse("{\"metadata\": {\"namespace\": \"n\"}}");
    char buf[64];
    struct pg_tgroup g;
    assert_int_equal(pg_kube_source(PG_CFG_KUBE_POD, bad, buf, sizeof(buf)), -1);
    assert_int_equal(pg_kube_build_group(PG_CFG_KUBE_POD, bad, NULL, &g), -1);
    json_decref(bad);
    json_t *notobj = parse("[1]");
    assert_int_equal(pg_kube_build_group(PG_CFG_KUBE_SERVICE, notobj, NULL, &g), -1);
    json_decref(notobj);
}

/* ---- store ---- */

static void collect(void *ud, json_t *obj)
{
    char *out = ud;
    const json_t *md = json_object_get(obj, "metadata");
    const char *ns = json_string_value(json_object_get(md, "namespace"));
    strcat(out, ns ? ns : "-");
    strcat(out, "/");
    strcat(out, json_string_value(json_object_get(md, "name")));
    strcat(out, " ");
}

static json_t *mkobj(const char *ns, const char *name, int gen)
{
    json_t *md = json_pack("{s:s, s:i}", "name", name, "generation", gen);
    if (ns)
        json_object_set_new(md, "namespace", json_string(ns));
    return json_pack("{s:o}", "metadata", md);
}

static void test_store(void **state)
{
    (void)state;
    struct pg_kube_store *s = pg_kube_store_create();
    assert_non_null(s);
    json_t *bx = mkobj("b", "x", 1), *ay = mkobj("a", "y", 1), *ax = mkobj("a", "x", 1),
           *ax2 = mkobj("a", "x", 2), *cl = mkobj(NULL, "zz", 1);
    assert_int_equal(pg_kube_store_put(s, bx), 0);
    assert_int_equal(pg_kube_store_put(s, ay), 0);
    assert_int_equal(pg_kube_store_put(s, ax), 0);
    assert_int_equal(pg_kube_store_put(s, cl), 0);
    assert_int_equal(pg_kube_store_size(s), 4);
    assert_int_equal(bx->refcount, 2); /* ours + the store's */

    char order[256] = "";
    pg_kube_store_foreach(s, collect, order);
    assert_string_equal(order, "a/x a/y b/x -/zz ");

    /* Replace: same key, the new object in, the old reference dropped. */
    assert_int_equal(pg_kube_store_put(s, ax2), 0);
    assert_int_equal(pg_kube_store_size(s), 4);
    assert_int_equal(ax->refcount, 1);
    assert_int_equal(ax2->refcount, 2);
    assert_ptr_equal(pg_kube_store_get(s, "a", "x"), ax2);
    assert_ptr_equal(pg_kube_store_get(s, NULL, "zz"), cl);
    assert_ptr_equal(pg_kube_store_get(s, "", "zz"), cl);
    assert_null(pg_kube_store_get(s, "a", "zz"));
    assert_null(pg_kube_store_get(s, "b", "y"));

    /* Delete. */
    assert_int_equal(pg_kube_store_del(s, "a", "y"), 1);
    assert_int_equal(pg_kube_store_del(s, "a", "y"), 0);
    assert_int_equal(ay->refcount, 1);
    assert_null(pg_kube_store_get(s, "a", "y"));
    order[0] = '\0';
    pg_kube_store_foreach(s, collect, order);
    assert_string_equal(order, "a/x b/x -/zz ");

    /* An object without a name is refused. */
    json_t *noname = json_pack("{s:{s:s}}", "metadata", "namespace", "a");
    assert_int_equal(pg_kube_store_put(s, noname), -1);
    assert_int_equal(noname->refcount, 1);
    json_decref(noname);

    /* Many keys stay sorted. */
    for (int i = 99; i >= 0; i--) {
        char name[16];
        snprintf(name, sizeof(name), "p%02d", i);
        json_t *o = mkobj("m", name, i);
        assert_int_equal(pg_kube_store_put(s, o), 0);
        json_decref(o);
    }
    assert_int_equal(pg_kube_store_size(s), 103);
    json_t *p42 = pg_kube_store_get(s, "m", "p42");
    assert_non_null(p42);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(p42, "metadata"), "generation")), 42);

    pg_kube_store_clear(s);
    assert_int_equal(pg_kube_store_size(s), 0);
    assert_int_equal(bx->refcount, 1);
    assert_int_equal(ax2->refcount, 1);
    assert_null(pg_kube_store_get(s, "b", "x"));

    /* Destroy drops what is still held. */
    assert_int_equal(pg_kube_store_put(s, bx), 0);
    assert_int_equal(bx->refcount, 2);
    pg_kube_store_destroy(s);
    assert_int_equal(bx->refcount, 1);
    pg_kube_store_destroy(NULL);

    json_decref(bx);
    json_decref(ay);
    json_decref(ax);
    json_decref(ax2);
    json_decref(cl);
}

/* clang-format on */

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pod),
        cmocka_unit_test(test_pod_attach_metadata),
        cmocka_unit_test(test_pod_without_ip),
        cmocka_unit_test(test_pod_minimal_ipv6_sanitise),
        cmocka_unit_test(test_service),
        cmocka_unit_test(test_service_types_and_namespace_meta),
        cmocka_unit_test(test_endpoints),
        cmocka_unit_test(test_endpoints_attach_metadata),
        cmocka_unit_test(test_endpoints_node_target),
        cmocka_unit_test(test_endpointslice),
        cmocka_unit_test(test_endpointslice_portless),
        cmocka_unit_test(test_node),
        cmocka_unit_test(test_node_address_preference),
        cmocka_unit_test(test_ingress),
        cmocka_unit_test(test_sources),
        cmocka_unit_test(test_store),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
