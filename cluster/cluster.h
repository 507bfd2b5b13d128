/* cluster.h - clustering: replicas that share the targets, each scraping its part once.
 *
 * The peers come from discovery (the cluster block's peers: any discovery configs plus
 * relabel_configs, run by a discovery manager of its own as the pseudo-job
 * "__cluster_peers__"; cluster/peers.h turns its snapshots into addresses). Every
 * health_check_interval each peer other than self gets GET <scheme>://<address>/-/ready
 * through core/httpc.h on the shared curl multi (a new peer at once), with the peers
 * block's scheme and HTTP client options (basic_auth, authorization, tls_config, ...,
 * for replicas whose web port --web.config.file protects); the state rules and
 * ownership are cluster/members.h's: two consecutive failures make a peer down, one
 * success up, self is always live, and a target key is owned by the live member with
 * the highest rendezvous score. When the live set changes (a peer up or down, a peer
 * added or removed by discovery) the host's on_change is called once, and the host
 * re-syncs every scrape job with pg_cluster_owns as the scraper's owner predicate: only
 * the targets whose owner changed start or stop their loops.
 *
 * Settling: a new cluster owns no target (pg_cluster_owns answers 0) until its peers
 * discovery has reported once and every listed peer has a first probe result, or 2
 * intervals have passed; on_change is then called, so a starting replica never takes
 * its peers' targets while it does not know them yet.
 *
 * Split views: a dead peer is noticed within 2 health check intervals (plus the probe
 * timeout, 3/4 of an interval, when it hangs instead of refusing), then the targets are
 * re-synced within one discovery sync (the app's coalescing, 2 s); until then replicas can
 * disagree and a target may be scraped twice or not at all.
 *
 * Metrics: profgate_cluster_peers{state} (self counts as up), profgate_cluster_owned_targets
 * (this replica's), profgate_cluster_rebalances_total (live-set changes).
 *
 * Ownership: the cluster owns its discovery manager, member list and probes; it borrows
 * base, cm, the host's callbacks and the config block (which must outlive it or the next
 * pg_cluster_reconfigure). Everything runs on the event loop. */
#ifndef PG_CLUSTER_CLUSTER_H
#define PG_CLUSTER_CLUSTER_H

#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "core/curlm.h"

struct event_base;
struct pg_cluster;

/* The discovery job name of the peers (shown in the profgate_sd_* metrics). */
#define PG_CLUSTER_PEERS_JOB "__cluster_peers__"

typedef void (*pg_cluster_key_fn)(void *ud, uint64_t key);

/* What the cluster needs from the daemon; copied at create. */
struct pg_cluster_host {
    void *ud;
    /* this replica's --web.route-prefix ("/pg"; NULL, "" or "/" for none), borrowed for
     * the cluster's lifetime: the replicas of one cluster share it, so each peer's
     * readiness is probed at <scheme>://<address><route_prefix>/-/ready */
    const char *route_prefix;
    /* the live set changed: re-sync every job's targets (pg_cluster_owns now answers
     * with the new set) */
    void (*on_change)(void *ud);
    /* calls each(eud, key) for every target key of the last syncs, owned or not (the
     * scraper's pg_scraper_foreach_target_key), to count owned targets per peer */
    void (*target_keys)(void *ud, pg_cluster_key_fn each, void *eud);
};

/* One member, for GET /api/v1/cluster; borrowed for the call. */
struct pg_cluster_peer_info {
    const char *address;
    const char *state;      /* "up", "down" or "unknown" */
    const char *last_error; /* "" when none */
    int64_t last_probe_ms;  /* unix ms of the last finished probe, 0 when none (self) */
    double last_duration_s;
    size_t owned_targets; /* targets this member owns in this replica's view */
    int self;
};

/* Starts a cluster for cfg (borrowed) whose identity is self ("host:port", copied).
 * Returns NULL with a reason in err on failure. */
struct pg_cluster *pg_cluster_create(struct event_base *base, struct pg_curlm *cm,
                                     const struct pg_cluster_host *host,
                                     const struct pg_cfg_cluster *cfg, const char *self, char *err,
                                     size_t errlen);

/* Takes a reloaded config block (borrowed; the old one may be freed afterwards) and
 * identity: a new peers discovery that starts from the old one's peers until its own
 * first report, same probe states for peers still listed. Returns 0, or -1 with err set
 * (the old discovery keeps running then). */
int pg_cluster_reconfigure(struct pg_cluster *c, const struct pg_cfg_cluster *cfg, const char *self,
                           char *err, size_t errlen);

/* Returns 1 when self owns the target key key, else 0; c is the struct pg_cluster (the
 * signature of the scraper's owner predicate). */
int pg_cluster_owns(void *c, uint64_t key);

/* Returns self's address (borrowed). */
const char *pg_cluster_self(const struct pg_cluster *c);

/* Calls fn for every member (self included), sorted by address. */
void pg_cluster_foreach_peer(struct pg_cluster *c,
                             void (*fn)(void *ud, const struct pg_cluster_peer_info *p), void *ud);

/* Stops probing and discovery and frees c. Accepts NULL. */
void pg_cluster_destroy(struct pg_cluster *c);

#endif
