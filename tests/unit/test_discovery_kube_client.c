/* test_discovery_kube_client.c - the Kubernetes API client (discovery/kubernetes/client.h):
 * the line splitter (lines across chunks, limits, stop), base64, kubeconfig parsing
 * (current context, relative paths, *-data fields, errors), in-cluster resolution with
 * PROFGATE_K8S_SA_DIR, and real requests against an in-process evhttp server: a chunked
 * watch-like stream split at awkward places, the bearer token re-read after the token file
 * changes, a body over the limit, and a non-200 stream answer; URLs with a password in
 * their userinfo show "<secret>" in the server name and in error texts, which carry no
 * '"' (logfmt-safe). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>

#include "core/linesplit.h"
#include "discovery/kubernetes/client.h"
#include "testutil.h"

/* ---- line splitter ------------------------------------------------------------------- */

struct lines_seen {
    char got[16][64];
    int n;
    int stop_at; /* stop when this many lines were seen, 0 = never */
};

static int collect(void *ud, const char *line, size_t len)
{
    struct lines_seen *s = ud;
    assert_true(s->n < 16);
    assert_true(len < 64);
    memcpy(s->got[s->n], line, len);
    s->got[s->n][len] = '\0';
    s->n++;
    return s->stop_at && s->n >= s->stop_at ? -1 : 0;
}

static void test_lines_split(void **state)
{
    (void)state;
    struct pg_linesplit l;
    struct lines_seen s = {0};
    pg_linesplit_init(&l, 32);
    const char *parts[] = {"{\"a\":", "1}\n{\"b\"", ":2}\n\n{\"c\":3}\n{\"d", "\":4}"};
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(pg_linesplit_feed(&l, parts[i], strlen(parts[i]), collect, &s), 0);
    assert_int_equal(s.n, 3);
    assert_string_equal(s.got[0], "{\"a\":1}");
    assert_string_equal(s.got[1], "{\"b\":2}");
    assert_string_equal(s.got[2], "{\"c\":3}");
    assert_int_equal(pg_linesplit_finish(&l, collect, &s), 0);
    assert_int_equal(s.n, 4);
    assert_string_equal(s.got[3], "{\"d\":4}");
    pg_linesplit_reset(&l);
}

static void test_lines_limits(void **state)
{
    (void)state;
    struct pg_linesplit l;
    struct lines_seen s = {0};
    pg_linesplit_init(&l, 8);
    /* a line of exactly max bytes is fine, one more byte is not (whole and in pieces) */
    assert_int_equal(pg_linesplit_feed(&l, "12345678\n", 9, collect, &s), 0);
    assert_int_equal(s.n, 1);
    assert_int_equal(pg_linesplit_feed(&l, "123456789\n", 10, collect, &s), -2);
    pg_linesplit_reset(&l);
    assert_int_equal(pg_linesplit_feed(&l, "12345", 5, collect, &s), 0);
    assert_int_equal(pg_linesplit_feed(&l, "6789", 4, collect, &s), -2);
    assert_true(l.cap <= 8);
    pg_linesplit_reset(&l);
    /* the callback stops the stream */
    struct lines_seen s2 = {.stop_at = 1};
    assert_int_equal(pg_linesplit_feed(&l, "a\nb\n", 4, collect, &s2), -1);
    assert_int_equal(s2.n, 1);
    pg_linesplit_reset(&l);
}

/* ---- kubeconfig ---------------------------------------------------------------------- */

static void test_kubeconfig(void **state)
{
    (void)state;
    char dir[] = "/tmp/pg_kc_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof(path), "%s/config", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("apiVersion: v1\n"
          "kind: Config\n"
          "current-context: dev\n"
          "clusters:\n"
          "- name: prod\n"
          "  cluster: {server: https://prod:6443}\n"
          "- name: dev\n"
          "  cluster:\n"
          "    server: https://dev.example:6443/\n"
          "    certificate-authority: certs/ca.pem\n"
          "    insecure-skip-tls-verify: true\n"
          "    tls-server-name: kube.internal\n"
          "contexts:\n"
          "- name: prod\n"
          "  context: {cluster: prod, user: admin}\n"
          "- name: dev\n"
          "  context: {cluster: dev, user: me, namespace: team-a}\n"
          "users:\n"
          "- name: admin\n"
          "  user: {token: wrong}\n"
          "- name: me\n"
          "  user:\n"
          "    client-certificate-data: Y2VydA==\n"
          "    client-key: /abs/key.pem\n"
          "    tokenFile: tok\n",
          f);
    fclose(f);
    struct pg_kube_kubeconfig kc;
    char err[256];
    assert_int_equal(pg_kube_kubeconfig_load(path, &kc, err, sizeof(err)), 0);
    assert_string_equal(kc.server, "https://dev.example:6443/");
    char want[300];
    snprintf(want, sizeof(want), "%s/certs/ca.pem", dir);
    assert_string_equal(kc.ca_file, want);
    assert_true(kc.insecure_skip_verify);
    assert_string_equal(kc.tls_server_name, "kube.internal");
    assert_string_equal(kc.namespace_, "team-a");
    assert_int_equal(kc.cert_len, 4);
    assert_memory_equal(kc.cert_data, "cert", 4);
    assert_string_equal(kc.key_file, "/abs/key.pem");
    snprintf(want, sizeof(want), "%s/tok", dir);
    assert_string_equal(kc.token_file, want);
    assert_null(kc.token);
    pg_kube_kubeconfig_reset(&kc);

    /* errors: missing context, missing file */
    f = fopen(path, "w");
    fputs("current-context: nope\ncontexts: []\n", f);
    fclose(f);
    assert_int_equal(pg_kube_kubeconfig_load(path, &kc, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "context \"nope\" not found"));
    unlink(path);
    assert_int_equal(pg_kube_kubeconfig_load(path, &kc, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "cannot open kubeconfig"));
    rmdir(dir);
}

static void test_in_cluster(void **state)
{
    (void)state;
    char dir[] = "/tmp/pg_sa_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof(path), "%s/namespace", dir);
    FILE *f = fopen(path, "w");
    fputs("monitoring\n", f);
    fclose(f);
    struct pg_cfg_kube_sd cfg = {0};
    char err[256];
    unsetenv("KUBERNETES_SERVICE_HOST");
    setenv("PROFGATE_K8S_SA_DIR", dir, 1);
    assert_null(pg_kube_client_create(&cfg, err, sizeof(err)));
    assert_non_null(strstr(err, "KUBERNETES_SERVICE_HOST"));
    setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
    setenv("KUBERNETES_SERVICE_PORT", "443", 1);
    struct pg_kube_client *c = pg_kube_client_create(&cfg, err, sizeof(err));
    assert_non_null(c);
    assert_string_equal(pg_kube_client_server(c), "https://[fd00::1]:443");
    assert_string_equal(pg_kube_client_own_namespace(c), "monitoring");
    pg_kube_client_destroy(c);
    unsetenv("KUBERNETES_SERVICE_HOST");
    unsetenv("KUBERNETES_SERVICE_PORT");
    unsetenv("PROFGATE_K8S_SA_DIR");
    unlink(path);
    rmdir(dir);
}

/* ---- requests against an in-process server ------------------------------------------- */

struct srv {
    struct event_base *base;
    struct evhttp *http;
    int port;
    char last_auth[128];
    struct evhttp_request *stream; /* chunked reply in progress */
    int step;
    struct event *tick;
};

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    struct srv *s = arg;
    (void)fd;
    (void)what;
    /* events cut at awkward places: inside a line, two lines in one chunk */
    static const char *chunks[] = {"{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"na",
                                   "me\":\"a\"}}}\n{\"type\":\"BOOKMARK\",\"object\":{}}\n{\"ty",
                                   "pe\":\"DELETED\",\"object\":{}}\n"};
    if (s->step < 3) {
        struct evbuffer *b = evbuffer_new();
        evbuffer_add(b, chunks[s->step], strlen(chunks[s->step]));
        evhttp_send_reply_chunk(s->stream, b);
        evbuffer_free(b);
        s->step++;
        struct timeval tv = {0, 20000};
        evtimer_add(s->tick, &tv);
        return;
    }
    evhttp_send_reply_end(s->stream);
    s->stream = NULL;
}

static void on_request(struct evhttp_request *req, void *arg)
{
    struct srv *s = arg;
    const char *uri = evhttp_request_get_uri(req);
    const char *auth = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
    snprintf(s->last_auth, sizeof(s->last_auth), "%s", auth ? auth : "");
    struct evbuffer *b = evbuffer_new();
    if (strstr(uri, "watch=1")) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                          "application/json");
        evhttp_send_reply_start(req, 200, "OK");
        s->stream = req;
        s->step = 0;
        struct timeval tv = {0, 20000};
        evtimer_add(s->tick, &tv);
    } else if (strstr(uri, "/big")) {
        for (int i = 0; i < 1000; i++)
            evbuffer_add_printf(b, "0123456789");
        evhttp_send_reply(req, 200, "OK", b);
    } else if (strstr(uri, "/forbidden")) {
        evbuffer_add_printf(b, "{\"kind\":\"Status\",\"code\":403}\n");
        evhttp_send_reply(req, 403, "Forbidden", b);
    } else {
        evbuffer_add_printf(b, "{\"kind\":\"PodList\",\"items\":[]}");
        evhttp_send_reply(req, 200, "OK", b);
    }
    evbuffer_free(b);
}

static void srv_start(struct srv *s)
{
    memset(s, 0, sizeof(*s));
    s->base = event_base_new();
    assert_non_null(s->base);
    s->http = evhttp_new(s->base);
    struct evhttp_bound_socket *bs = evhttp_bind_socket_with_handle(s->http, "127.0.0.1", 0);
    assert_non_null(bs);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    assert_int_equal(getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&ss, &sl), 0);
    s->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    evhttp_set_gencb(s->http, on_request, s);
    s->tick = evtimer_new(s->base, on_tick, s);
}

static void srv_stop(struct srv *s)
{
    event_free(s->tick);
    evhttp_free(s->http);
    event_base_free(s->base);
}

struct result {
    int done;
    long status;
    int failed;
    char error[512];
    char body[256];
    struct lines_seen lines;
};

static void on_done(void *ud, const struct pg_kube_resp *r)
{
    struct result *res = ud;
    res->done = 1;
    res->status = r->status;
    res->failed = r->failed;
    snprintf(res->error, sizeof(res->error), "%s", r->error ? r->error : "");
    snprintf(res->body, sizeof(res->body), "%.*s", (int)(r->len < 255 ? r->len : 255), r->body);
}

static void run_until_done(struct srv *s, struct result *r)
{
    time_t deadline = time(NULL) + 10;
    while (!r->done && time(NULL) < deadline)
        event_base_loop(s->base, EVLOOP_ONCE);
    assert_true(r->done);
}

static void test_requests(void **state)
{
    (void)state;
    struct srv s;
    srv_start(&s);
    struct pg_curlm *cm = pg_curlm_create(s.base);
    assert_non_null(cm);

    /* a kubeconfig whose user has a token file */
    char dir[] = "/tmp/pg_kreq_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char kcpath[256], tokpath[256];
    snprintf(kcpath, sizeof(kcpath), "%s/kc", dir);
    snprintf(tokpath, sizeof(tokpath), "%s/token", dir);
    FILE *f = fopen(kcpath, "w");
    fprintf(f,
            "current-context: c\ncontexts: [{name: c, context: {cluster: k, user: u}}]\n"
            "clusters: [{name: k, cluster: {server: \"http://127.0.0.1:%d\"}}]\n"
            "users: [{name: u, user: {tokenFile: token}}]\n",
            s.port);
    fclose(f);
    f = fopen(tokpath, "w");
    fputs("first\n", f);
    fclose(f);
    struct pg_cfg_kube_sd cfg = {0};
    cfg.kubeconfig_file = kcpath;
    char err[256];
    struct pg_kube_client *c = pg_kube_client_create(&cfg, err, sizeof(err));
    assert_non_null(c);

    /* whole body, token from the file */
    struct result r = {0};
    assert_non_null(pg_kube_get(c, cm, "/api/v1/pods?limit=500", 1 << 20, 5000, NULL, on_done, &r,
                                err, sizeof(err)));
    run_until_done(&s, &r);
    assert_int_equal(r.status, 200);
    assert_false(r.failed);
    assert_string_equal(r.body, "{\"kind\":\"PodList\",\"items\":[]}");
    assert_string_equal(s.last_auth, "Bearer first");

    /* the token file is rotated: the next request carries the new token */
    f = fopen(tokpath, "w");
    fputs("second-token\n", f);
    fclose(f);
    struct timespec ts[2] = {{0, UTIME_NOW}, {time(NULL) + 5, 0}};
    utimensat(AT_FDCWD, tokpath, ts, 0); /* a distinct mtime even within one tick */
    struct result r2 = {0};
    assert_non_null(
        pg_kube_get(c, cm, "/api/v1/nodes", 1 << 20, 5000, NULL, on_done, &r2, err, sizeof(err)));
    run_until_done(&s, &r2);
    assert_string_equal(s.last_auth, "Bearer second-token");

    /* a body over the limit fails without buffering it */
    struct result r3 = {0};
    assert_non_null(pg_kube_get(c, cm, "/big", 1000, 5000, NULL, on_done, &r3, err, sizeof(err)));
    run_until_done(&s, &r3);
    assert_true(r3.failed);
    assert_non_null(strstr(r3.error, "exceeds limit"));

    pg_curlm_destroy(cm);
    pg_kube_client_destroy(c);
    unlink(kcpath);
    unlink(tokpath);
    rmdir(dir);
    srv_stop(&s);
}

/* Stream test with its own result layout: lines and completion in one struct. */
struct stream_res {
    struct lines_seen lines; /* first member: collect() gets this struct's address */
    struct result r;
};

static int stream_line(void *ud, const char *line, size_t len)
{
    struct stream_res *sr = ud;
    return collect(&sr->lines, line, len);
}

static void stream_done(void *ud, const struct pg_kube_resp *resp)
{
    struct stream_res *sr = ud;
    on_done(&sr->r, resp);
}

static void test_stream(void **state)
{
    (void)state;
    struct srv s;
    srv_start(&s);
    struct pg_curlm *cm = pg_curlm_create(s.base);
    struct pg_cfg_kube_sd cfg = {0};
    char server[64], err[256];
    snprintf(server, sizeof(server), "http://127.0.0.1:%d/", s.port);
    cfg.api_server = server; /* with a trailing slash */
    cfg.http.follow_redirects = 1;
    cfg.http.auth_credentials = "tok";
    struct pg_kube_client *c = pg_kube_client_create(&cfg, err, sizeof(err));
    assert_non_null(c);
    server[strlen(server) - 1] = '\0'; /* the trailing slash is dropped */
    assert_string_equal(pg_kube_client_server(c), server);

    struct stream_res sr;
    memset(&sr, 0, sizeof(sr));
    assert_non_null(pg_kube_get(c, cm, "/api/v1/pods?watch=1&resourceVersion=5", 4096, 5000,
                                stream_line, stream_done, &sr, err, sizeof(err)));
    time_t deadline = time(NULL) + 10;
    while (!sr.r.done && time(NULL) < deadline)
        event_base_loop(s.base, EVLOOP_ONCE);
    assert_true(sr.r.done);
    assert_false(sr.r.failed);
    assert_int_equal(sr.r.status, 200);
    assert_string_equal(s.last_auth, "Bearer tok");
    assert_int_equal(sr.lines.n, 3);
    assert_string_equal(sr.lines.got[0],
                        "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"a\"}}}");
    assert_string_equal(sr.lines.got[1], "{\"type\":\"BOOKMARK\",\"object\":{}}");
    assert_string_equal(sr.lines.got[2], "{\"type\":\"DELETED\",\"object\":{}}");

    /* a non-200 stream answer: no lines, the body is kept for the error */
    memset(&sr, 0, sizeof(sr));
    assert_non_null(pg_kube_get(c, cm, "/forbidden?watch=0", 4096, 5000, stream_line, stream_done,
                                &sr, err, sizeof(err)));
    deadline = time(NULL) + 10;
    while (!sr.r.done && time(NULL) < deadline)
        event_base_loop(s.base, EVLOOP_ONCE);
    assert_true(sr.r.done);
    assert_int_equal(sr.r.status, 403);
    assert_int_equal(sr.lines.n, 0);
    assert_non_null(strstr(sr.r.body, "\"code\":403"));

    /* cancelling a running stream calls nothing and frees everything */
    memset(&sr, 0, sizeof(sr));
    struct pg_kube_req *req = pg_kube_get(c, cm, "/api/v1/pods?watch=1", 4096, 5000, stream_line,
                                          stream_done, &sr, err, sizeof(err));
    assert_non_null(req);
    for (int i = 0; i < 5 && sr.lines.n == 0; i++)
        event_base_loop(s.base, EVLOOP_ONCE);
    pg_kube_cancel(req);
    assert_false(sr.r.done);

    pg_curlm_destroy(cm);
    pg_kube_client_destroy(c);
    srv_stop(&s);
}

/* ---- secrets in logs ------------------------------------------------------------------ */

static void test_redaction(void **state)
{
    (void)state;
    struct srv s;
    srv_start(&s);
    struct pg_curlm *cm = pg_curlm_create(s.base);
    assert_non_null(cm);
    struct pg_cfg_kube_sd cfg = {0};
    char server[128], err[256];
    snprintf(server, sizeof(server), "http://bob:KubeSecret@127.0.0.1:%d", s.port);
    cfg.api_server = server;
    struct pg_kube_client *c = pg_kube_client_create(&cfg, err, sizeof(err));
    assert_non_null(c);
    char want[128];
    snprintf(want, sizeof(want), "http://bob:<secret>@127.0.0.1:%d", s.port);
    assert_string_equal(pg_kube_client_server(c), want);

    /* the request itself still uses the credentials; its error text does not show them */
    struct result r = {0};
    assert_non_null(
        pg_kube_get(c, cm, "/big?x=1", 1000, 5000, NULL, on_done, &r, err, sizeof(err)));
    run_until_done(&s, &r);
    assert_string_equal(s.last_auth, "Basic Ym9iOkt1YmVTZWNyZXQ="); /* bob:KubeSecret */
    assert_true(r.failed);
    assert_non_null(strstr(r.error, "exceeds limit"));
    assert_non_null(strstr(r.error, "bob:<secret>@127.0.0.1"));
    assert_null(strstr(r.error, "KubeSecret"));
    assert_null(strchr(r.error, '"'));
    pg_kube_client_destroy(c);

    /* a transport failure (connection refused: bound, not listening) */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    socklen_t sl = sizeof(sa);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    snprintf(server, sizeof(server), "http://bob:KubeSecret@127.0.0.1:%d", ntohs(sa.sin_port));
    c = pg_kube_client_create(&cfg, err, sizeof(err));
    assert_non_null(c);
    struct result r2 = {0};
    assert_non_null(
        pg_kube_get(c, cm, "/api/v1/pods", 1000, 5000, NULL, on_done, &r2, err, sizeof(err)));
    run_until_done(&s, &r2);
    close(fd);
    assert_true(r2.failed);
    assert_non_null(strstr(r2.error, "<secret>"));
    assert_null(strstr(r2.error, "KubeSecret"));
    assert_null(strchr(r2.error, '"'));

    pg_curlm_destroy(cm);
    pg_kube_client_destroy(c);
    srv_stop(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lines_split), cmocka_unit_test(test_lines_limits),
        cmocka_unit_test(test_kubeconfig),  cmocka_unit_test(test_in_cluster),
        cmocka_unit_test(test_requests),    cmocka_unit_test(test_stream),
        cmocka_unit_test(test_redaction),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
