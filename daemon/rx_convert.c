/* rx_convert.c - the push receiver's conversions, run on a processing worker (see
 * rx_convert.h). /ingest: query -> multipart parts -> pprof (decoded and validated, its
 * __name__ from the sample types) or folded stacks (converted to pprof) -> series labels.
 * push.v1: gunzip -> PushRequest (protobuf or connect JSON) -> per series, validated
 * labels -> per sample, a decoded and validated raw profile with its time range. */
#include "daemon/rx_convert.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base64.h"
#include "core/clock.h"
#include "core/errmsg.h"
#include "core/utf8.h"
#include "daemon/ingest_parse.h"
#include "profile/folded.h"
#include "profile/pprof.h"
#include "profile/wire.h"
#include "push.pb-c.h"

#define MAX_PARTS 8

/* Sets the job's refusal: status, drop reason (or NULL) and message. */
static void fail(struct pg_rx_job *j, int status, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void fail(struct pg_rx_job *j, int status, const char *reason, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(j->err, sizeof(j->err), fmt, ap);
    va_end(ap);
    j->status = status;
    j->reason = reason;
}

static void oom(struct pg_rx_job *j)
{
    fail(j, 503, NULL, "out of memory");
}

void pg_rx_items_reset(struct pg_rx_items *it)
{
    for (size_t i = 0; i < it->n; i++) {
        pg_labels_reset(&it->v[i].labels);
        free(it->v[i].owned);
    }
    free(it->v);
    memset(it, 0, sizeof(*it));
}

void pg_rx_job_free(struct pg_rx_job *j)
{
    if (!j)
        return;
    pg_rx_items_reset(&j->items);
    free(j->body);
    free(j->query);
    free(j->content_type);
    free(j->content_encoding);
    free(j);
}

/* Appends a zeroed item and returns it, or NULL (OOM). */
static struct pg_rx_item *items_add(struct pg_rx_items *it)
{
    if (it->n == it->cap) {
        size_t nc = it->cap ? it->cap * 2 : 4;
        struct pg_rx_item *v = realloc(it->v, nc * sizeof(*v));
        if (!v)
            return NULL;
        it->v = v;
        it->cap = nc;
    }
    struct pg_rx_item *x = &it->v[it->n++];
    memset(x, 0, sizeof(*x));
    pg_labels_init(&x->labels);
    return x;
}

/* ---- /ingest ---- */

static int gz_magic(const uint8_t *b, size_t n)
{
    return n >= 2 && b[0] == 0x1f && b[1] == 0x8b;
}

/* The parts of a multipart body: the profile (*pb, *plen: borrowed from the body) and
 * sample_type_config (into display, *have_stcfg = 1). Returns 0, or -1 after fail. */
static int ingest_parts(struct pg_rx_job *j, const uint8_t **pb, size_t *plen,
                        struct pg_labels *display, int *have_stcfg)
{
    struct pg_ingest_part parts[MAX_PARTS];
    size_t np = 0;
    char err[400];
    if (pg_ingest_multipart_parse(j->content_type, j->body, j->len, parts, MAX_PARTS, &np, err,
                                  sizeof(err)) < 0) {
        fail(j, 400, "invalid", "failed to parse multipart body: %s", err);
        return -1;
    }
    *pb = NULL;
    *plen = 0;
    for (size_t i = 0; i < np; i++) {
        if (!strcmp(parts[i].name, "profile")) {
            *pb = parts[i].data;
            *plen = parts[i].len;
        } else if (!strcmp(parts[i].name, "prev_profile") && parts[i].len) {
            fail(j, 400, "invalid",
                 "unsupported client version (prev_profile part): please update the "
                 "Pyroscope SDK");
            return -1;
        } else if (!strcmp(parts[i].name, "sample_type_config")) {
            if (pg_ingest_sample_type_config(parts[i].data, parts[i].len, display, err,
                                             sizeof(err)) < 0) {
                fail(j, 400, "invalid", "%s", err);
                return -1;
            }
            *have_stcfg = 1;
        }
    }
    if (!*pb) {
        fail(j, 400, "invalid", "multipart body has no \"profile\" part");
        return -1;
    }
    return 0;
}

/* A pprof body: decoded and validated (unless prof already is), __name__ from its sample
 * types, the series labels into x. Returns 0, or -1 after fail. */
static int ingest_pprof_item(struct pg_rx_job *j, const struct pg_ingest_params *p,
                             const uint8_t *pb, size_t plen, Perftools__Profiles__Profile *prof,
                             struct pg_labels *display, int have_stcfg, struct pg_rx_item *x)
{
    char err[400], metric[128];
    uint8_t *raw = NULL;
    size_t rawlen = 0;
    int rc = -1;
    Perftools__Profiles__Profile *own = NULL;
    if (!prof &&
        pg_pprof_check(pb, plen, NULL, j->max_body, &raw, &rawlen, &own, err, sizeof(err)) < 0) {
        fail(j, 400, "invalid", "undecodable profile: %s", err);
        goto out;
    }
    if (!prof)
        prof = own;
    if (!have_stcfg && pg_ingest_default_sample_types(display) < 0) {
        oom(j);
        goto out;
    }
    if (pg_ingest_metric_name(prof, display, metric, sizeof(metric), err, sizeof(err)) < 0) {
        fail(j, 400, "invalid", "%s", err);
        goto out;
    }
    x->body = pb;
    x->len = plen;
    if (pg_ingest_series_labels(&p->labels, p->app, metric, p->spy_name, &x->labels) < 0) {
        oom(j);
        goto out;
    }
    rc = 0;
out:
    pg_pprof_free(own);
    free(raw);
    return rc;
}

/* Folded stacks (format groups or lines): the legacy profile type from the name's
 * suffix, the conversion to pprof (owned by x), the series labels. Returns 0, or -1
 * after fail. */
static int ingest_folded_item(struct pg_rx_job *j, const struct pg_ingest_params *p,
                              const uint8_t *pb, size_t plen, struct pg_rx_item *x)
{
    char err[400], *app = NULL;
    const char *m, *type, *unit;
    int rc = -1;
    if (pg_ingest_legacy_type(p->app, &app, &m, &type, &unit, err, sizeof(err)) < 0) {
        fail(j, 400, "invalid", "%s", err);
        return -1;
    }
    int frc =
        pg_folded_to_pprof(pb, plen, p->format == PG_INGEST_LINES, m, type, unit, p->sample_rate,
                           p->from_ns, p->until_ns, &x->owned, &x->len, err, sizeof(err));
    if (frc == -2) {
        fail(j, 413, "too_large", "%s", err);
        goto out;
    }
    if (frc < 0) {
        fail(j, 400, "invalid", "undecodable profile: %s", err);
        goto out;
    }
    x->body = x->owned;
    if (pg_ingest_series_labels(&p->labels, app, m, p->spy_name, &x->labels) < 0) {
        oom(j);
        goto out;
    }
    rc = 0;
out:
    free(app);
    return rc;
}

/* The profile bytes of the request (the body, or its multipart "profile" part) into one
 * item of p's series. Returns 0, or -1 after fail (200 for an empty profile). */
static int ingest_item(struct pg_rx_job *j, struct pg_ingest_params *p, struct pg_labels *display)
{
    const uint8_t *pb = j->body;
    size_t plen = j->len;
    int have_stcfg = 0;
    if (pg_ingest_is_multipart(j->content_type)) {
        if (ingest_parts(j, &pb, &plen, display, &have_stcfg) < 0)
            return -1;
        if (p->format == PG_INGEST_AUTO)
            p->format = PG_INGEST_PPROF;
    }
    if (plen == 0) { /* Pyroscope accepts an empty profile and stores nothing */
        fail(j, 200, "empty", "empty profile");
        return -1;
    }
    Perftools__Profiles__Profile *prof = NULL;
    uint8_t *raw = NULL;
    size_t rawlen = 0;
    char err[400];
    if (p->format == PG_INGEST_AUTO)
        p->format = gz_magic(pb, plen) || pg_pprof_check(pb, plen, NULL, j->max_body, &raw, &rawlen,
                                                         &prof, err, sizeof(err)) == 0
                        ? PG_INGEST_PPROF
                        : PG_INGEST_GROUPS;
    free(raw);
    struct pg_rx_item *x = items_add(&j->items);
    int rc = -1;
    if (!x)
        oom(j);
    else {
        x->from_ns = p->from_ns;
        x->until_ns = p->until_ns;
        rc = p->format == PG_INGEST_PPROF
                 ? ingest_pprof_item(j, p, pb, plen, prof, display, have_stcfg, x)
                 : ingest_folded_item(j, p, pb, plen, x);
    }
    pg_pprof_free(prof);
    if (rc == 0 && pg_ingest_validate_series(&x->labels, err, sizeof(err)) < 0) {
        fail(j, 400, "invalid", "%s", err);
        rc = -1;
    }
    return rc;
}

static void ingest_convert(struct pg_rx_job *j)
{
    char err[400];
    struct pg_ingest_params p;
    if (pg_ingest_parse_query(j->query, pg_clock_unix_ns(), &p, err, sizeof(err)) < 0) {
        fail(j, 400, "invalid", "failed to parse request metadata: %s", err);
        return;
    }
    struct pg_labels display;
    pg_labels_init(&display);
    if (ingest_item(j, &p, &display) == 0)
        j->status = PG_RX_STORE;
    pg_labels_reset(&display);
    pg_ingest_params_reset(&p);
}

/* ---- push.v1 Push ---- */

/* A label pair list from either encoding. */
struct lp {
    const char *name, *value;
};

/* Builds a validated label set from pairs. Returns 0 or -1 with err. */
static int build_labels(const struct lp *v, size_t n, struct pg_labels *out, char *err,
                        size_t errlen)
{
    if (n > PG_INGEST_MAX_LABEL_NAMES) {
        pg_errmsg_set(err, errlen, "profile series has %zu label names; limit %d", n,
                      PG_INGEST_MAX_LABEL_NAMES);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        const char *k = v[i].name ? v[i].name : "", *val = v[i].value ? v[i].value : "";
        if (!pg_utf8_valid(k, strlen(k))) {
            pg_errmsg_set(err, errlen, "invalid labels: label name is not valid UTF-8");
            return -1;
        }
        if (pg_labels_get(out, k)) {
            pg_errmsg_set(err, errlen, "invalid labels: duplicate label name: '%.64s'", k);
            return -1;
        }
        if (pg_labels_set(out, k, val) < 0) {
            pg_errmsg_set(err, errlen, "out of memory");
            return -1;
        }
    }
    return pg_ingest_validate_series(out, err, errlen);
}

/* The decompressed-bytes budget of one push request (PG_RX_INFLATE_RATIO x max_body
 * over all its raw profiles). */
struct inflate_budget {
    uint64_t left, total, max_body;
};

static void inflate_budget_init(struct inflate_budget *b, uint64_t max_body)
{
    b->total =
        max_body > UINT64_MAX / PG_RX_INFLATE_RATIO ? UINT64_MAX : max_body * PG_RX_INFLATE_RATIO;
    b->left = b->total;
    b->max_body = max_body;
}

/* time_nanos (field 9) and duration_nanos (field 10) of an uncompressed pprof (already
 * checked by pg_pprof_prepare; as in protobuf, the last occurrence wins). */
static void pprof_times(const uint8_t *pb, size_t len, int64_t *time_ns, int64_t *dur_ns)
{
    const uint8_t *p = pb, *end = pb + len;
    struct pg_pb_field f;
    *time_ns = *dur_ns = 0;
    while (pg_pb_next(&p, end, &f) == 1) {
        if (f.wt != PG_WT_VARINT)
            continue;
        if (f.num == 9)
            *time_ns = (int64_t)f.v;
        else if (f.num == 10)
            *dur_ns = (int64_t)f.v;
    }
}

/* Sets x's time range from its uncompressed profile raw (now when it has no time). Returns
 * 0, or -1 with err when time_nanos + duration_nanos overflows (times from the wire:
 * checked arithmetic). */
static int sample_times(struct pg_rx_item *x, const uint8_t *raw, size_t rawlen, char *err,
                        size_t errlen)
{
    int64_t t, d;
    pprof_times(raw, rawlen, &t, &d);
    x->from_ns = t > 0 ? t : pg_clock_unix_ns();
    if (__builtin_add_overflow(x->from_ns, d > 0 ? d : 0, &x->until_ns)) {
        pg_errmsg_set(err, errlen, "time_nanos + duration_nanos overflows 64-bit nanoseconds");
        return -1;
    }
    return 0;
}

/* Validates one raw profile and adds it as an item, charging its decompressed size to
 * bud. Returns 0, -1 with err (invalid: 400) or -2 with err (the request's decompressed
 * budget is spent: 413). Takes ownership of data (malloc'd; NULL when len is 0). */
static int add_sample(struct pg_rx_items *it, const struct pg_labels *ls, uint8_t *data, size_t len,
                      struct inflate_budget *bud, char *err, size_t errlen)
{
    if (!len) {
        free(data);
        pg_errmsg_set(err, errlen, "empty raw profile");
        return -1;
    }
    uint8_t *raw = NULL;
    size_t rawlen;
    int by_budget = bud->left < bud->max_body;
    uint64_t lim = by_budget ? bud->left : bud->max_body;
    if (lim > SIZE_MAX)
        lim = SIZE_MAX;
    /* the streaming structural check (profile/wire.h): no protobuf-c object graph */
    if (pg_pprof_prepare(data, len, NULL, (size_t)lim, &raw, &rawlen, err, errlen) < 0) {
        free(data);
        if (by_budget && strstr(err, "exceeds limit")) {
            pg_errmsg_set(err, errlen,
                          "the request's raw profiles decompress to more than %llu bytes in total "
                          "(%dx receiver.max_body_size)",
                          (unsigned long long)bud->total, PG_RX_INFLATE_RATIO);
            return -2;
        }
        return -1;
    }
    bud->left -= rawlen;
    struct pg_rx_item *x = items_add(it);
    int rc = 0;
    if (!x || pg_labels_copy(&x->labels, ls) < 0) {
        free(data);
        pg_errmsg_set(err, errlen, "out of memory");
        rc = -1;
    } else {
        /* the item owns data from here: a failure drops it with the request */
        x->body = x->owned = data;
        x->len = len;
        rc = sample_times(x, raw, rawlen, err, errlen);
    }
    free(raw);
    return rc;
}

/* Copies a protobuf bytes field (NULL for an empty one). Returns 0 or -1 (OOM). */
static int dup_bytes(const ProtobufCBinaryData *d, uint8_t **out)
{
    *out = NULL;
    if (!d->len)
        return 0;
    if (!(*out = malloc(d->len)))
        return -1;
    memcpy(*out, d->data, d->len);
    return 0;
}

/* One series of a protobuf PushRequest: its labels, then every sample. Returns 0, -1 or
 * -2 with err as add_sample. */
static int push_proto_series(const Push__V1__RawProfileSeries *se, size_t s, struct pg_rx_items *it,
                             struct inflate_budget *bud, char *err, size_t errlen)
{
    if (se->n_labels > PG_INGEST_MAX_LABEL_NAMES) {
        pg_errmsg_set(err, errlen, "series %zu: profile series has %zu label names; limit %d", s,
                      se->n_labels, PG_INGEST_MAX_LABEL_NAMES);
        return -1;
    }
    struct lp v[PG_INGEST_MAX_LABEL_NAMES];
    for (size_t i = 0; i < se->n_labels; i++) {
        v[i].name = se->labels[i]->name;
        v[i].value = se->labels[i]->value;
    }
    struct pg_labels ls;
    pg_labels_init(&ls);
    char e2[400];
    int rc = 0;
    if (build_labels(v, se->n_labels, &ls, e2, sizeof(e2)) < 0) {
        pg_errmsg_set(err, errlen, "series %zu: %s", s, e2);
        rc = -1;
    }
    for (size_t k = 0; rc == 0 && k < se->n_samples; k++) {
        uint8_t *copy;
        if (dup_bytes(&se->samples[k]->raw_profile, &copy) < 0) {
            pg_errmsg_set(err, errlen, "out of memory");
            rc = -1;
            break;
        }
        rc = add_sample(it, &ls, copy, se->samples[k]->raw_profile.len, bud, e2, sizeof(e2));
        if (rc < 0)
            pg_errmsg_set(err, errlen, "series %zu sample %zu: %s", s, k, e2);
    }
    pg_labels_reset(&ls);
    return rc;
}

static int parse_push_proto(const uint8_t *b, size_t n, uint64_t max_body, struct pg_rx_items *it,
                            char *err, size_t errlen)
{
    Push__V1__PushRequest *pr = push__v1__push_request__unpack(NULL, n, b);
    if (!pr) {
        pg_errmsg_set(err, errlen, "invalid protobuf: cannot decode push.v1.PushRequest");
        return -1;
    }
    int rc = 0;
    struct inflate_budget bud;
    inflate_budget_init(&bud, max_body);
    for (size_t s = 0; rc == 0 && s < pr->n_series; s++)
        rc = push_proto_series(pr->series[s], s, it, &bud, err, errlen);
    push__v1__push_request__free_unpacked(pr, NULL);
    return rc;
}

static const char *json_str_field(json_t *o, const char *a, const char *b)
{
    json_t *v = json_object_get(o, a);
    if (!v && b)
        v = json_object_get(o, b);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* The labels of one JSON series into ls. Returns 0 or -1 with err. */
static int push_json_labels(json_t *labels, size_t s, struct pg_labels *ls, char *err,
                            size_t errlen)
{
    size_t nl = json_array_size(labels);
    if (nl > PG_INGEST_MAX_LABEL_NAMES) {
        pg_errmsg_set(err, errlen, "series %zu: profile series has %zu label names; limit %d", s,
                      nl, PG_INGEST_MAX_LABEL_NAMES);
        return -1;
    }
    struct lp v[PG_INGEST_MAX_LABEL_NAMES];
    for (size_t i = 0; i < nl; i++) {
        json_t *l = json_array_get(labels, i);
        v[i].name = json_is_object(l) ? json_str_field(l, "name", NULL) : NULL;
        v[i].value = json_is_object(l) ? json_str_field(l, "value", NULL) : NULL;
        if (!v[i].name || !v[i].value) {
            pg_errmsg_set(err, errlen, "series %zu: label %zu needs string name and value", s, i);
            return -1;
        }
    }
    char e2[400];
    if (build_labels(v, nl, ls, e2, sizeof(e2)) < 0) {
        pg_errmsg_set(err, errlen, "series %zu: %s", s, e2);
        return -1;
    }
    return 0;
}

/* One series of a JSON PushRequest. Returns 0, -1 or -2 with err as add_sample. */
static int push_json_series(json_t *se, size_t s, struct pg_rx_items *it,
                            struct inflate_budget *bud, char *err, size_t errlen)
{
    json_t *labels = json_object_get(se, "labels");
    json_t *samples = json_object_get(se, "samples");
    if (!json_is_object(se) || (labels && !json_is_array(labels)) ||
        (samples && !json_is_array(samples))) {
        pg_errmsg_set(err, errlen, "series %zu: invalid JSON shape", s);
        return -1;
    }
    struct pg_labels ls;
    pg_labels_init(&ls);
    int rc = push_json_labels(labels, s, &ls, err, errlen);
    size_t k;
    json_t *sa;
    json_array_foreach(samples, k, sa)
    {
        if (rc)
            break;
        const char *b64 =
            json_is_object(sa) ? json_str_field(sa, "rawProfile", "raw_profile") : NULL;
        uint8_t *dec = NULL;
        size_t dl = 0;
        char e2[400];
        if (!b64 || pg_base64_decode(b64, strlen(b64), 0, &dec, &dl) < 0) {
            pg_errmsg_set(err, errlen, "series %zu sample %zu: rawProfile must be base64", s, k);
            rc = -1;
            break;
        }
        rc = add_sample(it, &ls, dec, dl, bud, e2, sizeof(e2));
        if (rc < 0)
            pg_errmsg_set(err, errlen, "series %zu sample %zu: %s", s, k, e2);
    }
    pg_labels_reset(&ls);
    return rc;
}

static int parse_push_json(const uint8_t *b, size_t n, uint64_t max_body, struct pg_rx_items *it,
                           char *err, size_t errlen)
{
    json_error_t je;
    json_t *root = json_loadb((const char *)b, n, 0, &je);
    if (!root || !json_is_object(root)) {
        pg_errmsg_set(err, errlen, "invalid JSON: %s", root ? "want an object" : je.text);
        json_decref(root);
        return -1;
    }
    int rc = 0;
    struct inflate_budget bud;
    inflate_budget_init(&bud, max_body);
    json_t *series = json_object_get(root, "series");
    if (series && !json_is_array(series)) {
        pg_errmsg_set(err, errlen, "invalid JSON: series must be an array");
        rc = -1;
    }
    size_t s;
    json_t *se;
    json_array_foreach(series, s, se)
    {
        if (rc)
            break;
        rc = push_json_series(se, s, it, &bud, err, errlen);
    }
    json_decref(root);
    return rc;
}

static void push_convert(struct pg_rx_job *j)
{
    char err[sizeof(j->err)] = "";
    uint8_t *plain = NULL;
    const uint8_t *body = j->body;
    size_t len = j->len;
    if (j->content_encoding) {
        if (pg_pprof_gunzip(j->body, j->len, j->max_body, &plain, &len, err, sizeof(err)) < 0) {
            int big = strstr(err, "limit") != NULL || strstr(err, "exceed") != NULL;
            fail(j, big ? 413 : 400, big ? "too_large" : "invalid", "invalid gzip request body: %s",
                 err);
            return;
        }
        body = plain;
    }
    int rc = j->json ? parse_push_json(body, len, j->max_body, &j->items, err, sizeof(err))
                     : parse_push_proto(body, len, j->max_body, &j->items, err, sizeof(err));
    free(plain);
    if (rc == -2)
        fail(j, 413, "too_large", "%s", err);
    else if (rc < 0)
        fail(j, 400, "invalid", "%s", err);
    else
        j->status = PG_RX_STORE;
}

void pg_rx_convert(struct pg_rx_job *j)
{
    j->status = 500;
    j->reason = NULL;
    snprintf(j->err, sizeof(j->err), "internal error");
    if (j->route == PG_RX_PUSH)
        push_convert(j);
    else
        ingest_convert(j);
    if (j->status != PG_RX_STORE)
        pg_rx_items_reset(&j->items);
}
