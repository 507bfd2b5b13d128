/* config.c - loads profgate's YAML config into struct pg_cfg (see config.h).
 *
 * The loader walks the libyaml document with positions (config/yaml.c), checks keys
 * against per-type allow lists (unknown keys are errors), applies defaults only to
 * absent fields, reads *_file secrets, and validates cross-field rules (timeouts, delta
 * duration, duplicate job names, and the service-discovery configs' rules as Prometheus
 * words them). Every problem is reported; loading never stops early. */
#include "config/config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/legacy.h"
#include "config/load.h"
#include "config/relabel_cfg.h"
#include "config/yaml.h"

#define DEFAULT_INTERVAL_MS 15000
#define DEFAULT_TIMEOUT_MS 10000
#define DEFAULT_BODY_LIMIT (64ull << 20)
#define DEFAULT_QUEUE_SIZE 64
#define MAX_WORKERS 256

/* Built-in Go profile types (DESIGN.md "Profile types"). */
static const struct {
    const char *name, *path, *sent;
    int enabled, delta, seconds;
} builtin[] = {
    {"process_cpu", "/debug/pprof/profile", "process_cpu", 1, 0, 1},
    {"memory", "/debug/pprof/allocs", "memory", 1, 1, 0},
    {"block", "/debug/pprof/block", "block", 1, 1, 0},
    {"mutex", "/debug/pprof/mutex", "mutex", 1, 1, 0},
    {"goroutine", "/debug/pprof/goroutine", "goroutine", 1, 0, 0},
    {"fgprof", "/debug/fgprof", "fgprof", 0, 0, 1},
    {"godeltaprof_memory", "/debug/pprof/delta_heap", "memory", 0, 0, 0},
    {"godeltaprof_mutex", "/debug/pprof/delta_mutex", "mutex", 0, 0, 0},
    {"godeltaprof_block", "/debug/pprof/delta_block", "block", 0, 0, 0},
};
#define N_BUILTIN (sizeof(builtin) / sizeof(builtin[0]))

void pg_cfg_default_profiles(struct pg_cfg_scrape *s, size_t extra)
{
    s->profiles = calloc(N_BUILTIN + extra, sizeof(*s->profiles));
    for (size_t i = 0; i < N_BUILTIN; i++) {
        struct pg_cfg_profile *p = &s->profiles[s->n_profiles++];
        p->name = strdup(builtin[i].name);
        p->path = strdup(builtin[i].path);
        p->sent_name = strdup(builtin[i].sent);
        p->enabled = builtin[i].enabled;
        p->delta = builtin[i].delta;
        p->seconds = builtin[i].seconds;
    }
}

static void load_profiles(struct pg_cfg_ld *l, yaml_node_t *pc, struct pg_cfg_scrape *s)
{
    size_t n_custom = 0;
    yaml_node_t *custom = pc ? pg_yaml_get(l->y, pc, "custom") : NULL;
    if (custom && custom->type == YAML_SEQUENCE_NODE)
        n_custom = (size_t)(custom->data.sequence.items.top - custom->data.sequence.items.start);
    pg_cfg_default_profiles(s, n_custom);
    for (size_t i = 0; i < N_BUILTIN; i++) {
        struct pg_cfg_profile *p = &s->profiles[i];
        yaml_node_t *t = pc ? pg_yaml_get(l->y, pc, builtin[i].name) : NULL;
        if (t && !pg_yaml_is_null(t)) {
            static const char *const k[] = {"enabled", "path", "delta", NULL};
            if (pg_yaml_check_keys(l->y, t, k, "profiling_config type", l->errs) == 0) {
                pg_cfg_get_bool(l, t, "enabled", &p->enabled);
                pg_cfg_get_str(l, t, "path", 1, &p->path);
                pg_cfg_get_bool(l, t, "delta", &p->delta);
            }
        }
    }
    if (custom && !pg_yaml_is_null(custom) && custom->type != YAML_SEQUENCE_NODE)
        pg_yaml_error(l->y, custom, l->errs, "custom: expected a sequence");
    for (size_t i = 0; i < n_custom; i++) {
        yaml_node_t *c = pg_yaml_at(l->y, custom->data.sequence.items.start[i]);
        static const char *const k[] = {"name", "path", "delta", "enabled", NULL};
        if (pg_yaml_check_keys(l->y, c, k, "profiling_config custom", l->errs) < 0)
            continue;
        struct pg_cfg_profile *p = &s->profiles[s->n_profiles++];
        p->enabled = 1;
        pg_cfg_get_str(l, c, "name", 1, &p->name);
        pg_cfg_get_str(l, c, "path", 1, &p->path);
        pg_cfg_get_bool(l, c, "delta", &p->delta);
        pg_cfg_get_bool(l, c, "enabled", &p->enabled);
        if (!p->name || !*p->name)
            pg_yaml_error(l->y, c, l->errs, "custom profile requires a name");
        if (!p->path || p->path[0] != '/')
            pg_yaml_error(l->y, c, l->errs, "custom profile requires a path starting with /");
        for (size_t j = 0; p->name && j + 1 < s->n_profiles; j++)
            if (s->profiles[j].name && !strcmp(s->profiles[j].name, p->name))
                pg_yaml_error(l->y, c, l->errs, "duplicate profile type name %s", p->name);
        p->sent_name = strdup(p->name ? p->name : "");
    }
}

static void load_static(struct pg_cfg_ld *l, yaml_node_t *seq, struct pg_cfg_scrape *s)
{
    if (!seq || pg_yaml_is_null(seq))
        return;
    if (seq->type != YAML_SEQUENCE_NODE) {
        pg_yaml_error(l->y, seq, l->errs, "static_configs: expected a sequence");
        return;
    }
    size_t cnt = (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start);
    s->static_configs = calloc(cnt ? cnt : 1, sizeof(*s->static_configs));
    for (size_t i = 0; i < cnt; i++) {
        yaml_node_t *g = pg_yaml_at(l->y, seq->data.sequence.items.start[i]);
        static const char *const k[] = {"targets", "labels", NULL};
        struct pg_cfg_static_group *sg = &s->static_configs[s->n_static++];
        pg_labels_init(&sg->labels);
        if (pg_yaml_check_keys(l->y, g, k, "targetgroup.Group", l->errs) < 0)
            continue;
        pg_cfg_get_strv(l, g, "targets", 1, &sg->targets, &sg->n_targets);
        pg_cfg_get_labels(l, g, "labels", &sg->labels);
    }
}

static void load_file_sd(struct pg_cfg_ld *l, yaml_node_t *seq, struct pg_cfg_scrape *s)
{
    if (!seq || pg_yaml_is_null(seq))
        return;
    if (seq->type != YAML_SEQUENCE_NODE) {
        pg_yaml_error(l->y, seq, l->errs, "file_sd_configs: expected a sequence");
        return;
    }
    size_t cnt = (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start);
    s->file_sd = calloc(cnt ? cnt : 1, sizeof(*s->file_sd));
    for (size_t i = 0; i < cnt; i++) {
        yaml_node_t *g = pg_yaml_at(l->y, seq->data.sequence.items.start[i]);
        static const char *const k[] = {"files", "refresh_interval", NULL};
        struct pg_cfg_file_sd *f = &s->file_sd[s->n_file_sd++];
        f->refresh_interval_ms = 5 * 60 * 1000;
        if (pg_yaml_check_keys(l->y, g, k, "file.SDConfig", l->errs) < 0)
            continue;
        pg_cfg_get_strv(l, g, "files", 1, &f->files, &f->n_files);
        pg_cfg_get_dur(l, g, "refresh_interval", &f->refresh_interval_ms);
        if (f->n_files == 0)
            pg_yaml_error(l->y, g, l->errs,
                          "file service discovery config must contain at "
                          "least one path name");
        for (size_t j = 0; j < f->n_files; j++) {
            const char *p = f->files[j];
            size_t n = strlen(p);
            int ok = (n > 5 && !strcmp(p + n - 5, ".json")) ||
                     (n > 4 && !strcmp(p + n - 4, ".yml")) ||
                     (n > 5 && !strcmp(p + n - 5, ".yaml"));
            if (!ok)
                pg_yaml_error(l->y, g, l->errs,
                              "path name %s is not valid for file discovery (must end in "
                              ".json, .yml or .yaml)",
                              p);
        }
    }
}

/* http_sd_configs (Prometheus discovery/http: SDConfig). */
static void load_http_sd(struct pg_cfg_ld *l, yaml_node_t *seq, struct pg_cfg_scrape *s)
{
    size_t cnt = pg_cfg_seq_len(l, seq, "http_sd_configs");
    if (!cnt)
        return;
    s->http_sd = calloc(cnt, sizeof(*s->http_sd));
    for (size_t i = 0; i < cnt; i++) {
        yaml_node_t *g = pg_yaml_at(l->y, seq->data.sequence.items.start[i]);
        static const char *const k[] = {"url", "refresh_interval", PG_CFG_HTTP_KEYS, NULL};
        struct pg_cfg_http_sd *h = &s->http_sd[s->n_http_sd++];
        h->refresh_interval_ms = 60 * 1000;
        h->http.follow_redirects = 1;
        pg_labels_init(&h->http.headers);
        h->line = (int)g->start_mark.line + 1;
        h->col = (int)g->start_mark.column + 1;
        if (pg_yaml_check_keys(l->y, g, k, "http.SDConfig", l->errs) < 0)
            continue;
        pg_cfg_get_str(l, g, "url", 1, &h->url);
        pg_cfg_get_dur(l, g, "refresh_interval", &h->refresh_interval_ms);
        pg_cfg_load_http(l, g, &h->http, 0);
        pg_cfg_check_refresh(l, g, h->refresh_interval_ms);
        int has_host;
        if (!h->url || !*h->url)
            pg_yaml_error(l->y, g, l->errs, "URL is missing");
        else if (!pg_cfg_url_is_http(h->url, &has_host))
            pg_yaml_error(l->y, pg_cfg_key_node(l, g, "url"), l->errs,
                          "URL scheme must be 'http' or 'https'");
        else if (!has_host)
            pg_yaml_error(l->y, pg_cfg_key_node(l, g, "url"), l->errs, "host is missing in URL");
    }
}

static void free_http_sd(struct pg_cfg_http_sd *h)
{
    free(h->url);
    pg_cfg_http_free(&h->http);
}

/* consul_sd_configs (Prometheus discovery/consul: SDConfig). */
static void load_consul_sd(struct pg_cfg_ld *l, yaml_node_t *seq, struct pg_cfg_scrape *s)
{
    size_t cnt = pg_cfg_seq_len(l, seq, "consul_sd_configs");
    if (!cnt)
        return;
    s->consul_sd = calloc(cnt, sizeof(*s->consul_sd));
    for (size_t i = 0; i < cnt; i++) {
        yaml_node_t *g = pg_yaml_at(l->y, seq->data.sequence.items.start[i]);
        static const char *const k[] = {"server",        "path_prefix",      "token",
                                        "token_file",    "datacenter",       "namespace",
                                        "partition",     "scheme",           "username",
                                        "password",      "password_file",    "services",
                                        "tags",          "node_meta",        "tag_separator",
                                        "allow_stale",   "refresh_interval", "filter",
                                        "health_filter", PG_CFG_HTTP_KEYS,   NULL};
        struct pg_cfg_consul_sd *c = &s->consul_sd[s->n_consul_sd++];
        pg_labels_init(&c->node_meta);
        pg_labels_init(&c->http.headers);
        c->http.follow_redirects = 1;
        c->allow_stale = 1;
        c->refresh_interval_ms = 30 * 1000;
        c->line = (int)g->start_mark.line + 1;
        c->col = (int)g->start_mark.column + 1;
        if (pg_yaml_check_keys(l->y, g, k, "consul.SDConfig", l->errs) < 0)
            continue;
        pg_cfg_get_str(l, g, "server", 1, &c->server);
        pg_cfg_get_str(l, g, "path_prefix", 1, &c->path_prefix);
        pg_cfg_get_secret(l, g, "token", &c->token);
        pg_cfg_get_str(l, g, "datacenter", 1, &c->datacenter);
        pg_cfg_get_str(l, g, "namespace", 1, &c->namespace_);
        pg_cfg_get_str(l, g, "partition", 1, &c->partition);
        pg_cfg_get_str(l, g, "scheme", 1, &c->scheme);
        pg_cfg_get_strv(l, g, "services", 1, &c->services, &c->n_services);
        pg_cfg_get_strv(l, g, "tags", 1, &c->tags, &c->n_tags);
        pg_cfg_get_labels(l, g, "node_meta", &c->node_meta);
        pg_cfg_get_str(l, g, "tag_separator", 1, &c->tag_separator);
        pg_cfg_get_bool(l, g, "allow_stale", &c->allow_stale);
        pg_cfg_get_dur(l, g, "refresh_interval", &c->refresh_interval_ms);
        pg_cfg_get_str(l, g, "filter", 1, &c->filter);
        pg_cfg_get_str(l, g, "health_filter", 1, &c->health_filter);
        pg_cfg_load_http(l, g, &c->http, 0);
        /* deprecated username/password: folded into basic_auth, as Prometheus does */
        char *user = NULL, *pass = NULL;
        pg_cfg_get_str(l, g, "username", 1, &user);
        pg_cfg_get_secret(l, g, "password", &pass);
        if (user || pass) {
            if (c->http.basic_auth_username || c->http.basic_auth_password) {
                pg_yaml_error(l->y, pg_cfg_key_node(l, g, "basic_auth"), l->errs,
                              "at most one of consul SD configuration username and password and "
                              "basic auth can be configured");
                free(user);
                free(pass);
            } else {
                c->http.basic_auth_username = user;
                c->http.basic_auth_password = pass;
            }
        }
        if (c->token && c->http.auth_type)
            pg_yaml_error(l->y, pg_cfg_key_node(l, g, "authorization"), l->errs,
                          "at most one of consul SD token, authorization, or oauth2 can be "
                          "configured");
        if (!c->server)
            c->server = strdup("localhost:8500");
        if (!c->path_prefix)
            c->path_prefix = strdup("");
        if (!c->scheme)
            c->scheme = strdup("http");
        if (!c->tag_separator)
            c->tag_separator = strdup(",");
        if (strspn(c->server, " \t\r\n") == strlen(c->server))
            pg_yaml_error(l->y, pg_cfg_key_node(l, g, "server"), l->errs,
                          "consul SD configuration requires a server address");
        if (strcmp(c->scheme, "http") && strcmp(c->scheme, "https"))
            pg_yaml_error(l->y, pg_cfg_key_node(l, g, "scheme"), l->errs,
                          "unknown consul SD configuration scheme: %s (want http or https)",
                          c->scheme);
        pg_cfg_check_refresh(l, g, c->refresh_interval_ms);
    }
}

static void free_consul_sd(struct pg_cfg_consul_sd *c)
{
    free(c->server);
    free(c->path_prefix);
    free(c->token);
    free(c->datacenter);
    free(c->namespace_);
    free(c->partition);
    free(c->scheme);
    pg_cfg_strv_free(c->services, c->n_services);
    pg_cfg_strv_free(c->tags, c->n_tags);
    pg_labels_reset(&c->node_meta);
    free(c->tag_separator);
    free(c->filter);
    free(c->health_filter);
    pg_cfg_http_free(&c->http);
}

static const char *const kube_roles[] = {
    [PG_CFG_KUBE_POD] = "pod",
    [PG_CFG_KUBE_SERVICE] = "service",
    [PG_CFG_KUBE_ENDPOINTS] = "endpoints",
    [PG_CFG_KUBE_ENDPOINTSLICE] = "endpointslice",
    [PG_CFG_KUBE_NODE] = "node",
    [PG_CFG_KUBE_INGRESS] = "ingress",
};
#define N_KUBE_ROLES (sizeof(kube_roles) / sizeof(kube_roles[0]))

/* Reads a Kubernetes SD role at key of map. Returns the role, -1 when absent, -2 when
 * invalid (reported). */
static int get_kube_role(struct pg_cfg_ld *l, yaml_node_t *map, const char *key)
{
    char *r = NULL;
    yaml_node_t *n = pg_yaml_get(l->y, map, key);
    if (!n || pg_yaml_is_null(n))
        return -1;
    if (pg_yaml_str(l->y, n, key, 1, &r, l->errs) < 0)
        return -2;
    int role = -2;
    for (size_t i = 0; i < N_KUBE_ROLES; i++)
        if (!strcmp(r, kube_roles[i]))
            role = (int)i;
    if (role == -2)
        pg_yaml_error(l->y, n, l->errs, "unknown Kubernetes SD role \"%s\"", r);
    free(r);
    return role;
}

/* The selector roles each role accepts (Prometheus kubernetes.SDConfig.UnmarshalYAML). */
static int kube_selector_allowed(int role, int sel, const char **list)
{
    static const char *const lists[] = {
        [PG_CFG_KUBE_POD] = "pod",
        [PG_CFG_KUBE_SERVICE] = "service",
        [PG_CFG_KUBE_ENDPOINTS] = "pod, service, endpoints",
        [PG_CFG_KUBE_ENDPOINTSLICE] = "pod, service, endpointslice",
        [PG_CFG_KUBE_NODE] = "node",
        [PG_CFG_KUBE_INGRESS] = "ingress",
    };
    *list = lists[role];
    if (sel == role)
        return 1;
    if (role == PG_CFG_KUBE_ENDPOINTS || role == PG_CFG_KUBE_ENDPOINTSLICE)
        return sel == PG_CFG_KUBE_POD || sel == PG_CFG_KUBE_SERVICE;
    return 0;
}

/* ---- Kubernetes selector syntax (as k8s.io/apimachinery labels.Parse and
 * fields.ParseSelector accept it), so a bad selector fails at load, not at the API. ---- */

static int sel_is_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* A label name part or value: at most 63 of [A-Za-z0-9-_.], alphanumeric at both ends
 * (empty allowed only when empty_ok). */
static int sel_valid_name(const char *s, size_t n, int empty_ok)
{
    if (n == 0)
        return empty_ok;
    if (n > 63 || !sel_is_alnum(s[0]) || !sel_is_alnum(s[n - 1]))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!sel_is_alnum(s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
            return 0;
    return 1;
}

/* A label key: [prefix/]name, the prefix a DNS subdomain of at most 253 characters. */
static int sel_valid_key(const char *s, size_t n)
{
    const char *slash = memchr(s, '/', n);
    if (!slash)
        return sel_valid_name(s, n, 0);
    size_t pl = (size_t)(slash - s);
    if (pl == 0 || pl > 253)
        return 0;
    for (size_t i = 0; i < pl; i++)
        if (!sel_is_alnum(s[i]) && s[i] != '-' && s[i] != '.')
            return 0;
    return sel_valid_name(slash + 1, n - pl - 1, 0);
}

/* Lexer: skips blanks, returns the next token's start and length in *tok and *len (0 at the end).
 * Operators are "!=", "==", "=", "!", "<", ">", "(", ")", ","; anything else up to one of
 * those or a blank is an identifier. */
static const char *sel_next(const char *p, const char **tok, size_t *len)
{
    static const char ops[] = "!=<>(),";
    while (*p == ' ' || *p == '\t')
        p++;
    *tok = p;
    if (!*p) {
        *len = 0;
        return p;
    }
    if ((p[0] == '!' || p[0] == '=') && p[1] == '=')
        *len = 2;
    else if (strchr(ops, *p))
        *len = 1;
    else {
        size_t n = 0;
        while (p[n] && p[n] != ' ' && p[n] != '\t' && !strchr(ops, p[n]))
            n++;
        *len = n;
    }
    return p + *len;
}

static int sel_is(const char *tok, size_t len, const char *s)
{
    return len == strlen(s) && !strncmp(tok, s, len);
}

static int sel_is_ident(const char *tok, size_t len)
{
    return len > 0 && !strchr("!=<>(),", tok[0]);
}

/* Returns NULL when s is a valid label selector, else a static reason. */
static const char *kube_label_selector_error(const char *s)
{
    const char *p = s, *t;
    size_t n;
    p = sel_next(p, &t, &n);
    if (n == 0)
        return NULL; /* empty selects everything */
    for (;;) {
        int negated = 0;
        if (sel_is(t, n, "!")) {
            negated = 1;
            p = sel_next(p, &t, &n);
        }
        if (!sel_is_ident(t, n) || !sel_valid_key(t, n))
            return "invalid label key";
        p = sel_next(p, &t, &n);
        if (!negated && (sel_is(t, n, "=") || sel_is(t, n, "==") || sel_is(t, n, "!="))) {
            p = sel_next(p, &t, &n);
            if (sel_is_ident(t, n)) {
                if (!sel_valid_name(t, n, 1))
                    return "invalid label value";
                p = sel_next(p, &t, &n);
            } /* else an empty value */
        } else if (!negated && (sel_is(t, n, "<") || sel_is(t, n, ">"))) {
            p = sel_next(p, &t, &n);
            size_t i = sel_is_ident(t, n) && t[0] == '-';
            if (!sel_is_ident(t, n) || i == n)
                return "expected an integer after < or >";
            for (; i < n; i++)
                if (t[i] < '0' || t[i] > '9')
                    return "expected an integer after < or >";
            p = sel_next(p, &t, &n);
        } else if (!negated && (sel_is(t, n, "in") || sel_is(t, n, "notin"))) {
            p = sel_next(p, &t, &n);
            if (!sel_is(t, n, "("))
                return "expected ( after in/notin";
            p = sel_next(p, &t, &n);
            while (!sel_is(t, n, ")")) {
                if (sel_is_ident(t, n)) {
                    if (!sel_valid_name(t, n, 1))
                        return "invalid label value";
                    p = sel_next(p, &t, &n);
                }
                if (sel_is(t, n, ","))
                    p = sel_next(p, &t, &n);
                else if (!sel_is(t, n, ")"))
                    return "expected , or ) in value set";
            }
            p = sel_next(p, &t, &n);
        }
        if (n == 0)
            return NULL;
        if (!sel_is(t, n, ","))
            return "expected , between requirements";
        p = sel_next(p, &t, &n);
    }
}

/* Returns NULL when s is a valid field selector (comma-separated key=value, key==value or
 * key!=value terms, "\" escaping), else a static reason. */
static const char *kube_field_selector_error(const char *s)
{
    if (!*s)
        return NULL;
    const char *term = s;
    for (const char *p = s;; p++) {
        if (*p == '\\' && p[1]) {
            p++;
            continue;
        }
        if (*p != ',' && *p != '\0')
            continue;
        /* term is [term, p) */
        const char *op = NULL;
        for (const char *q = term; q < p; q++) {
            if (*q == '\\' && q + 1 < p) {
                q++;
                continue;
            }
            if (*q == '=' || (*q == '!' && q + 1 < p && q[1] == '=')) {
                op = q;
                break;
            }
        }
        if (!op)
            return "each term needs =, == or !=";
        if (op == term)
            return "empty field name";
        if (!*p)
            return NULL;
        term = p + 1;
    }
}

/* kubernetes_sd_configs (Prometheus discovery/kubernetes: SDConfig). */
static void load_kube_sd(struct pg_cfg_ld *l, yaml_node_t *seq, struct pg_cfg_scrape *s)
{
    size_t cnt = pg_cfg_seq_len(l, seq, "kubernetes_sd_configs");
    if (!cnt)
        return;
    s->kube_sd = calloc(cnt, sizeof(*s->kube_sd));
    for (size_t i = 0; i < cnt; i++) {
        yaml_node_t *g = pg_yaml_at(l->y, seq->data.sequence.items.start[i]);
        static const char *const k[] = {"role",           "api_server", "kubeconfig_file",
                                        "namespaces",     "selectors",  "attach_metadata",
                                        PG_CFG_HTTP_KEYS, NULL};
        struct pg_cfg_kube_sd *ks = &s->kube_sd[s->n_kube_sd++];
        pg_labels_init(&ks->http.headers);
        ks->http.follow_redirects = 1;
        ks->line = (int)g->start_mark.line + 1;
        ks->col = (int)g->start_mark.column + 1;
        if (pg_yaml_check_keys(l->y, g, k, "kubernetes.SDConfig", l->errs) < 0)
            continue;
        int role = get_kube_role(l, g, "role");
        if (role == -1)
            pg_yaml_error(l->y, g, l->errs,
                          "role missing (one of: pod, service, endpoints, endpointslice, node, "
                          "ingress)");
        ks->role = role >= 0 ? (enum pg_cfg_kube_role)role : PG_CFG_KUBE_POD;
        pg_cfg_get_str(l, g, "api_server", 1, &ks->api_server);
        pg_cfg_get_str(l, g, "kubeconfig_file", 1, &ks->kubeconfig_file);
        pg_cfg_load_http(l, g, &ks->http, 0);

        yaml_node_t *ns = pg_yaml_get(l->y, g, "namespaces");
        if (ns && !pg_yaml_is_null(ns)) {
            static const char *const nk[] = {"own_namespace", "names", NULL};
            if (pg_yaml_check_keys(l->y, ns, nk, "kubernetes.NamespaceDiscovery", l->errs) == 0) {
                pg_cfg_get_bool(l, ns, "own_namespace", &ks->own_namespace);
                pg_cfg_get_strv(l, ns, "names", 1, &ks->namespaces, &ks->n_namespaces);
            }
        }
        yaml_node_t *am = pg_yaml_get(l->y, g, "attach_metadata");
        if (am && !pg_yaml_is_null(am)) {
            static const char *const ak[] = {"node", "namespace", NULL};
            if (pg_yaml_check_keys(l->y, am, ak, "kubernetes.AttachMetadataConfig", l->errs) == 0) {
                pg_cfg_get_bool(l, am, "node", &ks->attach_node);
                pg_cfg_get_bool(l, am, "namespace", &ks->attach_namespace);
            }
        }

        if (ks->api_server && *ks->api_server) {
            int has_host;
            if (!pg_cfg_url_is_http(ks->api_server, &has_host))
                pg_yaml_error(l->y, pg_cfg_key_node(l, g, "api_server"), l->errs,
                              "api_server: URL scheme must be 'http' or 'https'");
            else if (!has_host)
                pg_yaml_error(l->y, pg_cfg_key_node(l, g, "api_server"), l->errs,
                              "api_server: host is missing in URL");
        } else if (ks->api_server) {
            free(ks->api_server); /* "" is unset, as an empty config.URL */
            ks->api_server = NULL;
        }
        if (ks->kubeconfig_file && !*ks->kubeconfig_file) {
            free(ks->kubeconfig_file);
            ks->kubeconfig_file = NULL;
        }
        int custom = pg_cfg_http_is_custom(&ks->http);
        if (ks->api_server && ks->kubeconfig_file)
            pg_yaml_error(l->y, pg_cfg_key_node(l, g, "kubeconfig_file"), l->errs,
                          "cannot use 'kubeconfig_file' and 'api_server' simultaneously");
        else if (ks->kubeconfig_file && custom)
            pg_yaml_error(l->y, pg_cfg_key_node(l, g, "kubeconfig_file"), l->errs,
                          "cannot use a custom HTTP client configuration together with "
                          "'kubeconfig_file'");
        else if (!ks->api_server && custom)
            pg_yaml_error(l->y, g, l->errs,
                          "to use custom HTTP client configuration please provide the "
                          "'api_server' URL explicitly");
        if (ks->api_server && ks->own_namespace)
            pg_yaml_error(l->y, pg_cfg_key_node(l, ns, "own_namespace"), l->errs,
                          "cannot use 'api_server' and 'namespaces.own_namespace' "
                          "simultaneously");
        if (ks->kubeconfig_file && ks->own_namespace)
            pg_yaml_error(l->y, pg_cfg_key_node(l, ns, "own_namespace"), l->errs,
                          "cannot use 'kubeconfig_file' and 'namespaces.own_namespace' "
                          "simultaneously");

        size_t ns_cnt = pg_cfg_seq_len(l, pg_yaml_get(l->y, g, "selectors"), "selectors");
        yaml_node_t *sels = pg_yaml_get(l->y, g, "selectors");
        if (ns_cnt)
            ks->selectors = calloc(ns_cnt, sizeof(*ks->selectors));
        for (size_t j = 0; j < ns_cnt; j++) {
            yaml_node_t *sn = pg_yaml_at(l->y, sels->data.sequence.items.start[j]);
            static const char *const sk[] = {"role", "label", "field", NULL};
            if (pg_yaml_check_keys(l->y, sn, sk, "kubernetes.SelectorConfig", l->errs) < 0)
                continue;
            struct pg_cfg_kube_selector *sel = &ks->selectors[ks->n_selectors++];
            int srole = get_kube_role(l, sn, "role");
            sel->role = srole >= 0 ? (enum pg_cfg_kube_role)srole : PG_CFG_KUBE_POD;
            pg_cfg_get_str(l, sn, "label", 1, &sel->label);
            pg_cfg_get_str(l, sn, "field", 1, &sel->field);
            const char *why;
            if (sel->label && (why = kube_label_selector_error(sel->label)))
                pg_yaml_error(l->y, pg_cfg_key_node(l, sn, "label"), l->errs,
                              "invalid label selector \"%s\": %s", sel->label, why);
            if (sel->field && (why = kube_field_selector_error(sel->field)))
                pg_yaml_error(l->y, pg_cfg_key_node(l, sn, "field"), l->errs,
                              "invalid field selector \"%s\": %s", sel->field, why);
            if (srole == -2 || role < 0)
                continue;
            const char *list;
            for (size_t m = 0; srole >= 0 && m + 1 < ks->n_selectors; m++)
                if ((int)ks->selectors[m].role == srole) {
                    pg_yaml_error(l->y, pg_cfg_key_node(l, sn, "role"), l->errs,
                                  "duplicated selector role: %s", kube_roles[srole]);
                    srole = -3;
                }
            if (srole != -3 && !kube_selector_allowed(role, srole, &list))
                pg_yaml_error(l->y, pg_cfg_key_node(l, sn, "role"), l->errs,
                              "%s role supports only %s selectors", kube_roles[role], list);
        }
    }
}

static void free_kube_sd(struct pg_cfg_kube_sd *ks)
{
    free(ks->api_server);
    free(ks->kubeconfig_file);
    pg_cfg_strv_free(ks->namespaces, ks->n_namespaces);
    for (size_t i = 0; i < ks->n_selectors; i++) {
        free(ks->selectors[i].label);
        free(ks->selectors[i].field);
    }
    free(ks->selectors);
    pg_cfg_http_free(&ks->http);
}

static void load_params(struct pg_cfg_ld *l, yaml_node_t *m, struct pg_cfg_scrape *s)
{
    if (!m || pg_yaml_is_null(m))
        return;
    if (m->type != YAML_MAPPING_NODE) {
        pg_yaml_error(l->y, m, l->errs, "params: expected a mapping of names to lists");
        return;
    }
    size_t cnt = (size_t)(m->data.mapping.pairs.top - m->data.mapping.pairs.start);
    s->params = calloc(cnt ? cnt : 1, sizeof(*s->params));
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        struct pg_cfg_param *pa = &s->params[s->n_params];
        yaml_node_t *k = pg_yaml_at(l->y, p->key), *v = pg_yaml_at(l->y, p->value);
        if (pg_yaml_str(l->y, k, "params", 1, &pa->name, l->errs) < 0)
            continue;
        s->n_params++;
        if (v->type == YAML_SCALAR_NODE) {
            pa->values = calloc(1, sizeof(char *));
            if (pg_yaml_str(l->y, v, pa->name, 1, &pa->values[0], l->errs) == 0)
                pa->n_values = 1;
        } else if (v->type == YAML_SEQUENCE_NODE) {
            size_t nv = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
            pa->values = calloc(nv ? nv : 1, sizeof(char *));
            for (size_t i = 0; i < nv; i++)
                if (pg_yaml_str(l->y, pg_yaml_at(l->y, v->data.sequence.items.start[i]), pa->name,
                                1, &pa->values[pa->n_values], l->errs) == 0)
                    pa->n_values++;
        } else {
            pg_yaml_error(l->y, v, l->errs, "params: %s must be a list of strings", pa->name);
        }
    }
}

static void load_scrape(struct pg_cfg_ld *l, struct pg_cfg *cfg, yaml_node_t *j,
                        struct pg_cfg_scrape *s)
{
    static const char *const k[] = {"job_name",
                                    "scrape_interval",
                                    "scrape_timeout",
                                    "delta_profiling_duration",
                                    "scheme",
                                    "params",
                                    "profiling_config",
                                    "basic_auth",
                                    "authorization",
                                    "tls_config",
                                    "proxy_url",
                                    "follow_redirects",
                                    "body_size_limit",
                                    "static_configs",
                                    "file_sd_configs",
                                    "http_sd_configs",
                                    "consul_sd_configs",
                                    "kubernetes_sd_configs",
                                    "relabel_configs",
                                    NULL};
    s->line = (int)j->start_mark.line + 1;
    s->col = (int)j->start_mark.column + 1;
    if (pg_yaml_check_keys(l->y, j, k, "config.ScrapeConfig", l->errs) < 0 &&
        j->type != YAML_MAPPING_NODE)
        return;
    pg_cfg_get_str(l, j, "job_name", 1, &s->job_name);
    if (!s->job_name || !*s->job_name)
        pg_yaml_error(l->y, j, l->errs, "job_name is empty");
    s->scrape_interval_ms = cfg->scrape_interval_ms;
    s->scrape_timeout_ms = -1;
    s->delta_profiling_duration_ms = -1;
    pg_cfg_get_dur(l, j, "scrape_interval", &s->scrape_interval_ms);
    pg_cfg_get_dur(l, j, "scrape_timeout", &s->scrape_timeout_ms);
    pg_cfg_get_dur(l, j, "delta_profiling_duration", &s->delta_profiling_duration_ms);
    if (s->scrape_timeout_ms < 0)
        s->scrape_timeout_ms = cfg->scrape_timeout_ms < s->scrape_interval_ms
                                   ? cfg->scrape_timeout_ms
                                   : s->scrape_interval_ms;
    if (s->delta_profiling_duration_ms < 0)
        s->delta_profiling_duration_ms =
            s->scrape_interval_ms > 1000 ? s->scrape_interval_ms - 1000 : s->scrape_interval_ms;
    if (s->scrape_interval_ms <= 0)
        pg_yaml_error(
            l->y,
            pg_yaml_get(l->y, j, "scrape_interval") ? pg_yaml_get(l->y, j, "scrape_interval") : j,
            l->errs, "scrape_interval must be greater than 0");
    if (s->scrape_timeout_ms > s->scrape_interval_ms) {
        yaml_node_t *n = pg_yaml_get(l->y, j, "scrape_timeout");
        pg_yaml_error(l->y, n ? n : j, l->errs,
                      "scrape timeout greater than scrape interval for scrape config with job "
                      "name \"%s\"",
                      s->job_name ? s->job_name : "");
    }
    if (s->delta_profiling_duration_ms >= s->scrape_interval_ms && s->scrape_interval_ms > 1000) {
        yaml_node_t *n = pg_yaml_get(l->y, j, "delta_profiling_duration");
        pg_yaml_error(l->y, n ? n : j, l->errs,
                      "delta_profiling_duration must be below scrape_interval for job \"%s\"",
                      s->job_name ? s->job_name : "");
    }
    pg_cfg_get_str(l, j, "scheme", 1, &s->scheme);
    if (!s->scheme)
        s->scheme = strdup("http");
    else if (strcmp(s->scheme, "http") && strcmp(s->scheme, "https"))
        pg_yaml_error(l->y, pg_yaml_get(l->y, j, "scheme"), l->errs,
                      "unknown scrape config scheme: %s", s->scheme);
    load_params(l, pg_yaml_get(l->y, j, "params"), s);
    yaml_node_t *pc = pg_yaml_get(l->y, j, "profiling_config");
    if (pc && pg_yaml_is_null(pc))
        pc = NULL;
    if (pc) {
        static const char *const pk[] = {"path_prefix",
                                         "process_cpu",
                                         "memory",
                                         "block",
                                         "mutex",
                                         "goroutine",
                                         "fgprof",
                                         "godeltaprof_memory",
                                         "godeltaprof_mutex",
                                         "godeltaprof_block",
                                         "custom",
                                         NULL};
        pg_yaml_check_keys(l->y, pc, pk, "config.ProfilingConfig", l->errs);
        pg_cfg_get_str(l, pc, "path_prefix", 1, &s->path_prefix);
    }
    if (!s->path_prefix)
        s->path_prefix = strdup("");
    load_profiles(l, pc && pc->type == YAML_MAPPING_NODE ? pc : NULL, s);
    pg_cfg_load_http(l, j, &s->http, 0);
    s->body_size_limit = 0;
    pg_cfg_get_size(l, j, "body_size_limit", &s->body_size_limit);
    if (s->body_size_limit == 0)
        s->body_size_limit = DEFAULT_BODY_LIMIT;
    load_static(l, pg_yaml_get(l->y, j, "static_configs"), s);
    load_file_sd(l, pg_yaml_get(l->y, j, "file_sd_configs"), s);
    load_http_sd(l, pg_yaml_get(l->y, j, "http_sd_configs"), s);
    load_consul_sd(l, pg_yaml_get(l->y, j, "consul_sd_configs"), s);
    load_kube_sd(l, pg_yaml_get(l->y, j, "kubernetes_sd_configs"), s);
    yaml_node_t *rc = pg_yaml_get(l->y, j, "relabel_configs");
    if (rc && !pg_yaml_is_null(rc))
        pg_cfg_parse_relabel_configs(l->y, rc, "relabel_configs", &s->relabel, &s->n_relabel,
                                     l->errs);
}

static void free_scrape(struct pg_cfg_scrape *s)
{
    free(s->job_name);
    free(s->scheme);
    free(s->path_prefix);
    for (size_t i = 0; i < s->n_params; i++) {
        free(s->params[i].name);
        pg_cfg_strv_free(s->params[i].values, s->params[i].n_values);
    }
    free(s->params);
    for (size_t i = 0; i < s->n_profiles; i++) {
        free(s->profiles[i].name);
        free(s->profiles[i].path);
        free(s->profiles[i].sent_name);
    }
    free(s->profiles);
    pg_cfg_http_free(&s->http);
    for (size_t i = 0; i < s->n_static; i++) {
        pg_cfg_strv_free(s->static_configs[i].targets, s->static_configs[i].n_targets);
        pg_labels_reset(&s->static_configs[i].labels);
    }
    free(s->static_configs);
    for (size_t i = 0; i < s->n_file_sd; i++)
        pg_cfg_strv_free(s->file_sd[i].files, s->file_sd[i].n_files);
    free(s->file_sd);
    for (size_t i = 0; i < s->n_http_sd; i++)
        free_http_sd(&s->http_sd[i]);
    free(s->http_sd);
    for (size_t i = 0; i < s->n_consul_sd; i++)
        free_consul_sd(&s->consul_sd[i]);
    free(s->consul_sd);
    for (size_t i = 0; i < s->n_kube_sd; i++)
        free_kube_sd(&s->kube_sd[i]);
    free(s->kube_sd);
    pg_cfg_relabel_rules_free(s->relabel, s->n_relabel);
}

static void load_remote(struct pg_cfg_ld *l, yaml_node_t *r, struct pg_cfg_remote *rw, size_t idx)
{
    static const char *const k[] = {"name",
                                    "url",
                                    "api",
                                    "basic_auth",
                                    "authorization",
                                    "tls_config",
                                    "proxy_url",
                                    "follow_redirects",
                                    "headers",
                                    "external_labels",
                                    "remote_timeout",
                                    "min_backoff",
                                    "max_backoff",
                                    "max_retries",
                                    "concurrency",
                                    "batch_max_bytes",
                                    NULL};
    pg_labels_init(&rw->external_labels);
    rw->remote_timeout_ms = 10000;
    rw->min_backoff_ms = 500;
    rw->max_backoff_ms = 5 * 60 * 1000;
    rw->concurrency = 1;
    rw->batch_max_bytes = 4u << 20;
    pg_cfg_load_http(l, r, &rw->http, 1);
    /* the default name is set first: an item that is not a mapping returns early below,
     * and the duplicate-name check must still see a name (issue 15) */
    char dflt[32];
    snprintf(dflt, sizeof(dflt), "remote-%zu", idx);
    if (pg_yaml_check_keys(l->y, r, k, "config.RemoteWriteConfig", l->errs) < 0 &&
        r->type != YAML_MAPPING_NODE) {
        rw->name = strdup(dflt);
        return;
    }
    pg_cfg_get_str(l, r, "name", 1, &rw->name);
    pg_cfg_get_str(l, r, "url", 1, &rw->url);
    if (!rw->url || !*rw->url)
        pg_yaml_error(l->y, r, l->errs, "remote_write: url is required");
    char *api = NULL;
    pg_cfg_get_str(l, r, "api", 1, &api);
    if (!api || !strcmp(api, "push"))
        rw->api = PG_CFG_API_PUSH;
    else if (!strcmp(api, "ingest"))
        rw->api = PG_CFG_API_INGEST;
    else if (!strcmp(api, "file"))
        rw->api = PG_CFG_API_FILE;
    else
        pg_yaml_error(l->y, pg_yaml_get(l->y, r, "api"), l->errs,
                      "remote_write: unknown api \"%s\" (want push, ingest or file)", api);
    free(api);
    if (!rw->name)
        rw->name = strdup(dflt);
    pg_cfg_get_labels(l, r, "external_labels", &rw->external_labels);
    pg_cfg_get_dur(l, r, "remote_timeout", &rw->remote_timeout_ms);
    pg_cfg_get_dur(l, r, "min_backoff", &rw->min_backoff_ms);
    pg_cfg_get_dur(l, r, "max_backoff", &rw->max_backoff_ms);
    pg_cfg_get_uint(l, r, "max_retries", &rw->max_retries);
    pg_cfg_get_uint(l, r, "concurrency", &rw->concurrency);
    pg_cfg_get_size(l, r, "batch_max_bytes", &rw->batch_max_bytes);
    if (rw->min_backoff_ms > rw->max_backoff_ms)
        pg_yaml_error(l->y, r, l->errs, "remote_write %s: min_backoff is above max_backoff",
                      rw->name);
    if (rw->concurrency == 0)
        pg_yaml_error(l->y, pg_yaml_get(l->y, r, "concurrency"), l->errs,
                      "remote_write %s: concurrency must be at least 1", rw->name);
}

static void load_seq(struct pg_cfg_ld *l, yaml_node_t *root, const char *key, size_t elem,
                     void **out, size_t *n)
{
    yaml_node_t *s = pg_yaml_get(l->y, root, key);
    if (!s || pg_yaml_is_null(s))
        return;
    if (s->type != YAML_SEQUENCE_NODE) {
        pg_yaml_error(l->y, s, l->errs, "%s: expected a sequence", key);
        return;
    }
    *n = (size_t)(s->data.sequence.items.top - s->data.sequence.items.start);
    *out = calloc(*n ? *n : 1, elem);
}

/* receiver: the push receiver (DESIGN.md "HTTP surface"; docs/configuration.md). */
static void load_receiver(struct pg_cfg_ld *l, yaml_node_t *rc, struct pg_cfg *cfg)
{
    static const char *const k[] = {"enabled",
                                    "max_body_size",
                                    "basic_auth",
                                    "bearer_tokens_file",
                                    "relabel_configs",
                                    "max_connections",
                                    "read_timeout",
                                    "write_timeout",
                                    NULL};
    pg_yaml_check_keys(l->y, rc, k, "config.ReceiverConfig", l->errs);
    pg_cfg_get_bool(l, rc, "enabled", &cfg->receiver_enabled);
    pg_cfg_get_size(l, rc, "max_body_size", &cfg->receiver_max_body_size);
    if (cfg->receiver_max_body_size == 0)
        pg_yaml_error(l->y, pg_yaml_get(l->y, rc, "max_body_size"), l->errs,
                      "receiver: max_body_size must be greater than 0");
    pg_cfg_get_uint(l, rc, "max_connections", &cfg->receiver_max_connections);
    if (cfg->receiver_max_connections == 0)
        pg_yaml_error(l->y, pg_yaml_get(l->y, rc, "max_connections"), l->errs,
                      "receiver: max_connections must be at least 1");
    pg_cfg_get_dur(l, rc, "read_timeout", &cfg->receiver_read_timeout_ms);
    if (cfg->receiver_read_timeout_ms <= 0)
        pg_yaml_error(l->y, pg_yaml_get(l->y, rc, "read_timeout"), l->errs,
                      "receiver: read_timeout must be greater than 0");
    pg_cfg_get_dur(l, rc, "write_timeout", &cfg->receiver_write_timeout_ms);
    if (cfg->receiver_write_timeout_ms <= 0)
        pg_yaml_error(l->y, pg_yaml_get(l->y, rc, "write_timeout"), l->errs,
                      "receiver: write_timeout must be greater than 0");

    yaml_node_t *ba = pg_yaml_get(l->y, rc, "basic_auth");
    if (ba && !pg_yaml_is_null(ba)) {
        if (ba->type != YAML_SEQUENCE_NODE) {
            pg_yaml_error(l->y, ba, l->errs,
                          "receiver: basic_auth: expected a sequence of {username, password}");
        } else {
            size_t cnt = (size_t)(ba->data.sequence.items.top - ba->data.sequence.items.start);
            cfg->receiver_users = calloc(cnt ? cnt : 1, sizeof(*cfg->receiver_users));
            for (size_t i = 0; cfg->receiver_users && i < cnt; i++) {
                yaml_node_t *u = pg_yaml_at(l->y, ba->data.sequence.items.start[i]);
                static const char *const uk[] = {"username", "password", "password_file", NULL};
                if (pg_yaml_check_keys(l->y, u, uk, "config.ReceiverBasicAuth", l->errs) < 0)
                    continue;
                struct pg_cfg_receiver_user *ru = &cfg->receiver_users[cfg->n_receiver_users++];
                pg_cfg_get_str(l, u, "username", 1, &ru->username);
                pg_cfg_get_secret(l, u, "password", &ru->password);
                if (!ru->username || !*ru->username)
                    pg_yaml_error(l->y, u, l->errs, "receiver: basic_auth: username is required");
                else if (!pg_yaml_get(l->y, u, "password") &&
                         !pg_yaml_get(l->y, u, "password_file"))
                    pg_yaml_error(l->y, u, l->errs,
                                  "receiver: basic_auth: user %s needs a password or "
                                  "password_file",
                                  ru->username);
                else if (!ru->password || !*ru->password)
                    pg_yaml_error(l->y, u, l->errs,
                                  "receiver: basic_auth: user %s has an empty password (an unset "
                                  "${VAR} or an empty password_file would let anyone push)",
                                  ru->username);
                for (size_t j = 0; ru->username && j + 1 < cfg->n_receiver_users; j++)
                    if (cfg->receiver_users[j].username &&
                        !strcmp(cfg->receiver_users[j].username, ru->username))
                        pg_yaml_error(l->y, pg_yaml_get(l->y, u, "username"), l->errs,
                                      "receiver: basic_auth: duplicate username %s", ru->username);
            }
        }
    }

    yaml_node_t *tf = pg_yaml_get(l->y, rc, "bearer_tokens_file");
    if (tf && !pg_yaml_is_null(tf) &&
        pg_yaml_str(l->y, tf, "bearer_tokens_file", 1, &cfg->receiver_bearer_tokens_file,
                    l->errs) == 0) {
        char *text = pg_cfg_read_secret_file(l, tf, cfg->receiver_bearer_tokens_file);
        size_t cap = 0;
        for (char *line = text, *next; line && *line; line = next) {
            next = strchr(line, '\n');
            if (next)
                *next++ = '\0';
            else
                next = line + strlen(line);
            while (*line == ' ' || *line == '\t')
                line++;
            size_t n = strlen(line);
            while (n && (line[n - 1] == ' ' || line[n - 1] == '\t' || line[n - 1] == '\r'))
                line[--n] = '\0';
            if (!n)
                continue;
            if (cfg->n_receiver_bearer_tokens == cap) {
                cap = cap ? cap * 2 : 4;
                char **v = realloc(cfg->receiver_bearer_tokens, cap * sizeof(*v));
                if (!v)
                    break;
                cfg->receiver_bearer_tokens = v;
            }
            char *t = strdup(line);
            if (t)
                cfg->receiver_bearer_tokens[cfg->n_receiver_bearer_tokens++] = t;
        }
        if (text && cfg->n_receiver_bearer_tokens == 0)
            pg_yaml_error(l->y, tf, l->errs, "receiver: bearer_tokens_file %s has no tokens",
                          cfg->receiver_bearer_tokens_file);
        free(text);
    }

    yaml_node_t *rl = pg_yaml_get(l->y, rc, "relabel_configs");
    if (rl)
        pg_cfg_parse_relabel_configs(l->y, rl, "relabel_configs", &cfg->receiver_relabel,
                                     &cfg->n_receiver_relabel, l->errs);
}

/* The top-level processing block: worker threads and their queue. */
static void load_processing(struct pg_cfg_ld *l, yaml_node_t *pr, struct pg_cfg *cfg)
{
    static const char *const k[] = {"workers", "queue_size", NULL};
    pg_yaml_check_keys(l->y, pr, k, "config.ProcessingConfig", l->errs);
    pg_cfg_get_uint(l, pr, "workers", &cfg->processing_workers);
    pg_cfg_get_uint(l, pr, "queue_size", &cfg->processing_queue_size);
    if (cfg->processing_workers > MAX_WORKERS)
        pg_yaml_error(l->y, pg_yaml_get(l->y, pr, "workers"), l->errs,
                      "processing.workers must be at most %d (0 = one per CPU)", MAX_WORKERS);
    if (cfg->processing_queue_size == 0 || cfg->processing_queue_size > 1000000)
        pg_yaml_error(l->y, pg_yaml_get(l->y, pr, "queue_size"), l->errs,
                      "processing.queue_size must be between 1 and 1000000");
}

struct pg_cfg *pg_cfg_load(const char *path, struct pg_cfg_errors *errs)
{
    size_t before = errs->n;
    struct pg_yaml y;
    if (pg_yaml_load_file(&y, path, errs) < 0) {
        pg_yaml_free(&y);
        return NULL;
    }
    struct pg_cfg_ld l = {&y, errs};
    struct pg_cfg *cfg = calloc(1, sizeof(*cfg));
    cfg->file = strdup(path);
    cfg->scrape_interval_ms = DEFAULT_INTERVAL_MS;
    cfg->scrape_timeout_ms = DEFAULT_TIMEOUT_MS;
    pg_labels_init(&cfg->external_labels);
    cfg->storage_path = strdup("./data");
    cfg->storage_max_size = 1ull << 30;
    cfg->storage_max_age_ms = 24ll * 3600 * 1000;
    cfg->receiver_max_body_size = 32u << 20;
    cfg->receiver_max_connections = 1024;
    cfg->receiver_read_timeout_ms = 30000;
    cfg->receiver_write_timeout_ms = 30000;
    cfg->processing_queue_size = DEFAULT_QUEUE_SIZE;

    yaml_node_t *root = pg_yaml_root(&y);
    if (!root || pg_yaml_is_null(root))
        goto done; /* an empty file is an empty config, as in Prometheus */
    if (pg_yaml_get(&y, root, "scrape-configs")) { /* legacy Pyroscope dialect */
        pg_cfg_load_legacy(&y, root, cfg, errs);
        goto done;
    }
    static const char *const top[] = {"global",   "scrape_configs", "storage", "remote_write",
                                      "receiver", "processing",     NULL};
    pg_yaml_check_keys(&y, root, top, "config.Config", errs);

    yaml_node_t *g = pg_yaml_get(&y, root, "global");
    if (g && !pg_yaml_is_null(g)) {
        static const char *const k[] = {"scrape_interval", "scrape_timeout", "external_labels",
                                        NULL};
        pg_yaml_check_keys(&y, g, k, "config.GlobalConfig", errs);
        int timeout_set = pg_yaml_get(&y, g, "scrape_timeout") != NULL;
        pg_cfg_get_dur(&l, g, "scrape_interval", &cfg->scrape_interval_ms);
        pg_cfg_get_dur(&l, g, "scrape_timeout", &cfg->scrape_timeout_ms);
        if (!timeout_set && cfg->scrape_timeout_ms > cfg->scrape_interval_ms)
            cfg->scrape_timeout_ms = cfg->scrape_interval_ms;
        if (cfg->scrape_timeout_ms > cfg->scrape_interval_ms)
            pg_yaml_error(&y, pg_yaml_get(&y, g, "scrape_timeout"), errs,
                          "global scrape timeout greater than scrape interval");
        pg_cfg_get_labels(&l, g, "external_labels", &cfg->external_labels);
    }

    void *arr = NULL;
    size_t n = 0;
    load_seq(&l, root, "scrape_configs", sizeof(struct pg_cfg_scrape), &arr, &n);
    cfg->scrape = arr;
    yaml_node_t *sc = pg_yaml_get(&y, root, "scrape_configs");
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *j = pg_yaml_at(&y, sc->data.sequence.items.start[i]);
        struct pg_cfg_scrape *s = &cfg->scrape[cfg->n_scrape++];
        pg_labels_init(&s->http.headers);
        load_scrape(&l, cfg, j, s);
        for (size_t k = 0; s->job_name && k + 1 < cfg->n_scrape; k++)
            if (cfg->scrape[k].job_name && !strcmp(cfg->scrape[k].job_name, s->job_name))
                pg_yaml_error(&y, pg_yaml_get(&y, j, "job_name"), errs,
                              "found multiple scrape configs with job name \"%s\"", s->job_name);
    }

    yaml_node_t *st = pg_yaml_get(&y, root, "storage");
    if (st && !pg_yaml_is_null(st)) {
        static const char *const k[] = {"path", "max_size", "max_age", NULL};
        pg_yaml_check_keys(&y, st, k, "config.StorageConfig", errs);
        pg_cfg_get_str(&l, st, "path", 1, &cfg->storage_path);
        pg_cfg_get_size(&l, st, "max_size", &cfg->storage_max_size);
        pg_cfg_get_dur(&l, st, "max_age", &cfg->storage_max_age_ms);
    }

    arr = NULL;
    n = 0;
    load_seq(&l, root, "remote_write", sizeof(struct pg_cfg_remote), &arr, &n);
    cfg->remote = arr;
    yaml_node_t *rw = pg_yaml_get(&y, root, "remote_write");
    for (size_t i = 0; i < n; i++) {
        struct pg_cfg_remote *r = &cfg->remote[cfg->n_remote++];
        load_remote(&l, pg_yaml_at(&y, rw->data.sequence.items.start[i]), r, i);
        for (size_t k = 0; r->name && k + 1 < cfg->n_remote; k++)
            if (cfg->remote[k].name && !strcmp(cfg->remote[k].name, r->name))
                pg_yaml_error(&y, pg_yaml_at(&y, rw->data.sequence.items.start[i]), errs,
                              "found multiple remote_write configs with name \"%s\"", r->name);
    }

    yaml_node_t *rc = pg_yaml_get(&y, root, "receiver");
    if (rc && !pg_yaml_is_null(rc))
        load_receiver(&l, rc, cfg);

    yaml_node_t *pr = pg_yaml_get(&y, root, "processing");
    if (pr && !pg_yaml_is_null(pr))
        load_processing(&l, pr, cfg);

done:
    pg_yaml_free(&y);
    if (errs->n > before) {
        pg_cfg_free(cfg);
        return NULL;
    }
    return cfg;
}

const struct pg_cfg_profile *pg_cfg_profile_find(const struct pg_cfg_scrape *s, const char *name)
{
    for (size_t i = 0; i < s->n_profiles; i++)
        if (s->profiles[i].name && !strcmp(s->profiles[i].name, name))
            return &s->profiles[i];
    return NULL;
}

void pg_cfg_free(struct pg_cfg *cfg)
{
    if (!cfg)
        return;
    free(cfg->file);
    pg_labels_reset(&cfg->external_labels);
    for (size_t i = 0; i < cfg->n_scrape; i++)
        free_scrape(&cfg->scrape[i]);
    free(cfg->scrape);
    free(cfg->storage_path);
    for (size_t i = 0; i < cfg->n_remote; i++) {
        free(cfg->remote[i].name);
        free(cfg->remote[i].url);
        pg_cfg_http_free(&cfg->remote[i].http);
        pg_labels_reset(&cfg->remote[i].external_labels);
    }
    free(cfg->remote);
    for (size_t i = 0; i < cfg->n_receiver_users; i++) {
        free(cfg->receiver_users[i].username);
        free(cfg->receiver_users[i].password);
    }
    free(cfg->receiver_users);
    free(cfg->receiver_bearer_tokens_file);
    pg_cfg_strv_free(cfg->receiver_bearer_tokens, cfg->n_receiver_bearer_tokens);
    pg_cfg_relabel_rules_free(cfg->receiver_relabel, cfg->n_receiver_relabel);
    free(cfg);
}
