/* test_sink_backend.c - unit tests for the sink backends (sink/backend.c,
 * pyroscope_push.c, pyroscope_ingest.c, file.c): the pure encoders (push decoded with
 * protobuf-c, ingest URLs, file paths and sidecars), the HTTP classification, and real
 * sends over loopback to an in-process evhttp server and into a temporary directory. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/curlm.h"
#include "push.pb-c.h"
#include "sink/backend.h"

#include "testutil.h"

/* ---- helpers ---- */

/* A loop and HTTP driver for the instances of the pure encode tests (never run). */
static struct event_base *g_base;
static struct pg_curlm *g_cm;

static void cfg_init(struct pg_cfg_remote *cfg, enum pg_cfg_api api, const char *url)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->name = strdup("test");
    cfg->url = strdup(url);
    cfg->api = api;
    cfg->http.follow_redirects = 1;
    pg_labels_init(&cfg->http.headers);
    pg_labels_init(&cfg->external_labels);
    cfg->remote_timeout_ms = 10000;
    cfg->batch_max_bytes = 4 * 1024 * 1024;
    cfg->concurrency = 1;
}

static void cfg_free(struct pg_cfg_remote *cfg)
{
    free(cfg->name);
    free(cfg->url);
    pg_labels_reset(&cfg->http.headers);
    pg_labels_reset(&cfg->external_labels);
}

/* Fills it with id, labels (name, value pairs, NULL-terminated), tenant and a copy of
 * body. */
static void item_init(struct pg_buf_item *it, int64_t id, const char *tenant, const void *body,
                      size_t len, ...)
{
    memset(it, 0, sizeof(*it));
    it->id = id;
    pg_labels_init(&it->labels);
    va_list ap;
    va_start(ap, len);
    for (;;) {
        const char *k = va_arg(ap, const char *);
        if (!k)
            break;
        const char *v = va_arg(ap, const char *);
        assert_int_equal(pg_labels_set(&it->labels, k, v), 0);
    }
    va_end(ap);
    it->tenant = tenant ? strdup(tenant) : NULL;
    it->body = malloc(len ? len : 1);
    assert_non_null(it->body);
    memcpy(it->body, body, len);
    it->len = len;
    it->from_ns = 1700000000500000000LL;
    it->until_ns = 1700000010999999999LL;
}

static void item_free(struct pg_buf_item *it)
{
    pg_labels_reset(&it->labels);
    free(it->name);
    free(it->tenant);
    free(it->body);
}

static void *create(const struct pg_sink_backend_type *t, const struct pg_cfg_remote *cfg,
                    const struct pg_labels *global, struct pg_curlm *cm, struct event_base *base)
{
    char err[256] = "";
    void *inst = t->create(cfg, global, cm, base, err, sizeof(err));
    if (!inst)
        fail_msg("create: %s", err);
    return inst;
}

static void encode_ok(const struct pg_sink_backend_type *t, void *inst,
                      const struct pg_buf_item *items, size_t n, struct pg_sink_payload *p)
{
    char err[256] = "";
    if (t->encode(inst, items, n, p, err, sizeof(err)) != 0)
        fail_msg("encode: %s", err);
}

static const char *find_pair(const Push__V1__RawProfileSeries *s, const char *name)
{
    for (size_t i = 0; i < s->n_labels; i++)
        if (strcmp(s->labels[i]->name, name) == 0)
            return s->labels[i]->value;
    return NULL;
}

/* ---- registry, classification, label merge ---- */

static void test_backend_for(void **state)
{
    (void)state;
    assert_string_equal(pg_sink_backend_for(PG_CFG_API_PUSH)->name, "push");
    assert_string_equal(pg_sink_backend_for(PG_CFG_API_INGEST)->name, "ingest");
    assert_string_equal(pg_sink_backend_for(PG_CFG_API_FILE)->name, "file");
    assert_ptr_equal(pg_sink_backend_for(PG_CFG_API_PUSH), &pg_sink_push);
}

static void test_classify(void **state)
{
    (void)state;
    static const struct {
        long status;
        int failed;
        enum pg_sink_result want;
    } cases[] = {
        {200, 0, PG_SINK_OK},    {204, 0, PG_SINK_OK},    {400, 0, PG_SINK_ERROR},
        {401, 0, PG_SINK_ERROR}, {404, 0, PG_SINK_ERROR}, {408, 0, PG_SINK_RETRY},
        {413, 0, PG_SINK_ERROR}, {429, 0, PG_SINK_RETRY}, {500, 0, PG_SINK_RETRY},
        {503, 0, PG_SINK_RETRY}, {0, 1, PG_SINK_RETRY},   {0, 0, PG_SINK_RETRY},
        {302, 0, PG_SINK_ERROR}, {599, 0, PG_SINK_RETRY},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (pg_sink_classify(cases[i].status, cases[i].failed) != cases[i].want)
            fail_msg("status %ld failed %d", cases[i].status, cases[i].failed);
    }
}

static void test_series_labels(void **state)
{
    (void)state;
    struct pg_labels series, global, backend, out;
    pg_labels_init(&series);
    pg_labels_init(&global);
    pg_labels_init(&backend);
    pg_labels_init(&out);
    assert_int_equal(pg_labels_set(&series, "service_name", "api"), 0);
    assert_int_equal(pg_labels_set(&series, "env", "series"), 0);
    assert_int_equal(pg_labels_set(&global, "env", "global"), 0);
    assert_int_equal(pg_labels_set(&global, "cluster", "global"), 0);
    assert_int_equal(pg_labels_set(&backend, "cluster", "backend"), 0);
    assert_int_equal(pg_labels_set(&backend, "team", "a"), 0);
    assert_int_equal(pg_labels_set(&out, "stale", "x"), 0);
    assert_int_equal(pg_sink_series_labels(&series, &global, &backend, &out), 0);
    assert_int_equal(out.n, 4);
    assert_string_equal(pg_labels_get(&out, "service_name"), "api");
    assert_string_equal(pg_labels_get(&out, "env"), "global");
    assert_string_equal(pg_labels_get(&out, "cluster"), "backend");
    assert_string_equal(pg_labels_get(&out, "team"), "a");
    assert_null(pg_labels_get(&out, "stale"));
    pg_labels_reset(&series);
    pg_labels_reset(&global);
    pg_labels_reset(&backend);
    pg_labels_reset(&out);
}

/* ---- push encode ---- */

static void test_push_encode(void **state)
{
    (void)state;
    struct pg_cfg_remote cfg;
    cfg_init(&cfg, PG_CFG_API_PUSH, "http://pyro.example:4040/");
    assert_int_equal(pg_labels_set(&cfg.external_labels, "cluster", "backend"), 0);
    assert_int_equal(pg_labels_set(&cfg.external_labels, "region", "eu"), 0);
    struct pg_labels global;
    pg_labels_init(&global);
    assert_int_equal(pg_labels_set(&global, "cluster", "global"), 0);
    assert_int_equal(pg_labels_set(&global, "dc", "x1"), 0);

    const uint8_t b1[] = {0x1f, 0x8b, 8, 0, 1, 2, 3};
    const uint8_t b2[] = {0x0a, 0x02, 0x08, 0x01};
    struct pg_buf_item items[2];
    item_init(&items[0], 7, NULL, b1, sizeof(b1), "service_name", "api", "__name__", "process_cpu",
              "job", "go", NULL);
    item_init(&items[1], 8, NULL, b2, sizeof(b2), "service_name", "db", "__name__", "memory",
              "__delta__", "false", NULL);

    void *inst = create(&pg_sink_push, &cfg, &global, g_cm, g_base);
    struct pg_sink_payload p = {0};
    encode_ok(&pg_sink_push, inst, items, 2, &p);
    assert_string_equal(p.url, "http://pyro.example:4040/push.v1.PusherService/Push");
    assert_int_equal(p.n_headers, 2);
    assert_string_equal(p.headers[0], "Content-Type: application/proto");
    assert_string_equal(p.headers[1], "Connect-Protocol-Version: 1");
    assert_int_equal(p.n_items, 2);
    assert_int_equal(p.profile_bytes, sizeof(b1) + sizeof(b2));

    Push__V1__PushRequest *req = push__v1__push_request__unpack(NULL, p.len, p.body);
    assert_non_null(req);
    assert_int_equal(req->n_series, 2);
    const Push__V1__RawProfileSeries *s0 = req->series[0], *s1 = req->series[1];
    /* sorted label order */
    for (size_t i = 1; i < s0->n_labels; i++)
        assert_true(strcmp(s0->labels[i - 1]->name, s0->labels[i]->name) < 0);
    assert_int_equal(s0->n_labels, 6);
    assert_string_equal(find_pair(s0, "service_name"), "api");
    assert_string_equal(find_pair(s0, "__name__"), "process_cpu");
    assert_string_equal(find_pair(s0, "job"), "go");
    assert_string_equal(find_pair(s0, "cluster"), "backend");
    assert_string_equal(find_pair(s0, "dc"), "x1");
    assert_string_equal(find_pair(s0, "region"), "eu");
    assert_string_equal(find_pair(s1, "__delta__"), "false");
    assert_string_equal(find_pair(s1, "service_name"), "db");
    assert_int_equal(s0->n_samples, 1);
    assert_int_equal(s0->samples[0]->raw_profile.len, sizeof(b1));
    assert_memory_equal(s0->samples[0]->raw_profile.data, b1, sizeof(b1));
    assert_int_equal(s1->samples[0]->raw_profile.len, sizeof(b2));
    assert_memory_equal(s1->samples[0]->raw_profile.data, b2, sizeof(b2));
    /* "<16 hex>-<id>", stable across encodes, different across series */
    const char *id0 = s0->samples[0]->id;
    assert_int_equal(strlen(id0), 18);
    assert_string_equal(id0 + 16, "-7");
    assert_string_equal(s1->samples[0]->id + 16, "-8");
    assert_true(strncmp(id0, s1->samples[0]->id, 16) != 0);

    struct pg_sink_payload p2 = {0};
    encode_ok(&pg_sink_push, inst, items, 1, &p2);
    Push__V1__PushRequest *req2 = push__v1__push_request__unpack(NULL, p2.len, p2.body);
    assert_non_null(req2);
    assert_int_equal(req2->n_series, 1);
    assert_string_equal(req2->series[0]->samples[0]->id, id0);
    push__v1__push_request__free_unpacked(req2, NULL);
    pg_sink_payload_reset(&p2);

    push__v1__push_request__free_unpacked(req, NULL);
    pg_sink_payload_reset(&p);
    assert_null(p.url);
    assert_int_equal(p.n_headers, 0);
    pg_sink_push.destroy(inst);
    item_free(&items[0]);
    item_free(&items[1]);
    pg_labels_reset(&global);
    cfg_free(&cfg);
}

static void test_push_batching(void **state)
{
    (void)state;
    struct pg_cfg_remote cfg;
    cfg_init(&cfg, PG_CFG_API_PUSH, "http://x");
    cfg.batch_max_bytes = 2560;
    uint8_t body[1024];
    memset(body, 0xab, sizeof(body));
    struct pg_buf_item items[3];
    for (int i = 0; i < 3; i++)
        item_init(&items[i], i + 1, NULL, body, sizeof(body), "service_name", "api", NULL);
    void *inst = create(&pg_sink_push, &cfg, NULL, g_cm, g_base);

    struct pg_sink_payload p = {0};
    encode_ok(&pg_sink_push, inst, items, 3, &p);
    assert_int_equal(p.n_items, 2);
    assert_true(p.len <= 2560);
    assert_int_equal(p.profile_bytes, 2048);
    Push__V1__PushRequest *req = push__v1__push_request__unpack(NULL, p.len, p.body);
    assert_non_null(req);
    assert_int_equal(req->n_series, 2);
    push__v1__push_request__free_unpacked(req, NULL);
    pg_sink_payload_reset(&p);

    encode_ok(&pg_sink_push, inst, items + 2, 1, &p);
    assert_int_equal(p.n_items, 1);
    pg_sink_payload_reset(&p);

    /* a single item over the limit is still sent alone */
    cfg.batch_max_bytes = 100;
    encode_ok(&pg_sink_push, inst, items, 3, &p);
    assert_int_equal(p.n_items, 1);
    assert_true(p.len > 1024);
    pg_sink_payload_reset(&p);

    /* an empty body cannot be encoded: the caller drops it */
    struct pg_buf_item empty;
    item_init(&empty, 9, NULL, "", 0, "service_name", "api", NULL);
    char err[128] = "";
    assert_int_equal(pg_sink_push.encode(inst, &empty, 1, &p, err, sizeof(err)), -1);
    assert_true(strlen(err) > 0);
    assert_null(p.body);
    item_free(&empty);

    pg_sink_push.destroy(inst);
    for (int i = 0; i < 3; i++)
        item_free(&items[i]);
    cfg_free(&cfg);
}

static void test_push_tenant_split(void **state)
{
    (void)state;
    struct pg_cfg_remote cfg;
    cfg_init(&cfg, PG_CFG_API_PUSH, "http://x");
    const uint8_t b[] = {1, 2, 3};
    const char *tenants[] = {NULL, NULL, "a", "a", "b"};
    struct pg_buf_item items[5];
    for (int i = 0; i < 5; i++)
        item_init(&items[i], i + 1, tenants[i], b, sizeof(b), "service_name", "api", NULL);
    void *inst = create(&pg_sink_push, &cfg, NULL, g_cm, g_base);
    struct pg_sink_payload p = {0};
    encode_ok(&pg_sink_push, inst, items, 5, &p);
    assert_int_equal(p.n_items, 2);
    pg_sink_payload_reset(&p);
    encode_ok(&pg_sink_push, inst, items + 2, 3, &p);
    assert_int_equal(p.n_items, 2);
    pg_sink_payload_reset(&p);
    encode_ok(&pg_sink_push, inst, items + 4, 1, &p);
    assert_int_equal(p.n_items, 1);
    pg_sink_payload_reset(&p);
    pg_sink_push.destroy(inst);
    for (int i = 0; i < 5; i++)
        item_free(&items[i]);
    cfg_free(&cfg);
}

/* ---- ingest encode ---- */

static void test_ingest_encode(void **state)
{
    (void)state;
    struct pg_cfg_remote cfg;
    cfg_init(&cfg, PG_CFG_API_INGEST, "http://pyro:4040//");
    assert_int_equal(pg_labels_set(&cfg.external_labels, "__tenant_hint__", "x"), 0);
    struct pg_labels global;
    pg_labels_init(&global);
    assert_int_equal(pg_labels_set(&global, "region", "z\xc3\xbcrich"), 0);
    const uint8_t body[] = {0x1f, 0x8b, 9, 9};
    struct pg_buf_item it;
    item_init(&it, 3, NULL, body, sizeof(body), "service_name", "my app", "__name__", "process_cpu",
              "__delta__", "false", "env", "prod {x}", "a", "b=c,d&e", NULL);
    void *inst = create(&pg_sink_ingest, &cfg, &global, g_cm, g_base);
    struct pg_sink_payload p = {0};
    encode_ok(&pg_sink_ingest, inst, &it, 1, &p);

    const char *name = "my app{a=b=c,d&e,env=prod {x},region=z\xc3\xbcrich}";
    const char *want = "http://pyro:4040/ingest?name="
                       "my%20app%7Ba%3Db%3Dc%2Cd%26e%2Cenv%3Dprod%20%7Bx%7D%2Cregion%3Dz%C3%"
                       "BCrich%7D&from=1700000000&until=1700000010&format=pprof&spyName=profgate";
    assert_string_equal(p.url, want);
    /* the encoding matches curl's and round-trips */
    char *esc = curl_easy_escape(NULL, name, 0);
    assert_non_null(esc);
    assert_non_null(strstr(p.url, esc));
    curl_free(esc);
    const char *q = strstr(p.url, "name=") + 5;
    int qlen = (int)(strchr(q, '&') - q);
    int outlen = 0;
    char *un = curl_easy_unescape(NULL, q, qlen, &outlen);
    assert_non_null(un);
    assert_int_equal(outlen, (int)strlen(name));
    assert_string_equal(un, name);
    curl_free(un);

    assert_int_equal(p.n_headers, 1);
    assert_string_equal(p.headers[0], "Content-Type: application/octet-stream");
    assert_int_equal(p.len, sizeof(body));
    assert_memory_equal(p.body, body, sizeof(body));
    assert_int_equal(p.n_items, 1);
    assert_int_equal(p.profile_bytes, sizeof(body));
    pg_sink_payload_reset(&p);

    /* only one profile per request; missing service_name is "unspecified" */
    struct pg_buf_item two[2];
    item_init(&two[0], 1, NULL, body, sizeof(body), "__name__", "memory", NULL);
    item_init(&two[1], 2, NULL, body, sizeof(body), "__name__", "memory", NULL);
    two[0].from_ns = 5999999999LL;
    two[0].until_ns = 6000000000LL;
    encode_ok(&pg_sink_ingest, inst, two, 2, &p);
    assert_int_equal(p.n_items, 1);
    assert_string_equal(p.url, "http://pyro:4040/ingest?name=unspecified%7Bregion%3Dz%C3%BCrich%7D"
                               "&from=5&until=6&format=pprof&spyName=profgate");
    pg_sink_payload_reset(&p);

    pg_sink_ingest.destroy(inst);
    item_free(&it);
    item_free(&two[0]);
    item_free(&two[1]);
    pg_labels_reset(&global);
    cfg_free(&cfg);
}

/* ---- file encode ---- */

static void test_file_encode(void **state)
{
    (void)state;
    struct pg_cfg_remote cfg;
    cfg_init(&cfg, PG_CFG_API_FILE, "/var/tmp/profiles/");
    assert_int_equal(pg_labels_set(&cfg.external_labels, "cluster", "c1"), 0);
    const uint8_t gz[] = {0x1f, 0x8b, 8, 0};
    const uint8_t raw[] = {0x0a, 0x01};
    struct pg_buf_item it[4];
    item_init(&it[0], 11, "team-a", gz, sizeof(gz), "service_name", "ns/api svc", "__name__",
              "process_cpu", NULL);
    item_init(&it[1], 12, NULL, raw, sizeof(raw), "service_name", "..", "__name__", "a/../b", NULL);
    item_init(&it[2], 13, NULL, raw, sizeof(raw), "service_name", "", NULL);
    item_init(&it[3], 14, NULL, raw, sizeof(raw), "service_name", ".", "__name__",
              "\xc3\xa9t\xc3\xa9", NULL);
    void *inst = create(&pg_sink_file, &cfg, NULL, NULL, g_base);
    struct pg_sink_payload p = {0};

    encode_ok(&pg_sink_file, inst, it, 4, &p);
    assert_int_equal(p.n_items, 1);
    assert_string_equal(p.url, "/var/tmp/profiles/ns_api_svc/process_cpu-1700000010999-11.pb.gz");
    assert_int_equal(p.len, sizeof(gz));
    assert_memory_equal(p.body, gz, sizeof(gz));
    assert_int_equal(p.n_headers, 1);
    json_error_t jerr;
    json_t *j = json_loads(p.headers[0], 0, &jerr);
    if (!j)
        fail_msg("sidecar: %s", jerr.text);
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "labels"), "cluster")),
                        "c1");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(j, "labels"), "service_name")),
        "ns/api svc");
    assert_int_equal(json_integer_value(json_object_get(j, "from_ns")), 1700000000500000000LL);
    assert_int_equal(json_integer_value(json_object_get(j, "until_ns")), 1700000010999999999LL);
    assert_string_equal(json_string_value(json_object_get(j, "tenant")), "team-a");
    json_decref(j);
    pg_sink_payload_reset(&p);

    encode_ok(&pg_sink_file, inst, it + 1, 1, &p);
    assert_string_equal(p.url, "/var/tmp/profiles/__/a_.._b-1700000010999-12.pb");
    j = json_loads(p.headers[0], 0, &jerr);
    assert_non_null(j);
    assert_true(json_is_null(json_object_get(j, "tenant")));
    json_decref(j);
    pg_sink_payload_reset(&p);

    encode_ok(&pg_sink_file, inst, it + 2, 1, &p);
    assert_string_equal(p.url, "/var/tmp/profiles/unspecified/unspecified-1700000010999-13.pb");
    pg_sink_payload_reset(&p);

    encode_ok(&pg_sink_file, inst, it + 3, 1, &p);
    assert_string_equal(p.url, "/var/tmp/profiles/_/__t__-1700000010999-14.pb");
    pg_sink_payload_reset(&p);

    pg_sink_file.destroy(inst);
    for (int i = 0; i < 4; i++)
        item_free(&it[i]);
    cfg_free(&cfg);
}

/* ---- loopback HTTP sends ---- */

struct server {
    struct event_base *base;
    struct evhttp *http;
    int port;
    /* what to answer */
    int status;
    const char *reason;
    const char *body;
    const char *retry_after;
    /* what was seen */
    int requests;
    char uri[1024];
    char content_type[128];
    char connect_version[32];
    char org_id[128];
    uint8_t *req_body;
    size_t req_len;
};

static void copy_header(struct evkeyvalq *h, const char *name, char *out, size_t outlen)
{
    const char *v = evhttp_find_header(h, name);
    snprintf(out, outlen, "%s", v ? v : "");
}

static void server_cb(struct evhttp_request *req, void *arg)
{
    struct server *s = arg;
    s->requests++;
    snprintf(s->uri, sizeof(s->uri), "%s", evhttp_request_get_uri(req));
    struct evkeyvalq *in = evhttp_request_get_input_headers(req);
    copy_header(in, "Content-Type", s->content_type, sizeof(s->content_type));
    copy_header(in, "connect-protocol-version", s->connect_version, sizeof(s->connect_version));
    copy_header(in, "X-Scope-OrgID", s->org_id, sizeof(s->org_id));
    struct evbuffer *ib = evhttp_request_get_input_buffer(req);
    free(s->req_body);
    s->req_len = evbuffer_get_length(ib);
    s->req_body = malloc(s->req_len ? s->req_len : 1);
    evbuffer_copyout(ib, s->req_body, s->req_len);
    if (s->retry_after)
        evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", s->retry_after);
    struct evbuffer *ob = evbuffer_new();
    if (s->body)
        evbuffer_add(ob, s->body, strlen(s->body));
    evhttp_send_reply(req, s->status, s->reason, ob);
    evbuffer_free(ob);
}

static void server_start(struct server *s, struct event_base *base)
{
    memset(s, 0, sizeof(*s));
    s->base = base;
    s->http = evhttp_new(base);
    assert_non_null(s->http);
    evhttp_set_gencb(s->http, server_cb, s);
    struct evhttp_bound_socket *bs = evhttp_bind_socket_with_handle(s->http, "127.0.0.1", 0);
    assert_non_null(bs);
    struct sockaddr_in sa;
    socklen_t sl = sizeof(sa);
    assert_int_equal(getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&sa, &sl), 0);
    s->port = ntohs(sa.sin_port);
    s->status = 200;
    s->reason = "OK";
}

static void server_stop(struct server *s)
{
    evhttp_free(s->http);
    free(s->req_body);
}

struct outcome {
    int calls;
    enum pg_sink_result r;
    long status;
    int64_t retry_after_ms;
    char message[512];
};

static void on_done(void *ud, enum pg_sink_result r, long status, int64_t retry_after_ms,
                    const char *message)
{
    struct outcome *o = ud;
    o->calls++;
    o->r = r;
    o->status = status;
    o->retry_after_ms = retry_after_ms;
    snprintf(o->message, sizeof(o->message), "%s", message ? message : "");
    if (r != PG_SINK_OK)
        assert_non_null(message);
    else
        assert_null(message);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Runs the loop until *flag is non-zero or 10 s passed. */
static void run_until(struct event_base *base, const int *flag)
{
    double deadline = now_s() + 10;
    struct timeval tick = {0, 20000};
    while (!*flag && now_s() < deadline) {
        event_base_loopexit(base, &tick);
        event_base_loop(base, EVLOOP_ONCE);
    }
}

/* Encodes items with t and sends them once; returns the outcome. */
static void send_once(const struct pg_sink_backend_type *t, void *inst, struct event_base *base,
                      const struct pg_buf_item *items, size_t n, const char *tenant,
                      struct outcome *o)
{
    memset(o, 0, sizeof(*o));
    struct pg_sink_payload p = {0};
    encode_ok(t, inst, items, n, &p);
    void *h = t->send(inst, &p, tenant, on_done, o);
    assert_non_null(h);
    assert_int_equal(o->calls, 0); /* never completes inside send */
    run_until(base, &o->calls);
    assert_int_equal(o->calls, 1);
    pg_sink_payload_reset(&p);
}

static void test_push_send(void **state)
{
    (void)state;
    struct event_base *base = event_base_new();
    assert_non_null(base);
    struct pg_curlm *cm = pg_curlm_create(base);
    assert_non_null(cm);
    struct server srv;
    server_start(&srv, base);
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/", srv.port);
    struct pg_cfg_remote cfg;
    cfg_init(&cfg, PG_CFG_API_PUSH, url);
    void *inst = create(&pg_sink_push, &cfg, NULL, cm, base);

    const uint8_t b[] = {0x1f, 0x8b, 1, 2, 3, 4};
    struct pg_buf_item it[2];
    item_init(&it[0], 1, NULL, b, sizeof(b), "service_name", "api", NULL);
    item_init(&it[1], 2, "team-a", b, sizeof(b), "service_name", "api", NULL);
    struct outcome o;

    /* 200: delivered, with the connect headers */
    send_once(&pg_sink_push, inst, base, it, 1, NULL, &o);
    assert_int_equal(o.r, PG_SINK_OK);
    assert_int_equal(o.status, 200);
    assert_int_equal(srv.requests, 1);
    assert_string_equal(srv.uri, "/push.v1.PusherService/Push");
    assert_string_equal(srv.content_type, "application/proto");
    assert_string_equal(srv.connect_version, "1");
    assert_string_equal(srv.org_id, "");
    Push__V1__PushRequest *req = push__v1__push_request__unpack(NULL, srv.req_len, srv.req_body);
    assert_non_null(req);
    assert_int_equal(req->n_series, 1);
    assert_memory_equal(req->series[0]->samples[0]->raw_profile.data, b, sizeof(b));
    push__v1__push_request__free_unpacked(req, NULL);

    /* a tenant item carries X-Scope-OrgID */
    send_once(&pg_sink_push, inst, base, it + 1, 1, it[1].tenant, &o);
    assert_int_equal(o.r, PG_SINK_OK);
    assert_string_equal(srv.org_id, "team-a");

    /* 503 with Retry-After: 2 is RETRY after 2 s */
    srv.status = 503;
    srv.reason = "Service Unavailable";
    srv.retry_after = "2";
    srv.body = "overloaded";
    send_once(&pg_sink_push, inst, base, it, 1, NULL, &o);
    assert_int_equal(o.r, PG_SINK_RETRY);
    assert_int_equal(o.status, 503);
    assert_int_equal(o.retry_after_ms, 2000);
    assert_non_null(strstr(o.message, "503"));

    /* 400 with a message is final, and the message is passed on on one line */
    srv.status = 400;
    srv.reason = "Bad Request";
    srv.retry_after = NULL;
    srv.body = "bad labels\nservice_name missing";
    send_once(&pg_sink_push, inst, base, it, 1, NULL, &o);
    assert_int_equal(o.r, PG_SINK_ERROR);
    assert_int_equal(o.status, 400);
    assert_int_equal(o.retry_after_ms, -1);
    assert_non_null(strstr(o.message, "bad labels"));
    assert_non_null(strstr(o.message, "400"));
    assert_null(strchr(o.message, '\n'));

    pg_sink_push.destroy(inst);

    /* a configured X-Scope-OrgID header wins over the tenant (sent once, by httpc) */
    assert_int_equal(pg_labels_set(&cfg.http.headers, "x-scope-orgid", "fixed"), 0);
    inst = create(&pg_sink_push, &cfg, NULL, cm, base);
    srv.status = 200;
    srv.reason = "OK";
    srv.body = NULL;
    send_once(&pg_sink_push, inst, base, it + 1, 1, it[1].tenant, &o);
    assert_int_equal(o.r, PG_SINK_OK);
    assert_string_equal(srv.org_id, "fixed");

    /* cancel: done is never called */
    memset(&o, 0, sizeof(o));
    struct pg_sink_payload p = {0};
    encode_ok(&pg_sink_push, inst, it, 1, &p);
    void *h = pg_sink_push.send(inst, &p, NULL, on_done, &o);
    assert_non_null(h);
    pg_sink_push.cancel(inst, h);
    pg_sink_payload_reset(&p);
    struct timeval tick = {0, 20000};
    for (int i = 0; i < 10; i++) { /* 200 ms of loop time for a stray completion */
        event_base_loopexit(base, &tick);
        event_base_loop(base, EVLOOP_ONCE);
    }
    assert_int_equal(o.calls, 0);
    pg_sink_push.destroy(inst);

    /* connection refused: RETRY with the transport error */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    socklen_t sl = sizeof(sa);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    close(fd);
    free(cfg.url);
    assert_true(asprintf(&cfg.url, "http://127.0.0.1:%d", ntohs(sa.sin_port)) > 0);
    inst = create(&pg_sink_push, &cfg, NULL, cm, base);
    send_once(&pg_sink_push, inst, base, it, 1, NULL, &o);
    assert_int_equal(o.r, PG_SINK_RETRY);
    assert_int_equal(o.status, 0);
    assert_true(strlen(o.message) > 0);
    pg_sink_push.destroy(inst);

    item_free(&it[0]);
    item_free(&it[1]);
    cfg_free(&cfg);
    server_stop(&srv);
    pg_curlm_destroy(cm);
    event_base_free(base);
}

static void test_ingest_send(void **state)
{
    (void)state;
    struct event_base *base = event_base_new();
    assert_non_null(base);
    struct pg_curlm *cm = pg_curlm_create(base);
    assert_non_null(cm);
    struct server srv;
    server_start(&srv, base);
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", srv.port);
    struct pg_cfg_remote cfg;
    cfg_init(&cfg, PG_CFG_API_INGEST, url);
    void *inst = create(&pg_sink_ingest, &cfg, NULL, cm, base);
    const uint8_t b[] = {0x1f, 0x8b, 7, 7, 7};
    struct pg_buf_item it;
    item_init(&it, 5, "t1", b, sizeof(b), "service_name", "api", "env", "prod", NULL);
    struct outcome o;
    send_once(&pg_sink_ingest, inst, base, &it, 1, it.tenant, &o);
    assert_int_equal(o.r, PG_SINK_OK);
    assert_string_equal(srv.uri, "/ingest?name=api%7Benv%3Dprod%7D&from=1700000000"
                                 "&until=1700000010&format=pprof&spyName=profgate");
    assert_string_equal(srv.content_type, "application/octet-stream");
    assert_string_equal(srv.org_id, "t1");
    assert_int_equal(srv.req_len, sizeof(b));
    assert_memory_equal(srv.req_body, b, sizeof(b));

    srv.status = 429;
    srv.reason = "Too Many Requests";
    send_once(&pg_sink_ingest, inst, base, &it, 1, NULL, &o);
    assert_int_equal(o.r, PG_SINK_RETRY);
    assert_int_equal(o.status, 429);

    pg_sink_ingest.destroy(inst);
    item_free(&it);
    cfg_free(&cfg);
    server_stop(&srv);
    pg_curlm_destroy(cm);
    event_base_free(base);
}

/* ---- file send ---- */

static void test_file_send(void **state)
{
    (void)state;
    char dir[] = "/tmp/pg_sink_file.XXXXXX";
    assert_non_null(mkdtemp(dir));
    char root[128];
    snprintf(root, sizeof(root), "%s/out/nested", dir);
    struct event_base *base = event_base_new();
    assert_non_null(base);
    struct pg_cfg_remote cfg;
    cfg_init(&cfg, PG_CFG_API_FILE, root);
    void *inst = create(&pg_sink_file, &cfg, NULL, NULL, base);

    const uint8_t gz[] = {0x1f, 0x8b, 8, 0, 5, 6, 7};
    struct pg_buf_item it;
    item_init(&it, 42, "tt", gz, sizeof(gz), "service_name", "api", "__name__", "memory", NULL);
    struct outcome o;
    send_once(&pg_sink_file, inst, base, &it, 1, it.tenant, &o);
    assert_int_equal(o.r, PG_SINK_OK);

    char path[256];
    snprintf(path, sizeof(path), "%s/api/memory-1700000010999-42.pb.gz", root);
    size_t len = 0;
    uint8_t *data = pg_test_slurp(path, &len);
    assert_int_equal(len, sizeof(gz));
    assert_memory_equal(data, gz, sizeof(gz));
    free(data);
    snprintf(path, sizeof(path), "%s/api/memory-1700000010999-42.json", root);
    json_error_t jerr;
    json_t *j = json_load_file(path, 0, &jerr);
    if (!j)
        fail_msg("sidecar: %s", jerr.text);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(j, "labels"), "__name__")), "memory");
    assert_string_equal(json_string_value(json_object_get(j, "tenant")), "tt");
    assert_int_equal(json_integer_value(json_object_get(j, "until_ns")), 1700000010999999999LL);
    json_decref(j);

    /* cancel after send: done is never called */
    struct pg_sink_payload p = {0};
    encode_ok(&pg_sink_file, inst, &it, 1, &p);
    memset(&o, 0, sizeof(o));
    void *h = pg_sink_file.send(inst, &p, NULL, on_done, &o);
    assert_non_null(h);
    pg_sink_file.cancel(inst, h);
    pg_sink_payload_reset(&p);
    event_base_loop(base, EVLOOP_NONBLOCK);
    assert_int_equal(o.calls, 0);
    pg_sink_file.destroy(inst);

    /* a directory under a regular file cannot be created: RETRY with the errno text */
    char file[128];
    snprintf(file, sizeof(file), "%s/plain", dir);
    FILE *f = fopen(file, "w");
    assert_non_null(f);
    fclose(f);
    free(cfg.url);
    assert_true(asprintf(&cfg.url, "%s/sub", file) > 0);
    inst = create(&pg_sink_file, &cfg, NULL, NULL, base);
    send_once(&pg_sink_file, inst, base, &it, 1, NULL, &o);
    assert_int_equal(o.r, PG_SINK_RETRY);
    assert_non_null(strstr(o.message, strerror(ENOTDIR)));
    pg_sink_file.destroy(inst);

    item_free(&it);
    cfg_free(&cfg);
    event_base_free(base);
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    g_base = event_base_new();
    g_cm = g_base ? pg_curlm_create(g_base) : NULL;
    if (!g_cm)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backend_for),   cmocka_unit_test(test_classify),
        cmocka_unit_test(test_series_labels), cmocka_unit_test(test_push_encode),
        cmocka_unit_test(test_push_batching), cmocka_unit_test(test_push_tenant_split),
        cmocka_unit_test(test_ingest_encode), cmocka_unit_test(test_file_encode),
        cmocka_unit_test(test_push_send),     cmocka_unit_test(test_ingest_send),
        cmocka_unit_test(test_file_send),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    pg_curlm_destroy(g_cm);
    event_base_free(g_base);
    curl_global_cleanup();
    return rc;
}
