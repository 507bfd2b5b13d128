/* roles.h - Kubernetes objects to Prometheus target groups, one function per role.
 *
 * Pure translation, no I/O: given an object decoded from the API (jansson json_t, as
 * returned by LIST items or WATCH event objects) and the caches of related objects, build
 * the target group Prometheus's kubernetes_sd builds for it, with every
 * __meta_kubernetes_* label of its role (label/annotation names sanitised to
 * [a-zA-Z0-9_], *_label_* / *_labelpresent_* / *_annotation_* / *_annotationpresent_*).
 * Group sources follow Prometheus: "pod/<ns>/<name>", "svc/<ns>/<name>",
 * "endpoints/<ns>/<name>", "endpointslice/<ns>/<name>", "node/<name>",
 * "ingress/<ns>/<name>". A deleted object is reported by the caller as an empty group
 * with the same source (pg_kube_source).
 *
 * struct pg_kube_store is the cache the watcher keeps per resource kind: objects keyed by
 * "<namespace>/<name>" (or "<name>" for cluster-scoped kinds), holding a jansson
 * reference each. */
#ifndef PG_DISCOVERY_KUBE_ROLES_H
#define PG_DISCOVERY_KUBE_ROLES_H

#include <jansson.h>
#include <stddef.h>

#include "discovery/kubernetes/sd_config.h"
#include "discovery/tgroup.h"

struct pg_kube_store;

/* Returns a new empty store, or NULL on OOM. */
struct pg_kube_store *pg_kube_store_create(void);

/* Frees the store and drops its references. Accepts NULL. */
void pg_kube_store_destroy(struct pg_kube_store *s);

/* Inserts or replaces obj (takes a new reference; the caller keeps its own) under its
 * metadata.namespace/metadata.name. Returns 0, or -1 when obj has no metadata.name or
 * on OOM. */
int pg_kube_store_put(struct pg_kube_store *s, json_t *obj);

/* Removes the object ns/name (ns NULL or "" for cluster-scoped). Returns 1 if removed. */
int pg_kube_store_del(struct pg_kube_store *s, const char *ns, const char *name);

/* Returns the object (borrowed, valid until the next put/del/clear) or NULL. */
json_t *pg_kube_store_get(const struct pg_kube_store *s, const char *ns, const char *name);

/* Calls fn for every object, in key order. */
void pg_kube_store_foreach(const struct pg_kube_store *s, void (*fn)(void *ud, json_t *obj),
                           void *ud);

/* Removes every object. */
void pg_kube_store_clear(struct pg_kube_store *s);

/* Returns the number of objects. */
size_t pg_kube_store_size(const struct pg_kube_store *s);

/* The related caches a role needs (any may be NULL when the role or attach_metadata does
 * not need it): pods and services for endpoints/endpointslice, nodes for
 * attach_metadata.node, namespaces for attach_metadata.namespace. */
struct pg_kube_ctx {
    const struct pg_kube_store *pods, *services, *nodes, *namespaces;
    int attach_node, attach_namespace;
};

/* Writes the group source of obj for role into buf ("pod/ns/name", ...). Returns 0, or -1
 * when obj lacks metadata.name or buf is too small. */
int pg_kube_source(enum pg_cfg_kube_role role, const json_t *obj, char *buf, size_t len);

/* Builds obj's group for role into out (uninitialised on entry; on 0 the caller owns it
 * and resets it with pg_tgroup_reset). Returns 0, or -1 on a malformed object or OOM
 * (out then needs no reset). A pod without status.podIP yields a group with no labels and
 * no targets (as Prometheus). A node with no usable address returns -1: Prometheus sends
 * nothing for it, so the caller keeps that node's previous group. Labels Prometheus sets
 * with empty values (e.g. an unnamed port) are present with "". */
int pg_kube_build_group(enum pg_cfg_kube_role role, const json_t *obj,
                        const struct pg_kube_ctx *ctx, struct pg_tgroup *out);

#endif
