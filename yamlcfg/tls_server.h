/* tls_server.h - a TLS server's settings as plain data, and their loader: the Prometheus
 * exporter-toolkit's `tls_server_config` block, used by receiver.tls_server_config
 * (config/config.c) and by the --web.config.file (daemon/web_config.c).
 *
 * Keys (exporter-toolkit spelling and defaults): cert_file, key_file (or cert and key
 * inline, PEM), client_ca_file (or client_ca inline), client_auth_type (NoClientCert,
 * RequestClientCert, RequireAnyClientCert, VerifyClientCertIfGiven,
 * RequireAndVerifyClientCert; default NoClientCert), min_version (default TLS12),
 * max_version (default TLS13), prefer_server_cipher_suites (default true). The toolkit's
 * cipher_suites, curve_preferences and client_allowed_sans are reported as not supported
 * (they name Go's crypto/tls constants). Relative file names are resolved against the
 * config file's directory. The loader checks the shape and the files' readability; the certificates
 * themselves are parsed when a listener starts (daemon/web_tls.c). Nothing here touches OpenSSL. */
#ifndef PG_YAMLCFG_TLS_SERVER_H
#define PG_YAMLCFG_TLS_SERVER_H

#include "yamlcfg/load.h"

/* Go's tls.ClientAuthType, in its order. */
enum pg_cfg_client_auth {
    PG_CFG_NO_CLIENT_CERT = 0,
    PG_CFG_REQUEST_CLIENT_CERT,
    PG_CFG_REQUIRE_ANY_CLIENT_CERT,
    PG_CFG_VERIFY_CLIENT_CERT_IF_GIVEN,
    PG_CFG_REQUIRE_AND_VERIFY_CLIENT_CERT
};

/* TLS protocol versions, as on the wire (and OpenSSL's TLS1_x_VERSION). */
#define PG_CFG_TLS10 0x0301
#define PG_CFG_TLS11 0x0302
#define PG_CFG_TLS12 0x0303
#define PG_CFG_TLS13 0x0304

struct pg_cfg_tls_server {
    char *cert_file, *key_file, *client_ca_file; /* NULL when unset */
    char *cert, *key, *client_ca;                /* inline PEM, NULL when unset; key is secret */
    enum pg_cfg_client_auth client_auth;
    int min_version, max_version; /* PG_CFG_TLS1x */
    int prefer_server_cipher_suites;
};

/* Loads the tls_server_config mapping at n into *out (initialised here; free with
 * pg_cfg_tls_server_free). what names the block in errors ("receiver:
 * tls_server_config"). Returns 1 when TLS is on (a certificate and key are set), 0 when
 * the block sets neither (plain HTTP, as the exporter-toolkit), -1 on an error (reported at
 * its file:line:col). */
int pg_cfg_load_tls_server(struct pg_cfg_ld *l, yaml_node_t *n, const char *what,
                           struct pg_cfg_tls_server *out);

/* Frees what t owns (not t). Accepts NULL. */
void pg_cfg_tls_server_free(struct pg_cfg_tls_server *t);

/* Returns 1 when a and b hold the same settings. */
int pg_cfg_tls_server_equal(const struct pg_cfg_tls_server *a, const struct pg_cfg_tls_server *b);

/* The exporter-toolkit's name of a version ("TLS12") or client auth type. */
const char *pg_cfg_tls_version_name(int v);
const char *pg_cfg_client_auth_name(enum pg_cfg_client_auth a);

#endif
