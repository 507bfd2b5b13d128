/* test_cluster_members.c - the cluster's pure logic: member states from probe results (down
 * after two consecutive failures, up after one success, self always live), a new member
 * list keeping the state of peers still listed, ownership that every replica computes
 * alike (disjoint and complete over three replicas' views), minimal movement when a peer
 * dies, and peer addresses from discovered groups through relabel_configs. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/members.h"
#include "cluster/peers.h"
#include "core/hrw.h"

#define NKEYS 3000

static char *const PEERS3[] = {"10.0.0.1:4100", "10.0.0.2:4100", "10.0.0.3:4100"};

static struct pg_cluster_member *member(struct pg_cluster_members *m, const char *addr)
{
    for (size_t i = 0; i < m->n; i++)
        if (!strcmp(m->v[i]->address, addr))
            return m->v[i];
    return NULL;
}

static int drops;
static void count_drop(void *ud, struct pg_cluster_member *p)
{
    (void)ud;
    (void)p;
    drops++;
}

static void test_probe_states(void **state)
{
    (void)state;
    struct pg_cluster_members m;
    pg_cluster_members_init(&m);
    /* self is listed (once) even when discovery lists it too, and is live from the start */
    /* the first list: the live set goes from nothing to self */
    assert_int_equal(pg_cluster_members_set(&m, PEERS3[0], PEERS3, 3, NULL, NULL), 1);
    assert_int_equal(m.n, 3);
    assert_int_equal(m.n_live, 1);
    struct pg_cluster_member *p = member(&m, PEERS3[1]);
    assert_string_equal(pg_cluster_member_state_name(p), "unknown");
    assert_string_equal(pg_cluster_member_state_name(member(&m, PEERS3[0])), "up");
    /* one success: up */
    assert_int_equal(pg_cluster_member_result(p, 1, NULL, 0.001, 1000), 1);
    assert_int_equal(pg_cluster_members_update_live(&m), 1);
    assert_int_equal(m.n_live, 2);
    /* one failure: still up (no flip), with its error recorded */
    assert_int_equal(pg_cluster_member_result(p, 0, "connection refused", 0.001, 2000), 0);
    assert_string_equal(pg_cluster_member_state_name(p), "up");
    assert_string_equal(p->last_error, "connection refused");
    /* a success in between resets the count */
    assert_int_equal(pg_cluster_member_result(p, 1, NULL, 0.001, 3000), 0);
    assert_null(p->last_error);
    assert_int_equal(pg_cluster_member_result(p, 0, "timeout", 0.001, 4000), 0);
    /* the second consecutive failure: down */
    assert_int_equal(pg_cluster_member_result(p, 0, "timeout", 0.001, 5000), 1);
    assert_string_equal(pg_cluster_member_state_name(p), "down");
    assert_int_equal(p->last_probe_ms, 5000);
    assert_int_equal(pg_cluster_members_update_live(&m), 1);
    assert_int_equal(m.n_live, 1);
    assert_int_equal(pg_cluster_members_update_live(&m), 0); /* no change: no rebalance */
    /* an unknown peer failing twice goes down without ever being live */
    struct pg_cluster_member *q = member(&m, PEERS3[2]);
    assert_int_equal(pg_cluster_member_result(q, 0, "x", 0, 1), 0);
    assert_string_equal(pg_cluster_member_state_name(q), "unknown");
    assert_int_equal(pg_cluster_member_result(q, 0, "x", 0, 2), 0);
    assert_string_equal(pg_cluster_member_state_name(q), "down");
    /* back: one success */
    assert_int_equal(pg_cluster_member_result(p, 1, NULL, 0.001, 6000), 1);
    pg_cluster_members_reset(&m, NULL, NULL);
}

static void test_set_keeps_state(void **state)
{
    (void)state;
    struct pg_cluster_members m;
    pg_cluster_members_init(&m);
    pg_cluster_members_set(&m, PEERS3[0], PEERS3, 3, NULL, NULL);
    struct pg_cluster_member *p2 = member(&m, PEERS3[1]);
    pg_cluster_member_result(p2, 1, NULL, 0, 1);
    pg_cluster_members_update_live(&m);
    /* a reload or a new snapshot that still lists peer 2 (and adds peer 4) keeps its state */
    char *const next[] = {"10.0.0.4:4100", PEERS3[1], PEERS3[1]};
    drops = 0;
    assert_int_equal(pg_cluster_members_set(&m, PEERS3[0], next, 3, count_drop, NULL), 0);
    assert_int_equal(drops, 1); /* peer 3 removed */
    assert_int_equal(m.n, 3);   /* self, 2, 4 (duplicates merged) */
    assert_ptr_equal(member(&m, PEERS3[1]), p2);
    assert_string_equal(pg_cluster_member_state_name(p2), "up");
    assert_null(member(&m, PEERS3[2]));
    assert_string_equal(pg_cluster_member_state_name(member(&m, "10.0.0.4:4100")), "unknown");
    /* removing an up peer changes the live set */
    assert_int_equal(pg_cluster_members_set(&m, PEERS3[0], NULL, 0, count_drop, NULL), 1);
    assert_int_equal(m.n, 1);
    assert_int_equal(m.n_live, 1);
    assert_true(m.v[0]->self);
    /* sorted by address */
    pg_cluster_members_set(&m, "b:1", (char *const[]){"c:1", "a:1"}, 2, NULL, NULL);
    assert_string_equal(m.v[0]->address, "a:1");
    assert_string_equal(m.v[2]->address, "c:1");
    assert_int_equal(pg_cluster_members_self(&m), 1);
    pg_cluster_members_reset(&m, count_drop, NULL);
}

/* Three replicas' views, every peer up. */
static void views(struct pg_cluster_members *v)
{
    for (size_t r = 0; r < 3; r++) {
        pg_cluster_members_init(&v[r]);
        pg_cluster_members_set(&v[r], PEERS3[r], PEERS3, 3, NULL, NULL);
        for (size_t i = 0; i < v[r].n; i++)
            if (!v[r].v[i]->self)
                pg_cluster_member_result(v[r].v[i], 1, NULL, 0, 1);
        pg_cluster_members_update_live(&v[r]);
    }
}

static int owns(const struct pg_cluster_members *m, uint64_t key)
{
    size_t o = pg_cluster_members_owner(m, key);
    return o != (size_t)-1 && m->v[o]->self;
}

static void test_disjoint_cover(void **state)
{
    (void)state;
    struct pg_cluster_members v[3];
    views(v);
    size_t per[3] = {0};
    for (uint64_t k = 0; k < NKEYS; k++) {
        uint64_t key = pg_hrw_member_hash((char[32]){0}) ^ (k * 0x9e3779b97f4a7c15ull);
        int n = 0;
        for (size_t r = 0; r < 3; r++)
            if (owns(&v[r], key)) {
                n++;
                per[r]++;
            }
        assert_int_equal(n, 1); /* exactly one replica owns each key */
    }
    for (size_t r = 0; r < 3; r++)
        assert_true(per[r] > NKEYS / 3 * 8 / 10 && per[r] < NKEYS / 3 * 12 / 10);
    /* replica 1 dies: the others' views mark it down; only its keys move */
    size_t moved = 0;
    for (size_t r = 0; r < 3; r += 2) {
        struct pg_cluster_member *d = member(&v[r], PEERS3[1]);
        pg_cluster_member_result(d, 0, "refused", 0, 2);
        pg_cluster_member_result(d, 0, "refused", 0, 3);
        assert_int_equal(pg_cluster_members_update_live(&v[r]), 1);
    }
    for (uint64_t k = 0; k < NKEYS; k++) {
        uint64_t key = pg_hrw_member_hash((char[32]){0}) ^ (k * 0x9e3779b97f4a7c15ull);
        int o0 = owns(&v[0], key), o2 = owns(&v[2], key);
        assert_int_equal(o0 + o2, 1); /* the survivors cover everything, once */
        uint64_t before[3];
        for (size_t i = 0; i < 3; i++)
            before[i] = pg_hrw_member_hash(PEERS3[i]);
        size_t was = pg_hrw_pick(key, before, 3);
        if (was != 1) /* a survivor's key stays where it was */
            assert_int_equal(o0, was == 0);
        else
            moved++;
    }
    assert_int_equal(moved, per[1]);
    for (size_t r = 0; r < 3; r++)
        pg_cluster_members_reset(&v[r], NULL, NULL);
}

static void test_peer_addresses(void **state)
{
    (void)state;
    struct pg_tgroup g[2];
    pg_tgroup_init(&g[0], "endpoints/a");
    pg_tgroup_init(&g[1], "endpoints/b");
    pg_labels_set(&g[0].labels, "__meta_port_name", "http");
    struct pg_labels *t = pg_tgroup_add_target(&g[0]);
    pg_labels_set(t, "__address__", "10.0.0.1:4100");
    pg_labels_set(t, "__meta_ready", "true");
    t = pg_tgroup_add_target(&g[0]);
    pg_labels_set(t, "__address__", "10.0.0.2:4100");
    pg_labels_set(t, "__meta_ready", "false");
    t = pg_tgroup_add_target(&g[1]);
    pg_labels_set(t, "__address__", "10.0.0.3:9999");
    pg_labels_set(t, "__meta_ready", "true");
    pg_labels_set(t, "__meta_port_name", "metrics"); /* the target's own label wins */
    char **out = NULL;
    size_t n = 0;
    /* no rules: every address */
    assert_int_equal(pg_cluster_peer_addresses(g, 2, NULL, 0, &out, &n), 0);
    assert_int_equal(n, 3);
    assert_string_equal(out[2], "10.0.0.3:9999");
    pg_cluster_peers_free(out, n);
    /* keep ready endpoints of the port named http */
    struct pg_relabel_rule r[1] = {{0}};
    r[0].action = PG_RELABEL_KEEP;
    char *src[] = {"__meta_ready", "__meta_port_name"};
    r[0].source_labels = src;
    r[0].n_source = 2;
    r[0].separator = ";";
    r[0].regex = "true;http";
    char err[256];
    assert_int_equal(pg_relabel_compile(&r[0], err, sizeof err), 0);
    assert_int_equal(pg_cluster_peer_addresses(g, 2, r, 1, &out, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(out[0], "10.0.0.1:4100");
    pg_cluster_peers_free(out, n);
    pcre2_code_free(r[0].re);
    pg_tgroup_reset(&g[0]);
    pg_tgroup_reset(&g[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_probe_states),
        cmocka_unit_test(test_set_keeps_state),
        cmocka_unit_test(test_disjoint_cover),
        cmocka_unit_test(test_peer_addresses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
