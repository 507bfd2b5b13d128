/* fuzz_sd.c - libFuzzer harness 7: file_sd and http_sd documents.
 *
 * Input: byte 0 bit 0 picks the parser, the rest is the document:
 * - 0: JSON through pg_sd_file_parse_json, as http_sd parses a response body (and as
 *   file_sd parses a .json file);
 * - 1: YAML through pg_sd_file_read on a .yml file in a private scratch directory, as
 *   file_sd reads it.
 * Invariants: success returns well-formed groups (tgroup_check.h), failure a reason and
 * nothing allocated; everything is freed. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "discovery/file_sd.h"
#include "tests/fuzz/tgroup_check.h"

static char path[96];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    static char dir[64] = "/tmp/pg_fuzz_sd_XXXXXX";
    if (!mkdtemp(dir))
        abort();
    snprintf(path, sizeof path, "%s/targets.yml", dir);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    struct pg_tgroup *groups = NULL;
    size_t n = 0;
    char err[512] = "";
    int rc;
    if (data[0] & 1) {
        FILE *f = fopen(path, "wb");
        if (!f || (size > 1 && fwrite(data + 1, 1, size - 1, f) != size - 1) || fclose(f) != 0)
            abort();
        rc = pg_sd_file_read(path, &groups, &n, err, sizeof err);
    } else {
        rc = pg_sd_file_parse_json((const char *)data + 1, size - 1, "http://sd.example/targets",
                                   "__meta_url", &groups, &n, err, sizeof err);
    }
    if (rc < 0 && (groups || !err[0]))
        abort();
    for (size_t i = 0; rc == 0 && i < n; i++)
        pg_fuzz_check_group(&groups[i]);
    pg_tgroup_free_array(groups, n);
    return 0;
}
