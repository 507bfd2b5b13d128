/* sd_config.c - loads one kubernetes_sd_configs entry (sd_config.h) as Prometheus's
 * discovery/kubernetes SDConfig.UnmarshalYAML does: role required, api_server /
 * kubeconfig_file / in-cluster exclusive with their HTTP client rules, namespaces,
 * selectors (one per role, only the roles the entry's role accepts) and attach_metadata.
 * Label and field selectors are checked against the grammar of k8s.io/apimachinery, so a
 * bad selector fails at load, not at the API. */
#include "discovery/kubernetes/sd_config.h"

#include <stdlib.h>
#include <string.h>

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

/* namespaces and attach_metadata of entry g. Returns the namespaces node (or NULL). */
static yaml_node_t *kube_config_namespaces(struct pg_cfg_ld *l, yaml_node_t *g,
                                           struct pg_cfg_kube_sd *ks)
{
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
    return ns;
}

/* Where the API is: api_server, kubeconfig_file or in-cluster, and the rules between them,
 * the HTTP client options and namespaces.own_namespace (ns: the namespaces node). */
static void kube_config_check_source(struct pg_cfg_ld *l, yaml_node_t *g, yaml_node_t *ns,
                                     struct pg_cfg_kube_sd *ks)
{
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
    /* relative to the config file's directory, as Prometheus resolves it */
    pg_cfg_resolve_in_place(l, g, &ks->kubeconfig_file);
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
}

/* One selector sn into the next slot of ks->selectors; role is the entry's role (< 0 when
 * missing or invalid: the role rules are then not checked). */
static void kube_config_selector(struct pg_cfg_ld *l, yaml_node_t *sn, int role,
                                 struct pg_cfg_kube_sd *ks)
{
    static const char *const sk[] = {"role", "label", "field", NULL};
    if (pg_yaml_check_keys(l->y, sn, sk, "kubernetes.SelectorConfig", l->errs) < 0)
        return;
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
        return;
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

/* The selectors of entry g. */
static void kube_config_selectors(struct pg_cfg_ld *l, yaml_node_t *g, int role,
                                  struct pg_cfg_kube_sd *ks)
{
    yaml_node_t *sels = pg_yaml_get(l->y, g, "selectors");
    size_t cnt = pg_cfg_seq_len(l, sels, "selectors");
    if (cnt)
        ks->selectors = calloc(cnt, sizeof(*ks->selectors));
    for (size_t j = 0; ks->selectors && j < cnt; j++)
        kube_config_selector(l, pg_yaml_at(l->y, sels->data.sequence.items.start[j]), role, ks);
}

void *pg_kube_config_load(struct pg_cfg_ld *l, yaml_node_t *g)
{
    static const char *const k[] = {"role",      "api_server",      "kubeconfig_file", "namespaces",
                                    "selectors", "attach_metadata", PG_CFG_HTTP_KEYS,  NULL};
    struct pg_cfg_kube_sd *ks = calloc(1, sizeof(*ks));
    if (!ks)
        return NULL;
    pg_labels_init(&ks->http.headers);
    ks->http.follow_redirects = 1;
    ks->line = (int)g->start_mark.line + 1;
    ks->col = (int)g->start_mark.column + 1;
    if (pg_yaml_check_keys(l->y, g, k, "kubernetes.SDConfig", l->errs) < 0)
        return ks;
    int role = get_kube_role(l, g, "role");
    if (role == -1)
        pg_yaml_error(l->y, g, l->errs,
                      "role missing (one of: pod, service, endpoints, endpointslice, node, "
                      "ingress)");
    ks->role = role >= 0 ? (enum pg_cfg_kube_role)role : PG_CFG_KUBE_POD;
    pg_cfg_get_str(l, g, "api_server", 1, &ks->api_server);
    pg_cfg_get_str(l, g, "kubeconfig_file", 1, &ks->kubeconfig_file);
    pg_cfg_load_http(l, g, &ks->http, 0);
    yaml_node_t *ns = kube_config_namespaces(l, g, ks);
    kube_config_check_source(l, g, ns, ks);
    kube_config_selectors(l, g, role, ks);
    return ks;
}

void pg_kube_config_free(void *cfg)
{
    struct pg_cfg_kube_sd *ks = cfg;
    if (!ks)
        return;
    free(ks->api_server);
    free(ks->kubeconfig_file);
    pg_cfg_strv_free(ks->namespaces, ks->n_namespaces);
    for (size_t i = 0; i < ks->n_selectors; i++) {
        free(ks->selectors[i].label);
        free(ks->selectors[i].field);
    }
    free(ks->selectors);
    pg_cfg_http_free(&ks->http);
    free(ks);
}
