/* httpc.h - one asynchronous HTTP request on the shared curl multi driver.
 *
 * The client side of every profgate HTTP exchange (scrapes, remote_write, HTTP-based
 * discovery) is a struct pg_httpc_req: configure it with pg_httpc_opts (method, URL,
 * the config's HTTP client options: basic auth, authorization, tls_config, proxy_url,
 * follow_redirects, extra headers), start it, and get exactly one completion callback
 * from the loop with status, headers of interest and the body. The response body is
 * bounded: a body longer than max_body (as sent on the wire; no transparent decoding is
 * done) fails the request with "body exceeds limit of N bytes" without buffering more.
 * Every request carries "User-Agent: profgate/<version>".
 *
 * The options type is the config's struct pg_cfg_http (config/config.h, read only; no
 * function of the config module is called). */
#ifndef PG_CORE_HTTPC_H
#define PG_CORE_HTTPC_H

#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "core/curlm.h"

struct pg_httpc_req;

/* What a finished request produced. Everything is borrowed for the duration of the
 * callback only. */
struct pg_httpc_resp {
    long status;         /* HTTP status of the final response, 0 when none arrived */
    int failed;          /* 1 when the transfer failed (no usable response): error set */
    int timed_out;       /* 1 when the failure was the timeout */
    int too_large;       /* 1 when the failure was max_body */
    const char *error;   /* one-line reason when failed, else NULL, e.g.
                            "Get \"http://x/y\": connection refused" style text */
    const uint8_t *body; /* response body (never NULL; may be empty) */
    size_t len;
    const char *content_type;     /* Content-Type header value or NULL */
    const char *content_encoding; /* Content-Encoding header value or NULL */
    int64_t retry_after_ms;       /* Retry-After (seconds or HTTP date) in ms, -1 when absent */
    double duration_s;            /* wall time from start to completion */
    const char *captured; /* value of the opts' capture_header in the final response, or NULL */
};

/* Called once from the loop when the request finished (success, HTTP error status, or
 * transport failure). The request is freed right after the callback returns: do not
 * cancel it from inside. Never called from inside pg_httpc_start or pg_httpc_cancel. */
typedef void (*pg_httpc_done_fn)(void *ud, const struct pg_httpc_resp *resp);

struct pg_httpc_opts {
    const char *method;             /* "GET" (default when NULL) or "POST" */
    const char *url;                /* required */
    const struct pg_cfg_http *http; /* may be NULL: no auth, TLS defaults, follow redirects */
    const char *const *headers;     /* extra "Name: value" lines (copied), may be NULL */
    size_t n_headers;
    const uint8_t *body; /* POST body, copied at start; may be NULL */
    size_t body_len;
    int64_t timeout_ms;         /* whole-request timeout; 0 = none */
    size_t max_body;            /* response body limit in bytes; 0 = 64 MiB */
    int accept_gzip;            /* send "Accept-Encoding: gzip"; the body is passed on
                                   as received (never decoded here) */
    const char *capture_header; /* name (case-insensitive) of one more response header to
                                   return as resp->captured, e.g. "X-Consul-Index"; or NULL */
};

/* Starts a request on m (borrowed; must outlive the request). All of o is copied.
 * Returns the request (owned by the driver until done runs; keep the pointer only to
 * cancel it), or NULL with a reason in err on a setup failure (bad TLS file names are
 * reported when the transfer runs, through done). */
struct pg_httpc_req *pg_httpc_start(struct pg_curlm *m, const struct pg_httpc_opts *o,
                                    pg_httpc_done_fn done, void *ud, char *err, size_t errlen);

/* Cancels a running request: the transfer is aborted, done is not called, everything is
 * freed. Accepts NULL. */
void pg_httpc_cancel(struct pg_httpc_req *r);

/* Returns "profgate/<version>". */
const char *pg_httpc_user_agent(void);

#endif
