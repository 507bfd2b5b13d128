/* test_discovery_config.c - the discovery mechanisms' configs as pg_cfg_load loads them
 * through the registry (discovery/sd.h): defaults, every field, and Prometheus's
 * validation messages at their positions. (Moved from test_config_load.c with the loaders.) */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"
#include "discovery/consul.h"
#include "discovery/file_sd.h"
#include "discovery/http_sd.h"
#include "discovery/kubernetes/sd_config.h"
#include "discovery/sd.h"
#include "discovery/static.h"
#include "testutil.h"

static struct pg_cfg *load_text(const char *text, struct pg_cfg_errors *errs)
{
    char path[64];
    pg_test_write_temp(text, path);
    struct pg_cfg *c = pg_cfg_load(path, errs);
    unlink(path);
    return c;
}

/* Loads text, which must fail with exactly one error containing want at line:col. */
static void expect_one_error(const char *text, int line, int col, const char *want)
{
    struct pg_cfg_errors errs;
    pg_cfg_errors_init(&errs);
    struct pg_cfg *c = load_text(text, &errs);
    if (errs.n != 1 || !strstr(errs.v[0].msg, want))
        pg_cfg_errors_print(&errs, stderr);
    assert_null(c);
    assert_int_equal(errs.n, 1);
    assert_non_null(strstr(errs.v[0].msg, want));
    assert_int_equal(errs.v[0].line, line);
    assert_int_equal(errs.v[0].col, col);
    pg_cfg_errors_reset(&errs);
}

static void test_sd_defaults(void **state)
{
    (void)state;
    struct pg_cfg_errors errs;
    pg_cfg_errors_init(&errs);
    struct pg_cfg *c = load_text("scrape_configs:\n"
                                 "  - job_name: a\n"
                                 "    http_sd_configs: [{url: 'http://sd.local/targets'}]\n"
                                 "    consul_sd_configs: [{}]\n"
                                 "    kubernetes_sd_configs: [{role: pod}]\n",
                                 &errs);
    pg_cfg_errors_print(&errs, stderr);
    assert_non_null(c);
    const struct pg_cfg_scrape *s = &c->scrape[0];
    assert_int_equal(pg_cfg_sd_count(s, &pg_sd_http), 1);
    const struct pg_cfg_http_sd *h = pg_cfg_sd_get(s, &pg_sd_http, 0);
    assert_string_equal(h->url, "http://sd.local/targets");
    assert_int_equal(h->refresh_interval_ms, 60000);
    assert_true(h->http.follow_redirects);
    assert_int_equal(h->line, 3);
    assert_int_equal(pg_cfg_sd_count(s, &pg_sd_consul), 1);
    const struct pg_cfg_consul_sd *co = pg_cfg_sd_get(s, &pg_sd_consul, 0);
    assert_string_equal(co->server, "localhost:8500");
    assert_string_equal(co->path_prefix, "");
    assert_string_equal(co->scheme, "http");
    assert_string_equal(co->tag_separator, ",");
    assert_true(co->allow_stale);
    assert_int_equal(co->refresh_interval_ms, 30000);
    assert_null(co->token);
    assert_null(co->datacenter);
    assert_null(co->namespace_);
    assert_null(co->partition);
    assert_null(co->filter);
    assert_null(co->health_filter);
    assert_int_equal(co->n_services, 0);
    assert_int_equal(co->n_tags, 0);
    assert_int_equal(co->node_meta.n, 0);
    assert_int_equal(pg_cfg_sd_count(s, &pg_sd_kubernetes), 1);
    const struct pg_cfg_kube_sd *k = pg_cfg_sd_get(s, &pg_sd_kubernetes, 0);
    assert_int_equal(k->role, PG_CFG_KUBE_POD);
    assert_null(k->api_server);
    assert_null(k->kubeconfig_file);
    assert_false(k->own_namespace);
    assert_int_equal(k->n_namespaces, 0);
    assert_int_equal(k->n_selectors, 0);
    assert_false(k->attach_node);
    assert_false(k->attach_namespace);
    pg_cfg_free(c);
    pg_cfg_errors_reset(&errs);
}

static void test_sd_full(void **state)
{
    (void)state;
    FILE *f = fopen("/tmp/pg_cfg_test_sd_token", "w");
    fputs("tok-from-file\n", f);
    fclose(f);
    setenv("PG_TEST_CONSUL_TOKEN", "tok-env", 1);
    struct pg_cfg_errors errs;
    pg_cfg_errors_init(&errs);
    struct pg_cfg *c =
        load_text("scrape_configs:\n"
                  "  - job_name: a\n"
                  "    http_sd_configs:\n"
                  "      - url: https://sd.local/t\n"
                  "        refresh_interval: 10s\n"
                  "        basic_auth: {username: u, password: p}\n"
                  "        tls_config: {insecure_skip_verify: true}\n"
                  "        follow_redirects: false\n"
                  "    consul_sd_configs:\n"
                  "      - server: consul:8501\n"
                  "        path_prefix: /consul\n"
                  "        token: \"${PG_TEST_CONSUL_TOKEN}\"\n"
                  "        datacenter: dc2\n"
                  "        namespace: ns\n"
                  "        partition: part\n"
                  "        scheme: https\n"
                  "        services: [api, web]\n"
                  "        tags: [prod]\n"
                  "        node_meta: {rack: r1}\n"
                  "        tag_separator: ';'\n"
                  "        allow_stale: false\n"
                  "        refresh_interval: 1m\n"
                  "        filter: 'Service.Tags contains \"x\"'\n"
                  "        health_filter: 'Checks.Status == \"passing\"'\n"
                  "      - token_file: /tmp/pg_cfg_test_sd_token\n"
                  "        username: cu\n"
                  "        password: cp\n"
                  "    kubernetes_sd_configs:\n"
                  "      - role: endpoints\n"
                  "        api_server: https://k8s.local:6443\n"
                  "        authorization: {credentials: kt}\n"
                  "        namespaces: {names: [default, prod]}\n"
                  "        selectors:\n"
                  "          - {role: pod, label: 'app=api', field: 'spec.nodeName=n1'}\n"
                  "          - {role: endpoints, label: 'tier in (web)'}\n"
                  "        attach_metadata: {node: true, namespace: true}\n"
                  "      - role: node\n"
                  "        kubeconfig_file: /etc/kube/config\n"
                  "      - role: ingress\n"
                  "        namespaces: {own_namespace: true}\n",
                  &errs);
    pg_cfg_errors_print(&errs, stderr);
    assert_non_null(c);
    const struct pg_cfg_scrape *s = &c->scrape[0];
    const struct pg_cfg_http_sd *h = pg_cfg_sd_get(s, &pg_sd_http, 0);
    assert_int_equal(h->refresh_interval_ms, 10000);
    assert_string_equal(h->http.basic_auth_username, "u");
    assert_string_equal(h->http.basic_auth_password, "p");
    assert_true(h->http.tls.insecure_skip_verify);
    assert_false(h->http.follow_redirects);

    assert_int_equal(pg_cfg_sd_count(s, &pg_sd_consul), 2);
    const struct pg_cfg_consul_sd *co = pg_cfg_sd_get(s, &pg_sd_consul, 0);
    assert_string_equal(co->server, "consul:8501");
    assert_string_equal(co->path_prefix, "/consul");
    assert_string_equal(co->token, "tok-env");
    assert_string_equal(co->datacenter, "dc2");
    assert_string_equal(co->namespace_, "ns");
    assert_string_equal(co->partition, "part");
    assert_string_equal(co->scheme, "https");
    assert_int_equal(co->n_services, 2);
    assert_string_equal(co->services[1], "web");
    assert_int_equal(co->n_tags, 1);
    assert_string_equal(co->tags[0], "prod");
    assert_string_equal(pg_labels_get(&co->node_meta, "rack"), "r1");
    assert_string_equal(co->tag_separator, ";");
    assert_false(co->allow_stale);
    assert_int_equal(co->refresh_interval_ms, 60000);
    assert_string_equal(co->filter, "Service.Tags contains \"x\"");
    assert_string_equal(co->health_filter, "Checks.Status == \"passing\"");
    co = pg_cfg_sd_get(s, &pg_sd_consul, 1);
    assert_string_equal(co->token, "tok-from-file");
    assert_string_equal(co->http.basic_auth_username, "cu"); /* deprecated fields folded */
    assert_string_equal(co->http.basic_auth_password, "cp");

    assert_int_equal(pg_cfg_sd_count(s, &pg_sd_kubernetes), 3);
    const struct pg_cfg_kube_sd *k = pg_cfg_sd_get(s, &pg_sd_kubernetes, 0);
    assert_int_equal(k->role, PG_CFG_KUBE_ENDPOINTS);
    assert_string_equal(k->api_server, "https://k8s.local:6443");
    assert_string_equal(k->http.auth_type, "Bearer");
    assert_string_equal(k->http.auth_credentials, "kt");
    assert_int_equal(k->n_namespaces, 2);
    assert_string_equal(k->namespaces[1], "prod");
    assert_int_equal(k->n_selectors, 2);
    assert_int_equal(k->selectors[0].role, PG_CFG_KUBE_POD);
    assert_string_equal(k->selectors[0].label, "app=api");
    assert_string_equal(k->selectors[0].field, "spec.nodeName=n1");
    assert_int_equal(k->selectors[1].role, PG_CFG_KUBE_ENDPOINTS);
    assert_null(k->selectors[1].field);
    assert_true(k->attach_node);
    assert_true(k->attach_namespace);
    const struct pg_cfg_kube_sd *k1 = pg_cfg_sd_get(s, &pg_sd_kubernetes, 1);
    const struct pg_cfg_kube_sd *k2 = pg_cfg_sd_get(s, &pg_sd_kubernetes, 2);
    assert_int_equal(k1->role, PG_CFG_KUBE_NODE);
    assert_string_equal(k1->kubeconfig_file, "/etc/kube/config");
    assert_int_equal(k2->role, PG_CFG_KUBE_INGRESS);
    assert_true(k2->own_namespace);
    pg_cfg_free(c);
    pg_cfg_errors_reset(&errs);
    unlink("/tmp/pg_cfg_test_sd_token");
}

static void test_sd_errors(void **state)
{
    (void)state;
    expect_one_error("scrape_configs:\n  - job_name: a\n    http_sd_configs: [{url: "
                     "'ftp://x/y'}]\n",
                     3, 29, "URL scheme must be 'http' or 'https'");
    expect_one_error(
        "scrape_configs:\n  - job_name: a\n    http_sd_configs: [{url: 'http:///y'}]\n", 3, 29,
        "host is missing in URL");
    expect_one_error("scrape_configs:\n  - job_name: a\n    http_sd_configs: [{url: "
                     "'http://x', refresh_interval: 0s}]\n",
                     3, 59, "refresh_interval must be greater than 0");
    expect_one_error("scrape_configs:\n  - job_name: a\n    consul_sd_configs: [{server: ' '}]\n",
                     3, 34, "consul SD configuration requires a server address");
    expect_one_error("scrape_configs:\n  - job_name: a\n    kubernetes_sd_configs:\n"
                     "      - role: pod\n        selectors: [{role: node}]\n",
                     5, 28, "pod role supports only pod selectors");
    expect_one_error("scrape_configs:\n  - job_name: a\n    kubernetes_sd_configs:\n"
                     "      - role: endpoints\n        selectors: [{role: pod}, {role: pod}]\n",
                     5, 41, "duplicated selector role: pod");
    expect_one_error("scrape_configs:\n  - job_name: a\n    kubernetes_sd_configs:\n"
                     "      - role: pod\n        namespaces: {bogus: 1}\n",
                     5, 22, "field bogus not found in type kubernetes.NamespaceDiscovery");
    expect_one_error("scrape_configs:\n  - job_name: a\n    kubernetes_sd_configs:\n"
                     "      - role: pod\n        selectors: [{role: pod, label: 'a in (x,)y'}]\n",
                     5, 40, "invalid label selector");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sd_defaults),
        cmocka_unit_test(test_sd_full),
        cmocka_unit_test(test_sd_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
