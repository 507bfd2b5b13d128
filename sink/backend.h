/* backend.h - the sink backend interface: how buffered profiles leave profgate.
 *
 * A backend type is a const vtable (as curl's struct Curl_ssl): create an instance from a
 * remote_write entry, encode a batch of buffered profiles into one request (a pure
 * function: no I/O, tested without a network), send an encoded request asynchronously
 * with a completion of OK, RETRY or ERROR, cancel, destroy. The queue (sink/queue.h)
 * owns retries, backoff and cursors; a backend only knows its wire format.
 *
 * Types, looked up by the config's api: push (push.v1.PusherService/Push over connect,
 * application/proto, several series per request up to batch_max_bytes), ingest
 * (POST /ingest?name=...&from&until&format=pprof, one profile per request, raw body),
 * file (one <name>-<until_ms>-<id>.pb.gz and a .json of its labels per profile under
 * <url>/<service_name>/, for demos and debugging).
 *
 * Labels sent: the stored series labels (public target labels, __name__, service_name,
 * __delta__ where set), then the global external_labels and then the backend's own
 * (a later source overrides an earlier one, as pyroscope.write's external_labels do). */
#ifndef PG_SINK_BACKEND_H
#define PG_SINK_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "core/curlm.h"
#include "core/labels.h"
#include "sink/buffer.h"

struct event_base;

enum pg_sink_result {
    PG_SINK_OK = 0, /* delivered */
    PG_SINK_RETRY,  /* transient: 408, 429, 5xx, timeout, connection failure */
    PG_SINK_ERROR,  /* final: other 4xx, or a local error that retrying cannot fix */
};

/* One encoded request; every pointer is owned by the payload. */
struct pg_sink_payload {
    char *url;      /* full request URL (file: the target file path) */
    char **headers; /* "Name: value" lines (auth is added at send time, not here);
                       file: headers[0] is the JSON sidecar text, not a header */
    size_t n_headers;
    uint8_t *body;
    size_t len;
    size_t n_items;        /* how many of the given items this payload carries (>= 1) */
    size_t profile_bytes;  /* sum of those items' body sizes */
    int tenant_from_label; /* set by the queue: the tenant given to send came from a
                              __tenant_id__ label and replaces a configured X-Scope-OrgID */
};

/* Frees what p owns and zeroes it. Accepts a zeroed payload. */
void pg_sink_payload_reset(struct pg_sink_payload *p);

/* Send completion, called once from the loop (never from inside send). retry_after_ms is
 * the server's Retry-After (-1 when absent); message is a one-line reason for RETRY and
 * ERROR (the server's own message when it sent one, truncated), NULL for OK. */
typedef void (*pg_sink_done_fn)(void *ud, enum pg_sink_result r, long http_status,
                                int64_t retry_after_ms, const char *message);

struct pg_sink_backend_type {
    const char *name; /* "push", "ingest", "file" */
    /* Returns an instance for cfg (borrowed, must outlive it) with the global external
     * labels (copied), using cm (borrowed) for HTTP and base for deferred completions;
     * or NULL with a reason in err. */
    void *(*create)(const struct pg_cfg_remote *cfg, const struct pg_labels *global_external,
                    struct pg_curlm *cm, struct event_base *base, char *err, size_t errlen);
    /* Encodes a prefix of items[0..n) (n >= 1) into *out: at least one item, more while
     * the request stays within batch_max_bytes and the items share the same tenant (and
     * tenant_from_label).
     * Pure. Returns 0, or -1 with a reason in err when items[0] cannot be encoded at all
     * (then out is zeroed and the caller drops that one item). */
    int (*encode)(void *inst, const struct pg_buf_item *items, size_t n,
                  struct pg_sink_payload *out, char *err, size_t errlen);
    /* Starts sending p (borrowed until done runs or cancel returns), with tenant (may be
     * NULL) as X-Scope-OrgID unless the config sets that header (and the tenant did not
     * come from a label: p->tenant_from_label). Returns a handle for
     * cancel, or NULL when it could not start (done is then not called; treat as RETRY). */
    void *(*send)(void *inst, const struct pg_sink_payload *p, const char *tenant,
                  pg_sink_done_fn done, void *ud);
    /* Aborts a send started with handle; done is not called. */
    void (*cancel)(void *inst, void *handle);
    /* Frees the instance (no send may be running). Accepts NULL. */
    void (*destroy)(void *inst);
};

extern const struct pg_sink_backend_type pg_sink_push;
extern const struct pg_sink_backend_type pg_sink_ingest;
extern const struct pg_sink_backend_type pg_sink_file;

/* Returns the backend type for api (static, borrowed). Cannot fail for a valid enum. */
const struct pg_sink_backend_type *pg_sink_backend_for(enum pg_cfg_api api);

/* Maps an HTTP outcome to a result, as DESIGN.md's wire formats say: 2xx OK; 408, 429,
 * 5xx and transport failures (status 0) RETRY; any other status ERROR. */
enum pg_sink_result pg_sink_classify(long http_status, int transport_failed);

/* Merges series labels with the global and then the backend's external labels into out
 * (initialised, replaced). Returns 0 or -1 (OOM). */
int pg_sink_series_labels(const struct pg_labels *series, const struct pg_labels *global_external,
                          const struct pg_labels *backend_external, struct pg_labels *out);

/* Shared by the backend implementations (sink/backend.c); not for other modules. */

/* What every backend instance holds. */
struct pg_sink_inst {
    const struct pg_cfg_remote *cfg;  /* borrowed */
    struct pg_labels global_external; /* owned copy */
    struct pg_curlm *cm;              /* borrowed, may be NULL for file */
    struct event_base *base;          /* borrowed */
};

/* Returns a new instance (the create of every type) and logs "backend created" under
 * component (e.g. "sink.push"; with the url as dir= when need_cm is 0, i.e. a local
 * directory), or NULL with a reason in err when cfg has no url, or need_cm is set and cm
 * is NULL, or on OOM. */
struct pg_sink_inst *pg_sink_inst_create(const char *component, const struct pg_cfg_remote *cfg,
                                         const struct pg_labels *global_external,
                                         struct pg_curlm *cm, struct event_base *base, int need_cm,
                                         char *err, size_t errlen);

/* The start of every encode: zeroes out, checks that there is an items[0] with a
 * non-empty body and, when labels is not NULL, puts items[0]'s labels to send there
 * (pg_sink_inst_labels). Returns 0 (the caller then resets labels), or -1 with a reason in
 * err (labels is then empty and needs no reset). */
int pg_sink_encode_begin(const struct pg_sink_inst *in, const struct pg_buf_item *items, size_t n,
                         struct pg_sink_payload *out, struct pg_labels *labels, char *err,
                         size_t errlen);

/* The labels to send for item: pg_sink_series_labels of item's labels with in's global and
 * backend external labels, into out (initialised here, replaced; reset on failure).
 * Returns 0 or -1 (OOM). */
int pg_sink_inst_labels(const struct pg_sink_inst *in, const struct pg_buf_item *item,
                        struct pg_labels *out);

/* Completes a one-profile payload: out takes url and header0 (also on failure: both are
 * then freed), gets a copy of item's body, n_headers 1, n_items 1 and profile_bytes.
 * Returns 0, or -1 on OOM (out is then reset). */
int pg_sink_payload_one(struct pg_sink_payload *out, const struct pg_buf_item *item, char *url,
                        char *header0);

/* The length of url without its trailing slashes (keeping a lone "/" when keep_root).
 * Cannot fail. */
size_t pg_sink_url_base_len(const char *url, int keep_root);

/* Frees an instance made by pg_sink_inst_create. Accepts NULL. */
void pg_sink_inst_destroy(void *inst);

/* The send and cancel of the HTTP types: POSTs p with the config's HTTP options, the
 * remote timeout and X-Scope-OrgID for tenant (unless the config headers set it), and
 * completes through pg_sink_classify. Contract as the vtable's send and cancel. */
void *pg_sink_http_send(void *inst, const struct pg_sink_payload *p, const char *tenant,
                        pg_sink_done_fn done, void *ud);
void pg_sink_http_cancel(void *inst, void *handle);

#endif
