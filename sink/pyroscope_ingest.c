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

#include "core/errmsg.h"
#include "core/sbuf.h"

static void *ingest_create(const struct pg_cfg_remote *cfg, const struct pg_labels *global_external,
                           struct pg_curlm *cm, struct event_base *base, char *err, size_t errlen)
{
    return pg_sink_inst_create("sink.ingest", cfg, global_external, cm, base, 1, err, errlen);
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
    struct pg_sbuf name = {0}, url = {0};
    int rc = -1;
    const char *svc = pg_labels_get(&ls, "service_name");
    pg_sbuf_str(&name, svc && svc[0] ? svc : "unspecified");
    pg_sbuf_str(&name, "{");
    int first = 1;
    for (size_t i = 0; i < ls.n; i++) {
        const char *k = ls.v[i].name;
        if (strcmp(k, "service_name") == 0 || strncmp(k, "__", 2) == 0)
            continue;
        if (!first)
            pg_sbuf_str(&name, ",");
        first = 0;
        pg_sbuf_str(&name, k);
        pg_sbuf_str(&name, "=");
        pg_sbuf_str(&name, ls.v[i].value);
    }
    pg_sbuf_str(&name, "}");

    pg_sbuf_add(&url, in->cfg->url, pg_sink_url_base_len(in->cfg->url, 0));
    pg_sbuf_str(&url, "/ingest?name=");
    if (!name.failed)
        pg_sbuf_escape(&url, name.s, name.len);
    char tail[128];
    snprintf(tail, sizeof(tail),
             "&from=%" PRId64 "&until=%" PRId64 "&format=pprof&spyName=profgate",
             ns_to_s(it->from_ns), ns_to_s(it->until_ns));
    pg_sbuf_str(&url, tail);
    if (name.failed || url.failed)
        goto done;

    rc = pg_sink_payload_one(out, it, pg_sbuf_take(&url),
                             strdup("Content-Type: application/octet-stream"));
done:
    if (rc != 0)
        pg_errmsg_set(err, errlen, "out of memory");
    pg_sbuf_reset(&name);
    pg_sbuf_reset(&url);
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
