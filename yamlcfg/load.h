/* load.h - the helpers every config loader uses: config/config.c for the top-level document
 * and each discovery mechanism for its own *_sd_configs entries (discovery/sd.h).
 *
 * Each reads one optional key of a YAML mapping: absent or null leaves *out unchanged (so
 * the caller sets defaults first, and they apply only to absent fields), a present value
 * is parsed and a bad one is reported at its file:line:col. Loading never stops early. */
#ifndef PG_YAMLCFG_LOAD_H
#define PG_YAMLCFG_LOAD_H

#include <stddef.h>
#include <stdint.h>

#include "core/httpcfg.h"
#include "core/labels.h"
#include "yamlcfg/errors.h"
#include "yamlcfg/yaml.h"

/* A loader's context: the document and where problems go. */
struct pg_cfg_ld {
    struct pg_yaml *y;
    struct pg_cfg_errors *errs;
};

/* The HTTP client keys (Prometheus's inline HTTPClientConfig) that scrape jobs,
 * remote_write and every *_sd_configs entry that talks HTTP accept, for an allow list:
 * {"url", PG_CFG_HTTP_KEYS, NULL}. yamlcfg/http.c reads them all (pg_cfg_load_http). */
#define PG_CFG_HTTP_KEYS                                                                           \
    "basic_auth", "authorization", "oauth2", "tls_config", "proxy_url", "no_proxy",                \
        "proxy_from_environment", "proxy_connect_header", "follow_redirects", "enable_http2",      \
        "http_headers"

/* Returns path resolved against the directory of the config file being loaded, as
 * Prometheus's config.SetDirectory does: an absolute or empty path as it is, a relative
 * one joined to that directory ("dir/path"; unchanged when the file has no directory
 * part). A new string, or NULL on OOM. */
char *pg_cfg_resolve_path(const struct pg_cfg_ld *l, const char *path);

/* Replaces *path (owned, may be NULL) by pg_cfg_resolve_path's result; on OOM it is kept
 * and an error is reported at node n. */
void pg_cfg_resolve_in_place(struct pg_cfg_ld *l, yaml_node_t *n, char **path);

/* Frees v[0..n) and v. Accepts NULL. */
void pg_cfg_strv_free(char **v, size_t n);

/* Reads a whole secret file, trimming trailing newlines and blanks (as Prometheus's
 * strings.TrimSpace). Returns a new string, or NULL with an error at node n. */
char *pg_cfg_read_secret_file(struct pg_cfg_ld *l, yaml_node_t *n, const char *path);

/* A string at key (expand != 0: ${VAR} expanded) into *out, replacing (and freeing) what
 * *out held. Returns 0 (also when absent) or -1 (reported). */
int pg_cfg_get_str(struct pg_cfg_ld *l, yaml_node_t *map, const char *key, int expand, char **out);

/* A secret at key or read from the file named at key_file (not both: reported). */
void pg_cfg_get_secret(struct pg_cfg_ld *l, yaml_node_t *map, const char *key, char **out);

/* A Prometheus duration at key, in milliseconds. */
void pg_cfg_get_dur(struct pg_cfg_ld *l, yaml_node_t *map, const char *key, int64_t *out);

/* A YAML boolean at key. */
void pg_cfg_get_bool(struct pg_cfg_ld *l, yaml_node_t *map, const char *key, int *out);

/* A non-negative integer at key. */
void pg_cfg_get_uint(struct pg_cfg_ld *l, yaml_node_t *map, const char *key, uint64_t *out);

/* A byte size (512MiB, 1GB, bytes) at key. */
void pg_cfg_get_size(struct pg_cfg_ld *l, yaml_node_t *map, const char *key, uint64_t *out);

/* A sequence of strings at key into a new vector *out of *n strings (free with
 * pg_cfg_strv_free). Items that are not strings are reported and skipped. */
void pg_cfg_get_strv(struct pg_cfg_ld *l, yaml_node_t *map, const char *key, int expand,
                     char ***out, size_t *n);

/* A mapping of label name -> value at key into ls (names must be non-empty and unique). */
void pg_cfg_get_labels(struct pg_cfg_ld *l, yaml_node_t *map, const char *key,
                       struct pg_labels *ls);

/* The HTTP client options of map (every PG_CFG_HTTP_KEYS key, and remote_write's headers
 * when with_headers) into h, which it initialises (follow_redirects and enable_http2
 * default to 1; remote_write sets enable_http2 to 0 before, as Prometheus, see
 * pg_cfg_load_http_dflt), validated with Prometheus's messages (yamlcfg/http.c). Free with
 * pg_cfg_http_free. */
void pg_cfg_load_http(struct pg_cfg_ld *l, yaml_node_t *map, struct pg_httpc_cfg *h,
                      int with_headers);

/* As pg_cfg_load_http with enable_http2's default given (remote_write: 0). */
void pg_cfg_load_http_dflt(struct pg_cfg_ld *l, yaml_node_t *map, struct pg_httpc_cfg *h,
                           int with_headers, int http2_default);

/* Frees what h owns. */
void pg_cfg_http_free(struct pg_httpc_cfg *h);

/* Returns 1 when h differs from the default HTTP client configuration (Prometheus compares
 * with config.DefaultHTTPClientConfig: nothing set, follow_redirects and enable_http2
 * true). */
int pg_cfg_http_is_custom(const struct pg_httpc_cfg *h);

/* Returns 1 if url's scheme is http or https (case-insensitive, as Go's url.Parse), and
 * sets *has_host to whether a host follows "//". */
int pg_cfg_url_is_http(const char *url, int *has_host);

/* The position to report a problem with key at: its value node, or map itself. */
yaml_node_t *pg_cfg_key_node(struct pg_cfg_ld *l, yaml_node_t *map, const char *key);

/* Reports "refresh_interval must be greater than 0" at g's refresh_interval when ms <= 0. */
void pg_cfg_check_refresh(struct pg_cfg_ld *l, yaml_node_t *g, int64_t ms);

/* Returns the number of items of seq (0 when seq is NULL or null); a node that is not a
 * sequence is reported as "<key>: expected a sequence" and counts 0. */
size_t pg_cfg_seq_len(struct pg_cfg_ld *l, yaml_node_t *seq, const char *key);

#endif
