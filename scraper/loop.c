/* loop.c - one scrape loop: schedule, fetch, hand the body to the workers, then the sink.
 *
 * A loop scrapes its URL at a stable offset inside its interval (key % interval from the
 * interval-aligned unix epoch), then every interval. The timer is a single libevent event
 * re-armed for the next absolute due time (unix ms), so lateness never accumulates; a tick
 * that finds the previous scrape still in flight (fetching or processing) is skipped
 * (profgate_scrapes_skipped_total{reason="previous_running"}), and so is a tick that finds
 * the processing queue full (reason="overloaded": profgate is busy, the target is not
 * marked down). A finished request's status is checked here; a 2xx body becomes a job
 * (scraper/work.h) run on the worker pool: pprof check, delta for cumulative types (the
 * first one only primes), encode. Its completion (job_done, loop thread) sets health and
 * hands the profile to the pool's sink. See loop.h for what a loop keeps. */
#include "scraper/loop.h"

#include <event2/event.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#define XXH_STATIC_LINKING_ONLY /* XXH3_state_t on the stack */
#include <xxhash.h>

#include "core/clock.h"
#include "core/httpc.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/workq.h"
#include "profile/fastdelta.h"

#define DEFAULT_BODY_LIMIT ((size_t)64 << 20)

/* ---- discovered labels shared by the loops of one target ---- */

struct pg_scrape_disc *pg_scrape_disc_new(struct pg_labels *ls)
{
    struct pg_scrape_disc *d = calloc(1, sizeof(*d));
    if (d == NULL)
        return NULL;
    d->refs = 1;
    d->labels = *ls;
    pg_labels_init(ls);
    return d;
}

struct pg_scrape_disc *pg_scrape_disc_ref(struct pg_scrape_disc *d)
{
    d->refs++;
    return d;
}

void pg_scrape_disc_unref(struct pg_scrape_disc *d)
{
    if (d == NULL || --d->refs > 0)
        return;
    pg_labels_reset(&d->labels);
    free(d);
}

/* ---- key and schedule ---- */

/* The key is XXH3 over its parts. Strings carry a presence tag and their NUL, so that
 * NULL, "" and concatenations stay distinct. */
static void h_str(XXH3_state_t *st, const char *s)
{
    unsigned char tag = s ? 1 : 0;
    XXH3_64bits_update(st, &tag, 1);
    if (s)
        XXH3_64bits_update(st, s, strlen(s) + 1);
}

static void h_u64(XXH3_state_t *st, uint64_t v)
{
    unsigned char b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)(v >> (8 * i));
    XXH3_64bits_update(st, b, sizeof b);
}

uint64_t pg_scrape_loop_key(const struct pg_labels *series, const char *url, int64_t interval_ms,
                            int64_t timeout_ms, const char *type, enum pg_scrape_delta_kind kind,
                            const struct pg_cfg_scrape *job)
{
    XXH3_state_t st;
    XXH3_INITSTATE(&st);
    XXH3_64bits_reset(&st);
    h_u64(&st, pg_labels_hash(series));
    h_str(&st, url);
    h_u64(&st, (uint64_t)interval_ms);
    h_u64(&st, (uint64_t)timeout_ms);
    h_str(&st, type);
    h_u64(&st, (uint64_t)kind);
    h_u64(&st, job->body_size_limit);
    h_u64(&st, pg_httpc_cfg_hash(&job->http));
    return XXH3_64bits_digest(&st);
}

int64_t pg_scrape_loop_offset(uint64_t key, int64_t interval_ms)
{
    if (interval_ms <= 0)
        return 0;
    return (int64_t)(key % (uint64_t)interval_ms);
}

int64_t pg_scrape_loop_first_due(uint64_t key, int64_t interval_ms, int64_t now_ms)
{
    if (interval_ms <= 0)
        return now_ms;
    int64_t off = pg_scrape_loop_offset(key, interval_ms);
    int64_t base = now_ms - (now_ms % interval_ms); /* now_ms >= 0 (unix time) */
    int64_t t = base + off;
    if (t < now_ms)
        t += interval_ms;
    return t;
}

enum pg_scrape_delta_kind pg_scrape_loop_delta_kind(const struct pg_cfg_profile *p)
{
    if (!p->delta)
        return PG_SCRAPE_DELTA_NONE;
    const char *n = p->name ? p->name : "";
    const char *s = p->sent_name ? p->sent_name : n;
    if (!strcmp(n, "memory") || (!strcmp(s, "memory") && strncmp(n, "godeltaprof_", 12) != 0))
        return PG_SCRAPE_DELTA_ALLOC;
    if (!strcmp(n, "block") || !strcmp(n, "mutex"))
        return PG_SCRAPE_DELTA_CONTENTION;
    return PG_SCRAPE_DELTA_ALL;
}

/* ---- lifecycle ---- */

static void on_timer(evutil_socket_t fd, short what, void *arg);

struct pg_scrape_loop *pg_scrape_loop_new(const struct pg_scrape_pool_ref *pool, uint64_t key,
                                          const char *type, enum pg_scrape_delta_kind kind,
                                          char **url, struct pg_labels *series,
                                          struct pg_scrape_disc *disc, int64_t interval_ms,
                                          int64_t timeout_ms)
{
    struct pg_scrape_loop *l = calloc(1, sizeof(*l));
    if (l == NULL)
        return NULL;
    l->pool = pool;
    l->key = key;
    l->type = strdup(type);
    l->timer = evtimer_new(pool->base, on_timer, l);
    if (kind != PG_SCRAPE_DELTA_NONE)
        l->delta = pg_fastdelta_new();
    if (l->type == NULL || l->timer == NULL || (kind != PG_SCRAPE_DELTA_NONE && !l->delta)) {
        free(l->type);
        if (l->timer)
            event_free(l->timer);
        pg_fastdelta_free(l->delta);
        free(l);
        return NULL;
    }
    l->delta_kind = kind;
    l->url = *url;
    *url = NULL;
    l->labels = *series;
    pg_labels_init(series);
    l->disc = pg_scrape_disc_ref(disc);
    l->interval_ms = interval_ms;
    l->timeout_ms = timeout_ms;
    l->health = PG_SCRAPE_UNKNOWN;
    return l;
}

int pg_scrape_loop_set_sent(struct pg_scrape_loop *l, struct pg_labels *sent, int discard)
{
    if (sent != NULL && sent->n > 0 && !pg_labels_equal(sent, &l->labels)) {
        struct pg_labels *s = malloc(sizeof(*s));
        if (s == NULL)
            return -1;
        *s = *sent;
        pg_labels_init(sent);
        if (l->sent) {
            pg_labels_reset(l->sent);
            free(l->sent);
        }
        l->sent = s;
    }
    l->discard = discard;
    return 0;
}

static int arm(struct pg_scrape_loop *l)
{
    int64_t delay_ns = l->due_ms * 1000000 - pg_clock_unix_ns();
    if (delay_ns < 0)
        delay_ns = 0;
    struct timeval tv = {.tv_sec = (time_t)(delay_ns / 1000000000),
                         .tv_usec = (suseconds_t)((delay_ns % 1000000000) / 1000)};
    return evtimer_add(l->timer, &tv);
}

int pg_scrape_loop_start(struct pg_scrape_loop *l)
{
    l->due_ms = pg_scrape_loop_first_due(l->key, l->interval_ms, pg_clock_unix_ns() / 1000000);
    return arm(l);
}

void pg_scrape_loop_stop(struct pg_scrape_loop *l)
{
    if (l->req) {
        pg_httpc_cancel(l->req);
        l->req = NULL;
    }
    if (l->timer)
        evtimer_del(l->timer);
    if (l->job) { /* its completion frees it (and the delta baseline it carries) */
        l->job->loop = NULL;
        l->job = NULL;
    }
}

void pg_scrape_loop_set_disc(struct pg_scrape_loop *l, struct pg_scrape_disc *disc)
{
    if (l->disc == disc)
        return;
    pg_scrape_disc_ref(disc);
    pg_scrape_disc_unref(l->disc);
    l->disc = disc;
}

/* Drops the loop's kept profile, giving its bytes back to the budget. */
static void drop_last(struct pg_scrape_loop *l)
{
    if (l->last_body && l->pool->keep)
        l->pool->keep->used -= l->last_len;
    free(l->last_body);
    l->last_body = NULL;
    l->last_len = 0;
}

void pg_scrape_loop_free(struct pg_scrape_loop *l)
{
    if (l == NULL)
        return;
    pg_scrape_loop_stop(l);
    if (l->timer)
        event_free(l->timer);
    pg_fastdelta_free(l->delta);
    pg_scrape_disc_unref(l->disc);
    pg_labels_reset(&l->labels);
    if (l->sent) {
        pg_labels_reset(l->sent);
        free(l->sent);
    }
    free(l->url);
    free(l->type);
    free(l->last_error);
    free(l->forced_error);
    drop_last(l);
    free(l);
}

int pg_scrape_loop_info(const struct pg_scrape_loop *l, struct pg_scrape_target_info *t,
                        struct pg_labels *info_labels)
{
    if (pg_labels_copy(info_labels, &l->labels) != 0)
        return -1;
    pg_labels_del(info_labels, "__delta__");
    static const char *const health[] = {"unknown", "up", "down"};
    t->job = l->pool->name;
    t->profile_type = l->type;
    t->discovered = &l->disc->labels;
    t->labels = info_labels;
    t->url = l->url;
    t->health = health[l->health];
    t->last_error = l->last_error ? l->last_error : "";
    t->last_scrape_ms = l->last_scrape_ms;
    t->last_duration_s = l->last_duration_s;
    t->interval_ms = l->interval_ms;
    t->timeout_ms = l->timeout_ms;
    t->last_body = l->last_body;
    t->last_body_len = l->last_len;
    t->last_body_ms = l->last_body_ms;
    t->last_not_kept = l->last_not_kept;
    t->body_size_limit = l->pool->job->body_size_limit;
    return 0;
}

/* ---- one scrape ---- */

static size_t body_limit(const struct pg_scrape_loop *l)
{
    uint64_t lim = l->pool->job->body_size_limit;
    if (lim == 0)
        return DEFAULT_BODY_LIMIT;
    return lim > SIZE_MAX ? SIZE_MAX : (size_t)lim;
}

static void set_down(struct pg_scrape_loop *l, const char *err)
{
    const char *lv[] = {l->pool->name, l->type};
    pg_metric_inc(l->pool->metrics->failures, lv, 1);
    if (l->health != PG_SCRAPE_DOWN)
        pg_log_warn("scraper", "job=%s type=%s url=%s msg=\"target down\" err=\"%s\"",
                    l->pool->name, l->type, l->url, err);
    else
        pg_log_debug("scraper", "job=%s type=%s url=%s msg=\"scrape failed\" err=\"%s\"",
                     l->pool->name, l->type, l->url, err);
    l->health = PG_SCRAPE_DOWN;
    char *e = strdup(err);
    if (e != NULL) { /* on OOM the previous error stays */
        free(l->last_error);
        l->last_error = e;
    }
}

static void set_up(struct pg_scrape_loop *l)
{
    if (l->health == PG_SCRAPE_DOWN)
        pg_log_info("scraper", "job=%s type=%s url=%s msg=\"target up\"", l->pool->name, l->type,
                    l->url);
    l->health = PG_SCRAPE_UP;
    free(l->last_error);
    l->last_error = NULL;
}

static void hand_to_sink(struct pg_scrape_loop *l, const uint8_t *body, size_t len, int64_t from_ns,
                         int64_t until_ns)
{
    const struct pg_scrape_pool_ref *p = l->pool;
    if (l->discard) {
        const char *jv[] = {p->name};
        pg_metric_inc(p->metrics->relabel_dropped, jv, 1);
        return;
    }
    const char *lv[] = {p->name, l->type};
    const struct pg_labels *ls = l->sent ? l->sent : &l->labels;
    struct pg_scrape_profile prof = {
        .job = p->name,
        .labels = ls,
        .name = pg_labels_get(ls, "__name__"),
        .from_ns = from_ns,
        .until_ns = until_ns,
        .body = body,
        .len = len,
    };
    if (prof.name == NULL)
        prof.name = l->type;
    pg_metric_inc(p->metrics->profiles, lv, 1);
    if (p->sink)
        p->sink(p->sink_ud, &prof);
}

/* Keeps *body (len bytes, moved out of the job: *body becomes NULL) as the loop's last
 * profile when the scraper's budget has room for it, else drops the previous one too. */
static void keep_last(struct pg_scrape_loop *l, uint8_t **body, size_t len)
{
    struct pg_scrape_keep *k = l->pool->keep;
    drop_last(l);
    l->last_not_kept = 0;
    if (!k || !*body)
        return;
    if (k->used > k->max || len > k->max - k->used) {
        l->last_not_kept = 1;
        return;
    }
    l->last_body = *body;
    l->last_len = len;
    l->last_body_ms = l->last_scrape_ms;
    k->used += len;
    *body = NULL;
}

/* Counts a skipped scrape; reason "overloaded" is also logged, at most once per 10 s with
 * the number of skips since the last line. */
static void count_skip(struct pg_scrape_loop *l, const char *reason)
{
    const char *lv[] = {l->pool->name, l->type, reason};
    pg_metric_inc(l->pool->metrics->skipped, lv, 1);
    struct pg_scrape_shed *sh = l->pool->shed;
    if (strcmp(reason, "overloaded") != 0 || sh == NULL)
        return;
    sh->unlogged++;
    int64_t now_s = pg_clock_unix_ns() / 1000000000;
    if (sh->last_log_s != 0 && now_s - sh->last_log_s < 10)
        return;
    pg_log_warn("scraper",
                "skipped=%" PRIu64 " queue_size=%zu msg=\"processing workers are busy: "
                "skipping scrapes (profgate is overloaded, not the targets)\"",
                sh->unlogged, l->pool->wq ? pg_workq_capacity(l->pool->wq) : (size_t)0);
    sh->unlogged = 0;
    sh->last_log_s = now_s;
}

/* Completion of a processing job, on the loop thread: the loop takes its delta state
 * back, then health, metrics and the sink are updated. An orphaned job is only freed. */
static void job_done(void *arg, enum pg_workq_status st)
{
    struct pg_scrape_job *j = arg;
    struct pg_scrape_loop *l = j->loop;
    if (l == NULL) {
        pg_scrape_job_free(j);
        return;
    }
    l->job = NULL;
    l->delta = j->delta;
    j->delta = NULL;
    if (st != PG_WORKQ_DONE) { /* never processed: shed (baseline unchanged) */
        if (st == PG_WORKQ_EVICTED) {
            l->shed_streak++;
            count_skip(l, "overloaded");
        }
        pg_scrape_job_free(j);
        return;
    }
    l->shed_streak = 0;
    l->base_start_ns = j->base_start_ns;
    if (j->rc != 0) {
        set_down(l, j->err);
    } else {
        set_up(l);
        if (j->reset) {
            const char *lv[] = {l->pool->name, l->type};
            pg_metric_inc(l->pool->metrics->resets, lv, 1);
            pg_log_info("scraper",
                        "job=%s type=%s url=%s msg=\"cumulative values went down (target "
                        "restarted?): delta baseline restarted\"",
                        l->pool->name, l->type, l->url);
        } else if (j->primed)
            pg_log_debug("scraper", "job=%s type=%s url=%s msg=\"delta primed\"", l->pool->name,
                         l->type, l->url);
        else {
            hand_to_sink(l, j->out, j->out_len, j->from_ns, j->until_ns);
            keep_last(l, &j->out, j->out_len);
        }
    }
    pg_scrape_job_free(j);
}

static void job_work(void *arg)
{
    pg_scrape_work(arg);
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* Builds the processing job for a 2xx response (copying the body once: core/httpc frees
 * its buffer after the callback). Returns NULL on OOM. */
static struct pg_scrape_job *make_job(struct pg_scrape_loop *l, const struct pg_httpc_resp *resp,
                                      int64_t end_ns)
{
    struct pg_scrape_job *j = calloc(1, sizeof(*j));
    if (j == NULL)
        return NULL;
    j->body = malloc(resp->len ? resp->len : 1);
    j->content_type = dup_or_null(resp->content_type);
    j->content_encoding = dup_or_null(resp->content_encoding);
    if (j->body == NULL || (resp->content_type && !j->content_type) ||
        (resp->content_encoding && !j->content_encoding)) {
        pg_scrape_job_free(j);
        return NULL;
    }
    memcpy(j->body, resp->body, resp->len);
    j->len = resp->len;
    j->limit = body_limit(l);
    j->delta_kind = l->delta_kind;
    j->start_ns = l->start_ns;
    j->end_ns = end_ns;
    j->base_start_ns = l->base_start_ns;
    j->loop = l;
    return j;
}

/* Hands a 2xx response to the workers (or processes it here without a pool). */
static void dispatch(struct pg_scrape_loop *l, const struct pg_httpc_resp *resp, int64_t end_ns)
{
    struct pg_scrape_job *j = make_job(l, resp, end_ns);
    if (j == NULL) {
        set_down(l, "out of memory");
        return;
    }
    j->delta = l->delta; /* moves into the job, comes back in job_done */
    l->delta = NULL;
    l->job = j;
    if (l->pool->wq == NULL) {
        pg_scrape_work(j);
        job_done(j, PG_WORKQ_DONE);
        return;
    }
    if (pg_workq_submit_prio(l->pool->wq, job_work, job_done, j, l->shed_streak) != 0) {
        /* shed: health unchanged, the baseline (and its start) stay, so the next delta
         * covers from the baseline's scrape to the next one */
        l->delta = j->delta;
        j->delta = NULL;
        l->job = NULL;
        pg_scrape_job_free(j);
        l->shed_streak++;
        count_skip(l, "overloaded");
    }
}

static void on_done(void *ud, const struct pg_httpc_resp *resp)
{
    struct pg_scrape_loop *l = ud;
    l->req = NULL;
    int64_t end_ns = pg_clock_unix_ns();
    const char *lv[] = {l->pool->name, l->type};
    const struct pg_scrape_metrics *m = l->pool->metrics;
    double dur = resp->duration_s > 0 ? resp->duration_s : (double)(end_ns - l->start_ns) / 1e9;
    l->n_scrapes++;
    l->last_scrape_ms = l->start_ns / 1000000;
    l->last_duration_s = dur;
    pg_metric_inc(m->scrapes, lv, 1);
    pg_metric_inc(m->bytes, lv, (double)resp->len);
    pg_metric_observe(m->duration, lv, dur);
    if (resp->failed) {
        set_down(l, resp->error ? resp->error : "request failed");
        return;
    }
    if (resp->status < 200 || resp->status > 299) {
        char err[256];
        pg_httpc_status_error(resp->status, err, sizeof err);
        set_down(l, err);
        return;
    }
    dispatch(l, resp, end_ns);
}

static void start_scrape(struct pg_scrape_loop *l, int64_t start_ns)
{
    const struct pg_cfg_scrape *job = l->pool->job;
    struct pg_httpc_opts o;
    memset(&o, 0, sizeof o);
    o.method = "GET";
    o.url = l->url;
    o.http = &job->http;
    o.timeout_ms = l->timeout_ms;
    o.max_body = body_limit(l);
    o.accept_gzip = 1;
    /* One connection and one name resolution per scrape, nothing cached between scrapes
     * (as Prometheus's Go client resolves per connection). A scrape every interval gains
     * little from keep-alive or a DNS cache, while both grow with the number of targets:
     * a cached connection per target costs a descriptor and goes stale when the target's
     * idle timeout is shorter than the interval, and libcurl prunes its DNS cache (one
     * entry per host:port) by walking all of it on every request. With 10k targets x 2
     * types every 10 s that walk alone took a whole core; without the caches the same
     * load costs ~27% of one (docs/performance.md). */
    o.fresh_connection = 1;
    /* a profile fetched with seconds= (CPU) is held open that long by the target: with
     * thousands in flight, curl's receive buffer is most of their memory */
    if (strstr(l->url, "?seconds=") || strstr(l->url, "&seconds="))
        o.recv_buffer = PG_HTTPC_RECV_BUFFER_MIN;
    char err[256] = "";
    l->start_ns = start_ns;
    l->req = pg_httpc_start(l->pool->cm, &o, on_done, l, err, sizeof err);
    if (l->req == NULL) {
        const char *lv[] = {l->pool->name, l->type};
        l->n_scrapes++;
        l->last_scrape_ms = start_ns / 1000000;
        l->last_duration_s = 0;
        pg_metric_inc(l->pool->metrics->scrapes, lv, 1);
        set_down(l, err[0] ? err : "cannot start the request");
    }
}

int pg_scrape_loop_set_forced_error(struct pg_scrape_loop *l, const char *err)
{
    char *e = NULL;
    if (err != NULL && (e = strdup(err)) == NULL)
        return -1;
    free(l->forced_error);
    l->forced_error = e;
    return 0;
}

/* A due scrape of a loop with a forced error: not fetched, counted as failed. */
static void forced_fail(struct pg_scrape_loop *l, int64_t start_ns)
{
    const char *lv[] = {l->pool->name, l->type};
    l->n_scrapes++;
    l->last_scrape_ms = start_ns / 1000000;
    l->last_duration_s = 0;
    pg_metric_inc(l->pool->metrics->scrapes, lv, 1);
    set_down(l, l->forced_error);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct pg_scrape_loop *l = arg;
    int64_t t = pg_clock_unix_ns();
    int64_t sched_ms = l->due_ms;

    /* next due time: one interval on, or the next slot after now if we fell far behind */
    int64_t next = sched_ms + l->interval_ms;
    if (next * 1000000 <= t)
        next = pg_scrape_loop_first_due(l->key, l->interval_ms, t / 1000000 + 1);
    l->due_ms = next;
    if (arm(l) != 0)
        pg_log_error("scraper", "job=%s type=%s url=%s msg=\"cannot arm the scrape timer\"",
                     l->pool->name, l->type, l->url);

    if (l->forced_error != NULL) {
        forced_fail(l, t);
        return;
    }
    if (l->req != NULL || l->job != NULL) {
        pg_log_debug("scraper",
                     "job=%s type=%s url=%s msg=\"previous scrape still running, "
                     "skipping this one\"",
                     l->pool->name, l->type, l->url);
        count_skip(l, "previous_running");
        return;
    }
    /* do not fetch what the workers could not take: shed before the request. The shed
     * streak is the job's priority, so a loop shed again and again takes the place of a
     * waiting job of a loop shed less (stable offsets would otherwise starve the same
     * loops every interval). */
    struct pg_workq *wq = l->pool->wq;
    if (wq != NULL && !pg_workq_would_accept(wq, l->shed_streak)) {
        l->shed_streak++;
        count_skip(l, "overloaded");
        return;
    }
    double late = (double)(t - sched_ms * 1000000) / 1e9;
    pg_metric_observe(l->pool->metrics->lateness, NULL, late > 0 ? late : 0);
    start_scrape(l, t);
}
