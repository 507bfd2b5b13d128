/* manager.c - the discovery manager (see manager.h) and the per-mechanism metrics.
 *
 * Each mechanism instance emits into a per-instance table of the latest group per source;
 * an emit marks the instance's job dirty and arms one coalescing timer. When it fires,
 * every dirty job gets one on_sync call with a snapshot of all its non-empty groups. */
#include "discovery/manager.h"

#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"

/* Delay of a manager's first sync (later ones are at most once per coalesce_ms). */
#define PG_SD_FIRST_SYNC_MS 250
/* A job is synced only once every one of its instances has emitted, or this long after
 * the manager started: after a reload, a slower source (a Kubernetes relist, an HTTP SD
 * server) must not look empty and stop its targets' scrape loops meanwhile. */
#define PG_SD_READY_GRACE_MS 5000
#include "core/metrics.h"

/* Families are looked up by name on each update (the registry returns the existing one),
 * so nothing here dangles across pg_metrics_shutdown. Updates are per refresh or per sync,
 * never per target. */
void pg_sd_metric_refresh(const char *mechanism, int failed)
{
    const char *lv[] = {mechanism ? mechanism : ""};
    pg_metric_inc(pg_metric_counter("profgate_sd_refreshes_total",
                                    "Discovery refreshes (polls, lists, blocking queries) by "
                                    "mechanism.",
                                    "mechanism"),
                  lv, 1);
    if (failed)
        pg_metric_inc(pg_metric_counter("profgate_sd_refresh_failures_total",
                                        "Discovery refreshes that failed, by mechanism; the "
                                        "previous targets are kept.",
                                        "mechanism"),
                      lv, 1);
}

void pg_sd_metric_watch_restart(const char *mechanism)
{
    const char *lv[] = {mechanism ? mechanism : ""};
    pg_metric_inc(pg_metric_counter("profgate_sd_watch_restarts_total",
                                    "Discovery watch streams restarted, by mechanism.",
                                    "mechanism"),
                  lv, 1);
}

/* Records one sync of job with n_targets targets. */
static void pg_sd_metric_sync(const char *job, size_t n_targets)
{
    const char *lv[] = {job ? job : ""};
    pg_metric_set(pg_metric_gauge("profgate_sd_discovered_targets",
                                  "Targets discovered for the job at its last sync (before "
                                  "relabeling).",
                                  "job"),
                  lv, (double)n_targets);
    pg_metric_inc(pg_metric_counter("profgate_sd_updates_total",
                                    "Target snapshots delivered to the scraper, by job.", "job"),
                  lv, 1);
}

struct pg_sd_job;

struct pg_sd_inst {
    struct pg_sd_manager *m;
    struct pg_sd_job *job;
    const struct pg_sd_mechanism *mech;
    void *h;                  /* mechanism instance, owned */
    struct pg_tgroup *groups; /* latest non-empty group per source, owned */
    int emitted;              /* has emitted at least once (or adopted groups) */
    int adopted;              /* groups came from the previous manager: replaced as a whole
                                 by the instance's first emit (its full set) */
    size_t n, cap;
};

struct pg_sd_job {
    const char *name; /* the job name, borrowed */
    struct pg_sd_inst **insts;
    size_t n_insts;
    int dirty;
};

struct pg_sd_manager {
    struct event_base *base;
    int64_t coalesce_ms;
    pg_sd_sync_fn on_sync;
    void *ud;
    struct event *timer; /* owned coalescing timer */
    int64_t last_fire_ms;
    int64_t created_ms;
    int64_t timer_due_ms; /* when the pending timer fires (valid while it is pending) */
    struct pg_sd_job **jobs;
    size_t n_jobs;
};

static void pg_sd_on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct pg_sd_manager *m = arg;
    (void)fd;
    (void)what;
    m->last_fire_ms = pg_clock_mono_ms();
    for (size_t j = 0; j < m->n_jobs; j++) {
        struct pg_sd_job *job = m->jobs[j];
        if (!job->dirty)
            continue;
        int ready = 1;
        for (size_t i = 0; i < job->n_insts; i++)
            ready &= job->insts[i]->emitted;
        int64_t wait = m->created_ms + PG_SD_READY_GRACE_MS - pg_clock_mono_ms();
        if (!ready && wait > 0) {
            /* some source has not reported yet: sync when it does, or at the grace end */
            struct timeval tv = {(time_t)(wait / 1000), (suseconds_t)((wait % 1000) * 1000)};
            if (!evtimer_pending(m->timer, NULL) || m->timer_due_ms > pg_clock_mono_ms() + wait) {
                evtimer_add(m->timer, &tv);
                m->timer_due_ms = pg_clock_mono_ms() + wait;
            }
            continue;
        }
        job->dirty = 0;
        size_t total = 0;
        for (size_t i = 0; i < job->n_insts; i++)
            total += job->insts[i]->n;
        struct pg_tgroup *snap = calloc(total + 1, sizeof(*snap));
        if (!snap) {
            pg_log_error("sd.manager", "job=%s msg=\"out of memory\"", job->name);
            job->dirty = 1;
            continue;
        }
        size_t k = 0, n_targets = 0;
        for (size_t i = 0; i < job->n_insts; i++)
            for (size_t g = 0; g < job->insts[i]->n; g++) {
                snap[k++] = job->insts[i]->groups[g]; /* shallow, borrowed for the call */
                n_targets += job->insts[i]->groups[g].n_targets;
            }
        pg_sd_metric_sync(job->name, n_targets);
        if (m->on_sync)
            m->on_sync(m->ud, job->name, snap, k);
        free(snap);
    }
}

static void pg_sd_schedule(struct pg_sd_manager *m)
{
    int64_t now = pg_clock_mono_ms();
    int64_t delay = m->last_fire_ms + m->coalesce_ms - now;
    if (m->last_fire_ms == 0)
        /* first sync: soon, but late enough for every instance's first emit to land */
        delay = m->coalesce_ms < PG_SD_FIRST_SYNC_MS ? m->coalesce_ms : PG_SD_FIRST_SYNC_MS;
    if (delay < 0)
        delay = 0;
    /* already due no later than that (e.g. coalescing): keep it; a later one (the
     * readiness grace) is brought forward */
    if (evtimer_pending(m->timer, NULL) && m->timer_due_ms <= now + delay)
        return;
    struct timeval tv = {(time_t)(delay / 1000), (suseconds_t)((delay % 1000) * 1000)};
    evtimer_add(m->timer, &tv);
    m->timer_due_ms = now + delay;
}

/* The emit callback handed to every instance: ud is the struct pg_sd_inst. */
static void pg_sd_on_emit(void *ud, struct pg_tgroup *groups, size_t n)
{
    struct pg_sd_inst *in = ud;
    if (in->adopted) { /* the first emit is the full set: drop what was carried over */
        for (size_t k = 0; k < in->n; k++)
            pg_tgroup_reset(&in->groups[k]);
        in->n = 0;
        in->adopted = 0;
    }
    for (size_t i = 0; i < n; i++) {
        const struct pg_tgroup *g = &groups[i];
        if (!g->source)
            continue;
        size_t at = in->n;
        for (size_t k = 0; k < in->n; k++)
            if (strcmp(in->groups[k].source, g->source) == 0) {
                at = k;
                break;
            }
        if (g->n_targets == 0) { /* empty group: the source is gone */
            if (at < in->n) {
                pg_tgroup_reset(&in->groups[at]);
                memmove(&in->groups[at], &in->groups[at + 1],
                        (in->n - at - 1) * sizeof(*in->groups));
                in->n--;
            }
            continue;
        }
        struct pg_tgroup copy;
        if (pg_tgroup_copy(&copy, g) < 0) {
            pg_log_error("sd.manager", "job=%s msg=\"out of memory\"", in->job->name);
            continue;
        }
        if (at < in->n) {
            pg_tgroup_reset(&in->groups[at]);
            in->groups[at] = copy;
            continue;
        }
        if (in->n == in->cap) {
            size_t nc = in->cap ? in->cap * 2 : 8;
            struct pg_tgroup *t = realloc(in->groups, nc * sizeof(*t));
            if (!t) {
                pg_tgroup_reset(&copy);
                pg_log_error("sd.manager", "job=%s msg=\"out of memory\"", in->job->name);
                continue;
            }
            in->groups = t;
            in->cap = nc;
        }
        in->groups[in->n++] = copy;
    }
    in->emitted = 1;
    in->job->dirty = 1;
    pg_sd_schedule(in->m);
}

struct pg_sd_manager *pg_sd_manager_create(struct event_base *base, int64_t coalesce_ms,
                                           pg_sd_sync_fn on_sync, void *ud)
{
    struct pg_sd_manager *m = calloc(1, sizeof(*m));
    if (!m)
        return NULL;
    m->base = base;
    m->coalesce_ms = coalesce_ms > 0 ? coalesce_ms : 0;
    m->on_sync = on_sync;
    m->ud = ud;
    m->created_ms = pg_clock_mono_ms();
    m->timer = evtimer_new(base, pg_sd_on_timer, m);
    if (!m->timer) {
        pg_sd_manager_destroy(m);
        return NULL;
    }
    return m;
}

static int pg_sd_add_inst(struct pg_sd_manager *m, struct pg_sd_job *job,
                          const struct pg_sd_mechanism *mech, const void *cfg)
{
    struct pg_sd_inst **t = realloc(job->insts, (job->n_insts + 1) * sizeof(*t));
    if (!t)
        return -1;
    job->insts = t;
    struct pg_sd_inst *in = calloc(1, sizeof(*in));
    if (!in)
        return -1;
    in->m = m;
    in->job = job;
    in->mech = mech;
    in->h = mech->create(cfg, job->name);
    if (!in->h) {
        free(in);
        return -1;
    }
    job->insts[job->n_insts++] = in; /* registered before start: start may emit */
    if (mech->start(in->h, m->base, pg_sd_on_emit, in) < 0) {
        pg_log_error("sd.manager", "job=%s mechanism=%s msg=\"start failed\"", job->name,
                     mech->name);
        mech->stop(in->h);
        return -1;
    }
    return 0;
}

/* Returns the ordinal of in among job's instances of the same mechanism. */
static size_t inst_ordinal(const struct pg_sd_job *job, const struct pg_sd_inst *in)
{
    size_t k = 0;
    for (size_t i = 0; i < job->n_insts && job->insts[i] != in; i++)
        k += job->insts[i]->mech == in->mech;
    return k;
}

void pg_sd_manager_adopt(struct pg_sd_manager *m, const struct pg_sd_manager *old)
{
    if (!m || !old)
        return;
    for (size_t j = 0; j < m->n_jobs; j++) {
        struct pg_sd_job *nj = m->jobs[j];
        const struct pg_sd_job *oj = NULL;
        for (size_t o = 0; o < old->n_jobs && !oj; o++)
            if (strcmp(old->jobs[o]->name, nj->name) == 0)
                oj = old->jobs[o];
        if (!oj)
            continue;
        for (size_t i = 0; i < nj->n_insts; i++) {
            struct pg_sd_inst *in = nj->insts[i];
            if (in->emitted)
                continue; /* already reported its own full set (static) */
            size_t ord = inst_ordinal(nj, in);
            const struct pg_sd_inst *oi = NULL;
            for (size_t k = 0; k < oj->n_insts && !oi; k++)
                if (oj->insts[k]->mech == in->mech && inst_ordinal(oj, oj->insts[k]) == ord)
                    oi = oj->insts[k];
            if (!oi || !oi->emitted)
                continue;
            struct pg_tgroup *g = calloc(oi->n ? oi->n : 1, sizeof(*g));
            if (!g)
                continue;
            size_t n = 0;
            for (size_t k = 0; k < oi->n; k++)
                if (pg_tgroup_copy(&g[n], &oi->groups[k]) == 0)
                    n++;
            free(in->groups);
            in->groups = g;
            in->n = n;
            in->cap = oi->n ? oi->n : 1;
            in->emitted = 1;
            in->adopted = 1;
        }
        nj->dirty = 1; /* the job's config (relabeling) may have changed: sync it */
    }
    pg_sd_schedule(m);
}

int pg_sd_manager_add(struct pg_sd_manager *m, const char *job_name, const struct pg_cfg_sd *sd,
                      size_t n_sd)
{
    struct pg_sd_job **t = realloc(m->jobs, (m->n_jobs + 1) * sizeof(*t));
    if (!t)
        return -1;
    m->jobs = t;
    struct pg_sd_job *j = calloc(1, sizeof(*j));
    if (!j)
        return -1;
    j->name = job_name;
    m->jobs[m->n_jobs++] = j;
    int rc = 0;
    for (size_t i = 0; i < n_sd; i++)
        if (pg_sd_add_inst(m, j, sd[i].mech, sd[i].cfg) < 0)
            rc = -1;
    return rc;
}

void pg_sd_manager_resync(struct pg_sd_manager *m)
{
    if (!m || !m->n_jobs)
        return;
    for (size_t j = 0; j < m->n_jobs; j++)
        m->jobs[j]->dirty = 1;
    pg_sd_schedule(m);
}

void pg_sd_manager_destroy(struct pg_sd_manager *m)
{
    if (!m)
        return;
    for (size_t j = 0; j < m->n_jobs; j++) {
        struct pg_sd_job *job = m->jobs[j];
        for (size_t i = 0; i < job->n_insts; i++) {
            struct pg_sd_inst *in = job->insts[i];
            in->mech->stop(in->h);
            in->mech->destroy(in->h);
            pg_tgroup_free_array(in->groups, in->n);
            free(in);
        }
        free(job->insts);
        free(job);
    }
    free(m->jobs);
    if (m->timer)
        event_free(m->timer);
    free(m);
}
