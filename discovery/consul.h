/* consul.h - the config and the pure parts of the "consul" discovery mechanism
 * (discovery/consul.c).
 *
 * struct pg_cfg_consul_sd is one consul_sd_configs entry, loaded by consul.c. Exposed for
 * unit tests: turning Consul HTTP API answers (/v1/health/service/<name>,
 * /v1/catalog/services) into target groups and service lists exactly as Prometheus's
 * discovery/consul does, with no I/O. The mechanism itself is pg_sd_consul (sd.h). */
#ifndef PG_DISCOVERY_CONSUL_H
#define PG_DISCOVERY_CONSUL_H

#include <stddef.h>
#include <stdint.h>

#include "core/httpcfg.h"
#include "core/labels.h"
#include "discovery/tgroup.h"

/* One consul_sd_configs entry, fields and defaults as Prometheus's discovery/consul
 * SDConfig. */
struct pg_cfg_consul_sd {
    char *server;      /* default "localhost:8500" */
    char *path_prefix; /* "" */
    char *token;       /* secret; NULL when unset */
    char *datacenter;  /* NULL: ask /v1/agent/self */
    char *namespace_;  /* NULL when unset (Consul Enterprise) */
    char *partition;   /* NULL when unset */
    char *scheme;      /* default "http" */
    char **services;   /* empty = all services */
    size_t n_services;
    char **tags; /* every tag must be present */
    size_t n_tags;
    struct pg_labels node_meta;
    char *tag_separator;         /* default "," */
    int allow_stale;             /* default 1 */
    int64_t refresh_interval_ms; /* default 30s */
    char *filter;                /* NULL when unset; applied to /v1/catalog/services */
    char *health_filter;         /* NULL when unset; applied to /v1/health/service/<name> */
    struct pg_httpc_cfg http;    /* deprecated username/password folded into basic_auth */
    int line, col;               /* position of the entry in the file */
};

/* Builds the group of one service from the JSON body of /v1/health/service/<service>
 * (an array of {Node, Service, Checks}). *out is initialised here with source = service,
 * group labels __meta_consul_service = service and __meta_consul_dc = dc, and one target
 * per entry: __address__ (service address, else node address, joined with the service
 * port as Go's net.JoinHostPort), __meta_consul_address, _node, _namespace, _partition,
 * _tags (tag_sep + tags joined by tag_sep + tag_sep), _service_address, _service_port,
 * _service_id, _health (Consul's AggregatedStatus of the checks), and
 * _metadata_<k> (node meta), _service_metadata_<k>, _tagged_address_<k> (node tagged
 * addresses) with k sanitised to [a-zA-Z0-9_]. All strings are borrowed.
 * Returns 0, or -1 with a reason in err (malformed JSON, not an array, OOM); *out then
 * needs no reset. */
int pg_sd_consul_service_group(const char *body, size_t len, const char *service, const char *dc,
                               const char *tag_sep, struct pg_tgroup *out, char *err,
                               size_t errlen);

/* Parses the JSON body of /v1/catalog/services (an object: service name -> tags) and
 * returns in *names (a new array of new strings, caller frees each and the array with
 * pg_sd_consul_names_free) the services that pass the filters: name in services (all
 * names when n_services is 0) and every one of tags present. Returns 0, or -1 with a
 * reason in err (*names NULL, *n 0). */
int pg_sd_consul_catalog_names(const char *body, size_t len, char *const *services,
                               size_t n_services, char *const *tags, size_t n_tags, char ***names,
                               size_t *n, char *err, size_t errlen);

/* Frees n names from pg_sd_consul_catalog_names. Accepts NULL. */
void pg_sd_consul_names_free(char **names, size_t n);

/* Returns the index to send with the next blocking query, given the previous one and the
 * X-Consul-Index just received, following Consul's guidance: an index that went
 * backwards resets to 0 (restart the loop), and an index of 0 is raised to 1 so the next
 * query blocks. Cannot fail. */
uint64_t pg_sd_consul_next_index(uint64_t prev, uint64_t got);

#endif
