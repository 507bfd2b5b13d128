/* test_core_httpc.c - unit tests for the HTTP client (core/httpc.c on core/curlm.c).
 *
 * Every test runs real HTTP over loopback against an in-process libevent evhttp server
 * (127.0.0.1, port 0) in the same event loop as the client, and waits for conditions with
 * a deadline. A raw TCP listener that reads and never answers stands in for a hung server
 * (it sees the client hang up, which evhttp does not report for a pending request) and
 * for a TLS server (it keeps the ClientHello, to check SNI, or fails before it); given a
 * canned answer, it is a stream that never ends. The streaming mode is tested against
 * chunked evhttp replies cut at awkward places. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "core/curlm.h"
#include "core/httpc.h"
#include "core/labels.h"

struct fx {
    struct event_base *base;
    struct evhttp *http;
    struct event *tick;
    struct pg_curlm *m;
    int port;
    char url[128];
    int hang_seen; /* requests received on /hang */
    /* raw listener */
    struct evconnlistener *raw;
    int raw_port;
    struct bufferevent *raw_bev[8];
    int raw_seen;        /* connections that sent something */
    int raw_closed;      /* connections the client closed */
    uint8_t hello[4096]; /* bytes received, all connections */
    size_t hello_len;
    const char *raw_answer; /* sent once a request's headers arrived, then silence */
    /* /stream: a chunked reply of stream_chunks (NULL-terminated), one every 10 ms */
    const char *const *stream_chunks;
    struct evhttp_request *stream_req; /* NULL once finished */
    int stream_step;
    struct event *stream_ev;
};

/* What a done callback saw, copied out of the borrowed response. */
struct result {
    int n;
    long status;
    int failed, timed_out, too_large;
    char *error;
    uint8_t *body;
    size_t len;
    char *ctype, *cenc;
    int64_t retry_after_ms;
    double duration_s;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#define RUN_UNTIL(f, cond, ms)                                                                     \
    do {                                                                                           \
        int64_t dl_ = now_ms() + (ms);                                                             \
        while (!(cond) && now_ms() < dl_)                                                          \
            event_base_loop((f)->base, EVLOOP_ONCE);                                               \
    } while (0)

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

static void result_reset(struct result *r)
{
    free(r->error);
    free(r->body);
    free(r->ctype);
    free(r->cenc);
    memset(r, 0, sizeof(*r));
}

static void on_result(void *ud, const struct pg_httpc_resp *resp)
{
    struct result *r = ud;
    result_reset(r);
    r->n = 1;
    r->status = resp->status;
    r->failed = resp->failed;
    r->timed_out = resp->timed_out;
    r->too_large = resp->too_large;
    r->error = dup_or_null(resp->error);
    assert_non_null(resp->body);
    r->body = malloc(resp->len + 1);
    memcpy(r->body, resp->body, resp->len);
    r->body[resp->len] = '\0';
    r->len = resp->len;
    r->ctype = dup_or_null(resp->content_type);
    r->cenc = dup_or_null(resp->content_encoding);
    r->retry_after_ms = resp->retry_after_ms;
    r->duration_s = resp->duration_s;
}

/* ---- server ---- */

static void reply_text(struct evhttp_request *req, int code, const char *reason, const char *text)
{
    struct evbuffer *b = evbuffer_new();
    evbuffer_add(b, text, strlen(text));
    evhttp_send_reply(req, code, reason, b);
    evbuffer_free(b);
}

/* Sends the next chunk of the /stream reply, or ends it. */
static void stream_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct fx *f = arg;
    if (f->stream_req == NULL)
        return;
    const char *c = f->stream_chunks[f->stream_step];
    if (c == NULL || evhttp_request_get_connection(f->stream_req) == NULL) {
        /* the end, or the client hung up (evhttp then leaves the request to us): this
         * sends the end or frees the request */
        evhttp_send_reply_end(f->stream_req);
        f->stream_req = NULL;
        return;
    }
    struct evbuffer *b = evbuffer_new();
    evbuffer_add(b, c, strlen(c));
    evhttp_send_reply_chunk(f->stream_req, b);
    evbuffer_free(b);
    f->stream_step++;
    struct timeval tv = {0, 10000};
    evtimer_add(f->stream_ev, &tv);
}

static void stream_start(struct fx *f, struct evhttp_request *req)
{
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
    evhttp_send_reply_start(req, 200, "OK");
    f->stream_req = req;
    f->stream_step = 0;
    struct timeval tv = {0, 10000};
    evtimer_add(f->stream_ev, &tv);
}

static void handle(struct evhttp_request *req, void *arg)
{
    struct fx *f = arg;
    const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
    struct evkeyvalq *out = evhttp_request_get_output_headers(req);
    if (strcmp(path, "/ok") == 0) {
        evhttp_add_header(out, "Content-Type", "text/plain");
        reply_text(req, 200, "OK", "hello");
    } else if (strcmp(path, "/big") == 0) {
        struct evbuffer *b = evbuffer_new();
        char chunk[1000];
        memset(chunk, 'x', sizeof(chunk));
        for (int i = 0; i < 10; i++)
            evbuffer_add(b, chunk, sizeof(chunk));
        evhttp_send_reply(req, 200, "OK", b);
        evbuffer_free(b);
    } else if (strcmp(path, "/echo") == 0) {
        struct evbuffer *b = evbuffer_new();
        struct evkeyval *kv;
        for (kv = evhttp_request_get_input_headers(req)->tqh_first; kv; kv = kv->next.tqe_next)
            evbuffer_add_printf(b, "%s: %s\n", kv->key, kv->value);
        evhttp_send_reply(req, 200, "OK", b);
        evbuffer_free(b);
    } else if (strcmp(path, "/echoall") == 0) {
        /* method, body length and every request header */
        struct evbuffer *b = evbuffer_new();
        enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
        evbuffer_add_printf(b, "method=%s body=%zu\n",
                            cmd == EVHTTP_REQ_POST  ? "POST"
                            : cmd == EVHTTP_REQ_GET ? "GET"
                                                    : "other",
                            evbuffer_get_length(evhttp_request_get_input_buffer(req)));
        struct evkeyval *kv;
        for (kv = evhttp_request_get_input_headers(req)->tqh_first; kv; kv = kv->next.tqe_next)
            evbuffer_add_printf(b, "%s: %s\n", kv->key, kv->value);
        evhttp_send_reply(req, 200, "OK", b);
        evbuffer_free(b);
    } else if (strcmp(path, "/429") == 0) {
        evhttp_add_header(out, "Retry-After", "3");
        reply_text(req, 429, "Too Many Requests", "slow down");
    } else if (strcmp(path, "/429date") == 0) {
        char date[64];
        time_t t = time(NULL) + 5;
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
        evhttp_add_header(out, "Retry-After", date);
        reply_text(req, 503, "Service Unavailable", "later");
    } else if (strcmp(path, "/redirect") == 0) {
        evhttp_add_header(out, "Location", "/ok");
        evhttp_add_header(out, "Retry-After", "7");
        evhttp_add_header(out, "Content-Type", "text/html");
        reply_text(req, 302, "Found", "moved");
    } else if (strcmp(path, "/moved-post") == 0) {
        evhttp_add_header(out, "Location", "/post");
        reply_text(req, 301, "Moved Permanently", "moved");
    } else if (strcmp(path, "/post") == 0) {
        char text[64];
        snprintf(text, sizeof(text), "%s len=%zu",
                 evhttp_request_get_command(req) == EVHTTP_REQ_POST ? "POST" : "other",
                 evbuffer_get_length(evhttp_request_get_input_buffer(req)));
        reply_text(req, 200, "OK", text);
    } else if (strcmp(path, "/gz") == 0) {
        uint8_t gz[128];
        z_stream z = {0};
        assert_int_equal(deflateInit2(&z, 6, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY), Z_OK);
        z.next_in = (Bytef *)"profile";
        z.avail_in = 7;
        z.next_out = gz;
        z.avail_out = sizeof(gz);
        assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
        size_t n = sizeof(gz) - z.avail_out;
        deflateEnd(&z);
        struct evbuffer *b = evbuffer_new();
        evbuffer_add(b, gz, n);
        evhttp_add_header(out, "Content-Type", "application/octet-stream");
        evhttp_add_header(out, "Content-Encoding", "gzip");
        evhttp_send_reply(req, 200, "OK", b);
        evbuffer_free(b);
    } else if (strcmp(path, "/stream") == 0) {
        stream_start(f, req);
    } else if (strcmp(path, "/redirect-stream") == 0) {
        evhttp_add_header(out, "Location", "/stream");
        reply_text(req, 302, "Found", "moved\nhere\n");
    } else if (strcmp(path, "/gone") == 0) {
        evhttp_add_header(out, "Content-Type", "application/json");
        reply_text(req, 410, "Gone",
                   "{\"kind\":\"Status\",\"code\":410,\"reason\":\"Expired\"}\n"
                   "{\"second\":\"line\"}\n");
    } else if (strcmp(path, "/hang") == 0) {
        /* never answered: the client times out or cancels */
        f->hang_seen++;
    } else {
        evhttp_send_error(req, 404, NULL);
    }
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
}

static int bound_port(evutil_socket_t fd)
{
    struct sockaddr_in sin;
    socklen_t sl = sizeof(sin);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &sl), 0);
    return ntohs(sin.sin_port);
}

static void raw_drop(struct fx *f, struct bufferevent *bev)
{
    for (size_t i = 0; i < sizeof(f->raw_bev) / sizeof(f->raw_bev[0]); i++)
        if (f->raw_bev[i] == bev)
            f->raw_bev[i] = NULL;
    bufferevent_free(bev);
}

/* Raw listener: keeps what the client sends and never answers. A complete TLS record (the
 * ClientHello) is answered by hanging up, which fails the handshake at once. */
static void raw_read(struct bufferevent *bev, void *arg)
{
    struct fx *f = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    size_t before = f->hello_len;
    size_t room = sizeof(f->hello) - f->hello_len;
    f->hello_len += evbuffer_remove(in, f->hello + f->hello_len, room);
    evbuffer_drain(in, evbuffer_get_length(in));
    if (before == 0 && f->hello_len > 0)
        f->raw_seen++;
    if (f->raw_answer && memmem(f->hello, f->hello_len, "\r\n\r\n", 4)) {
        bufferevent_write(bev, f->raw_answer, strlen(f->raw_answer));
        f->raw_answer = NULL;
    }
    if (f->hello_len >= 5 && f->hello[0] == 0x16 &&
        f->hello_len >= 5 + ((size_t)f->hello[3] << 8 | f->hello[4]))
        raw_drop(f, bev);
}

static void raw_event(struct bufferevent *bev, short what, void *arg)
{
    struct fx *f = arg;
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
        f->raw_closed++;
        raw_drop(f, bev);
    }
}

static void raw_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen,
                       void *arg)
{
    (void)l;
    (void)sa;
    (void)salen;
    struct fx *f = arg;
    for (size_t i = 0; i < sizeof(f->raw_bev) / sizeof(f->raw_bev[0]); i++) {
        if (f->raw_bev[i] == NULL) {
            f->raw_bev[i] = bufferevent_socket_new(f->base, fd, BEV_OPT_CLOSE_ON_FREE);
            bufferevent_setcb(f->raw_bev[i], raw_read, NULL, raw_event, f);
            bufferevent_enable(f->raw_bev[i], EV_READ);
            return;
        }
    }
    evutil_closesocket(fd);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    f->base = event_base_new();
    assert_non_null(f->base);
    f->http = evhttp_new(f->base);
    assert_non_null(f->http);
    evhttp_set_allowed_methods(f->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD);
    evhttp_set_gencb(f->http, handle, f);
    struct evhttp_bound_socket *bs = evhttp_bind_socket_with_handle(f->http, "127.0.0.1", 0);
    assert_non_null(bs);
    f->port = bound_port(evhttp_bound_socket_get_fd(bs));
    snprintf(f->url, sizeof(f->url), "http://127.0.0.1:%d", f->port);

    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = 0};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    f->raw =
        evconnlistener_new_bind(f->base, raw_accept, f, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE,
                                -1, (struct sockaddr *)&sin, sizeof(sin));
    assert_non_null(f->raw);
    f->raw_port = bound_port(evconnlistener_get_fd(f->raw));

    /* keeps EVLOOP_ONCE from blocking past a deadline */
    f->tick = event_new(f->base, -1, EV_PERSIST, on_tick, NULL);
    f->stream_ev = evtimer_new(f->base, stream_tick, f);
    struct timeval tv = {0, 20000};
    event_add(f->tick, &tv);
    f->m = pg_curlm_create(f->base);
    assert_non_null(f->m);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    assert_int_equal(pg_curlm_running(f->m), 0);
    pg_curlm_destroy(f->m);
    for (size_t i = 0; i < sizeof(f->raw_bev) / sizeof(f->raw_bev[0]); i++)
        if (f->raw_bev[i])
            bufferevent_free(f->raw_bev[i]);
    evconnlistener_free(f->raw);
    if (f->stream_req && evhttp_request_get_connection(f->stream_req) == NULL)
        evhttp_send_reply_end(f->stream_req); /* hung up on: ours to free */
    evhttp_free(f->http);
    event_free(f->stream_ev);
    event_free(f->tick);
    event_base_free(f->base);
    free(f);
    return 0;
}

/* Starts a request and waits (5 s at most) for its completion into res. */
static void fetch(struct fx *f, const struct pg_httpc_opts *o, struct result *res)
{
    char err[256];
    result_reset(res);
    struct pg_httpc_req *r = pg_httpc_start(f->m, o, on_result, res, err, sizeof(err));
    assert_non_null(r);
    assert_int_equal(res->n, 0); /* never completes inside start */
    RUN_UNTIL(f, res->n == 1, 5000);
    assert_int_equal(res->n, 1);
}

static void url_of(struct fx *f, char *buf, size_t n, const char *path)
{
    snprintf(buf, n, "%s%s", f->url, path);
}

/* ---- tests ---- */

static void test_get_ok(void **state)
{
    struct fx *f = *state;
    char url[256];
    url_of(f, url, sizeof(url), "/ok");
    struct pg_httpc_opts o = {.url = url, .timeout_ms = 5000};
    struct result res = {0};
    fetch(f, &o, &res);
    assert_int_equal(res.failed, 0);
    assert_null(res.error);
    assert_int_equal(res.status, 200);
    assert_int_equal(res.len, 5);
    assert_string_equal((char *)res.body, "hello");
    assert_string_equal(res.ctype, "text/plain");
    assert_null(res.cenc);
    assert_int_equal(res.retry_after_ms, -1);
    assert_true(res.duration_s > 0 && res.duration_s < 5);
    assert_string_equal(pg_httpc_user_agent(), "profgate/" PG_VERSION);

    /* 404 is a response, not a failure */
    url_of(f, url, sizeof(url), "/nope");
    fetch(f, &o, &res);
    assert_int_equal(res.failed, 0);
    assert_int_equal(res.status, 404);
    result_reset(&res);
}

static void test_body_limit(void **state)
{
    struct fx *f = *state;
    char url[256];
    url_of(f, url, sizeof(url), "/big");
    struct pg_httpc_opts o = {.url = url, .timeout_ms = 5000, .max_body = 1000};
    struct result res = {0};
    fetch(f, &o, &res);
    assert_int_equal(res.failed, 1);
    assert_int_equal(res.too_large, 1);
    assert_int_equal(res.timed_out, 0);
    assert_string_equal(res.error, "body exceeds limit of 1000 bytes");
    assert_int_equal(res.len, 0);
    assert_int_equal(res.status, 200);

    /* exactly at the limit is fine */
    o.max_body = 10000;
    fetch(f, &o, &res);
    assert_int_equal(res.failed, 0);
    assert_int_equal(res.too_large, 0);
    assert_int_equal(res.len, 10000);
    assert_int_equal(res.body[9999], 'x');

    /* default limit (64 MiB) */
    o.max_body = 0;
    fetch(f, &o, &res);
    assert_int_equal(res.failed, 0);
    assert_int_equal(res.len, 10000);
    result_reset(&res);
}

static void test_headers_auth(void **state)
{
    struct fx *f = *state;
    char url[256];
    url_of(f, url, sizeof(url), "/echo");
    struct pg_httpc_cfg http = {.follow_redirects = 1};
    pg_labels_init(&http.headers);
    assert_int_equal(pg_labels_set(&http.headers, "X-Scope-OrgID", "team-a"), 0);
    http.basic_auth_username = "user";
    http.basic_auth_password = "pass";
    const char *extra[] = {"X-Custom: yes", "Connect-Protocol-Version: 1"};
    struct pg_httpc_opts o = {.url = url,
                              .http = &http,
                              .headers = extra,
                              .n_headers = 2,
                              .timeout_ms = 5000,
                              .accept_gzip = 1};
    struct result res = {0};
    fetch(f, &o, &res);
    assert_int_equal(res.status, 200);
    const char *b = (const char *)res.body;
    assert_non_null(strstr(b, "User-Agent: profgate/" PG_VERSION "\n"));
    assert_non_null(strstr(b, "Authorization: Basic dXNlcjpwYXNz\n")); /* user:pass */
    assert_non_null(strstr(b, "Accept-Encoding: gzip\n"));
    assert_non_null(strstr(b, "X-Custom: yes\n"));
    assert_non_null(strstr(b, "Connect-Protocol-Version: 1\n"));
    assert_non_null(strstr(b, "X-Scope-OrgID: team-a\n"));

    /* bearer (default type), no gzip, no config headers */
    struct pg_httpc_cfg bearer = {.follow_redirects = 1, .auth_credentials = "tok"};
    pg_labels_init(&bearer.headers);
    struct pg_httpc_opts o2 = {.url = url, .http = &bearer, .timeout_ms = 5000};
    fetch(f, &o2, &res);
    b = (const char *)res.body;
    assert_non_null(strstr(b, "Authorization: Bearer tok\n"));
    assert_null(strstr(b, "Accept-Encoding"));
    assert_null(strstr(b, "X-Scope-OrgID"));
    assert_non_null(strstr(b, "User-Agent: profgate/"));

    /* explicit type */
    bearer.auth_type = "Token";
    fetch(f, &o2, &res);
    assert_non_null(strstr((const char *)res.body, "Authorization: Token tok\n"));

    /* server_name on a plain http URL is a TLS-only option: the request still works */
    bearer.tls.server_name = "127.0.0.1";
    fetch(f, &o2, &res);
    assert_int_equal(res.failed, 0);
    assert_int_equal(res.status, 200);
    result_reset(&res);
    pg_labels_reset(&http.headers);
}

/* http_headers (values, secrets, files read per request) and *_file secrets re-read per
 * request; a missing file fails the start with Go's wording. */
static void test_http_headers_and_files(void **state)
{
    struct fx *f = *state;
    char url[256], hfile[] = "/tmp/pg_httpc_hdr_XXXXXX", pfile[] = "/tmp/pg_httpc_pw_XXXXXX";
    url_of(f, url, sizeof(url), "/echo");
    int fd = mkstemp(hfile), pd = mkstemp(pfile);
    assert_true(fd >= 0 && pd >= 0);
    assert_int_equal(write(fd, " from-file-1 \n", 14), 14);
    assert_int_equal(write(pd, "pw1\n", 4), 4);
    close(fd);
    close(pd);
    char *values[] = {"a", "b"}, *secrets[] = {"s3"}, *files[] = {hfile};
    struct pg_httpc_header hd = {.name = "X-Multi",
                                 .values = values,
                                 .n_values = 2,
                                 .secrets = secrets,
                                 .n_secrets = 1,
                                 .files = files,
                                 .n_files = 1};
    struct pg_httpc_cfg http = {.follow_redirects = 1, .http_headers = &hd, .n_http_headers = 1};
    http.basic_auth_username = "user";
    http.basic_auth_password_file = pfile;
    struct pg_httpc_opts o = {.url = url, .http = &http, .timeout_ms = 5000};
    struct result res = {0};
    fetch(f, &o, &res);
    const char *b = (const char *)res.body;
    assert_non_null(strstr(b, "X-Multi: a\nX-Multi: b\nX-Multi: s3\nX-Multi: from-file-1\n"));
    assert_non_null(strstr(b, "Authorization: Basic dXNlcjpwdzE=\n")); /* user:pw1 */
    FILE *pf = fopen(pfile, "w");
    fputs("pw2\n", pf);
    fclose(pf);
    fetch(f, &o, &res);
    assert_non_null(strstr((const char *)res.body, "Authorization: Basic dXNlcjpwdzI=\n"));
    unlink(hfile);
    char err[512];
    assert_null(pg_httpc_start(f->m, &o, on_result, &res, err, sizeof(err)));
    assert_non_null(
        strstr(err, "unable to read headers file: unable to read file /tmp/pg_httpc_hdr_"));
    assert_null(strstr(err, "s3"));
    unlink(pfile);
    hd.n_files = 0;
    assert_null(pg_httpc_start(f->m, &o, on_result, &res, err, sizeof(err)));
    assert_non_null(strstr(err, "unable to read basic auth password: unable to read file"));
    result_reset(&res);
}

/* Without proxy options libcurl's own http_proxy handling stays off; a request that failed
 * to resolve does not poison the handle pool (libcurl 7.88 then refuses BUFFERSIZE). */
static void test_env_proxy_ignored_and_pool_after_resolve_failure(void **state)
{
    struct fx *f = *state;
    char url[256];
    url_of(f, url, sizeof(url), "/ok");
    setenv("http_proxy", "http://127.0.0.1:1", 1);
    setenv("ALL_PROXY", "http://127.0.0.1:1", 1);
    struct pg_httpc_opts o = {.url = url, .timeout_ms = 5000};
    struct result res = {0};
    fetch(f, &o, &res);
    assert_int_equal(res.failed, 0);
    assert_int_equal(res.status, 200);
    unsetenv("http_proxy");
    unsetenv("ALL_PROXY");
    struct pg_httpc_opts bad = {.url = "http://pg-unresolvable.invalid:1/", .timeout_ms = 5000};
    for (int i = 0; i < 3; i++) {
        fetch(f, &bad, &res);
        assert_int_equal(res.failed, 1);
        fetch(f, &o, &res); /* reuses the pooled handle */
        assert_int_equal(res.failed, 0);
        assert_int_equal(res.status, 200);
    }
    result_reset(&res);
}

static void test_retry_after(void **state)
{
    struct fx *f = *state;
    char url[256];
    url_of(f, url, sizeof(url), "/429");
    struct pg_httpc_opts o = {.url = url, .timeout_ms = 5000};
    struct result res = {0};
    fetch(f, &o, &res);
    assert_int_equal(res.failed, 0);
    assert_int_equal(res.status, 429);
    assert_int_equal(res.retry_after_ms, 3000);
    assert_string_equal((char *)res.body, "slow down");

    url_of(f, url, sizeof(url), "/429date");
    fetch(f, &o, &res);
    assert_int_equal(res.status, 503);
    assert_true(res.retry_after_ms > 3000 && res.retry_after_ms <= 5000);
    result_reset(&res);
}

static void test_redirects(void **state)
{
    struct fx *f = *state;
    char url[256];
    url_of(f, url, sizeof(url), "/redirect");
    struct pg_httpc_opts o = {.url = url, .timeout_ms = 5000};
    struct result res = {0};
    /* http == NULL follows */
    fetch(f, &o, &res);
    assert_int_equal(res.status, 200);
    assert_string_equal((char *)res.body, "hello");
    /* headers of the 302 do not leak into the final response */
    assert_string_equal(res.ctype, "text/plain");
    assert_int_equal(res.retry_after_ms, -1);

    struct pg_httpc_cfg http = {.follow_redirects = 0};
    pg_labels_init(&http.headers);
    o.http = &http;
    fetch(f, &o, &res);
    assert_int_equal(res.failed, 0);
    assert_int_equal(res.status, 302);
    assert_string_equal((char *)res.body, "moved");
    assert_int_equal(res.retry_after_ms, 7000);
    assert_string_equal(res.ctype, "text/html");
    result_reset(&res);
}

static void test_post(void **state)
{
    struct fx *f = *state;
    char url[256];
    url_of(f, url, sizeof(url), "/post");
    uint8_t *body = malloc(5000);
    memset(body, 'b', 5000);
    struct pg_httpc_opts o = {
        .method = "POST", .url = url, .body = body, .body_len = 5000, .timeout_ms = 5000};
    struct result res = {0};
    char err[128];
    result_reset(&res);
    struct pg_httpc_req *r = pg_httpc_start(f->m, &o, on_result, &res, err, sizeof(err));
    assert_non_null(r);
    free(body); /* the body was copied at start */
    RUN_UNTIL(f, res.n == 1, 5000);
    assert_int_equal(res.n, 1);
    assert_int_equal(res.status, 200);
    assert_string_equal((char *)res.body, "POST len=5000");

    /* a followed 301 resends the POST with its body (curl would otherwise switch to GET) */
    char moved[256];
    url_of(f, moved, sizeof(moved), "/moved-post");
    uint8_t body2[300];
    memset(body2, 'c', sizeof(body2));
    struct pg_httpc_opts o2 = {.method = "POST",
                               .url = moved,
                               .body = body2,
                               .body_len = sizeof(body2),
                               .timeout_ms = 5000};
    fetch(f, &o2, &res);
    assert_int_equal(res.status, 200);
    assert_string_equal((char *)res.body, "POST len=300");

    /* empty POST */
    o.body = NULL;
    o.body_len = 0;
    fetch(f, &o, &res);
    assert_string_equal((char *)res.body, "POST len=0");
    result_reset(&res);
}

/* A pooled handle carries nothing of its previous request: a POST with a body, auth,
 * extra and config headers and a small receive buffer, then a GET on the same handle. */
static void test_pooled_handle_no_leak(void **state)
{
    struct fx *f = *state;
    char url[256];
    url_of(f, url, sizeof(url), "/echoall");
    struct pg_httpc_cfg http = {.follow_redirects = 0, .auth_credentials = "secret-token"};
    pg_labels_init(&http.headers);
    assert_int_equal(pg_labels_set(&http.headers, "X-Config-Header", "cfg"), 0);
    http.basic_auth_username = "user";
    http.basic_auth_password = "pass";
    const char *extra[] = {"X-First: 1"};
    uint8_t body[3000];
    memset(body, 'p', sizeof(body));
    struct pg_httpc_opts post = {.method = "POST",
                                 .url = url,
                                 .http = &http,
                                 .headers = extra,
                                 .n_headers = 1,
                                 .body = body,
                                 .body_len = sizeof(body),
                                 .timeout_ms = 5000,
                                 .accept_gzip = 1,
                                 .fresh_connection = 1,
                                 .recv_buffer = 1,
                                 .capture_header = "Content-Length"};
    struct result res = {0};
    assert_int_equal(pg_curlm_pooled(f->m), 0);
    fetch(f, &post, &res);
    assert_int_equal(res.status, 200);
    const char *b = (const char *)res.body;
    assert_non_null(strstr(b, "method=POST body=3000\n"));
    assert_non_null(strstr(b, "X-First: 1\n"));
    assert_non_null(strstr(b, "X-Config-Header: cfg\n"));
    assert_non_null(strstr(b, "Authorization: "));
    assert_non_null(strstr(b, "Accept-Encoding: gzip\n"));
    assert_int_equal(pg_curlm_pooled(f->m), 1); /* the handle went back to the pool */

    struct pg_httpc_opts get = {.url = url, .timeout_ms = 5000};
    char err[128];
    result_reset(&res);
    struct pg_httpc_req *r = pg_httpc_start(f->m, &get, on_result, &res, err, sizeof(err));
    assert_non_null(r);
    assert_int_equal(pg_curlm_pooled(f->m), 0); /* the same handle is reused */
    RUN_UNTIL(f, res.n == 1, 5000);
    assert_int_equal(res.n, 1);
    assert_int_equal(res.failed, 0);
    b = (const char *)res.body;
    assert_non_null(strstr(b, "method=GET body=0\n"));
    assert_null(strstr(b, "X-First"));
    assert_null(strstr(b, "X-Config-Header"));
    assert_null(strstr(b, "Authorization"));
    assert_null(strstr(b, "Accept-Encoding"));
    assert_null(strstr(b, "Content-Length"));
    assert_null(strstr(b, "Expect"));
    assert_non_null(strstr(b, "User-Agent: profgate/" PG_VERSION "\n"));

    /* HEAD (no body) then GET on the reused handle: the GET has its body; a 10000-byte
     * body through the smallest receive buffer, and with the default one */
    url_of(f, url, sizeof(url), "/big");
    struct pg_httpc_opts head = {.method = "HEAD", .url = url, .timeout_ms = 5000};
    fetch(f, &head, &res);
    assert_int_equal(res.status, 200);
    assert_int_equal(res.len, 0);
    get.recv_buffer = PG_HTTPC_RECV_BUFFER_MIN;
    fetch(f, &get, &res);
    assert_int_equal(res.len, 10000);
    assert_int_equal(res.body[9999], 'x');
    get.recv_buffer = 0;
    fetch(f, &get, &res);
    assert_int_equal(res.len, 10000);
    assert_int_equal(pg_curlm_pooled(f->m), 1);
    result_reset(&res);
    pg_labels_reset(&http.headers);
}

/* The pool keeps at most PG_CURLM_POOL_MAX idle handles; the rest are freed. */
static void test_pool_bounded(void **state)
{
    struct fx *f = *state;
    enum { N = PG_CURLM_POOL_MAX + 6 };
    char url[256];
    url_of(f, url, sizeof(url), "/ok");
    struct pg_httpc_opts o = {.url = url, .timeout_ms = 5000, .fresh_connection = 1};
    static struct result res[N];
    char err[128];
    for (int i = 0; i < N; i++)
        assert_non_null(pg_httpc_start(f->m, &o, on_result, &res[i], err, sizeof(err)));
    int done = 0;
    int64_t dl = now_ms() + 10000;
    while (done < N && now_ms() < dl) {
        event_base_loop(f->base, EVLOOP_ONCE);
        done = 0;
        for (int i = 0; i < N; i++)
            done += res[i].n;
    }
    assert_int_equal(done, N);
    for (int i = 0; i < N; i++) {
        assert_int_equal(res[i].status, 200);
        result_reset(&res[i]);
    }
    assert_int_equal(pg_curlm_pooled(f->m), PG_CURLM_POOL_MAX);
}

static void test_gzip_passthrough(void **state)
{
    struct fx *f = *state;
    char url[256];
    url_of(f, url, sizeof(url), "/gz");
    struct pg_httpc_opts o = {.url = url, .timeout_ms = 5000, .accept_gzip = 1};
    struct result res = {0};
    fetch(f, &o, &res);
    assert_int_equal(res.failed, 0);
    assert_string_equal(res.cenc, "gzip");
    assert_string_equal(res.ctype, "application/octet-stream");
    /* still compressed: gzip magic, and it inflates to the original */
    assert_true(res.len > 10);
    assert_int_equal(res.body[0], 0x1f);
    assert_int_equal(res.body[1], 0x8b);
    char plain[32] = {0};
    z_stream z = {0};
    assert_int_equal(inflateInit2(&z, 31), Z_OK);
    z.next_in = res.body;
    z.avail_in = (uInt)res.len;
    z.next_out = (Bytef *)plain;
    z.avail_out = sizeof(plain) - 1;
    assert_int_equal(inflate(&z, Z_FINISH), Z_STREAM_END);
    inflateEnd(&z);
    assert_string_equal(plain, "profile");
    result_reset(&res);
}

static void test_timeout(void **state)
{
    struct fx *f = *state;
    char url[256];
    url_of(f, url, sizeof(url), "/hang");
    struct pg_httpc_opts o = {.url = url, .timeout_ms = 200};
    struct result res = {0};
    int64_t t0 = now_ms();
    fetch(f, &o, &res);
    int64_t took = now_ms() - t0;
    assert_int_equal(f->hang_seen, 1);
    assert_int_equal(res.failed, 1);
    assert_int_equal(res.timed_out, 1);
    assert_int_equal(res.too_large, 0);
    assert_int_equal(res.status, 0);
    assert_true(took >= 190 && took < 3000);
    assert_true(res.duration_s >= 0.19);
    char prefix[300];
    snprintf(prefix, sizeof(prefix), "Get \"%s\": ", url);
    assert_non_null(res.error);
    assert_memory_equal(res.error, prefix, strlen(prefix));
    assert_true(strlen(res.error) > strlen(prefix));
    result_reset(&res);
}

static void test_connection_refused(void **state)
{
    struct fx *f = *state;
    /* a port that was just free: bind, read the port, close */
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = 0};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(s, (struct sockaddr *)&sin, sizeof(sin)), 0);
    int port = bound_port(s);
    close(s);
    char url[256];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/x", port);
    struct pg_httpc_opts o = {.method = "post", .url = url, .timeout_ms = 5000};
    struct result res = {0};
    fetch(f, &o, &res);
    assert_int_equal(res.failed, 1);
    assert_int_equal(res.timed_out, 0);
    assert_int_equal(res.status, 0);
    assert_int_equal(res.len, 0);
    char prefix[300];
    snprintf(prefix, sizeof(prefix), "Post \"%s\": ", url);
    assert_memory_equal(res.error, prefix, strlen(prefix));
    assert_non_null(strstr(res.error, "onnect"));
    result_reset(&res);

    /* a password in the URL never reaches the error text */
    snprintf(url, sizeof(url), "http://alice:TopSecret@127.0.0.1:%d/x", port);
    fetch(f, &o, &res);
    assert_int_equal(res.failed, 1);
    assert_null(strstr(res.error, "TopSecret"));
    assert_non_null(strstr(res.error, "alice:<secret>@127.0.0.1"));
    result_reset(&res);

    char shown[128];
    pg_httpc_redact_url("https://u:p@h:1/a?b=c@d", shown, sizeof(shown));
    assert_string_equal(shown, "https://u:<secret>@h:1/a?b=c@d");
    pg_httpc_redact_url("http://h/p", shown, sizeof(shown));
    assert_string_equal(shown, "http://h/p");
    pg_httpc_redact_url("http://user@h/p", shown, sizeof(shown));
    assert_string_equal(shown, "http://user@h/p");
    pg_httpc_redact_url("https://u:p@ss@host/", shown, sizeof(shown)); /* '@' in the password */
    assert_string_equal(shown, "https://u:<secret>@host/");
    pg_httpc_redact_url("http://host/a:b@c", shown, sizeof(shown)); /* '@' after the host */
    assert_string_equal(shown, "http://host/a:b@c");
}

static void test_bad_url(void **state)
{
    struct fx *f = *state;
    char err[128] = "x";
    struct pg_httpc_opts o = {.url = NULL};
    struct result res = {0};
    assert_null(pg_httpc_start(f->m, &o, on_result, &res, err, sizeof(err)));
    assert_true(err[0] != '\0');
    /* an unsupported scheme is reported through done, from the loop */
    o.url = "gopher://127.0.0.1/";
    fetch(f, &o, &res);
    assert_int_equal(res.failed, 1);
    assert_non_null(strstr(res.error, "gopher://127.0.0.1/"));
    result_reset(&res);
}

/* tls_config.server_name reaches the TLS handshake (SNI) while the connection still goes to
 * the URL's host; a bad CA file is reported through done. */
static void test_tls_server_name(void **state)
{
    struct fx *f = *state;
    char url[256];
    snprintf(url, sizeof(url), "https://127.0.0.1:%d/debug/pprof/allocs", f->raw_port);
    struct pg_httpc_cfg http = {.follow_redirects = 1};
    pg_labels_init(&http.headers);
    http.tls.server_name = "pg-sni.invalid";
    struct pg_httpc_opts o = {.url = url, .http = &http, .timeout_ms = 5000};
    struct result res = {0};
    fetch(f, &o, &res);
    assert_int_equal(res.failed, 1);
    /* not resolved by name: connected to 127.0.0.1 and sent the name as SNI */
    assert_null(strstr(res.error, "resolve"));
    assert_false(isspace((unsigned char)res.error[strlen(res.error) - 1]));
    assert_true(f->hello_len > 0);
    assert_int_equal(f->hello[0], 0x16); /* TLS handshake record */
    assert_non_null(memmem(f->hello, f->hello_len, "pg-sni.invalid", 14));
    /* the error names the URL as configured */
    assert_non_null(strstr(res.error, url));

    /* without server_name, no SNI for an IP address */
    f->hello_len = 0;
    http.tls.server_name = NULL;
    fetch(f, &o, &res);
    assert_int_equal(res.failed, 1);
    assert_true(f->hello_len > 0);
    assert_null(memmem(f->hello, f->hello_len, "pg-sni.invalid", 14));

    http.tls.ca_file = "/nonexistent/ca.pem";
    fetch(f, &o, &res);
    assert_int_equal(res.failed, 1);
    assert_non_null(strstr(res.error, "/nonexistent/ca.pem"));
    result_reset(&res);
}

static void test_tls_pem(void **state)
{
    struct fx *f = *state;
    char url[256];
    snprintf(url, sizeof(url), "https://127.0.0.1:%d/", f->raw_port);
    /* PEM in memory takes the place of the configured files: curl refuses these blobs
     * (error texts of libcurl with OpenSSL), and never looks at the files */
    struct pg_httpc_cfg http = {.follow_redirects = 1};
    pg_labels_init(&http.headers);
    http.tls.ca_file = "/nonexistent/ca.pem";
    struct pg_httpc_opts o = {.url = url, .http = &http, .timeout_ms = 5000};
    o.ca_pem = (struct pg_httpc_pem){"not a certificate", 17};
    struct result res = {0};
    fetch(f, &o, &res);
    assert_int_equal(res.failed, 1);
    assert_non_null(strstr(res.error, "CA certificate blob"));
    assert_null(strstr(res.error, "/nonexistent"));

    o.ca_pem.data = NULL;
    http.tls.ca_file = NULL;
    http.tls.insecure_skip_verify = 1;
    http.tls.cert_file = "/nonexistent/cert.pem";
    o.cert_pem = (struct pg_httpc_pem){"not a certificate", 17};
    fetch(f, &o, &res);
    assert_int_equal(res.failed, 1);
    assert_non_null(strstr(res.error, "SSLCERT_BLOB"));
    assert_null(strstr(res.error, "/nonexistent"));
    result_reset(&res);
}

static void test_many_concurrent(void **state)
{
    struct fx *f = *state;
    enum { N = 200 };
    char url[256];
    url_of(f, url, sizeof(url), "/ok");
    struct result *res = calloc(N, sizeof(*res));
    struct pg_httpc_opts o = {.url = url, .timeout_ms = 20000};
    for (int i = 0; i < N; i++)
        assert_non_null(pg_httpc_start(f->m, &o, on_result, &res[i], NULL, 0));
    assert_int_equal(pg_curlm_running(f->m), N);
    int done = 0;
    int64_t dl = now_ms() + 20000;
    while (done < N && now_ms() < dl) {
        event_base_loop(f->base, EVLOOP_ONCE);
        done = 0;
        for (int i = 0; i < N; i++)
            done += res[i].n;
    }
    assert_int_equal(done, N);
    for (int i = 0; i < N; i++) {
        assert_int_equal(res[i].failed, 0);
        assert_int_equal(res[i].status, 200);
        assert_string_equal((char *)res[i].body, "hello");
        result_reset(&res[i]);
    }
    assert_int_equal(pg_curlm_running(f->m), 0);
    free(res);
}

static void test_cancel_in_flight(void **state)
{
    struct fx *f = *state;
    char url[256];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/hang", f->raw_port);
    struct pg_httpc_opts o = {.url = url, .timeout_ms = 5000};
    struct result res = {0};
    struct pg_httpc_req *r = pg_httpc_start(f->m, &o, on_result, &res, NULL, 0);
    assert_non_null(r);
    RUN_UNTIL(f, f->raw_seen == 1, 5000);
    assert_int_equal(f->raw_seen, 1);
    pg_httpc_cancel(r);
    assert_int_equal(pg_curlm_running(f->m), 0);
    /* the server sees the connection go away; done is never called */
    RUN_UNTIL(f, f->raw_closed == 1, 5000);
    assert_int_equal(f->raw_closed, 1);
    assert_int_equal(res.n, 0);
    pg_httpc_cancel(NULL);

    /* cancel before anything happened on the wire */
    f->hello_len = 0;
    r = pg_httpc_start(f->m, &o, on_result, &res, NULL, 0);
    assert_non_null(r);
    pg_httpc_cancel(r);
    int64_t dl = now_ms() + 200;
    RUN_UNTIL(f, now_ms() > dl, 1000);
    assert_int_equal(res.n, 0);
    assert_int_equal(f->raw_seen, 1); /* nothing was sent */
}

/* A done callback that cancels another request and starts a new one. */
struct chain {
    struct fx *f;
    struct pg_httpc_req *victim;
    struct result first, started;
    struct pg_httpc_req *next;
    char url[256];
};

static void chain_done(void *ud, const struct pg_httpc_resp *resp)
{
    struct chain *c = ud;
    on_result(&c->first, resp);
    pg_httpc_cancel(c->victim);
    c->victim = NULL;
    struct pg_httpc_opts o = {.url = c->url, .timeout_ms = 5000};
    c->next = pg_httpc_start(c->f->m, &o, on_result, &c->started, NULL, 0);
}

static void test_done_cancels_and_starts(void **state)
{
    struct fx *f = *state;
    struct chain c = {.f = f};
    char hang[256], ok[256];
    url_of(f, hang, sizeof(hang), "/hang");
    url_of(f, ok, sizeof(ok), "/ok");
    snprintf(c.url, sizeof(c.url), "%s/echo", f->url);
    struct result victim_res = {0};
    struct pg_httpc_opts oh = {.url = hang, .timeout_ms = 5000};
    c.victim = pg_httpc_start(f->m, &oh, on_result, &victim_res, NULL, 0);
    assert_non_null(c.victim);
    RUN_UNTIL(f, f->hang_seen == 1, 5000);
    struct pg_httpc_opts oo = {.url = ok, .timeout_ms = 5000};
    assert_non_null(pg_httpc_start(f->m, &oo, chain_done, &c, NULL, 0));
    RUN_UNTIL(f, c.started.n == 1, 5000);
    assert_int_equal(c.first.n, 1);
    assert_int_equal(c.first.status, 200);
    assert_non_null(c.next);
    assert_int_equal(c.started.n, 1);
    assert_int_equal(c.started.status, 200);
    assert_non_null(strstr((char *)c.started.body, "User-Agent"));
    assert_int_equal(victim_res.n, 0);
    assert_int_equal(pg_curlm_running(f->m), 0);
    result_reset(&c.first);
    result_reset(&c.started);
}

/* Two requests that finish together, each cancelling the other from its callback: exactly
 * one callback runs (the other's pending completion is dropped). */
struct pair {
    struct pg_httpc_req *r[2];
    int done[2];
};

static void pair_done(struct pair *p, int i)
{
    p->done[i]++;
    p->r[i] = NULL;
    if (p->r[1 - i]) {
        pg_httpc_cancel(p->r[1 - i]);
        p->r[1 - i] = NULL;
    }
}

static void pair_done0(void *ud, const struct pg_httpc_resp *resp)
{
    assert_int_equal(resp->status, 200);
    pair_done(ud, 0);
}

static void pair_done1(void *ud, const struct pg_httpc_resp *resp)
{
    assert_int_equal(resp->status, 200);
    pair_done(ud, 1);
}

static void test_done_cancels_peer(void **state)
{
    struct fx *f = *state;
    char url[256];
    url_of(f, url, sizeof(url), "/ok");
    for (int round = 0; round < 20; round++) {
        struct pair p = {0};
        struct pg_httpc_opts o = {.url = url, .timeout_ms = 5000};
        p.r[0] = pg_httpc_start(f->m, &o, pair_done0, &p, NULL, 0);
        p.r[1] = pg_httpc_start(f->m, &o, pair_done1, &p, NULL, 0);
        assert_non_null(p.r[0]);
        assert_non_null(p.r[1]);
        RUN_UNTIL(f, p.done[0] + p.done[1] > 0, 5000);
        assert_int_equal(p.done[0] + p.done[1], 1);
        assert_int_equal(pg_curlm_running(f->m), 0);
    }
}

static size_t discard(char *d, size_t s, size_t n, void *u)
{
    (void)d;
    (void)u;
    return s * n;
}

static void raw_done(void *ud, CURL *easy, CURLcode result)
{
    (void)easy;
    (void)result;
    (*(int *)ud)++;
}

/* Destroying the driver with transfers still added frees its side without callbacks. */
static void test_curlm_destroy_running(void **state)
{
    struct fx *f = *state;
    struct pg_curlm *m = pg_curlm_create(f->base);
    assert_non_null(m);
    char url[256];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/hang", f->raw_port);
    struct result res = {0};
    struct pg_httpc_opts o = {.url = url, .timeout_ms = 5000};
    struct pg_httpc_req *r = pg_httpc_start(m, &o, on_result, &res, NULL, 0);
    assert_non_null(r);
    RUN_UNTIL(f, f->raw_seen == 1, 5000);
    assert_int_equal(pg_curlm_running(m), 1);
    /* remove of an unknown handle is harmless */
    CURL *stray = curl_easy_init();
    pg_curlm_remove(m, stray);
    curl_easy_cleanup(stray);
    assert_int_equal(pg_curlm_running(m), 1);
    pg_httpc_cancel(r);
    assert_int_equal(pg_curlm_running(m), 0);
    RUN_UNTIL(f, f->raw_closed == 1, 5000);
    assert_int_equal(f->raw_closed, 1);
    f->hello_len = 0;
    /* a raw easy still running when the driver goes: no callback, the easy stays ours */
    CURL *easy = curl_easy_init();
    curl_easy_setopt(easy, CURLOPT_URL, url);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, discard);
    int called = 0;
    assert_int_equal(pg_curlm_add(m, easy, raw_done, &called), 0);
    assert_int_equal(pg_curlm_add(m, easy, raw_done, &called), -1); /* already added */
    assert_int_equal(pg_curlm_running(m), 1);
    RUN_UNTIL(f, f->raw_seen == 2, 5000);
    assert_int_equal(f->raw_seen, 2);
    pg_curlm_destroy(m);
    assert_int_equal(called, 0);
    curl_easy_cleanup(easy);
    RUN_UNTIL(f, f->raw_closed == 2, 5000);
    assert_int_equal(f->raw_closed, 2);
    assert_int_equal(called, 0);
    pg_curlm_destroy(NULL);
}

/* ---- streaming mode ---- */

/* What a streamed request saw: its head, lines or chunks, and its completion. */
struct stream_res {
    struct result r;
    int heads;
    long head_status;
    char head_ctype[64];
    int lines_at_head; /* lines seen when the head came: must be 0 */
    int stop_head;     /* on_head refuses */
    char lines[16][64];
    int n_lines;
    int stop_at; /* on_line refuses the n-th line (1-based), 0 = never */
    char chunks[256];
    size_t chunks_len;
    int n_chunks;
    int stopped;
};

static int s_head(void *ud, const struct pg_httpc_resp *head)
{
    struct stream_res *s = ud;
    s->heads++;
    s->head_status = head->status;
    snprintf(s->head_ctype, sizeof(s->head_ctype), "%s",
             head->content_type ? head->content_type : "");
    s->lines_at_head = s->n_lines + s->n_chunks;
    assert_int_equal(head->failed, 0);
    assert_int_equal(head->len, 0);
    return s->stop_head ? -1 : 0;
}

static int s_line(void *ud, const char *line, size_t len)
{
    struct stream_res *s = ud;
    assert_true(s->n_lines < 16 && len < 64);
    assert_int_equal(s->heads, 1);
    memcpy(s->lines[s->n_lines], line, len);
    s->lines[s->n_lines][len] = '\0';
    s->n_lines++;
    return s->stop_at && s->n_lines == s->stop_at ? -1 : 0;
}

static int s_chunk(void *ud, const char *data, size_t len)
{
    struct stream_res *s = ud;
    assert_true(s->chunks_len + len < sizeof(s->chunks));
    memcpy(s->chunks + s->chunks_len, data, len);
    s->chunks_len += len;
    s->chunks[s->chunks_len] = '\0';
    s->n_chunks++;
    return 0;
}

static void s_done(void *ud, const struct pg_httpc_resp *resp)
{
    struct stream_res *s = ud;
    assert_int_equal(resp->body[resp->len], '\0'); /* a NUL follows the body */
    s->stopped = resp->stopped;
    on_result(&s->r, resp);
}

/* Starts a streamed request and waits (5 s at most) for its completion into s. */
static void stream_fetch(struct fx *f, const struct pg_httpc_opts *o, struct stream_res *s)
{
    char err[256];
    result_reset(&s->r);
    struct pg_httpc_req *r = pg_httpc_start(f->m, o, s_done, s, err, sizeof(err));
    assert_non_null(r);
    RUN_UNTIL(f, s->r.n == 1, 5000);
    assert_int_equal(s->r.n, 1);
    /* a /stream the client left early: let the server finish it before the next one */
    RUN_UNTIL(f, f->stream_req == NULL, 5000);
    assert_null(f->stream_req);
}

static void test_stream_lines(void **state)
{
    struct fx *f = *state;
    /* events cut inside a line, two lines in one chunk, an empty line, no final newline */
    static const char *const chunks[] = {"{\"a\":", "1}\n{\"b\"", ":2}\n\n{\"c\":3}\n{\"d", "\":4}",
                                         NULL};
    f->stream_chunks = chunks;
    char url[256];
    url_of(f, url, sizeof(url), "/stream");
    /* max_body does not bound a streamed 2xx body */
    struct pg_httpc_opts o = {.url = url,
                              .timeout_ms = 5000,
                              .max_body = 8,
                              .on_head = s_head,
                              .on_line = s_line,
                              .max_line = 16};
    struct stream_res s = {0};
    stream_fetch(f, &o, &s);
    assert_int_equal(s.r.failed, 0);
    assert_int_equal(s.r.status, 200);
    assert_int_equal(s.r.len, 0);
    assert_int_equal(s.heads, 1);
    assert_int_equal(s.head_status, 200);
    assert_string_equal(s.head_ctype, "application/json");
    assert_int_equal(s.lines_at_head, 0);
    assert_int_equal(s.n_lines, 4);
    assert_string_equal(s.lines[0], "{\"a\":1}");
    assert_string_equal(s.lines[1], "{\"b\":2}");
    assert_string_equal(s.lines[2], "{\"c\":3}");
    assert_string_equal(s.lines[3], "{\"d\":4}");
    assert_string_equal(s.r.ctype, "application/json");
    result_reset(&s.r);

    /* through a redirect: the head and lines are the final response's only */
    memset(&s, 0, sizeof(s));
    url_of(f, url, sizeof(url), "/redirect-stream");
    stream_fetch(f, &o, &s);
    assert_int_equal(s.r.failed, 0);
    assert_int_equal(s.heads, 1);
    assert_int_equal(s.head_status, 200);
    assert_int_equal(s.n_lines, 4);
    assert_string_equal(s.lines[0], "{\"a\":1}");
    result_reset(&s.r);

    /* chunk mode: the body as received, piece by piece */
    memset(&s, 0, sizeof(s));
    url_of(f, url, sizeof(url), "/stream");
    o.on_line = NULL;
    o.on_chunk = s_chunk;
    stream_fetch(f, &o, &s);
    assert_int_equal(s.r.failed, 0);
    assert_int_equal(s.heads, 1);
    assert_int_equal(s.lines_at_head, 0);
    assert_true(s.n_chunks >= 1);
    assert_string_equal(s.chunks, "{\"a\":1}\n{\"b\":2}\n\n{\"c\":3}\n{\"d\":4}");
    result_reset(&s.r);
}

static void test_stream_line_limit(void **state)
{
    struct fx *f = *state;
    /* a line of exactly max_line bytes passes; the next, cut across chunks, is one too long */
    static const char *const chunks[] = {"12345678\n", "1234", "56789\n", "after\n", NULL};
    f->stream_chunks = chunks;
    char url[256];
    url_of(f, url, sizeof(url), "/stream");
    struct pg_httpc_opts o = {
        .url = url, .timeout_ms = 5000, .on_head = s_head, .on_line = s_line, .max_line = 8};
    struct stream_res s = {0};
    stream_fetch(f, &o, &s);
    assert_int_equal(s.r.failed, 1);
    assert_int_equal(s.r.too_large, 1);
    assert_int_equal(s.stopped, 0);
    assert_int_equal(s.r.status, 200);
    assert_string_equal(s.r.error, "line exceeds limit of 8 bytes");
    assert_int_equal(s.n_lines, 1);
    assert_string_equal(s.lines[0], "12345678");
    result_reset(&s.r);
}

static void test_stream_stop(void **state)
{
    struct fx *f = *state;
    static const char *const chunks[] = {"one\ntwo\n", "three\n", NULL};
    f->stream_chunks = chunks;
    char url[256];
    url_of(f, url, sizeof(url), "/stream");
    struct pg_httpc_opts o = {.url = url, .timeout_ms = 5000, .on_head = s_head, .on_line = s_line};
    /* the line callback stops the stream */
    struct stream_res s = {.stop_at = 2};
    stream_fetch(f, &o, &s);
    assert_int_equal(s.r.failed, 1);
    assert_int_equal(s.stopped, 1);
    assert_int_equal(s.r.too_large, 0);
    assert_string_equal(s.r.error, "stream stopped by the caller");
    assert_int_equal(s.n_lines, 2);
    result_reset(&s.r);

    /* the head callback refuses: no line at all */
    memset(&s, 0, sizeof(s));
    s.stop_head = 1;
    stream_fetch(f, &o, &s);
    assert_int_equal(s.r.failed, 1);
    assert_int_equal(s.stopped, 1);
    assert_int_equal(s.heads, 1);
    assert_int_equal(s.n_lines, 0);
    result_reset(&s.r);

    /* streaming options that make no sense */
    char err[128];
    o.on_chunk = s_chunk;
    assert_null(pg_httpc_start(f->m, &o, s_done, &s, err, sizeof(err)));
    assert_string_equal(err, "on_line and on_chunk are exclusive");
    o.on_line = o.on_chunk = NULL;
    assert_null(pg_httpc_start(f->m, &o, s_done, &s, err, sizeof(err)));
    assert_string_equal(err, "on_head needs on_line or on_chunk");
}

static void test_stream_error_status(void **state)
{
    struct fx *f = *state;
    char url[256];
    url_of(f, url, sizeof(url), "/gone");
    struct pg_httpc_opts o = {
        .url = url, .timeout_ms = 5000, .on_head = s_head, .on_line = s_line, .max_line = 16};
    /* a 410 is not streamed: its body (longer than max_line) goes to done, not failed */
    struct stream_res s = {0};
    stream_fetch(f, &o, &s);
    assert_int_equal(s.r.failed, 0);
    assert_int_equal(s.r.status, 410);
    assert_int_equal(s.heads, 1);
    assert_int_equal(s.head_status, 410);
    assert_int_equal(s.n_lines, 0);
    assert_string_equal((char *)s.r.body,
                        "{\"kind\":\"Status\",\"code\":410,\"reason\":\"Expired\"}\n"
                        "{\"second\":\"line\"}\n");
    assert_string_equal(s.r.ctype, "application/json");
    result_reset(&s.r);

    /* bounded by max_body: the start is kept, the rest dropped; still not a failure */
    memset(&s, 0, sizeof(s));
    o.max_body = 20;
    stream_fetch(f, &o, &s);
    assert_int_equal(s.r.failed, 0);
    assert_int_equal(s.r.status, 410);
    assert_int_equal(s.r.len, 20);
    assert_string_equal((char *)s.r.body, "{\"kind\":\"Status\",\"co");
    result_reset(&s.r);
}

static void test_stream_cancel(void **state)
{
    struct fx *f = *state;
    /* a watch that sends one event, then nothing for as long as it is open */
    f->raw_answer = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    "Transfer-Encoding: chunked\r\n\r\n"
                    "11\r\n{\"type\":\"ADDED\"}\n\r\n";
    char url[256];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/watch", f->raw_port);
    struct pg_httpc_opts o = {.url = url, .on_head = s_head, .on_line = s_line}; /* no timeout */
    struct stream_res s = {0};
    struct pg_httpc_req *r = pg_httpc_start(f->m, &o, s_done, &s, NULL, 0);
    assert_non_null(r);
    RUN_UNTIL(f, s.n_lines == 1, 5000);
    assert_int_equal(s.n_lines, 1);
    assert_string_equal(s.lines[0], "{\"type\":\"ADDED\"}");
    assert_int_equal(s.head_status, 200);
    int64_t dl = now_ms() + 200;
    RUN_UNTIL(f, now_ms() > dl, 1000);
    assert_int_equal(s.r.n, 0); /* still open */
    assert_int_equal(pg_curlm_running(f->m), 1);
    pg_httpc_cancel(r);
    assert_int_equal(pg_curlm_running(f->m), 0);
    /* the server sees the connection go away; done is never called */
    RUN_UNTIL(f, f->raw_closed == 1, 5000);
    assert_int_equal(f->raw_closed, 1);
    assert_int_equal(s.r.n, 0);
    assert_int_equal(s.n_lines, 1);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN); /* the server writes to streams the client aborted */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_get_ok, setup, teardown),
        cmocka_unit_test_setup_teardown(test_body_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_headers_auth, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http_headers_and_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_env_proxy_ignored_and_pool_after_resolve_failure,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_retry_after, setup, teardown),
        cmocka_unit_test_setup_teardown(test_redirects, setup, teardown),
        cmocka_unit_test_setup_teardown(test_post, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pooled_handle_no_leak, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pool_bounded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gzip_passthrough, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connection_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_url, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tls_server_name, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tls_pem, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_concurrent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel_in_flight, setup, teardown),
        cmocka_unit_test_setup_teardown(test_done_cancels_and_starts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_done_cancels_peer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_curlm_destroy_running, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stream_lines, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stream_line_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stream_stop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stream_error_status, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stream_cancel, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
