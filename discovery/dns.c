/* dns.c - the "dns" discovery mechanism (Prometheus dns_sd_configs).
 *
 * Config (Prometheus's discovery/dns SDConfig): names (required), type (SRV, A, AAAA or
 * MX, case-insensitive, default SRV), port (required for A, AAAA and MX; SRV records carry
 * their own), refresh_interval (default 30s).
 *
 * Every refresh_interval (and at start) every name is looked up, all at once, on the
 * event loop: nothing blocks. The resolver is the one Prometheus uses (miekg/dns with
 * /etc/resolv.conf, read again at every refresh): the name is tried as is and with each
 * search domain in resolv.conf's order (ndots decides which comes first; a name ending in
 * '.' is tried as is only); each candidate is asked of every nameserver in turn (over UDP
 * with EDNS0 and a 4096-byte buffer, over TCP when the answer is truncated), one attempt
 * each and a 2 s timeout unless resolv.conf's `options timeout:N attempts:N` say
 * otherwise. The first NOERROR answer wins, even an empty one; when every candidate got
 * NXDOMAIN the name has no targets (its group is emitted empty); when some candidate got
 * no usable answer from any server (timeout, SERVFAIL, REFUSED, malformed) the lookup
 * failed: it is logged once per failing streak, counted in
 * profgate_sd_refresh_failures_total{mechanism="dns"}, and the name keeps its previous
 * targets. A round's groups are emitted together once every name finished.
 *
 * One group per name (source = the name as configured); one target per answer record:
 * SRV: __address__ = target:port, __meta_dns_srv_record_target (the target with its final
 * dot) and __meta_dns_srv_record_port; MX: __address__ = exchange:port,
 * __meta_dns_mx_record_target; A/AAAA: __address__ = address:port (IPv6 in brackets, an
 * IPv4-mapped address as IPv4, as Go prints it). Every target has __meta_dns_name; CNAME
 * records in the answer are skipped, other types logged and skipped. Empty meta labels
 * are left out (Prometheus's empty label is an absent one).
 *
 * The environment variable PROFGATE_DNS_RESOLV_CONF names another resolv.conf (for
 * tests). As a profgate extension (libevent's syntax; glibc and Go have none), a
 * nameserver may carry a port: 127.0.0.1:5353, [::1]:5353. */
#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/util.h>
#include <netinet/in.h>
#include <resolv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "yamlcfg/load.h"
#include "core/clock.h"
#include "core/errmsg.h"
#include "core/log.h"
#include "discovery/dns_internal.h"
#include "discovery/sd.h"

#define DNS_MECHANISM "dns"
#define DNS_RESOLV_CONF "/etc/resolv.conf"
#define DNS_MAX_SERVERS 8
#define DNS_MAX_SEARCH 8
#define DNS_NAME_LEN 256    /* a name in presentation form, with the NUL */
#define DNS_UDP_SIZE 4096   /* EDNS0 buffer size, as miekg's dns.DefaultMsgSize */
#define DNS_TIMEOUT_MS 2000 /* per query, as miekg's client */
#define DNS_T_A 1
#define DNS_T_CNAME 5
#define DNS_T_MX 15
#define DNS_T_AAAA 28
#define DNS_T_SRV 33
#define DNS_T_OPT 41
#define DNS_RCODE_NXDOMAIN 3

/* ---- config --------------------------------------------------------------------------- */

/* One dns_sd_configs entry. */
struct pg_cfg_dns_sd {
    char **names;
    size_t n_names;
    uint16_t qtype;     /* DNS_T_SRV (default), _A, _AAAA or _MX */
    char type[8];       /* "SRV", ... for logs */
    uint64_t port;      /* for A, AAAA and MX */
    int64_t refresh_ms; /* default 30s */
};

static void pg_sd_dns_config_free(void *cfg)
{
    struct pg_cfg_dns_sd *c = cfg;
    if (!c)
        return;
    pg_cfg_strv_free(c->names, c->n_names);
    free(c);
}

/* type of entry g into c. */
static void pg_sd_dns_config_type(struct pg_cfg_ld *l, yaml_node_t *g, struct pg_cfg_dns_sd *c)
{
    static const struct {
        const char *name;
        uint16_t qtype;
    } types[] = {{"SRV", DNS_T_SRV}, {"A", DNS_T_A}, {"AAAA", DNS_T_AAAA}, {"MX", DNS_T_MX}};
    char *t = NULL;
    if (pg_cfg_get_str(l, g, "type", 1, &t) < 0 || !t)
        return;
    size_t i = 0;
    while (i < sizeof(types) / sizeof(types[0]) && strcasecmp(t, types[i].name))
        i++;
    if (i < sizeof(types) / sizeof(types[0])) {
        c->qtype = types[i].qtype;
        snprintf(c->type, sizeof(c->type), "%s", types[i].name);
    } else {
        pg_yaml_error(l->y, pg_cfg_key_node(l, g, "type"), l->errs,
                      "invalid DNS-SD records type %s", t);
    }
    free(t);
}

/* Loads one dns_sd_configs entry (Prometheus discovery/dns: SDConfig.UnmarshalYAML). */
static void *pg_sd_dns_config_load(struct pg_cfg_ld *l, yaml_node_t *g)
{
    static const char *const k[] = {"names", "type", "port", "refresh_interval", NULL};
    struct pg_cfg_dns_sd *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->qtype = DNS_T_SRV;
    snprintf(c->type, sizeof(c->type), "SRV");
    c->refresh_ms = 30 * 1000;
    if (pg_yaml_check_keys(l->y, g, k, "dns.SDConfig", l->errs) < 0)
        return c;
    pg_cfg_get_strv(l, g, "names", 1, &c->names, &c->n_names);
    pg_sd_dns_config_type(l, g, c);
    pg_cfg_get_uint(l, g, "port", &c->port);
    pg_cfg_get_dur(l, g, "refresh_interval", &c->refresh_ms);
    if (c->n_names == 0)
        pg_yaml_error(l->y, g, l->errs, "DNS-SD config must contain at least one SRV record name");
    if (c->qtype != DNS_T_SRV && c->port == 0)
        pg_yaml_error(l->y, pg_cfg_key_node(l, g, "port"), l->errs,
                      "a port is required in DNS-SD configs for all record types except SRV");
    if (c->port > 65535)
        pg_yaml_error(l->y, pg_cfg_key_node(l, g, "port"), l->errs,
                      "port must be between 1 and 65535");
    pg_cfg_check_refresh(l, g, c->refresh_ms);
    return c;
}

/* ---- resolv.conf ---------------------------------------------------------------------- */

struct dns_resolv {
    struct sockaddr_storage servers[DNS_MAX_SERVERS];
    socklen_t server_len[DNS_MAX_SERVERS];
    size_t n_servers;
    char search[DNS_MAX_SEARCH][DNS_NAME_LEN];
    size_t n_search;
    int ndots, timeout_ms, attempts;
};

/* Parses a nameserver address (with an optional :port or [v6]:port) into slot i of rc.
 * Returns 0, or -1 when it is not an IP address. */
static int dns_resolv_server(struct dns_resolv *rc, const char *addr)
{
    struct sockaddr_storage *ss = &rc->servers[rc->n_servers];
    int len = (int)sizeof(*ss);
    memset(ss, 0, sizeof(*ss));
    if (evutil_parse_sockaddr_port(addr, (struct sockaddr *)ss, &len) < 0)
        return -1;
    if (ss->ss_family == AF_INET && ((struct sockaddr_in *)ss)->sin_port == 0)
        ((struct sockaddr_in *)ss)->sin_port = htons(53);
    if (ss->ss_family == AF_INET6 && ((struct sockaddr_in6 *)ss)->sin6_port == 0)
        ((struct sockaddr_in6 *)ss)->sin6_port = htons(53);
    rc->server_len[rc->n_servers++] = (socklen_t)len;
    return 0;
}

/* One "options" word: ndots:N, timeout:N, attempts:N (others are ignored, as glibc). */
static void dns_resolv_option(struct dns_resolv *rc, const char *w)
{
    int v;
    if (sscanf(w, "ndots:%d", &v) == 1 && v >= 0)
        rc->ndots = v > 15 ? 15 : v;
    else if (sscanf(w, "timeout:%d", &v) == 1 && v >= 1)
        rc->timeout_ms = (v > 30 ? 30 : v) * 1000;
    else if (sscanf(w, "attempts:%d", &v) == 1 && v >= 1)
        rc->attempts = v > 5 ? 5 : v;
}

/* One line of resolv.conf (comments removed). */
static void dns_resolv_line(struct dns_resolv *rc, char *line)
{
    char *save = NULL, *key = strtok_r(line, " \t\r\n", &save), *w;
    if (!key)
        return;
    if (!strcmp(key, "nameserver")) {
        w = strtok_r(NULL, " \t\r\n", &save);
        if (w && rc->n_servers < DNS_MAX_SERVERS && dns_resolv_server(rc, w) < 0)
            pg_log_warn("sd.dns", "msg=\"resolv.conf: not an IP address, ignored\" nameserver=%s",
                        w);
    } else if (!strcmp(key, "search") || !strcmp(key, "domain")) {
        rc->n_search = 0; /* the last search or domain line wins, as glibc */
        while ((w = strtok_r(NULL, " \t\r\n", &save)) && rc->n_search < DNS_MAX_SEARCH)
            if (strlen(w) < DNS_NAME_LEN - 1 && strcmp(w, "."))
                snprintf(rc->search[rc->n_search++], DNS_NAME_LEN, "%s", w);
    } else if (!strcmp(key, "options")) {
        while ((w = strtok_r(NULL, " \t\r\n", &save)))
            dns_resolv_option(rc, w);
    }
}

/* Reads resolv.conf (PROFGATE_DNS_RESOLV_CONF or /etc/resolv.conf) into rc. Returns 0, or
 * -1 with a reason in err. */
static int dns_resolv_load(struct dns_resolv *rc, char *err, size_t errlen)
{
    const char *path = getenv("PROFGATE_DNS_RESOLV_CONF");
    if (!path || !*path)
        path = DNS_RESOLV_CONF;
    memset(rc, 0, sizeof(*rc));
    rc->ndots = 1;
    rc->timeout_ms = DNS_TIMEOUT_MS;
    rc->attempts = 1;
    FILE *f = fopen(path, "r");
    if (!f) {
        pg_errmsg_set(err, errlen, "could not load %s: %s", path, strerror(errno));
        return -1;
    }
    char line[1024];
    while (fgets(line, sizeof(line), f)) {
        line[strcspn(line, "#;")] = '\0';
        dns_resolv_line(rc, line);
    }
    fclose(f);
    if (rc->n_servers == 0) {
        pg_errmsg_set(err, errlen, "no nameserver in %s", path);
        return -1;
    }
    return 0;
}

/* ---- messages ------------------------------------------------------------------------- */

/* Appends name (presentation form, with or without the final dot) in wire form to out at
 * *off. Returns 0, or -1 when a label is empty or longer than 63, or the name too long. */
static int dns_put_name(unsigned char *out, size_t cap, size_t *off, const char *name)
{
    size_t start = *off;
    const char *p = name;
    while (*p) {
        size_t n = strcspn(p, ".");
        if (n == 0 || n > 63 || *off + 1 + n + 1 > cap)
            return -1;
        out[(*off)++] = (unsigned char)n;
        memcpy(out + *off, p, n);
        *off += n;
        p += n;
        if (*p == '.')
            p++;
    }
    if (*off - start + 1 > 255)
        return -1;
    out[(*off)++] = 0;
    return 0;
}

static void dns_put16(unsigned char *p, unsigned v)
{
    p[0] = (unsigned char)(v >> 8);
    p[1] = (unsigned char)v;
}

static unsigned dns_get16(const unsigned char *p)
{
    return (unsigned)p[0] << 8 | p[1];
}

/* Builds a recursive query for name/qtype with id into out (at least 300 bytes), with an
 * EDNS0 OPT record when edns. Returns its length, or 0 when name is not a valid name. */
static size_t dns_build_query(unsigned char *out, size_t cap, uint16_t id, const char *name,
                              uint16_t qtype, int edns)
{
    size_t off = 12;
    memset(out, 0, 12);
    dns_put16(out, id);
    out[2] = 0x01;         /* RD */
    dns_put16(out + 4, 1); /* QDCOUNT */
    dns_put16(out + 10, edns ? 1 : 0);
    if (dns_put_name(out, cap, &off, name) < 0 || off + 4 + (edns ? 11 : 0) > cap)
        return 0;
    dns_put16(out + off, qtype);
    dns_put16(out + off + 2, 1); /* IN */
    off += 4;
    if (edns) { /* root name, type OPT, class = UDP size, TTL 0, RDLEN 0 */
        memset(out + off, 0, 11);
        dns_put16(out + off + 1, DNS_T_OPT);
        dns_put16(out + off + 3, DNS_UDP_SIZE);
        off += 11;
    }
    return off;
}

/* Go's net.JoinHostPort: host:port, with brackets when host contains ':'. */
static void dns_join_host_port(char *out, size_t len, const char *host, unsigned port)
{
    snprintf(out, len, strchr(host, ':') ? "[%s]:%u" : "%s:%u", host, port);
}

/* Adds the target of one answer record (type, rdata of rdlen bytes inside msg[0..len))
 * to g. Returns 0 (also for a skipped record), or -1 on a malformed record or OOM. */
static int dns_add_record(struct pg_tgroup *g, const char *name, unsigned type,
                          const unsigned char *msg, size_t len, const unsigned char *rd,
                          unsigned rdlen, unsigned port)
{
    char host[DNS_NAME_LEN], target[DNS_NAME_LEN + 1], addr[DNS_NAME_LEN + 16], num[8];
    const char *meta = NULL, *meta2 = NULL;
    const unsigned char *eom = msg + len;
    if (type == DNS_T_A || type == DNS_T_AAAA) {
        static const unsigned char v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        unsigned char a[16];
        if (rdlen != (type == DNS_T_A ? 4u : 16u))
            return -1;
        memcpy(a, rd, rdlen);
        int v4 = type == DNS_T_A || !memcmp(a, v4mapped, sizeof(v4mapped));
        inet_ntop(v4 ? AF_INET : AF_INET6, type == DNS_T_AAAA && v4 ? a + 12 : a, host,
                  sizeof(host));
    } else if (type == DNS_T_SRV || type == DNS_T_MX) {
        unsigned skip = type == DNS_T_SRV ? 6 : 2;
        if (rdlen < skip + 1 || dn_expand(msg, eom, rd + skip, host, sizeof(host)) < 0)
            return -1;
        snprintf(target, sizeof(target), "%s.", host); /* the record's target is rooted */
        if (type == DNS_T_SRV) {
            port = dns_get16(rd + 4);
            snprintf(num, sizeof(num), "%u", port);
            meta = "__meta_dns_srv_record_target", meta2 = "__meta_dns_srv_record_port";
        } else {
            meta = "__meta_dns_mx_record_target";
        }
    } else {
        if (type != DNS_T_CNAME) /* CNAMEs come with A/AAAA answers: skipped quietly */
            pg_log_warn("sd.dns", "name=%s type=%u msg=\"invalid record, skipped\"", name, type);
        return 0;
    }
    dns_join_host_port(addr, sizeof(addr), host, port);
    struct pg_labels *t = pg_tgroup_add_target(g);
    if (!t || pg_labels_set(t, "__address__", addr) < 0 ||
        pg_labels_set(t, "__meta_dns_name", name) < 0 ||
        (meta && pg_labels_set(t, meta, target) < 0) || (meta2 && pg_labels_set(t, meta2, num) < 0))
        return -1;
    return 0;
}

int pg_sd_dns_parse_answers(const unsigned char *msg, size_t len, const char *name, unsigned port,
                            struct pg_tgroup *g, char *err, size_t errlen)
{
    const unsigned char *eom = msg + len, *p = msg + 12;
    unsigned qd = dns_get16(msg + 4), an = dns_get16(msg + 6);
    if (pg_tgroup_init(g, name) < 0) {
        pg_errmsg_set(err, errlen, "out of memory");
        return -1;
    }
    for (unsigned i = 0; i < qd; i++) {
        int n = dn_skipname(p, eom);
        if (n < 0 || p + n + 4 > eom)
            goto malformed;
        p += n + 4;
    }
    for (unsigned i = 0; i < an; i++) {
        int n = dn_skipname(p, eom);
        if (n < 0 || p + n + 10 > eom)
            goto malformed;
        p += n;
        unsigned type = dns_get16(p), rdlen = dns_get16(p + 8);
        p += 10;
        if (p + rdlen > eom || dns_add_record(g, name, type, msg, len, p, rdlen, port) < 0)
            goto malformed;
        p += rdlen;
    }
    return 0;
malformed:
    pg_tgroup_reset(g);
    pg_errmsg_set(err, errlen, "malformed answer");
    return -1;
}

/* ---- lookups -------------------------------------------------------------------------- */

struct pg_sd_dns_inst;

/* The lookup of one configured name in one refresh round. */
struct dns_lookup {
    struct pg_sd_dns_inst *d;
    size_t idx;                                  /* in cfg->names */
    char cand[DNS_MAX_SEARCH + 1][DNS_NAME_LEN]; /* the names to try, in order */
    size_t n_cand, cand_i;
    size_t try_i;  /* server x attempt of the current candidate */
    int all_valid; /* every candidate so far was answered (NXDOMAIN) */
    int tcp;       /* the current query goes over TCP (the UDP answer was truncated) */
    uint16_t id;
    int64_t deadline_ms;
    int fd;                       /* UDP socket, -1 when none */
    struct event *ev;             /* owned: EV_READ on fd */
    struct bufferevent *bev;      /* owned: the TCP connection */
    char err[DNS_NAME_LEN + 256]; /* the last server's problem */
};

struct pg_sd_dns_inst {
    const struct pg_cfg_dns_sd *cfg;
    char *job;
    struct event_base *base;
    pg_sd_emit_fn emit;
    void *ud;
    struct event *tick; /* owned: persistent refresh timer */
    struct dns_resolv rc;
    struct dns_lookup *lk;   /* one per name */
    int *failing;            /* per name: in a failing streak (logged once) */
    struct pg_tgroup *round; /* groups of the running round, one slot per name */
    size_t n_round;
    size_t pending; /* lookups of the running round not finished */
};

/* Closes the query in flight of lk, if any. */
static void dns_query_close(struct dns_lookup *lk)
{
    if (lk->ev) {
        event_free(lk->ev);
        lk->ev = NULL;
    }
    if (lk->fd >= 0) {
        close(lk->fd);
        lk->fd = -1;
    }
    if (lk->bev) {
        bufferevent_free(lk->bev);
        lk->bev = NULL;
    }
}

/* NameList of miekg/dns: name as is, and name + each search domain; a name with more than
 * ndots labels is tried as is first, a rooted name only as is. None for a name too long
 * to be one. */
static void dns_candidates(struct dns_lookup *lk, const char *name, const struct dns_resolv *rc)
{
    size_t len = strlen(name), labels = len > 0;
    for (size_t i = 0; i + 1 < len; i++)
        labels += name[i] == '.';
    lk->n_cand = 0;
    if (len + 2 > DNS_NAME_LEN)
        return;
    if (len > 0 && name[len - 1] == '.') {
        snprintf(lk->cand[lk->n_cand++], DNS_NAME_LEN, "%s", name);
        return;
    }
    int first = (int)labels > rc->ndots;
    if (first)
        snprintf(lk->cand[lk->n_cand++], DNS_NAME_LEN, "%s.", name);
    for (size_t s = 0; s < rc->n_search; s++) {
        const char *dom = rc->search[s];
        int rooted = dom[strlen(dom) - 1] == '.';
        if (snprintf(lk->cand[lk->n_cand], DNS_NAME_LEN, "%s.%s%s", name, dom, rooted ? "" : ".") <
            DNS_NAME_LEN)
            lk->n_cand++;
    }
    if (!first)
        snprintf(lk->cand[lk->n_cand++], DNS_NAME_LEN, "%s.", name);
}

static void dns_lookup_step(struct dns_lookup *lk);
static void dns_lookup_finish(struct dns_lookup *lk, struct pg_tgroup *g, const char *err);

/* Formats server address sa as host:port into out. */
static void dns_format_server(const struct sockaddr_storage *sa, char *out, size_t len)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    if (sa->ss_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip));
        port = ntohs(s6->sin6_port);
    } else if (sa->ss_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip));
        port = ntohs(s4->sin_port);
    }
    dns_join_host_port(out, len, ip, port);
}

/* The current server gave no usable answer (why): try the next one. */
static void dns_server_failed(struct dns_lookup *lk, const char *why)
{
    const struct dns_resolv *rc = &lk->d->rc;
    char a[INET6_ADDRSTRLEN + 8];
    dns_format_server(&rc->servers[lk->try_i % rc->n_servers], a, sizeof(a));
    snprintf(lk->err, sizeof(lk->err), "%s: %s: %s", lk->cand[lk->cand_i], a, why);
    dns_query_close(lk);
    lk->tcp = 0;
    lk->try_i++;
    dns_lookup_step(lk);
}

/* Handles a whole answer msg to the current query. */
static void dns_on_answer(struct dns_lookup *lk, const unsigned char *msg, size_t len)
{
    char err[256];
    if (len < 12 || !(msg[2] & 0x80)) {
        dns_server_failed(lk, "malformed answer");
        return;
    }
    unsigned rcode = msg[3] & 0x0f;
    if (msg[2] & 0x02) { /* TC: truncated */
        if (lk->tcp) {
            dns_server_failed(lk, "got truncated message on TCP (64kiB limit exceeded?)");
            return;
        }
        dns_query_close(lk);
        lk->tcp = 1; /* the same server again, over TCP */
        dns_lookup_step(lk);
        return;
    }
    if (rcode == 0) {
        struct pg_tgroup g;
        const struct pg_cfg_dns_sd *c = lk->d->cfg;
        if (pg_sd_dns_parse_answers(msg, len, c->names[lk->idx], (unsigned)c->port, &g, err,
                                    sizeof(err)) < 0) {
            dns_server_failed(lk, err);
            return;
        }
        dns_query_close(lk);
        dns_lookup_finish(lk, &g, NULL);
    } else if (rcode == DNS_RCODE_NXDOMAIN) { /* this candidate does not exist: the next */
        dns_query_close(lk);
        lk->cand_i++;
        lk->try_i = 0;
        dns_lookup_step(lk);
    } else {
        snprintf(err, sizeof(err), "rcode %u", rcode);
        dns_server_failed(lk, err);
    }
}

/* Returns 1 when msg answers the current query (its id and first question's name and type). */
static int dns_is_ours(const struct dns_lookup *lk, const unsigned char *msg, size_t len)
{
    char q[DNS_NAME_LEN];
    if (len < 12 || dns_get16(msg) != lk->id || dns_get16(msg + 4) < 1)
        return 0;
    int n = dn_expand(msg, msg + len, msg + 12, q, sizeof(q));
    if (n < 0 || 12 + (size_t)n + 4 > len || dns_get16(msg + 12 + n) != lk->d->cfg->qtype)
        return 0;
    const char *want = lk->cand[lk->cand_i];
    size_t wl = strlen(want) - 1; /* without the final dot */
    return strlen(q) == wl && !strncasecmp(q, want, wl);
}

static void dns_on_udp(evutil_socket_t fd, short what, void *arg)
{
    struct dns_lookup *lk = arg;
    if (what & EV_TIMEOUT) {
        dns_server_failed(lk, "i/o timeout");
        return;
    }
    unsigned char buf[DNS_UDP_SIZE];
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        n = 0;
    else if (n < 0) {
        dns_server_failed(lk, strerror(errno));
        return;
    }
    if (n > 0 && dns_is_ours(lk, buf, (size_t)n)) {
        dns_on_answer(lk, buf, (size_t)n);
        return;
    }
    int64_t left = lk->deadline_ms - pg_clock_mono_ms(); /* not ours: wait on */
    struct timeval tv = {(time_t)(left > 0 ? left / 1000 : 0),
                         (suseconds_t)(left > 0 ? (left % 1000) * 1000 : 0)};
    event_add(lk->ev, &tv);
}

static void dns_on_tcp_read(struct bufferevent *bev, void *arg)
{
    struct dns_lookup *lk = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    unsigned char hdr[2];
    if (evbuffer_copyout(in, hdr, 2) < 2)
        return;
    size_t len = dns_get16(hdr);
    if (evbuffer_get_length(in) < 2 + len)
        return;
    unsigned char *msg = evbuffer_pullup(in, (ev_ssize_t)(2 + len));
    if (msg && dns_is_ours(lk, msg + 2, len))
        dns_on_answer(lk, msg + 2, len); /* closes bev */
    else
        dns_server_failed(lk, "unexpected answer");
}

static void dns_on_tcp_event(struct bufferevent *bev, short what, void *arg)
{
    (void)bev;
    if (what & BEV_EVENT_CONNECTED)
        return;
    dns_server_failed(arg, what & BEV_EVENT_TIMEOUT ? "i/o timeout"
                           : what & BEV_EVENT_EOF   ? "connection closed"
                                                    : "connection failed");
}

/* Sends query q of len bytes to sa over TCP. Returns 0 or -1. */
static int dns_send_tcp(struct dns_lookup *lk, const struct sockaddr *sa, socklen_t salen,
                        const unsigned char *q, size_t len)
{
    unsigned char pre[2];
    dns_put16(pre, (unsigned)len);
    struct timeval tv = {lk->d->rc.timeout_ms / 1000, (lk->d->rc.timeout_ms % 1000) * 1000};
    lk->bev = bufferevent_socket_new(lk->d->base, -1, BEV_OPT_CLOSE_ON_FREE);
    if (!lk->bev)
        return -1;
    bufferevent_setcb(lk->bev, dns_on_tcp_read, NULL, dns_on_tcp_event, lk);
    bufferevent_set_timeouts(lk->bev, &tv, &tv);
    if (bufferevent_write(lk->bev, pre, 2) < 0 || bufferevent_write(lk->bev, q, len) < 0 ||
        bufferevent_enable(lk->bev, EV_READ) < 0 ||
        bufferevent_socket_connect(lk->bev, (struct sockaddr *)sa, (int)salen) < 0)
        return -1;
    return 0;
}

/* Sends query q of len bytes to sa over UDP. Returns 0 or -1. */
static int dns_send_udp(struct dns_lookup *lk, const struct sockaddr *sa, socklen_t salen,
                        const unsigned char *q, size_t len)
{
    struct timeval tv = {lk->d->rc.timeout_ms / 1000, (lk->d->rc.timeout_ms % 1000) * 1000};
    lk->fd = socket(sa->sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (lk->fd < 0 || connect(lk->fd, sa, salen) < 0 || send(lk->fd, q, len, 0) != (ssize_t)len)
        return -1;
    lk->ev = event_new(lk->d->base, lk->fd, EV_READ, dns_on_udp, lk);
    if (!lk->ev || event_add(lk->ev, &tv) < 0)
        return -1;
    return 0;
}

/* Sends the current candidate to the current server. Returns 0, or -1 (reason in lk->err,
 * nothing left open). */
static int dns_query_start(struct dns_lookup *lk)
{
    const struct dns_resolv *rc = &lk->d->rc;
    size_t s = lk->try_i % rc->n_servers;
    const struct sockaddr *sa = (const struct sockaddr *)&rc->servers[s];
    unsigned char q[DNS_NAME_LEN + 32];
    evutil_secure_rng_get_bytes(&lk->id, sizeof(lk->id));
    size_t len = dns_build_query(q, sizeof(q), lk->id, lk->cand[lk->cand_i], lk->d->cfg->qtype,
                                 !lk->tcp); /* no EDNS0 over TCP, as Prometheus */
    if (len == 0) {
        snprintf(lk->err, sizeof(lk->err), "%s: not a valid DNS name", lk->cand[lk->cand_i]);
        return -1;
    }
    lk->deadline_ms = pg_clock_mono_ms() + rc->timeout_ms;
    int rc2 = lk->tcp ? dns_send_tcp(lk, sa, rc->server_len[s], q, len)
                      : dns_send_udp(lk, sa, rc->server_len[s], q, len);
    if (rc2 < 0) {
        snprintf(lk->err, sizeof(lk->err), "%s: cannot send: %s", lk->cand[lk->cand_i],
                 strerror(errno));
        dns_query_close(lk);
    }
    return rc2;
}

/* Moves lk on: the next query to send, or the end of the lookup. */
static void dns_lookup_step(struct dns_lookup *lk)
{
    const struct dns_resolv *rc = &lk->d->rc;
    size_t tries = rc->n_servers * (size_t)rc->attempts;
    for (;;) {
        if (lk->cand_i >= lk->n_cand) {
            dns_lookup_finish(lk, NULL, lk->all_valid ? NULL : lk->err);
            return;
        }
        if (lk->try_i >= tries) { /* no server answered this candidate */
            lk->all_valid = 0;
            lk->cand_i++;
            lk->try_i = 0;
            lk->tcp = 0;
            continue;
        }
        if (dns_query_start(lk) == 0)
            return;
        lk->tcp = 0;
        lk->try_i++;
    }
}

/* ---- the mechanism -------------------------------------------------------------------- */

/* Emits the groups of the finished round (names that failed have none) and frees them. */
static void dns_round_emit(struct pg_sd_dns_inst *d)
{
    size_t n = 0;
    for (size_t i = 0; i < d->n_round; i++)
        if (d->round[i].source)
            d->round[n++] = d->round[i];
    if (n > 0)
        d->emit(d->ud, d->round, n);
    pg_tgroup_free_array(d->round, n);
    d->round = NULL;
    d->n_round = 0;
}

/* Ends lk's lookup: with group g (taken over), no targets (g and err NULL: every candidate
 * is NXDOMAIN), or a failure (err). */
static void dns_lookup_finish(struct dns_lookup *lk, struct pg_tgroup *g, const char *err)
{
    struct pg_sd_dns_inst *d = lk->d;
    const char *name = d->cfg->names[lk->idx];
    struct pg_tgroup *slot = &d->round[lk->idx];
    dns_query_close(lk);
    if (g)
        *slot = *g;
    else if (!err && pg_tgroup_init(slot, name) < 0)
        err = "out of memory";
    pg_sd_metric_refresh(DNS_MECHANISM, err != NULL);
    if (err && !d->failing[lk->idx])
        pg_log_warn("sd.dns",
                    "job=%s name=%s msg=\"lookup failed, keeping previous targets\" err=\"%s\"",
                    d->job, name, err[0] ? err : "no nameserver answered");
    else if (!err && d->failing[lk->idx])
        pg_log_info("sd.dns", "job=%s name=%s msg=\"lookup recovered\" targets=%zu", d->job, name,
                    slot->n_targets);
    d->failing[lk->idx] = err != NULL;
    if (--d->pending == 0)
        dns_round_emit(d);
}

/* Starts a refresh round: every name is looked up at once. */
static void dns_refresh(struct pg_sd_dns_inst *d)
{
    char err[256];
    size_t n = d->cfg->n_names;
    if (d->pending)
        return; /* the previous round is still running: skip this tick */
    int bad = dns_resolv_load(&d->rc, err, sizeof(err)) < 0;
    if (!bad && !(d->round = calloc(n ? n : 1, sizeof(*d->round)))) {
        snprintf(err, sizeof(err), "out of memory");
        bad = 1;
    }
    if (bad) {
        for (size_t i = 0; i < n; i++) {
            if (!d->failing[i])
                pg_log_warn("sd.dns",
                            "job=%s name=%s msg=\"lookup failed, keeping previous targets\" "
                            "err=\"%s\"",
                            d->job, d->cfg->names[i], err);
            d->failing[i] = 1;
            pg_sd_metric_refresh(DNS_MECHANISM, 1);
        }
        return;
    }
    d->n_round = n;
    d->pending = n + 1; /* + 1: no lookup that ends at once emits a partial round */
    for (size_t i = 0; i < n; i++) {
        struct dns_lookup *lk = &d->lk[i];
        lk->cand_i = lk->try_i = 0;
        lk->tcp = 0;
        lk->all_valid = 1;
        lk->err[0] = '\0';
        dns_candidates(lk, d->cfg->names[i], &d->rc);
        if (lk->n_cand == 0) {
            lk->all_valid = 0;
            snprintf(lk->err, sizeof(lk->err), "not a valid DNS name");
        }
        dns_lookup_step(lk);
    }
    if (--d->pending == 0)
        dns_round_emit(d);
}

static void dns_on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    dns_refresh(arg);
}

static void pg_sd_dns_stop(void *inst)
{
    struct pg_sd_dns_inst *d = inst;
    if (d->tick) {
        event_free(d->tick);
        d->tick = NULL;
    }
    for (size_t i = 0; d->lk && i < d->cfg->n_names; i++)
        dns_query_close(&d->lk[i]);
    for (size_t i = 0; d->round && i < d->n_round; i++)
        pg_tgroup_reset(&d->round[i]);
    free(d->round);
    d->round = NULL;
    d->n_round = d->pending = 0;
}

static void pg_sd_dns_destroy(void *inst)
{
    struct pg_sd_dns_inst *d = inst;
    if (!d)
        return;
    pg_sd_dns_stop(d);
    free(d->lk);
    free(d->failing);
    free(d->job);
    free(d);
}

static void *pg_sd_dns_create(const void *cfg, const char *job)
{
    const struct pg_cfg_dns_sd *c = cfg;
    struct pg_sd_dns_inst *d = calloc(1, sizeof(*d));
    if (!d)
        return NULL;
    d->cfg = c;
    d->job = strdup(job ? job : "");
    d->lk = calloc(c->n_names ? c->n_names : 1, sizeof(*d->lk));
    d->failing = calloc(c->n_names ? c->n_names : 1, sizeof(*d->failing));
    if (!d->job || !d->lk || !d->failing) {
        pg_sd_dns_destroy(d);
        return NULL;
    }
    for (size_t i = 0; i < c->n_names; i++) {
        d->lk[i].d = d;
        d->lk[i].idx = i;
        d->lk[i].fd = -1;
    }
    return d;
}

static int pg_sd_dns_start(void *inst, struct event_base *base, pg_sd_emit_fn emit, void *ud)
{
    struct pg_sd_dns_inst *d = inst;
    d->base = base;
    d->emit = emit;
    d->ud = ud;
    int64_t ms = d->cfg->refresh_ms > 0 ? d->cfg->refresh_ms : 30000;
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000)};
    d->tick = event_new(base, -1, EV_PERSIST, dns_on_tick, d);
    if (!d->tick || event_add(d->tick, &tv) < 0)
        return -1;
    pg_log_info("sd.dns", "job=%s type=%s names=%zu msg=\"started\" refresh_interval_ms=%lld",
                d->job, d->cfg->type, d->cfg->n_names, (long long)ms);
    dns_refresh(d); /* the first round right away; it emits from the loop */
    return 0;
}

const struct pg_sd_mechanism pg_sd_dns = {
    .name = DNS_MECHANISM,
    .config_key = "dns_sd_configs",
    .config_load = pg_sd_dns_config_load,
    .config_free = pg_sd_dns_config_free,
    .create = pg_sd_dns_create,
    .start = pg_sd_dns_start,
    .stop = pg_sd_dns_stop,
    .destroy = pg_sd_dns_destroy,
};
