/* http.c - the one loader of Prometheus's HTTP client options (HTTPClientConfig of
 * prometheus/common) that scrape jobs, remote_write, http_sd, consul_sd and kubernetes_sd
 * share: basic_auth, authorization, oauth2, tls_config, proxy_url / no_proxy /
 * proxy_from_environment / proxy_connect_header, follow_redirects, enable_http2 and
 * http_headers, into a struct pg_httpc_cfg (core/httpcfg.h). Every problem is reported at
 * its file:line:col with Prometheus's message (its Validate functions); a config that
 * loads is one core/httpc can apply as is. */
#include "yamlcfg/load.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Reports at map's key (or map) when more than one of a and b is set. */
static void at_most_one(struct pg_cfg_ld *l, yaml_node_t *map, const char *key, int a, int b,
                        const char *msg)
{
    if (a && b)
        pg_yaml_error(l->y, pg_cfg_key_node(l, map, key), l->errs, "%s", msg);
}

/* A *_file key: its path (relative to the config file's directory, as Prometheus's
 * SetDirectory) into *path, and (check) the file read once now so that `profgate check`
 * reports a missing file; requests read it again (core/secretfile.h). */
static void get_file(struct pg_cfg_ld *l, yaml_node_t *map, const char *key, char **path,
                     char **content)
{
    if (pg_cfg_get_str(l, map, key, 1, path) != 0 || *path == NULL)
        return;
    pg_cfg_resolve_in_place(l, pg_cfg_key_node(l, map, key), path);
    char *c = pg_cfg_read_secret_file(l, pg_cfg_key_node(l, map, key), *path);
    if (content) {
        free(*content);
        *content = c;
    } else {
        free(c);
    }
}

static void load_basic_auth(struct pg_cfg_ld *l, yaml_node_t *ba, struct pg_httpc_cfg *h)
{
    static const char *const k[] = {"username", "username_file", "password", "password_file", NULL};
    if (pg_yaml_check_keys(l->y, ba, k, "config.BasicAuth", l->errs) != 0)
        return;
    pg_cfg_get_str(l, ba, "username", 1, &h->basic_auth_username);
    pg_cfg_get_str(l, ba, "password", 1, &h->basic_auth_password);
    int has_pw = h->basic_auth_password && *h->basic_auth_password;
    int has_user = h->basic_auth_username && *h->basic_auth_username;
    get_file(l, ba, "username_file", &h->basic_auth_username_file, NULL);
    get_file(l, ba, "password_file", &h->basic_auth_password_file,
             has_pw ? NULL : &h->basic_auth_password);
    at_most_one(l, ba, "username_file", has_user, h->basic_auth_username_file != NULL,
                "at most one of basic_auth username & username_file must be configured");
    at_most_one(l, ba, "password_file", has_pw, h->basic_auth_password_file != NULL,
                "at most one of basic_auth password & password_file must be configured");
}

static void load_authorization(struct pg_cfg_ld *l, yaml_node_t *au, struct pg_httpc_cfg *h)
{
    static const char *const k[] = {"type", "credentials", "credentials_file", NULL};
    if (pg_yaml_check_keys(l->y, au, k, "config.Authorization", l->errs) != 0)
        return;
    pg_cfg_get_str(l, au, "type", 1, &h->auth_type);
    pg_cfg_get_str(l, au, "credentials", 1, &h->auth_credentials);
    int has_cred = h->auth_credentials && *h->auth_credentials;
    get_file(l, au, "credentials_file", &h->auth_credentials_file,
             has_cred ? NULL : &h->auth_credentials);
    at_most_one(l, au, "credentials_file", has_cred, h->auth_credentials_file != NULL,
                "at most one of authorization credentials & credentials_file must be "
                "configured");
    if (!h->auth_type || !*h->auth_type) {
        free(h->auth_type);
        h->auth_type = strdup("Bearer");
    }
    if (h->auth_type && strcasecmp(h->auth_type, "basic") == 0)
        pg_yaml_error(l->y, au, l->errs,
                      "authorization type cannot be set to \"basic\", use \"basic_auth\" instead");
}

/* min_version / max_version: "TLS10".."TLS13". */
static void get_tls_version(struct pg_cfg_ld *l, yaml_node_t *tls, const char *key, int *out)
{
    static const struct {
        const char *name;
        int v;
    } vs[] = {{"TLS10", PG_HTTPC_TLS10},
              {"TLS11", PG_HTTPC_TLS11},
              {"TLS12", PG_HTTPC_TLS12},
              {"TLS13", PG_HTTPC_TLS13}};
    char *s = NULL;
    if (pg_cfg_get_str(l, tls, key, 1, &s) != 0 || s == NULL)
        return;
    for (size_t i = 0; i < sizeof(vs) / sizeof(vs[0]); i++)
        if (strcmp(s, vs[i].name) == 0)
            *out = vs[i].v;
    if (*out == 0)
        pg_yaml_error(l->y, pg_cfg_key_node(l, tls, key), l->errs, "unknown TLS version: %s", s);
    free(s);
}

/* A tls_config mapping into t (also the oauth2 block's own). */
static void load_tls(struct pg_cfg_ld *l, yaml_node_t *tls, struct pg_httpc_tls *t)
{
    static const char *const k[] = {
        "ca",          "ca_file",     "cert",        "cert_file",
        "key",         "key_file",    "server_name", "insecure_skip_verify",
        "min_version", "max_version", NULL};
    if (pg_yaml_check_keys(l->y, tls, k, "config.TLSConfig", l->errs) != 0)
        return;
    pg_cfg_get_str(l, tls, "ca", 0, &t->ca);
    pg_cfg_get_str(l, tls, "cert", 0, &t->cert);
    pg_cfg_get_str(l, tls, "key", 0, &t->key);
    pg_cfg_get_str(l, tls, "ca_file", 1, &t->ca_file);
    pg_cfg_get_str(l, tls, "cert_file", 1, &t->cert_file);
    pg_cfg_get_str(l, tls, "key_file", 1, &t->key_file);
    pg_cfg_resolve_in_place(l, tls, &t->ca_file); /* the config file's directory's */
    pg_cfg_resolve_in_place(l, tls, &t->cert_file);
    pg_cfg_resolve_in_place(l, tls, &t->key_file);
    pg_cfg_get_str(l, tls, "server_name", 1, &t->server_name);
    pg_cfg_get_bool(l, tls, "insecure_skip_verify", &t->insecure_skip_verify);
    get_tls_version(l, tls, "min_version", &t->min_version);
    get_tls_version(l, tls, "max_version", &t->max_version);
    int ca = t->ca && *t->ca, cert = t->cert && *t->cert, key = t->key && *t->key;
    int caf = t->ca_file && *t->ca_file, certf = t->cert_file && *t->cert_file;
    int keyf = t->key_file && *t->key_file;
    at_most_one(l, tls, "ca_file", ca, caf, "at most one of ca and ca_file must be configured");
    at_most_one(l, tls, "cert_file", cert, certf,
                "at most one of cert and cert_file must be configured");
    at_most_one(l, tls, "key_file", key, keyf,
                "at most one of key and key_file must be configured");
    if ((cert || certf) && !(key || keyf))
        pg_yaml_error(l->y, tls, l->errs,
                      "exactly one of key or key_file must be configured when a client "
                      "certificate is configured");
    else if ((key || keyf) && !(cert || certf))
        pg_yaml_error(l->y, tls, l->errs,
                      "exactly one of cert or cert_file must be configured when a client key is "
                      "configured");
    if (t->min_version && t->max_version && t->max_version < t->min_version)
        pg_yaml_error(l->y, pg_cfg_key_node(l, tls, "max_version"), l->errs,
                      "tls_config.max_version must be greater than or equal to "
                      "tls_config.min_version if both are specified");
}

/* Returns 1 when name is an HTTP token (RFC 7230 tchar), as Go's header names must be. */
static int is_token(const char *name)
{
    if (*name == '\0')
        return 0;
    for (const char *c = name; *c; c++)
        if (!isalnum((unsigned char)*c) && !strchr("!#$%&'*+-.^_`|~", *c))
            return 0;
    return 1;
}

/* Go's http.CanonicalHeaderKey of name into out ("x-api-key" -> "X-Api-Key"). */
static void canonical(const char *name, char *out, size_t outlen)
{
    size_t i = 0;
    int up = 1;
    for (; name[i] && i + 1 < outlen; i++) {
        out[i] = up ? (char)toupper((unsigned char)name[i]) : (char)tolower((unsigned char)name[i]);
        up = name[i] == '-';
    }
    out[i] = '\0';
}

/* A sequence of strings at key of map into (*v, *n), every item refused when it holds a
 * line break (it would split the header). */
static void get_values(struct pg_cfg_ld *l, yaml_node_t *map, const char *key, int expand,
                       char ***v, size_t *n)
{
    pg_cfg_get_strv(l, map, key, expand, v, n);
    for (size_t i = 0; i < *n; i++)
        if (strpbrk((*v)[i], "\r\n"))
            pg_yaml_error(l->y, pg_cfg_key_node(l, map, key), l->errs,
                          "%s: a header value must not contain a line break", key);
}

/* proxy_connect_header: {Name: [secret, ...]} into "Name: value" lines. */
static void load_connect_headers(struct pg_cfg_ld *l, yaml_node_t *m, struct pg_httpc_proxy *p)
{
    if (m->type != YAML_MAPPING_NODE) {
        pg_yaml_error(l->y, m, l->errs, "proxy_connect_header: expected a mapping");
        return;
    }
    for (yaml_node_pair_t *pr = m->data.mapping.pairs.start; pr < m->data.mapping.pairs.top; pr++) {
        yaml_node_t *kn = pg_yaml_at(l->y, pr->key);
        char *name = NULL;
        if (pg_yaml_str(l->y, kn, "proxy_connect_header", 0, &name, l->errs) != 0)
            continue;
        if (!is_token(name))
            pg_yaml_error(l->y, kn, l->errs, "invalid header name \"%s\"", name);
        yaml_node_t *vn = pg_yaml_at(l->y, pr->value);
        if (vn->type != YAML_SEQUENCE_NODE) {
            pg_yaml_error(l->y, vn, l->errs, "proxy_connect_header: %s: expected a list", name);
            free(name);
            continue;
        }
        for (yaml_node_item_t *it = vn->data.sequence.items.start; it < vn->data.sequence.items.top;
             it++) {
            char *v = NULL;
            yaml_node_t *in = pg_yaml_at(l->y, *it);
            if (pg_yaml_str(l->y, in, name, 1, &v, l->errs) != 0)
                continue;
            char *line = NULL, **nl;
            if (strpbrk(v, "\r\n"))
                pg_yaml_error(l->y, in, l->errs, "a header value must not contain a line break");
            else if (asprintf(&line, "%s: %s", name, v) >= 0 &&
                     (nl = realloc(p->connect_headers, (p->n_connect_headers + 1) * sizeof(*nl))) !=
                         NULL) {
                p->connect_headers = nl;
                p->connect_headers[p->n_connect_headers++] = line;
                line = NULL;
            }
            free(line);
            free(v);
        }
        free(name);
    }
}

/* The proxy keys of map (the HTTP client's, or the oauth2 block's) into p, validated with
 * Prometheus's ProxyConfig messages. */
static void load_proxy(struct pg_cfg_ld *l, yaml_node_t *map, struct pg_httpc_proxy *p)
{
    pg_cfg_get_str(l, map, "proxy_url", 1, &p->url);
    pg_cfg_get_str(l, map, "no_proxy", 1, &p->no_proxy);
    pg_cfg_get_bool(l, map, "proxy_from_environment", &p->from_environment);
    yaml_node_t *ch = pg_yaml_get(l->y, map, "proxy_connect_header");
    if (ch && !pg_yaml_is_null(ch))
        load_connect_headers(l, ch, p);
    int url = p->url && *p->url, np = p->no_proxy && *p->no_proxy;
    if (url) {
        int has_host;
        if (!pg_cfg_url_is_http(p->url, &has_host) && strncasecmp(p->url, "socks5", 6) != 0)
            pg_yaml_error(l->y, pg_cfg_key_node(l, map, "proxy_url"), l->errs,
                          "proxy_url: unsupported proxy scheme in \"%s\"", p->url);
    }
    if (p->n_connect_headers && !p->from_environment && !url)
        pg_yaml_error(l->y, ch, l->errs,
                      "if proxy_connect_header is configured, proxy_url or "
                      "proxy_from_environment must also be configured");
    else if (p->from_environment && url)
        pg_yaml_error(l->y, pg_cfg_key_node(l, map, "proxy_url"), l->errs,
                      "if proxy_from_environment is configured, proxy_url must not be "
                      "configured");
    else if (p->from_environment && np)
        pg_yaml_error(l->y, pg_cfg_key_node(l, map, "no_proxy"), l->errs,
                      "if proxy_from_environment is configured, no_proxy must not be "
                      "configured");
    else if (!url && np)
        pg_yaml_error(l->y, pg_cfg_key_node(l, map, "no_proxy"), l->errs,
                      "if no_proxy is configured, proxy_url must also be configured");
}

static void load_oauth2(struct pg_cfg_ld *l, yaml_node_t *oa, struct pg_httpc_cfg *h)
{
    static const char *const k[] = {
        "client_id", "client_secret",          "client_secret_file",   "scopes",
        "token_url", "endpoint_params",        "tls_config",           "proxy_url",
        "no_proxy",  "proxy_from_environment", "proxy_connect_header", NULL};
    if (pg_yaml_check_keys(l->y, oa, k, "config.OAuth2", l->errs) != 0)
        return;
    struct pg_httpc_oauth2 *o = calloc(1, sizeof(*o));
    if (o == NULL) {
        pg_yaml_error(l->y, oa, l->errs, "oauth2: out of memory");
        return;
    }
    h->oauth2 = o;
    pg_labels_init(&o->endpoint_params);
    pg_cfg_get_str(l, oa, "client_id", 1, &o->client_id);
    pg_cfg_get_str(l, oa, "client_secret", 1, &o->client_secret);
    get_file(l, oa, "client_secret_file", &o->client_secret_file, NULL);
    pg_cfg_get_strv(l, oa, "scopes", 1, &o->scopes, &o->n_scopes);
    pg_cfg_get_str(l, oa, "token_url", 1, &o->token_url);
    pg_cfg_get_labels(l, oa, "endpoint_params", &o->endpoint_params);
    yaml_node_t *tls = pg_yaml_get(l->y, oa, "tls_config");
    if (tls && !pg_yaml_is_null(tls))
        load_tls(l, tls, &o->tls);
    load_proxy(l, oa, &o->proxy);
    if (!o->client_id || !*o->client_id)
        pg_yaml_error(l->y, oa, l->errs, "oauth2 client_id must be configured");
    if (!o->token_url || !*o->token_url) {
        pg_yaml_error(l->y, oa, l->errs, "oauth2 token_url must be configured");
    } else {
        int has_host;
        if (!pg_cfg_url_is_http(o->token_url, &has_host) || !has_host)
            pg_yaml_error(l->y, pg_cfg_key_node(l, oa, "token_url"), l->errs,
                          "oauth2 token_url \"%s\" must be an http or https URL", o->token_url);
    }
    at_most_one(l, oa, "client_secret_file", o->client_secret && *o->client_secret,
                o->client_secret_file != NULL,
                "at most one of oauth2 client_secret & client_secret_file must be configured");
}

/* Header names Prometheus refuses in http_headers (reservedHeaders of prometheus/common). */
static int reserved_header(const char *name)
{
    static const char *const r[] = {"authorization",
                                    "host",
                                    "content-encoding",
                                    "content-length",
                                    "content-type",
                                    "user-agent",
                                    "connection",
                                    "keep-alive",
                                    "proxy-authenticate",
                                    "proxy-authorization",
                                    "www-authenticate",
                                    "accept-encoding",
                                    "x-prometheus-remote-write-version",
                                    "x-prometheus-remote-read-version",
                                    "x-prometheus-scrape-timeout-seconds",
                                    "x-amz-date",
                                    "x-amz-security-token",
                                    "x-amz-content-sha256"};
    for (size_t i = 0; i < sizeof(r) / sizeof(r[0]); i++)
        if (strcasecmp(name, r[i]) == 0)
            return 1;
    return 0;
}

/* One http_headers entry: name and {values, secrets, files}. */
static void load_header(struct pg_cfg_ld *l, yaml_node_t *kn, yaml_node_t *vn,
                        struct pg_httpc_header *x)
{
    static const char *const k[] = {"values", "secrets", "files", NULL};
    if (pg_yaml_str(l->y, kn, "http_headers", 0, &x->name, l->errs) != 0)
        return;
    char canon[256];
    canonical(x->name, canon, sizeof(canon));
    if (!is_token(x->name))
        pg_yaml_error(l->y, kn, l->errs, "invalid header name \"%s\"", x->name);
    else if (reserved_header(x->name))
        pg_yaml_error(l->y, kn, l->errs, "setting header \"%s\" is not allowed", canon);
    if (pg_yaml_is_null(vn))
        return;
    if (pg_yaml_check_keys(l->y, vn, k, "config.Header", l->errs) != 0)
        return;
    get_values(l, vn, "values", 1, &x->values, &x->n_values);
    get_values(l, vn, "secrets", 1, &x->secrets, &x->n_secrets);
    pg_cfg_get_strv(l, vn, "files", 1, &x->files, &x->n_files);
    for (size_t i = 0; i < x->n_files; i++)
        pg_cfg_resolve_in_place(l, vn, &x->files[i]);
}

/* http_headers: {Name: {values: [...], secrets: [...], files: [...]}}. */
static void load_http_headers(struct pg_cfg_ld *l, yaml_node_t *m, struct pg_httpc_cfg *h)
{
    if (m->type != YAML_MAPPING_NODE) {
        pg_yaml_error(l->y, m, l->errs, "http_headers: expected a mapping of header names");
        return;
    }
    size_t n = (size_t)(m->data.mapping.pairs.top - m->data.mapping.pairs.start);
    h->http_headers = calloc(n ? n : 1, sizeof(*h->http_headers));
    if (h->http_headers == NULL) {
        pg_yaml_error(l->y, m, l->errs, "http_headers: out of memory");
        return;
    }
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        struct pg_httpc_header *x = &h->http_headers[h->n_http_headers++];
        yaml_node_t *kn = pg_yaml_at(l->y, p->key);
        load_header(l, kn, pg_yaml_at(l->y, p->value), x);
        for (size_t i = 0; x->name && i + 1 < h->n_http_headers; i++)
            if (h->http_headers[i].name && strcasecmp(h->http_headers[i].name, x->name) == 0)
                pg_yaml_error(l->y, kn, l->errs, "http_headers: duplicate header \"%s\"", x->name);
    }
}

/* Prometheus's HTTPClientConfig.Validate: which authentication blocks may go together. */
static void check_auth(struct pg_cfg_ld *l, yaml_node_t *map)
{
    yaml_node_t *ba = pg_yaml_get(l->y, map, "basic_auth");
    yaml_node_t *au = pg_yaml_get(l->y, map, "authorization");
    yaml_node_t *oa = pg_yaml_get(l->y, map, "oauth2");
    int nb = ba && !pg_yaml_is_null(ba), na = au && !pg_yaml_is_null(au);
    int no = oa && !pg_yaml_is_null(oa);
    if (nb + na + no > 1)
        pg_yaml_error(l->y, na ? au : oa, l->errs,
                      "at most one of basic_auth, oauth2 & authorization must be configured");
}

void pg_cfg_load_http_dflt(struct pg_cfg_ld *l, yaml_node_t *map, struct pg_httpc_cfg *h,
                           int with_headers, int http2_default)
{
    memset(h, 0, sizeof(*h));
    h->follow_redirects = 1;
    h->enable_http2 = http2_default;
    pg_labels_init(&h->headers);
    if (map == NULL || map->type != YAML_MAPPING_NODE)
        return;
    yaml_node_t *n;
    if ((n = pg_yaml_get(l->y, map, "basic_auth")) && !pg_yaml_is_null(n))
        load_basic_auth(l, n, h);
    if ((n = pg_yaml_get(l->y, map, "authorization")) && !pg_yaml_is_null(n))
        load_authorization(l, n, h);
    if ((n = pg_yaml_get(l->y, map, "oauth2")) && !pg_yaml_is_null(n))
        load_oauth2(l, n, h);
    check_auth(l, map);
    if ((n = pg_yaml_get(l->y, map, "tls_config")) && !pg_yaml_is_null(n))
        load_tls(l, n, &h->tls);
    load_proxy(l, map, &h->proxy);
    pg_cfg_get_bool(l, map, "follow_redirects", &h->follow_redirects);
    pg_cfg_get_bool(l, map, "enable_http2", &h->enable_http2);
    if ((n = pg_yaml_get(l->y, map, "http_headers")) && !pg_yaml_is_null(n))
        load_http_headers(l, n, h);
    if (with_headers)
        pg_cfg_get_labels(l, map, "headers", &h->headers);
}

void pg_cfg_load_http(struct pg_cfg_ld *l, yaml_node_t *map, struct pg_httpc_cfg *h,
                      int with_headers)
{
    pg_cfg_load_http_dflt(l, map, h, with_headers, 1);
}

void pg_cfg_http_free(struct pg_httpc_cfg *h)
{
    pg_httpc_cfg_free(h);
}

int pg_cfg_http_is_custom(const struct pg_httpc_cfg *h)
{
    struct pg_httpc_cfg dflt = {.follow_redirects = 1, .enable_http2 = 1};
    return !pg_httpc_cfg_equal(h, &dflt);
}
