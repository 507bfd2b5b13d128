/* legacy_ext.h - the parts of a legacy Pyroscope scrape job beyond static-configs, for
 * config/legacy.c: relabel-configs, file-sd-configs, kubernetes-sd-configs,
 * body-size-limit and per-profile `profiles: {cpu: {path, params}}`.
 *
 * Pyroscope spelled Prometheus's keys with dashes (source-labels, target-label,
 * refresh-interval, api-server, kubeconfig-file, ...); the keys of these blocks are
 * rewritten to Prometheus's spelling in the document and then loaded by the same code as
 * the Prometheus dialect (relabel_cfg.c, the discovery registry), so their validation and
 * messages are the same (messages name the keys with underscores). As in Pyroscope, a
 * target's __name__ after relabeling is its application name: it becomes service_name. */
#ifndef PG_CONFIG_LEGACY_EXT_H
#define PG_CONFIG_LEGACY_EXT_H

#include "config/config.h"
#include "yamlcfg/errors.h"
#include "yamlcfg/yaml.h"

/* The job keys handled here, for legacy.c's allow list. */
#define PG_CFG_LEGACY_EXT_KEYS                                                                     \
    "relabel-configs", "file-sd-configs", "kubernetes-sd-configs", "body-size-limit", "profiles"

/* Loads those keys of legacy job j into s (whose profiles are already set up). */
void pg_cfg_legacy_load_ext(struct pg_yaml *y, yaml_node_t *j, struct pg_cfg_scrape *s,
                            struct pg_cfg_errors *errs);

/* Maps a legacy profile name (cpu, mem, goroutines, mutex, block) to profgate's, or NULL. */
const char *pg_cfg_legacy_profile_name(const char *legacy);

#endif
