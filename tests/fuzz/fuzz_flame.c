/* fuzz_flame.c - libFuzzer harness: a target's last profile turned into the web UI's frame
 * tree (profile/flame.c), as /api/v1/flamegraph does on the workers.
 *
 * Input: one byte choosing the sample type (0xff: the last one) and max_nodes, then the
 * pprof body (gzip or raw protobuf, or anything else). Invariants when the build succeeds:
 * - at most max_nodes nodes are kept, and every kept node's total is at least its self
 *   plus its kept children's totals (pruning never changes a kept node's values);
 * - every kept child index is a kept node, and the root is named "total";
 * - pg_flame_json returns a JSON object that jansson parses, with "nodes" equal to the
 *   kept count.
 * Everything is freed (LeakSanitizer checks). */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "profile/flame.h"

#define LIMIT (4u << 20)

static void check_tree(const struct pg_flame *f, size_t max_nodes)
{
    size_t n = pg_flame_nodes(f);
    if (n < 1 || n > max_nodes)
        abort();
    struct pg_flame_node_info root;
    pg_flame_node(f, 0, &root);
    if (strcmp(root.name, "total") != 0)
        abort();
    for (size_t i = 0; i < n; i++) {
        struct pg_flame_node_info in;
        pg_flame_node(f, i, &in);
        __int128 sum = in.self;
        for (size_t c = 0; c < in.n_children; c++) {
            size_t k = pg_flame_child(f, i, c);
            if (k == (size_t)-1 || k >= n || k == 0)
                abort();
            struct pg_flame_node_info ch;
            pg_flame_node(f, k, &ch);
            sum += ch.total;
        }
        if (in.total < sum)
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t type = data[0] == 0xff ? PG_FLAME_LAST_TYPE : (size_t)(data[0] & 7);
    size_t max_nodes = 1 + (size_t)(data[0] >> 3) * 8;
    char err[256];
    struct pg_flame *f =
        pg_flame_build(data + 1, size - 1, LIMIT, type, max_nodes, 0.0001, err, sizeof err);
    if (!f)
        return 0;
    check_tree(f, max_nodes);
    char *j = pg_flame_json(f);
    if (j) {
        json_t *o = json_loads(j, 0, NULL);
        if (!json_is_object(o) ||
            json_integer_value(json_object_get(o, "nodes")) != (json_int_t)pg_flame_nodes(f))
            abort();
        json_decref(o);
        free(j);
    }
    pg_flame_free(f);
    return 0;
}
