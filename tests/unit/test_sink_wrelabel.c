/* test_sink_wrelabel.c - unit tests for sink/wrelabel: a backend's write_relabel_configs
 * on the labels as sent (external labels visible), drops compacted out, the __tenant_id__
 * label turned into the profile's tenant (never left as a label), invalid tenant ids, and
 * the dskit tenant rules. Rules are loaded from YAML with pg_cfg_load. */
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
#include "core/labels.h"
#include "sink/backend.h"
#include "sink/wrelabel.h"
#include "testcfg.h"
#include "core/tenant.h"

/* Fills item i with labels "k=v,k=v" (a NULL tenant), id i + 1. */
static void item(struct pg_buf_item *it, int64_t id, const char *ls, const char *tenant)
{
    memset(it, 0, sizeof(*it));
    pg_labels_init(&it->labels);
    it->id = id;
    it->tenant = tenant ? strdup(tenant) : NULL;
    it->body = malloc(1);
    it->len = 1;
    char *dup = strdup(ls), *save = NULL;
    for (char *kv = strtok_r(dup, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(kv, '=');
        *eq = '\0';
        pg_labels_set(&it->labels, kv, eq + 1);
    }
    free(dup);
}

static void free_items(struct pg_buf_item *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        pg_labels_reset(&v[i].labels);
        free(v[i].name);
        free(v[i].tenant);
        free(v[i].body);
    }
}

static void test_write_relabel(void **state)
{
    (void)state;
    struct pg_cfg *c =
        pg_test_load_cfg("global:\n"
                         "  external_labels: {region: eu}\n"
                         "remote_write:\n"
                         "  - url: http://a\n"
                         "    external_labels: {cluster: c1}\n"
                         "    write_relabel_configs:\n"
                         "      - {source_labels: [__name__], regex: block, "
                         "action: drop}\n"
                         "      - {action: labeldrop, regex: pod}\n"
                         "      - {source_labels: [cluster, region], separator: '-', "
                         "target_label: where}\n"
                         "  - url: http://b\n");
    struct pg_buf_item v[4];
    item(&v[0], 1, "__name__=process_cpu,service_name=s,pod=p1", NULL);
    item(&v[1], 2, "__name__=block,service_name=s,pod=p1", NULL);
    item(&v[2], 3, "__name__=memory,service_name=s,pod=p2,__tenant_id__=team-a", "rx");
    item(&v[3], 4, "__name__=mutex,service_name=s,__tenant_id__=bad/tenant", NULL);
    struct pg_sink_wrelabel_stats st;
    size_t n = pg_sink_wrelabel(&c->remote[0], &c->external_labels, v, 4, &st);
    assert_int_equal(n, 2);
    assert_int_equal(st.dropped, 1);
    assert_int_equal(st.bad_tenant, 1);
    assert_string_equal(st.tenant, "bad/tenant");
    assert_int_equal(v[0].id, 1);
    assert_int_equal(v[1].id, 3);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(v[i].labels_final, 1);
        assert_null(pg_labels_get(&v[i].labels, "pod"));
        assert_string_equal(pg_labels_get(&v[i].labels, "where"), "c1-eu");
        assert_null(pg_labels_get(&v[i].labels, "__tenant_id__"));
    }
    assert_null(v[0].tenant);
    assert_int_equal(v[0].tenant_from_label, 0);
    assert_string_equal(v[1].tenant, "team-a"); /* the label wins over the receiver's */
    assert_int_equal(v[1].tenant_from_label, 1);
    free_items(v, n);

    /* the other backend: no rules, the labels stay as stored (the encoder merges) */
    item(&v[0], 1, "__name__=block,service_name=s,pod=p1,__tenant_id__=", "rx");
    n = pg_sink_wrelabel(&c->remote[1], &c->external_labels, v, 1, &st);
    assert_int_equal(n, 1);
    assert_int_equal(v[0].labels_final, 0);
    assert_string_equal(pg_labels_get(&v[0].labels, "pod"), "p1");
    assert_null(pg_labels_get(&v[0].labels, "__tenant_id__")); /* empty: just removed */
    assert_string_equal(v[0].tenant, "rx");
    assert_int_equal(v[0].tenant_from_label, 0);
    /* what the backend then sends: merged, no __tenant_id__ */
    struct pg_labels sent;
    pg_labels_init(&sent);
    assert_int_equal(pg_sink_series_labels(&v[0].labels, &c->external_labels,
                                           &c->remote[1].external_labels, &sent),
                     0);
    assert_string_equal(pg_labels_get(&sent, "region"), "eu");
    pg_labels_reset(&sent);
    free_items(v, 1);
    pg_cfg_free(c);
}

static void test_tenant_valid(void **state)
{
    (void)state;
    assert_true(pg_tenant_valid("team-a"));
    assert_true(pg_tenant_valid("A.b_c!*'()"));
    assert_false(pg_tenant_valid(""));
    assert_false(pg_tenant_valid("."));
    assert_false(pg_tenant_valid(".."));
    assert_false(pg_tenant_valid("a b"));
    assert_false(pg_tenant_valid("a\r\nX-Evil: 1"));
    char long_id[152];
    memset(long_id, 'a', 151);
    long_id[151] = '\0';
    assert_false(pg_tenant_valid(long_id));
    long_id[150] = '\0';
    assert_true(pg_tenant_valid(long_id));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_write_relabel),
        cmocka_unit_test(test_tenant_valid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
