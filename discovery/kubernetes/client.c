/* client.c - the Kubernetes API client (see client.h): kubeconfig parsing (libyaml
 * document API), authentication resolution and asynchronous GETs.
 *
 * Every request is a core/httpc request (pooled easy handle on the shared curl multi):
 * a LIST gathers its body, a WATCH uses httpc's streaming mode (lines). It carries
 * "Accept: application/json" and, with api_server, the config's HTTP client options;
 * otherwise the kubeconfig's or in-cluster settings, turned into the same options: TLS
 * (CA, client cert and key as files, or their *-data as PEM in memory; verification,
 * tls-server-name), proxy, and "Authorization: Bearer <token>" (token read from its file
 * when the file's mtime changed) or basic auth. Error texts and the logged server name
 * show a URL password as "<secret>" and carry no '"' (they are logged as quoted logfmt
 * values). */
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
#include "core/errmsg.h"
#include "core/httpc.h"
#include "core/log.h"

#define PG_KUBE_ERRBODY_MAX ((size_t)64 << 10)
#define PG_KUBE_TOKEN_MAX ((size_t)1 << 20)
#define PG_KUBE_CONNECT_TIMEOUT_MS 10000

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
    return pg_base64_decode(src, strlen(src), PG_BASE64_IGNORE_SPACE, dst, len);
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

/* The entries of a kubeconfig that the current context selects, with what reading them needs. */
struct kubeconfig_sel {
    yaml_document_t *doc;
    const char *path;  /* the kubeconfig, for errors and logs */
    const char *dir;   /* its directory (relative file names resolve against it), or NULL */
    const char *cname; /* the context's cluster name */
    yaml_node_t *ctx, *cl;
    yaml_node_t *us; /* the context's user, or NULL */
};

/* Finds the current context and its cluster and user; -1 with err set when one that is
 * required is missing. */
static int kubeconfig_select(struct kubeconfig_sel *s, yaml_node_t *root, char *err, size_t errlen)
{
    const char *path = s->path;
    const char *cur = yscalar(ymap_get(s->doc, root, "current-context"));
    if (!cur || !*cur) {
        pg_errmsg_set(err, errlen, "kubeconfig %s: no current-context", path);
        return -1;
    }
    s->ctx = ynamed(s->doc, root, "contexts", "context", cur);
    if (!s->ctx) {
        pg_errmsg_set(err, errlen, "kubeconfig %s: context \"%s\" not found", path, cur);
        return -1;
    }
    s->cname = yscalar(ymap_get(s->doc, s->ctx, "cluster"));
    const char *uname = yscalar(ymap_get(s->doc, s->ctx, "user"));
    s->cl = ynamed(s->doc, root, "clusters", "cluster", s->cname);
    if (!s->cl) {
        pg_errmsg_set(err, errlen, "kubeconfig %s: cluster \"%s\" not found", path,
                      s->cname ? s->cname : "");
        return -1;
    }
    s->us = ynamed(s->doc, root, "users", "user", uname); /* may be absent */
    return 0;
}

/* Copies the selected cluster's settings (server, TLS, proxy) and the context's namespace
 * into out; -1 with err set on a missing server, bad CA data or OOM. */
static int kubeconfig_cluster(const struct kubeconfig_sel *s, struct pg_kube_kubeconfig *out,
                              char *err, size_t errlen)
{
    yaml_document_t *doc = s->doc;
    const char *server = yscalar(ymap_get(doc, s->cl, "server"));
    if (!server || !*server) {
        pg_errmsg_set(err, errlen, "kubeconfig %s: cluster \"%s\" has no server", s->path,
                      s->cname);
        return -1;
    }
    if (dup_opt(&out->server, server) < 0 ||
        dup_opt(&out->namespace_, yscalar(ymap_get(doc, s->ctx, "namespace"))) < 0 ||
        dup_opt(&out->tls_server_name, yscalar(ymap_get(doc, s->cl, "tls-server-name"))) < 0 ||
        dup_opt(&out->proxy_url, yscalar(ymap_get(doc, s->cl, "proxy-url"))) < 0)
        goto oom;
    const char *ins = yscalar(ymap_get(doc, s->cl, "insecure-skip-tls-verify"));
    out->insecure_skip_verify = ins && strcmp(ins, "true") == 0;
    const char *ca = yscalar(ymap_get(doc, s->cl, "certificate-authority"));
    if (ca && *ca && !(out->ca_file = resolve_path(s->dir, ca)))
        goto oom;
    if (b64_opt(yscalar(ymap_get(doc, s->cl, "certificate-authority-data")), &out->ca_data,
                &out->ca_len) < 0) {
        pg_errmsg_set(err, errlen, "kubeconfig %s: bad certificate-authority-data", s->path);
        return -1;
    }
    return 0;
oom:
    pg_errmsg_set(err, errlen, "out of memory");
    return -1;
}

/* Copies the selected user's credentials (client certificate and key, token, basic auth)
 * into out; -1 with err set on bad certificate or key data or OOM. */
static int kubeconfig_user(const struct kubeconfig_sel *s, struct pg_kube_kubeconfig *out,
                           char *err, size_t errlen)
{
    yaml_document_t *doc = s->doc;
    yaml_node_t *us = s->us;
    const char *cf = yscalar(ymap_get(doc, us, "client-certificate"));
    const char *kf = yscalar(ymap_get(doc, us, "client-key"));
    const char *tf = yscalar(ymap_get(doc, us, "tokenFile"));
    if ((cf && *cf && !(out->cert_file = resolve_path(s->dir, cf))) ||
        (kf && *kf && !(out->key_file = resolve_path(s->dir, kf))) ||
        (tf && *tf && !(out->token_file = resolve_path(s->dir, tf))))
        goto oom;
    if (b64_opt(yscalar(ymap_get(doc, us, "client-certificate-data")), &out->cert_data,
                &out->cert_len) < 0 ||
        b64_opt(yscalar(ymap_get(doc, us, "client-key-data")), &out->key_data, &out->key_len) < 0) {
        pg_errmsg_set(err, errlen, "kubeconfig %s: bad client-certificate-data/client-key-data",
                      s->path);
        return -1;
    }
    if (dup_opt(&out->token, yscalar(ymap_get(doc, us, "token"))) < 0 ||
        dup_opt(&out->username, yscalar(ymap_get(doc, us, "username"))) < 0 ||
        dup_opt(&out->password, yscalar(ymap_get(doc, us, "password"))) < 0)
        goto oom;
    if (ymap_get(doc, us, "exec") || ymap_get(doc, us, "auth-provider"))
        pg_log_warn("sd.kubernetes",
                    "kubeconfig=%s msg=\"exec and auth-provider credentials are not "
                    "supported; using the static credentials only\"",
                    s->path);
    return 0;
oom:
    pg_errmsg_set(err, errlen, "out of memory");
    return -1;
}

int pg_kube_kubeconfig_load(const char *path, struct pg_kube_kubeconfig *out, char *err,
                            size_t errlen)
{
    memset(out, 0, sizeof(*out));
    FILE *f = fopen(path, "rb");
    if (!f) {
        pg_errmsg_set(err, errlen, "cannot open kubeconfig %s: %s", path, strerror(errno));
        return -1;
    }
    yaml_parser_t parser;
    yaml_document_t doc;
    int have_doc = 0, rc = -1;
    char *dir = NULL;
    if (!yaml_parser_initialize(&parser)) {
        fclose(f);
        pg_errmsg_set(err, errlen, "out of memory");
        return -1;
    }
    yaml_parser_set_input_file(&parser, f);
    if (!yaml_parser_load(&parser, &doc)) {
        pg_errmsg_set(err, errlen, "kubeconfig %s: %s at line %zu", path,
                      parser.problem ? parser.problem : "YAML error", parser.problem_mark.line + 1);
        goto out;
    }
    have_doc = 1;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!root || root->type != YAML_MAPPING_NODE) {
        pg_errmsg_set(err, errlen, "kubeconfig %s: not a mapping", path);
        goto out;
    }
    struct kubeconfig_sel sel = {.doc = &doc, .path = path};
    if (kubeconfig_select(&sel, root, err, errlen) < 0)
        goto out;
    const char *slash = strrchr(path, '/');
    if (slash && !(dir = strndup(path, (size_t)(slash - path) + (slash == path)))) {
        pg_errmsg_set(err, errlen, "out of memory");
        goto out;
    }
    sel.dir = dir;
    if (kubeconfig_cluster(&sel, out, err, errlen) < 0 ||
        (sel.us && kubeconfig_user(&sel, out, err, errlen) < 0))
        goto out;
    rc = 0;
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
    const struct pg_httpc_cfg *http; /* api_server mode: the config's options, else NULL */
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
        pg_errmsg_set(err, errlen, "out of memory");
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
            pg_errmsg_set(err, errlen,
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
    pg_errmsg_set(err, errlen, "out of memory");
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
static char *client_token(struct pg_kube_client *c)
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
    struct pg_httpc_req *http; /* the running request (core/httpc owns it until done) */
    pg_kube_done_fn done;
    void *ud;
    pg_linesplit_fn on_line; /* a watch: its lines go there, else NULL */
    size_t max;              /* body or line limit */
    char *log_url;           /* the URL with its password redacted, for error texts */
};

static void req_free(struct pg_kube_req *r)
{
    free(r->log_url);
    free(r);
}

/* core/httpc's answer in the client's terms: its own wording for the limits and a stop,
 * every error text logfmt-safe. */
static void on_done(void *ud, const struct pg_httpc_resp *h)
{
    struct pg_kube_req *r = ud;
    struct pg_kube_resp resp = {.status = h->status,
                                .failed = h->failed,
                                .body = (const char *)h->body,
                                .len = h->len,
                                .duration_s = h->duration_s};
    char err[2048]; /* room for core/httpc's error texts */
    if (h->failed) {
        if (h->too_large && r->on_line)
            snprintf(err, sizeof(err), "Get '%s': watch event line exceeds limit", r->log_url);
        else if (h->too_large)
            snprintf(err, sizeof(err), "Get '%s': body exceeds limit of %zu bytes", r->log_url,
                     r->max);
        else if (h->stopped)
            snprintf(err, sizeof(err), "Get '%s': stream stopped by the watcher", r->log_url);
        else
            snprintf(err, sizeof(err), "%s", h->error); /* Get "<redacted URL>": reason */
        pg_log_safe(err, err, sizeof(err));
        resp.error = err;
    }
    r->done(r->ud, &resp);
    req_free(r);
}

/* The HTTP client options of a kubeconfig or in-cluster client for one request, in h and
 * o (pointing into c): proxy, TLS (files, or PEM data instead), tls-server-name, and
 * "Authorization: Bearer <token>" (token file re-read when changed) or basic auth. */
static void kubeconfig_http(struct pg_kube_client *c, struct pg_httpc_cfg *h,
                            struct pg_httpc_opts *o)
{
    const struct pg_kube_kubeconfig *k = &c->kc;
    memset(h, 0, sizeof(*h));
    pg_labels_init(&h->headers);
    h->follow_redirects = 1;
    h->enable_http2 = 1;
    h->proxy.url = k->proxy_url;
    h->tls.ca_file = k->ca_data ? NULL : k->ca_file;
    h->tls.cert_file = k->cert_data ? NULL : k->cert_file;
    h->tls.key_file = k->key_data ? NULL : k->key_file;
    h->tls.server_name = k->tls_server_name;
    h->tls.insecure_skip_verify = k->insecure_skip_verify;
    o->ca_pem = (struct pg_httpc_pem){k->ca_data, k->ca_len};
    o->cert_pem = (struct pg_httpc_pem){k->cert_data, k->cert_len};
    o->key_pem = (struct pg_httpc_pem){k->key_data, k->key_len};
    char *tok = client_token(c);
    if (tok && *tok) {
        h->auth_credentials = tok; /* type Bearer */
    } else if (k->username) {
        h->basic_auth_username = k->username;
        h->basic_auth_password = k->password;
    }
}

/* Hands a watch line to the caller's callback, with the caller's ud. */
static int watch_line(void *ud, const char *line, size_t len)
{
    struct pg_kube_req *r = ud;
    return r->on_line(r->ud, line, len);
}

struct pg_kube_req *pg_kube_get(struct pg_kube_client *c, struct pg_curlm *m,
                                const char *path_query, size_t max, int64_t timeout_ms,
                                pg_linesplit_fn on_line, pg_kube_done_fn done, void *ud, char *err,
                                size_t errlen)
{
    static const char *const accept[] = {"Accept: application/json"};
    char *url = NULL;
    struct pg_kube_req *r = calloc(1, sizeof(*r));
    if (!r || asprintf(&url, "%s%s", c->server, path_query) < 0) {
        url = NULL;
        goto oom;
    }
    if (!(r->log_url = redact_url(url)))
        goto oom;
    r->on_line = on_line;
    r->done = done;
    r->ud = ud;
    r->max = max ? max : 1;
    /* a watch keeps the start of a non-200 answer for the error, a LIST all of it */
    struct pg_httpc_opts o = {.url = url,
                              .http = c->http,
                              .headers = accept,
                              .n_headers = 1,
                              .timeout_ms = timeout_ms,
                              .connect_timeout_ms = PG_KUBE_CONNECT_TIMEOUT_MS,
                              .tcp_keepalive = 1,
                              .max_body = on_line ? PG_KUBE_ERRBODY_MAX : r->max,
                              .on_line = on_line ? watch_line : NULL,
                              .max_line = r->max};
    struct pg_httpc_cfg kh;
    if (!c->http) { /* kubeconfig or in-cluster */
        kubeconfig_http(c, &kh, &o);
        o.http = &kh;
    }
    if (!(r->http = pg_httpc_start(m, &o, on_done, r, err, errlen))) {
        if (!c->http && strstr(err, "tls_config.server_name")) /* as the kubeconfig says */
            pg_errmsg_set(err, errlen, "invalid tls-server-name '%s'", c->kc.tls_server_name);
        pg_log_safe(err, err, sizeof(err));
        goto fail;
    }
    free(url);
    return r;
oom:
    pg_errmsg_set(err, errlen, "out of memory");
fail:
    free(url);
    if (r)
        req_free(r);
    return NULL;
}

void pg_kube_cancel(struct pg_kube_req *r)
{
    if (!r)
        return;
    pg_httpc_cancel(r->http);
    req_free(r);
}
