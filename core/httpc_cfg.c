/* httpc_cfg.c - applying a struct pg_httpc_cfg (Prometheus's HTTP client options) to one
 * curl easy handle: see pg_httpc_apply in httpc_internal.h. The *_file secrets, the
 * http_headers files and the TLS client certificate and key files are read here, for
 * every request, as Prometheus re-reads them: a rotated file needs no reload. The
 * certificate and key are handed to curl as blobs, which are part of curl's connection
 * matching, so a changed pair is never hidden by a reused connection.
 *
 * tls_config.server_name: libcurl has no SNI override, so for https URLs the URL's host
 * is replaced by server_name (SNI and certificate check then use it) and CURLOPT_CONNECT_TO
 * maps server_name:port back to the original host:port; the original Host header is kept.
 * It has no effect on plain http URLs, as in Prometheus. */
#include "core/httpc_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/errmsg.h"
#include "core/httpproxy.h"
#include "core/secretfile.h"

void pg_httpc_lists_free(struct pg_httpc_lists *l)
{
    if (l == NULL)
        return;
    curl_slist_free_all(l->headers);
    curl_slist_free_all(l->connect_to);
    curl_slist_free_all(l->proxy_headers);
    l->headers = l->connect_to = l->proxy_headers = NULL;
}

int pg_httpc_add_header(struct pg_httpc_lists *l, const char *fmt, ...)
{
    char *line;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&line, fmt, ap);
    va_end(ap);
    if (n < 0)
        return -1;
    struct curl_slist *h = curl_slist_append(l->headers, line);
    free(line);
    if (h == NULL)
        return -1;
    l->headers = h;
    return 0;
}

/* TLS server name for an https url already set on easy (nothing is done for other
 * schemes, as in Prometheus): libcurl has no SNI override, so the URL's host is replaced
 * by server_name (SNI and the certificate check then use it), CURLOPT_CONNECT_TO maps
 * server_name:port back to the original host:port (l->connect_to), and a Host header
 * with the original host[:port] is appended to l->headers. Returns 0, or -1 with a
 * reason in err (invalid URL or server_name, OOM). */
static int pg_httpc_server_name(CURL *easy, const char *url, const char *server_name,
                                struct pg_httpc_lists *l, char *err, size_t errlen)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *port = NULL, *newurl = NULL;
    int rc = -1;
    if (u == NULL)
        goto oom;
    if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK) {
        char shown[512];
        pg_httpc_redact_url(url, shown, sizeof(shown));
        pg_errmsg_set(err, errlen, "invalid URL \"%s\"", shown);
        goto out;
    }
    if (strcasecmp(scheme, "https") != 0) {
        rc = 0; /* TLS option: nothing to do without TLS */
        goto out;
    }
    char *explicit_port = NULL;
    int has_port = curl_url_get(u, CURLUPART_PORT, &explicit_port, 0) == CURLUE_OK;
    curl_free(explicit_port);
    if (pg_httpc_add_header(l, has_port ? "Host: %s:%s" : "Host: %s", host, port) != 0)
        goto oom;
    if (curl_url_set(u, CURLUPART_HOST, server_name, 0) != CURLUE_OK) {
        pg_errmsg_set(err, errlen, "invalid tls_config.server_name \"%s\"", server_name);
        goto out;
    }
    if (curl_url_get(u, CURLUPART_URL, &newurl, 0) != CURLUE_OK)
        goto oom;
    char *map;
    if (asprintf(&map, "%s:%s:%s:%s", server_name, port, host, port) < 0)
        goto oom;
    struct curl_slist *c = curl_slist_append(l->connect_to, map);
    free(map);
    if (c == NULL)
        goto oom;
    l->connect_to = c;
    if (curl_easy_setopt(easy, CURLOPT_CONNECT_TO, l->connect_to) != CURLE_OK ||
        curl_easy_setopt(easy, CURLOPT_URL, newurl) != CURLE_OK)
        goto oom;
    rc = 0;
    goto out;
oom:
    pg_errmsg_set(err, errlen, "out of memory");
out:
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_free(newurl);
    curl_url_cleanup(u);
    return rc;
}

/* Sets a curl option or fails the calling function (returning -1 with err set). */
#define SET(opt, val)                                                                              \
    do {                                                                                           \
        if (curl_easy_setopt(e, opt, val) != CURLE_OK) {                                           \
            pg_errmsg_set(err, errlen, "setting %s failed", #opt);                                 \
            return -1;                                                                             \
        }                                                                                          \
    } while (0)

/* A secret given inline or as a file (read now) into *out: a new string, or NULL when
 * neither is set. Returns 0, or -1 with "unable to read <what>: <why>" in err. */
static int secret_of(const char *inline_v, const char *file, const char *what, char **out,
                     char *err, size_t errlen)
{
    *out = NULL;
    if (file) {
        char why[512];
        if ((*out = pg_secretfile_read_trimmed(file, why, sizeof(why))) == NULL) {
            pg_errmsg_set(err, errlen, "unable to read %s: %s", what, why);
            return -1;
        }
    } else if (inline_v && (*out = strdup(inline_v)) == NULL) {
        pg_errmsg_set(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

/* Overwrites and frees a secret copy. */
static void secret_free(char *s)
{
    if (s)
        memset(s, 0, strlen(s));
    free(s);
}

/* basic_auth (username_file, password_file read now) and authorization. */
static int apply_auth(CURL *e, const struct pg_httpc_cfg *h, struct pg_httpc_lists *l, char *err,
                      size_t errlen)
{
    if (h->basic_auth_username || h->basic_auth_username_file || h->basic_auth_password ||
        h->basic_auth_password_file) {
        char *user = NULL, *pass = NULL;
        int rc = secret_of(h->basic_auth_username, h->basic_auth_username_file,
                           "basic auth username", &user, err, errlen);
        if (rc == 0)
            rc = secret_of(h->basic_auth_password, h->basic_auth_password_file,
                           "basic auth password", &pass, err, errlen);
        if (rc == 0 && (curl_easy_setopt(e, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC) != CURLE_OK ||
                        curl_easy_setopt(e, CURLOPT_USERNAME, user ? user : "") != CURLE_OK ||
                        curl_easy_setopt(e, CURLOPT_PASSWORD, pass ? pass : "") != CURLE_OK)) {
            pg_errmsg_set(err, errlen, "setting basic auth failed");
            rc = -1;
        }
        secret_free(user);
        secret_free(pass);
        if (rc != 0)
            return -1;
    }
    if (h->auth_credentials || h->auth_credentials_file) {
        char *cred = NULL;
        if (secret_of(h->auth_credentials, h->auth_credentials_file, "authorization credentials",
                      &cred, err, errlen) != 0)
            return -1;
        int rc = pg_httpc_add_header(l, "Authorization: %s %s",
                                     h->auth_type && *h->auth_type ? h->auth_type : "Bearer",
                                     cred ? cred : "");
        secret_free(cred);
        if (rc != 0) {
            pg_errmsg_set(err, errlen, "out of memory");
            return -1;
        }
    }
    return 0;
}

/* Sets PEM (copied by curl) as the blob option opt. */
static int set_blob(CURL *e, CURLoption opt, const char *pem, size_t len)
{
    struct curl_blob b = {(void *)pem, len, CURL_BLOB_COPY};
    return curl_easy_setopt(e, opt, &b) == CURLE_OK ? 0 : -1;
}

/* The client certificate or key: o's PEM, else inline, else the file read now, as a blob
 * of type PEM. Returns 0, or -1 with err set. */
static int apply_pem(CURL *e, const struct pg_httpc_pem *opem, const char *inline_pem,
                     const char *file, CURLoption blob_opt, CURLoption type_opt, const char *what,
                     char *err, size_t errlen)
{
    if (opem->data)
        return 0; /* configure_pem sets it */
    char *data = NULL;
    size_t len = 0;
    if (file) {
        char why[512];
        if ((data = pg_secretfile_read(file, &len, why, sizeof(why))) == NULL) {
            pg_errmsg_set(err, errlen, "unable to read specified client %s: %s", what, why);
            return -1;
        }
    }
    const char *pem = data ? data : inline_pem;
    int rc = 0;
    if (pem && (set_blob(e, blob_opt, pem, data ? len : strlen(pem)) != 0 ||
                curl_easy_setopt(e, type_opt, "PEM") != CURLE_OK)) {
        pg_errmsg_set(err, errlen, "setting the client %s failed", what);
        rc = -1;
    }
    secret_free(data);
    return rc;
}

/* Maps PG_HTTPC_TLS1x to curl's CURL_SSLVERSION_TLSv1_x (0 for unset). */
static long curl_tls(int v)
{
    switch (v) {
    case PG_HTTPC_TLS10: return CURL_SSLVERSION_TLSv1_0;
    case PG_HTTPC_TLS11: return CURL_SSLVERSION_TLSv1_1;
    case PG_HTTPC_TLS12: return CURL_SSLVERSION_TLSv1_2;
    case PG_HTTPC_TLS13: return CURL_SSLVERSION_TLSv1_3;
    default: return 0;
    }
}

/* tls_config: CA, client certificate and key, verification, versions, server_name. */
static int apply_tls(CURL *e, const char *url, const struct pg_httpc_opts *o,
                     const struct pg_httpc_tls *t, struct pg_httpc_lists *l, char *err,
                     size_t errlen)
{
    if (!o->ca_pem.data && t->ca) {
        if (set_blob(e, CURLOPT_CAINFO_BLOB, t->ca, strlen(t->ca)) != 0) {
            pg_errmsg_set(err, errlen, "setting the CA certificate failed");
            return -1;
        }
    } else if (!o->ca_pem.data && t->ca_file) {
        SET(CURLOPT_CAINFO, t->ca_file);
    }
    if (apply_pem(e, &o->cert_pem, t->cert, t->cert_file, CURLOPT_SSLCERT_BLOB, CURLOPT_SSLCERTTYPE,
                  "cert", err, errlen) != 0 ||
        apply_pem(e, &o->key_pem, t->key, t->key_file, CURLOPT_SSLKEY_BLOB, CURLOPT_SSLKEYTYPE,
                  "key", err, errlen) != 0)
        return -1;
    if (t->insecure_skip_verify) {
        SET(CURLOPT_SSL_VERIFYPEER, 0L);
        SET(CURLOPT_SSL_VERIFYHOST, 0L);
    }
    /* Go's client defaults to TLS 1.2 at least; no maximum unless set */
    long min = curl_tls(t->min_version ? t->min_version : PG_HTTPC_TLS12);
    long max = t->max_version ? curl_tls(t->max_version) << 16 : CURL_SSLVERSION_MAX_DEFAULT;
    SET(CURLOPT_SSLVERSION, min | max);
    if (t->server_name && *t->server_name &&
        pg_httpc_server_name(e, url, t->server_name, l, err, errlen) != 0)
        return -1;
    return 0;
}

/* The proxy (core/httpproxy.h) and, for a tunnel (https through a proxy), the
 * proxy_connect_header lines: Go sends them with CONNECT only. */
static int apply_proxy(CURL *e, const char *url, const struct pg_httpc_proxy *p,
                       struct pg_httpc_lists *l, char *err, size_t errlen)
{
    char proxy[2048];
    if (pg_httpproxy_for(p, url, proxy, sizeof(proxy)) != 0) {
        pg_errmsg_set(err, errlen, "cannot choose a proxy for this URL");
        return -1;
    }
    /* "" disables libcurl's own reading of http_proxy & co and of no_proxy */
    SET(CURLOPT_PROXY, proxy);
    SET(CURLOPT_NOPROXY, "");
    if (!*proxy || !p || p->n_connect_headers == 0 || strncasecmp(url, "https:", 6) != 0)
        return 0;
    for (size_t i = 0; i < p->n_connect_headers; i++) {
        struct curl_slist *n = curl_slist_append(l->proxy_headers, p->connect_headers[i]);
        if (n == NULL) {
            pg_errmsg_set(err, errlen, "out of memory");
            return -1;
        }
        l->proxy_headers = n;
    }
    SET(CURLOPT_HEADEROPT, (long)CURLHEADER_SEPARATE);
    SET(CURLOPT_PROXYHEADER, l->proxy_headers);
    return 0;
}

/* Appends "name: value" to l->headers, refusing a value that would split the header. */
static int add_value(struct pg_httpc_lists *l, const char *name, const char *value, char *err,
                     size_t errlen)
{
    if (strpbrk(value, "\r\n")) {
        pg_errmsg_set(err, errlen, "invalid value for header \"%s\"", name);
        return -1;
    }
    /* "Name;" is curl's spelling of a header with an empty value */
    if (pg_httpc_add_header(l, *value ? "%s: %s" : "%s;%s", name, value) != 0) {
        pg_errmsg_set(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

/* remote_write's headers and http_headers (values, secrets, then files read now), but
 * none named skip (may be NULL: an extra header of the request replaces it). */
static int apply_headers(const struct pg_httpc_cfg *h, const char *skip, struct pg_httpc_lists *l,
                         char *err, size_t errlen)
{
    for (size_t i = 0; i < h->headers.n; i++)
        if ((!skip || strcasecmp(h->headers.v[i].name, skip) != 0) &&
            add_value(l, h->headers.v[i].name, h->headers.v[i].value, err, errlen) != 0)
            return -1;
    for (size_t i = 0; i < h->n_http_headers; i++) {
        const struct pg_httpc_header *x = &h->http_headers[i];
        if (skip && strcasecmp(x->name, skip) == 0)
            continue;
        for (size_t k = 0; k < x->n_values; k++)
            if (add_value(l, x->name, x->values[k], err, errlen) != 0)
                return -1;
        for (size_t k = 0; k < x->n_secrets; k++)
            if (add_value(l, x->name, x->secrets[k], err, errlen) != 0)
                return -1;
        for (size_t k = 0; k < x->n_files; k++) {
            char why[512];
            char *v = pg_secretfile_read_trimmed(x->files[k], why, sizeof(why));
            if (v == NULL) {
                pg_errmsg_set(err, errlen, "unable to read headers file: %s", why);
                return -1;
            }
            int rc = add_value(l, x->name, v, err, errlen);
            secret_free(v);
            if (rc != 0)
                return -1;
        }
    }
    return 0;
}

int pg_httpc_apply(CURL *e, const char *url, const struct pg_httpc_opts *o,
                   struct pg_httpc_lists *l, char *err, size_t errlen)
{
    const struct pg_httpc_cfg *h = o->http;
    SET(CURLOPT_URL, url);
    SET(CURLOPT_PROTOCOLS_STR, "http,https");
    SET(CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_USERAGENT, pg_httpc_user_agent());
    SET(CURLOPT_FOLLOWLOCATION, !h || h->follow_redirects ? 1L : 0L);
    SET(CURLOPT_MAXREDIRS, 10L);
    /* HTTP/2 only through TLS's ALPN, as Go's client; HTTP/1.1 when disabled */
    SET(CURLOPT_HTTP_VERSION,
        !h || h->enable_http2 ? (long)CURL_HTTP_VERSION_2TLS : (long)CURL_HTTP_VERSION_1_1);
    static const struct pg_httpc_tls no_tls;
    if (apply_proxy(e, url, h ? &h->proxy : NULL, l, err, errlen) != 0 ||
        apply_tls(e, url, o, h ? &h->tls : &no_tls, l, err, errlen) != 0)
        return -1;
    if (h == NULL)
        return 0;
    if (apply_auth(e, h, l, err, errlen) != 0 ||
        apply_headers(h, o->replace_header, l, err, errlen) != 0)
        return -1;
    return 0;
}
