/* members.h - the cluster's member list and who owns what: pure state, no I/O.
 *
 * The list holds self and every discovered peer, one entry per address ("host:port",
 * the identity hashed by core/hrw.h), sorted by address. A peer's state follows its
 * readiness probes: unknown until the first answer; up after one success; down after
 * PG_CLUSTER_DOWN_AFTER consecutive failures (one failure of an up peer leaves it up).
 * Self is always live. Live members = self + peers that are up; a target key is owned
 * by the live member with the highest rendezvous score (pg_hrw_pick), so every replica
 * with the same view computes the same owner.
 *
 * The list owns its entries; the runtime (cluster.c) keeps the in-flight probe of an
 * entry in its probe field and is told, through a callback, when an entry is removed. */
#ifndef PG_CLUSTER_MEMBERS_H
#define PG_CLUSTER_MEMBERS_H

#include <stddef.h>
#include <stdint.h>

#define PG_CLUSTER_DOWN_AFTER 2

enum pg_cluster_state { PG_CLUSTER_UNKNOWN = 0, PG_CLUSTER_UP, PG_CLUSTER_DOWN };

struct pg_cluster_member {
    char *address; /* owned */
    uint64_t hash; /* pg_hrw_member_hash(address) */
    int self;      /* 1 for this replica */
    enum pg_cluster_state state;
    int fails;              /* consecutive failed probes */
    int64_t last_probe_ms;  /* unix ms of the last finished probe, 0 when none */
    char *last_error;       /* owned; NULL when the last probe succeeded (or none yet) */
    double last_duration_s; /* of the last probe */
    void *probe;            /* the runtime's in-flight probe, or NULL */
};

struct pg_cluster_members {
    struct pg_cluster_member **v; /* sorted by address */
    size_t n;
    uint64_t *live_hash; /* hashes of the live members, in list order */
    size_t *live_idx;    /* their indexes in v */
    size_t n_live;
};

/* Called for an entry about to be removed from the list (to cancel its probe). */
typedef void (*pg_cluster_drop_fn)(void *ud, struct pg_cluster_member *p);

/* Initialises an empty list. */
void pg_cluster_members_init(struct pg_cluster_members *m);

/* Replaces the list with self plus addrs[0..n) (duplicates and self among them are
 * merged). Entries whose address was already listed keep their state, probe and history
 * (a reload keeps membership); others start unknown; entries no longer listed go through
 * drop (may be NULL) and are freed. The live set is recomputed. Returns 1 when the live
 * set changed, 0 when not, -1 on OOM (the list is then unchanged). */
int pg_cluster_members_set(struct pg_cluster_members *m, const char *self, char *const *addrs,
                           size_t n, pg_cluster_drop_fn drop, void *ud);

/* Records one probe result of p at now_ms: ok, or the failure's error text. Returns 1
 * when p's liveness changed (the caller then calls pg_cluster_members_update_live). */
int pg_cluster_member_result(struct pg_cluster_member *p, int ok, const char *error,
                             double duration_s, int64_t now_ms);

/* Returns 1 when p is live (self, or up). */
int pg_cluster_member_live(const struct pg_cluster_member *p);

/* Recomputes the live set from the states. Returns 1 when it changed, 0 when not, -1 on
 * OOM (the old live set is kept). */
int pg_cluster_members_update_live(struct pg_cluster_members *m);

/* Returns the index in m->v of key's owner, or (size_t)-1 when nothing is live (only
 * before the first pg_cluster_members_set). */
size_t pg_cluster_members_owner(const struct pg_cluster_members *m, uint64_t key);

/* Returns the index of self in m->v, or (size_t)-1. */
size_t pg_cluster_members_self(const struct pg_cluster_members *m);

/* Returns the state name: "up", "down" or "unknown" (self: "up"). */
const char *pg_cluster_member_state_name(const struct pg_cluster_member *p);

/* Frees everything (drop is called for each entry; may be NULL). */
void pg_cluster_members_reset(struct pg_cluster_members *m, pg_cluster_drop_fn drop, void *ud);

#endif
