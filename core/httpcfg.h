/* httpcfg.h - the settings of one HTTP client, as Prometheus's http_config
 * (prometheus/common HTTPClientConfig): basic auth, authorization, TLS, proxy,
 * redirects and extra headers. Plain data: the config loader (config/load.c) fills and
 * frees it with the secrets already read from their files; core/httpc applies it to a
 * request. It lives in core so that the HTTP client does not depend on the config. */
#ifndef PG_CORE_HTTPCFG_H
#define PG_CORE_HTTPCFG_H

#include "core/labels.h"

struct pg_httpc_tls {
    char *ca_file, *cert_file, *key_file, *server_name;
    int insecure_skip_verify;
};

/* HTTP client options shared by scrape jobs, discovery and remote_write. */
struct pg_httpc_cfg {
    char *basic_auth_username;
    char *basic_auth_password; /* from password or password_file */
    char *auth_type;           /* authorization.type, default Bearer when credentials set */
    char *auth_credentials;    /* from credentials or credentials_file */
    struct pg_httpc_tls tls;
    char *proxy_url;
    int follow_redirects;     /* default 1 */
    struct pg_labels headers; /* extra request headers (remote_write) */
};

#endif
