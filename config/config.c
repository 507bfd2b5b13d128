/* config.c - loads profgate's YAML config into struct pg_cfg (see config.h).
 *
 * The loader walks the libyaml document with positions (yamlcfg/yaml.c), checks keys
 * against per-type allow lists (unknown keys are errors), applies defaults only to
 * absent fields, reads *_file secrets, and validates cross-field rules (timeouts, delta
 * duration, duplicate job names). A scrape job's discovery keys (static_configs and every
 * *_sd_configs) are dispatched through the mechanism registry (discovery/sd.h): each
 * mechanism loads and validates its own configs with the helpers of yamlcfg/load.h. Every
 * problem is reported; loading never stops early. */
#include "config/config.h"

#include <errno.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/cluster.h"
#include "config/legacy.h"
#include "config/limits.h"
#include "config/sd_load.h"
#include "config/profiles.h"
#include "config/relabel_cfg.h"
#include "discovery/sd.h"
#include "yamlcfg/load.h"
#include "yamlcfg/yaml.h"

#define DEFAULT_INTERVAL_MS 15000
#define DEFAULT_TIMEOUT_MS 10000
#define DEFAULT_BODY_LIMIT (64ull << 20)
#define DEFAULT_QUEUE_SIZE 64
#define MAX_WORKERS 256

static void load_profiles(struct pg_cfg_ld *l, yaml_node_t *pc, struct pg_cfg_scrape *s)
{
    size_t n_custom = 0;
    yaml_node_t *custom = pc ? pg_yaml_get(l->y, pc, "custom") : NULL;
    if (custom && custom->type == YAML_SEQUENCE_NODE)
        n_custom = (size_t)(custom->data.sequence.items.top - custom->data.sequence.items.start);
    pg_cfg_default_profiles(s, n_custom);
    for (size_t i = 0; i < pg_cfg_n_builtin_profiles; i++) {
        struct pg_cfg_profile *p = &s->profiles[i];
        yaml_node_t *t = pc ? pg_yaml_get(l->y, pc, pg_cfg_builtin_profiles[i].name) : NULL;
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

/* The keys of a scrape config: these, and every discovery mechanism's key. */
static const char *const scrape_keys[] = {
    "job_name",        "scrape_interval", "scrape_timeout",          "delta_profiling_duration",
    "scheme",          "params",          "profiling_config",        PG_CFG_HTTP_KEYS,
    "body_size_limit", "relabel_configs", "profile_relabel_configs", PG_CFG_LIMIT_KEYS,
};
#define N_SCRAPE_KEYS (sizeof(scrape_keys) / sizeof(scrape_keys[0]))
#define MAX_SD_MECHANISMS 32

/* Checks job j's keys against scrape_keys and the registry's config keys. Returns 0, or -1
 * when a key is unknown or repeated, or j is not a mapping (reported). */
static int check_scrape_keys(struct pg_cfg_ld *l, yaml_node_t *j)
{
    size_t n_mech;
    const struct pg_sd_mechanism *const *reg = pg_sd_registry(&n_mech);
    const char *k[N_SCRAPE_KEYS + MAX_SD_MECHANISMS + 1];
    size_t n = 0;
    for (size_t i = 0; i < N_SCRAPE_KEYS; i++)
        k[n++] = scrape_keys[i];
    for (size_t i = 0; i < n_mech && i < MAX_SD_MECHANISMS; i++)
        k[n++] = reg[i]->config_key;
    k[n] = NULL;
    return pg_yaml_check_keys(l->y, j, k, "config.ScrapeConfig", l->errs);
}

/* Appends the config its mechanism loads from node to *sd. */
static void load_sd_one(struct pg_cfg_ld *l, yaml_node_t *node, const struct pg_sd_mechanism *mech,
                        struct pg_cfg_sd **sd, size_t *n_sd)
{
    struct pg_cfg_sd *t = realloc(*sd, (*n_sd + 1) * sizeof(*t));
    void *cfg = t ? mech->config_load(l, node) : NULL;
    if (t)
        *sd = t;
    if (!cfg) {
        pg_yaml_error(l->y, node, l->errs, "%s: out of memory", mech->config_key);
        return;
    }
    (*sd)[*n_sd].mech = mech;
    (*sd)[(*n_sd)++].cfg = cfg;
}

void pg_cfg_load_sd(struct pg_cfg_ld *l, yaml_node_t *map, struct pg_cfg_sd **sd, size_t *n_sd)
{
    size_t n_mech;
    const struct pg_sd_mechanism *const *reg = pg_sd_registry(&n_mech);
    for (size_t m = 0; m < n_mech; m++) {
        yaml_node_t *seq = pg_yaml_get(l->y, map, reg[m]->config_key);
        size_t cnt = pg_cfg_seq_len(l, seq, reg[m]->config_key);
        if (cnt && reg[m]->config_whole_list)
            load_sd_one(l, seq, reg[m], sd, n_sd);
        else
            for (size_t i = 0; i < cnt; i++)
                load_sd_one(l, pg_yaml_at(l->y, seq->data.sequence.items.start[i]), reg[m], sd,
                            n_sd);
    }
}

void pg_cfg_sd_free(struct pg_cfg_sd *sd, size_t n_sd)
{
    for (size_t i = 0; i < n_sd; i++)
        sd[i].mech->config_free(sd[i].cfg);
    free(sd);
}

/* scrape_interval, scrape_timeout and delta_profiling_duration of job j, with their
 * defaults from the global config and their checks. */
static void load_scrape_timing(struct pg_cfg_ld *l, struct pg_cfg *cfg, yaml_node_t *j,
                               struct pg_cfg_scrape *s)
{
    s->scrape_interval_ms = cfg->scrape_interval_ms;
    s->scrape_timeout_ms = -1;
    s->delta_profiling_duration_ms = -1;
    pg_cfg_get_dur(l, j, "scrape_interval", &s->scrape_interval_ms);
    pg_cfg_get_dur(l, j, "scrape_timeout", &s->scrape_timeout_ms);
    pg_cfg_get_dur(l, j, "delta_profiling_duration", &s->delta_profiling_duration_ms);
    s->delta_profiling_duration_set = s->delta_profiling_duration_ms >= 0;
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
}

/* profiling_config of job j: path_prefix and the profile types. */
static void load_scrape_profiling(struct pg_cfg_ld *l, yaml_node_t *j, struct pg_cfg_scrape *s)
{
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
}

static void load_scrape(struct pg_cfg_ld *l, struct pg_cfg *cfg, yaml_node_t *j,
                        struct pg_cfg_scrape *s)
{
    s->line = (int)j->start_mark.line + 1;
    s->col = (int)j->start_mark.column + 1;
    if (check_scrape_keys(l, j) < 0 && j->type != YAML_MAPPING_NODE)
        return;
    pg_cfg_get_str(l, j, "job_name", 1, &s->job_name);
    if (!s->job_name || !*s->job_name)
        pg_yaml_error(l->y, j, l->errs, "job_name is empty");
    load_scrape_timing(l, cfg, j, s);
    pg_cfg_get_str(l, j, "scheme", 1, &s->scheme);
    if (!s->scheme)
        s->scheme = strdup("http");
    else if (strcmp(s->scheme, "http") && strcmp(s->scheme, "https"))
        pg_yaml_error(l->y, pg_yaml_get(l->y, j, "scheme"), l->errs,
                      "unknown scrape config scheme: %s", s->scheme);
    load_params(l, pg_yaml_get(l->y, j, "params"), s);
    load_scrape_profiling(l, j, s);
    pg_cfg_load_http(l, j, &s->http, 0);
    s->body_size_limit = 0;
    pg_cfg_get_size(l, j, "body_size_limit", &s->body_size_limit);
    if (s->body_size_limit == 0)
        s->body_size_limit = DEFAULT_BODY_LIMIT;
    pg_cfg_load_sd(l, j, &s->sd, &s->n_sd);
    pg_cfg_load_limits(l, j, &s->limits);
    pg_cfg_inherit_limits(&s->limits, &cfg->limits);
    yaml_node_t *rc = pg_yaml_get(l->y, j, "relabel_configs");
    if (rc && !pg_yaml_is_null(rc))
        pg_cfg_parse_relabel_configs(l->y, rc, "relabel_configs", &s->relabel, &s->n_relabel,
                                     l->errs);
    yaml_node_t *prc = pg_yaml_get(l->y, j, "profile_relabel_configs");
    if (prc && !pg_yaml_is_null(prc))
        pg_cfg_parse_relabel_configs(l->y, prc, "profile_relabel_configs", &s->profile_relabel,
                                     &s->n_profile_relabel, l->errs);
}

static void free_scrape(struct pg_cfg_scrape *s)
{
    free(s->file);
    free(s->job_name);
    free(s->scheme);
    free(s->path_prefix);
    for (size_t i = 0; i < s->n_params; i++) {
        free(s->params[i].name);
        pg_cfg_strv_free(s->params[i].values, s->params[i].n_values);
    }
    free(s->params);
    for (size_t i = 0; i < s->n_profiles; i++) {
        for (size_t k = 0; k < s->profiles[i].n_params; k++) {
            free(s->profiles[i].params[k].name);
            pg_cfg_strv_free(s->profiles[i].params[k].values, s->profiles[i].params[k].n_values);
        }
        free(s->profiles[i].params);
        free(s->profiles[i].name);
        free(s->profiles[i].path);
        free(s->profiles[i].sent_name);
    }
    free(s->profiles);
    pg_cfg_http_free(&s->http);
    pg_cfg_sd_free(s->sd, s->n_sd);
    pg_cfg_relabel_rules_free(s->relabel, s->n_relabel);
    pg_cfg_relabel_rules_free(s->profile_relabel, s->n_profile_relabel);
}

static void load_remote(struct pg_cfg_ld *l, yaml_node_t *r, struct pg_cfg_remote *rw, size_t idx)
{
    static const char *const k[] = {"name",
                                    "url",
                                    "api",
                                    PG_CFG_HTTP_KEYS,
                                    "headers",
                                    "external_labels",
                                    "remote_timeout",
                                    "min_backoff",
                                    "max_backoff",
                                    "max_retries",
                                    "concurrency",
                                    "batch_max_bytes",
                                    "write_relabel_configs",
                                    NULL};
    pg_labels_init(&rw->external_labels);
    rw->remote_timeout_ms = 10000;
    rw->min_backoff_ms = 500;
    rw->max_backoff_ms = 5 * 60 * 1000;
    rw->concurrency = 1;
    rw->batch_max_bytes = 4u << 20;
    /* Prometheus's DefaultRemoteWriteHTTPClientConfig: no HTTP/2 unless asked for */
    pg_cfg_load_http_dflt(l, r, &rw->http, 1, 0);
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
    yaml_node_t *wrc = pg_yaml_get(l->y, r, "write_relabel_configs");
    if (wrc && !pg_yaml_is_null(wrc))
        pg_cfg_parse_relabel_configs(l->y, wrc, "write_relabel_configs", &rw->write_relabel,
                                     &rw->n_write_relabel, l->errs);
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

/* Loads one receiver.basic_auth entry into the next slot of cfg->receiver_users, checking
 * that it has a username, a non-empty password and a username not used before. */
static void load_receiver_user(struct pg_cfg_ld *l, yaml_node_t *u, struct pg_cfg *cfg)
{
    static const char *const uk[] = {"username", "password", "password_file", NULL};
    if (pg_yaml_check_keys(l->y, u, uk, "config.ReceiverBasicAuth", l->errs) < 0)
        return;
    struct pg_cfg_receiver_user *ru = &cfg->receiver_users[cfg->n_receiver_users++];
    pg_cfg_get_str(l, u, "username", 1, &ru->username);
    pg_cfg_get_secret(l, u, "password", &ru->password);
    if (!ru->username || !*ru->username)
        pg_yaml_error(l->y, u, l->errs, "receiver: basic_auth: username is required");
    else if (!pg_yaml_get(l->y, u, "password") && !pg_yaml_get(l->y, u, "password_file"))
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

/* Loads receiver.basic_auth (a sequence of {username, password}) into cfg->receiver_users. */
static void load_receiver_users(struct pg_cfg_ld *l, yaml_node_t *ba, struct pg_cfg *cfg)
{
    if (ba->type != YAML_SEQUENCE_NODE) {
        pg_yaml_error(l->y, ba, l->errs,
                      "receiver: basic_auth: expected a sequence of {username, password}");
        return;
    }
    size_t cnt = (size_t)(ba->data.sequence.items.top - ba->data.sequence.items.start);
    cfg->receiver_users = calloc(cnt ? cnt : 1, sizeof(*cfg->receiver_users));
    for (size_t i = 0; cfg->receiver_users && i < cnt; i++)
        load_receiver_user(l, pg_yaml_at(l->y, ba->data.sequence.items.start[i]), cfg);
}

/* Appends each non-blank line of text (a bearer tokens file, modified in place), trimmed of
 * surrounding blanks, to cfg->receiver_bearer_tokens; stops early on OOM. */
static void add_receiver_tokens(char *text, struct pg_cfg *cfg)
{
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
}

/* Loads receiver.bearer_tokens_file: reads the file named by tf (one token a line), which
 * must hold at least one token. */
static void load_receiver_tokens(struct pg_cfg_ld *l, yaml_node_t *tf, struct pg_cfg *cfg)
{
    if (pg_yaml_str(l->y, tf, "bearer_tokens_file", 1, &cfg->receiver_bearer_tokens_file,
                    l->errs) != 0)
        return;
    pg_cfg_resolve_in_place(l, tf, &cfg->receiver_bearer_tokens_file);
    char *text = pg_cfg_read_secret_file(l, tf, cfg->receiver_bearer_tokens_file);
    add_receiver_tokens(text, cfg);
    if (text && cfg->n_receiver_bearer_tokens == 0)
        pg_yaml_error(l->y, tf, l->errs, "receiver: bearer_tokens_file %s has no tokens",
                      cfg->receiver_bearer_tokens_file);
    free(text);
}

/* Returns 1 when addr is "host:port", "[v6]:port" or ":port" with a port 0..65535 (the
 * forms --web.listen-address takes). */
static int listen_address_ok(const char *addr)
{
    const char *colon = addr[0] == '[' ? strstr(addr, "]:") : strrchr(addr, ':');
    if (!colon)
        return 0;
    colon += addr[0] == '[' ? 1 : 0;
    char *end;
    unsigned long p = strtoul(colon + 1, &end, 10);
    return colon[1] >= '0' && colon[1] <= '9' && !*end && p <= 65535;
}

/* receiver.listen_address and receiver.tls_server_config: the receiver's own listener. */
static void load_receiver_listener(struct pg_cfg_ld *l, yaml_node_t *rc, struct pg_cfg *cfg)
{
    pg_cfg_get_str(l, rc, "listen_address", 1, &cfg->receiver_listen_address);
    if (cfg->receiver_listen_address && !listen_address_ok(cfg->receiver_listen_address))
        pg_yaml_error(l->y, pg_yaml_get(l->y, rc, "listen_address"), l->errs,
                      "receiver: listen_address %s: want host:port, [ipv6]:port or :port",
                      cfg->receiver_listen_address);
    yaml_node_t *ts = pg_yaml_get(l->y, rc, "tls_server_config");
    if (!ts || pg_yaml_is_null(ts))
        return;
    if (!cfg->receiver_listen_address)
        pg_yaml_error(l->y, ts, l->errs,
                      "receiver: tls_server_config needs listen_address (on the shared web "
                      "port, --web.config.file's tls_server_config applies)");
    struct pg_cfg_tls_server *t = calloc(1, sizeof(*t));
    if (!t)
        return;
    if (pg_cfg_load_tls_server(l, ts, "receiver: tls_server_config", t) > 0) {
        cfg->receiver_tls = t;
        return;
    }
    pg_cfg_tls_server_free(t);
    free(t);
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
                                    "listen_address",
                                    "tls_server_config",
                                    NULL};
    pg_yaml_check_keys(l->y, rc, k, "config.ReceiverConfig", l->errs);
    load_receiver_listener(l, rc, cfg);
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
    if (ba && !pg_yaml_is_null(ba))
        load_receiver_users(l, ba, cfg);

    yaml_node_t *tf = pg_yaml_get(l->y, rc, "bearer_tokens_file");
    if (tf && !pg_yaml_is_null(tf))
        load_receiver_tokens(l, tf, cfg);

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

/* Allocates a config for the file path holding the defaults of every top-level setting. */
static struct pg_cfg *cfg_new(const char *path)
{
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
    cfg->cluster.health_check_interval_ms = PG_CFG_CLUSTER_DEFAULT_INTERVAL_MS;
    cfg->cluster.peers_http.follow_redirects = 1;
    cfg->cluster.peers_http.enable_http2 = 1;
    pg_labels_init(&cfg->cluster.peers_http.headers);
    return cfg;
}

/* The global block: default scrape interval and timeout, external labels. */
static void load_global(struct pg_cfg_ld *l, yaml_node_t *g, struct pg_cfg *cfg)
{
    static const char *const k[] = {"scrape_interval", "scrape_timeout", "external_labels",
                                    PG_CFG_LIMIT_KEYS, NULL};
    pg_yaml_check_keys(l->y, g, k, "config.GlobalConfig", l->errs);
    pg_cfg_load_limits(l, g, &cfg->limits);
    int timeout_set = pg_yaml_get(l->y, g, "scrape_timeout") != NULL;
    pg_cfg_get_dur(l, g, "scrape_interval", &cfg->scrape_interval_ms);
    pg_cfg_get_dur(l, g, "scrape_timeout", &cfg->scrape_timeout_ms);
    if (!timeout_set && cfg->scrape_timeout_ms > cfg->scrape_interval_ms)
        cfg->scrape_timeout_ms = cfg->scrape_interval_ms;
    if (cfg->scrape_timeout_ms > cfg->scrape_interval_ms)
        pg_yaml_error(l->y, pg_yaml_get(l->y, g, "scrape_timeout"), l->errs,
                      "global scrape timeout greater than scrape interval");
    pg_cfg_get_labels(l, g, "external_labels", &cfg->external_labels);
}

/* scrape_configs: every scrape job, whose job names must be unique. */
static void load_scrapes(struct pg_cfg_ld *l, yaml_node_t *root, struct pg_cfg *cfg)
{
    void *arr = NULL;
    size_t n = 0;
    load_seq(l, root, "scrape_configs", sizeof(struct pg_cfg_scrape), &arr, &n);
    cfg->scrape = arr;
    yaml_node_t *sc = pg_yaml_get(l->y, root, "scrape_configs");
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *j = pg_yaml_at(l->y, sc->data.sequence.items.start[i]);
        struct pg_cfg_scrape *s = &cfg->scrape[cfg->n_scrape++];
        pg_labels_init(&s->http.headers);
        load_scrape(l, cfg, j, s);
        for (size_t k = 0; s->job_name && k + 1 < cfg->n_scrape; k++)
            if (cfg->scrape[k].job_name && !strcmp(cfg->scrape[k].job_name, s->job_name))
                pg_yaml_error(l->y, pg_yaml_get(l->y, j, "job_name"), l->errs,
                              "found multiple scrape configs with job name \"%s\"", s->job_name);
    }
}

/* Returns the file (the main config, or the scrape config file) job k of cfg came from. */
static const char *job_file(const struct pg_cfg *cfg, size_t k)
{
    return cfg->scrape[k].file ? cfg->scrape[k].file : cfg->file;
}

/* Loads the scrape_configs of one scrape config file (Prometheus's ScrapeConfigs: that key
 * only) and appends its jobs to cfg, whose job names must stay unique. Relative paths in
 * it are its own directory's (the loader context is its document). */
static void load_scrape_file(struct pg_cfg_ld *outer, const char *path, struct pg_cfg *cfg)
{
    struct pg_yaml y;
    if (pg_yaml_load_file(&y, path, outer->errs) < 0) {
        pg_yaml_free(&y);
        return;
    }
    struct pg_cfg_ld l = {&y, outer->errs};
    yaml_node_t *root = pg_yaml_root(&y);
    static const char *const top[] = {"scrape_configs", NULL};
    yaml_node_t *sc =
        root && !pg_yaml_is_null(root) ? pg_yaml_get(&y, root, "scrape_configs") : NULL;
    size_t n = pg_cfg_seq_len(&l, sc, "scrape_configs");
    if (root && !pg_yaml_is_null(root))
        pg_yaml_check_keys(&y, root, top, "config.ScrapeConfigs", outer->errs);
    struct pg_cfg_scrape *v = NULL;
    if (n == 0 || !(v = realloc(cfg->scrape, (cfg->n_scrape + n) * sizeof(*v)))) {
        if (n)
            pg_yaml_error(&y, sc, outer->errs, "scrape_configs: out of memory");
        pg_yaml_free(&y);
        return;
    }
    cfg->scrape = v;
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *j = pg_yaml_at(&y, sc->data.sequence.items.start[i]);
        struct pg_cfg_scrape *s = &cfg->scrape[cfg->n_scrape++];
        memset(s, 0, sizeof(*s));
        pg_labels_init(&s->http.headers);
        s->file = strdup(path);
        load_scrape(&l, cfg, j, s);
        for (size_t k = 0; s->job_name && k + 1 < cfg->n_scrape; k++)
            if (cfg->scrape[k].job_name && !strcmp(cfg->scrape[k].job_name, s->job_name))
                pg_yaml_error(&y, pg_yaml_get(&y, j, "job_name"), outer->errs,
                              "found multiple scrape configs with job name \"%s\", first found "
                              "in \"%s\"",
                              s->job_name, job_file(cfg, k));
    }
    pg_yaml_free(&y);
}

/* scrape_config_files: glob patterns (relative ones are the config file's directory's),
 * each matching file loaded by load_scrape_file, in the order of the patterns and, per
 * pattern, in sorted order, as Prometheus does. */
static void load_scrape_files(struct pg_cfg_ld *l, yaml_node_t *root, struct pg_cfg *cfg)
{
    char **pats = NULL;
    size_t n = 0;
    pg_cfg_get_strv(l, root, "scrape_config_files", 1, &pats, &n);
    yaml_node_t *node = pg_yaml_get(l->y, root, "scrape_config_files");
    for (size_t i = 0; i < n; i++) {
        pg_cfg_resolve_in_place(l, node, &pats[i]);
        glob_t g;
        int rc = glob(pats[i], 0, NULL, &g);
        if (rc == 0)
            for (size_t k = 0; k < g.gl_pathc; k++)
                load_scrape_file(l, g.gl_pathv[k], cfg);
        else if (rc != GLOB_NOMATCH)
            pg_yaml_error(l->y, node, l->errs,
                          "error retrieving scrape config files for \"%s\": %s", pats[i],
                          rc == GLOB_NOSPACE ? "out of memory" : "read error");
        if (rc == 0 || rc == GLOB_NOMATCH)
            globfree(&g);
    }
    pg_cfg_strv_free(pats, n);
}

/* The storage block: the buffer's path and limits. */
static void load_storage(struct pg_cfg_ld *l, yaml_node_t *st, struct pg_cfg *cfg)
{
    static const char *const k[] = {"path", "max_size", "max_age", NULL};
    pg_yaml_check_keys(l->y, st, k, "config.StorageConfig", l->errs);
    pg_cfg_get_str(l, st, "path", 1, &cfg->storage_path);
    pg_cfg_get_size(l, st, "max_size", &cfg->storage_max_size);
    pg_cfg_get_dur(l, st, "max_age", &cfg->storage_max_age_ms);
}

/* remote_write: every remote, whose names must be unique. */
static void load_remotes(struct pg_cfg_ld *l, yaml_node_t *root, struct pg_cfg *cfg)
{
    void *arr = NULL;
    size_t n = 0;
    load_seq(l, root, "remote_write", sizeof(struct pg_cfg_remote), &arr, &n);
    cfg->remote = arr;
    yaml_node_t *rw = pg_yaml_get(l->y, root, "remote_write");
    for (size_t i = 0; i < n; i++) {
        struct pg_cfg_remote *r = &cfg->remote[cfg->n_remote++];
        load_remote(l, pg_yaml_at(l->y, rw->data.sequence.items.start[i]), r, i);
        for (size_t k = 0; r->name && k + 1 < cfg->n_remote; k++)
            if (cfg->remote[k].name && !strcmp(cfg->remote[k].name, r->name))
                pg_yaml_error(l->y, pg_yaml_at(l->y, rw->data.sequence.items.start[i]), l->errs,
                              "found multiple remote_write configs with name \"%s\"", r->name);
    }
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
    struct pg_cfg *cfg = cfg_new(path);

    yaml_node_t *root = pg_yaml_root(&y);
    if (!root || pg_yaml_is_null(root))
        goto done; /* an empty file is an empty config, as in Prometheus */
    if (pg_yaml_get(&y, root, "scrape-configs")) { /* legacy Pyroscope dialect */
        pg_cfg_load_legacy(&y, root, cfg, errs);
        goto done;
    }
    static const char *const top[] = {"global",     "scrape_configs", "scrape_config_files",
                                      "storage",    "remote_write",   "receiver",
                                      "processing", "cluster",        NULL};
    pg_yaml_check_keys(&y, root, top, "config.Config", errs);

    yaml_node_t *g = pg_yaml_get(&y, root, "global");
    if (g && !pg_yaml_is_null(g))
        load_global(&l, g, cfg);

    load_scrapes(&l, root, cfg);
    load_scrape_files(&l, root, cfg);

    yaml_node_t *st = pg_yaml_get(&y, root, "storage");
    if (st && !pg_yaml_is_null(st))
        load_storage(&l, st, cfg);

    load_remotes(&l, root, cfg);

    yaml_node_t *rc = pg_yaml_get(&y, root, "receiver");
    if (rc && !pg_yaml_is_null(rc))
        load_receiver(&l, rc, cfg);

    yaml_node_t *pr = pg_yaml_get(&y, root, "processing");
    if (pr && !pg_yaml_is_null(pr))
        load_processing(&l, pr, cfg);

    yaml_node_t *cl = pg_yaml_get(&y, root, "cluster");
    if (cl && !pg_yaml_is_null(cl))
        pg_cfg_load_cluster(&l, cl, &cfg->cluster);

done:
    pg_yaml_free(&y);
    if (errs->n > before) {
        pg_cfg_free(cfg);
        return NULL;
    }
    return cfg;
}

size_t pg_cfg_sd_count(const struct pg_cfg_scrape *s, const struct pg_sd_mechanism *mech)
{
    size_t n = 0;
    for (size_t i = 0; i < s->n_sd; i++)
        n += s->sd[i].mech == mech;
    return n;
}

const void *pg_cfg_sd_get(const struct pg_cfg_scrape *s, const struct pg_sd_mechanism *mech,
                          size_t i)
{
    for (size_t k = 0; k < s->n_sd; k++)
        if (s->sd[k].mech == mech && i-- == 0)
            return s->sd[k].cfg;
    return NULL;
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
        pg_cfg_relabel_rules_free(cfg->remote[i].write_relabel, cfg->remote[i].n_write_relabel);
    }
    free(cfg->remote);
    for (size_t i = 0; i < cfg->n_receiver_users; i++) {
        free(cfg->receiver_users[i].username);
        free(cfg->receiver_users[i].password);
    }
    free(cfg->receiver_users);
    free(cfg->receiver_bearer_tokens_file);
    free(cfg->receiver_listen_address);
    pg_cfg_tls_server_free(cfg->receiver_tls);
    free(cfg->receiver_tls);
    pg_cfg_strv_free(cfg->receiver_bearer_tokens, cfg->n_receiver_bearer_tokens);
    pg_cfg_relabel_rules_free(cfg->receiver_relabel, cfg->n_receiver_relabel);
    pg_cfg_cluster_free(&cfg->cluster);
    free(cfg);
}
