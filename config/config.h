/* config.h - profgate's configuration as typed structs, loaded from Prometheus-style YAML.
 *
 * pg_cfg_load reads the whole file, applies defaults (DESIGN.md "Configuration"), reads
 * *_file secrets, expands ${VAR} and validates, reporting every problem with its
 * file:line:col into the caller's error list. The *_sd_configs keys (and static_configs)
 * are loaded by the discovery mechanisms of the registry (discovery/sd.h), each into its
 * own config struct. The result is immutable once loaded: reload builds a new one and
 * swaps. Everything in it is owned by the struct pg_cfg. */
#ifndef PG_CONFIG_H
#define PG_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "yamlcfg/errors.h"
#include "core/httpcfg.h"
#include "core/labels.h"
#include "relabel/relabel.h"
#include "yamlcfg/tls_server.h"

struct pg_cfg_param {
    char *name;
    char **values;
    size_t n_values;
};

/* One profile type a job scrapes (built-in Go type or custom). */
struct pg_cfg_profile {
    char *name;      /* config name: process_cpu, memory, ..., or the custom name */
    char *path;      /* URL path, e.g. /debug/pprof/allocs */
    char *sent_name; /* __name__ sent to backends (godeltaprof_memory -> memory) */
    int enabled;
    int delta;                   /* cumulative: profgate computes the delta between scrapes */
    int seconds;                 /* takes ?seconds=N (process_cpu, fgprof) */
    struct pg_cfg_param *params; /* query parameters of this type (legacy `profiles`), below
                                    the target's __param_<k>; NULL when none */
    size_t n_params;
};

/* Prometheus's limits of a scrape job (config/limits.h); 0 = no limit. A job's limits
 * already include the global defaults once loaded. */
struct pg_cfg_limits {
    uint64_t target_limit;             /* active targets of the job */
    uint64_t label_limit;              /* labels of a series (__name__ included) */
    uint64_t label_name_length_limit;  /* bytes of a label name */
    uint64_t label_value_length_limit; /* bytes of a label value */
    uint64_t keep_dropped_targets;     /* dropped targets kept for listing */
};

struct pg_sd_mechanism;
struct pg_cfg_sd; /* a job's discovery config: (mechanism, its config), in discovery/sd.h */

struct pg_cfg_scrape {
    char *job_name;
    char *file;    /* the scrape_config_files file it came from; NULL: the main file */
    int line, col; /* position of the job in the file */
    int64_t scrape_interval_ms, scrape_timeout_ms, delta_profiling_duration_ms;
    int delta_profiling_duration_set; /* 1 when set in the file, 0 when derived */
    char *scheme;                     /* http or https */
    char *path_prefix;
    struct pg_cfg_param *params;
    size_t n_params;
    struct pg_cfg_profile *profiles; /* built-in types in table order, then custom */
    size_t n_profiles;
    struct pg_httpc_cfg http;
    uint64_t body_size_limit; /* 0 in the file means the default, 64MiB */
    struct pg_cfg_sd *sd;     /* discovery configs, in registry order, then file order */
    size_t n_sd;
    struct pg_relabel_rule *relabel;
    size_t n_relabel;
    int legacy_app_name; /* the legacy Pyroscope dialect: in its relabel rules __name__ is
                            the application name (never the profile type), and relabel_configs
                            run once per target (scraper/target_type.h) */
    struct pg_relabel_rule *profile_relabel; /* profile_relabel_configs: on every scraped
                                                profile's series labels */
    size_t n_profile_relabel;
    struct pg_cfg_limits limits; /* with the global defaults applied */
};

enum pg_cfg_api { PG_CFG_API_PUSH = 0, PG_CFG_API_INGEST, PG_CFG_API_FILE };

struct pg_cfg_remote {
    char *name;
    char *url; /* for api file: a directory */
    enum pg_cfg_api api;
    struct pg_httpc_cfg http;
    struct pg_labels external_labels;
    int64_t remote_timeout_ms, min_backoff_ms, max_backoff_ms;
    uint64_t max_retries;                  /* 0 = forever */
    uint64_t concurrency;                  /* default 1 */
    uint64_t batch_max_bytes;              /* default 4MiB */
    struct pg_relabel_rule *write_relabel; /* write_relabel_configs: on the labels this
                                              backend receives */
    size_t n_write_relabel;
};

/* The cluster block: replicas sharing the targets (cluster/cluster.h runs it). */
struct pg_cfg_cluster {
    int enabled;
    char *advertise_address;          /* "host:port"; NULL: the web listen address */
    int64_t health_check_interval_ms; /* default 5s */
    struct pg_cfg_sd *peers_sd;       /* peers: discovery configs, registry order */
    size_t n_peers_sd;
    struct pg_relabel_rule *peers_relabel; /* peers.relabel_configs */
    size_t n_peers_relabel;
    /* how the readiness probes reach the peers, as a scrape job reaches its targets:
     * peers.scheme ("http" or "https"; NULL = http) and the HTTP client options next to it
     * (basic_auth, authorization, tls_config, proxy_url, follow_redirects) */
    char *peers_scheme;
    struct pg_httpc_cfg peers_http;
};

/* One receiver.basic_auth user (password loaded from password or password_file). */
struct pg_cfg_receiver_user {
    char *username;
    char *password;
};

struct pg_cfg {
    char *file;
    int64_t scrape_interval_ms, scrape_timeout_ms;
    struct pg_cfg_limits limits; /* global defaults of the jobs' limits */
    struct pg_labels external_labels;
    struct pg_cfg_scrape *scrape;
    size_t n_scrape;
    char *storage_path;
    uint64_t storage_max_size;
    int64_t storage_max_age_ms;
    struct pg_cfg_remote *remote;
    size_t n_remote;
    int receiver_enabled;
    uint64_t receiver_max_body_size;             /* default 32MiB */
    struct pg_cfg_receiver_user *receiver_users; /* receiver.basic_auth */
    size_t n_receiver_users;
    char *receiver_bearer_tokens_file; /* NULL when unset */
    char **receiver_bearer_tokens;     /* loaded from the file, one per non-empty line */
    size_t n_receiver_bearer_tokens;
    struct pg_relabel_rule *receiver_relabel; /* receiver.relabel_configs */
    size_t n_receiver_relabel;
    uint64_t receiver_max_connections; /* default 1024 */
    int64_t receiver_read_timeout_ms;  /* default 30s */
    int64_t receiver_write_timeout_ms; /* default 30s */
    /* receiver.listen_address: its own listener ("host:port"); NULL = the web port's */
    char *receiver_listen_address;
    /* receiver.tls_server_config (only with listen_address): NULL = plain HTTP */
    struct pg_cfg_tls_server *receiver_tls;
    uint64_t processing_workers;    /* processing.workers: 0 = one per online CPU */
    uint64_t processing_queue_size; /* processing.queue_size: default 64 jobs */
    struct pg_cfg_cluster cluster;  /* cluster: disabled unless enabled: true */
};

/* Loads and validates path. Returns a new config (free with pg_cfg_free), or NULL when
 * any error was reported into errs (then nothing is allocated). */
struct pg_cfg *pg_cfg_load(const char *path, struct pg_cfg_errors *errs);

/* Returns the number of discovery configs of mechanism mech in job s. */
size_t pg_cfg_sd_count(const struct pg_cfg_scrape *s, const struct pg_sd_mechanism *mech);

/* Returns the i-th discovery config of mechanism mech in job s (borrowed; the mechanism's
 * config struct), or NULL when there are not that many. */
const void *pg_cfg_sd_get(const struct pg_cfg_scrape *s, const struct pg_sd_mechanism *mech,
                          size_t i);

/* Returns the profile type named name in job s (borrowed), or NULL. */
const struct pg_cfg_profile *pg_cfg_profile_find(const struct pg_cfg_scrape *s, const char *name);

/* Frees cfg and everything it owns. Accepts NULL. */
void pg_cfg_free(struct pg_cfg *cfg);

#endif
