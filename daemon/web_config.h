/* web_config.h - the --web.config.file of `profgate run` (and `profgate check-web-config`),
 * in the Prometheus exporter-toolkit's format:
 *
 *   tls_server_config: {...}        # yamlcfg/tls_server.h; absent or no cert: plain HTTP
 *   basic_auth_users: {name: bcrypt hash, ...}   # absent or empty: no authentication
 *
 * Hashes must be bcrypt ($2a$, $2b$ or $2y$, cost 4..31; `htpasswd -nBC 10 ""` makes
 * one); a hash is a secret and never appears in an error text. The toolkit's
 * http_server_config and rate_limit are reported as not supported. The server
 * (daemon/web.c) re-reads the file when it changes, as the toolkit reads it on every
 * request; a changed file that does not load is logged and the previous one kept. */
#ifndef PG_DAEMON_WEB_CONFIG_H
#define PG_DAEMON_WEB_CONFIG_H

#include <stddef.h>

#include "yamlcfg/errors.h"
#include "yamlcfg/tls_server.h"

struct pg_web_user {
    char *name;
    char *hash; /* bcrypt */
};

struct pg_web_config {
    char *file;
    int tls_on; /* tls holds a certificate and key */
    struct pg_cfg_tls_server tls;
    struct pg_web_user *users;
    size_t n_users;
};

/* Loads path. Returns the config (free with pg_web_config_free), or NULL with every
 * problem in errs as file:line:col. */
struct pg_web_config *pg_web_config_load(const char *path, struct pg_cfg_errors *errs);

/* Returns 1 when hash is a well-formed bcrypt hash ($2a$/$2b$/$2y$, cost 04..31, 53
 * characters of salt and digest). */
int pg_web_config_is_bcrypt(const char *hash);

/* Frees c. Accepts NULL. */
void pg_web_config_free(struct pg_web_config *c);

#endif
