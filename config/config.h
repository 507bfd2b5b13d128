/* config.h - profgate's configuration as typed structs, loaded from Prometheus-style YAML.
 *
 * pg_cfg_load reads the whole file, applies defaults (DESIGN.md "Configuration"), reads
 * *_file secrets, expands ${VAR} and validates, reporting every problem with its
 * file:line:col into the caller's error list. The result is immutable once loaded: reload
 * builds a new one and swaps. Everything in it is owned by the struct pg_cfg. */
#ifndef PG_CONFIG_H
#define PG_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "config/errors.h"
#include "core/labels.h"
#include "relabel/relabel.h"

/* One profile type a job scrapes (built-in Go type or custom). */
struct pg_cfg_profile {
    char *name;      /* config name: process_cpu, memory, ..., or the custom name */
    char *path;      /* URL path, e.g. /debug/pprof/allocs */
    char *sent_name; /* __name__ sent to backends (godeltaprof_memory -> memory) */
    int enabled;
    int delta;   /* cumulative: profgate computes the delta between scrapes */
    int seconds; /* takes ?seconds=N (process_cpu, fgprof) */
};

struct pg_cfg_tls {
    char *ca_file, *cert_file, *key_file, *server_name;
    int insecure_skip_verify;
};

/* HTTP client options shared by scrape jobs and remote_write. Secrets are loaded. */
struct pg_cfg_http {
    char *basic_auth_username;
    char *basic_auth_password; /* from password or password_file */
    char *auth_type;           /* authorization.type, default Bearer when credentials set */
    char *auth_credentials;    /* from credentials or credentials_file */
    struct pg_cfg_tls tls;
    char *proxy_url;
    int follow_redirects;     /* default 1 */
    struct pg_labels headers; /* extra request headers (remote_write) */
};

struct pg_cfg_param {
    char *name;
    char **values;
    size_t n_values;
};

struct pg_cfg_static_group {
    char **targets;
    size_t n_targets;
    struct pg_labels labels;
};

struct pg_cfg_file_sd {
    char **files;
    size_t n_files;
    int64_t refresh_interval_ms; /* default 5m */
};

/* http_sd_configs entry (Prometheus's HTTP SD). */
struct pg_cfg_http_sd {
    char *url;
    int64_t refresh_interval_ms; /* default 1m */
    struct pg_cfg_http http;
    int line, col;
};

/* consul_sd_configs entry, fields and defaults as Prometheus's. */
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
    struct pg_cfg_http http;
    int line, col;
};

enum pg_cfg_kube_role {
    PG_CFG_KUBE_POD = 0,
    PG_CFG_KUBE_SERVICE,
    PG_CFG_KUBE_ENDPOINTS,
    PG_CFG_KUBE_ENDPOINTSLICE,
    PG_CFG_KUBE_NODE,
    PG_CFG_KUBE_INGRESS,
};

struct pg_cfg_kube_selector {
    enum pg_cfg_kube_role role;
    char *label; /* NULL when unset */
    char *field; /* NULL when unset */
};

/* kubernetes_sd_configs entry, fields and defaults as Prometheus's. */
struct pg_cfg_kube_sd {
    enum pg_cfg_kube_role role; /* required */
    char *api_server;           /* NULL: in-cluster or kubeconfig_file */
    char *kubeconfig_file;      /* NULL when unset */
    int own_namespace;          /* namespaces.own_namespace */
    char **namespaces;          /* namespaces.names; empty = all */
    size_t n_namespaces;
    struct pg_cfg_kube_selector *selectors;
    size_t n_selectors;
    int attach_node;      /* attach_metadata.node */
    int attach_namespace; /* attach_metadata.namespace */
    struct pg_cfg_http http;
    int line, col;
};

struct pg_cfg_scrape {
    char *job_name;
    int line, col; /* position of the job in the file */
    int64_t scrape_interval_ms, scrape_timeout_ms, delta_profiling_duration_ms;
    char *scheme; /* http or https */
    char *path_prefix;
    struct pg_cfg_param *params;
    size_t n_params;
    struct pg_cfg_profile *profiles; /* built-in types in table order, then custom */
    size_t n_profiles;
    struct pg_cfg_http http;
    uint64_t body_size_limit; /* 0 in the file means the default, 64MiB */
    struct pg_cfg_static_group *static_configs;
    size_t n_static;
    struct pg_cfg_file_sd *file_sd;
    size_t n_file_sd;
    struct pg_cfg_http_sd *http_sd;
    size_t n_http_sd;
    struct pg_cfg_consul_sd *consul_sd;
    size_t n_consul_sd;
    struct pg_cfg_kube_sd *kube_sd;
    size_t n_kube_sd;
    struct pg_relabel_rule *relabel;
    size_t n_relabel;
};

enum pg_cfg_api { PG_CFG_API_PUSH = 0, PG_CFG_API_INGEST, PG_CFG_API_FILE };

struct pg_cfg_remote {
    char *name;
    char *url; /* for api file: a directory */
    enum pg_cfg_api api;
    struct pg_cfg_http http;
    struct pg_labels external_labels;
    int64_t remote_timeout_ms, min_backoff_ms, max_backoff_ms;
    uint64_t max_retries;     /* 0 = forever */
    uint64_t concurrency;     /* default 1 */
    uint64_t batch_max_bytes; /* default 4MiB */
};

/* One receiver.basic_auth user (password loaded from password or password_file). */
struct pg_cfg_receiver_user {
    char *username;
    char *password;
};

struct pg_cfg {
    char *file;
    int64_t scrape_interval_ms, scrape_timeout_ms;
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
    uint64_t processing_workers;       /* processing.workers: 0 = one per online CPU */
    uint64_t processing_queue_size;    /* processing.queue_size: default 64 jobs */
};

/* Loads and validates path. Returns a new config (free with pg_cfg_free), or NULL when
 * any error was reported into errs (then nothing is allocated). */
struct pg_cfg *pg_cfg_load(const char *path, struct pg_cfg_errors *errs);

/* Returns the profile type named name in job s (borrowed), or NULL. */
const struct pg_cfg_profile *pg_cfg_profile_find(const struct pg_cfg_scrape *s, const char *name);

/* Frees cfg and everything it owns. Accepts NULL. */
void pg_cfg_free(struct pg_cfg *cfg);

#endif
