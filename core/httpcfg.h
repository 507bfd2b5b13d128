/* httpcfg.h - the settings of one HTTP client, as Prometheus's http_config
 * (prometheus/common HTTPClientConfig): basic auth, authorization, oauth2, TLS, proxies,
 * redirects, HTTP/2 and extra headers. Plain data: the config loader (yamlcfg/load.c,
 * pg_cfg_load_http) fills and frees it; core/httpc applies it to a request, reading the
 * *_file secrets (username_file, password_file, credentials_file, client_secret_file,
 * http_headers files) and the TLS cert_file / key_file again for every request, as
 * Prometheus does, so a rotated file takes effect without a reload. It lives in core so that
 * the HTTP client does not depend on the config.
 *
 * Equality and hashing (pg_httpc_cfg_equal, pg_httpc_cfg_hash) cover every field: the
 * daemon decides with them whether a reload changed a client. */
#ifndef PG_CORE_HTTPCFG_H
#define PG_CORE_HTTPCFG_H

#include <stddef.h>
#include <stdint.h>

#include "core/labels.h"

/* TLS protocol versions of tls_config.min_version / max_version (their wire numbers, as
 * Go's tls.VersionTLS1x); 0 = not set. */
#define PG_HTTPC_TLS10 0x0301
#define PG_HTTPC_TLS11 0x0302
#define PG_HTTPC_TLS12 0x0303
#define PG_HTTPC_TLS13 0x0304

struct pg_httpc_tls {
    char *ca_file, *cert_file, *key_file, *server_name;
    char *ca, *cert, *key; /* inline PEM (ca, cert, key), exclusive with the *_file forms */
    int insecure_skip_verify;
    int min_version, max_version; /* PG_HTTPC_TLS1x or 0 (min: TLS 1.2 as Go's client) */
};

/* Proxy settings (Prometheus's inline ProxyConfig). */
struct pg_httpc_proxy {
    char *url;              /* proxy_url, NULL = none */
    char *no_proxy;         /* hosts not to proxy (Go's NO_PROXY syntax), only with url */
    int from_environment;   /* HTTP_PROXY / HTTPS_PROXY / NO_PROXY as Go's httpproxy */
    char **connect_headers; /* proxy_connect_header as "Name: value" lines (secrets), sent
                               to the proxy with CONNECT only */
    size_t n_connect_headers;
};

/* One http_headers entry: each value, secret and file content becomes one header line. */
struct pg_httpc_header {
    char *name;
    char **values, **secrets, **files;
    size_t n_values, n_secrets, n_files;
};

/* oauth2: the client credentials grant. */
struct pg_httpc_oauth2 {
    char *client_id;
    char *client_secret;      /* inline, or NULL */
    char *client_secret_file; /* read at every token fetch, or NULL */
    char *token_url;
    char **scopes;
    size_t n_scopes;
    struct pg_labels endpoint_params;
    struct pg_httpc_tls tls;     /* of the token endpoint */
    struct pg_httpc_proxy proxy; /* of the token endpoint */
};

/* HTTP client options shared by scrape jobs, discovery and remote_write. */
struct pg_httpc_cfg {
    char *basic_auth_username;
    char *basic_auth_username_file; /* re-read per request when set */
    char *basic_auth_password;      /* from password (or password_file, read at load) */
    char *basic_auth_password_file; /* re-read per request when set */
    char *auth_type;                /* authorization.type, default Bearer when credentials set */
    char *auth_credentials;         /* from credentials (or credentials_file, read at load) */
    char *auth_credentials_file;    /* re-read per request when set */
    struct pg_httpc_oauth2 *oauth2; /* NULL = none */
    struct pg_httpc_tls tls;
    struct pg_httpc_proxy proxy;          /* proxy_url, no_proxy, proxy_from_environment,
                                             proxy_connect_header */
    int follow_redirects;                 /* default 1 */
    int enable_http2;                     /* default 1 (remote_write: 0, as Prometheus) */
    struct pg_labels headers;             /* extra request headers (remote_write's headers) */
    struct pg_httpc_header *http_headers; /* http_headers */
    size_t n_http_headers;
};

/* Returns 1 when a and b configure the same client (every field compared). */
int pg_httpc_cfg_equal(const struct pg_httpc_cfg *a, const struct pg_httpc_cfg *b);

/* Returns a hash of every field of c (equal configs hash equal). */
uint64_t pg_httpc_cfg_hash(const struct pg_httpc_cfg *c);

/* The hash of an oauth2 block alone (every field: client, secret, endpoint_params, the
 * token endpoint's TLS and proxy), as core/oauth2.c keys its token cache. */
uint64_t pg_httpc_oauth2_hash(const struct pg_httpc_oauth2 *o);

/* Frees what h owns (every string, vector, the oauth2 block) and zeroes it. Accepts NULL. */
void pg_httpc_cfg_free(struct pg_httpc_cfg *h);

/* Returns a deep copy of o (requests keep one while they wait for a token), or NULL on
 * OOM. */
struct pg_httpc_oauth2 *pg_httpc_oauth2_dup(const struct pg_httpc_oauth2 *o);

/* Frees o and what it owns. Accepts NULL. */
void pg_httpc_oauth2_free(struct pg_httpc_oauth2 *o);

/* Frees what t owns. */
void pg_httpc_tls_free(struct pg_httpc_tls *t);

/* Frees what p owns. */
void pg_httpc_proxy_free(struct pg_httpc_proxy *p);

#endif
