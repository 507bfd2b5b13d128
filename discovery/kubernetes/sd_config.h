/* sd_config.h - the config of the "kubernetes" discovery mechanism (Prometheus
 * kubernetes_sd_configs): one entry's struct, and its loader (sd_config.c: fields,
 * defaults and Prometheus's validation, including the label and field selector grammar)
 * for the mechanism's vtable (kubernetes.c). */
#ifndef PG_DISCOVERY_KUBE_SD_CONFIG_H
#define PG_DISCOVERY_KUBE_SD_CONFIG_H

#include <stddef.h>

#include "core/httpcfg.h"
#include "yamlcfg/load.h"

enum pg_cfg_kube_role {
    PG_CFG_KUBE_POD = 0,
    PG_CFG_KUBE_SERVICE,
    PG_CFG_KUBE_ENDPOINTS,
    PG_CFG_KUBE_ENDPOINTSLICE,
    PG_CFG_KUBE_NODE,
    PG_CFG_KUBE_INGRESS,
};

struct pg_cfg_kube_selector {
    enum pg_cfg_kube_role role;
    char *label; /* NULL when unset */
    char *field; /* NULL when unset */
};

/* One kubernetes_sd_configs entry, fields and defaults as Prometheus's. */
struct pg_cfg_kube_sd {
    enum pg_cfg_kube_role role; /* required */
    char *api_server;           /* NULL: in-cluster or kubeconfig_file */
    char *kubeconfig_file;      /* NULL when unset */
    int own_namespace;          /* namespaces.own_namespace */
    char **namespaces;          /* namespaces.names; empty = all */
    size_t n_namespaces;
    struct pg_cfg_kube_selector *selectors;
    size_t n_selectors;
    int attach_node;      /* attach_metadata.node */
    int attach_namespace; /* attach_metadata.namespace */
    struct pg_httpc_cfg http;
    int line, col; /* position of the entry in the file */
};

/* Loads one kubernetes_sd_configs entry g (the mechanism's config_load hook). Returns a new
 * struct pg_cfg_kube_sd (also when problems were reported into l), or NULL on OOM. */
void *pg_kube_config_load(struct pg_cfg_ld *l, yaml_node_t *g);

/* Frees a config from pg_kube_config_load. Accepts NULL. */
void pg_kube_config_free(void *cfg);

#endif
