/* test_core_httpproxy.c - the proxy choice of core/httpproxy.c against Go's httpproxy
 * rules: NO_PROXY entries (domains with and without a leading dot or "*.", IPs, CIDRs,
 * ports, "*"), the loopback exception, the scheme's proxy from the environment, and that
 * nothing is proxied without proxy_url or proxy_from_environment even when http_proxy is
 * set. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "core/httpproxy.h"

static void test_no_proxy_matching(void **state)
{
    (void)state;
    static const struct {
        const char *no_proxy, *host, *port;
        int use;
    } c[] = {
        {NULL, "example.com", "80", 1},
        {"", "example.com", "80", 1},
        {NULL, "localhost", "80", 0},
        {NULL, "127.0.0.1", "80", 0},
        {NULL, "127.1.2.3", "80", 0},
        {NULL, "::1", "443", 0},
        {"*", "example.com", "80", 0},
        {"example.com", "example.com", "80", 0},
        {"example.com", "api.example.com", "80", 0},
        {"example.com", "badexample.com", "80", 1},
        {".example.com", "example.com", "80", 1},
        {".example.com", "api.example.com", "80", 0},
        {"*.example.com", "api.example.com", "80", 0},
        {"*.example.com", "example.com", "80", 1},
        {"example.com:8080", "example.com", "80", 1},
        {"example.com:8080", "example.com", "8080", 0},
        {" other.org , EXAMPLE.com ", "example.com", "80", 0},
        {"10.0.0.0/8", "10.1.2.3", "80", 0},
        {"10.0.0.0/8", "11.1.2.3", "80", 1},
        {"10.0.0.0/8", "ten.example", "80", 1},
        {"192.168.1.10", "192.168.1.10", "80", 0},
        {"192.168.1.10", "192.168.1.11", "80", 1},
        {"2001:db8::/32", "2001:db8::1", "443", 0},
        {"[2001:db8::1]:443", "2001:db8::1", "443", 0},
        {"[2001:db8::1]:443", "2001:db8::1", "80", 1},
    };
    for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
        int got = pg_httpproxy_use(c[i].no_proxy, c[i].host, c[i].port);
        if (got != c[i].use)
            fail_msg("case %zu: no_proxy \"%s\" host %s:%s: got %d want %d", i,
                     c[i].no_proxy ? c[i].no_proxy : "(null)", c[i].host, c[i].port, got, c[i].use);
    }
}

static void test_choice(void **state)
{
    (void)state;
    char out[256];
    setenv("http_proxy", "http://envproxy:3128", 1);
    setenv("HTTPS_PROXY", "http://secureproxy:3129", 1);
    setenv("NO_PROXY", "internal.example", 1);
    /* nothing configured: direct, whatever the environment says */
    struct pg_httpc_proxy p = {0};
    assert_int_equal(pg_httpproxy_for(&p, "http://example.com/x", out, sizeof(out)), 0);
    assert_string_equal(out, "");
    assert_int_equal(pg_httpproxy_for(NULL, "http://example.com/x", out, sizeof(out)), 0);
    assert_string_equal(out, "");
    /* proxy_url alone: everything, loopback too (Go's http.ProxyURL) */
    p.url = "http://p:1";
    assert_int_equal(pg_httpproxy_for(&p, "http://127.0.0.1:9/x", out, sizeof(out)), 0);
    assert_string_equal(out, "http://p:1");
    /* proxy_url with no_proxy: the matcher, for both schemes */
    p.no_proxy = "skip.example";
    assert_int_equal(pg_httpproxy_for(&p, "https://a.skip.example/x", out, sizeof(out)), 0);
    assert_string_equal(out, "");
    assert_int_equal(pg_httpproxy_for(&p, "https://other.example/x", out, sizeof(out)), 0);
    assert_string_equal(out, "http://p:1");
    /* from the environment: the scheme's variable, NO_PROXY */
    struct pg_httpc_proxy e = {.from_environment = 1};
    assert_int_equal(pg_httpproxy_for(&e, "http://example.com/x", out, sizeof(out)), 0);
    assert_string_equal(out, "http://envproxy:3128");
    assert_int_equal(pg_httpproxy_for(&e, "https://example.com/x", out, sizeof(out)), 0);
    assert_string_equal(out, "http://secureproxy:3129");
    assert_int_equal(pg_httpproxy_for(&e, "http://internal.example/x", out, sizeof(out)), 0);
    assert_string_equal(out, "");
    assert_int_equal(pg_httpproxy_for(&e, "http://localhost:8080/x", out, sizeof(out)), 0);
    assert_string_equal(out, "");
    unsetenv("http_proxy");
    assert_int_equal(pg_httpproxy_for(&e, "http://example.com/x", out, sizeof(out)), 0);
    assert_string_equal(out, "");
    unsetenv("HTTPS_PROXY");
    unsetenv("NO_PROXY");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_proxy_matching),
        cmocka_unit_test(test_choice),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
