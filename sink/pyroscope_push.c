/* pyroscope_push.c - the "push" sink backend: Pyroscope's push.v1.PusherService/Push over
 * connect unary (application/proto). One request carries several profiles, one
 * RawProfileSeries each (labels = series labels merged with the external labels, in
 * sorted order; one RawSample with the stored body and a stable ID for deduplication),
 * as many as fit in batch_max_bytes and share items[0]'s tenant. Sending is the shared
 * HTTP send of backend.c. */
#include "sink/backend.h"

#include "core/errmsg.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "push.pb-c.h"

static const char push_path[] = "/push.v1.PusherService/Push";

static void *push_create(const struct pg_cfg_remote *cfg, const struct pg_labels *global_external,
                         struct pg_curlm *cm, struct event_base *base, char *err, size_t errlen)
{
    return pg_sink_inst_create("sink.push", cfg, global_external, cm, base, 1, err, errlen);
}

/* One series under construction, with the storage its message points into. */
struct series {
    Push__V1__RawProfileSeries s;
    Push__V1__LabelPair *pairs;
    Push__V1__LabelPair **pair_ptrs;
    Push__V1__RawSample sample;
    Push__V1__RawSample *sample_ptr;
    struct pg_labels labels; /* owns the label strings */
    char id[64];
};

static void series_free(struct series *s)
{
    free(s->pairs);
    free(s->pair_ptrs);
    pg_labels_reset(&s->labels);
}

/* Builds the series of item into s (zeroed by the caller). Returns 0 or -1 (OOM). */
static int series_build(struct pg_sink_inst *in, const struct pg_buf_item *item, struct series *s)
{
    if (pg_sink_inst_labels(in, item, &s->labels) != 0)
        return -1;
    size_t n = s->labels.n;
    s->pairs = calloc(n ? n : 1, sizeof(*s->pairs));
    s->pair_ptrs = calloc(n ? n : 1, sizeof(*s->pair_ptrs));
    if (!s->pairs || !s->pair_ptrs)
        return -1;
    push__v1__raw_profile_series__init(&s->s);
    for (size_t i = 0; i < n; i++) {
        push__v1__label_pair__init(&s->pairs[i]);
        s->pairs[i].name = s->labels.v[i].name;
        s->pairs[i].value = s->labels.v[i].value;
        s->pair_ptrs[i] = &s->pairs[i];
    }
    s->s.n_labels = n;
    s->s.labels = s->pair_ptrs;
    push__v1__raw_sample__init(&s->sample);
    s->sample.raw_profile.data = item->body;
    s->sample.raw_profile.len = item->len;
    snprintf(s->id, sizeof(s->id), "%016" PRIx64 "-%" PRId64, pg_labels_hash(&s->labels), item->id);
    s->sample.id = s->id;
    s->sample_ptr = &s->sample;
    s->s.n_samples = 1;
    s->s.samples = &s->sample_ptr;
    return 0;
}

static size_t varint_size(size_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static int same_tenant(const struct pg_buf_item *a, const struct pg_buf_item *b)
{
    if (a->tenant_from_label != b->tenant_from_label)
        return 0;
    if (!a->tenant || !b->tenant)
        return a->tenant == b->tenant;
    return strcmp(a->tenant, b->tenant) == 0;
}

static int push_encode(void *inst, const struct pg_buf_item *items, size_t n,
                       struct pg_sink_payload *out, char *err, size_t errlen)
{
    struct pg_sink_inst *in = inst;
    if (pg_sink_encode_begin(in, items, n, out, NULL, err, errlen) != 0)
        return -1;
    struct series *ss = calloc(n, sizeof(*ss));
    Push__V1__RawProfileSeries **sp = calloc(n, sizeof(*sp));
    size_t used = 0, total = 0, profile_bytes = 0;
    int rc = -1;
    if (!ss || !sp) {
        pg_errmsg_set(err, errlen, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        const struct pg_buf_item *it = &items[i];
        if (i > 0 && (!same_tenant(it, &items[0]) || it->len == 0))
            break;
        if (series_build(in, it, &ss[i]) != 0) {
            series_free(&ss[i]);
            if (i == 0) {
                pg_errmsg_set(err, errlen, "out of memory");
                goto done;
            }
            break; /* send what is built; the rest goes in a later request */
        }
        size_t sz = push__v1__raw_profile_series__get_packed_size(&ss[i].s);
        size_t add = 1 + varint_size(sz) + sz; /* field 1, length-delimited */
        if (i > 0 && total + add > in->cfg->batch_max_bytes) {
            series_free(&ss[i]);
            break;
        }
        total += add;
        profile_bytes += it->len;
        sp[i] = &ss[i].s;
        used = i + 1;
    }
    Push__V1__PushRequest req = PUSH__V1__PUSH_REQUEST__INIT;
    req.n_series = used;
    req.series = sp;
    size_t len = push__v1__push_request__get_packed_size(&req);
    out->body = malloc(len ? len : 1);
    out->url = malloc(strlen(in->cfg->url) + sizeof(push_path));
    out->headers = calloc(2, sizeof(*out->headers));
    if (!out->body || !out->url || !out->headers) {
        pg_errmsg_set(err, errlen, "out of memory");
        goto done;
    }
    out->len = push__v1__push_request__pack(&req, out->body);
    size_t ul = pg_sink_url_base_len(in->cfg->url, 0);
    memcpy(out->url, in->cfg->url, ul);
    memcpy(out->url + ul, push_path, sizeof(push_path));
    out->headers[0] = strdup("Content-Type: application/proto");
    out->headers[1] = strdup("Connect-Protocol-Version: 1");
    out->n_headers = 2;
    if (!out->headers[0] || !out->headers[1]) {
        pg_errmsg_set(err, errlen, "out of memory");
        goto done;
    }
    out->n_items = used;
    out->profile_bytes = profile_bytes;
    rc = 0;
done:
    if (ss)
        for (size_t i = 0; i < used; i++)
            series_free(&ss[i]);
    free(ss);
    free(sp);
    if (rc != 0)
        pg_sink_payload_reset(out);
    return rc;
}

const struct pg_sink_backend_type pg_sink_push = {
    .name = "push",
    .create = push_create,
    .encode = push_encode,
    .send = pg_sink_http_send,
    .cancel = pg_sink_http_cancel,
    .destroy = pg_sink_inst_destroy,
};
