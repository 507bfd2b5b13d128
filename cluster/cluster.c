/* cluster.c - the cluster runtime: peers discovery, readiness probes, the live set and
 * the metrics (see cluster.h). The member state rules are in members.c. */
#include "cluster/cluster.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/members.h"
#include "cluster/peers.h"
#include "core/clock.h"
#include "core/errmsg.h"
#include "core/httpc.h"
#include "core/log.h"
#include "core/metrics.h"
#include "discovery/manager.h"

/* peers snapshots arrive at most this often (the targets' own coalescing is the app's) */
#define PG_CLUSTER_PEERS_COALESCE_MS 1000
#define PG_CLUSTER_PROBE_MAX_BODY 4096

struct probe {
    struct pg_cluster *c;
    struct pg_cluster_member *p;
    struct pg_httpc_req *req;
};

struct pg_cluster {
    struct event_base *base;
    struct pg_curlm *cm;
    struct pg_cluster_host host;
    const struct pg_cfg_cluster *cfg;
    char *self;
    struct pg_cluster_members members;
    struct pg_sd_manager *sd;
    struct event *timer;
    int64_t interval_ms;
    int self_unlisted;       /* the last snapshot listed peers but not self (warned once) */
    int reported;            /* the peers discovery has reported once */
    int settled;             /* the first peers report and its probes are in (or the deadline) */
    struct event *settle_ev; /* the settling deadline */
    struct pg_metric *m_peers, *m_owned, *m_rebalances;
};

/* The live set changed: count it and let the host re-sync the targets. */
static void live_changed(struct pg_cluster *c, const char *why)
{
    pg_metric_inc(c->m_rebalances, NULL, 1);
    pg_log_info("cluster",
                "live=%zu members=%zu reason=%s msg=\"live peers changed, "
                "re-syncing targets\"",
                c->members.n_live, c->members.n, why);
    if (c->host.on_change)
        c->host.on_change(c->host.ud);
}

/* Ends the settling phase once the first peers report has come and every peer it listed
 * has answered a probe (or force: the deadline): from now on self takes its targets. */
static void settle(struct pg_cluster *c, int force, const char *why)
{
    if (c->settled)
        return;
    if (!force) {
        if (!c->reported)
            return;
        for (size_t i = 0; i < c->members.n; i++)
            if (!c->members.v[i]->self && c->members.v[i]->last_probe_ms == 0)
                return;
    }
    c->settled = 1;
    event_del(c->settle_ev);
    live_changed(c, why);
}

static void on_settle_deadline(evutil_socket_t fd, short what, void *ud)
{
    (void)fd;
    (void)what;
    settle(ud, 1, "settle_deadline");
}

static void on_probe_done(void *ud, const struct pg_httpc_resp *r)
{
    struct probe *pr = ud;
    struct pg_cluster *c = pr->c;
    struct pg_cluster_member *p = pr->p;
    p->probe = NULL;
    free(pr);
    char err[512] = "";
    int ok = !r->failed && r->status == 200;
    if (r->failed)
        snprintf(err, sizeof err, "%s", r->error ? r->error : "probe failed");
    else if (!ok)
        pg_httpc_status_error(r->status, err, sizeof err);
    const char *before = pg_cluster_member_state_name(p);
    int flip = pg_cluster_member_result(p, ok, err, r->duration_s, pg_clock_unix_ms());
    const char *after = pg_cluster_member_state_name(p);
    if (strcmp(before, after) != 0) {
        char safe[512], addr[256];
        pg_log_info("cluster", "peer=\"%s\" state=%s was=%s err=\"%s\" msg=\"peer state changed\"",
                    pg_log_safe(p->address, addr, sizeof addr), after, before,
                    pg_log_safe(err, safe, sizeof safe));
    }
    if (flip && pg_cluster_members_update_live(&c->members) == 1 && c->settled)
        live_changed(c, ok ? "peer_up" : "peer_down");
    settle(c, 0, "settled");
}

/* peers.scheme, http by default. */
static const char *probe_scheme(const struct pg_cfg_cluster *cfg)
{
    return cfg->peers_scheme ? cfg->peers_scheme : "http";
}

static void probe_start(struct pg_cluster *c, struct pg_cluster_member *p)
{
    if (p->self || p->probe)
        return; /* self needs no probe; one probe in flight per peer */
    struct probe *pr = calloc(1, sizeof *pr);
    char url[512];
    const char *prefix = c->host.route_prefix ? c->host.route_prefix : "";
    int plen = (int)strlen(prefix);
    while (plen > 0 && prefix[plen - 1] == '/')
        plen--; /* "/pg/" and "/pg" are the same prefix; "/" is none */
    snprintf(url, sizeof url, "%s://%s%.*s/-/ready", probe_scheme(c->cfg), p->address, plen,
             prefix);
    int64_t timeout = c->interval_ms * 3 / 4;
    struct pg_httpc_opts o = {.url = url,
                              .http = &c->cfg->peers_http,
                              .timeout_ms = timeout > 50 ? timeout : 50,
                              .connect_timeout_ms = timeout > 50 ? timeout : 50,
                              .max_body = PG_CLUSTER_PROBE_MAX_BODY,
                              .fresh_connection = 1,
                              .recv_buffer = PG_HTTPC_RECV_BUFFER_MIN};
    char err[256] = "";
    if (pr) {
        pr->c = c;
        pr->p = p;
        pr->req = pg_httpc_start(c->cm, &o, on_probe_done, pr, err, sizeof err);
    }
    if (!pr || !pr->req) {
        free(pr);
        char addr[256];
        pg_log_warn("cluster", "peer=\"%s\" msg=\"cannot start the readiness probe\" err=\"%s\"",
                    pg_log_safe(p->address, addr, sizeof addr),
                    err[0] ? pg_log_safe(err, err, sizeof err) : "out of memory");
        return;
    }
    p->probe = pr;
}

static void drop_member(void *ud, struct pg_cluster_member *p)
{
    (void)ud;
    struct probe *pr = p->probe;
    if (pr) {
        pg_httpc_cancel(pr->req);
        free(pr);
        p->probe = NULL;
    }
}

static void on_tick(evutil_socket_t fd, short what, void *ud)
{
    (void)fd;
    (void)what;
    struct pg_cluster *c = ud;
    for (size_t i = 0; i < c->members.n; i++)
        probe_start(c, c->members.v[i]);
}

/* A peers snapshot: the new member list; new peers are probed at once. */
static void on_peers(void *ud, const char *job, const struct pg_tgroup *groups, size_t n)
{
    (void)job;
    struct pg_cluster *c = ud;
    char **addrs = NULL;
    size_t na = 0;
    if (pg_cluster_peer_addresses(groups, n, c->cfg->peers_relabel, c->cfg->n_peers_relabel, &addrs,
                                  &na) < 0) {
        pg_log_error("cluster", "msg=\"out of memory reading the peers; keeping the old list\"");
        return;
    }
    int listed = 0;
    for (size_t i = 0; i < na && !listed; i++)
        listed = !strcmp(addrs[i], c->self);
    if (na && !listed && !c->self_unlisted)
        pg_log_warn("cluster",
                    "self=%s peers=%zu msg=\"the peers discovery does not list this replica; "
                    "it still counts itself (check cluster.advertise_address against the "
                    "peers' __address__)\"",
                    c->self, na);
    c->self_unlisted = na && !listed;
    size_t before = c->members.n;
    int rc = pg_cluster_members_set(&c->members, c->self, addrs, na, drop_member, c);
    pg_cluster_peers_free(addrs, na);
    if (rc < 0) {
        pg_log_error("cluster", "msg=\"out of memory updating the peers; keeping the old list\"");
        return;
    }
    if (c->members.n != before)
        pg_log_info("cluster", "members=%zu was=%zu msg=\"peers discovered\"", c->members.n,
                    before);
    for (size_t i = 0; i < c->members.n; i++)
        if (c->members.v[i]->last_probe_ms == 0)
            probe_start(c, c->members.v[i]);
    c->reported = 1;
    if (rc == 1 && c->settled)
        live_changed(c, "peers_changed");
    settle(c, 0, "settled");
}

/* ---- status and metrics ---- */

struct count_ctx {
    const struct pg_cluster *c;
    size_t *counts;
};

static void count_key(void *ud, uint64_t key)
{
    struct count_ctx *x = ud;
    size_t o = pg_cluster_members_owner(&x->c->members, key);
    if (o != (size_t)-1)
        x->counts[o]++;
}

/* Returns a new array of the number of targets each member owns (NULL on OOM). */
static size_t *owned_counts(struct pg_cluster *c)
{
    size_t *counts = calloc(c->members.n + 1, sizeof *counts);
    if (counts && c->host.target_keys) {
        struct count_ctx x = {c, counts};
        c->host.target_keys(c->host.ud, count_key, &x);
    }
    return counts;
}

void pg_cluster_foreach_peer(struct pg_cluster *c,
                             void (*fn)(void *ud, const struct pg_cluster_peer_info *p), void *ud)
{
    size_t *counts = owned_counts(c);
    for (size_t i = 0; i < c->members.n; i++) {
        const struct pg_cluster_member *p = c->members.v[i];
        struct pg_cluster_peer_info in = {.address = p->address,
                                          .state = pg_cluster_member_state_name(p),
                                          .last_error = p->last_error ? p->last_error : "",
                                          .last_probe_ms = p->last_probe_ms,
                                          .last_duration_s = p->last_duration_s,
                                          .owned_targets = counts ? counts[i] : 0,
                                          .self = p->self};
        fn(ud, &in);
    }
    free(counts);
}

static void collect(void *ud)
{
    struct pg_cluster *c = ud;
    double up = 0, down = 0, unknown = 0;
    for (size_t i = 0; i < c->members.n; i++) {
        const char *s = pg_cluster_member_state_name(c->members.v[i]);
        *(s[0] == 'u' && s[1] == 'p' ? &up : s[0] == 'd' ? &down : &unknown) += 1;
    }
    const char *lu[] = {"up"}, *ld[] = {"down"}, *lk[] = {"unknown"};
    pg_metric_set(c->m_peers, lu, up);
    pg_metric_set(c->m_peers, ld, down);
    pg_metric_set(c->m_peers, lk, unknown);
    size_t *counts = owned_counts(c);
    size_t self = pg_cluster_members_self(&c->members);
    if (counts && self != (size_t)-1)
        pg_metric_set(c->m_owned, NULL, (double)counts[self]);
    free(counts);
}

int pg_cluster_owns(void *ud, uint64_t key)
{
    struct pg_cluster *c = ud;
    if (!c->settled)
        return 0; /* until the peers are known: taking everything would duplicate scrapes */
    size_t o = pg_cluster_members_owner(&c->members, key);
    return o == (size_t)-1 || c->members.v[o]->self;
}

const char *pg_cluster_self(const struct pg_cluster *c)
{
    return c->self;
}

/* ---- lifecycle ---- */

/* (Re)arms the probe timer every cfg interval. */
static int arm_timer(struct pg_cluster *c, int64_t interval_ms)
{
    c->interval_ms = interval_ms;
    struct timeval tv = {(time_t)(interval_ms / 1000), (suseconds_t)((interval_ms % 1000) * 1000)};
    return event_add(c->timer, &tv);
}

/* Settling ends at the latest after two probe intervals, even when the peers discovery
 * has not answered (an unreachable API server must not stop this replica scraping). */
static int arm_settle(struct pg_cluster *c)
{
    int64_t ms = 2 * c->interval_ms;
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000)};
    return (c->settle_ev = evtimer_new(c->base, on_settle_deadline, c))
               ? evtimer_add(c->settle_ev, &tv)
               : -1;
}

static struct pg_sd_manager *start_peers(struct pg_cluster *c, const struct pg_cfg_cluster *cfg)
{
    struct pg_sd_manager *m =
        pg_sd_manager_create(c->base, PG_CLUSTER_PEERS_COALESCE_MS, on_peers, c);
    if (m && pg_sd_manager_add(m, PG_CLUSTER_PEERS_JOB, cfg->peers_sd, cfg->n_peers_sd) < 0)
        pg_log_error("cluster", "msg=\"could not start every peers discovery config\"");
    return m;
}

struct pg_cluster *pg_cluster_create(struct event_base *base, struct pg_curlm *cm,
                                     const struct pg_cluster_host *host,
                                     const struct pg_cfg_cluster *cfg, const char *self, char *err,
                                     size_t errlen)
{
    struct pg_cluster *c = calloc(1, sizeof *c);
    if (!c || !(c->self = strdup(self))) {
        free(c);
        pg_errmsg_set(err, errlen, "out of memory");
        return NULL;
    }
    c->base = base;
    c->cm = cm;
    c->host = *host;
    c->cfg = cfg;
    pg_cluster_members_init(&c->members);
    c->m_peers = pg_metric_gauge("profgate_cluster_peers",
                                 "Cluster members by probe state (self counts as up).", "state");
    c->m_owned = pg_metric_gauge("profgate_cluster_owned_targets",
                                 "Targets this replica owns and scrapes.", NULL);
    c->m_rebalances = pg_metric_counter("profgate_cluster_rebalances_total",
                                        "Changes of the live cluster members (each re-syncs "
                                        "the targets).",
                                        NULL);
    if (pg_cluster_members_set(&c->members, self, NULL, 0, NULL, NULL) < 0 ||
        !(c->timer = event_new(base, -1, EV_PERSIST, on_tick, c)) ||
        arm_timer(c, cfg->health_check_interval_ms) < 0 || arm_settle(c) < 0 ||
        !(c->sd = start_peers(c, cfg)) || pg_metrics_add_collector(collect, c) < 0) {
        pg_errmsg_set(err, errlen, "could not start the cluster");
        pg_cluster_destroy(c);
        return NULL;
    }
    pg_log_info("cluster",
                "self=%s health_check_interval_ms=%lld scheme=%s msg=\"cluster started\"", self,
                (long long)cfg->health_check_interval_ms, probe_scheme(cfg));
    return c;
}

int pg_cluster_reconfigure(struct pg_cluster *c, const struct pg_cfg_cluster *cfg, const char *self,
                           char *err, size_t errlen)
{
    struct pg_sd_manager *m = start_peers(c, cfg);
    char *ns = strdup(self);
    if (!m || !ns) {
        pg_sd_manager_destroy(m);
        free(ns);
        pg_errmsg_set(err, errlen, "out of memory restarting the peers discovery");
        return -1;
    }
    pg_sd_manager_adopt(m, c->sd); /* peers not reported yet stay members meanwhile */
    pg_sd_manager_destroy(c->sd);
    c->sd = m;
    c->cfg = cfg;
    if (strcmp(ns, c->self) != 0) {
        /* a new identity: self changes in the list now, the peers at the next snapshot */
        free(c->self);
        c->self = ns;
        char **keep = calloc(c->members.n + 1, sizeof *keep);
        size_t nk = 0;
        for (size_t i = 0; keep && i < c->members.n; i++)
            if (!c->members.v[i]->self)
                keep[nk++] = c->members.v[i]->address;
        if (keep && pg_cluster_members_set(&c->members, c->self, keep, nk, drop_member, c) == 1)
            live_changed(c, "self_changed");
        free(keep);
    } else {
        free(ns);
    }
    if (cfg->health_check_interval_ms != c->interval_ms)
        arm_timer(c, cfg->health_check_interval_ms);
    return 0;
}

void pg_cluster_destroy(struct pg_cluster *c)
{
    if (!c)
        return;
    pg_metrics_remove_collector(collect, c);
    if (c->m_owned) {
        pg_metric_clear(c->m_peers);
        pg_metric_clear(c->m_owned);
    }
    pg_sd_manager_destroy(c->sd);
    if (c->timer)
        event_free(c->timer);
    if (c->settle_ev)
        event_free(c->settle_ev);
    pg_cluster_members_reset(&c->members, drop_member, c);
    free(c->self);
    free(c);
}
