/* test_yamlcfg_http.c - the shared HTTP client options loader (yamlcfg/http.c): every
 * field read into struct pg_httpc_cfg with Prometheus's defaults (enable_http2 and
 * follow_redirects true, remote_write's HTTP/2 off), and bad combinations reported with
 * Prometheus's messages at file:line:col. The bad-config corpus
 * (tests/data/bad_configs/hc_*.yml) covers the rest through `profgate check`. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "yamlcfg/load.h"

struct doc {
    struct pg_yaml y;
    struct pg_cfg_errors errs;
    struct pg_cfg_ld l;
    struct pg_httpc_cfg h;
};

/* Loads text and reads the HTTP options of its root mapping. */
static void load(struct doc *d, const char *text, int with_headers, int http2)
{
    pg_cfg_errors_init(&d->errs);
    assert_int_equal(pg_yaml_load_string(&d->y, "t.yml", text, strlen(text), &d->errs), 0);
    d->l = (struct pg_cfg_ld){&d->y, &d->errs};
    pg_cfg_load_http_dflt(&d->l, pg_yaml_root(&d->y), &d->h, with_headers, http2);
}

static void done(struct doc *d)
{
    pg_cfg_http_free(&d->h);
    pg_yaml_free(&d->y);
    pg_cfg_errors_reset(&d->errs);
}

static void test_defaults(void **state)
{
    (void)state;
    struct doc d;
    load(&d, "{}\n", 0, 1);
    assert_int_equal(d.errs.n, 0);
    assert_int_equal(d.h.follow_redirects, 1);
    assert_int_equal(d.h.enable_http2, 1);
    assert_null(d.h.oauth2);
    assert_int_equal(pg_cfg_http_is_custom(&d.h), 0);
    done(&d);
    load(&d, "{}\n", 1, 0); /* remote_write */
    assert_int_equal(d.h.enable_http2, 0);
    done(&d);
    load(&d, "enable_http2: false\nfollow_redirects: false\n", 0, 1);
    assert_int_equal(d.h.enable_http2, 0);
    assert_int_equal(d.h.follow_redirects, 0);
    assert_int_equal(pg_cfg_http_is_custom(&d.h), 1);
    done(&d);
}

static void test_oauth2(void **state)
{
    (void)state;
    char path[] = "/tmp/pg_test_oauth2_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "from-file\n", 10), 10);
    close(fd);
    char text[1024];
    snprintf(text, sizeof(text),
             "oauth2:\n"
             "  client_id: profgate\n"
             "  client_secret_file: %s\n"
             "  token_url: https://auth.example.com/token\n"
             "  scopes: [read, write]\n"
             "  endpoint_params: {audience: pyroscope}\n"
             "  tls_config: {insecure_skip_verify: true, min_version: TLS13}\n"
             "  proxy_url: http://proxy:3128\n"
             "  no_proxy: auth.internal\n",
             path);
    struct doc d;
    load(&d, text, 0, 1);
    assert_int_equal(d.errs.n, 0);
    const struct pg_httpc_oauth2 *o = d.h.oauth2;
    assert_non_null(o);
    assert_string_equal(o->client_id, "profgate");
    assert_null(o->client_secret); /* the file is read at every fetch */
    assert_string_equal(o->client_secret_file, path);
    assert_string_equal(o->token_url, "https://auth.example.com/token");
    assert_int_equal(o->n_scopes, 2);
    assert_string_equal(o->scopes[1], "write");
    assert_string_equal(pg_labels_get(&o->endpoint_params, "audience"), "pyroscope");
    assert_int_equal(o->tls.insecure_skip_verify, 1);
    assert_int_equal(o->tls.min_version, PG_HTTPC_TLS13);
    assert_string_equal(o->proxy.url, "http://proxy:3128");
    assert_string_equal(o->proxy.no_proxy, "auth.internal");
    /* a copy (what a waiting request keeps) is equal and hashes equal */
    struct pg_httpc_cfg other = {.follow_redirects = 1, .enable_http2 = 1};
    other.oauth2 = pg_httpc_oauth2_dup(o);
    assert_non_null(other.oauth2);
    assert_int_equal(pg_httpc_cfg_equal(&d.h, &other), 1);
    assert_true(pg_httpc_cfg_hash(&d.h) == pg_httpc_cfg_hash(&other));
    free(other.oauth2->scopes[0]);
    other.oauth2->scopes[0] = strdup("admin");
    assert_int_equal(pg_httpc_cfg_equal(&d.h, &other), 0);
    assert_true(pg_httpc_cfg_hash(&d.h) != pg_httpc_cfg_hash(&other));
    pg_httpc_cfg_free(&other);
    done(&d);
    unlink(path);
}

static void test_headers_proxy_tls(void **state)
{
    (void)state;
    struct doc d;
    load(&d,
         "http_headers:\n"
         "  X-Scope-OrgID: {values: [team-a, team-b], secrets: [s3cr3t]}\n"
         "  X-From-File: {files: [/etc/hostname]}\n"
         "proxy_from_environment: true\n"
         "proxy_connect_header:\n"
         "  Proxy-Authorization: [Basic abc]\n"
         "tls_config:\n"
         "  ca: |\n"
         "    -----BEGIN CERTIFICATE-----\n"
         "    MIIB\n"
         "    -----END CERTIFICATE-----\n"
         "  cert_file: /c.pem\n"
         "  key_file: /k.pem\n"
         "  max_version: TLS12\n"
         "basic_auth: {username_file: /etc/hostname, password_file: /etc/hostname}\n",
         0, 1);
    assert_int_equal(d.errs.n, 0);
    assert_int_equal(d.h.n_http_headers, 2);
    const struct pg_httpc_header *x = &d.h.http_headers[0];
    assert_string_equal(x->name, "X-Scope-OrgID");
    assert_int_equal(x->n_values, 2);
    assert_int_equal(x->n_secrets, 1);
    assert_string_equal(x->secrets[0], "s3cr3t");
    assert_string_equal(d.h.http_headers[1].files[0], "/etc/hostname");
    assert_int_equal(d.h.proxy.from_environment, 1);
    assert_int_equal(d.h.proxy.n_connect_headers, 1);
    assert_string_equal(d.h.proxy.connect_headers[0], "Proxy-Authorization: Basic abc");
    assert_non_null(strstr(d.h.tls.ca, "BEGIN CERTIFICATE"));
    assert_int_equal(d.h.tls.max_version, PG_HTTPC_TLS12);
    assert_string_equal(d.h.basic_auth_username_file, "/etc/hostname");
    assert_string_equal(d.h.basic_auth_password_file, "/etc/hostname");
    done(&d);
}

/* Relative file names are the config file's directory's (Prometheus's SetDirectory). */
static void test_relative_paths(void **state)
{
    (void)state;
    static const char text[] =
        "tls_config: {ca_file: ca.pem, cert_file: /abs/c.pem, key_file: k.pem}\n"
        "http_headers: {X-A: {files: [tenant]}}\n"
        "oauth2: {client_id: c, token_url: http://a/t,\n"
        "         tls_config: {ca_file: sub/ca.pem}}\n";
    struct doc d;
    pg_cfg_errors_init(&d.errs);
    assert_int_equal(pg_yaml_load_string(&d.y, "/etc/pg/t.yml", text, strlen(text), &d.errs), 0);
    d.l = (struct pg_cfg_ld){&d.y, &d.errs};
    pg_cfg_load_http(&d.l, pg_yaml_root(&d.y), &d.h, 0);
    assert_int_equal(d.errs.n, 0);
    assert_string_equal(d.h.tls.ca_file, "/etc/pg/ca.pem");
    assert_string_equal(d.h.tls.cert_file, "/abs/c.pem");
    assert_string_equal(d.h.tls.key_file, "/etc/pg/k.pem");
    assert_string_equal(d.h.http_headers[0].files[0], "/etc/pg/tenant");
    assert_string_equal(d.h.oauth2->tls.ca_file, "/etc/pg/sub/ca.pem");
    done(&d);
}

/* Every message is Prometheus's, at the offending key's value. */
static void test_bad(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        int line, col;
        const char *msg;
    } cases[] = {
        {"oauth2: {token_url: http://a/t}\n", 1, 9, "oauth2 client_id must be configured"},
        {"oauth2: {client_id: c, token_url: ftp://a/t}\n", 1, 35,
         "oauth2 token_url \"ftp://a/t\" must be an http or https URL"},
        {"authorization: {credentials: x}\noauth2: {client_id: c, token_url: http://a/t}\n", 1, 16,
         "at most one of basic_auth, oauth2 & authorization must be configured"},
        {"tls_config: {min_version: TLS9}\n", 1, 27, "unknown TLS version: TLS9"},
        {"tls_config: {key_file: /k}\n", 1, 13,
         "exactly one of cert or cert_file must be configured when a client key is configured"},
        {"http_headers: {User-Agent: {values: [x]}}\n", 1, 16,
         "setting header \"User-Agent\" is not allowed"},
        {"http_headers: {\"Bad Name\": {values: [x]}}\n", 1, 16,
         "invalid header name \"Bad Name\""},
        {"http_headers: {X-A: {values: [\"a\\r\\nb\"]}}\n", 1, 30,
         "values: a header value must not contain a line break"},
        {"http_headers: {X-A: {values: [a]}, x-a: {values: [b]}}\n", 1, 36,
         "http_headers: duplicate header \"x-a\""},
        {"proxy_url: http://p:1\nno_proxy: a\nproxy_from_environment: true\n", 1, 12,
         "if proxy_from_environment is configured, proxy_url must not be configured"},
        {"proxy_connect_header: {X-A: x}\nproxy_url: http://p:1\n", 1, 29,
         "proxy_connect_header: X-A: expected a list"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct doc d;
        load(&d, cases[i].text, 0, 1);
        int hit = 0;
        for (size_t k = 0; k < d.errs.n; k++)
            hit |= d.errs.v[k].line == cases[i].line && d.errs.v[k].col == cases[i].col &&
                   strcmp(d.errs.v[k].msg, cases[i].msg) == 0;
        if (!hit) {
            fprintf(stderr, "case %zu: want %d:%d: %s; got %zu error(s):\n", i, cases[i].line,
                    cases[i].col, cases[i].msg, d.errs.n);
            for (size_t k = 0; k < d.errs.n; k++)
                fprintf(stderr, "  %d:%d: %s\n", d.errs.v[k].line, d.errs.v[k].col,
                        d.errs.v[k].msg);
        }
        assert_true(hit);
        done(&d);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_oauth2),
        cmocka_unit_test(test_headers_proxy_tls),
        cmocka_unit_test(test_relative_paths),
        cmocka_unit_test(test_bad),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
