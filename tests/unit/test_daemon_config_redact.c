/* test_daemon_config_redact.c - the /config page's redaction (daemon/config_redact.c): every
 * kind of secret in a config (basic_auth and receiver passwords, authorization credentials,
 * tokens, header values, a secret reached through a YAML alias, URL passwords) is replaced
 * by <secret>, non-secrets and *_file paths are kept, and the output is YAML that loads
 * back with the same shape. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "daemon/config_redact.h"
#include "yamlcfg/yaml.h"

static const char CFG[] = "global:\n"
                          "  scrape_interval: 15s\n"
                          "  external_labels: {cluster: \"prod-1\"}\n"
                          "scrape_configs:\n"
                          "  - job_name: app\n"
                          "    basic_auth: {username: scraper, password: hunter2-pw}\n"
                          "    static_configs:\n"
                          "      - targets: ['localhost:6060']\n"
                          "        labels: {team: a}\n"
                          "    relabel_configs:\n"
                          "      - source_labels: [__address__]\n"
                          "        regex: 'x.*'\n"
                          "        action: drop\n"
                          "remote_write:\n"
                          "  - name: one\n"
                          "    url: https://alice:url-pass-42@pyro.example:4040/base\n"
                          "    authorization:\n"
                          "      type: Bearer\n"
                          "      credentials: bearer-tok-99\n"
                          "    headers:\n"
                          "      X-Scope-OrgID: tenant-secret-hdr\n"
                          "    proxy_url: http://proxy:3128\n"
                          "    proxy_connect_header:\n"
                          "      Proxy-Authorization: [\"Basic cHJveHktc2VjcmV0\"]\n"
                          "  - name: two\n"
                          "    url: \"http://pyro2:4040\"\n"
                          "    basic_auth:\n"
                          "      username: bob\n"
                          "      password_file: /etc/profgate/pw\n"
                          "consul_like:\n"
                          "  token: &tok consul-token-7\n"
                          "  again: *tok\n"
                          "  client_secret: |\n"
                          "    multi-line-secret\n"
                          "  http_headers:\n"
                          "    Authorization: {secrets: [\"Bearer hdr-secret-3\"]}\n"
                          "receiver:\n"
                          "  basic_auth:\n"
                          "    - {username: sdk, password: \"rx pass\\\"quoted\"}\n"
                          "  bearer_tokens_file: /etc/profgate/tokens\n"
                          "empty_password: \"\"\n"
                          "typed: {a: \"true\", b: \"8080\", c: \"-x\", d: plain}\n";

static void test_redacts_everything(void **state)
{
    (void)state;
    char err[256] = "";
    char *s = pg_config_redact_text("t.yml", CFG, strlen(CFG), err, sizeof(err));
    assert_non_null(s);
    static const char *const secrets[] = {
        "hunter2-pw", "url-pass-42",  "bearer-tok-99", "tenant-secret-hdr", "consul-token-7",
        "multi-line", "hdr-secret-3", "rx pass",       "cHJveHktc2VjcmV0",  NULL};
    for (size_t i = 0; secrets[i]; i++)
        if (strstr(s, secrets[i]))
            fail_msg("secret %s leaked:\n%s", secrets[i], s);
    static const char *const kept[] = {"scrape_interval: 15s",
                                       "username: scraper",
                                       "password: <secret>",
                                       "credentials: <secret>",
                                       "type: Bearer",
                                       "\"https://alice:<secret>@pyro.example:4040/base\"",
                                       "password_file: /etc/profgate/pw",
                                       "bearer_tokens_file: /etc/profgate/tokens",
                                       "X-Scope-OrgID: <secret>",
                                       "regex: \"x.*\"",
                                       "job_name: app",
                                       "- localhost:6060",
                                       "  - job_name: app",
                                       "empty_password: \"\"",
                                       "a: \"true\"",
                                       "b: \"8080\"",
                                       "c: \"-x\"",
                                       "d: plain",
                                       "cluster: prod-1",
                                       NULL};
    for (size_t i = 0; kept[i]; i++)
        if (!strstr(s, kept[i]))
            fail_msg("missing %s in:\n%s", kept[i], s);
    /* the output is YAML again, with the same shape */
    struct pg_yaml y = {0};
    struct pg_cfg_errors errs;
    pg_cfg_errors_init(&errs);
    assert_int_equal(pg_yaml_load_string(&y, "out", s, strlen(s), &errs), 0);
    yaml_node_t *rw = pg_yaml_get(&y, pg_yaml_root(&y), "remote_write");
    assert_non_null(rw);
    assert_int_equal(rw->type, YAML_SEQUENCE_NODE);
    assert_int_equal(rw->data.sequence.items.top - rw->data.sequence.items.start, 2);
    pg_yaml_free(&y);
    pg_cfg_errors_reset(&errs);
    free(s);
}

static void test_keys_and_urls(void **state)
{
    (void)state;
    assert_true(pg_config_redact_is_secret_key("password"));
    assert_true(pg_config_redact_is_secret_key("bearer_token"));
    assert_true(pg_config_redact_is_secret_key("client_secret"));
    assert_true(pg_config_redact_is_secret_key("Auth-Token"));
    assert_false(pg_config_redact_is_secret_key("password_file"));
    assert_false(pg_config_redact_is_secret_key("username"));
    assert_false(pg_config_redact_is_secret_key("url"));
    char out[128];
    pg_config_redact_url("http://u:p@h:1/x?y=@", out, sizeof(out));
    assert_string_equal(out, "http://u:<secret>@h:1/x?y=@");
    pg_config_redact_url("http://u@h/", out, sizeof(out));
    assert_string_equal(out, "http://u@h/");
    pg_config_redact_url("http://h/a@b", out, sizeof(out));
    assert_string_equal(out, "http://h/a@b");
}

static void test_bad_yaml(void **state)
{
    (void)state;
    char err[256] = "";
    assert_null(pg_config_redact_text("bad.yml", "a: [\n", 5, err, sizeof(err)));
    assert_non_null(strstr(err, "bad.yml"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_redacts_everything),
        cmocka_unit_test(test_keys_and_urls),
        cmocka_unit_test(test_bad_yaml),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
