/* fuzz_relabel.c - libFuzzer harness 6: relabel rules and label sets.
 *
 * Two input forms (both end with a label set after a line "--", "name=value" per line):
 * - starting with "yaml\n": the rules are a YAML relabel_configs sequence, loaded with
 *   pg_cfg_parse_relabel_configs as the config loader does;
 * - otherwise the tab-separated rule lines of relabel_input.h (the format of the issue 15
 *   reproducers in tests/fuzz/regressions/relabel/), compiled with pg_relabel_compile.
 * The compiled rules run over the label set with pg_relabel_process_err, as target
 * discovery does. Invariants: the result is 1, 0 or -1; -1 comes with a reason; a kept
 * set has only non-empty label names and values; nothing leaks. The match limits keep
 * every input fast (libFuzzer's -timeout catches a regex that is not bounded). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config/relabel_cfg.h"
#include "yamlcfg/yaml.h"
#include "tests/fuzz/relabel_input.h"

static void check_result(int kept, const char *err, const struct pg_labels *ls)
{
    if (kept < -1 || kept > 1 || (kept < 0 && !*err))
        abort();
    for (size_t i = 0; kept == 1 && i < ls->n; i++)
        if (!*ls->v[i].name || !*ls->v[i].value)
            abort();
}

static void run_yaml(const char *data, size_t size)
{
    const char *sep = memmem(data, size, "\n--\n", 4);
    size_t ylen = sep ? (size_t)(sep - data) : size;
    struct pg_relabel_input in;
    if (pg_relabel_input_parse(&in, sep ? sep + 1 : "", sep ? size - ylen - 1 : 0) < 0)
        return;
    struct pg_cfg_errors errs;
    pg_cfg_errors_init(&errs);
    struct pg_yaml y;
    if (pg_yaml_load_string(&y, "fuzz.yml", data, ylen, &errs) == 0) {
        struct pg_relabel_rule *rules = NULL;
        size_t n = 0;
        if (pg_cfg_parse_relabel_configs(&y, pg_yaml_root(&y), "relabel_configs", &rules, &n,
                                         &errs) == 0) {
            char err[128] = "";
            int kept = pg_relabel_process_err(rules, n, &in.labels, NULL, NULL, err, sizeof err);
            check_result(kept, err, &in.labels);
            pg_cfg_relabel_rules_free(rules, n);
        } else if (errs.n == 0 || rules) {
            abort();
        }
    }
    pg_yaml_free(&y); /* also after a failed load (yaml.h) */
    pg_cfg_errors_reset(&errs);
    pg_relabel_input_free(&in);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size >= 5 && !memcmp(data, "yaml\n", 5)) {
        run_yaml((const char *)data + 5, size - 5);
        return 0;
    }
    struct pg_relabel_input in;
    if (pg_relabel_input_parse(&in, (const char *)data, size) < 0)
        return 0;
    char err[128] = "";
    int kept =
        pg_relabel_process_err(in.rules, in.n_rules, &in.labels, NULL, NULL, err, sizeof err);
    check_result(kept, err, &in.labels);
    pg_relabel_input_free(&in);
    return 0;
}
