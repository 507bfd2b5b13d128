/* fuzz_config.c - libFuzzer harness 5: the YAML config loader (Prometheus-style and the
 * legacy pyroscope-agent dialect, which pg_cfg_load detects by itself), as
 * `profgate check` and reloads call it.
 *
 * Input: a config file. It is written to a private scratch directory that is also the
 * working directory, and loaded with pg_cfg_load. Configs can name files (password_file,
 * bearer_tokens_file, kubeconfig, file_sd files, ...): to keep the fuzzer inside the
 * scratch directory, inputs that mention a file and contain '/', '~' or '$' (a path or an
 * environment expansion that could become one) are skipped, so every file a config can
 * name is a plain name relative to the scratch directory. Invariant: a config is
 * returned exactly when no error was reported. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"
#include "yamlcfg/errors.h"

static char dir[64], path[96];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    snprintf(dir, sizeof dir, "/tmp/pg_fuzz_config_XXXXXX");
    if (!mkdtemp(dir) || chdir(dir) < 0)
        abort();
    snprintf(path, sizeof path, "%s/profgate.yml", dir);
    return 0;
}

static int names_files(const uint8_t *d, size_t n)
{
    return memmem(d, n, "file", 4) || memmem(d, n, "kubeconfig", 10) || memmem(d, n, "FILE", 4);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (names_files(data, size) &&
        (memchr(data, '/', size) || memchr(data, '~', size) || memchr(data, '$', size)))
        return 0;
    FILE *f = fopen(path, "wb");
    if (!f)
        abort();
    if (size && fwrite(data, 1, size, f) != size)
        abort();
    fclose(f);
    struct pg_cfg_errors errs;
    pg_cfg_errors_init(&errs);
    struct pg_cfg *cfg = pg_cfg_load(path, &errs);
    if ((cfg != NULL) == (errs.n != 0))
        abort(); /* a config with errors, or no config and no error */
    for (size_t i = 0; i < errs.n; i++)
        if (!errs.v[i].msg || !errs.v[i].file)
            abort();
    pg_cfg_free(cfg);
    pg_cfg_errors_reset(&errs);
    return 0;
}
