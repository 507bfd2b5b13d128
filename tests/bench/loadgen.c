/* loadgen: the scrape benchmark's load generator (tests/bench/run_bench.py drives it).
 *
 * One libevent process that plays a fleet of Go services on loopback: N listening sockets
 * on 127.0.0.1 ports P..P+N-1 (every target a distinct host:port), all answering the
 * net/http/pprof paths with fixed real pprof bodies read from tests/data at startup. With
 * --receiver-port it is also a Pyroscope push receiver (POST /push.v1.PusherService/Push
 * → 200 with an empty PushResponse), counting requests, bytes, series and raw profiles;
 * GET /stats on that port returns the counters as JSON. Prints "ready" once every socket
 * is bound; SIGTERM/SIGINT prints the totals and exits 0.
 *
 * --profile big: /debug/pprof/allocs and /heap serve the generated heap profile of
 * heapgen.h (gzip -6) instead, with values growing per request of that target: K epochs
 * (--epochs, default 32) are generated and gzipped once at startup and shared by all
 * targets; the n-th request of a target gets epoch n mod K. A run longer than K scrapes of
 * one target wraps to epoch 0, which looks like a process restart (counters go down).
 *
 * /debug/pprof/profile?seconds=N holds the response N seconds (default 30, as Go), like a
 * real CPU profile, unless --no-hold; the number held right now is in the stats.
 *
 * File descriptors: each listening socket costs one fd, so the soft RLIMIT_NOFILE is
 * raised to the hard limit first; idle keep-alive connections are closed after
 * --idle-timeout seconds so that N listeners plus the live connections stay under it.
 */
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/listener.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/queue.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "heapgen.h"
#include "push.pb-c.h"

#ifndef PG_BENCH_DATA_DIR
#define PG_BENCH_DATA_DIR "tests/data"
#endif

/* the paths a target serves; the last slot counts everything else (404) */
enum lg_path {
    LG_GOROUTINE,
    LG_ALLOCS,
    LG_HEAP,
    LG_MUTEX,
    LG_BLOCK,
    LG_PROFILE,
    LG_OTHER,
    LG_NPATHS
};

static const char *const lg_path_names[LG_NPATHS] = {
    "/debug/pprof/goroutine",
    "/debug/pprof/allocs",
    "/debug/pprof/heap",
    "/debug/pprof/mutex",
    "/debug/pprof/block",
    "/debug/pprof/profile",
    "other",
};

struct lg_body {
    unsigned char *data;
    size_t len;
};

struct lg_hold;

struct lg_state {
    struct event_base *base;
    struct evhttp *targets;
    struct evhttp *receiver;
    struct lg_body goroutine, allocs, mutex;
    uint64_t requests[LG_NPATHS];
    uint64_t bytes_served;
    uint64_t push_requests, push_bytes, push_series, push_profiles, push_bad;
    uint64_t shed;          /* connections accepted and closed at once: out of descriptors */
    uint64_t accept_errors; /* other accept() failures */
    int reserve_fd;         /* kept open to be given up when accept() hits EMFILE */
    long base_port, ntargets;
    int hold;               /* hold /profile?seconds=N for N seconds */
    uint64_t held_now;      /* /profile responses being held */
    struct lg_hold *held;   /* ... in a list, to be freed at exit */
    struct lg_body *epochs; /* --profile big: n_epochs gzipped heap profiles, else NULL */
    size_t n_epochs;
    uint32_t *heap_requests; /* --profile big: per target, requests to /allocs or /heap */
};

static int read_file(const char *dir, const char *name, struct lg_body *out)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "loadgen: cannot open %s: %s\n", path, strerror(errno));
        return -1;
    }
    size_t cap = 4096, len = 0;
    unsigned char *buf = malloc(cap);
    size_t n;
    while (buf && (n = fread(buf + len, 1, cap - len, f)) > 0) {
        len += n;
        if (len == cap) {
            unsigned char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    int err = ferror(f);
    fclose(f);
    if (!buf || err || len == 0) {
        fprintf(stderr, "loadgen: cannot read %s (or it is empty)\n", path);
        free(buf);
        return -1;
    }
    out->data = buf;
    out->len = len;
    return 0;
}

static enum lg_path classify(const char *path)
{
    for (int i = 0; i < LG_OTHER; i++)
        if (strcmp(path, lg_path_names[i]) == 0)
            return (enum lg_path)i;
    return LG_OTHER;
}

/* the request's path without its query string, into buf */
static const char *request_path(struct evhttp_request *req, char *buf, size_t cap)
{
    const char *uri = evhttp_request_get_uri(req);
    size_t n = strcspn(uri, "?#");
    if (n >= cap)
        n = cap - 1;
    memcpy(buf, uri, n);
    buf[n] = '\0';
    return buf;
}

static void send_body(struct lg_state *st, struct evhttp_request *req, const struct lg_body *body)
{
    struct evbuffer *out = evbuffer_new();
    if (!out || evbuffer_add_reference(out, body->data, body->len, NULL, NULL) != 0) {
        evbuffer_free(out);
        evhttp_send_error(req, HTTP_INTERNAL, NULL);
        return;
    }
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "application/octet-stream");
    st->bytes_served += body->len;
    evhttp_send_reply(req, HTTP_OK, "OK", out);
    evbuffer_free(out);
}

/* the target (0..ntargets) a request came to, from the local port; -1 if unknown */
static long target_index(const struct lg_state *st, struct evhttp_request *req)
{
    struct evhttp_connection *c = evhttp_request_get_connection(req);
    struct bufferevent *bev = c ? evhttp_connection_get_bufferevent(c) : NULL;
    evutil_socket_t fd = bev ? bufferevent_getfd(bev) : -1;
    struct sockaddr_in sin;
    socklen_t sl = sizeof sin;
    if (fd < 0 || getsockname(fd, (struct sockaddr *)&sin, &sl) != 0 || sin.sin_family != AF_INET)
        return -1;
    long i = (long)ntohs(sin.sin_port) - st->base_port;
    return i >= 0 && i < st->ntargets ? i : -1;
}

/* --profile big: the epoch this target's request gets */
static const struct lg_body *heap_body(struct lg_state *st, struct evhttp_request *req)
{
    long t = target_index(st, req);
    uint32_t n = t >= 0 ? st->heap_requests[t]++ : 0;
    return &st->epochs[n % st->n_epochs];
}

/* seconds= of a /profile request as Go reads it: missing or not positive -> 30 */
static long profile_seconds(struct evhttp_request *req)
{
    const char *q = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
    struct evkeyvalq params;
    TAILQ_INIT(&params);
    long sec = 30;
    if (q && evhttp_parse_query_str(q, &params) == 0) {
        const char *v = evhttp_find_header(&params, "seconds");
        char *end;
        long x = v ? strtol(v, &end, 10) : 0;
        if (v && *end == '\0' && x > 0)
            sec = x > 3600 ? 3600 : x;
    }
    evhttp_clear_headers(&params);
    return sec;
}

struct lg_hold {
    struct lg_state *st;
    struct evhttp_request *req;
    const struct lg_body *body;
    struct event *timer;
    struct lg_hold *prev, *next; /* st->held */
};

static void hold_unlink(struct lg_hold *h)
{
    struct lg_state *st = h->st;
    if (h->prev)
        h->prev->next = h->next;
    else
        st->held = h->next;
    if (h->next)
        h->next->prev = h->prev;
    st->held_now--;
    event_free(h->timer);
    free(h);
}

/* the held /profile response is due. If the client went away meanwhile, evhttp has
 * detached the request from its connection and evhttp_send_reply only frees it. */
static void hold_done_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct lg_hold *h = arg;
    send_body(h->st, h->req, h->body);
    hold_unlink(h);
}

static void target_cb(struct evhttp_request *req, void *arg)
{
    struct lg_state *st = arg;
    char buf[256];
    enum lg_path p = classify(request_path(req, buf, sizeof buf));
    st->requests[p]++;
    const struct lg_body *body = NULL;
    switch (p) {
    case LG_GOROUTINE:
    case LG_PROFILE: body = &st->goroutine; break;
    case LG_ALLOCS:
    case LG_HEAP: body = st->epochs ? heap_body(st, req) : &st->allocs; break;
    case LG_MUTEX:
    case LG_BLOCK: body = &st->mutex; break;
    default: break;
    }
    if (!body) {
        evhttp_send_error(req, HTTP_NOTFOUND, NULL);
        return;
    }
    if (p == LG_PROFILE && st->hold) {
        struct lg_hold *h = calloc(1, sizeof *h);
        struct timeval tv = {profile_seconds(req), 0};
        if (h) {
            *h = (struct lg_hold){st, req, body, NULL, NULL, st->held};
            h->timer = evtimer_new(st->base, hold_done_cb, h);
            if (h->timer && evtimer_add(h->timer, &tv) == 0) {
                if (st->held)
                    st->held->prev = h;
                st->held = h;
                st->held_now++;
                return;
            }
            if (h->timer)
                event_free(h->timer);
            free(h);
        }
    }
    send_body(st, req, body);
}

static void print_totals(const struct lg_state *st, FILE *f, int json)
{
    if (json) {
        fprintf(f, "{");
        for (int i = 0; i < LG_NPATHS; i++)
            fprintf(f, "\"%s\":%" PRIu64 ",", lg_path_names[i], st->requests[i]);
        fprintf(f,
                "\"bytes_served\":%" PRIu64 ",\"push_requests\":%" PRIu64 ",\"push_bytes\":%" PRIu64
                ",\"push_series\":%" PRIu64 ",\"push_profiles\":%" PRIu64 ",\"push_bad\":%" PRIu64
                ",\"shed\":%" PRIu64 ",\"accept_errors\":%" PRIu64 ",\"held_now\":%" PRIu64
                ",\"epochs\":%zu}",
                st->bytes_served, st->push_requests, st->push_bytes, st->push_series,
                st->push_profiles, st->push_bad, st->shed, st->accept_errors, st->held_now,
                st->n_epochs);
        return;
    }
    for (int i = 0; i < LG_NPATHS; i++)
        fprintf(f, "requests path=%s count=%" PRIu64 "\n", lg_path_names[i], st->requests[i]);
    fprintf(f, "bytes_served %" PRIu64 "\n", st->bytes_served);
    fprintf(f,
            "push requests=%" PRIu64 " bytes=%" PRIu64 " series=%" PRIu64 " profiles=%" PRIu64
            " bad=%" PRIu64 "\n",
            st->push_requests, st->push_bytes, st->push_series, st->push_profiles, st->push_bad);
    fprintf(f, "accept shed=%" PRIu64 " errors=%" PRIu64 "\n", st->shed, st->accept_errors);
}

static void receiver_cb(struct evhttp_request *req, void *arg)
{
    struct lg_state *st = arg;
    char buf[256];
    const char *path = request_path(req, buf, sizeof buf);
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);

    if (cmd == EVHTTP_REQ_GET && strcmp(path, "/stats") == 0) {
        struct evbuffer *out = evbuffer_new();
        if (!out) {
            evhttp_send_error(req, HTTP_INTERNAL, NULL);
            return;
        }
        char *text = NULL;
        size_t len = 0;
        FILE *mf = open_memstream(&text, &len);
        if (mf) {
            print_totals(st, mf, 1);
            fclose(mf);
        }
        if (!text || evbuffer_add(out, text, len) != 0) {
            free(text);
            evbuffer_free(out);
            evhttp_send_error(req, HTTP_INTERNAL, NULL);
            return;
        }
        free(text);
        evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                          "application/json");
        evhttp_send_reply(req, HTTP_OK, "OK", out);
        evbuffer_free(out);
        return;
    }
    if (cmd != EVHTTP_REQ_POST || strcmp(path, "/push.v1.PusherService/Push") != 0) {
        evhttp_send_error(req, HTTP_NOTFOUND, NULL);
        return;
    }
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    st->push_requests++;
    st->push_bytes += len;
    /* decode only the envelope, to count series and raw profiles (the pprof bodies are
     * left compressed: the benchmark measures profgate, not this receiver) */
    unsigned char *data = evbuffer_pullup(in, -1);
    Push__V1__PushRequest *msg =
        push__v1__push_request__unpack(NULL, len, data ? data : (const uint8_t *)"");
    if (!msg) {
        st->push_bad++;
        evhttp_send_error(req, HTTP_BADREQUEST, "undecodable PushRequest");
        return;
    }
    st->push_series += msg->n_series;
    for (size_t i = 0; i < msg->n_series; i++)
        st->push_profiles += msg->series[i]->n_samples;
    push__v1__push_request__free_unpacked(msg, NULL);
    /* an empty PushResponse encodes to zero bytes */
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/proto");
    evhttp_send_reply(req, HTTP_OK, "OK", NULL);
}

static void reenable_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    evconnlistener_enable(arg);
}

/* accept() failed on a listener. Out of descriptors (EMFILE/ENFILE), the pending
 * connection would make libevent retry forever: give up the reserve descriptor, accept the
 * connection and close it at once (the client sees a reset; counted as shed), then take
 * the reserve back. Without a reserve, or on any other error, pause this listener 100 ms. */
static struct lg_state *lg_global; /* the error callback's user data is evhttp's */

static void accept_error_cb(struct evconnlistener *lev, void *arg)
{
    (void)arg; /* the struct evhttp that owns lev */
    struct lg_state *st = lg_global;
    int err = errno;
    if ((err == EMFILE || err == ENFILE) && st->reserve_fd >= 0) {
        close(st->reserve_fd);
        int fd = accept(evconnlistener_get_fd(lev), NULL, NULL);
        if (fd >= 0) {
            close(fd);
            st->shed++;
        }
        st->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (fd >= 0)
            return;
    }
    st->accept_errors++;
    struct timeval pause = {0, 100000};
    evconnlistener_disable(lev);
    if (event_base_once(st->base, -1, EV_TIMEOUT, reenable_cb, lev, &pause) != 0)
        evconnlistener_enable(lev);
}

/* Listens on 127.0.0.1:port and hands the connections to http; 0 or -1. */
static int bind_port(struct lg_state *st, struct evhttp *http, int port)
{
    struct sockaddr_in sin;
    memset(&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sin.sin_port = htons((uint16_t)port);
    struct evconnlistener *lev = evconnlistener_new_bind(
        st->base, NULL, NULL, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC,
        128, (struct sockaddr *)&sin, sizeof sin);
    if (!lev)
        return -1;
    /* evhttp takes the listener (freed by evhttp_free) and sets its accept callback */
    if (!evhttp_bind_listener(http, lev)) {
        evconnlistener_free(lev);
        return -1;
    }
    evconnlistener_set_error_cb(lev, accept_error_cb);
    return 0;
}

static void signal_cb(evutil_socket_t sig, short what, void *arg)
{
    (void)sig;
    (void)what;
    event_base_loopbreak(arg);
}

static void usage(void)
{
    fprintf(stderr, "usage: loadgen --targets N --base-port P [--data DIR] [--receiver-port R]"
                    " [--idle-timeout SECONDS] [--profile small|big] [--epochs K]"
                    " [--no-hold]\n");
}

/* --profile big: generates and gzips epochs 0..n-1 of the default heap profile */
static int make_epochs(struct lg_state *st, size_t n)
{
    struct pg_heapgen_params p;
    pg_heapgen_default(&p);
    st->epochs = calloc(n, sizeof *st->epochs);
    st->heap_requests = calloc((size_t)st->ntargets + 1, sizeof *st->heap_requests);
    if (!st->epochs || !st->heap_requests)
        return -1;
    st->n_epochs = n;
    size_t raw_total = 0;
    for (size_t e = 0; e < n; e++) {
        uint8_t *pb;
        size_t len;
        if (pg_heapgen_profile(&p, (unsigned)e, &pb, &len) != 0)
            return -1;
        int rc = pg_heapgen_gzip(pb, len, 6, &st->epochs[e].data, &st->epochs[e].len);
        free(pb);
        if (rc != 0)
            return -1;
        raw_total += len;
    }
    fprintf(stderr,
            "loadgen: big heap profile, %zu epochs, %zu bytes decoded, %zu gzip (epoch 0)\n", n,
            raw_total / n, st->epochs[0].len);
    return 0;
}

static int parse_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || end == s || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

int main(int argc, char **argv)
{
    long ntargets = -1, base_port = -1, receiver_port = 0, idle_timeout = 3, n_epochs = 32;
    int big = 0, hold = 1;
    const char *data_dir = PG_BENCH_DATA_DIR;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        int ok;
        if (strcmp(a, "--targets") == 0 && v)
            ok = parse_long(v, 0, 60000, &ntargets) == 0;
        else if (strcmp(a, "--base-port") == 0 && v)
            ok = parse_long(v, 1, 65535, &base_port) == 0;
        else if (strcmp(a, "--receiver-port") == 0 && v)
            ok = parse_long(v, 1, 65535, &receiver_port) == 0;
        else if (strcmp(a, "--idle-timeout") == 0 && v)
            ok = parse_long(v, 1, 3600, &idle_timeout) == 0;
        else if (strcmp(a, "--data") == 0 && v)
            ok = (data_dir = v) != NULL;
        else if (strcmp(a, "--profile") == 0 && v)
            ok = (big = strcmp(v, "big") == 0) || strcmp(v, "small") == 0;
        else if (strcmp(a, "--epochs") == 0 && v)
            ok = parse_long(v, 1, 4096, &n_epochs) == 0;
        else if (strcmp(a, "--no-hold") == 0) {
            hold = 0;
            continue;
        } else {
            usage();
            return 2;
        }
        if (!ok) {
            fprintf(stderr, "loadgen: bad value for %s: %s\n", a, v);
            return 2;
        }
        i++;
    }
    if (ntargets < 0 || base_port < 0) {
        usage();
        return 2;
    }
    if (base_port + ntargets - 1 > 65535) {
        fprintf(stderr, "loadgen: ports %ld..%ld do not fit below 65536\n", base_port,
                base_port + ntargets - 1);
        return 2;
    }

    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            fprintf(stderr, "loadgen: cannot raise RLIMIT_NOFILE: %s\n", strerror(errno));
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        (rlim_t)ntargets + 64 > rl.rlim_cur) {
        fprintf(stderr, "loadgen: %ld targets need more than RLIMIT_NOFILE=%llu descriptors\n",
                ntargets, (unsigned long long)rl.rlim_cur);
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);

    struct lg_state st;
    memset(&st, 0, sizeof st);
    st.reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    lg_global = &st;
    st.base_port = base_port;
    st.ntargets = ntargets;
    st.hold = hold;
    int rc = 1;
    struct event *sigterm = NULL, *sigint = NULL;
    if (read_file(data_dir, "go_goroutine.pb.gz", &st.goroutine) != 0 ||
        read_file(data_dir, "go_allocs.pb.gz", &st.allocs) != 0 ||
        read_file(data_dir, "go_mutex.pb.gz", &st.mutex) != 0)
        goto out;
    if (big && make_epochs(&st, (size_t)n_epochs) != 0)
        goto out;

    st.base = event_base_new();
    st.targets = st.base ? evhttp_new(st.base) : NULL;
    if (!st.targets) {
        fprintf(stderr, "loadgen: cannot create the event loop\n");
        goto out;
    }
    evhttp_set_allowed_methods(st.targets, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
    evhttp_set_timeout(st.targets, (int)idle_timeout);
    evhttp_set_gencb(st.targets, target_cb, &st);
    for (long i = 0; i < ntargets; i++) {
        if (bind_port(&st, st.targets, (int)(base_port + i)) != 0) {
            fprintf(stderr, "loadgen: cannot bind 127.0.0.1:%ld: %s\n", base_port + i,
                    strerror(errno));
            goto out;
        }
    }
    if (receiver_port) {
        st.receiver = evhttp_new(st.base);
        if (!st.receiver)
            goto out;
        evhttp_set_allowed_methods(st.receiver, EVHTTP_REQ_GET | EVHTTP_REQ_POST);
        evhttp_set_max_body_size(st.receiver, 64 * 1024 * 1024);
        evhttp_set_timeout(st.receiver, 60);
        evhttp_set_gencb(st.receiver, receiver_cb, &st);
        if (bind_port(&st, st.receiver, (int)receiver_port) != 0) {
            fprintf(stderr, "loadgen: cannot bind receiver 127.0.0.1:%ld: %s\n", receiver_port,
                    strerror(errno));
            goto out;
        }
    }
    sigterm = evsignal_new(st.base, SIGTERM, signal_cb, st.base);
    sigint = evsignal_new(st.base, SIGINT, signal_cb, st.base);
    if (!sigterm || !sigint || evsignal_add(sigterm, NULL) != 0 ||
        evsignal_add(sigint, NULL) != 0) {
        fprintf(stderr, "loadgen: cannot install signal handlers\n");
        goto out;
    }

    printf("ready\n");
    fflush(stdout);
    if (event_base_dispatch(st.base) < 0) {
        fprintf(stderr, "loadgen: event loop failed\n");
        goto out;
    }
    print_totals(&st, stdout, 0);
    fflush(stdout);
    rc = 0;

out:
    if (sigterm)
        event_free(sigterm);
    if (sigint)
        event_free(sigint);
    /* held responses never sent: a request whose client left is ours to free, the others
     * go with their connections in evhttp_free */
    while (st.held) {
        if (!evhttp_request_get_connection(st.held->req))
            evhttp_request_free(st.held->req);
        hold_unlink(st.held);
    }
    if (st.receiver)
        evhttp_free(st.receiver);
    if (st.targets)
        evhttp_free(st.targets);
    if (st.base)
        event_base_free(st.base);
    free(st.goroutine.data);
    free(st.allocs.data);
    free(st.mutex.data);
    for (size_t i = 0; st.epochs && i < st.n_epochs; i++)
        free(st.epochs[i].data);
    free(st.epochs);
    free(st.heap_requests);
    if (st.reserve_fd >= 0)
        close(st.reserve_fd);
    return rc;
}
