/* fuzz_consul.c - libFuzzer harness 8: Consul answers.
 *
 * Input: byte 0 % 3 picks the endpoint, the rest is the response body:
 * - 0: /v1/catalog/services, through pg_sd_consul_catalog_names without and with the
 *   services/tags filters;
 * - 1: /v1/health/service/<name>, through pg_sd_consul_service_group;
 * - 2: /v1/agent/self, read as consul.c reads it (Config.Datacenter with jansson).
 * Invariants: success gives well-formed names and groups, failure a reason and nothing
 * allocated; everything is freed. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>

#include "discovery/consul.h"
#include "tests/fuzz/tgroup_check.h"

static void catalog(const char *b, size_t n)
{
    static char *const services[] = {"web", "api"}, *const tags[] = {"prod"};
    for (int filtered = 0; filtered < 2; filtered++) {
        char **names = NULL, err[256] = "";
        size_t k = 0;
        int rc = pg_sd_consul_catalog_names(b, n, services, filtered ? 2 : 0, tags,
                                            filtered ? 1 : 0, &names, &k, err, sizeof err);
        if (rc < 0 && (names || k || !err[0]))
            abort();
        for (size_t i = 0; i < k; i++)
            if (!names[i])
                abort();
        pg_sd_consul_names_free(names, k);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *b = (const char *)data + 1;
    size_t n = size - 1;
    switch (data[0] % 3) {
    case 0: catalog(b, n); break;
    case 1: {
        struct pg_tgroup g;
        char err[256] = "";
        if (pg_sd_consul_service_group(b, n, "web", "dc1", ",", &g, err, sizeof err) == 0) {
            pg_fuzz_check_group(&g);
            pg_tgroup_reset(&g);
        } else if (!err[0]) {
            abort();
        }
        break;
    }
    default: {
        json_error_t je;
        json_t *root = json_loadb(b, n, 0, &je);
        (void)json_string_value(json_object_get(json_object_get(root, "Config"), "Datacenter"));
        json_decref(root);
    }
    }
    return 0;
}
