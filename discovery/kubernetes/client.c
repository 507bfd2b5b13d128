/* client.c - the Kubernetes API client (see client.h): kubeconfig parsing (libyaml
 * document API), authentication resolution and asynchronous GETs on the curl multi driver
 * (watch streams are split into lines by core/linesplit.c).
 *
 * Every request builds its own easy handle: Accept: application/json, then what every
 * profgate request has and, with api_server, the config's HTTP client options
 * (pg_httpc_apply of core/httpc.h); otherwise the kubeconfig's or in-cluster settings:
 * TLS (CA file or blob, client cert/key file or blob, verification, tls-server-name),
 * proxy, basic auth or "Authorization: Bearer <token>" (token read from its file when the
 * file's mtime changed). The write function is either a bounded whole-body buffer or a
 * line splitter. Error texts and the logged server name show a URL password as
 * "<secret>" and carry no '"' (they are logged as quoted logfmt values). */
#include "discovery/kubernetes/client.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <yaml.h>

#include "core/base64.h"
#include "core/httpc.h"
#include "core/log.h"

#define PG_KUBE_ERRBODY_MAX ((size_t)64 << 10)
#define PG_KUBE_TOKEN_MAX ((size_t)1 << 20)

/* ---- log-safe text ------------------------------------------------------------------- */

/* Returns a copy of url whose userinfo password is shown as "<secret>"
 * ("http://bob:<secret>@host/..."), as Prometheus redacts URLs; a URL without a password
 * is copied as is. NULL on OOM. */
static char *redact_url(const char *url)
{
    size_t n = strlen(url) + sizeof("<secret>");
    char *out = malloc(n);
    if (out)
        pg_httpc_redact_url(url, out, n);
    return out;
}

void pg_kube_log_safe(char *s)
{
    for (; s && *s; s++) {
        if (*s == '"')
            *s = '\'';
        else if ((unsigned char)*s < 0x20 || *s == 0x7f)
            *s = ' ';
    }
}

int pg_kube_redact_url(const char *url, char *buf, size_t len)
{
    char *r = redact_url(url);
    if (!r)
        return -1;
    snprintf(buf, len, "%s", r);
    free(r);
    return 0;
}

/* ---- base64 -------------------------------------------------------------------------- */

int pg_kube_base64_decode(const char *in, size_t n, uint8_t **out, size_t *outlen)
{
    return pg_base64_decode(in, n, PG_BASE64_IGNORE_SPACE, out, outlen);
}

/* ---- kubeconfig ---------------------------------------------------------------------- */

static yaml_node_t *ymap_get(yaml_document_t *d, yaml_node_t *map, const char *key)
{
    if (!map || map->type != YAML_MAPPING_NODE)
        return NULL;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = yaml_document_get_node(d, p->key);
        if (k && k->type == YAML_SCALAR_NODE && strcmp((char *)k->data.scalar.value, key) == 0)
            return yaml_document_get_node(d, p->value);
    }
    return NULL;
}

static const char *yscalar(yaml_node_t *n)
{
    if (!n || n->type != YAML_SCALAR_NODE)
        return NULL;
    return (const char *)n->data.scalar.value;
}

/* The "<what>" entry named name in the list under key (clusters/contexts/users). */
static yaml_node_t *ynamed(yaml_document_t *d, yaml_node_t *root, const char *key, const char *what,
                           const char *name)
{
    yaml_node_t *list = ymap_get(d, root, key);
    if (!list || list->type != YAML_SEQUENCE_NODE || !name)
        return NULL;
    for (yaml_node_item_t *it = list->data.sequence.items.start; it < list->data.sequence.items.top;
         it++) {
        yaml_node_t *e = yaml_document_get_node(d, *it);
        const char *n = yscalar(ymap_get(d, e, "name"));
        if (n && strcmp(n, name) == 0)
            return ymap_get(d, e, what);
    }
    return NULL;
}

/* Copies a file name, resolved against dir when relative. */
static char *resolve_path(const char *dir, const char *p)
{
    if (!p || !*p)
        return NULL;
    if (p[0] == '/' || !dir)
        return strdup(p);
    char *s;
    if (asprintf(&s, "%s/%s", dir, p) < 0)
        return NULL;
    return s;
}

static int dup_opt(char **dst, const char *src)
{
    if (!src || !*src)
        return 0;
    *dst = strdup(src);
    return *dst ? 0 : -1;
}

static int b64_opt(const char *src, uint8_t **dst, size_t *len)
{
    if (!src || !*src)
        return 0;
    return pg_kube_base64_decode(src, strlen(src), dst, len);
}

void pg_kube_kubeconfig_reset(struct pg_kube_kubeconfig *k)
{
    if (!k)
        return;
    free(k->server);
    free(k->ca_file);
    free(k->ca_data);
    free(k->cert_file);
    free(k->key_file);
    free(k->cert_data);
    free(k->key_data);
    free(k->token);
    free(k->token_file);
    free(k->username);
    free(k->password);
    free(k->namespace_);
    free(k->tls_server_name);
    free(k->proxy_url);
    memset(k, 0, sizeof(*k));
}

int pg_kube_kubeconfig_load(const char *path, struct pg_kube_kubeconfig *out, char *err,
                            size_t errlen)
{
    memset(out, 0, sizeof(*out));
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "cannot open kubeconfig %s: %s", path, strerror(errno));
        return -1;
    }
    yaml_parser_t parser;
    yaml_document_t doc;
    int have_doc = 0, rc = -1;
    char *dir = NULL;
    if (!yaml_parser_initialize(&parser)) {
        fclose(f);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    yaml_parser_set_input_file(&parser, f);
    if (!yaml_parser_load(&parser, &doc)) {
        snprintf(err, errlen, "kubeconfig %s: %s at line %zu", path,
                 parser.problem ? parser.problem : "YAML error", parser.problem_mark.line + 1);
        goto out;
    }
    have_doc = 1;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!root || root->type != YAML_MAPPING_NODE) {
        snprintf(err, errlen, "kubeconfig %s: not a mapping", path);
        goto out;
    }
    const char *cur = yscalar(ymap_get(&doc, root, "current-context"));
    if (!cur || !*cur) {
        snprintf(err, errlen, "kubeconfig %s: no current-context", path);
        goto out;
    }
    yaml_node_t *ctx = ynamed(&doc, root, "contexts", "context", cur);
    if (!ctx) {
        snprintf(err, errlen, "kubeconfig %s: context \"%s\" not found", path, cur);
        goto out;
    }
    const char *cname = yscalar(ymap_get(&doc, ctx, "cluster"));
    const char *uname = yscalar(ymap_get(&doc, ctx, "user"));
    yaml_node_t *cl = ynamed(&doc, root, "clusters", "cluster", cname);
    if (!cl) {
        snprintf(err, errlen, "kubeconfig %s: cluster \"%s\" not found", path, cname ? cname : "");
        goto out;
    }
    yaml_node_t *us = ynamed(&doc, root, "users", "user", uname); /* may be absent */
    const char *slash = strrchr(path, '/');
    if (slash && !(dir = strndup(path, (size_t)(slash - path) + (slash == path))))
        goto oom;

    const char *server = yscalar(ymap_get(&doc, cl, "server"));
    if (!server || !*server) {
        snprintf(err, errlen, "kubeconfig %s: cluster \"%s\" has no server", path, cname);
        goto out;
    }
    if (dup_opt(&out->server, server) < 0 ||
        dup_opt(&out->namespace_, yscalar(ymap_get(&doc, ctx, "namespace"))) < 0 ||
        dup_opt(&out->tls_server_name, yscalar(ymap_get(&doc, cl, "tls-server-name"))) < 0 ||
        dup_opt(&out->proxy_url, yscalar(ymap_get(&doc, cl, "proxy-url"))) < 0)
        goto oom;
    const char *ins = yscalar(ymap_get(&doc, cl, "insecure-skip-tls-verify"));
    out->insecure_skip_verify = ins && strcmp(ins, "true") == 0;
    const char *ca = yscalar(ymap_get(&doc, cl, "certificate-authority"));
    if (ca && *ca && !(out->ca_file = resolve_path(dir, ca)))
        goto oom;
    if (b64_opt(yscalar(ymap_get(&doc, cl, "certificate-authority-data")), &out->ca_data,
                &out->ca_len) < 0) {
        snprintf(err, errlen, "kubeconfig %s: bad certificate-authority-data", path);
        goto out;
    }
    if (us) {
        const char *cf = yscalar(ymap_get(&doc, us, "client-certificate"));
        const char *kf = yscalar(ymap_get(&doc, us, "client-key"));
        const char *tf = yscalar(ymap_get(&doc, us, "tokenFile"));
        if ((cf && *cf && !(out->cert_file = resolve_path(dir, cf))) ||
            (kf && *kf && !(out->key_file = resolve_path(dir, kf))) ||
            (tf && *tf && !(out->token_file = resolve_path(dir, tf))))
            goto oom;
        if (b64_opt(yscalar(ymap_get(&doc, us, "client-certificate-data")), &out->cert_data,
                    &out->cert_len) < 0 ||
            b64_opt(yscalar(ymap_get(&doc, us, "client-key-data")), &out->key_data, &out->key_len) <
                0) {
            snprintf(err, errlen, "kubeconfig %s: bad client-certificate-data/client-key-data",
                     path);
            goto out;
        }
        if (dup_opt(&out->token, yscalar(ymap_get(&doc, us, "token"))) < 0 ||
            dup_opt(&out->username, yscalar(ymap_get(&doc, us, "username"))) < 0 ||
            dup_opt(&out->password, yscalar(ymap_get(&doc, us, "password"))) < 0)
            goto oom;
        if (ymap_get(&doc, us, "exec") || ymap_get(&doc, us, "auth-provider"))
            pg_log_warn("sd.kubernetes",
                        "kubeconfig=%s msg=\"exec and auth-provider credentials are not "
                        "supported; using the static credentials only\"",
                        path);
    }
    rc = 0;
    goto out;
oom:
    snprintf(err, errlen, "out of memory");
out:
    if (rc < 0)
        pg_kube_kubeconfig_reset(out);
    free(dir);
    if (have_doc)
        yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    fclose(f);
    return rc;
}

/* ---- client -------------------------------------------------------------------------- */

struct pg_kube_client {
    const struct pg_cfg_kube_sd *cfg;
    const struct pg_cfg_http *http; /* api_server mode: the config's options, else NULL */
    char *server;
    char *log_server;             /* server with its password redacted */
    struct pg_kube_kubeconfig kc; /* kubeconfig or in-cluster settings */
    char *own_namespace;
    /* token file cache */
    char *token;
    struct timespec token_mtime;
    off_t token_size;
};

static const char *sa_dir(void)
{
    const char *d = getenv("PROFGATE_K8S_SA_DIR");
    return d && *d ? d : PG_KUBE_SA_DIR;
}

/* Reads a whole small file into a new NUL-terminated string with trailing whitespace
 * trimmed. Returns NULL on failure (errno set). */
static char *read_small_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = malloc(PG_KUBE_TOKEN_MAX + 1);
    if (!buf) {
        fclose(f);
        return NULL;
    }
    size_t n = fread(buf, 1, PG_KUBE_TOKEN_MAX, f);
    fclose(f);
    buf[n] = '\0';
    while (n > 0 && isspace((unsigned char)buf[n - 1]))
        buf[--n] = '\0';
    char *s = strdup(buf);
    free(buf);
    return s;
}

void pg_kube_client_destroy(struct pg_kube_client *c)
{
    if (!c)
        return;
    free(c->server);
    free(c->log_server);
    pg_kube_kubeconfig_reset(&c->kc);
    free(c->own_namespace);
    free(c->token);
    free(c);
}

struct pg_kube_client *pg_kube_client_create(const struct pg_cfg_kube_sd *cfg, char *err,
                                             size_t errlen)
{
    struct pg_kube_client *c = calloc(1, sizeof(*c));
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    c->cfg = cfg;
    char path[4096];
    if (cfg->api_server && *cfg->api_server) {
        c->http = &cfg->http;
        if (!(c->server = strdup(cfg->api_server)))
            goto oom;
    } else if (cfg->kubeconfig_file && *cfg->kubeconfig_file) {
        if (pg_kube_kubeconfig_load(cfg->kubeconfig_file, &c->kc, err, errlen) < 0)
            goto fail;
        if (!(c->server = strdup(c->kc.server)))
            goto oom;
    } else {
        const char *host = getenv("KUBERNETES_SERVICE_HOST");
        const char *port = getenv("KUBERNETES_SERVICE_PORT");
        if (!host || !*host || !port || !*port) {
            snprintf(err, errlen,
                     "unable to load in-cluster configuration, KUBERNETES_SERVICE_HOST and "
                     "KUBERNETES_SERVICE_PORT must be defined");
            goto fail;
        }
        int v6 = strchr(host, ':') != NULL;
        if (asprintf(&c->server, v6 ? "https://[%s]:%s" : "https://%s:%s", host, port) < 0) {
            c->server = NULL;
            goto oom;
        }
        snprintf(path, sizeof(path), "%s/token", sa_dir());
        if (!(c->kc.token_file = strdup(path)))
            goto oom;
        snprintf(path, sizeof(path), "%s/ca.crt", sa_dir());
        if (!(c->kc.ca_file = strdup(path)))
            goto oom;
    }
    size_t n = strlen(c->server);
    while (n > 0 && c->server[n - 1] == '/')
        c->server[--n] = '\0';
    if (!(c->log_server = redact_url(c->server)))
        goto oom;
    snprintf(path, sizeof(path), "%s/namespace", sa_dir());
    c->own_namespace = read_small_file(path);
    if (!c->own_namespace && c->kc.namespace_ && !(c->own_namespace = strdup(c->kc.namespace_)))
        goto oom;
    return c;
oom:
    snprintf(err, errlen, "out of memory");
fail:
    pg_kube_client_destroy(c);
    return NULL;
}

const char *pg_kube_client_server(const struct pg_kube_client *c)
{
    return c->log_server;
}

const char *pg_kube_client_own_namespace(const struct pg_kube_client *c)
{
    return c->own_namespace;
}

/* The bearer token to send (borrowed), re-reading the token file when it changed; NULL
 * when there is none. */
static const char *client_token(struct pg_kube_client *c)
{
    if (c->kc.token_file) {
        struct stat st;
        if (stat(c->kc.token_file, &st) == 0 &&
            (!c->token || st.st_mtim.tv_sec != c->token_mtime.tv_sec ||
             st.st_mtim.tv_nsec != c->token_mtime.tv_nsec || st.st_size != c->token_size)) {
            char *t = read_small_file(c->kc.token_file);
            if (t) {
                if (c->token)
                    pg_log_info("sd.kubernetes", "file=%s msg=\"token file changed, reloaded\"",
                                c->kc.token_file);
                free(c->token);
                c->token = t;
                c->token_mtime = st.st_mtim;
                c->token_size = st.st_size;
            }
        }
        if (c->token)
            return c->token;
    }
    return c->kc.token;
}

/* ---- requests ------------------------------------------------------------------------ */

struct pg_kube_req {
    struct pg_curlm *m;
    CURL *easy;
    struct pg_httpc_lists lists; /* headers and connect_to of easy */
    pg_kube_line_fn on_line;
    pg_kube_done_fn done;
    void *ud;
    char *url;
    char *log_url; /* url with its password redacted, for error texts */
    size_t max;
    /* whole body, or the error body of a stream */
    char *buf;
    size_t len, cap;
    struct pg_kube_lines lines;
    int status_known; /* stream: 1 = 200 (lines), 2 = other (buffer) */
    int too_large, line_err, stopped;
    struct timespec start;
    char errbuf[CURL_ERROR_SIZE];
};

static void req_free(struct pg_kube_req *r)
{
    if (!r)
        return;
    if (r->easy)
        curl_easy_cleanup(r->easy);
    pg_httpc_lists_free(&r->lists);
    pg_kube_lines_reset(&r->lines);
    free(r->url);
    free(r->log_url);
    free(r->buf);
    free(r);
}

static int buf_append(struct pg_kube_req *r, const char *data, size_t n, size_t max)
{
    if (n > max - r->len)
        return -1;
    if (r->len + n + 1 > r->cap) {
        size_t cap = r->cap ? r->cap : 16384;
        while (cap < r->len + n + 1)
            cap *= 2;
        if (cap > max + 1)
            cap = max + 1;
        char *b = realloc(r->buf, cap);
        if (!b)
            return -1;
        r->buf = b;
        r->cap = cap;
    }
    memcpy(r->buf + r->len, data, n);
    r->len += n;
    r->buf[r->len] = '\0';
    return 0;
}

static size_t on_write(char *data, size_t size, size_t nmemb, void *userp)
{
    struct pg_kube_req *r = userp;
    size_t n = size * nmemb;
    if (!r->on_line) {
        if (buf_append(r, data, n, r->max) < 0) {
            r->too_large = 1;
            return 0;
        }
        return n;
    }
    if (!r->status_known) {
        long status = 0;
        curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
        r->status_known = status == 200 ? 1 : 2;
    }
    if (r->status_known == 2) {
        if (r->len < PG_KUBE_ERRBODY_MAX)
            buf_append(r, data, n < PG_KUBE_ERRBODY_MAX - r->len ? n : PG_KUBE_ERRBODY_MAX - r->len,
                       PG_KUBE_ERRBODY_MAX);
        return n;
    }
    int rc = pg_kube_lines_feed(&r->lines, data, n, r->on_line, r->ud);
    if (rc == -1) {
        r->stopped = 1;
        return 0;
    }
    if (rc < 0) {
        r->line_err = rc;
        return 0;
    }
    return n;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *userp)
{
    struct pg_kube_req *r = userp;
    size_t n = size * nmemb;
    if (n >= 5 && strncmp(data, "HTTP/", 5) == 0) {
        /* a new response (redirect, 1xx): start over */
        r->status_known = 0;
        r->len = 0;
        pg_kube_lines_reset(&r->lines);
    }
    return n;
}

static void on_done(void *ud, CURL *easy, CURLcode result)
{
    struct pg_kube_req *r = ud;
    struct pg_kube_resp resp = {0};
    char err[CURL_ERROR_SIZE + 512];
    long status = 0;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    resp.status = status;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    resp.duration_s =
        (double)(now.tv_sec - r->start.tv_sec) + (double)(now.tv_nsec - r->start.tv_nsec) / 1e9;
    if (result == CURLE_OK && r->on_line && r->status_known == 1) {
        int rc = pg_kube_lines_finish(&r->lines, r->on_line, r->ud);
        if (rc == -1)
            r->stopped = 1;
    }
    if (r->too_large) {
        resp.failed = 1;
        snprintf(err, sizeof(err), "Get '%s': body exceeds limit of %zu bytes", r->log_url, r->max);
    } else if (r->line_err) {
        resp.failed = 1;
        snprintf(err, sizeof(err), "Get '%s': %s", r->log_url,
                 r->line_err == -2 ? "watch event line exceeds limit" : "out of memory");
    } else if (r->stopped) {
        resp.failed = 1;
        snprintf(err, sizeof(err), "Get '%s': stream stopped by the watcher", r->log_url);
    } else if (result != CURLE_OK) {
        resp.failed = 1;
        snprintf(err, sizeof(err), "Get '%s': %s", r->log_url,
                 r->errbuf[0] ? r->errbuf : curl_easy_strerror(result));
        size_t n = strlen(err);
        while (n > 0 && isspace((unsigned char)err[n - 1]))
            err[--n] = '\0';
    }
    if (resp.failed) {
        pg_kube_log_safe(err);
        resp.error = err;
    }
    resp.body = r->buf ? r->buf : "";
    resp.len = r->len;
    r->done(r->ud, &resp);
    req_free(r);
}

static int configure(struct pg_kube_client *c, struct pg_kube_req *r, int64_t timeout_ms, char *err,
                     size_t errlen)
{
    CURL *e = r->easy;
    const struct pg_kube_kubeconfig *k = &c->kc;
    struct pg_httpc_lists *l = &r->lists;
#define SET(opt, val)                                                                              \
    do {                                                                                           \
        if (curl_easy_setopt(e, opt, val) != CURLE_OK) {                                           \
            snprintf(err, errlen, "setting %s failed", #opt);                                      \
            return -1;                                                                             \
        }                                                                                          \
    } while (0)
    SET(CURLOPT_ERRORBUFFER, r->errbuf);
    SET(CURLOPT_WRITEFUNCTION, on_write);
    SET(CURLOPT_WRITEDATA, r);
    SET(CURLOPT_HEADERFUNCTION, on_header);
    SET(CURLOPT_HEADERDATA, r);
    SET(CURLOPT_HTTPGET, 1L);
    SET(CURLOPT_CONNECTTIMEOUT_MS, 10000L);
    SET(CURLOPT_TCP_KEEPALIVE, 1L);
    if (timeout_ms > 0)
        SET(CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    if (pg_httpc_add_header(l, "Accept: application/json") < 0)
        goto oom;
    /* api_server: the config's HTTP client options; kubeconfig or in-cluster: none here
     * (redirects followed, no proxy), the kubeconfig's settings follow */
    if (pg_httpc_apply(e, r->url, c->http, l, err, errlen) < 0)
        return -1;

    if (!c->http) { /* kubeconfig or in-cluster */
        if (k->proxy_url)
            SET(CURLOPT_PROXY, k->proxy_url);
        if (k->ca_data) {
            struct curl_blob b = {k->ca_data, k->ca_len, CURL_BLOB_COPY};
            SET(CURLOPT_CAINFO_BLOB, &b);
        } else if (k->ca_file) {
            SET(CURLOPT_CAINFO, k->ca_file);
        }
        if (k->cert_data) {
            struct curl_blob b = {k->cert_data, k->cert_len, CURL_BLOB_COPY};
            SET(CURLOPT_SSLCERT_BLOB, &b);
            SET(CURLOPT_SSLCERTTYPE, "PEM");
        } else if (k->cert_file) {
            SET(CURLOPT_SSLCERT, k->cert_file);
        }
        if (k->key_data) {
            struct curl_blob b = {k->key_data, k->key_len, CURL_BLOB_COPY};
            SET(CURLOPT_SSLKEY_BLOB, &b);
            SET(CURLOPT_SSLKEYTYPE, "PEM");
        } else if (k->key_file) {
            SET(CURLOPT_SSLKEY, k->key_file);
        }
        if (k->insecure_skip_verify) {
            SET(CURLOPT_SSL_VERIFYPEER, 0L);
            SET(CURLOPT_SSL_VERIFYHOST, 0L);
        }
        if (k->tls_server_name &&
            pg_httpc_server_name(e, r->url, k->tls_server_name, l, err, errlen) < 0) {
            snprintf(err, errlen, "invalid tls-server-name '%s'", k->tls_server_name);
            return -1;
        }
        const char *tok = client_token(c);
        if (tok && *tok) {
            if (pg_httpc_add_header(l, "Authorization: Bearer %s", tok) < 0)
                goto oom;
        } else if (k->username) {
            SET(CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
            SET(CURLOPT_USERNAME, k->username);
            SET(CURLOPT_PASSWORD, k->password ? k->password : "");
        }
    }
    SET(CURLOPT_HTTPHEADER, l->headers);
    return 0;
oom:
    snprintf(err, errlen, "out of memory");
    return -1;
#undef SET
}

struct pg_kube_req *pg_kube_get(struct pg_kube_client *c, struct pg_curlm *m,
                                const char *path_query, size_t max, int64_t timeout_ms,
                                pg_kube_line_fn on_line, pg_kube_done_fn done, void *ud, char *err,
                                size_t errlen)
{
    struct pg_kube_req *r = calloc(1, sizeof(*r));
    if (!r) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    r->m = m;
    r->on_line = on_line;
    r->done = done;
    r->ud = ud;
    r->max = max ? max : 1;
    pg_kube_lines_init(&r->lines, r->max);
    if (asprintf(&r->url, "%s%s", c->server, path_query) < 0) {
        r->url = NULL;
        goto oom;
    }
    if (!(r->log_url = redact_url(r->url)))
        goto oom;
    if (!(r->easy = curl_easy_init()))
        goto oom;
    if (configure(c, r, timeout_ms, err, errlen) < 0)
        goto fail;
    clock_gettime(CLOCK_MONOTONIC, &r->start);
    if (pg_curlm_add(m, r->easy, on_done, r) < 0) {
        snprintf(err, errlen, "cannot add transfer");
        goto fail;
    }
    return r;
oom:
    snprintf(err, errlen, "out of memory");
fail:
    if (r->url && r->log_url && strcmp(r->url, r->log_url) != 0) {
        /* a reason that quotes the URL (e.g. "invalid URL") must not show its password */
        char *at = strstr(err, r->url);
        if (at) {
            char *tail = strdup(at + strlen(r->url));
            size_t pre = (size_t)(at - err);
            snprintf(at, errlen - pre, "%s%s", r->log_url, tail ? tail : "");
            free(tail);
        }
    }
    pg_kube_log_safe(err);
    req_free(r);
    return NULL;
}

void pg_kube_cancel(struct pg_kube_req *r)
{
    if (!r)
        return;
    pg_curlm_remove(r->m, r->easy);
    req_free(r);
}
