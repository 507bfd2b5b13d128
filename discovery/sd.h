/* sd.h - the service-discovery mechanism interface and its registry.
 *
 * A mechanism (static, file, ...) is a const vtable owning everything about it, as
 * Prometheus's discovery.Config (registered with discovery.RegisterConfig) plus its
 * discovery.Discoverer:
 * - its configuration: the scrape-config key it is configured under, and the hooks that
 *   load one config (its own struct, named struct pg_cfg_<name>_sd, with its defaults and
 *   validation) from YAML and free it. config/config.c dispatches every key of the
 *   registry to them, so a scrape job holds a list of (mechanism, config) pairs
 *   (struct pg_cfg_sd below);
 * - running it: create an instance from its config, start it on an event loop with an
 *   emit callback, stop and destroy it. Contract (as in Prometheus): the first emit is the
 *   full set, groups are keyed by source, an empty group (0 targets) removes its source.
 *   Emit borrows the groups for the duration of the call; the receiver copies what it
 *   keeps.
 *
 * Adding a mechanism is one file defining its `const struct pg_sd_mechanism` and one line
 * in the registry (discovery/registry.c). */
#ifndef PG_DISCOVERY_SD_H
#define PG_DISCOVERY_SD_H

#include <stddef.h>

#include "discovery/tgroup.h"
#include "yamlcfg/load.h"

struct event_base;

/* Receives n groups (borrowed for the duration of the call). */
typedef void (*pg_sd_emit_fn)(void *ud, struct pg_tgroup *groups, size_t n);

struct pg_sd_mechanism {
    const char *name; /* "file": the mechanism label of its metrics and logs */

    /* ---- configuration ---- */
    /* The scrape-config key it is configured under, e.g. "file_sd_configs". */
    const char *config_key;
    /* 0: every item of the key's sequence is one config and one instance; 1: the whole
     * sequence is one config and one instance (static_configs, as Prometheus's
     * StaticConfig is one list of groups). */
    int config_whole_list;
    /* Loads one config from node (an item of the sequence, or the sequence itself when
     * config_whole_list), applying the defaults to absent fields and validating; every
     * problem goes to l with its position. Returns the new config, also when problems
     * were reported (the caller frees it with config_free), or NULL only when out of
     * memory. */
    void *(*config_load)(struct pg_cfg_ld *l, yaml_node_t *node);
    /* Frees a config from config_load. Accepts NULL. */
    void (*config_free)(void *cfg);

    /* ---- running ---- */
    /* Returns a new instance for cfg (borrowed; must outlive the instance) and job name
     * (copied), or NULL on failure. */
    void *(*create)(const void *cfg, const char *job);
    /* Starts discovery on base; emit(ud, ...) is called from the loop (possibly already
     * during start). Returns 0 or -1. */
    int (*start)(void *inst, struct event_base *base, pg_sd_emit_fn emit, void *ud);
    /* Stops all events; no emit happens afterwards. Safe to call twice. */
    void (*stop)(void *inst);
    /* Stops (if needed) and frees the instance. Accepts NULL. */
    void (*destroy)(void *inst);
};

/* One service-discovery config of a job: a *_sd_configs entry, or all of static_configs.
 * Its mechanism loaded it from the key it registered and owns its type. A scrape job
 * (struct pg_cfg_scrape, config/config.h) owns an array of them. */
struct pg_cfg_sd {
    const struct pg_sd_mechanism *mech;
    void *cfg; /* the mechanism's struct pg_cfg_<name>_sd, owned (mech->config_free) */
};

/* Mechanisms that other code names directly (tests building jobs by hand, the legacy
 * dialect's static groups, the `check` summary and the `targets` dry run); everything
 * else reaches mechanisms through the registry.
 * The config structs are in each mechanism's header. */
/* "static" (static_configs): struct pg_cfg_static_sd (discovery/static.h). */
extern const struct pg_sd_mechanism pg_sd_static;
/* "file" (file_sd_configs): struct pg_cfg_file_sd (discovery/file_sd.h). */
extern const struct pg_sd_mechanism pg_sd_file;
/* "http" (http_sd_configs): struct pg_cfg_http_sd (discovery/http_sd.h). */
extern const struct pg_sd_mechanism pg_sd_http;
/* "consul" (consul_sd_configs): struct pg_cfg_consul_sd (discovery/consul.h). */
extern const struct pg_sd_mechanism pg_sd_consul;
/* "kubernetes" (kubernetes_sd_configs): struct pg_cfg_kube_sd
 * (discovery/kubernetes/sd_config.h). */
extern const struct pg_sd_mechanism pg_sd_kubernetes;

/* Per-mechanism metrics, for mechanisms to call (implemented in manager.c; cannot fail):
 * one refresh attempt of mechanism (a poll, a list, a blocking query) counted in
 * profgate_sd_refreshes_total{mechanism}, and when failed != 0 also in
 * profgate_sd_refresh_failures_total{mechanism}. */
void pg_sd_metric_refresh(const char *mechanism, int failed);
/* One watch stream of mechanism ended and is restarted (relist, reconnect, 410 Gone):
 * profgate_sd_watch_restarts_total{mechanism}. */
void pg_sd_metric_watch_restart(const char *mechanism);

/* Returns the registry: every mechanism (borrowed, static), in the order their configs
 * are loaded and their instances started; *n is set to their number. */
const struct pg_sd_mechanism *const *pg_sd_registry(size_t *n);

/* Returns the registered mechanism called name (borrowed, static), or NULL. */
const struct pg_sd_mechanism *pg_sd_lookup(const char *name);

#endif
