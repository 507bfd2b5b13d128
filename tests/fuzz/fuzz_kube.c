/* fuzz_kube.c - libFuzzer harness 9: Kubernetes API answers and kubeconfig files.
 *
 * Input: byte 0 % 3 picks the surface, (byte 0 / 3) % 6 the role; the rest is:
 * - 0: a LIST body ({"items": [...]}): every item goes into the role's store and its
 *   group is built with pg_kube_build_group, as the informer does after a LIST;
 * - 1: a watch stream: lines split by pg_linesplit_feed/finish (1 MiB line cap, as the
 *   client), each an event {"type": ADDED|MODIFIED|DELETED|BOOKMARK|ERROR, "object"}
 *   applied to the store, then the group of the object built;
 * - 2: a kubeconfig file, written to a private scratch directory and loaded with
 *   pg_kube_kubeconfig_load (it only resolves the file names it mentions).
 * The stores of the other kinds are passed as context so endpoints, endpointslices and
 * attach_metadata lookups run. Invariants: built groups are well-formed
 * (tgroup_check.h); everything is freed. */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/linesplit.h"
#include "discovery/kubernetes/client.h"
#include "discovery/kubernetes/roles.h"
#include "tests/fuzz/tgroup_check.h"

static char kc_path[96];

struct run {
    enum pg_cfg_kube_role role;
    struct pg_kube_store *store;
    struct pg_kube_ctx ctx;
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    static char dir[64] = "/tmp/pg_fuzz_kube_XXXXXX";
    if (!mkdtemp(dir))
        abort();
    snprintf(kc_path, sizeof kc_path, "%s/kubeconfig", dir);
    return 0;
}

static void build(struct run *r, const json_t *obj)
{
    char src[512];
    (void)pg_kube_source(r->role, obj, src, sizeof src);
    struct pg_tgroup g;
    if (pg_kube_build_group(r->role, obj, &r->ctx, &g) == 0) {
        pg_fuzz_check_group(&g);
        pg_tgroup_reset(&g);
    }
}

static void list_body(struct run *r, const char *b, size_t n)
{
    json_error_t je;
    json_t *root = json_loadb(b, n, 0, &je);
    json_t *items = json_object_get(root, "items");
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it)
    {
        if (json_is_object(it)) {
            pg_kube_store_put(r->store, it);
            build(r, it);
        }
    }
    json_decref(root);
}

static int on_line(void *ud, const char *line, size_t len)
{
    struct run *r = ud;
    json_error_t je;
    json_t *ev = json_loadb(line, len, 0, &je);
    const char *type = json_string_value(json_object_get(ev, "type"));
    json_t *obj = json_object_get(ev, "object");
    if (type && json_is_object(obj)) {
        if (!strcmp(type, "DELETED")) {
            json_t *md = json_object_get(obj, "metadata");
            const char *name = json_string_value(json_object_get(md, "name"));
            if (name)
                pg_kube_store_del(r->store, json_string_value(json_object_get(md, "namespace")),
                                  name);
        } else if (!strcmp(type, "ADDED") || !strcmp(type, "MODIFIED")) {
            pg_kube_store_put(r->store, obj);
            build(r, obj);
        }
    }
    json_decref(ev);
    return 0;
}

static void kubeconfig(const uint8_t *d, size_t n)
{
    FILE *f = fopen(kc_path, "wb");
    if (!f || (n && fwrite(d, 1, n, f) != n) || fclose(f) != 0)
        abort();
    struct pg_kube_kubeconfig k;
    char err[512] = "";
    if (pg_kube_kubeconfig_load(kc_path, &k, err, sizeof err) == 0)
        pg_kube_kubeconfig_reset(&k);
    else if (!err[0])
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *b = (const char *)data + 1;
    size_t n = size - 1;
    if (data[0] % 3 == 2) {
        kubeconfig(data + 1, n);
        return 0;
    }
    struct run r = {.role = (enum pg_cfg_kube_role)((data[0] / 3) % 6)};
    struct pg_kube_store *pods = pg_kube_store_create(), *svcs = pg_kube_store_create(),
                         *nodes = pg_kube_store_create(), *nss = pg_kube_store_create();
    r.store = r.role == PG_CFG_KUBE_POD       ? pods
              : r.role == PG_CFG_KUBE_SERVICE ? svcs
              : r.role == PG_CFG_KUBE_NODE    ? nodes
                                              : pg_kube_store_create();
    r.ctx = (struct pg_kube_ctx){pods, svcs, nodes, nss, 1, 1};
    if (pods && svcs && nodes && nss && r.store) {
        if (data[0] % 3 == 0) {
            list_body(&r, b, n);
        } else {
            struct pg_linesplit l;
            pg_linesplit_init(&l, 1u << 20);
            if (pg_linesplit_feed(&l, b, n, on_line, &r) == 0)
                pg_linesplit_finish(&l, on_line, &r);
            pg_linesplit_reset(&l);
        }
    }
    if (r.store != pods && r.store != svcs && r.store != nodes)
        pg_kube_store_destroy(r.store);
    pg_kube_store_destroy(pods);
    pg_kube_store_destroy(svcs);
    pg_kube_store_destroy(nodes);
    pg_kube_store_destroy(nss);
    return 0;
}
