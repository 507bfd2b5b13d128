/* tls_server.c - the exporter-toolkit's tls_server_config block (see tls_server.h). */
#include "yamlcfg/tls_server.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const auth_names[] = {"NoClientCert", "RequestClientCert",
                                         "RequireAnyClientCert", "VerifyClientCertIfGiven",
                                         "RequireAndVerifyClientCert"};

static const struct {
    const char *name;
    int v;
} versions[] = {{"TLS10", PG_CFG_TLS10},
                {"TLS11", PG_CFG_TLS11},
                {"TLS12", PG_CFG_TLS12},
                {"TLS13", PG_CFG_TLS13}};

const char *pg_cfg_tls_version_name(int v)
{
    for (size_t i = 0; i < sizeof(versions) / sizeof(versions[0]); i++)
        if (versions[i].v == v)
            return versions[i].name;
    return "?";
}

const char *pg_cfg_client_auth_name(enum pg_cfg_client_auth a)
{
    return (unsigned)a < 5 ? auth_names[a] : "?";
}

/* A version name at key into *out. */
static void get_version(struct pg_cfg_ld *l, yaml_node_t *map, const char *what, const char *key,
                        int *out)
{
    char *s = NULL;
    if (pg_cfg_get_str(l, map, key, 0, &s) < 0 || !s)
        return;
    size_t i;
    for (i = 0; i < sizeof(versions) / sizeof(versions[0]); i++)
        if (!strcmp(s, versions[i].name))
            break;
    if (i < sizeof(versions) / sizeof(versions[0]))
        *out = versions[i].v;
    else
        pg_yaml_error(l->y, pg_yaml_get(l->y, map, key), l->errs,
                      "%s: unknown TLS version: %s (want TLS10, TLS11, TLS12 or TLS13)", what, s);
    free(s);
}

static void get_client_auth(struct pg_cfg_ld *l, yaml_node_t *map, const char *what,
                            enum pg_cfg_client_auth *out)
{
    char *s = NULL;
    if (pg_cfg_get_str(l, map, "client_auth_type", 0, &s) < 0 || !s)
        return;
    unsigned i;
    for (i = 0; i < 5 && strcmp(s, auth_names[i]) != 0; i++)
        ;
    if (i < 5)
        *out = (enum pg_cfg_client_auth)i;
    else
        pg_yaml_error(l->y, pg_yaml_get(l->y, map, "client_auth_type"), l->errs,
                      "%s: invalid client_auth_type: %s (want NoClientCert, RequestClientCert, "
                      "RequireAnyClientCert, VerifyClientCertIfGiven or "
                      "RequireAndVerifyClientCert)",
                      what, s);
    free(s);
}

/* A file name at key, relative to the config file's directory (as Prometheus), which
 * must be readable now (it is read again when the listener starts and whenever it
 * changes). */
static void get_file(struct pg_cfg_ld *l, yaml_node_t *map, const char *what, const char *key,
                     char **out)
{
    if (pg_cfg_get_str(l, map, key, 1, out) < 0 || !*out)
        return;
    pg_cfg_resolve_in_place(l, pg_yaml_get(l->y, map, key), out);
    if (!**out)
        pg_yaml_error(l->y, pg_yaml_get(l->y, map, key), l->errs, "%s: %s is empty", what, key);
    else if (access(*out, R_OK) != 0)
        pg_yaml_error(l->y, pg_yaml_get(l->y, map, key), l->errs, "%s: %s %s: %s", what, key, *out,
                      strerror(errno));
}

/* Reports a pair set both inline and as a file, or a key the toolkit has and profgate not. */
static void check_exclusive(struct pg_cfg_ld *l, yaml_node_t *n, const char *what)
{
    static const char *const pairs[][2] = {
        {"cert", "cert_file"}, {"key", "key_file"}, {"client_ca", "client_ca_file"}};
    for (size_t i = 0; i < 3; i++)
        if (pg_yaml_get(l->y, n, pairs[i][0]) && pg_yaml_get(l->y, n, pairs[i][1]))
            pg_yaml_error(l->y, pg_yaml_get(l->y, n, pairs[i][0]), l->errs,
                          "%s: %s and %s are mutually exclusive", what, pairs[i][0], pairs[i][1]);
    static const char *const unsupported[] = {"cipher_suites", "curve_preferences",
                                              "client_allowed_sans"};
    for (size_t i = 0; i < 3; i++)
        if (pg_yaml_get(l->y, n, unsupported[i]))
            pg_yaml_error(l->y, pg_cfg_key_node(l, n, unsupported[i]), l->errs,
                          "%s: %s is not supported by profgate (OpenSSL's defaults apply)", what,
                          unsupported[i]);
}

int pg_cfg_load_tls_server(struct pg_cfg_ld *l, yaml_node_t *n, const char *what,
                           struct pg_cfg_tls_server *out)
{
    static const char *const k[] = {"cert_file",
                                    "key_file",
                                    "cert",
                                    "key",
                                    "client_ca_file",
                                    "client_ca",
                                    "client_auth_type",
                                    "min_version",
                                    "max_version",
                                    "prefer_server_cipher_suites",
                                    "cipher_suites",
                                    "curve_preferences",
                                    "client_allowed_sans",
                                    NULL};
    memset(out, 0, sizeof(*out));
    out->min_version = PG_CFG_TLS12;
    out->max_version = PG_CFG_TLS13;
    out->prefer_server_cipher_suites = 1;
    size_t before = l->errs->n;
    if (pg_yaml_check_keys(l->y, n, k, "web.TLSConfig", l->errs) < 0 &&
        n->type != YAML_MAPPING_NODE)
        return -1;
    check_exclusive(l, n, what);
    get_file(l, n, what, "cert_file", &out->cert_file);
    get_file(l, n, what, "key_file", &out->key_file);
    get_file(l, n, what, "client_ca_file", &out->client_ca_file);
    pg_cfg_get_str(l, n, "cert", 0, &out->cert);
    pg_cfg_get_str(l, n, "key", 1, &out->key); /* inline PEM; ${VAR} for a secret */
    pg_cfg_get_str(l, n, "client_ca", 0, &out->client_ca);
    get_client_auth(l, n, what, &out->client_auth);
    get_version(l, n, what, "min_version", &out->min_version);
    get_version(l, n, what, "max_version", &out->max_version);
    pg_cfg_get_bool(l, n, "prefer_server_cipher_suites", &out->prefer_server_cipher_suites);
    int has_cert = out->cert_file || out->cert, has_key = out->key_file || out->key;
    int has_ca = out->client_ca_file || out->client_ca;
    if (has_cert && !has_key)
        pg_yaml_error(l->y, n, l->errs, "%s: missing key_file or key", what);
    if (has_key && !has_cert)
        pg_yaml_error(l->y, n, l->errs, "%s: missing cert_file or cert", what);
    if (!has_cert && !has_key && (has_ca || out->client_auth != PG_CFG_NO_CLIENT_CERT))
        pg_yaml_error(l->y, n, l->errs,
                      "%s: client certificates need a server certificate: missing cert_file "
                      "and key_file",
                      what);
    if (has_ca && out->client_auth == PG_CFG_NO_CLIENT_CERT)
        pg_yaml_error(l->y, pg_cfg_key_node(l, n, out->client_ca ? "client_ca" : "client_ca_file"),
                      l->errs,
                      "%s: client CAs have been configured without a client_auth_type (want "
                      "RequireAndVerifyClientCert)",
                      what);
    if (out->min_version > out->max_version)
        pg_yaml_error(l->y, pg_cfg_key_node(l, n, "min_version"), l->errs,
                      "%s: min_version %s is above max_version %s", what,
                      pg_cfg_tls_version_name(out->min_version),
                      pg_cfg_tls_version_name(out->max_version));
    if (l->errs->n > before)
        return -1;
    return has_cert && has_key;
}

void pg_cfg_tls_server_free(struct pg_cfg_tls_server *t)
{
    if (!t)
        return;
    free(t->cert_file);
    free(t->key_file);
    free(t->client_ca_file);
    free(t->cert);
    free(t->key);
    free(t->client_ca);
    memset(t, 0, sizeof(*t));
}

static int eq(const char *a, const char *b)
{
    return (!a && !b) || (a && b && !strcmp(a, b));
}

int pg_cfg_tls_server_equal(const struct pg_cfg_tls_server *a, const struct pg_cfg_tls_server *b)
{
    if (!a || !b)
        return a == b;
    return eq(a->cert_file, b->cert_file) && eq(a->key_file, b->key_file) &&
           eq(a->client_ca_file, b->client_ca_file) && eq(a->cert, b->cert) && eq(a->key, b->key) &&
           eq(a->client_ca, b->client_ca) && a->client_auth == b->client_auth &&
           a->min_version == b->min_version && a->max_version == b->max_version &&
           a->prefer_server_cipher_suites == b->prefer_server_cipher_suites;
}
