/* cluster_cfg.c - the cluster block of the config (see config/cluster.h). The peers
 * mapping takes the same discovery keys as a scrape job (config/sd_load.h) and
 * relabel_configs; nothing else. */
#include "config/cluster.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/relabel_cfg.h"
#include "config/sd_load.h"
#include "core/errmsg.h"
#include "yamlcfg/yaml.h"

#define MAX_PEER_KEYS 40

int pg_cfg_cluster_check_address(const char *addr, char *err, size_t errlen)
{
    const char *colon = addr ? strrchr(addr, ':') : NULL;
    if (!colon) {
        pg_errmsg_set(err, errlen, "address %s: missing port (want host:port)", addr ? addr : "");
        return -1;
    }
    size_t hl = (size_t)(colon - addr);
    const char *host = addr;
    if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
        host++;
        hl -= 2;
    } else if (memchr(addr, ':', hl)) {
        pg_errmsg_set(err, errlen, "address %s: an IPv6 host must be in brackets ([::1]:4100)",
                      addr);
        return -1;
    }
    if (hl == 0 || (hl == 7 && !strncmp(host, "0.0.0.0", 7)) ||
        (hl == 2 && !strncmp(host, "::", 2))) {
        pg_errmsg_set(err, errlen,
                      "address %s: needs a host the other replicas can reach (not empty, "
                      "0.0.0.0 or [::])",
                      addr);
        return -1;
    }
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (end == colon + 1 || *end || port < 1 || port > 65535) {
        pg_errmsg_set(err, errlen, "address %s: invalid port", addr);
        return -1;
    }
    return 0;
}

/* peers: the discovery keys of the registry and relabel_configs. */
static void load_peers(struct pg_cfg_ld *l, yaml_node_t *p, struct pg_cfg_cluster *c)
{
    size_t n_mech;
    const struct pg_sd_mechanism *const *reg = pg_sd_registry(&n_mech);
    const char *k[MAX_PEER_KEYS + 2];
    size_t n = 0;
    k[n++] = "relabel_configs";
    for (size_t i = 0; i < n_mech && i < MAX_PEER_KEYS; i++)
        k[n++] = reg[i]->config_key;
    k[n] = NULL;
    if (pg_yaml_check_keys(l->y, p, k, "config.ClusterPeersConfig", l->errs) < 0 &&
        p->type != YAML_MAPPING_NODE)
        return;
    pg_cfg_load_sd(l, p, &c->peers_sd, &c->n_peers_sd);
    yaml_node_t *rc = pg_yaml_get(l->y, p, "relabel_configs");
    if (rc && !pg_yaml_is_null(rc))
        pg_cfg_parse_relabel_configs(l->y, rc, "relabel_configs", &c->peers_relabel,
                                     &c->n_peers_relabel, l->errs);
}

void pg_cfg_load_cluster(struct pg_cfg_ld *l, yaml_node_t *node, struct pg_cfg_cluster *c)
{
    static const char *const k[] = {"enabled", "advertise_address", "health_check_interval",
                                    "peers", NULL};
    if (pg_yaml_check_keys(l->y, node, k, "config.ClusterConfig", l->errs) < 0 &&
        node->type != YAML_MAPPING_NODE)
        return;
    pg_cfg_get_bool(l, node, "enabled", &c->enabled);
    if (pg_cfg_get_str(l, node, "advertise_address", 1, &c->advertise_address) == 0 &&
        c->advertise_address) {
        char err[256];
        if (pg_cfg_cluster_check_address(c->advertise_address, err, sizeof err) < 0)
            pg_yaml_error(l->y, pg_yaml_get(l->y, node, "advertise_address"), l->errs,
                          "cluster: advertise_address: %s", err);
    }
    pg_cfg_get_dur(l, node, "health_check_interval", &c->health_check_interval_ms);
    if (c->health_check_interval_ms <= 0)
        pg_yaml_error(l->y, pg_yaml_get(l->y, node, "health_check_interval"), l->errs,
                      "cluster: health_check_interval must be greater than 0");
    yaml_node_t *p = pg_yaml_get(l->y, node, "peers");
    if (p && !pg_yaml_is_null(p))
        load_peers(l, p, c);
    if (c->enabled && c->n_peers_sd == 0)
        pg_yaml_error(l->y, p ? p : node, l->errs,
                      "cluster: peers needs at least one discovery config (static_configs, "
                      "file_sd_configs, ...) when the cluster is enabled");
}

void pg_cfg_cluster_free(struct pg_cfg_cluster *c)
{
    free(c->advertise_address);
    pg_cfg_sd_free(c->peers_sd, c->n_peers_sd);
    pg_cfg_relabel_rules_free(c->peers_relabel, c->n_peers_relabel);
    memset(c, 0, sizeof *c);
}
