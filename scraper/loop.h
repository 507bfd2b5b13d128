/* loop.h - one scrape loop (one target x one profile type), internal to the scraper.
 *
 * A loop owns everything it needs to scrape on its own: its series labels, URL, interval
 * and timeout (copied out of the config at sync time, so a config can be freed while the
 * loop runs), a libevent timer re-armed for each absolute due time, the in-flight request,
 * health for /api/v1/targets and, for cumulative types, the delta baseline. The only
 * things it reads from its pool at scrape time are the pool's current job config (HTTP
 * options and body_size_limit, both part of the loop key, so equal to what the loop was
 * created with once the next sync ran) and the shared sink and metrics.
 *
 * Memory per loop (64-bit glibc, malloc overhead included): the struct below is 184
 * bytes (+8 for the job pointer), its libevent timer ~150, the series labels (job, instance,
 * service_name, one more public label, __name__, __delta__) ~550 in vector and strings, the URL and
 * type name ~100, a delta type's empty pg_fastdelta header (48 bytes), and a last_error string only
 * while down. Measured: ~1.1 KiB per loop, ~1.27 KiB with the target's shared discovered labels (3
 * labels) split over its 2 loops (5000 targets x 2 types). The discovered labels (which may hold
 * dozens of __meta_* labels) are shared by all loops of one target through a reference-counted
 * struct pg_scrape_disc, not copied. Delta types add the pg_fastdelta baseline, 30 bytes per
 * distinct stack of the last profile for two delta'd types (profile/fastdelta.h). Nothing of a
 * scrape's body is retained once its processing job (scraper/work.h: a copy of the body, on the
 * worker pool) completed, except the last profile handed to the sink (as sent: gzip'd pprof,
 * typically 2-50 KiB for a Go service, the same bytes the buffer stores), kept for the web
 * UI's flame graph within the scraper's keep budget (struct pg_scrape_keep; default 64 MiB for
 * all loops together, --web.ui.profile-cache-size).
 *
 * Threads: a loop lives on the event-loop thread. Only its job crosses to a worker, and
 * while it is away the loop neither starts another scrape nor touches its delta state
 * (which travels in the job and comes back in the completion). */
#ifndef PG_SCRAPER_LOOP_H
#define PG_SCRAPER_LOOP_H

#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "core/labels.h"
#include "scraper/scraper.h"
#include "scraper/work.h"

struct event;
struct pg_fastdelta;
struct pg_httpc_req;
struct pg_metric;
struct pg_workq;

/* Discovered labels of one target, shared by its loops (and by nothing else). */
struct pg_scrape_disc {
    size_t refs;
    struct pg_labels labels;
};

/* Returns a new disc taking over *ls (ls is left empty), refs = 1, or NULL on OOM (ls is
 * then left untouched). */
struct pg_scrape_disc *pg_scrape_disc_new(struct pg_labels *ls);
/* Adds a reference; returns d. */
struct pg_scrape_disc *pg_scrape_disc_ref(struct pg_scrape_disc *d);
/* Drops a reference, freeing d at zero. Accepts NULL. */
void pg_scrape_disc_unref(struct pg_scrape_disc *d);

/* Metric families shared by all loops (any may be NULL: updates are then dropped). */
struct pg_scrape_metrics {
    struct pg_metric *scrapes, *failures, *bytes, *duration, *lateness, *profiles, *skipped,
        *resets, *relabel_dropped;
};

/* Shared by all loops of a scraper: the rate limit of the "overloaded" log line. */
struct pg_scrape_shed {
    int64_t last_log_s; /* unix s of the last line, 0 never */
    uint64_t unlogged;  /* skips since then */
};

/* Shared by all loops of a scraper: the budget for the last profile each loop keeps for
 * the web UI's flame graph (pg_scraper_set_keep_bytes). */
struct pg_scrape_keep {
    size_t max;  /* bytes; 0 keeps nothing */
    size_t used; /* bytes held by all loops */
};

/* What a loop needs from its pool. The pool owns it; pg_scraper_apply updates job. */
struct pg_scrape_pool_ref {
    const char *name;                /* job name (owned by the pool) */
    const struct pg_cfg_scrape *job; /* the pool's current job config */
    struct event_base *base;
    struct pg_curlm *cm;
    pg_scrape_sink_fn sink;
    void *sink_ud;
    const struct pg_scrape_metrics *metrics;
    struct pg_workq *wq;         /* processing workers, or NULL: process on the loop */
    struct pg_scrape_shed *shed; /* owned by the scraper */
    struct pg_scrape_keep *keep; /* owned by the scraper; NULL keeps nothing */
};

enum pg_scrape_health { PG_SCRAPE_UNKNOWN = 0, PG_SCRAPE_UP, PG_SCRAPE_DOWN };

struct pg_scrape_loop {
    const struct pg_scrape_pool_ref *pool; /* borrowed */
    uint64_t key;
    char *type;                  /* config name of the profile type (owned) */
    char *url;                   /* owned */
    struct pg_labels labels;     /* series labels (public + __name__ + __delta__ +
                                    __tenant_id__) */
    struct pg_labels *sent;      /* the labels profiles are sent with when the job's
                                    profile_relabel_configs changed them, else NULL */
    int discard;                 /* profile_relabel_configs dropped the series: every
                                    profile is discarded (counted) */
    struct pg_scrape_disc *disc; /* one reference */
    int64_t interval_ms, timeout_ms;
    enum pg_scrape_delta_kind delta_kind;
    struct pg_fastdelta *delta; /* baseline, delta types only; NULL while job holds it */
    struct event *timer;        /* one-shot timer, re-armed for every due time */
    int64_t due_ms;             /* unix ms of the next scheduled scrape */
    struct pg_httpc_req *req;   /* in-flight request or NULL */
    struct pg_scrape_job *job;  /* processing job on the workers, or NULL */
    unsigned shed_streak;       /* scrapes shed as overloaded since the last processed one */
    int64_t start_ns;           /* unix ns of the in-flight scrape's start */
    int64_t base_start_ns;      /* start of the scrape that set the delta baseline, 0 none */
    enum pg_scrape_health health;
    char *last_error;       /* NULL when none (owned) */
    char *forced_error;     /* set: the loop does not fetch, each tick marks it down with
                               this (target_limit, label limits); NULL when none (owned) */
    int64_t last_scrape_ms; /* 0 when never scraped */
    double last_duration_s;
    uint64_t n_scrapes;   /* completed scrapes (for tests and debugging) */
    uint8_t *last_body;   /* the last profile handed to the sink, as sent (owned), or NULL */
    size_t last_len;      /* its size, counted in pool->keep->used */
    int64_t last_body_ms; /* unix ms of the scrape that produced it */
    int last_not_kept;    /* 1: the last profile was over the keep budget (not kept) */
    int claimed;          /* scratch flag used by the pool during a sync */
};

/* Returns the 64-bit loop key over the series labels, URL, interval, timeout, type name,
 * delta kind and the job's scrape-relevant settings (body_size_limit and HTTP options). */
uint64_t pg_scrape_loop_key(const struct pg_labels *series, const char *url, int64_t interval_ms,
                            int64_t timeout_ms, const char *type, enum pg_scrape_delta_kind kind,
                            const struct pg_cfg_scrape *job);

/* Returns the loop's offset inside its interval: key % interval_ms (0 when interval <= 0). */
int64_t pg_scrape_loop_offset(uint64_t key, int64_t interval_ms);

/* Returns the first time t >= now_ms (unix ms) with t % interval_ms == offset. */
int64_t pg_scrape_loop_first_due(uint64_t key, int64_t interval_ms, int64_t now_ms);

/* Returns the delta kind for profile type p (NONE when p->delta is 0). */
enum pg_scrape_delta_kind pg_scrape_loop_delta_kind(const struct pg_cfg_profile *p);

/* Creates a loop. Takes ownership of *url and *series (both left NULL/empty on success),
 * takes a new reference to disc. Nothing is scheduled yet. Returns NULL on OOM (inputs
 * then untouched). */
struct pg_scrape_loop *pg_scrape_loop_new(const struct pg_scrape_pool_ref *pool, uint64_t key,
                                          const char *type, enum pg_scrape_delta_kind kind,
                                          char **url, struct pg_labels *series,
                                          struct pg_scrape_disc *disc, int64_t interval_ms,
                                          int64_t timeout_ms);

/* Sets what profile_relabel_configs made of the loop's series labels: *sent (moved; left
 * empty) when they differ, discard when every profile is to be discarded. Returns 0, or
 * -1 on OOM (nothing changed). */
int pg_scrape_loop_set_sent(struct pg_scrape_loop *l, struct pg_labels *sent, int discard);

/* Arms the timer for the first scrape at the loop's offset. Returns 0 or -1. */
int pg_scrape_loop_start(struct pg_scrape_loop *l);

/* Cancels the in-flight request and the timer, and orphans a job being processed (its
 * completion then only frees it, with the delta baseline it holds: a stopped loop is
 * never restarted). The loop can be freed afterwards. */
void pg_scrape_loop_stop(struct pg_scrape_loop *l);

/* Replaces the loop's discovered labels with another target's (a new reference). */
void pg_scrape_loop_set_disc(struct pg_scrape_loop *l, struct pg_scrape_disc *disc);

/* Sets (a copy of) err as the loop's forced error, or clears it (err NULL), as
 * Prometheus's scrapeLoop.setForcedError: while set, every due scrape is not fetched
 * but counted as a failed scrape with that error. Returns 0, or -1 on OOM (unchanged). */
int pg_scrape_loop_set_forced_error(struct pg_scrape_loop *l, const char *err);

/* Fills t for the targets API. info_labels must be an initialised set the caller
 * resets; it receives the series labels without __delta__. Returns 0 or -1 (OOM). */
int pg_scrape_loop_info(const struct pg_scrape_loop *l, struct pg_scrape_target_info *t,
                        struct pg_labels *info_labels);

/* Stops and frees l. Accepts NULL. */
void pg_scrape_loop_free(struct pg_scrape_loop *l);

#endif
