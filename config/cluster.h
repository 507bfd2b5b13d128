/* cluster.h - loading the top-level cluster block into struct pg_cfg_cluster
 * (config/config.h), and the check of a peer address.
 *
 * cluster:
 *   enabled: true                     # default false
 *   advertise_address: 10.0.0.5:4100  # default: the web listen address
 *   health_check_interval: 5s         # default 5s, > 0
 *   peers:                            # any discovery block, plus relabel_configs
 *     static_configs: [...]
 *     relabel_configs: [...]
 * The block is validated whether or not it is enabled; an enabled cluster needs at least
 * one discovery config under peers. */
#ifndef PG_CONFIG_CLUSTER_H
#define PG_CONFIG_CLUSTER_H

#include <stddef.h>

#include "config/config.h"
#include "yamlcfg/load.h"

#define PG_CFG_CLUSTER_DEFAULT_INTERVAL_MS 5000

/* Loads node (the cluster mapping) into *c, whose defaults are already set; every problem
 * goes to l with its position. */
void pg_cfg_load_cluster(struct pg_cfg_ld *l, yaml_node_t *node, struct pg_cfg_cluster *c);

/* Frees what *c owns (not c). */
void pg_cfg_cluster_free(struct pg_cfg_cluster *c);

/* Checks that addr is "host:port" or "[v6]:port" with a host peers can dial (not empty,
 * not 0.0.0.0 or [::]) and a port 1-65535. Returns 0, or -1 with the reason in err. */
int pg_cfg_cluster_check_address(const char *addr, char *err, size_t errlen);

#endif
