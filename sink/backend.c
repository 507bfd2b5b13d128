/* backend.c - what the sink backends share (see backend.h): the registry table that maps
 * a config api to its backend type, the HTTP outcome classification, the series label
 * merge with external labels, payload cleanup, the instance every type creates, the steps
 * every encode shares (input check, labels, one-profile payload, URL base), and the
 * asynchronous HTTP send (core/httpc.h) used by the push and ingest types. */
#include "sink/backend.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/errmsg.h"
#include "core/httpc.h"
#include "core/log.h"

/* The registry, indexed by enum pg_cfg_api. */
static const struct pg_sink_backend_type *const backend_types[] = {
    [PG_CFG_API_PUSH] = &pg_sink_push,
    [PG_CFG_API_INGEST] = &pg_sink_ingest,
    [PG_CFG_API_FILE] = &pg_sink_file,
};

const struct pg_sink_backend_type *pg_sink_backend_for(enum pg_cfg_api api)
{
    if ((size_t)api >= sizeof(backend_types) / sizeof(backend_types[0]))
        return NULL;
    return backend_types[api];
}

enum pg_sink_result pg_sink_classify(long http_status, int transport_failed)
{
    if (http_status >= 200 && http_status < 300)
        return PG_SINK_OK;
    if (transport_failed || http_status == 0)
        return PG_SINK_RETRY;
    if (http_status == 408 || http_status == 429 || (http_status >= 500 && http_status < 600))
        return PG_SINK_RETRY;
    return PG_SINK_ERROR;
}

static int merge_into(struct pg_labels *out, const struct pg_labels *src)
{
    if (!src)
        return 0;
    for (size_t i = 0; i < src->n; i++)
        if (pg_labels_set(out, src->v[i].name, src->v[i].value) != 0)
            return -1;
    return 0;
}

int pg_sink_series_labels(const struct pg_labels *series, const struct pg_labels *global_external,
                          const struct pg_labels *backend_external, struct pg_labels *out)
{
    struct pg_labels empty;
    pg_labels_init(&empty);
    if (pg_labels_copy(out, series ? series : &empty) != 0 ||
        merge_into(out, global_external) != 0 || merge_into(out, backend_external) != 0) {
        pg_labels_reset(out);
        return -1;
    }
    return 0;
}

void pg_sink_payload_reset(struct pg_sink_payload *p)
{
    if (!p)
        return;
    free(p->url);
    for (size_t i = 0; i < p->n_headers; i++)
        free(p->headers[i]);
    free(p->headers);
    free(p->body);
    memset(p, 0, sizeof(*p));
}

struct pg_sink_inst *pg_sink_inst_create(const char *component, const struct pg_cfg_remote *cfg,
                                         const struct pg_labels *global_external,
                                         struct pg_curlm *cm, struct event_base *base, int need_cm,
                                         char *err, size_t errlen)
{
    if (!cfg || !cfg->url || !cfg->url[0]) {
        pg_errmsg_set(err, errlen, "remote_write %s: url is empty",
                      cfg && cfg->name ? cfg->name : "?");
        return NULL;
    }
    if (need_cm && !cm) {
        pg_errmsg_set(err, errlen, "remote_write %s: no HTTP client", cfg->name ? cfg->name : "?");
        return NULL;
    }
    if (!base) {
        pg_errmsg_set(err, errlen, "remote_write %s: no event loop", cfg->name ? cfg->name : "?");
        return NULL;
    }
    struct pg_sink_inst *in = calloc(1, sizeof(*in));
    if (!in) {
        pg_errmsg_set(err, errlen, "out of memory");
        return NULL;
    }
    in->cfg = cfg;
    in->cm = cm;
    in->base = base;
    pg_labels_init(&in->global_external);
    if (global_external && pg_labels_copy(&in->global_external, global_external) != 0) {
        pg_errmsg_set(err, errlen, "out of memory");
        pg_sink_inst_destroy(in);
        return NULL;
    }
    if (need_cm)
        pg_log_info(component, "remote=%s msg=\"backend created\"", cfg->name ? cfg->name : "");
    else
        pg_log_info(component, "remote=%s dir=\"%s\" msg=\"backend created\"",
                    cfg->name ? cfg->name : "", cfg->url);
    return in;
}

void pg_sink_inst_destroy(void *inst)
{
    struct pg_sink_inst *in = inst;
    if (!in)
        return;
    pg_labels_reset(&in->global_external);
    free(in);
}

int pg_sink_encode_begin(const struct pg_sink_inst *in, const struct pg_buf_item *items, size_t n,
                         struct pg_sink_payload *out, struct pg_labels *labels, char *err,
                         size_t errlen)
{
    memset(out, 0, sizeof(*out));
    if (labels)
        pg_labels_init(labels);
    if (n == 0) {
        pg_errmsg_set(err, errlen, "no profile to encode");
        return -1;
    }
    if (items[0].len == 0) {
        pg_errmsg_set(err, errlen, "empty profile body (id %" PRId64 ")", items[0].id);
        return -1;
    }
    if (labels && pg_sink_inst_labels(in, &items[0], labels) != 0) {
        pg_errmsg_set(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

int pg_sink_inst_labels(const struct pg_sink_inst *in, const struct pg_buf_item *item,
                        struct pg_labels *out)
{
    pg_labels_init(out);
    if (item->labels_final)
        return pg_labels_copy(out, &item->labels);
    return pg_sink_series_labels(&item->labels, &in->global_external, &in->cfg->external_labels,
                                 out);
}

int pg_sink_payload_one(struct pg_sink_payload *out, const struct pg_buf_item *item, char *url,
                        char *header0)
{
    out->url = url;
    out->headers = calloc(1, sizeof(*out->headers));
    out->body = malloc(item->len ? item->len : 1);
    if (!url || !header0 || !out->headers || !out->body) {
        free(header0);
        pg_sink_payload_reset(out);
        return -1;
    }
    out->headers[0] = header0;
    out->n_headers = 1;
    memcpy(out->body, item->body, item->len);
    out->len = item->len;
    out->n_items = 1;
    out->profile_bytes = item->len;
    return 0;
}

size_t pg_sink_url_base_len(const char *url, int keep_root)
{
    size_t n = strlen(url);
    while (n > (keep_root ? 1u : 0u) && url[n - 1] == '/')
        n--;
    return n;
}

/* One running HTTP send: the handle given back to the queue. */
struct http_send {
    struct pg_httpc_req *req;
    pg_sink_done_fn done;
    void *ud;
    char *remote; /* for log lines */
};

/* Formats the reason for a non-2xx response: status, phrase and the start of the body on
 * one line. */
static void status_message(const struct pg_httpc_resp *resp, char *msg, size_t msglen)
{
    char body[257];
    size_t n = resp->len < 256 ? resp->len : 256;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = resp->body[i];
        body[i] = (c < 0x20 || c == 0x7f) ? ' ' : (char)c;
    }
    body[n] = '\0';
    pg_httpc_status_error(resp->status, msg, msglen);
    size_t off = strlen(msg);
    if (n > 0 && off < msglen)
        snprintf(msg + off, msglen - off, ": %s", body);
}

static void http_done(void *ud, const struct pg_httpc_resp *resp)
{
    struct http_send *s = ud;
    char msg[512];
    enum pg_sink_result r;
    if (resp->failed && resp->too_large && resp->status != 0)
        r = pg_sink_classify(resp->status, 0); /* a status arrived; only its body was long */
    else
        r = pg_sink_classify(resp->status, resp->failed);
    const char *message = NULL;
    if (r != PG_SINK_OK) {
        if (resp->failed && resp->error)
            snprintf(msg, sizeof(msg), "%s", resp->error);
        else
            status_message(resp, msg, sizeof(msg));
        message = msg;
        pg_log_debug("sink", "remote=%s status=%ld msg=\"send failed: %s\"", s->remote,
                     resp->status, msg);
    }
    s->done(s->ud, r, resp->status, resp->retry_after_ms, message);
    free(s->remote);
    free(s);
}

/* Returns 1 when the client config sets header name (headers or http_headers). */
static int has_header(const struct pg_httpc_cfg *h, const char *name)
{
    for (size_t i = 0; i < h->headers.n; i++)
        if (strcasecmp(h->headers.v[i].name, name) == 0)
            return 1;
    for (size_t i = 0; i < h->n_http_headers; i++)
        if (strcasecmp(h->http_headers[i].name, name) == 0)
            return 1;
    return 0;
}

void *pg_sink_http_send(void *inst, const struct pg_sink_payload *p, const char *tenant,
                        pg_sink_done_fn done, void *ud)
{
    struct pg_sink_inst *in = inst;
    struct http_send *s = calloc(1, sizeof(*s));
    const char **hdrs = calloc(p->n_headers + 1, sizeof(*hdrs));
    char *org = NULL;
    if (!s || !hdrs)
        goto fail;
    s->done = done;
    s->ud = ud;
    s->remote = strdup(in->cfg->name ? in->cfg->name : "");
    if (!s->remote)
        goto fail;
    size_t nh = 0;
    for (size_t i = 0; i < p->n_headers; i++)
        hdrs[nh++] = p->headers[i];
    int configured = has_header(&in->cfg->http, "X-Scope-OrgID");
    if (tenant && (!configured || p->tenant_from_label)) {
        if (asprintf(&org, "X-Scope-OrgID: %s", tenant) < 0) {
            org = NULL;
            goto fail;
        }
        hdrs[nh++] = org;
    }
    struct pg_httpc_opts o = {
        .method = "POST",
        .url = p->url,
        .http = &in->cfg->http,
        .headers = hdrs,
        .n_headers = nh,
        .body = p->body,
        .body_len = p->len,
        .timeout_ms = in->cfg->remote_timeout_ms,
        .max_body = 1024 * 1024,
        /* a tenant from a __tenant_id__ label replaces the configured header */
        .replace_header = org && configured ? "X-Scope-OrgID" : NULL,
    };
    char err[256] = "";
    s->req = pg_httpc_start(in->cm, &o, http_done, s, err, sizeof(err));
    if (!s->req) {
        pg_log_warn("sink", "remote=%s msg=\"cannot start request: %s\"", s->remote, err);
        goto fail;
    }
    free(org);
    free(hdrs);
    return s;
fail:
    free(org);
    free(hdrs);
    if (s)
        free(s->remote);
    free(s);
    return NULL;
}

void pg_sink_http_cancel(void *inst, void *handle)
{
    (void)inst;
    struct http_send *s = handle;
    if (!s)
        return;
    pg_httpc_cancel(s->req);
    free(s->remote);
    free(s);
}
