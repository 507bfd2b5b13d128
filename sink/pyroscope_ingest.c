/* pyroscope_ingest.c - the "ingest" sink backend: Pyroscope's legacy HTTP ingestion,
 * POST <url>/ingest?name=<service_name>{k=v,...}&from=<unix s>&until=<unix s>
 * &format=pprof&spyName=profgate with the stored profile as a raw
 * application/octet-stream body, one profile per request. The labels in name are the
 * merged series labels without service_name, __name__ and any other "__" label, sorted
 * and joined with ","; the whole name is percent-encoded (RFC 3986 unreserved characters
 * kept). Sending is the shared HTTP send of backend.c. */
#include "sink/backend.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void *ingest_create(const struct pg_cfg_remote *cfg, const struct pg_labels *global_external,
                           struct pg_curlm *cm, struct event_base *base, char *err, size_t errlen)
{
    return pg_sink_inst_create("sink.ingest", cfg, global_external, cm, base, 1, err, errlen);
}

/* A growable string; on OOM failed is set and further appends do nothing. */
struct sbuf {
    char *s;
    size_t len, cap;
    int failed;
};

static void sb_add(struct sbuf *b, const char *s, size_t n)
{
    if (b->failed || n > SIZE_MAX / 4 - b->len) { /* also tells gcc -O3 the sizes are sane */
        b->failed = 1;
        return;
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 128;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->s, cap);
        if (!p) {
            b->failed = 1;
            return;
        }
        b->s = p;
        b->cap = cap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

static void sb_str(struct sbuf *b, const char *s)
{
    sb_add(b, s, strlen(s));
}

/* Appends s percent-encoded: RFC 3986 unreserved characters as is, every other byte as
 * %XX (upper-case hex), as curl_easy_escape does. */
static void sb_escape(struct sbuf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~') {
            sb_add(b, (const char *)&s[i], 1);
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            sb_add(b, e, 3);
        }
    }
}

/* Floor division of nanoseconds to seconds. */
static int64_t ns_to_s(int64_t ns)
{
    int64_t s = ns / 1000000000;
    if (ns % 1000000000 < 0)
        s--;
    return s;
}

static int ingest_encode(void *inst, const struct pg_buf_item *items, size_t n,
                         struct pg_sink_payload *out, char *err, size_t errlen)
{
    struct pg_sink_inst *in = inst;
    struct pg_labels ls;
    if (pg_sink_encode_begin(in, items, n, out, &ls, err, errlen) != 0)
        return -1;
    const struct pg_buf_item *it = &items[0];
    struct sbuf name = {0}, url = {0};
    int rc = -1;
    const char *svc = pg_labels_get(&ls, "service_name");
    sb_str(&name, svc && svc[0] ? svc : "unspecified");
    sb_str(&name, "{");
    int first = 1;
    for (size_t i = 0; i < ls.n; i++) {
        const char *k = ls.v[i].name;
        if (strcmp(k, "service_name") == 0 || strncmp(k, "__", 2) == 0)
            continue;
        if (!first)
            sb_str(&name, ",");
        first = 0;
        sb_str(&name, k);
        sb_str(&name, "=");
        sb_str(&name, ls.v[i].value);
    }
    sb_str(&name, "}");

    sb_add(&url, in->cfg->url, pg_sink_url_base_len(in->cfg->url, 0));
    sb_str(&url, "/ingest?name=");
    if (!name.failed)
        sb_escape(&url, name.s, name.len);
    char tail[128];
    snprintf(tail, sizeof(tail),
             "&from=%" PRId64 "&until=%" PRId64 "&format=pprof&spyName=profgate",
             ns_to_s(it->from_ns), ns_to_s(it->until_ns));
    sb_str(&url, tail);
    if (name.failed || url.failed)
        goto done;

    rc = pg_sink_payload_one(out, it, url.s, strdup("Content-Type: application/octet-stream"));
    url.s = NULL;
done:
    if (rc != 0)
        snprintf(err, errlen, "out of memory");
    free(name.s);
    free(url.s);
    pg_labels_reset(&ls);
    return rc;
}

const struct pg_sink_backend_type pg_sink_ingest = {
    .name = "ingest",
    .create = ingest_create,
    .encode = ingest_encode,
    .send = pg_sink_http_send,
    .cancel = pg_sink_http_cancel,
    .destroy = pg_sink_inst_destroy,
};
