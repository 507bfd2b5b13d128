/* test_daemon_receiver.c - the push receiver: pure /ingest and push parsing
 * (daemon/ingest_parse.h), and the receiver in process (daemon/receiver.h) on a real
 * app and buffer, driven over loopback HTTP with libevent's client. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <ftw.h>
#include <sqlite3.h>
#include <time.h>
#include <zlib.h>

#include "core/base64.h"
#include "core/metrics.h"
#include "core/utf8.h"
#include "daemon/app.h"
#include "daemon/ingest_parse.h"
#include "daemon/receiver.h"
#include "daemon/receiver_internal.h"
#include "daemon/web.h"
#include "push.pb-c.h"
#include "profile/folded.h"
#include "profile/pprof.h"
#include "sink/buffer.h"
#include "testutil.h"
#include "core/tenant.h"

#define NOW_NS 1700000000000000000ll

/* ---- name, time, query ---- */

static void test_parse_name(void **st)
{
    (void)st;
    char err[256], *app = NULL;
    struct pg_labels ls;
    pg_labels_init(&ls);
    assert_int_equal(pg_ingest_parse_name(" my-app.cpu { env = prod ,k8s.pod=p1, q=\"a,b}c\\\"\","
                                          "empty=}",
                                          &app, &ls, err, sizeof(err)),
                     0);
    assert_string_equal(app, "my-app.cpu");
    assert_int_equal(ls.n, 3);
    assert_string_equal(pg_labels_get(&ls, "env"), "prod");
    assert_string_equal(pg_labels_get(&ls, "k8s.pod"), "p1");
    assert_string_equal(pg_labels_get(&ls, "q"), "a,b}c\"");
    free(app);
    pg_labels_reset(&ls);

    assert_int_equal(pg_ingest_parse_name("plain/app", &app, &ls, err, sizeof(err)), 0);
    assert_string_equal(app, "plain/app");
    assert_int_equal(ls.n, 0);
    free(app);

    /* up to PG_INGEST_MAX_NAME_PAIRS pairs parse; one more is refused before inserting */
    {
        char name[4096];
        size_t o = (size_t)snprintf(name, sizeof(name), "app{");
        for (int i = 0; i < PG_INGEST_MAX_NAME_PAIRS; i++)
            o += (size_t)snprintf(name + o, sizeof(name) - o, "%sk%d=v", i ? "," : "", i);
        snprintf(name + o, sizeof(name) - o, "}");
        assert_int_equal(pg_ingest_parse_name(name, &app, &ls, err, sizeof(err)), 0);
        assert_int_equal(ls.n, PG_INGEST_MAX_NAME_PAIRS);
        free(app);
        pg_labels_reset(&ls);
        snprintf(name + o, sizeof(name) - o, ",one=more}");
        assert_int_equal(pg_ingest_parse_name(name, &app, &ls, err, sizeof(err)), -1);
        assert_null(app);
        assert_non_null(strstr(err, "too many labels"));
        assert_true(ls.n <= PG_INGEST_MAX_NAME_PAIRS);
        pg_labels_reset(&ls);
    }
    /* 100k pairs: refused at once, not after 100k sorted inserts */
    {
        size_t n = 100000, cap = n * 16;
        char *name = malloc(cap);
        size_t o = (size_t)snprintf(name, cap, "app{");
        for (size_t i = 0; i < n; i++)
            o += (size_t)snprintf(name + o, cap - o, "%sk%zu=v", i ? "," : "", n - i);
        snprintf(name + o, cap - o, "}");
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        assert_int_equal(pg_ingest_parse_name(name, &app, &ls, err, sizeof(err)), -1);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        assert_non_null(strstr(err, "too many labels"));
        assert_true((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000 < 500);
        pg_labels_reset(&ls);
        free(name);
    }

    const char *bad[] = {"",        "{a=b}",        "my app{}", "app{a=b", "app{bad-key=v}",
                         "app{=v}", "app{q=\"open}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        assert_int_equal(pg_ingest_parse_name(bad[i], &app, &ls, err, sizeof(err)), -1);
        assert_null(app);
        assert_true(strlen(err) > 0);
        pg_labels_reset(&ls);
    }
}

static void test_parse_time(void **st)
{
    (void)st;
    char err[128];
    int64_t t;
    assert_int_equal(pg_ingest_parse_time("1700000000", NOW_NS, &t, err, sizeof(err)), 0);
    assert_int_equal(t, 1700000000000000000ll);
    assert_int_equal(pg_ingest_parse_time("1700000000123", NOW_NS, &t, err, sizeof(err)), 0);
    assert_int_equal(t, 1700000000123000000ll);
    assert_int_equal(pg_ingest_parse_time("1700000000123456", NOW_NS, &t, err, sizeof(err)), 0);
    assert_int_equal(t, 1700000000123456000ll);
    assert_int_equal(pg_ingest_parse_time("1700000000123456789", NOW_NS, &t, err, sizeof(err)), 0);
    assert_int_equal(t, 1700000000123456789ll);
    assert_int_equal(pg_ingest_parse_time("20240102", NOW_NS, &t, err, sizeof(err)), 0);
    assert_int_equal(t, 1704153600ll * 1000000000ll);
    assert_int_equal(pg_ingest_parse_time("now-10s", NOW_NS, &t, err, sizeof(err)), 0);
    assert_int_equal(t, NOW_NS - 10000000000ll);
    assert_int_equal(pg_ingest_parse_time("now-1h30m", NOW_NS, &t, err, sizeof(err)), 0);
    assert_int_equal(t, NOW_NS - 5400ll * 1000000000ll);
    assert_int_equal(pg_ingest_parse_time("now", NOW_NS, &t, err, sizeof(err)), 0);
    assert_int_equal(t, NOW_NS);
    assert_int_equal(pg_ingest_parse_time("1_700_000_000", NOW_NS, &t, err, sizeof(err)), 0);
    assert_int_equal(t, 1700000000000000000ll);
    assert_int_equal(pg_ingest_parse_time("yesterday", NOW_NS, &t, err, sizeof(err)), -1);
    assert_int_equal(pg_ingest_parse_time("now-5parsecs", NOW_NS, &t, err, sizeof(err)), -1);
    assert_int_equal(pg_ingest_parse_time("99999999999999999999", NOW_NS, &t, err, sizeof(err)),
                     -1);
    /* results that do not fit in int64 nanoseconds: refused, no signed overflow (UBSan) */
    const char *range[] = {"99991231",         /* date form: 253402214400 s */
                           "9999999999999",    /* 13 digits: ms */
                           "9999999999999999", /* 16 digits: µs */
                           "9223372037",       /* seconds */
                           "now-99999999y",    "now+99999999y", "now-99999999y99999999y",
                           "-9999999mon"};
    for (size_t i = 0; i < sizeof(range) / sizeof(range[0]); i++) {
        err[0] = '\0';
        assert_int_equal(pg_ingest_parse_time(range[i], NOW_NS, &t, err, sizeof(err)), -1);
        assert_non_null(strstr(err, "out of range"));
    }
    /* the largest values that fit */
    assert_int_equal(pg_ingest_parse_time("9223372036", NOW_NS, &t, err, sizeof(err)), 0);
    assert_int_equal(t, 9223372036000000000ll);
    assert_int_equal(pg_ingest_parse_time("9223372036854", NOW_NS, &t, err, sizeof(err)), 0);
    assert_int_equal(t, 9223372036854000000ll);
    assert_int_equal(pg_ingest_parse_time("22620101", NOW_NS, &t, err, sizeof(err)), 0);
    assert_int_equal(t, 9214646400ll * 1000000000ll);
    assert_int_equal(pg_ingest_parse_time("now-200y", NOW_NS, &t, err, sizeof(err)), 0);
    assert_int_equal(t, NOW_NS - 200ll * 365 * 24 * 3600 * 1000000000ll);
    char qerr[256];
    struct pg_ingest_params p;
    assert_int_equal(pg_ingest_parse_query("name=a&from=99991231", NOW_NS, &p, qerr, sizeof(qerr)),
                     -1);
    assert_non_null(strstr(qerr, "from: time 99991231 is out of range"));
    assert_int_equal(
        pg_ingest_parse_query("name=a&until=now-99999999y", NOW_NS, &p, qerr, sizeof(qerr)), -1);
    assert_non_null(strstr(qerr, "until: time now-99999999y is out of range"));
    /* issue 15: each bound fits, until - from does not */
    assert_int_equal(pg_ingest_parse_query("name=a&from=now-290y&until=9000000000000000000", NOW_NS,
                                           &p, qerr, sizeof(qerr)),
                     -1);
    assert_non_null(strstr(qerr, "from/until: the time range overflows"));
    assert_int_equal(pg_ingest_parse_query("name=a&from=now-10y&until=9000000000000000000", NOW_NS,
                                           &p, qerr, sizeof(qerr)),
                     0);
    pg_ingest_params_reset(&p);
}

static void test_parse_query(void **st)
{
    (void)st;
    char err[256];
    struct pg_ingest_params p;
    assert_int_equal(
        pg_ingest_parse_query("name=app%7Benv%3Dprod%7D", NOW_NS, &p, err, sizeof(err)), 0);
    assert_string_equal(p.app, "app");
    assert_string_equal(pg_labels_get(&p.labels, "env"), "prod");
    assert_int_equal(p.from_ns, NOW_NS);
    assert_int_equal(p.until_ns, NOW_NS);
    assert_int_equal(p.format, PG_INGEST_AUTO);
    assert_string_equal(p.spy_name, "unknown");
    assert_int_equal(p.sample_rate, 100);
    pg_ingest_params_reset(&p);

    assert_int_equal(pg_ingest_parse_query("name=a.cpu&from=1700000000&until=1700000010000"
                                           "&format=folded&spyName=gospy&sampleRate=250",
                                           NOW_NS, &p, err, sizeof(err)),
                     0);
    assert_int_equal(p.from_ns, 1700000000000000000ll);
    assert_int_equal(p.until_ns, 1700000010000000000ll);
    assert_int_equal(p.format, PG_INGEST_GROUPS);
    assert_string_equal(p.spy_name, "gospy");
    assert_int_equal(p.sample_rate, 250);
    pg_ingest_params_reset(&p);

    assert_int_equal(
        pg_ingest_parse_query("name=a&format=lines&sampleRate=x", NOW_NS, &p, err, sizeof(err)), 0);
    assert_int_equal(p.format, PG_INGEST_LINES);
    assert_int_equal(p.sample_rate, 100);
    pg_ingest_params_reset(&p);

    /* '+' is a space, as Go's url.ParseQuery decodes it; %2B stays a plus */
    assert_int_equal(pg_ingest_parse_query("name=my_app%7Bk%3Da+b%2Cq%3Dc%2Bd%7D&spyName=go+spy",
                                           NOW_NS, &p, err, sizeof(err)),
                     0);
    assert_string_equal(p.app, "my_app");
    assert_string_equal(pg_labels_get(&p.labels, "k"), "a b");
    assert_string_equal(pg_labels_get(&p.labels, "q"), "c+d");
    assert_string_equal(p.spy_name, "go spy");
    pg_ingest_params_reset(&p);
    /* a space is not allowed in an app name (as in Pyroscope): "my+app" is "my app" */
    assert_int_equal(
        pg_ingest_parse_query("name=my+app%7Bk%3Da+b%7D", NOW_NS, &p, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "invalid service name: my app: character is not allowed: ' '"));

    assert_int_equal(pg_ingest_parse_query("name=a&format=jfr", NOW_NS, &p, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "format"));
    assert_int_equal(pg_ingest_parse_query("from=1", NOW_NS, &p, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "service name is required"));
    assert_int_equal(pg_ingest_parse_query("name=a&from=garbage", NOW_NS, &p, err, sizeof(err)),
                     -1);
    assert_non_null(strstr(err, "from:"));
}

/* ---- multipart ---- */

static void test_multipart(void **st)
{
    (void)st;
    const char *ct = "multipart/form-data; boundary=\"XyZ\"";
    const char body[] = "--XyZ\r\n"
                        "Content-Disposition: form-data; name=\"profile\"; filename=\"p\"\r\n"
                        "Content-Type: application/octet-stream\r\n\r\n"
                        "AB\r\nCD\r\n"
                        "--XyZ\r\n"
                        "Content-Disposition: form-data; name=\"sample_type_config\"\r\n\r\n"
                        "{}\r\n"
                        "--XyZ--\r\n";
    struct pg_ingest_part parts[4];
    size_t n;
    char err[128];
    assert_true(pg_ingest_is_multipart(ct));
    assert_false(pg_ingest_is_multipart("application/octet-stream"));
    assert_int_equal(pg_ingest_multipart_parse(ct, (const uint8_t *)body, sizeof(body) - 1, parts,
                                               4, &n, err, sizeof(err)),
                     0);
    assert_int_equal(n, 2);
    assert_string_equal(parts[0].name, "profile");
    assert_int_equal(parts[0].len, 6);
    assert_memory_equal(parts[0].data, "AB\r\nCD", 6);
    assert_string_equal(parts[1].name, "sample_type_config");
    assert_memory_equal(parts[1].data, "{}", 2);
    /* truncated: no closing boundary */
    assert_int_equal(
        pg_ingest_multipart_parse(ct, (const uint8_t *)body, 60, parts, 4, &n, err, sizeof(err)),
        -1);
    assert_int_equal(pg_ingest_multipart_parse("multipart/form-data", (const uint8_t *)body,
                                               sizeof(body) - 1, parts, 4, &n, err, sizeof(err)),
                     -1);
    assert_int_equal(pg_ingest_multipart_parse(ct, (const uint8_t *)body, sizeof(body) - 1, parts,
                                               1, &n, err, sizeof(err)),
                     -1);
}

/* ---- sample types, __name__ ---- */

/* A profile with the given sample type names (units "count"). */
static Perftools__Profiles__Profile *mkprof(const char *const *types, size_t n)
{
    Perftools__Profiles__Profile *p = calloc(1, sizeof(*p));
    perftools__profiles__profile__init(p);
    p->n_string_table = n + 2;
    p->string_table = calloc(n + 2, sizeof(char *));
    p->string_table[0] = "";
    p->string_table[1] = "count";
    p->n_sample_type = n;
    p->sample_type = calloc(n ? n : 1, sizeof(*p->sample_type));
    for (size_t i = 0; i < n; i++) {
        p->string_table[i + 2] = (char *)types[i];
        p->sample_type[i] = calloc(1, sizeof(Perftools__Profiles__ValueType));
        perftools__profiles__value_type__init(p->sample_type[i]);
        p->sample_type[i]->type = (int64_t)i + 2;
        p->sample_type[i]->unit = 1;
    }
    return p;
}

static void freeprof(Perftools__Profiles__Profile *p)
{
    for (size_t i = 0; i < p->n_sample_type; i++)
        free(p->sample_type[i]);
    free(p->sample_type);
    free(p->string_table);
    free(p);
}

static void expect_metric(const struct pg_labels *display, const char *const *types, size_t n,
                          const char *want)
{
    Perftools__Profiles__Profile *p = mkprof(types, n);
    char out[64], err[128];
    int rc = pg_ingest_metric_name(p, display, out, sizeof(out), err, sizeof(err));
    freeprof(p);
    if (!want) {
        assert_int_equal(rc, -1);
        assert_non_null(strstr(err, "unknown profile type"));
    } else {
        assert_int_equal(rc, 0);
        assert_string_equal(out, want);
    }
}

static void test_metric_name(void **st)
{
    (void)st;
    struct pg_labels def, cfg;
    pg_labels_init(&def);
    pg_labels_init(&cfg);
    assert_int_equal(pg_ingest_default_sample_types(&def), 0);
    const char *cpu[] = {"samples", "cpu"}, *wall[] = {"samples", "wall"},
               *alloc[] = {"alloc_objects", "alloc_space", "inuse_objects", "inuse_space"},
               *node_heap[] = {"objects", "space"}, *lock[] = {"contentions", "delay"},
               *gor[] = {"goroutine"}, *custom[] = {"exceptions"}, *bad[] = {"foo-bar"};
    expect_metric(&def, cpu, 2, "process_cpu");
    expect_metric(&def, wall, 2, "wall");
    expect_metric(&def, alloc, 4, "memory");
    expect_metric(&def, node_heap, 2, "memory");
    expect_metric(&def, lock, 2, "mutex");
    expect_metric(&def, gor, 1, "goroutines");
    expect_metric(&def, custom, 1, "exceptions");
    expect_metric(&def, bad, 1, NULL);
    expect_metric(&def, NULL, 0, NULL);
    /* the Go SDK's block profile names its sample types through sample_type_config */
    const char json[] = "{\"contentions\":{\"display-name\":\"block_count\",\"units\":\"lock_"
                        "samples\",\"cumulative\":true},\"delay\":{\"display-name\":\"block_"
                        "duration\"}}";
    char err[128];
    assert_int_equal(pg_ingest_sample_type_config((const uint8_t *)json, sizeof(json) - 1, &cfg,
                                                  err, sizeof(err)),
                     0);
    expect_metric(&cfg, lock, 2, "block");
    pg_labels_reset(&cfg);
    assert_int_equal(
        pg_ingest_sample_type_config((const uint8_t *)"[1]", 3, &cfg, err, sizeof(err)), -1);
    assert_int_equal(
        pg_ingest_sample_type_config((const uint8_t *)"{\"a\":", 5, &cfg, err, sizeof(err)), -1);
    pg_labels_reset(&cfg);
    /* PG_INGEST_MAX_SAMPLE_TYPES entries are taken; one more (or 300k) is refused before any
     * is inserted into the sorted set */
    const size_t counts[] = {PG_INGEST_MAX_SAMPLE_TYPES, PG_INGEST_MAX_SAMPLE_TYPES + 1, 100000};
    for (size_t ci = 0; ci < sizeof(counts) / sizeof(counts[0]); ci++) {
        size_t n = counts[ci];
        size_t cap = n * 40 + 16, o = 1;
        char *big = malloc(cap);
        big[0] = '{';
        for (size_t i = 0; i < n; i++)
            o += (size_t)snprintf(big + o, cap - o, "%s\"t%07zu\":{\"display-name\":\"x\"}",
                                  i ? "," : "", n - i);
        big[o++] = '}';
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        int rc = pg_ingest_sample_type_config((const uint8_t *)big, o, &cfg, err, sizeof(err));
        clock_gettime(CLOCK_MONOTONIC, &t1);
        if (n == PG_INGEST_MAX_SAMPLE_TYPES) {
            assert_int_equal(rc, 0);
            assert_int_equal(cfg.n, PG_INGEST_MAX_SAMPLE_TYPES);
        } else {
            assert_int_equal(rc, -1);
            assert_non_null(strstr(err, "too many sample types"));
            assert_int_equal(cfg.n, 0);
            assert_true((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000 <
                        3000);
        }
        pg_labels_reset(&cfg);
        free(big);
    }
    pg_labels_reset(&def);
}

/* ---- legacy types and the __name__ of folded stacks ---- */

static void test_legacy_type(void **st)
{
    (void)st;
    char *app, err[128];
    const char *m, *t, *u;
    assert_int_equal(
        pg_ingest_legacy_type("my.app.alloc_space", &app, &m, &t, &u, err, sizeof(err)), 0);
    assert_string_equal(app, "my.app");
    assert_string_equal(m, "memory");
    assert_string_equal(t, "alloc_space");
    assert_string_equal(u, "bytes");
    free(app);
    assert_int_equal(pg_ingest_legacy_type("app", &app, &m, &t, &u, err, sizeof(err)), 0);
    assert_string_equal(app, "app");
    assert_string_equal(m, "process_cpu");
    free(app);
    assert_int_equal(
        pg_ingest_legacy_type("app.block_duration", &app, &m, &t, &u, err, sizeof(err)), 0);
    assert_string_equal(m, "block");
    assert_string_equal(t, "delay");
    free(app);
    assert_int_equal(pg_ingest_legacy_type("app.bogus", &app, &m, &t, &u, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "unknown profile type: bogus"));
}

/* A folded body converted by profile/folded.c (tested in test_profile_folded.c) gets its
 * __name__ from its sample types like any pprof. */
static void test_folded_metric_name(void **st)
{
    (void)st;
    const char body[] = "main;work;hot 3\r\nmain;work 2\n\nmain;idle 0\n";
    uint8_t *out, *raw;
    size_t outlen, rawlen;
    char err[128];
    assert_int_equal(pg_folded_to_pprof((const uint8_t *)body, sizeof(body) - 1, 0, "process_cpu",
                                        "samples", "count", 100, NOW_NS, NOW_NS + 10000000000ll,
                                        &out, &outlen, err, sizeof(err)),
                     0);
    Perftools__Profiles__Profile *p = NULL;
    assert_int_equal(
        pg_pprof_check(out, outlen, NULL, 1 << 20, &raw, &rawlen, &p, err, sizeof(err)), 0);
    char name[64];
    assert_int_equal(pg_ingest_metric_name(p, NULL, name, sizeof(name), err, sizeof(err)), 0);
    assert_string_equal(name, "process_cpu");
    pg_pprof_free(p);
    free(raw);
    free(out);
}

/* ---- labels ---- */

static void test_series_labels(void **st)
{
    (void)st;
    struct pg_labels in, out;
    pg_labels_init(&in);
    pg_labels_init(&out);
    pg_labels_set(&in, "env", "prod");
    pg_labels_set(&in, "__secret__", "x");
    pg_labels_set(&in, "__session_id__", "s1");
    assert_int_equal(pg_ingest_series_labels(&in, "app", "memory", "gospy", &out), 0);
    assert_string_equal(pg_labels_get(&out, "__name__"), "memory");
    assert_string_equal(pg_labels_get(&out, "__delta__"), "false");
    assert_string_equal(pg_labels_get(&out, "service_name"), "app");
    assert_string_equal(pg_labels_get(&out, "pyroscope_spy"), "gospy");
    assert_string_equal(pg_labels_get(&out, "__session_id__"), "s1");
    assert_null(pg_labels_get(&out, "__secret__"));
    assert_null(pg_labels_get(&out, "app_name"));
    assert_int_equal(pg_ingest_validate_series(&out, NULL, 0), 0);
    /* a service_name tag wins; the app name is kept as app_name */
    pg_labels_set(&in, "service_name", "svc");
    assert_int_equal(pg_ingest_series_labels(&in, "app", "memory", "", &out), 0);
    assert_string_equal(pg_labels_get(&out, "service_name"), "svc");
    assert_string_equal(pg_labels_get(&out, "app_name"), "app");
    assert_null(pg_labels_get(&out, "pyroscope_spy"));
    pg_labels_reset(&in);
    pg_labels_reset(&out);
}

static void test_validate_series(void **st)
{
    (void)st;
    char err[256];
    struct pg_labels ls;
    pg_labels_init(&ls);
    assert_int_equal(pg_ingest_validate_series(&ls, err, sizeof(err)), -1);
    pg_labels_set(&ls, "__name__", "process_cpu");
    assert_int_equal(pg_ingest_validate_series(&ls, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "service name is not provided"));
    pg_labels_set(&ls, "service_name", "svc");
    pg_labels_set(&ls, "k8s.pod.name", "p");
    assert_int_equal(pg_ingest_validate_series(&ls, err, sizeof(err)), 0);
    pg_labels_set(&ls, "bad", "\xc3\x28");
    assert_int_equal(pg_ingest_validate_series(&ls, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "UTF-8"));
    pg_labels_del(&ls, "bad");
    pg_labels_set(&ls, "__name__", "1bad");
    assert_int_equal(pg_ingest_validate_series(&ls, err, sizeof(err)), -1);
    pg_labels_set(&ls, "__name__", "memory");
    char *longv = malloc(PG_INGEST_MAX_VALUE_LEN + 2);
    memset(longv, 'v', PG_INGEST_MAX_VALUE_LEN + 1);
    longv[PG_INGEST_MAX_VALUE_LEN + 1] = '\0';
    pg_labels_set(&ls, "long", longv);
    free(longv);
    assert_int_equal(pg_ingest_validate_series(&ls, err, sizeof(err)), -1);
    pg_labels_del(&ls, "long");
    for (int i = 0; i < PG_INGEST_MAX_LABEL_NAMES; i++) {
        char k[16];
        snprintf(k, sizeof(k), "l%02d", i);
        pg_labels_set(&ls, k, "v");
    }
    assert_int_equal(pg_ingest_validate_series(&ls, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "limit 30"));
    pg_labels_reset(&ls);
}

static void test_utf8_tenant_base64(void **st)
{
    (void)st;
    assert_true(pg_utf8_valid("h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80", 15));
    assert_false(pg_utf8_valid("\xc3", 1));
    assert_false(pg_utf8_valid("\xc0\xaf", 2));         /* overlong */
    assert_false(pg_utf8_valid("\xed\xa0\x80", 3));     /* surrogate */
    assert_false(pg_utf8_valid("\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
    assert_false(pg_utf8_valid("\xe2\x82", 2));
    assert_true(pg_tenant_valid("team-a"));
    assert_true(pg_tenant_valid("A1!_.*'()"));
    assert_false(pg_tenant_valid(""));
    assert_false(pg_tenant_valid(".."));
    assert_false(pg_tenant_valid("a|b"));
    assert_false(pg_tenant_valid("a/b"));
    char longt[200];
    memset(longt, 'a', 151);
    longt[151] = '\0';
    assert_false(pg_tenant_valid(longt));
    uint8_t *out;
    size_t n;
    assert_int_equal(pg_base64_decode("aGVsbG8=", 8, 0, &out, &n), 0);
    assert_int_equal(n, 5);
    assert_memory_equal(out, "hello", 5);
    free(out);
    assert_int_equal(pg_base64_decode("_-8", 3, 0, &out, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(out[0], 0xff);
    assert_int_equal(out[1], 0xef);
    free(out);
    assert_int_equal(pg_base64_decode("a$==", 4, 0, &out, &n), -1);
    assert_int_equal(pg_base64_decode("a", 1, 0, &out, &n), -1);
}

/* ---- in process: app + web + receiver over loopback ---- */

struct resp {
    int done, code;
    char body[2048];
    char www_auth[128], retry_after[16];
};

static void on_resp(struct evhttp_request *req, void *ud)
{
    struct resp *r = ud;
    r->done = 1;
    if (!req)
        return;
    r->code = evhttp_request_get_response_code(req);
    struct evbuffer *b = evhttp_request_get_input_buffer(req);
    size_t n = evbuffer_get_length(b);
    if (n >= sizeof(r->body))
        n = sizeof(r->body) - 1;
    evbuffer_remove(b, r->body, n);
    r->body[n] = '\0';
    const char *h = evhttp_find_header(evhttp_request_get_input_headers(req), "WWW-Authenticate");
    snprintf(r->www_auth, sizeof(r->www_auth), "%s", h ? h : "");
    h = evhttp_find_header(evhttp_request_get_input_headers(req), "Retry-After");
    snprintf(r->retry_after, sizeof(r->retry_after), "%s", h ? h : "");
}

struct fx {
    char dir[64];
    struct event_base *base;
    struct pg_app *app;
    struct pg_cfg *rcfg;
    struct pg_web *web;
    struct pg_receiver *recv;
    int port;
};

static struct fx F;

/* Sends one request and runs the loop until it is answered (5 s deadline). headers is
 * "Name: value\n..." or NULL. */
static struct resp http_do(enum evhttp_cmd_type method, const char *uri, const char *headers,
                           const void *body, size_t len)
{
    struct resp r;
    memset(&r, 0, sizeof(r));
    struct evhttp_connection *conn =
        evhttp_connection_base_new(F.base, NULL, "127.0.0.1", (ev_uint16_t)F.port);
    assert_non_null(conn);
    struct evhttp_request *req = evhttp_request_new(on_resp, &r);
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Host", "127.0.0.1");
    char hb[1024];
    snprintf(hb, sizeof(hb), "%s", headers ? headers : "");
    for (char *line = strtok(hb, "\n"); line; line = strtok(NULL, "\n")) {
        char *colon = strchr(line, ':');
        assert_non_null(colon);
        *colon = '\0';
        evhttp_add_header(h, line, colon + 2);
    }
    if (body)
        evbuffer_add(evhttp_request_get_output_buffer(req), body, len);
    assert_int_equal(evhttp_make_request(conn, req, method, uri), 0);
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (!r.done) {
        event_base_loop(F.base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
        clock_gettime(CLOCK_MONOTONIC, &t);
        if (t.tv_sec - t0.tv_sec > 5)
            fail_msg("no answer to %s within 5 s", uri);
        if (!r.done) {
            struct timeval tv = {0, 2000};
            event_base_loopexit(F.base, &tv);
            event_base_loop(F.base, EVLOOP_ONCE);
        }
    }
    evhttp_connection_free(conn);
    return r;
}

#define AUTH "Authorization: Basic dTpw\n" /* u:p */

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static int setup_inproc(void **st)
{
    (void)st;
    memset(&F, 0, sizeof(F));
    strcpy(F.dir, "/tmp/pg_recv_XXXXXX");
    assert_non_null(mkdtemp(F.dir));
    char cfgpath[128], text[2048];
    snprintf(cfgpath, sizeof(cfgpath), "%s/profgate.yml", F.dir);
    snprintf(text, sizeof(text),
             "storage: {path: %s/data}\n"
             "remote_write:\n"
             "  - {name: sink, url: \"http://127.0.0.1:9\", api: push, max_backoff: 1h,"
             " min_backoff: 1h}\n"
             "receiver:\n"
             "  enabled: false\n"
             "  max_body_size: 256KiB\n"
             "  basic_auth: [{username: u, password: p}]\n"
             "  relabel_configs:\n"
             "    - {source_labels: [env], regex: drop, action: drop}\n"
             "    - {target_label: hop, replacement: gw}\n",
             F.dir);
    FILE *f = fopen(cfgpath, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    struct pg_cfg_errors errs;
    pg_cfg_errors_init(&errs);
    struct pg_cfg *cfg = pg_cfg_load(cfgpath, &errs);
    F.rcfg = pg_cfg_load(cfgpath, &errs);
    if (errs.n)
        fail_msg("config: %s", errs.v[0].msg);
    pg_cfg_errors_reset(&errs);
    assert_non_null(cfg);
    assert_non_null(F.rcfg);
    F.base = event_base_new();
    struct pg_app_opts opts = {.config_file = cfgpath, .listen_address = "127.0.0.1:0"};
    char err[512];
    F.app = pg_app_create(F.base, &opts, cfg, err, sizeof(err));
    if (!F.app)
        fail_msg("app: %s", err);
    struct pg_web_host wh;
    pg_app_web_host(F.app, &wh);
    F.web = pg_web_create(F.base, &wh, "127.0.0.1:0", err, sizeof(err));
    assert_non_null(F.web);
    F.port = pg_web_port(F.web);
    assert_true(F.port > 0);
    struct pg_receiver_host rh;
    pg_app_receiver_host(F.app, &rh);
    F.recv = pg_receiver_create(&rh, F.web, F.base, F.rcfg, err, sizeof(err));
    assert_non_null(F.recv);
    return 0;
}

static int teardown_inproc(void **st)
{
    (void)st;
    pg_receiver_destroy(F.recv);
    pg_web_destroy(F.web);
    pg_app_destroy(F.app);
    pg_cfg_free(F.rcfg);
    event_base_free(F.base);
    nftw(F.dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    pg_metrics_shutdown();
    return 0;
}

static uint8_t *push_proto(const char *const *kv, size_t nkv, const uint8_t *prof, size_t plen,
                           size_t *outlen)
{
    Push__V1__PushRequest req = PUSH__V1__PUSH_REQUEST__INIT;
    Push__V1__RawProfileSeries se = PUSH__V1__RAW_PROFILE_SERIES__INIT, *sep = &se;
    Push__V1__RawSample sa = PUSH__V1__RAW_SAMPLE__INIT, *sap = &sa;
    Push__V1__LabelPair *pairs = calloc(nkv ? nkv : 1, sizeof(*pairs));
    Push__V1__LabelPair **pp = calloc(nkv ? nkv : 1, sizeof(*pp));
    for (size_t i = 0; i < nkv; i++) {
        push__v1__label_pair__init(&pairs[i]);
        pairs[i].name = (char *)kv[2 * i];
        pairs[i].value = (char *)kv[2 * i + 1];
        pp[i] = &pairs[i];
    }
    se.n_labels = nkv;
    se.labels = pp;
    sa.raw_profile.data = (uint8_t *)prof;
    sa.raw_profile.len = plen;
    sa.id = "id1";
    se.n_samples = 1;
    se.samples = &sap;
    req.n_series = 1;
    req.series = &sep;
    size_t n = push__v1__push_request__get_packed_size(&req);
    uint8_t *out = malloc(n ? n : 1);
    *outlen = push__v1__push_request__pack(&req, out);
    free(pairs);
    free(pp);
    return out;
}

static uint8_t *gzip_bytes(const uint8_t *in, size_t len, size_t *outlen)
{
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    assert_int_equal(deflateInit2(&zs, 6, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY), Z_OK);
    size_t cap = deflateBound(&zs, len) + 32;
    uint8_t *out = malloc(cap);
    zs.next_in = (uint8_t *)in;
    zs.avail_in = (uInt)len;
    zs.next_out = out;
    zs.avail_out = (uInt)cap;
    assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
    *outlen = zs.total_out;
    deflateEnd(&zs);
    return out;
}

static void test_inproc(void **st)
{
    (void)st;
    size_t glen;
    uint8_t *gz = pg_test_slurp("data/go_allocs.pb.gz", &glen);
    struct resp r;

    /* /ingest: raw gzip pprof body */
    r = http_do(EVHTTP_REQ_POST,
                "/ingest?name=myapp%7Benv%3Dprod%2Cpod.name%3Dp1%7D&from=1700000000"
                "&until=1700000010&spyName=gospy",
                AUTH "Content-Type: application/octet-stream\n", gz, glen);
    assert_int_equal(r.code, 200);
    /* no / wrong credentials */
    r = http_do(EVHTTP_REQ_POST, "/ingest?name=myapp", NULL, gz, glen);
    assert_int_equal(r.code, 401);
    assert_non_null(strstr(r.www_auth, "Basic"));
    r = http_do(EVHTTP_REQ_POST, "/ingest?name=myapp", "Authorization: Basic dTpx\n", gz, glen);
    assert_int_equal(r.code, 401);
    /* method */
    r = http_do(EVHTTP_REQ_GET, "/ingest?name=myapp", AUTH, NULL, 0);
    assert_int_equal(r.code, 405);
    /* garbage pprof */
    r = http_do(EVHTTP_REQ_POST, "/ingest?name=myapp&format=pprof", AUTH, "garbage!", 8);
    assert_int_equal(r.code, 400);
    assert_non_null(strstr(r.body, "undecodable profile"));
    /* truncated gzip */
    r = http_do(EVHTTP_REQ_POST, "/ingest?name=myapp", AUTH, gz, glen / 2);
    assert_int_equal(r.code, 400);
    assert_non_null(strstr(r.body, "gzip"));
    /* bad name */
    r = http_do(EVHTTP_REQ_POST, "/ingest?name=my%20app", AUTH, gz, glen);
    assert_int_equal(r.code, 400);
    assert_non_null(strstr(r.body, "invalid service name"));
    /* folded stacks, legacy name suffix */
    const char folded[] = "main;work 5\nmain;idle 1\n";
    r = http_do(EVHTTP_REQ_POST, "/ingest?name=legacy.cpu%7Bk%3Dv%7D&format=folded", AUTH, folded,
                sizeof(folded) - 1);
    assert_int_equal(r.code, 200);
    r = http_do(EVHTTP_REQ_POST, "/ingest?name=legacy.nosuchtype", AUTH, folded,
                sizeof(folded) - 1);
    assert_int_equal(r.code, 400);
    assert_non_null(strstr(r.body, "unknown profile type"));
    /* relabel drop: 200, nothing stored */
    r = http_do(EVHTTP_REQ_POST, "/ingest?name=myapp%7Benv%3Ddrop%7D", AUTH, gz, glen);
    assert_int_equal(r.code, 200);
    /* multipart with sample_type_config */
    {
        char head[] = "--BB\r\nContent-Disposition: form-data; name=\"profile\"; "
                      "filename=\"profile.pprof\"\r\nContent-Type: application/octet-stream"
                      "\r\n\r\n";
        char tail[] = "\r\n--BB\r\nContent-Disposition: form-data; name=\"sample_type_config\""
                      "\r\n\r\n{\"alloc_objects\":{\"units\":\"objects\"}}\r\n--BB--\r\n";
        size_t n = strlen(head) + glen + strlen(tail);
        uint8_t *mp = malloc(n);
        memcpy(mp, head, strlen(head));
        memcpy(mp + strlen(head), gz, glen);
        memcpy(mp + strlen(head) + glen, tail, strlen(tail));
        r = http_do(EVHTTP_REQ_POST, "/ingest?name=mp",
                    AUTH "Content-Type: multipart/form-data; boundary=BB\n", mp, n);
        assert_int_equal(r.code, 200);
        /* no profile part */
        r = http_do(EVHTTP_REQ_POST, "/ingest?name=mp",
                    AUTH "Content-Type: multipart/form-data; boundary=BB\n", tail + 2,
                    strlen(tail) - 2);
        assert_int_equal(r.code, 400);
        free(mp);
    }
    /* oversized body */
    {
        size_t n = 300 * 1024;
        uint8_t *big = calloc(1, n);
        r = http_do(EVHTTP_REQ_POST, "/ingest?name=myapp", AUTH, big, n);
        assert_int_equal(r.code, 413);
        free(big);
    }

    /* push, application/proto, tenant */
    size_t raw_len;
    uint8_t *raw;
    char err[128];
    assert_int_equal(
        pg_pprof_check(gz, glen, NULL, 1 << 24, &raw, &raw_len, NULL, err, sizeof(err)), 0);
    const char *kv[] = {"__name__", "memory", "service_name", "svc", "team", "a.b"};
    size_t plen;
    uint8_t *pb = push_proto(kv, 3, raw, raw_len, &plen);
    r = http_do(EVHTTP_REQ_POST, PG_RECEIVER_PUSH_PATH,
                AUTH "Content-Type: application/proto\nX-Scope-OrgID: team-a\n", pb, plen);
    assert_int_equal(r.code, 200);
    assert_string_equal(r.body, "");
    /* gzip request body */
    size_t zlen;
    uint8_t *z = gzip_bytes(pb, plen, &zlen);
    r = http_do(EVHTTP_REQ_POST, PG_RECEIVER_PUSH_PATH,
                AUTH "Content-Type: application/proto\nContent-Encoding: gzip\n", z, zlen);
    assert_int_equal(r.code, 200);
    r = http_do(EVHTTP_REQ_POST, PG_RECEIVER_PUSH_PATH,
                AUTH "Content-Type: application/proto\nContent-Encoding: gzip\n", z, zlen / 2);
    assert_int_equal(r.code, 400);
    assert_non_null(strstr(r.body, "\"code\":\"invalid_argument\""));
    free(z);
    free(pb);
    /* wrong content type, garbage, no credentials, bad tenant */
    r = http_do(EVHTTP_REQ_POST, PG_RECEIVER_PUSH_PATH, AUTH "Content-Type: text/plain\n", "x", 1);
    assert_int_equal(r.code, 415);
    r = http_do(EVHTTP_REQ_POST, PG_RECEIVER_PUSH_PATH, AUTH "Content-Type: application/proto\n",
                "\xff\xff\xff\xff", 4);
    assert_int_equal(r.code, 400);
    r = http_do(EVHTTP_REQ_POST, PG_RECEIVER_PUSH_PATH, "Content-Type: application/proto\n", "", 0);
    assert_int_equal(r.code, 401);
    assert_non_null(strstr(r.body, "unauthenticated"));
    r = http_do(EVHTTP_REQ_POST, PG_RECEIVER_PUSH_PATH,
                AUTH "Content-Type: application/proto\nX-Scope-OrgID: a/b\n", "", 0);
    assert_int_equal(r.code, 400);
    /* missing service_name */
    const char *nosvc[] = {"__name__", "memory", "env", "x"};
    pb = push_proto(nosvc, 2, raw, raw_len, &plen);
    r = http_do(EVHTTP_REQ_POST, PG_RECEIVER_PUSH_PATH, AUTH "Content-Type: application/proto\n",
                pb, plen);
    assert_int_equal(r.code, 400);
    assert_non_null(strstr(r.body, "service name is not provided"));
    free(pb);
    /* invalid UTF-8 label value */
    const char *badutf[] = {"__name__", "memory", "service_name", "s\xc3"};
    pb = push_proto(badutf, 2, raw, raw_len, &plen);
    r = http_do(EVHTTP_REQ_POST, PG_RECEIVER_PUSH_PATH, AUTH "Content-Type: application/proto\n",
                pb, plen);
    assert_int_equal(r.code, 400);
    assert_non_null(strstr(r.body, "UTF-8"));
    free(pb);
    /* 10k labels */
    {
        size_t n = 10000;
        const char **many = calloc(2 * n, sizeof(char *));
        char *names = calloc(n, 16);
        for (size_t i = 0; i < n; i++) {
            snprintf(names + 16 * i, 16, "l%zu", i);
            many[2 * i] = names + 16 * i;
            many[2 * i + 1] = "v";
        }
        pb = push_proto(many, n, raw, raw_len, &plen);
        r = http_do(EVHTTP_REQ_POST, PG_RECEIVER_PUSH_PATH,
                    AUTH "Content-Type: application/proto\n", pb, plen);
        assert_int_equal(r.code, 400);
        assert_non_null(strstr(r.body, "label names; limit 30"));
        free(pb);
        free(many);
        free(names);
    }
    /* a raw profile that is not pprof */
    pb = push_proto(kv, 3, (const uint8_t *)"<html>", 6, &plen);
    r = http_do(EVHTTP_REQ_POST, PG_RECEIVER_PUSH_PATH, AUTH "Content-Type: application/proto\n",
                pb, plen);
    assert_int_equal(r.code, 400);
    free(pb);

    /* push, application/json with base64 rawProfile */
    {
        static const char tbl[] =
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        size_t bl = (glen + 2) / 3 * 4;
        char *b64 = malloc(bl + 1), *o = b64;
        for (size_t i = 0; i < glen; i += 3) {
            uint32_t v = (uint32_t)gz[i] << 16 | (i + 1 < glen ? (uint32_t)gz[i + 1] << 8 : 0) |
                         (i + 2 < glen ? gz[i + 2] : 0);
            *o++ = tbl[v >> 18 & 63];
            *o++ = tbl[v >> 12 & 63];
            *o++ = i + 1 < glen ? tbl[v >> 6 & 63] : '=';
            *o++ = i + 2 < glen ? tbl[v & 63] : '=';
        }
        *o = '\0';
        size_t jl = bl + 256;
        char *json = malloc(jl);
        snprintf(json, jl,
                 "{\"series\":[{\"labels\":[{\"name\":\"__name__\",\"value\":\"memory\"},"
                 "{\"name\":\"service_name\",\"value\":\"jsvc\"}],\"samples\":[{\"rawProfile\":"
                 "\"%s\",\"ID\":\"x\"}]}]}",
                 b64);
        r = http_do(EVHTTP_REQ_POST, PG_RECEIVER_PUSH_PATH, AUTH "Content-Type: application/json\n",
                    json, strlen(json));
        assert_int_equal(r.code, 200);
        assert_string_equal(r.body, "{}");
        r = http_do(EVHTTP_REQ_POST, PG_RECEIVER_PUSH_PATH, AUTH "Content-Type: application/json\n",
                    "{\"series\":[{\"labels\":[", 22);
        assert_int_equal(r.code, 400);
        assert_non_null(strstr(r.body, "invalid JSON"));
        free(json);
        free(b64);
    }
    free(raw);

    /* issue 15 fuzz reproducers: times from the wire that overflow answer 400, nothing
     * stored (the buffer is read back below: still 6 items) */
    {
        size_t flen;
        uint8_t *f = pg_test_slurp("fuzz/regressions/push/time_overflow.bin", &flen);
        assert_true(flen > 1 && f[0] == 0); /* 0: application/proto */
        r = http_do(EVHTTP_REQ_POST, PG_RECEIVER_PUSH_PATH,
                    AUTH "Content-Type: application/proto\n", f + 1, flen - 1);
        assert_int_equal(r.code, 400);
        assert_non_null(strstr(r.body, "time_nanos + duration_nanos overflows"));
        free(f);
        f = pg_test_slurp("fuzz/regressions/ingest/duration_overflow.txt", &flen);
        char *text = strndup((const char *)f, flen), *sep = strstr(text, "\n\n");
        assert_non_null(sep);
        *sep = '\0';
        char uri[512];
        snprintf(uri, sizeof(uri), "%s?%s", PG_RECEIVER_INGEST_PATH, text);
        r = http_do(EVHTTP_REQ_POST, uri, AUTH, sep + 2, strlen(sep + 2));
        assert_int_equal(r.code, 400);
        assert_non_null(strstr(r.body, "the time range overflows"));
        free(text);
        free(f);
    }

    /* metrics */
    struct pg_metric *req_m =
        pg_metric_counter("profgate_receiver_requests_total", "", "route,code");
    const char *ok_ingest[] = {"ingest", "200"}, *ok_push[] = {"push", "200"};
    assert_true(pg_metric_value(req_m, ok_ingest) == 4);
    assert_true(pg_metric_value(req_m, ok_push) == 3);
    struct pg_metric *prof_m = pg_metric_counter("profgate_receiver_profiles_total", "", "route");
    const char *ingest[] = {"ingest"}, *push[] = {"push"};
    assert_true(pg_metric_value(prof_m, ingest) == 3);
    assert_true(pg_metric_value(prof_m, push) == 3);
    struct pg_metric *drop_m =
        pg_metric_counter("profgate_receiver_dropped_profiles_total", "", "reason");
    const char *relabel[] = {"relabel"};
    assert_true(pg_metric_value(drop_m, relabel) == 1);
    free(gz);

    /* what the buffer holds: read it back after the app is gone */
    pg_receiver_destroy(F.recv);
    F.recv = NULL;
    pg_web_destroy(F.web);
    F.web = NULL;
    pg_app_destroy(F.app);
    F.app = NULL;
    char dpath[128];
    snprintf(dpath, sizeof(dpath), "%s/data", F.dir);
    const char *names[] = {"sink"};
    struct pg_buf *b = pg_buf_open(dpath, names, 1, 0, 0, err, sizeof(err));
    assert_non_null(b);
    struct pg_buf_item *items;
    size_t n;
    assert_int_equal(pg_buf_read(b, "sink", 100, 0, &items, &n), 0);
    assert_int_equal(n, 6);
    /* 0: ingest raw gzip */
    assert_string_equal(items[0].name, "memory");
    assert_string_equal(pg_labels_get(&items[0].labels, "service_name"), "myapp");
    assert_string_equal(pg_labels_get(&items[0].labels, "env"), "prod");
    assert_string_equal(pg_labels_get(&items[0].labels, "pod.name"), "p1");
    assert_string_equal(pg_labels_get(&items[0].labels, "pyroscope_spy"), "gospy");
    assert_string_equal(pg_labels_get(&items[0].labels, "__delta__"), "false");
    assert_string_equal(pg_labels_get(&items[0].labels, "hop"), "gw");
    assert_int_equal(items[0].from_ns, 1700000000000000000ll);
    assert_int_equal(items[0].until_ns, 1700000010000000000ll);
    assert_null(items[0].tenant);
    assert_int_equal(items[0].len, glen);
    /* 1: folded */
    assert_string_equal(items[1].name, "process_cpu");
    assert_string_equal(pg_labels_get(&items[1].labels, "service_name"), "legacy");
    assert_string_equal(pg_labels_get(&items[1].labels, "k"), "v");
    /* 2: multipart */
    assert_string_equal(pg_labels_get(&items[2].labels, "service_name"), "mp");
    assert_string_equal(items[2].name, "memory");
    /* 3: push with tenant; 4: gzip push; 5: json */
    assert_string_equal(pg_labels_get(&items[3].labels, "service_name"), "svc");
    assert_string_equal(pg_labels_get(&items[3].labels, "team"), "a.b");
    assert_string_equal(items[3].tenant, "team-a");
    assert_null(items[4].tenant);
    assert_string_equal(pg_labels_get(&items[5].labels, "service_name"), "jsvc");
    assert_int_equal(items[5].len, glen);
    assert_memory_equal(items[5].body, items[0].body, glen);
    pg_buf_items_free(items, n);
    pg_buf_close(b);
}

/* ---- in process: hostile requests ---- */

/* A push request of one series with n copies of prof as its samples. */
static uint8_t *push_proto_n(const char *const *kv, size_t nkv, const uint8_t *prof, size_t plen,
                             size_t n, size_t *outlen)
{
    Push__V1__PushRequest req = PUSH__V1__PUSH_REQUEST__INIT;
    Push__V1__RawProfileSeries se = PUSH__V1__RAW_PROFILE_SERIES__INIT, *sep = &se;
    Push__V1__LabelPair pairs[8], *pp[8];
    for (size_t i = 0; i < nkv; i++) {
        push__v1__label_pair__init(&pairs[i]);
        pairs[i].name = (char *)kv[2 * i];
        pairs[i].value = (char *)kv[2 * i + 1];
        pp[i] = &pairs[i];
    }
    Push__V1__RawSample *sa = calloc(n, sizeof(*sa));
    Push__V1__RawSample **sap = calloc(n, sizeof(*sap));
    for (size_t i = 0; i < n; i++) {
        push__v1__raw_sample__init(&sa[i]);
        sa[i].raw_profile.data = (uint8_t *)prof;
        sa[i].raw_profile.len = plen;
        sap[i] = &sa[i];
    }
    se.n_labels = nkv;
    se.labels = pp;
    se.n_samples = n;
    se.samples = sap;
    req.n_series = 1;
    req.series = &sep;
    size_t sz = push__v1__push_request__get_packed_size(&req);
    uint8_t *out = malloc(sz ? sz : 1);
    *outlen = push__v1__push_request__pack(&req, out);
    free(sa);
    free(sap);
    return out;
}

static void test_inproc_hostile(void **st)
{
    (void)st;
    struct resp r;
    char err[256];
    /* a valid pprof of ~200 KiB (one long string) that gzips to a few hundred bytes; the
     * fixture's max_body_size is 256 KiB, so one push may inflate 1 MiB in total: 5 such
     * samples fit, 6 do not */
    size_t biglen = 200 * 1024;
    char *bigs = malloc(biglen + 1);
    memset(bigs, 'a', biglen);
    bigs[biglen] = '\0';
    Perftools__Profiles__Profile prof = PERFTOOLS__PROFILES__PROFILE__INIT;
    Perftools__Profiles__ValueType vt = PERFTOOLS__PROFILES__VALUE_TYPE__INIT, *vtp = &vt;
    vt.type = 1;
    vt.unit = 1;
    char *strs[] = {"", bigs};
    prof.n_sample_type = 1;
    prof.sample_type = &vtp;
    prof.n_string_table = 2;
    prof.string_table = strs;
    size_t rawlen = perftools__profiles__profile__get_packed_size(&prof);
    uint8_t *rawp = malloc(rawlen);
    assert_int_equal(perftools__profiles__profile__pack(&prof, rawp), rawlen);
    size_t gzl;
    uint8_t *gzp = gzip_bytes(rawp, rawlen, &gzl);
    assert_true(gzl < 4096);
    const char *kv[] = {"__name__", "process_cpu", "service_name", "bomb"};
    size_t plen;
    uint8_t *pb = push_proto_n(kv, 2, gzp, gzl, 5, &plen);
    r = http_do(EVHTTP_REQ_POST, PG_RECEIVER_PUSH_PATH, AUTH "Content-Type: application/proto\n",
                pb, plen);
    assert_int_equal(r.code, 200);
    free(pb);
    pb = push_proto_n(kv, 2, gzp, gzl, 6, &plen);
    r = http_do(EVHTTP_REQ_POST, PG_RECEIVER_PUSH_PATH, AUTH "Content-Type: application/proto\n",
                pb, plen);
    assert_int_equal(r.code, 413);
    assert_non_null(strstr(r.body, "\"code\":\"resource_exhausted\""));
    assert_non_null(strstr(r.body, "series 0 sample 5: the request's raw profiles decompress to "
                                   "more than 1048576 bytes in total"));
    free(pb);
    /* 200 samples: refused after the sixth, not inflated 200 times */
    pb = push_proto_n(kv, 2, gzp, gzl, 200, &plen);
    r = http_do(EVHTTP_REQ_POST, PG_RECEIVER_PUSH_PATH, AUTH "Content-Type: application/proto\n",
                pb, plen);
    assert_int_equal(r.code, 413);
    assert_non_null(strstr(r.body, "sample 5:"));
    free(pb);
    free(gzp);
    free(rawp);
    free(bigs);

    /* folded stacks of distinct frames: refused with 413 instead of taking ~60x the body */
    {
        size_t cap = 240 * 1024, n = 0, i = 0;
        char *body = malloc(cap + 1024);
        while (n < cap) {
            for (int k = 0; k < 50; k++, i++)
                n += (size_t)sprintf(body + n, "%s%zx", k ? ";" : "", i);
            n += (size_t)sprintf(body + n, " 1\n");
        }
        r = http_do(EVHTTP_REQ_POST, "/ingest?name=fold.cpu&format=folded", AUTH, body, n);
        assert_int_equal(r.code, 413);
        assert_non_null(strstr(r.body, "folded profile too large"));
        free(body);
    }
    /* sample_type_config with too many entries */
    {
        size_t n = PG_INGEST_MAX_SAMPLE_TYPES + 1, cap = n * 48 + 512, o = 0;
        char *mp = malloc(cap);
        o += (size_t)snprintf(mp + o, cap - o,
                              "--BB\r\nContent-Disposition: form-data; name=\"profile\"\r\n\r\n"
                              "a;b 1\r\n--BB\r\nContent-Disposition: form-data; "
                              "name=\"sample_type_config\"\r\n\r\n{");
        for (size_t i = 0; i < n; i++)
            o += (size_t)snprintf(mp + o, cap - o, "%s\"t%zu\":{\"display-name\":\"x\"}",
                                  i ? "," : "", i);
        o += (size_t)snprintf(mp + o, cap - o, "}\r\n--BB--\r\n");
        r = http_do(EVHTTP_REQ_POST, "/ingest?name=mp",
                    AUTH "Content-Type: multipart/form-data; boundary=BB\n", mp, o);
        assert_int_equal(r.code, 400);
        assert_non_null(strstr(r.body, "too many sample types"));
        free(mp);
    }
    /* from/until out of range */
    const char folded[] = "main;work 5\n";
    r = http_do(EVHTTP_REQ_POST, "/ingest?name=t.cpu&from=99991231", AUTH, folded,
                sizeof(folded) - 1);
    assert_int_equal(r.code, 400);
    assert_non_null(strstr(r.body, "from: time 99991231 is out of range"));
    r = http_do(EVHTTP_REQ_POST, "/ingest?name=t.cpu&until=now-99999999y", AUTH, folded,
                sizeof(folded) - 1);
    assert_int_equal(r.code, 400);
    assert_non_null(strstr(r.body, "out of range"));
    /* too many name labels */
    {
        char uri[2048];
        size_t o = (size_t)snprintf(uri, sizeof(uri), "/ingest?name=t.cpu%%7B");
        for (int i = 0; i <= PG_INGEST_MAX_NAME_PAIRS; i++)
            o += (size_t)snprintf(uri + o, sizeof(uri) - o, "%sk%d%%3Dv", i ? "%2C" : "", i);
        snprintf(uri + o, sizeof(uri) - o, "%%7D");
        r = http_do(EVHTTP_REQ_POST, uri, AUTH, folded, sizeof(folded) - 1);
        assert_int_equal(r.code, 400);
        assert_non_null(strstr(r.body, "too many labels"));
    }
    /* '+' in the query is a space */
    r = http_do(EVHTTP_REQ_POST, "/ingest?name=plus.cpu%7Bk%3Da+b%7D&spyName=my+spy", AUTH, folded,
                sizeof(folded) - 1);
    assert_int_equal(r.code, 200);

    /* stored: the 5-sample push and the '+' ingest, nothing else */
    pg_receiver_destroy(F.recv);
    F.recv = NULL;
    pg_web_destroy(F.web);
    F.web = NULL;
    pg_app_destroy(F.app);
    F.app = NULL;
    char dpath[128];
    snprintf(dpath, sizeof(dpath), "%s/data", F.dir);
    const char *names[] = {"sink"};
    struct pg_buf *b = pg_buf_open(dpath, names, 1, 0, 0, err, sizeof(err));
    assert_non_null(b);
    struct pg_buf_item *items;
    size_t n;
    assert_int_equal(pg_buf_read(b, "sink", 100, 0, &items, &n), 0);
    assert_int_equal(n, 6);
    for (size_t i = 0; i < 5; i++)
        assert_string_equal(pg_labels_get(&items[i].labels, "service_name"), "bomb");
    assert_string_equal(pg_labels_get(&items[5].labels, "service_name"), "plus");
    assert_string_equal(pg_labels_get(&items[5].labels, "k"), "a b");
    assert_string_equal(pg_labels_get(&items[5].labels, "pyroscope_spy"), "my spy");
    pg_buf_items_free(items, n);
    pg_buf_close(b);
}

/* ---- in process: a request is stored all or nothing ---- */

/* Runs sql on the buffer's database through a second SQLite connection. */
static void buffer_sql(const char *sql)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/data/buffer.db", F.dir);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("%s: %s", sql, msg ? msg : "?");
    sqlite3_close(db);
}

static struct resp push_n(const char *svc, const uint8_t *prof, size_t plen, size_t n)
{
    const char *kv[] = {"__name__", "process_cpu", "service_name", svc};
    size_t len;
    uint8_t *pb = push_proto_n(kv, 2, prof, plen, n, &len);
    struct resp r = http_do(EVHTTP_REQ_POST, PG_RECEIVER_PUSH_PATH,
                            AUTH "Content-Type: application/proto\n", pb, len);
    free(pb);
    return r;
}

static void test_inproc_all_or_nothing(void **st)
{
    (void)st;
    Perftools__Profiles__Profile prof = PERFTOOLS__PROFILES__PROFILE__INIT;
    Perftools__Profiles__ValueType vt = PERFTOOLS__PROFILES__VALUE_TYPE__INIT, *vtp = &vt;
    vt.type = 1;
    vt.unit = 1;
    char *strs[] = {"", "samples"};
    prof.n_sample_type = 1;
    prof.sample_type = &vtp;
    prof.n_string_table = 2;
    prof.string_table = strs;
    size_t rawlen = perftools__profiles__profile__get_packed_size(&prof);
    uint8_t *raw = malloc(rawlen);
    assert_int_equal(perftools__profiles__profile__pack(&prof, raw), rawlen);

    /* failure injected in SQLite itself: the 3rd row of service "poison" is refused */
    buffer_sql("CREATE TRIGGER poison BEFORE INSERT ON profiles WHEN NEW.labels LIKE "
               "'%12:service_name6:poison%' AND (SELECT COUNT(*) FROM profiles WHERE labels "
               "LIKE '%12:service_name6:poison%') >= 2 BEGIN SELECT RAISE(ABORT,'injected'); "
               "END;");
    struct resp r = push_n("before", raw, rawlen, 2);
    assert_int_equal(r.code, 200);
    /* 3 profiles: the first two are appended, the third fails -> none is kept */
    r = push_n("poison", raw, rawlen, 3);
    assert_int_equal(r.code, 503);
    assert_non_null(strstr(r.body, "storage unavailable"));
    /* two are accepted by the trigger, and stored: the rollback left no trace behind */
    r = push_n("poison", raw, rawlen, 2);
    assert_int_equal(r.code, 200);
    r = push_n("after", raw, rawlen, 1);
    assert_int_equal(r.code, 200);
    struct pg_metric *drop_m =
        pg_metric_counter("profgate_receiver_dropped_profiles_total", "", "reason");
    const char *storage[] = {"storage"};
    assert_true(pg_metric_value(drop_m, storage) == 3);
    free(raw);

    pg_receiver_destroy(F.recv);
    F.recv = NULL;
    pg_web_destroy(F.web);
    F.web = NULL;
    pg_app_destroy(F.app);
    F.app = NULL;
    char dpath[128], err[256];
    snprintf(dpath, sizeof(dpath), "%s/data", F.dir);
    const char *names[] = {"sink"};
    struct pg_buf *b = pg_buf_open(dpath, names, 1, 0, 0, err, sizeof(err));
    assert_non_null(b);
    struct pg_buf_item *items;
    size_t n;
    assert_int_equal(pg_buf_read(b, "sink", 100, 0, &items, &n), 0);
    const char *want[] = {"before", "before", "poison", "poison", "after"};
    assert_int_equal(n, 5);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(pg_labels_get(&items[i].labels, "service_name"), want[i]);
    pg_buf_items_free(items, n);
    struct pg_buf_stats bs;
    pg_buf_stats(b, &bs);
    assert_int_equal(bs.rows, 5);
    pg_buf_close(b);
}

/* A receiver destroyed with a request on a worker (PROFGATE_TEST_WORK_DELAY_MS keeps it
 * there) answers it 503 at once; the conversion is freed when the worker is done (LSan
 * checks it in the sanitizer build). */
static int setup_slow(void **st)
{
    setenv("PROFGATE_TEST_WORK_DELAY_MS", "300", 1);
    int rc = setup_inproc(st);
    unsetenv("PROFGATE_TEST_WORK_DELAY_MS");
    return rc;
}

static void test_inproc_destroy_in_flight(void **st)
{
    (void)st;
    size_t glen;
    uint8_t *gz = pg_test_slurp("data/go_allocs.pb.gz", &glen);
    struct resp r;
    memset(&r, 0, sizeof(r));
    struct evhttp_connection *conn =
        evhttp_connection_base_new(F.base, NULL, "127.0.0.1", (ev_uint16_t)F.port);
    struct evhttp_request *req = evhttp_request_new(on_resp, &r);
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Host", "127.0.0.1");
    evhttp_add_header(h, "Authorization", "Basic dTpw");
    evbuffer_add(evhttp_request_get_output_buffer(req), gz, glen);
    assert_int_equal(evhttp_make_request(conn, req, EVHTTP_REQ_POST, "/ingest?name=slowapp"), 0);
    struct timespec ms = {0, 1000000};
    for (int i = 0; i < 3000 && pg_receiver_inflight(F.recv) == 0 && !r.done; i++) {
        event_base_loop(F.base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
        nanosleep(&ms, NULL);
    }
    assert_false(r.done); /* not answered before its conversion */
    assert_int_equal(pg_receiver_inflight(F.recv), 1);
    pg_receiver_destroy(F.recv);
    F.recv = NULL;
    for (int i = 0; i < 3000 && !r.done; i++) {
        event_base_loop(F.base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
        nanosleep(&ms, NULL);
    }
    assert_int_equal(r.code, 503);
    assert_non_null(strstr(r.body, "receiver stopped"));
    assert_non_null(strstr(r.retry_after, "5"));
    evhttp_connection_free(conn);
    free(gz);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_name),
        cmocka_unit_test(test_parse_time),
        cmocka_unit_test(test_parse_query),
        cmocka_unit_test(test_multipart),
        cmocka_unit_test(test_metric_name),
        cmocka_unit_test(test_legacy_type),
        cmocka_unit_test(test_folded_metric_name),
        cmocka_unit_test(test_series_labels),
        cmocka_unit_test(test_validate_series),
        cmocka_unit_test(test_utf8_tenant_base64),
        cmocka_unit_test_setup_teardown(test_inproc, setup_inproc, teardown_inproc),
        cmocka_unit_test_setup_teardown(test_inproc_hostile, setup_inproc, teardown_inproc),
        cmocka_unit_test_setup_teardown(test_inproc_all_or_nothing, setup_inproc, teardown_inproc),
        cmocka_unit_test_setup_teardown(test_inproc_destroy_in_flight, setup_slow, teardown_inproc),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
