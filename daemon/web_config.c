/* web_config.c - loads the exporter-toolkit web configuration file (see web_config.h). */
#include "daemon/web_config.h"

#include <stdlib.h>
#include <string.h>

#include "yamlcfg/load.h"
#include "yamlcfg/yaml.h"

int pg_web_config_is_bcrypt(const char *h)
{
    static const char alphabet[] =
        "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    if (strlen(h) != 60 || h[0] != '$' || h[1] != '2' || !strchr("aby", h[2]) || h[3] != '$' ||
        h[6] != '$' || h[4] < '0' || h[4] > '3' || h[5] < '0' || h[5] > '9')
        return 0;
    int cost = (h[4] - '0') * 10 + (h[5] - '0');
    if (cost < 4 || cost > 31)
        return 0;
    for (const char *p = h + 7; *p; p++)
        if (!strchr(alphabet, *p))
            return 0;
    return 1;
}

/* basic_auth_users: a mapping of user name -> bcrypt hash. */
static void load_users(struct pg_cfg_ld *l, yaml_node_t *m, struct pg_web_config *c)
{
    if (pg_yaml_is_null(m))
        return;
    if (m->type != YAML_MAPPING_NODE) {
        pg_yaml_error(l->y, m, l->errs,
                      "basic_auth_users: expected a mapping of user: bcrypt hash");
        return;
    }
    size_t n = (size_t)(m->data.mapping.pairs.top - m->data.mapping.pairs.start);
    c->users = calloc(n ? n : 1, sizeof(*c->users));
    for (size_t i = 0; c->users && i < n; i++) {
        yaml_node_pair_t *p = &m->data.mapping.pairs.start[i];
        yaml_node_t *k = pg_yaml_at(l->y, p->key), *v = pg_yaml_at(l->y, p->value);
        struct pg_web_user *u = &c->users[c->n_users];
        if (pg_yaml_str(l->y, k, "basic_auth_users", 0, &u->name, l->errs) < 0)
            continue;
        c->n_users++;
        if (!*u->name)
            pg_yaml_error(l->y, k, l->errs, "basic_auth_users: empty user name");
        for (size_t j = 0; j + 1 < c->n_users; j++)
            if (!strcmp(c->users[j].name, u->name))
                pg_yaml_error(l->y, k, l->errs, "basic_auth_users: duplicate user %s", u->name);
        if (v->type != YAML_SCALAR_NODE || pg_yaml_is_null(v)) {
            pg_yaml_error(l->y, v, l->errs, "basic_auth_users: user %s: expected a bcrypt hash",
                          u->name);
            continue;
        }
        pg_yaml_str(l->y, v, "basic_auth_users", 0, &u->hash, l->errs);
        if (u->hash && !pg_web_config_is_bcrypt(u->hash))
            pg_yaml_error(l->y, v, l->errs,
                          "basic_auth_users: user %s: the password hash is not a bcrypt hash "
                          "($2y$, $2b$ or $2a$, cost 04 to 31, 60 characters; make one with "
                          "htpasswd -nBC 10 \"\")",
                          u->name);
    }
}

/* Checks the root mapping's keys and loads its blocks into c. */
static void load_root(struct pg_cfg_ld *l, yaml_node_t *root, struct pg_web_config *c)
{
    static const char *const k[] = {"tls_server_config", "basic_auth_users", "http_server_config",
                                    "rate_limit", NULL};
    if (pg_yaml_check_keys(l->y, root, k, "web.Config", l->errs) < 0 &&
        root->type != YAML_MAPPING_NODE)
        return;
    static const char *const unsupported[] = {"http_server_config", "rate_limit"};
    for (size_t i = 0; i < 2; i++)
        if (pg_yaml_get(l->y, root, unsupported[i]))
            pg_yaml_error(l->y, pg_cfg_key_node(l, root, unsupported[i]), l->errs,
                          "%s is not supported by profgate", unsupported[i]);
    yaml_node_t *t = pg_yaml_get(l->y, root, "tls_server_config");
    if (t && !pg_yaml_is_null(t))
        c->tls_on = pg_cfg_load_tls_server(l, t, "tls_server_config", &c->tls) > 0;
    yaml_node_t *u = pg_yaml_get(l->y, root, "basic_auth_users");
    if (u)
        load_users(l, u, c);
}

struct pg_web_config *pg_web_config_load(const char *path, struct pg_cfg_errors *errs)
{
    struct pg_web_config *c = calloc(1, sizeof(*c));
    if (!c || !(c->file = strdup(path))) {
        free(c);
        pg_cfg_errors_add(errs, path, 0, 0, "out of memory");
        return NULL;
    }
    size_t before = errs->n;
    struct pg_yaml y;
    memset(&y, 0, sizeof(y));
    if (pg_yaml_load_file(&y, path, errs) == 0) {
        struct pg_cfg_ld l = {&y, errs};
        yaml_node_t *root = pg_yaml_root(&y);
        if (root && !pg_yaml_is_null(root))
            load_root(&l, root, c);
    }
    pg_yaml_free(&y);
    if (errs->n > before) {
        pg_web_config_free(c);
        return NULL;
    }
    return c;
}

void pg_web_config_free(struct pg_web_config *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n_users; i++) {
        free(c->users[i].name);
        if (c->users[i].hash)
            memset(c->users[i].hash, 0, strlen(c->users[i].hash));
        free(c->users[i].hash);
    }
    free(c->users);
    pg_cfg_tls_server_free(&c->tls);
    free(c->file);
    free(c);
}
