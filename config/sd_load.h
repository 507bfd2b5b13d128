/* sd_load.h - loading a block of discovery configs (static_configs and every
 * *_sd_configs key of the registry) into (mechanism, config) pairs.
 *
 * Shared by the scrape jobs (config.c) and the cluster's peers block (cluster_cfg.c):
 * every mechanism of discovery/sd.h's registry loads its own key of the mapping. */
#ifndef PG_CONFIG_SD_LOAD_H
#define PG_CONFIG_SD_LOAD_H

#include <stddef.h>

#include "discovery/sd.h"
#include "yamlcfg/load.h"

/* Appends to *sd (*n_sd entries, realloc'd) one config per item of every registered
 * mechanism key of map (one for a whole-list mechanism such as static_configs). Problems
 * are reported into l with their positions. */
void pg_cfg_load_sd(struct pg_cfg_ld *l, yaml_node_t *map, struct pg_cfg_sd **sd, size_t *n_sd);

/* Frees n_sd configs and the array. Accepts NULL. */
void pg_cfg_sd_free(struct pg_cfg_sd *sd, size_t n_sd);

#endif
