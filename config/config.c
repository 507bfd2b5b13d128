/* config.c - loads profgate's YAML config into struct pg_cfg (see config.h).
 *
 * The loader walks the libyaml document with positions (config/yaml.c), checks keys
 * against per-type allow lists (unknown keys are errors), applies defaults only to
 * absent fields, reads *_file secrets, and validates cross-field rules (timeouts, delta
 * duration, duplicate job names). Every problem is reported; loading never stops early. */
#include "config/config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/legacy.h"
#include "config/relabel_cfg.h"
#include "config/yaml.h"

#define DEFAULT_INTERVAL_MS 15000
#define DEFAULT_TIMEOUT_MS 10000
#define DEFAULT_BODY_LIMIT (64ull << 20)

struct ld {
    struct pg_yaml *y;
    struct pg_cfg_errors *errs;
};

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

static void free_strv(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* Reads a whole secret file, trimming one trailing newline (as Prometheus does with
 * strings.TrimSpace). Returns a new string or NULL with an error at node n. */
static char *read_secret_file(struct ld *l, yaml_node_t *n, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        pg_yaml_error(l->y, n, l->errs, "unable to read file %s: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = NULL;
    size_t cap = 0, len = 0;
    char chunk[4096];
    size_t r;
    while ((r = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        if (len + r + 1 > cap) {
            cap = (len + r + 1) * 2;
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(f);
                pg_yaml_error(l->y, n, l->errs, "out of memory reading %s", path);
                return NULL;
            }
            buf = nb;
        }
        memcpy(buf + len, chunk, r);
        len += r;
    }
    fclose(f);
    if (!buf)
        buf = strdup("");
    else
        buf[len] = '\0';
    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' '))
        buf[--len] = '\0';
    return buf;
}

static int get_str(struct ld *l, yaml_node_t *map, const char *key, int expand, char **out)
{
    yaml_node_t *n = pg_yaml_get(l->y, map, key);
    if (!n || pg_yaml_is_null(n))
        return 0;
    free(*out);
    *out = NULL;
    return pg_yaml_str(l->y, n, key, expand, out, l->errs);
}

/* secret `key` or `key_file` (not both). */
static void get_secret(struct ld *l, yaml_node_t *map, const char *key, char **out)
{
    char fkey[64];
    snprintf(fkey, sizeof(fkey), "%s_file", key);
    yaml_node_t *v = pg_yaml_get(l->y, map, key), *f = pg_yaml_get(l->y, map, fkey);
    if (v && f && !pg_yaml_is_null(v) && !pg_yaml_is_null(f)) {
        pg_yaml_error(l->y, f, l->errs, "at most one of %s and %s must be configured", key, fkey);
        return;
    }
    if (f && !pg_yaml_is_null(f)) {
        char *path = NULL;
        if (pg_yaml_str(l->y, f, fkey, 1, &path, l->errs) == 0) {
            free(*out);
            *out = read_secret_file(l, f, path);
        }
        free(path);
    } else {
        get_str(l, map, key, 1, out);
    }
}

static void get_dur(struct ld *l, yaml_node_t *map, const char *key, int64_t *out)
{
    yaml_node_t *n = pg_yaml_get(l->y, map, key);
    if (n && !pg_yaml_is_null(n))
        pg_yaml_duration(l->y, n, key, out, l->errs);
}

static void get_bool(struct ld *l, yaml_node_t *map, const char *key, int *out)
{
    yaml_node_t *n = pg_yaml_get(l->y, map, key);
    if (n && !pg_yaml_is_null(n))
        pg_yaml_bool(l->y, n, key, out, l->errs);
}

static void get_uint(struct ld *l, yaml_node_t *map, const char *key, uint64_t *out)
{
    yaml_node_t *n = pg_yaml_get(l->y, map, key);
    if (n && !pg_yaml_is_null(n))
        pg_yaml_uint(l->y, n, key, out, l->errs);
}

static void get_size(struct ld *l, yaml_node_t *map, const char *key, uint64_t *out)
{
    yaml_node_t *n = pg_yaml_get(l->y, map, key);
    if (n && !pg_yaml_is_null(n))
        pg_yaml_size(l->y, n, key, out, l->errs);
}

/* A sequence of strings into a new vector. */
static void get_strv(struct ld *l, yaml_node_t *map, const char *key, int expand, char ***out,
                     size_t *n)
{
    yaml_node_t *s = pg_yaml_get(l->y, map, key);
    if (!s || pg_yaml_is_null(s))
        return;
    if (s->type != YAML_SEQUENCE_NODE) {
        pg_yaml_error(l->y, s, l->errs, "%s: expected a sequence of strings", key);
        return;
    }
    size_t cnt = (size_t)(s->data.sequence.items.top - s->data.sequence.items.start);
    char **v = calloc(cnt ? cnt : 1, sizeof(*v));
    size_t k = 0;
    for (yaml_node_item_t *it = s->data.sequence.items.start; it < s->data.sequence.items.top;
         it++) {
        char *str = NULL;
        if (pg_yaml_str(l->y, pg_yaml_at(l->y, *it), key, expand, &str, l->errs) == 0)
            v[k++] = str;
    }
    *out = v;
    *n = k;
}

/* A mapping of label name -> value into ls, names validated. */
static void get_labels(struct ld *l, yaml_node_t *map, const char *key, struct pg_labels *ls)
{
    yaml_node_t *m = pg_yaml_get(l->y, map, key);
    if (!m || pg_yaml_is_null(m))
        return;
    if (m->type != YAML_MAPPING_NODE) {
        pg_yaml_error(l->y, m, l->errs, "%s: expected a mapping of label names to values", key);
        return;
    }
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        yaml_node_t *k = pg_yaml_at(l->y, p->key), *v = pg_yaml_at(l->y, p->value);
        char *name = NULL, *value = NULL;
        if (pg_yaml_str(l->y, k, key, 0, &name, l->errs) == 0 &&
            pg_yaml_str(l->y, v, key, 1, &value, l->errs) == 0) {
            if (!*name)
                pg_yaml_error(l->y, k, l->errs, "%s: %s is not a valid label name", key, "\"\"");
            else if (pg_labels_get(ls, name))
                pg_yaml_error(l->y, k, l->errs, "%s: duplicate label name %s", key, name);
            else
                pg_labels_set(ls, name, value);
        }
        free(name);
        free(value);
    }
}

static void load_http(struct ld *l, yaml_node_t *map, struct pg_cfg_http *h, int with_headers)
{
    h->follow_redirects = 1;
    pg_labels_init(&h->headers);
    yaml_node_t *ba = pg_yaml_get(l->y, map, "basic_auth");
    if (ba && !pg_yaml_is_null(ba)) {
        static const char *const k[] = {"username", "password", "password_file", NULL};
        if (pg_yaml_check_keys(l->y, ba, k, "config.BasicAuth", l->errs) == 0) {
            get_str(l, ba, "username", 1, &h->basic_auth_username);
            get_secret(l, ba, "password", &h->basic_auth_password);
        }
    }
    yaml_node_t *au = pg_yaml_get(l->y, map, "authorization");
    if (au && !pg_yaml_is_null(au)) {
        static const char *const k[] = {"type", "credentials", "credentials_file", NULL};
        if (pg_yaml_check_keys(l->y, au, k, "config.Authorization", l->errs) == 0) {
            get_str(l, au, "type", 1, &h->auth_type);
            get_secret(l, au, "credentials", &h->auth_credentials);
            if (!h->auth_type)
                h->auth_type = strdup("Bearer");
            if (strcasecmp(h->auth_type, "basic") == 0)
                pg_yaml_error(l->y, au, l->errs,
                              "authorization type cannot be set to \"basic\", use \"basic_auth\" "
                              "instead");
        }
        if (h->basic_auth_username || h->basic_auth_password)
            pg_yaml_error(l->y, au, l->errs,
                          "at most one of basic_auth and authorization must be configured");
    }
    yaml_node_t *tls = pg_yaml_get(l->y, map, "tls_config");
    if (tls && !pg_yaml_is_null(tls)) {
        static const char *const k[] = {
            "ca_file", "cert_file", "key_file", "server_name", "insecure_skip_verify", NULL};
        if (pg_yaml_check_keys(l->y, tls, k, "config.TLSConfig", l->errs) == 0) {
            get_str(l, tls, "ca_file", 1, &h->tls.ca_file);
            get_str(l, tls, "cert_file", 1, &h->tls.cert_file);
            get_str(l, tls, "key_file", 1, &h->tls.key_file);
            get_str(l, tls, "server_name", 1, &h->tls.server_name);
            get_bool(l, tls, "insecure_skip_verify", &h->tls.insecure_skip_verify);
            if (!!h->tls.cert_file != !!h->tls.key_file)
                pg_yaml_error(l->y, tls, l->errs,
                              "tls_config: cert_file and key_file must be set together");
        }
    }
    get_str(l, map, "proxy_url", 1, &h->proxy_url);
    get_bool(l, map, "follow_redirects", &h->follow_redirects);
    if (with_headers)
        get_labels(l, map, "headers", &h->headers);
}

static void free_http(struct pg_cfg_http *h)
{
    free(h->basic_auth_username);
    free(h->basic_auth_password);
    free(h->auth_type);
    free(h->auth_credentials);
    free(h->tls.ca_file);
    free(h->tls.cert_file);
    free(h->tls.key_file);
    free(h->tls.server_name);
    free(h->proxy_url);
    pg_labels_reset(&h->headers);
}

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

static void load_profiles(struct ld *l, yaml_node_t *pc, struct pg_cfg_scrape *s)
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
                get_bool(l, t, "enabled", &p->enabled);
                get_str(l, t, "path", 1, &p->path);
                get_bool(l, t, "delta", &p->delta);
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
        get_str(l, c, "name", 1, &p->name);
        get_str(l, c, "path", 1, &p->path);
        get_bool(l, c, "delta", &p->delta);
        get_bool(l, c, "enabled", &p->enabled);
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

static void load_static(struct ld *l, yaml_node_t *seq, struct pg_cfg_scrape *s)
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
        get_strv(l, g, "targets", 1, &sg->targets, &sg->n_targets);
        get_labels(l, g, "labels", &sg->labels);
    }
}

static void load_file_sd(struct ld *l, yaml_node_t *seq, struct pg_cfg_scrape *s)
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
        get_strv(l, g, "files", 1, &f->files, &f->n_files);
        get_dur(l, g, "refresh_interval", &f->refresh_interval_ms);
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

static void load_params(struct ld *l, yaml_node_t *m, struct pg_cfg_scrape *s)
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

static void load_scrape(struct ld *l, struct pg_cfg *cfg, yaml_node_t *j, struct pg_cfg_scrape *s)
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
                                    "relabel_configs",
                                    NULL};
    s->line = (int)j->start_mark.line + 1;
    s->col = (int)j->start_mark.column + 1;
    if (pg_yaml_check_keys(l->y, j, k, "config.ScrapeConfig", l->errs) < 0 &&
        j->type != YAML_MAPPING_NODE)
        return;
    get_str(l, j, "job_name", 1, &s->job_name);
    if (!s->job_name || !*s->job_name)
        pg_yaml_error(l->y, j, l->errs, "job_name is empty");
    s->scrape_interval_ms = cfg->scrape_interval_ms;
    s->scrape_timeout_ms = -1;
    s->delta_profiling_duration_ms = -1;
    get_dur(l, j, "scrape_interval", &s->scrape_interval_ms);
    get_dur(l, j, "scrape_timeout", &s->scrape_timeout_ms);
    get_dur(l, j, "delta_profiling_duration", &s->delta_profiling_duration_ms);
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
    get_str(l, j, "scheme", 1, &s->scheme);
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
        get_str(l, pc, "path_prefix", 1, &s->path_prefix);
    }
    if (!s->path_prefix)
        s->path_prefix = strdup("");
    load_profiles(l, pc && pc->type == YAML_MAPPING_NODE ? pc : NULL, s);
    load_http(l, j, &s->http, 0);
    s->body_size_limit = 0;
    get_size(l, j, "body_size_limit", &s->body_size_limit);
    if (s->body_size_limit == 0)
        s->body_size_limit = DEFAULT_BODY_LIMIT;
    load_static(l, pg_yaml_get(l->y, j, "static_configs"), s);
    load_file_sd(l, pg_yaml_get(l->y, j, "file_sd_configs"), s);
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
        free_strv(s->params[i].values, s->params[i].n_values);
    }
    free(s->params);
    for (size_t i = 0; i < s->n_profiles; i++) {
        free(s->profiles[i].name);
        free(s->profiles[i].path);
        free(s->profiles[i].sent_name);
    }
    free(s->profiles);
    free_http(&s->http);
    for (size_t i = 0; i < s->n_static; i++) {
        free_strv(s->static_configs[i].targets, s->static_configs[i].n_targets);
        pg_labels_reset(&s->static_configs[i].labels);
    }
    free(s->static_configs);
    for (size_t i = 0; i < s->n_file_sd; i++)
        free_strv(s->file_sd[i].files, s->file_sd[i].n_files);
    free(s->file_sd);
    pg_cfg_relabel_rules_free(s->relabel, s->n_relabel);
}

static void load_remote(struct ld *l, yaml_node_t *r, struct pg_cfg_remote *rw, size_t idx)
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
    load_http(l, r, &rw->http, 1);
    if (pg_yaml_check_keys(l->y, r, k, "config.RemoteWriteConfig", l->errs) < 0 &&
        r->type != YAML_MAPPING_NODE)
        return;
    get_str(l, r, "name", 1, &rw->name);
    get_str(l, r, "url", 1, &rw->url);
    if (!rw->url || !*rw->url)
        pg_yaml_error(l->y, r, l->errs, "remote_write: url is required");
    char *api = NULL;
    get_str(l, r, "api", 1, &api);
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
    if (!rw->name) {
        char buf[32];
        snprintf(buf, sizeof(buf), "remote-%zu", idx);
        rw->name = strdup(buf);
    }
    get_labels(l, r, "external_labels", &rw->external_labels);
    get_dur(l, r, "remote_timeout", &rw->remote_timeout_ms);
    get_dur(l, r, "min_backoff", &rw->min_backoff_ms);
    get_dur(l, r, "max_backoff", &rw->max_backoff_ms);
    get_uint(l, r, "max_retries", &rw->max_retries);
    get_uint(l, r, "concurrency", &rw->concurrency);
    get_size(l, r, "batch_max_bytes", &rw->batch_max_bytes);
    if (rw->min_backoff_ms > rw->max_backoff_ms)
        pg_yaml_error(l->y, r, l->errs, "remote_write %s: min_backoff is above max_backoff",
                      rw->name);
    if (rw->concurrency == 0)
        pg_yaml_error(l->y, pg_yaml_get(l->y, r, "concurrency"), l->errs,
                      "remote_write %s: concurrency must be at least 1", rw->name);
}

static void load_seq(struct ld *l, yaml_node_t *root, const char *key, size_t elem, void **out,
                     size_t *n)
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

struct pg_cfg *pg_cfg_load(const char *path, struct pg_cfg_errors *errs)
{
    size_t before = errs->n;
    struct pg_yaml y;
    if (pg_yaml_load_file(&y, path, errs) < 0) {
        pg_yaml_free(&y);
        return NULL;
    }
    struct ld l = {&y, errs};
    struct pg_cfg *cfg = calloc(1, sizeof(*cfg));
    cfg->file = strdup(path);
    cfg->scrape_interval_ms = DEFAULT_INTERVAL_MS;
    cfg->scrape_timeout_ms = DEFAULT_TIMEOUT_MS;
    pg_labels_init(&cfg->external_labels);
    cfg->storage_path = strdup("./data");
    cfg->storage_max_size = 1ull << 30;
    cfg->storage_max_age_ms = 24ll * 3600 * 1000;
    cfg->receiver_max_body_size = 32u << 20;

    yaml_node_t *root = pg_yaml_root(&y);
    if (!root || pg_yaml_is_null(root))
        goto done; /* an empty file is an empty config, as in Prometheus */
    if (pg_yaml_get(&y, root, "scrape-configs")) { /* legacy Pyroscope dialect */
        pg_cfg_load_legacy(&y, root, cfg, errs);
        goto done;
    }
    static const char *const top[] = {"global",       "scrape_configs", "storage",
                                      "remote_write", "receiver",       NULL};
    pg_yaml_check_keys(&y, root, top, "config.Config", errs);

    yaml_node_t *g = pg_yaml_get(&y, root, "global");
    if (g && !pg_yaml_is_null(g)) {
        static const char *const k[] = {"scrape_interval", "scrape_timeout", "external_labels",
                                        NULL};
        pg_yaml_check_keys(&y, g, k, "config.GlobalConfig", errs);
        int timeout_set = pg_yaml_get(&y, g, "scrape_timeout") != NULL;
        get_dur(&l, g, "scrape_interval", &cfg->scrape_interval_ms);
        get_dur(&l, g, "scrape_timeout", &cfg->scrape_timeout_ms);
        if (!timeout_set && cfg->scrape_timeout_ms > cfg->scrape_interval_ms)
            cfg->scrape_timeout_ms = cfg->scrape_interval_ms;
        if (cfg->scrape_timeout_ms > cfg->scrape_interval_ms)
            pg_yaml_error(&y, pg_yaml_get(&y, g, "scrape_timeout"), errs,
                          "global scrape timeout greater than scrape interval");
        get_labels(&l, g, "external_labels", &cfg->external_labels);
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
        get_str(&l, st, "path", 1, &cfg->storage_path);
        get_size(&l, st, "max_size", &cfg->storage_max_size);
        get_dur(&l, st, "max_age", &cfg->storage_max_age_ms);
    }

    arr = NULL;
    n = 0;
    load_seq(&l, root, "remote_write", sizeof(struct pg_cfg_remote), &arr, &n);
    cfg->remote = arr;
    yaml_node_t *rw = pg_yaml_get(&y, root, "remote_write");
    for (size_t i = 0; i < n; i++) {
        struct pg_cfg_remote *r = &cfg->remote[cfg->n_remote++];
        load_remote(&l, pg_yaml_at(&y, rw->data.sequence.items.start[i]), r, i);
        for (size_t k = 0; k + 1 < cfg->n_remote; k++)
            if (!strcmp(cfg->remote[k].name, r->name))
                pg_yaml_error(&y, pg_yaml_at(&y, rw->data.sequence.items.start[i]), errs,
                              "found multiple remote_write configs with name \"%s\"", r->name);
    }

    yaml_node_t *rc = pg_yaml_get(&y, root, "receiver");
    if (rc && !pg_yaml_is_null(rc)) {
        static const char *const k[] = {"enabled", "max_body_size", NULL};
        pg_yaml_check_keys(&y, rc, k, "config.ReceiverConfig", errs);
        get_bool(&l, rc, "enabled", &cfg->receiver_enabled);
        get_size(&l, rc, "max_body_size", &cfg->receiver_max_body_size);
    }

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
        free_http(&cfg->remote[i].http);
        pg_labels_reset(&cfg->remote[i].external_labels);
    }
    free(cfg->remote);
    free(cfg);
}
