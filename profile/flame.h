/* flame.h - a pprof profile as a compact frame tree for the web UI's flame graph.
 *
 * pg_flame_build reads one pprof body (gzip or raw protobuf) with the streaming wire reader
 * (profile/wire.h) and merges its samples, for one sample type, into a call tree rooted at
 * "total": each node is a function (a location's inlined lines expanded caller-first; a
 * location without lines is named by its address) with its total (the node and everything
 * it calls) and self value. Nothing of a sample's value is lost: the root's total is the sum
 * of the sample type's values over all samples (zero-valued samples add nothing), and each
 * node's total is its self plus its children's totals.
 *
 * The tree is then pruned so that its JSON stays bounded: nodes narrower than min_frac of
 * the root are dropped, and of the rest only the max_nodes widest are kept (ties go to the
 * node built first, so a kept node's parent is always kept). Pruning never changes a kept
 * node's total or self: the width of dropped children shows as the gap between a node's
 * total and its self plus its kept children. pg_flame_json then writes the tree as
 *   {"sampleTypes":[{"type":T,"unit":U}...],"sampleType":I,"unit":U,"total":N,
 *    "nodes":K,"prunedNodes":P,"minTotal":M,"names":[...],
 *    "tree":[nameIndex,total,self,[children...]]}
 * children sorted by name (the usual flame graph layout).
 *
 * Cost: the build is O(samples x depth) with one hash lookup per frame; memory is the
 * uncompressed profile plus ~40 bytes per distinct call path. Thread-safe (the wire index
 * is per thread): the daemon runs it on the worker pool. */
#ifndef PG_PROFILE_FLAME_H
#define PG_PROFILE_FLAME_H

#include <stddef.h>
#include <stdint.h>

struct pg_flame;

/* One node, for tests and callers that walk the tree (pg_flame_node). */
struct pg_flame_node_info {
    const char *name; /* borrowed from the tree */
    int64_t total, self;
    size_t n_children; /* kept children */
};

/* At most this many tree nodes (distinct call paths, inlined frames expanded) are built
 * before pruning, about 50 MB: a real Go heap profile of 3,000 stacks 32 deep has under
 * 100,000. A profile needing more is refused (pg_flame_build's err says so), so a hostile
 * body cannot make a worker allocate without bound. */
#define PG_FLAME_MAX_BUILD_NODES 1000000

/* As sample_index: the profile's last sample type (Go's cpu, inuse_space, contentions'
 * delay...). */
#define PG_FLAME_LAST_TYPE SIZE_MAX

/* Builds the tree of sample type sample_index (0-based, or PG_FLAME_LAST_TYPE) of the pprof
 * body[0..len) (gzip inflated under limit bytes), pruned to at most max_nodes nodes (root included;
 * >= 1) and nodes at least min_frac (0..1) of the root's total wide. Returns the tree, or NULL with
 * a reason in err (a bad body, an unknown sample type, out of memory). */
struct pg_flame *pg_flame_build(const uint8_t *body, size_t len, size_t limit, size_t sample_index,
                                size_t max_nodes, double min_frac, char *err, size_t errlen);

/* Nodes kept after pruning (root included), and nodes dropped by it. */
size_t pg_flame_nodes(const struct pg_flame *f);
size_t pg_flame_pruned(const struct pg_flame *f);

/* Number of sample types in the profile; *type and *unit of type i (borrowed). */
size_t pg_flame_sample_types(const struct pg_flame *f);
void pg_flame_sample_type(const struct pg_flame *f, size_t i, const char **type, const char **unit);

/* Kept node i (0 = root; kept nodes are numbered 0..pg_flame_nodes-1) into *out, and the
 * index of its c-th kept child (in output order) or (size_t)-1. */
void pg_flame_node(const struct pg_flame *f, size_t i, struct pg_flame_node_info *out);
size_t pg_flame_child(const struct pg_flame *f, size_t i, size_t c);

/* The tree as JSON text (see the top of this file; new string, caller frees), or NULL on
 * OOM. */
char *pg_flame_json(const struct pg_flame *f);

/* Frees f. Accepts NULL. */
void pg_flame_free(struct pg_flame *f);

#endif
