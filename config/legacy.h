/* legacy.h - the legacy Pyroscope server "pull mode" config dialect.
 *
 * A file whose root has `scrape-configs` is read as Pyroscope OSS's server config:
 *
 *   log-level: debug                  # accepted, ignored; no other top-level key is
 *   scrape-configs:                   # allowed, and scrape_configs may not be mixed in
 *     - job-name: pyroscope
 *       scrape-interval: 10s          # default: profgate's global 15s
 *       scrape-timeout: 5s            # default: min(10s, scrape-interval)
 *       scheme: http                  # http (default) or https
 *       enabled-profiles: [cpu, mem]  # cpu mem goroutines mutex block; default cpu, mem
 *       static-configs:
 *         - application: rideshare    # becomes label service_name
 *           spy-name: gospy           # accepted and ignored (profgate only scrapes pprof)
 *           targets: [hostname:6060]
 *           labels: {env: dev}
 *
 * enabled-profiles maps cpu->process_cpu, mem->memory, goroutines->goroutine,
 * mutex->mutex, block->block; only the listed types are enabled. Also accepted
 * (config/legacy_ext.h): body-size-limit, profiles: {<type>: {path, params}},
 * file-sd-configs, kubernetes-sd-configs and relabel-configs in Pyroscope's dashed
 * spelling, a relabeled __name__ being the application name (service_name). Other keys
 * are errors, with positions. */
#ifndef PG_CONFIG_LEGACY_H
#define PG_CONFIG_LEGACY_H

#include "config/config.h"
#include "yamlcfg/errors.h"
#include "yamlcfg/yaml.h"

/* Fills cfg->scrape from the legacy document rooted at root (a mapping with
 * `scrape-configs`). Problems go to errs with positions; cfg stays freeable by
 * pg_cfg_free in every case. */
void pg_cfg_load_legacy(struct pg_yaml *y, yaml_node_t *root, struct pg_cfg *cfg,
                        struct pg_cfg_errors *errs);

#endif
