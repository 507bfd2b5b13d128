/* scraper.c - the scrape manager: one pool per job, loops keyed by hash, sync and reload.
 *
 * pg_scraper_apply matches the config's jobs to existing pools by job_name (kept pools
 * point at the new job config, others are created or freed). pg_scraper_sync turns a job's
 * full target snapshot into wanted loops (scraper/target_type.h, then pg_target_profile per
 * enabled profile type), looks each wanted key up among the pool's loops, keeps the ones
 * found, creates the missing ones and frees the rest (scraper/loop.h). Nothing here keeps a
 * pointer into a config other than the pool's current job pointer. */
#include "scraper/scraper.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#define XXH_STATIC_LINKING_ONLY /* XXH64_state_t on the stack */
#include <xxhash.h>

#include "yamlcfg/units.h"
#include "core/log.h"
#include "core/metrics.h"
#include "scraper/loop.h"
#include "scraper/profile_relabel.h"
#include "scraper/target.h"
#include "scraper/target_check.h"
#include "scraper/target_type.h"

/* A target, or one profile type of a target, that is not scraped. */
struct dropped {
    struct pg_scrape_disc *disc; /* the target's discovered labels (one reference) */
    char *type;                  /* the profile type, or NULL: the whole target */
    size_t rule;                 /* the relabel rule that dropped it, or PG_TARGET_NO_RULE */
    char *reason;                /* why, when not a rule (an error), or NULL */
};

struct pool {
    struct pg_scrape_pool_ref ref; /* handed to the loops; ref.name == name */
    char *name;
    struct pg_scrape_loop **loops; /* in the target order of the last sync */
    size_t n_loops;
    struct dropped *dropped;
    size_t n_dropped;
    uint64_t *tkeys; /* pg_scraper_target_key of every valid target of the last sync, owned
                        by this replica or not */
    size_t n_tkeys;
};

struct pg_scraper {
    struct event_base *base;
    struct pg_curlm *cm;
    struct pg_workq *wq;
    struct pg_scrape_shed shed;
    struct pg_scrape_keep keep; /* the loops' last profiles for the web UI */
    pg_scrape_sink_fn sink;
    void *ud;
    struct pg_scrape_metrics metrics;
    struct pg_metric *targets;
    struct pg_metric *m_keep_bytes; /* the loops' kept profiles, bytes */
    int collector;
    struct pool **pools; /* in config order */
    size_t n_pools;
    int stopped;
    pg_scrape_owns_fn owns; /* NULL: every target is ours */
    void *owns_ud;
};

static const double lateness_buckets[] = {.0005, .001, .0025, .005, .01, .025,
                                          .05,   .1,   .25,   .5,   1,   2.5};

/* ---- a small open-addressing map from loop key to loop ---- */

struct kmap {
    struct pg_scrape_loop **slot;
    size_t cap, n; /* cap is a power of two */
};

static int kmap_init(struct kmap *m, size_t want)
{
    m->cap = 16;
    while (m->cap < want * 2)
        m->cap *= 2;
    m->n = 0;
    m->slot = calloc(m->cap, sizeof(*m->slot));
    return m->slot ? 0 : -1;
}

static void kmap_free(struct kmap *m)
{
    free(m->slot);
    m->slot = NULL;
}

static struct pg_scrape_loop *kmap_get(const struct kmap *m, uint64_t key)
{
    for (size_t i = (size_t)key & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        if (m->slot[i] == NULL)
            return NULL;
        if (m->slot[i]->key == key)
            return m->slot[i];
    }
}

static void kmap_put_nogrow(struct kmap *m, struct pg_scrape_loop *l)
{
    size_t i = (size_t)l->key & (m->cap - 1);
    while (m->slot[i] != NULL)
        i = (i + 1) & (m->cap - 1);
    m->slot[i] = l;
    m->n++;
}

/* Inserts l (its key must be absent). Returns 0 or -1 (OOM). */
static int kmap_put(struct kmap *m, struct pg_scrape_loop *l)
{
    if ((m->n + 1) * 2 > m->cap) {
        struct kmap b;
        if (kmap_init(&b, m->cap) != 0)
            return -1;
        for (size_t i = 0; i < m->cap; i++)
            if (m->slot[i])
                kmap_put_nogrow(&b, m->slot[i]);
        kmap_free(m);
        *m = b;
    }
    kmap_put_nogrow(m, l);
    return 0;
}

/* ---- pools ---- */

static void free_dropped(struct dropped *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        pg_scrape_disc_unref(v[i].disc);
        free(v[i].type);
        free(v[i].reason);
    }
    free(v);
}

static void pool_free(struct pool *p)
{
    if (p == NULL)
        return;
    for (size_t i = 0; i < p->n_loops; i++)
        pg_scrape_loop_free(p->loops[i]);
    free(p->loops);
    free_dropped(p->dropped, p->n_dropped);
    free(p->tkeys);
    free(p->name);
    free(p);
}

static struct pool *pool_new(struct pg_scraper *s, const struct pg_cfg_scrape *job)
{
    struct pool *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return NULL;
    p->name = strdup(job->job_name ? job->job_name : "");
    if (p->name == NULL) {
        free(p);
        return NULL;
    }
    p->ref.name = p->name;
    p->ref.job = job;
    p->ref.base = s->base;
    p->ref.cm = s->cm;
    p->ref.sink = s->sink;
    p->ref.sink_ud = s->ud;
    p->ref.metrics = &s->metrics;
    p->ref.wq = s->wq;
    p->ref.shed = &s->shed;
    p->ref.keep = &s->keep;
    return p;
}

static struct pool *find_pool(struct pg_scraper *s, const char *job)
{
    for (size_t i = 0; i < s->n_pools; i++)
        if (!strcmp(s->pools[i]->name, job))
            return s->pools[i];
    return NULL;
}

/* ---- create / destroy ---- */

static void collect_targets(void *ud)
{
    struct pg_scraper *s = ud;
    pg_metric_clear(s->targets);
    for (size_t i = 0; i < s->n_pools; i++) {
        const char *lv[] = {s->pools[i]->name};
        pg_metric_set(s->targets, lv, (double)s->pools[i]->n_loops);
    }
    pg_metric_set(s->m_keep_bytes, NULL, (double)s->keep.used);
}

struct pg_scraper *pg_scraper_create(struct event_base *base, struct pg_curlm *cm,
                                     struct pg_workq *wq, pg_scrape_sink_fn sink, void *ud)
{
    struct pg_scraper *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    s->base = base;
    s->cm = cm;
    s->wq = wq;
    s->keep.max = PG_SCRAPER_KEEP_DEFAULT;
    s->sink = sink;
    s->ud = ud;
    struct pg_scrape_metrics *m = &s->metrics;
    m->scrapes = pg_metric_counter("profgate_scrapes_total", "Scrapes completed.", "job,type");
    m->failures = pg_metric_counter("profgate_scrape_failures_total",
                                    "Scrapes that failed (target down).", "job,type");
    m->bytes = pg_metric_counter("profgate_scrape_bytes_total",
                                 "Bytes received from scrape targets on the wire.", "job,type");
    m->duration = pg_metric_histogram("profgate_scrape_duration_seconds",
                                      "Duration of scrape requests.", "job,type");
    m->lateness = pg_metric_register(PG_METRIC_HISTOGRAM, "profgate_scrape_lateness_seconds",
                                     "Delay between a scrape's scheduled and actual start.", NULL,
                                     lateness_buckets,
                                     sizeof(lateness_buckets) / sizeof(lateness_buckets[0]));
    m->profiles = pg_metric_counter("profgate_scrape_profiles_total",
                                    "Scraped profiles handed to the buffer.", "job,type");
    m->skipped = pg_metric_counter("profgate_scrapes_skipped_total",
                                   "Scrapes not done: previous_running (the previous scrape "
                                   "of the loop was still running) or overloaded (the "
                                   "processing workers were busy).",
                                   "job,type,reason");
    m->resets = pg_metric_counter("profgate_delta_resets_total",
                                  "Delta scrapes whose cumulative values went down (the target "
                                  "restarted): the baseline restarted, nothing was sent.",
                                  "job,type");
    m->relabel_dropped = pg_metric_counter(
        "profgate_profiles_relabel_dropped_total",
        "Scraped profiles discarded by the job's profile_relabel_configs.", "job");
    s->targets =
        pg_metric_gauge("profgate_targets", "Active target x profile type scrape loops.", "job");
    s->m_keep_bytes = pg_metric_gauge(
        "profgate_ui_profile_cache_bytes",
        "Bytes of the last profiles the scrape loops keep for the web UI's flame graphs.", NULL);
    if (pg_metrics_add_collector(collect_targets, s) == 0)
        s->collector = 1;
    else
        pg_log_warn("scraper", "msg=\"cannot register the targets metric collector\"");
    return s;
}

void pg_scraper_stop(struct pg_scraper *s)
{
    if (s == NULL)
        return;
    s->stopped = 1;
    for (size_t i = 0; i < s->n_pools; i++)
        for (size_t j = 0; j < s->pools[i]->n_loops; j++)
            pg_scrape_loop_stop(s->pools[i]->loops[j]);
}

void pg_scraper_destroy(struct pg_scraper *s)
{
    if (s == NULL)
        return;
    if (s->collector)
        pg_metrics_remove_collector(collect_targets, s);
    for (size_t i = 0; i < s->n_pools; i++)
        pool_free(s->pools[i]);
    free(s->pools);
    free(s);
}

/* ---- apply ---- */

int pg_scraper_apply(struct pg_scraper *s, const struct pg_cfg *cfg)
{
    size_t n = cfg->n_scrape;
    struct pool **np = calloc(n ? n : 1, sizeof(*np));
    char *taken = calloc(s->n_pools ? s->n_pools : 1, 1);
    char *fresh = calloc(n ? n : 1, 1);
    if (np == NULL || taken == NULL || fresh == NULL)
        goto oom;
    for (size_t i = 0; i < n; i++) {
        const struct pg_cfg_scrape *job = &cfg->scrape[i];
        const char *name = job->job_name ? job->job_name : "";
        for (size_t j = 0; j < s->n_pools && np[i] == NULL; j++)
            if (!taken[j] && !strcmp(s->pools[j]->name, name)) {
                taken[j] = 1;
                np[i] = s->pools[j];
            }
        if (np[i] == NULL) {
            if ((np[i] = pool_new(s, job)) == NULL)
                goto oom;
            fresh[i] = 1;
        }
    }
    /* commit: nothing can fail from here on */
    size_t kept = 0, added = 0, removed = 0;
    for (size_t i = 0; i < n; i++) {
        np[i]->ref.job = &cfg->scrape[i];
        fresh[i] ? added++ : kept++;
    }
    for (size_t j = 0; j < s->n_pools; j++)
        if (!taken[j]) {
            removed++;
            pg_log_info("scraper", "job=%s loops=%zu msg=\"job removed, stopping its loops\"",
                        s->pools[j]->name, s->pools[j]->n_loops);
            pool_free(s->pools[j]);
        }
    free(s->pools);
    s->pools = np;
    s->n_pools = n;
    free(taken);
    free(fresh);
    pg_log_info("scraper", "jobs=%zu kept=%zu added=%zu removed=%zu msg=\"scrape config applied\"",
                n, kept, added, removed);
    return 0;
oom:
    for (size_t i = 0; np && fresh && i < n; i++)
        if (fresh[i])
            pool_free(np[i]);
    free(np);
    free(taken);
    free(fresh);
    pg_log_error("scraper",
                 "msg=\"out of memory applying the scrape config; keeping the old one\"");
    return -1;
}

/* ---- sync ---- */

struct syncstate {
    struct pg_scraper *s;
    struct pool *pool;
    struct kmap old, seen;
    struct pg_scrape_loop **loops;
    size_t n_loops, cap_loops;
    struct dropped *dropped;
    size_t n_dropped, cap_dropped;
    size_t n_dropped_all; /* dropped targets, also those over keep_dropped_targets */
    size_t n_targets;     /* active targets of this replica (for target_limit) */
    uint64_t *tkeys;
    size_t n_tkeys, cap_tkeys;
    size_t created, not_owned;
    size_t split; /* the job's first per-type relabel rule (scraper/target_type.h) */
};

static int grow(void **v, size_t *cap, size_t n, size_t elem)
{
    if (n < *cap)
        return 0;
    size_t nc = *cap ? *cap * 2 : 16;
    void *nv = realloc(*v, nc * elem);
    if (nv == NULL)
        return -1;
    *v = nv;
    *cap = nc;
    return 0;
}

/* Adds a dropped target (type NULL) or type of a target (d: a new reference; type and
 * reason copied, either may be NULL); beyond the job's keep_dropped_targets it is only
 * counted, as Prometheus does. Returns 0 or -1. */
static int add_dropped(struct syncstate *st, struct pg_scrape_disc *d, const char *type,
                       size_t rule, const char *reason)
{
    uint64_t keep = st->pool->ref.job->limits.keep_dropped_targets;
    st->n_dropped_all++;
    if (keep > 0 && st->n_dropped >= keep)
        return 0;
    if (grow((void **)&st->dropped, &st->cap_dropped, st->n_dropped, sizeof(*st->dropped)) != 0)
        return -1;
    struct dropped *e = &st->dropped[st->n_dropped];
    e->type = type ? strdup(type) : NULL;
    e->reason = reason && reason[0] ? strdup(reason) : NULL;
    if ((type && !e->type) || (reason && reason[0] && !e->reason)) {
        free(e->type);
        free(e->reason);
        return -1;
    }
    e->disc = pg_scrape_disc_ref(d);
    e->rule = rule;
    st->n_dropped++;
    return 0;
}

/* Upper bound that keeps the time arithmetic (timeout + seconds) far from overflow (the
 * interval's is in target_check.c). */
#define PG_SCRAPE_MAX_SECONDS (24LL * 3600)

/* Returns the seconds= value profile type p is fetched with (the target's
 * __param_seconds, else the type's own seconds param, else the delta duration for types
 * with p->seconds, else 0): Go's handlers hold the request that long, so the timeout
 * grows by it (capped at one day). */
static int64_t profile_seconds(const struct pg_cfg_scrape *job, const struct pg_cfg_profile *p,
                               const struct pg_labels *fin)
{
    const char *v = pg_labels_get(fin, "__param_seconds");
    for (size_t i = 0; v == NULL && i < p->n_params; i++)
        if (!strcmp(p->params[i].name, "seconds") && p->params[i].n_values > 0)
            v = p->params[i].values[0];
    if (v != NULL) {
        char *end;
        long long n = strtoll(v, &end, 10);
        /* capped, so timeout + seconds cannot overflow (and a target cannot ask for a
         * profile longer than a day) */
        if (end == v || *end != '\0' || n <= 0)
            return 0;
        return n > PG_SCRAPE_MAX_SECONDS ? PG_SCRAPE_MAX_SECONDS : (int64_t)n;
    }
    return p->seconds ? pg_target_delta_duration_ms(job, fin) / 1000 : 0;
}

/* Series labels from pg_target_profile's output: public ones, __name__, __tenant_id__
 * (sent as the X-Scope-OrgID of the profile: sink/wrelabel.h), __delta__. */
static int series_labels(struct pg_labels *out, const struct pg_cfg_profile *p)
{
    size_t w = 0;
    for (size_t i = 0; i < out->n; i++) {
        struct pg_label *lb = &out->v[i];
        if (pg_target_is_public(lb->name) || !strcmp(lb->name, "__name__") ||
            !strcmp(lb->name, "__tenant_id__")) {
            out->v[w++] = *lb;
        } else {
            free(lb->name);
            free(lb->value);
        }
    }
    out->n = w; /* still sorted: a subsequence of a sorted vector */
    if (p->delta || (p->name && !strncmp(p->name, "godeltaprof_", 12)))
        return pg_labels_set(out, "__delta__", "false");
    return 0;
}

/* Reads the target's scrape interval and timeout (ms) from fin into *iv and *to, with
 * Prometheus's checks after relabeling (scraper/target_check.h). Returns 0, or -1 with the
 * reason in why (logged) when the target is to be dropped. */
static int target_times(const struct syncstate *st, const struct pg_labels *fin, int64_t *iv,
                        int64_t *to, char *why, size_t whylen)
{
    if (pg_target_check(fin, iv, to, why, whylen) == 0)
        return 0;
    const char *inst = pg_labels_get(fin, "instance");
    pg_log_warn("scraper", "job=%s instance=%s msg=\"target dropped\" err=\"%s\"", st->pool->name,
                inst ? inst : "", why);
    return -1;
}

/* Forces the label limits' error on loop l whose series labels are series (or clears it).
 * Returns 0, or -1 on OOM. */
static int set_label_limit_error(struct pg_scrape_loop *l, const struct pg_labels *series,
                                 const struct pg_cfg_scrape *job)
{
    char err[512];
    if (pg_target_check_label_limits(&job->limits, series, err, sizeof err) == 0)
        return pg_scrape_loop_set_forced_error(l, NULL);
    return pg_scrape_loop_set_forced_error(l, err);
}

/* Adds the loop of profile type p of an active target (d, fin; interval iv and timeout
 * to in ms): the old loop with the same key is claimed, else a new one is made. Returns 0,
 * or -1 on OOM. */
static int add_profile_loop(struct syncstate *st, struct pg_scrape_disc *d,
                            const struct pg_labels *fin, const struct pg_cfg_profile *p, int64_t iv,
                            int64_t to)
{
    const struct pg_cfg_scrape *job = st->pool->ref.job;
    struct pg_labels out, sent;
    pg_labels_init(&out);
    pg_labels_init(&sent);
    char *url = NULL;
    if (pg_target_profile(job, fin, &d->labels, p, &out, &url) != 0) {
        const char *inst = pg_labels_get(fin, "instance");
        pg_log_warn("scraper",
                    "job=%s instance=%s type=%s msg=\"cannot build the scrape "
                    "URL; skipping\"",
                    st->pool->name, inst ? inst : "", p->name);
        return 0;
    }
    int rc = -1;
    if (series_labels(&out, p) != 0)
        goto out;
    int64_t timeout = to + profile_seconds(job, p, fin) * 1000;
    enum pg_scrape_delta_kind kind = pg_scrape_loop_delta_kind(p);
    uint64_t key = pg_scrape_loop_key(&out, url, iv, timeout, p->name, kind, job);
    int discard = 0;
    if (job->n_profile_relabel > 0) {
        /* the loop's labels are fixed: relabel once here, and key the loop on the result
         * too, so that a reload that changes what the rules make of them starts anew */
        char why[160] = "";
        int kept = pg_scrape_profile_relabel(job, &out, &sent, why, sizeof why);
        if (kept < 0)
            goto out;
        discard = kept == 0;
        if (discard)
            pg_log_debug("scraper", "job=%s url=%s msg=\"profiles discarded\" reason=\"%s\"",
                         st->pool->name, url, why);
        key ^= (pg_labels_hash(&sent) + (uint64_t)discard) * 0x9E3779B97F4A7C15ULL;
    }
    if (kmap_get(&st->seen, key) != NULL) {
        rc = 0; /* duplicate within this snapshot: one loop */
        goto out;
    }
    struct pg_scrape_loop *l = kmap_get(&st->old, key);
    if (l != NULL && l->claimed == 0) {
        l->claimed = 1;
        pg_scrape_loop_set_disc(l, d);
    } else {
        l = pg_scrape_loop_new(&st->pool->ref, key, p->name, kind, &url, &out, d, iv, timeout);
        if (l == NULL)
            goto out;
        if (pg_scrape_loop_set_sent(l, &sent, discard) != 0) {
            pg_scrape_loop_free(l);
            goto out;
        }
        l->claimed = 2;
        st->created++;
    }
    if (grow((void **)&st->loops, &st->cap_loops, st->n_loops, sizeof(*st->loops)) != 0 ||
        kmap_put(&st->seen, l) != 0) {
        if (l->claimed == 2) {
            pg_scrape_loop_free(l);
            st->created--;
        } else {
            l->claimed = 0;
        }
        goto out;
    }
    st->loops[st->n_loops++] = l;
    /* the limits apply to the labels sent, after profile_relabel_configs */
    rc = set_label_limit_error(l, l->sent ? l->sent : &l->labels, job);
out:
    pg_labels_reset(&out);
    pg_labels_reset(&sent);
    free(url);
    return rc;
}

/* The outcome of relabeling one type of a target whose rules run per type. */
struct typed {
    int rc; /* 1 kept, 0 dropped by rule, -1 error (err), 2 not enabled */
    size_t rule;
    int64_t iv, to;
    struct pg_labels fin;
    char err[256];
};

/* Relabels common for profile type p into *ty. */
static void relabel_typed(struct syncstate *st, const struct pg_labels *common,
                          const struct pg_cfg_profile *p, struct typed *ty)
{
    const struct pg_cfg_scrape *job = st->pool->ref.job;
    ty->rc = pg_target_populate_type(job, common, st->split, p, &ty->fin, NULL, NULL, &ty->rule,
                                     ty->err, sizeof ty->err);
    if (ty->rc < 0)
        pg_log_debug("scraper", "job=%s type=%s msg=\"target dropped\" err=\"%s\"", st->pool->name,
                     p->name, ty->err);
    if (ty->rc > 0 && target_times(st, &ty->fin, &ty->iv, &ty->to, ty->err, sizeof ty->err) != 0)
        ty->rc = -1;
}

/* Returns 1 when every enabled type of ty[0..n) was dropped by the same rule (the target
 * is then listed once, as Prometheus lists a dropped target), else 0. */
static int same_rule_for_all(const struct typed *ty, size_t n)
{
    size_t rule = PG_TARGET_NO_RULE;
    for (size_t i = 0; i < n; i++) {
        if (ty[i].rc == 2)
            continue;
        if (ty[i].rc != 0 || (rule != PG_TARGET_NO_RULE && ty[i].rule != rule))
            return 0;
        rule = ty[i].rule;
    }
    return rule != PG_TARGET_NO_RULE;
}

/* Adds the loops (or dropped entries) of a kept target whose rules run per type.
 * Returns 0, or -1 on OOM. */
static int add_typed(struct syncstate *st, struct pg_scrape_disc *d, const struct pg_labels *common)
{
    const struct pg_cfg_scrape *job = st->pool->ref.job;
    struct typed *ty = calloc(job->n_profiles ? job->n_profiles : 1, sizeof(*ty));
    if (ty == NULL)
        return -1;
    for (size_t i = 0; i < job->n_profiles; i++) {
        pg_labels_init(&ty[i].fin);
        ty[i].rc = 2;
        if (job->profiles[i].enabled)
            relabel_typed(st, common, &job->profiles[i], &ty[i]);
    }
    int rc = 0;
    size_t first = 0, before = st->n_loops;
    while (first < job->n_profiles && ty[first].rc == 2)
        first++;
    if (same_rule_for_all(ty, job->n_profiles)) {
        rc = add_dropped(st, d, NULL, ty[first].rule, NULL);
    } else {
        for (size_t i = first; i < job->n_profiles && rc == 0; i++) {
            const struct pg_cfg_profile *p = &job->profiles[i];
            if (ty[i].rc == 2)
                continue;
            if (ty[i].rc <= 0)
                rc = add_dropped(st, d, p->name, ty[i].rule, ty[i].rc < 0 ? ty[i].err : NULL);
            else
                rc = add_profile_loop(st, d, &ty[i].fin, p, ty[i].iv, ty[i].to);
        }
    }
    st->n_targets += st->n_loops > before;
    for (size_t i = 0; i < job->n_profiles; i++)
        pg_labels_reset(&ty[i].fin);
    free(ty);
    return rc;
}

/* Records the ownership key of a valid target (fin: its final labels, or the labels its
 * per-type rules start from). Returns 1 when this replica scrapes it, 0 when another one
 * does (it is then neither active nor dropped here), -1 on OOM. */
static int target_owned(struct syncstate *st, const struct pg_labels *fin)
{
    uint64_t tkey = pg_scraper_target_key(st->pool->name, fin);
    if (grow((void **)&st->tkeys, &st->cap_tkeys, st->n_tkeys, sizeof(*st->tkeys)) != 0)
        return -1;
    st->tkeys[st->n_tkeys++] = tkey;
    if (st->s->owns && !st->s->owns(st->s->owns_ud, tkey)) {
        st->not_owned++;
        return 0;
    }
    return 1;
}

/* Adds the loops (or dropped entries) of one kept target: common is its final labels when
 * every rule ran per target, else the labels the per-type rules start from. Returns 0, or
 * -1 on OOM. */
static int add_target(struct syncstate *st, struct pg_scrape_disc *d,
                      const struct pg_labels *common)
{
    const struct pg_cfg_scrape *job = st->pool->ref.job;
    int per_type = st->split < job->n_relabel;
    int64_t iv = 0, to = 0;
    char why[300];
    if (!per_type && target_times(st, common, &iv, &to, why, sizeof why) != 0)
        return add_dropped(st, d, NULL, PG_TARGET_NO_RULE, why);
    /* the ownership key: with per-type rules, of the labels before them, so that all
     * types of a target still go to one replica */
    int owned = target_owned(st, common);
    if (owned <= 0)
        return owned;
    if (per_type)
        return add_typed(st, d, common);
    int rc = 0;
    size_t before = st->n_loops;
    for (size_t i = 0; i < job->n_profiles && rc == 0; i++)
        if (job->profiles[i].enabled)
            rc = add_profile_loop(st, d, common, &job->profiles[i], iv, to);
    st->n_targets += st->n_loops > before;
    return rc;
}

/* Turns one discovered target into loops and dropped entries. Returns 0, or -1 on OOM. */
static int sync_target(struct syncstate *st, const struct pg_tgroup *tg, size_t t,
                       struct pg_labels *disc, struct pg_labels *fin)
{
    struct pool *pool = st->pool;
    char err[256] = "";
    size_t rule;
    int rc = pg_target_populate_common(pool->ref.job, &tg->labels, &tg->targets[t], disc, fin,
                                       st->split, NULL, NULL, &rule, err, sizeof err);
    if (rc < 0)
        pg_log_debug("scraper", "job=%s source=%s msg=\"target dropped\" err=\"%s\"", pool->name,
                     tg->source ? tg->source : "", err);
    struct pg_scrape_disc *d = pg_scrape_disc_new(disc);
    if (d == NULL)
        return -1;
    int failed;
    if (rc <= 0)
        failed = add_dropped(st, d, NULL, rule, rc < 0 ? err : NULL);
    else
        failed = add_target(st, d, fin);
    pg_scrape_disc_unref(d); /* the loops and dropped entries hold their own references */
    return failed;
}

/* Fills st (st->pool's loops claimed or new, the dropped targets) from the target groups.
 * Returns 0, or -1 on OOM. */
static int sync_collect(struct syncstate *st, const struct pg_tgroup *groups, size_t n)
{
    struct pool *pool = st->pool;
    if (kmap_init(&st->old, pool->n_loops) != 0 || kmap_init(&st->seen, pool->n_loops) != 0)
        return -1;
    for (size_t i = 0; i < pool->n_loops; i++) {
        pool->loops[i]->claimed = 0;
        kmap_put_nogrow(&st->old, pool->loops[i]);
    }
    st->split = pg_target_type_split(pool->ref.job);
    struct pg_labels disc, fin;
    pg_labels_init(&disc);
    pg_labels_init(&fin);
    int failed = 0;
    for (size_t g = 0; g < n && !failed; g++)
        for (size_t t = 0; t < groups[g].n_targets && !failed; t++)
            failed = sync_target(st, &groups[g], t, &disc, &fin) != 0;
    pg_labels_reset(&disc);
    pg_labels_reset(&fin);
    return failed ? -1 : 0;
}

/* Undoes a failed sync_collect: frees the new loops and unclaims the old ones. */
static void sync_rollback(struct syncstate *st)
{
    struct pool *pool = st->pool;
    for (size_t i = 0; i < st->n_loops; i++)
        if (st->loops[i]->claimed == 2)
            pg_scrape_loop_free(st->loops[i]);
    for (size_t i = 0; i < pool->n_loops; i++)
        pool->loops[i]->claimed = 0;
    free(st->loops);
    free_dropped(st->dropped, st->n_dropped);
    free(st->tkeys);
    kmap_free(&st->old);
    kmap_free(&st->seen);
    pg_log_error("scraper",
                 "job=%s msg=\"out of memory syncing targets; keeping the old "
                 "loops\"",
                 pool->name);
}

/* Over the job's target_limit, every loop gets the limit's error instead of its own
 * (Prometheus's refreshTargetLimitErr: all of the job's targets are down, none is
 * scraped). Returns 1 when the limit is exceeded. */
static int apply_target_limit(struct syncstate *st)
{
    char err[128];
    if (!pg_target_limit_exceeded(&st->pool->ref.job->limits, st->n_targets, err, sizeof err))
        return 0;
    for (size_t i = 0; i < st->n_loops; i++)
        if (pg_scrape_loop_set_forced_error(st->loops[i], err) != 0)
            pg_log_error("scraper", "job=%s msg=\"out of memory setting the target_limit error\"",
                         st->pool->name);
    pg_log_warn("scraper", "job=%s msg=\"nothing is scraped\" err=\"%s\"", st->pool->name, err);
    return 1;
}

/* Makes st the pool's state: frees the unclaimed old loops, starts the new ones. */
static void sync_commit(struct syncstate *st)
{
    struct pool *pool = st->pool;
    size_t removed = 0;
    apply_target_limit(st);
    for (size_t i = 0; i < pool->n_loops; i++)
        if (pool->loops[i]->claimed == 0) {
            pg_scrape_loop_free(pool->loops[i]);
            removed++;
        }
    for (size_t i = 0; i < st->n_loops; i++) {
        struct pg_scrape_loop *l = st->loops[i];
        if (l->claimed == 2 && pg_scrape_loop_start(l) != 0)
            pg_log_error("scraper", "job=%s url=%s msg=\"cannot schedule the scrape loop\"",
                         pool->name, l->url);
        l->claimed = 0;
    }
    free(pool->loops);
    pool->loops = st->loops;
    pool->n_loops = st->n_loops;
    free_dropped(pool->dropped, pool->n_dropped);
    pool->dropped = st->dropped;
    pool->n_dropped = st->n_dropped;
    free(pool->tkeys);
    pool->tkeys = st->tkeys;
    pool->n_tkeys = st->n_tkeys;
    kmap_free(&st->old);
    kmap_free(&st->seen);
    pg_log_info("scraper",
                "job=%s targets=%zu loops=%zu created=%zu removed=%zu dropped=%zu not_owned=%zu "
                "msg=\"targets synced\"",
                pool->name, st->n_targets, pool->n_loops, st->created, removed, st->n_dropped_all,
                st->not_owned);
}

void pg_scraper_sync(struct pg_scraper *s, const char *job, const struct pg_tgroup *groups,
                     size_t n)
{
    if (s == NULL || job == NULL || s->stopped)
        return;
    struct pool *pool = find_pool(s, job);
    if (pool == NULL)
        return;
    struct syncstate st;
    memset(&st, 0, sizeof st);
    st.s = s;
    st.pool = pool;
    if (sync_collect(&st, groups, n) != 0)
        sync_rollback(&st);
    else
        sync_commit(&st);
}

/* ---- status ---- */

void pg_scraper_foreach_active(struct pg_scraper *s, pg_scrape_active_fn fn, void *ud)
{
    if (s == NULL)
        return;
    struct pg_labels info;
    pg_labels_init(&info);
    for (size_t i = 0; i < s->n_pools; i++)
        for (size_t j = 0; j < s->pools[i]->n_loops; j++) {
            struct pg_scrape_target_info t;
            if (pg_scrape_loop_info(s->pools[i]->loops[j], &t, &info) != 0)
                continue; /* OOM: the entry is left out of this listing */
            fn(ud, &t);
        }
    pg_labels_reset(&info);
}

const struct pg_cfg_scrape *pg_scraper_job_config(struct pg_scraper *s, const char *job)
{
    for (size_t i = 0; s && i < s->n_pools; i++)
        if (!strcmp(s->pools[i]->name, job))
            return s->pools[i]->ref.job;
    return NULL;
}

void pg_scraper_set_keep_bytes(struct pg_scraper *s, size_t max)
{
    s->keep.max = max;
}

void pg_scraper_foreach_dropped(struct pg_scraper *s, pg_scrape_dropped_fn fn, void *ud)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->n_pools; i++)
        for (size_t j = 0; j < s->pools[i]->n_dropped; j++) {
            const struct dropped *e = &s->pools[i]->dropped[j];
            struct pg_scrape_dropped_info t = {.job = s->pools[i]->name,
                                               .discovered = &e->disc->labels,
                                               .profile_type = e->type,
                                               .rule = e->rule == PG_TARGET_NO_RULE ? -1
                                                                                    : (long)e->rule,
                                               .reason = e->reason,
                                               .cfg = s->pools[i]->ref.job};
            fn(ud, &t);
        }
}

/* ---- clustering ---- */

uint64_t pg_scraper_target_key(const char *job, const struct pg_labels *fin)
{
    XXH64_state_t st;
    XXH64_reset(&st, 0x70726f6667617465ull); /* "profgate": fixed, every replica agrees */
    XXH64_update(&st, job, strlen(job) + 1);
    for (size_t i = 0; fin && i < fin->n; i++) {
        if (!pg_target_is_public(fin->v[i].name))
            continue;
        XXH64_update(&st, fin->v[i].name, strlen(fin->v[i].name) + 1);
        XXH64_update(&st, fin->v[i].value, strlen(fin->v[i].value) + 1);
    }
    return XXH64_digest(&st);
}

void pg_scraper_set_owner(struct pg_scraper *s, pg_scrape_owns_fn fn, void *ud)
{
    s->owns = fn;
    s->owns_ud = ud;
}

void pg_scraper_foreach_target_key(struct pg_scraper *s, pg_scrape_key_fn fn, void *ud)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->n_pools; i++)
        for (size_t j = 0; j < s->pools[i]->n_tkeys; j++)
            fn(ud, s->pools[i]->tkeys[j]);
}
