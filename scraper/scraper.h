/* scraper.h - the scrape manager: pools per job, one scrape loop per target x profile type.
 *
 * pg_scraper_apply installs a config's scrape jobs (one pool per job_name); discovery
 * then hands each pool full snapshots of its target groups (pg_scraper_sync, wired to
 * the discovery manager's on_sync). A pool turns every discovered target into final
 * labels (scraper/target_type.h: relabel_configs per target x enabled profile type, then
 * scraper/target.h's pg_target_profile) and keeps one loop per (target x type), identified by a
 * 64-bit hash of its series labels, URL, interval and timeout: a loop whose hash is still wanted
 * after a sync or a reload keeps its schedule and state (delta baseline, health); a loop no longer
 * wanted is stopped and its in-flight transfer cancelled; new ones are started.
 *
 * A loop first scrapes at a stable offset inside its interval (hash % interval from the
 * interval-aligned epoch, so a fleet does not scrape in lockstep) and then every
 * interval; a scrape that is still running when the next is due makes that tick skip.
 * Timeout = scrape_timeout, plus N seconds for profile types with seconds=N. Every
 * request goes through core/httpc.h on the shared curl multi driver with the job's HTTP
 * options, Accept-Encoding: gzip, and max_body = body_size_limit. The body is checked
 * and decoded by profile/pprof.h (limit = body_size_limit for the decompressed size too).
 * Cumulative types (profile->delta: memory alloc_objects/alloc_space, block and mutex
 * contentions/delay; custom delta types: every sample type) go through
 * profile/fastdelta.h on a worker thread: the first scrape only primes, later ones send
 * the delta; a counter that goes down (target restart) restarts the baseline, sends
 * nothing for that scrape and counts profgate_delta_resets_total. Delta-ed and godeltaprof_*
 * profiles carry __delta__="false".
 *
 * Metrics (core/metrics.h), labels {job,type} where type is the config profile name:
 * profgate_scrapes_total, profgate_scrape_failures_total, profgate_scrape_bytes_total
 * (bytes received on the wire), profgate_scrape_duration_seconds (histogram),
 * profgate_scrape_lateness_seconds (histogram, no labels: actual start - scheduled
 * start), profgate_scrape_profiles_total (profiles handed to the sink),
 * profgate_scrapes_skipped_total{job,type,reason} (reason previous_running: the loop's
 * previous scrape was still fetching or processing; overloaded: the processing queue was
 * full, checked before the fetch and again when the body is handed over; such a scrape
 * is dropped without marking the target down, and a delta's baseline is kept so the
 * next delta spans the gap), profgate_delta_resets_total; gauge profgate_ui_profile_cache_bytes
 * (the loops' kept last profiles, see pg_scraper_set_keep_bytes); gauge profgate_targets{job}
 * (active target x type loops).
 *
 * Clustering (cluster/cluster.h): with an owner predicate set (pg_scraper_set_owner), a
 * sync keeps loops only for the targets the predicate says this replica owns; the others
 * are neither active nor dropped here. Every valid target's key (pg_scraper_target_key:
 * job and final public labels, so all profile types of a target go together) is kept per
 * pool, owned or not, for pg_scraper_foreach_target_key. A sync with a changed owner
 * answer keeps the loops of targets still owned (same hash), so a rebalance only starts
 * and stops the loops of moved targets.
 *
 * Threads: everything here runs on the event-loop thread except the CPU work of a scrape
 * (scraper/work.h), which runs on the worker pool (core/workq.h) when one is given. */
#ifndef PG_SCRAPER_SCRAPER_H
#define PG_SCRAPER_SCRAPER_H

#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "core/curlm.h"
#include "core/labels.h"
#include "discovery/tgroup.h"

struct event_base;
struct pg_scraper;
struct pg_workq;

/* A profile produced by a successful scrape; everything is borrowed for the call. */
struct pg_scrape_profile {
    const char *job;
    const struct pg_labels *labels; /* series labels to send: the target's public labels,
                                       __name__ (profile->sent_name), service_name, and
                                       __delta__="false" where set. No other "__" label. */
    const char *name;               /* the __name__ value */
    int64_t from_ns, until_ns;      /* time span covered (unix ns): scrape start..end, or
                                       previous scrape start..end for deltas */
    const uint8_t *body;            /* pprof, gzip-compressed or raw protobuf */
    size_t len;
};

/* Receives each profile. Returns 0 when it was kept, -1 when it could not be (the scraper
 * counts nothing extra; the sink counts its own drops). */
typedef int (*pg_scrape_sink_fn)(void *ud, const struct pg_scrape_profile *p);

/* Status of one active (target x type) loop, for /api/v1/targets. Borrowed for the call. */
struct pg_scrape_target_info {
    const char *job;
    const char *profile_type;           /* config name of the type (memory, custom name...) */
    const struct pg_labels *discovered; /* labels before relabeling (includes __meta_*) */
    const struct pg_labels *labels;     /* final target labels, public ones only, plus
                                           __name__ (as Prometheus shows them) */
    const char *url;
    const char *health;     /* "up", "down" or "unknown" (not scraped yet) */
    const char *last_error; /* "" when none */
    int64_t last_scrape_ms; /* unix ms of the last scrape start, 0 when none */
    double last_duration_s;
    int64_t interval_ms, timeout_ms;
    const uint8_t *last_body; /* the last profile sent (gzip'd or raw pprof), or NULL */
    size_t last_body_len;
    int64_t last_body_ms;     /* unix ms of the scrape that produced it */
    int last_not_kept;        /* 1: the last profile was over the keep budget */
    uint64_t body_size_limit; /* the job's body_size_limit (0: the default) */
};

/* A target, or one profile type of a target, dropped by relabeling (or with an invalid
 * address or interval), for droppedTargets. */
struct pg_scrape_dropped_info {
    const char *job;
    const struct pg_labels *discovered;
    const struct pg_cfg_scrape *cfg; /* the job's config (its relabel_configs dropped it) */
    const char *profile_type;        /* the dropped type, or NULL: the whole target */
    long rule;                       /* index of the relabel_configs rule that dropped it, or -1 */
    const char *reason;              /* the error that dropped it when not a rule, or NULL */
};

/* Returns a new scraper on base and cm (both borrowed, must outlive it) that processes
 * scraped bodies on the worker pool wq (borrowed; NULL processes them on the loop thread,
 * for tools and tests) and hands profiles to sink(ud, ...), or NULL on OOM. Destroy the
 * scraper before freeing wq: its loops orphan the jobs still on the workers, which wq's
 * free then releases. */
struct pg_scraper *pg_scraper_create(struct event_base *base, struct pg_curlm *cm,
                                     struct pg_workq *wq, pg_scrape_sink_fn sink, void *ud);

/* Installs cfg's scrape jobs (cfg borrowed: must stay alive until the next apply or
 * destroy). Pools of jobs no longer present are stopped and freed; pools of kept jobs
 * take the new job config and keep their loops until the next sync for that job (a job
 * whose scrape settings changed restarts its loops at that sync, because their hashes
 * differ). New jobs start empty. Returns 0 or -1 (OOM; the old state is kept). */
int pg_scraper_apply(struct pg_scraper *s, const struct pg_cfg *cfg);

/* Replaces job's targets with the n groups (borrowed) of a full snapshot. Unknown jobs
 * are ignored. Cannot fail visibly (allocation failures are logged; the old loops stay). */
void pg_scraper_sync(struct pg_scraper *s, const char *job, const struct pg_tgroup *groups,
                     size_t n);

/* Clustering: returns 1 when this replica scrapes the target whose key is key, else 0. */
typedef int (*pg_scrape_owns_fn)(void *ud, uint64_t key);
typedef void (*pg_scrape_key_fn)(void *ud, uint64_t key);

/* The ownership key of a target of job: a 64-bit hash of the job name and the target's
 * public final labels (fin sorted, as pg_target_populate makes it). Every replica computes
 * the same key for the same target. */
uint64_t pg_scraper_target_key(const char *job, const struct pg_labels *fin);

/* Sets (fn non-NULL) or clears (NULL: every target is ours) the owner predicate used by
 * later syncs; already running loops change only at their job's next sync. */
void pg_scraper_set_owner(struct pg_scraper *s, pg_scrape_owns_fn fn, void *ud);

/* Calls fn with the key of every valid target of every job's last sync, owned or not. */
void pg_scraper_foreach_target_key(struct pg_scraper *s, pg_scrape_key_fn fn, void *ud);

typedef void (*pg_scrape_active_fn)(void *ud, const struct pg_scrape_target_info *t);
typedef void (*pg_scrape_dropped_fn)(void *ud, const struct pg_scrape_dropped_info *t);

/* Calls fn for every active loop / dropped target, jobs in config order, targets in a
 * stable order. */
void pg_scraper_foreach_active(struct pg_scraper *s, pg_scrape_active_fn fn, void *ud);
void pg_scraper_foreach_dropped(struct pg_scraper *s, pg_scrape_dropped_fn fn, void *ud);

/* Returns the running config of job (borrowed until the next apply), or NULL. */
const struct pg_cfg_scrape *pg_scraper_job_config(struct pg_scraper *s, const char *job);

/* Sets the budget for the last profile every loop keeps for the web UI (bytes for all
 * loops together; 0 keeps nothing; the default is PG_SCRAPER_KEEP_DEFAULT). A loop whose
 * new profile does not fit keeps none until one fits; lowering the budget takes effect as
 * loops replace their profiles. */
#define PG_SCRAPER_KEEP_DEFAULT (64u << 20)
void pg_scraper_set_keep_bytes(struct pg_scraper *s, size_t max);

/* Stops every loop (cancels in-flight transfers, orphans jobs being processed); no sink
 * call happens afterwards. */
void pg_scraper_stop(struct pg_scraper *s);

/* Stops and frees everything. Accepts NULL. */
void pg_scraper_destroy(struct pg_scraper *s);

#endif
