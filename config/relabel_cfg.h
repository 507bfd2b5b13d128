/* relabel_cfg.h - loading Prometheus relabel_config lists from YAML.
 *
 * Turns a YAML sequence of relabel configs (relabel_configs, metric_relabel_configs,
 * ...) into compiled struct pg_relabel_rule values, applying Prometheus's defaults only
 * to absent keys and validating each rule like Prometheus 3's relabel.Config.Validate.
 * Every problem is reported at its node's file:line:col; parsing never stops early. */
#ifndef PG_CONFIG_RELABEL_CFG_H
#define PG_CONFIG_RELABEL_CFG_H

#include <stddef.h>

#include "yamlcfg/errors.h"
#include "yamlcfg/yaml.h"
#include "relabel/relabel.h"

/* Parses seq (a sequence of relabel config mappings; NULL or a YAML null means no rules)
 * into a new array of compiled rules. what names the list in messages (e.g.
 * "relabel_configs"). Every error found is appended to errs, positioned at the offending
 * node. Returns 0 with *out (caller frees with pg_cfg_relabel_rules_free; NULL when
 * *n == 0) and *n set if no errors were added; otherwise -1 with *out = NULL, *n = 0 and
 * nothing left allocated. */
int pg_cfg_parse_relabel_configs(struct pg_yaml *y, yaml_node_t *seq, const char *what,
                                 struct pg_relabel_rule **out, size_t *n,
                                 struct pg_cfg_errors *errs);

/* Frees rules[0..n) and the array itself. Accepts NULL. */
void pg_cfg_relabel_rules_free(struct pg_relabel_rule *rules, size_t n);

#endif
