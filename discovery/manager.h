/* manager.h - the discovery manager: runs mechanism instances per job and hands the
 * scraper coalesced full snapshots.
 *
 * As Prometheus's discovery.Manager: it keeps, per (job, instance, source), the latest
 * group; after an emit it schedules (at most once per coalesce_ms; the very first sync
 * after at most 250 ms) one on_sync call per
 * changed job with every non-empty group of that job. */
#ifndef PG_DISCOVERY_MANAGER_H
#define PG_DISCOVERY_MANAGER_H

#include <stddef.h>
#include <stdint.h>

#include "discovery/sd.h"
#include "discovery/tgroup.h"

struct event_base;
struct pg_sd_manager;

/* Called with job's full snapshot: n groups, borrowed for the duration of the call. */
typedef void (*pg_sd_sync_fn)(void *ud, const char *job, const struct pg_tgroup *groups, size_t n);

/* Returns a new manager on base (borrowed; must outlive it), or NULL on OOM. on_sync and
 * ud are called from the loop. Free with pg_sd_manager_destroy. */
struct pg_sd_manager *pg_sd_manager_create(struct event_base *base, int64_t coalesce_ms,
                                           pg_sd_sync_fn on_sync, void *ud);

/* Creates and starts one instance per discovery config sd[0..n_sd) of the job named
 * job_name (one per *_sd_configs entry and one for all static_configs, in registry order).
 * job_name and the configs are borrowed and must outlive the manager. Returns 0, or -1
 * (the instances started so far keep running until destroy). */
int pg_sd_manager_add(struct pg_sd_manager *m, const char *job_name, const struct pg_cfg_sd *sd,
                      size_t n_sd);

/* pg_sd_manager_add for a scrape job (struct pg_cfg_scrape, config/config.h: its job_name
 * and sd[0..n_sd)), which must outlive the manager. A macro, so that discovery needs
 * nothing of config/, the room above it; job is evaluated more than once. */
#define pg_sd_manager_add_job(m, job)                                                              \
    pg_sd_manager_add((m), (job)->job_name, (job)->sd, (job)->n_sd)

/* For reload: every instance of m that has not emitted yet takes a copy of the groups of
 * the instance of old (borrowed, may be NULL) with the same job name, mechanism and
 * ordinal, until its own first emit replaces them. So a source that is slow or down
 * after a reload keeps its targets, as Prometheus keeps unchanged providers. Call after
 * the pg_sd_manager_add calls and before destroying old. Allocation failures leave
 * an instance without adopted groups. */
void pg_sd_manager_adopt(struct pg_sd_manager *m, const struct pg_sd_manager *old);

/* Schedules a sync of every job with its current groups (within the coalescing delay),
 * as if every source had emitted again: for a change outside discovery that decides
 * which targets are kept (clustering's live peers). Accepts NULL. */
void pg_sd_manager_resync(struct pg_sd_manager *m);

/* Stops and destroys every instance and frees m. Accepts NULL. */
void pg_sd_manager_destroy(struct pg_sd_manager *m);

#endif
