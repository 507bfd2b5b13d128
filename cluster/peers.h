/* peers.h - the peer addresses of a discovery snapshot: pure, no I/O.
 *
 * Each discovered target of the peers block becomes its group labels overlaid by its own
 * (the target wins, as for scrape targets), then peers.relabel_configs run; a kept target's
 * final __address__ is a peer's identity ("host:port"). Targets dropped by relabeling, or
 * without an __address__, are no peers. */
#ifndef PG_CLUSTER_PEERS_H
#define PG_CLUSTER_PEERS_H

#include <stddef.h>

#include "discovery/tgroup.h"
#include "relabel/relabel.h"

/* Fills *out with a new array of n_out new strings (free with pg_cluster_peers_free): the
 * addresses of groups[0..n) after rules[0..n_rules), in discovery order (duplicates kept).
 * Returns 0, or -1 on OOM (*out NULL). */
int pg_cluster_peer_addresses(const struct pg_tgroup *groups, size_t n,
                              const struct pg_relabel_rule *rules, size_t n_rules, char ***out,
                              size_t *n_out);

/* Frees n strings and the array. Accepts NULL. */
void pg_cluster_peers_free(char **v, size_t n);

#endif
