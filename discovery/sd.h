/* sd.h - the service-discovery mechanism interface and its registry.
 *
 * A mechanism (static, file, ...) is a const vtable in the spirit of Prometheus's
 * discovery.Discoverer: create an instance from its config, start it on an event loop
 * with an emit callback, stop and destroy it. Contract (as in Prometheus): the first emit
 * is the full set, groups are keyed by source, an empty group (0 targets) removes its
 * source. Emit borrows the groups for the duration of the call; the receiver copies what
 * it keeps. */
#ifndef PG_DISCOVERY_SD_H
#define PG_DISCOVERY_SD_H

#include <stddef.h>

#include "discovery/tgroup.h"

struct event_base;

/* Receives n groups (borrowed for the duration of the call). */
typedef void (*pg_sd_emit_fn)(void *ud, struct pg_tgroup *groups, size_t n);

struct pg_sd_mechanism {
    const char *name;
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

/* The "static" mechanism: cfg is a const struct pg_cfg_scrape *. */
extern const struct pg_sd_mechanism pg_sd_static;
/* The "file" mechanism: cfg is a const struct pg_cfg_file_sd *. */
extern const struct pg_sd_mechanism pg_sd_file;
/* The "http" mechanism (Prometheus http_sd_configs): cfg is a const struct pg_cfg_http_sd *. */
extern const struct pg_sd_mechanism pg_sd_http;
/* The "consul" mechanism: cfg is a const struct pg_cfg_consul_sd *. */
extern const struct pg_sd_mechanism pg_sd_consul;
/* The "kubernetes" mechanism: cfg is a const struct pg_cfg_kube_sd *. */
extern const struct pg_sd_mechanism pg_sd_kubernetes;

/* Per-mechanism metrics, for mechanisms to call (implemented in manager.c; cannot fail):
 * one refresh attempt of mechanism (a poll, a list, a blocking query) counted in
 * profgate_sd_refreshes_total{mechanism}, and when failed != 0 also in
 * profgate_sd_refresh_failures_total{mechanism}. */
void pg_sd_metric_refresh(const char *mechanism, int failed);
/* One watch stream of mechanism ended and is restarted (relist, reconnect, 410 Gone):
 * profgate_sd_watch_restarts_total{mechanism}. */
void pg_sd_metric_watch_restart(const char *mechanism);

/* Returns the registered mechanism called name (borrowed, static), or NULL. */
const struct pg_sd_mechanism *pg_sd_lookup(const char *name);

#endif
