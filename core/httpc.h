/* httpc.h - one asynchronous HTTP request on the shared curl multi driver.
 *
 * The client side of every profgate HTTP exchange (scrapes, remote_write, HTTP-based
 * discovery, the Kubernetes API) is a struct pg_httpc_req: configure it with pg_httpc_opts
 * (method, URL, the config's HTTP client options: basic auth, authorization, oauth2,
 * tls_config, proxies, follow_redirects, enable_http2, http_headers and extra headers;
 * see httpc_internal.h for how each applies), start it, and get exactly one completion
 * callback from the loop with status, headers of interest and the body. With oauth2 the
 * request may first wait for a token (core/oauth2.h; its timeout_ms covers the wait) and
 * is sent once more after a 401 with a fresh token. The response body
 * is bounded: a body longer than max_body (as sent on the wire; no transparent decoding is
 * done) fails the request with "body exceeds limit of N bytes" without buffering more.
 * Every request carries "User-Agent: profgate/<version>".
 *
 * Streaming mode (opts.on_line or opts.on_chunk set), for long-lived requests such as
 * Kubernetes watches: the body of a 2xx final response is not gathered but handed over as
 * it arrives, either chunk by chunk as curl receives it (on_chunk) or line by line
 * (on_line: core/linesplit.h, each line without its '\n', empty lines skipped, an
 * unterminated last line delivered when the transfer ends without error). One line is
 * bounded by max_line: a longer line fails the request (too_large) without buffering it.
 * There is no overall body limit: bound the request with timeout_ms or cancel it. on_head,
 * when set, gets the final response's status and headers before its first chunk or line.
 * The body of a non-2xx final response is not streamed: it is gathered for done, truncated
 * (not failed) at max_body (0 = 64 KiB), so an error answer (a watch's 410 Gone, a 403) is
 * reported with its text. Any of these callbacks returning a negative value stops the
 * transfer; done then reports it failed with resp->stopped set. They run on the loop
 * inside curl's callbacks, so they must not start or cancel requests (done may).
 *
 * Memory per request in flight: libcurl's receive buffer is sized per request
 * (recv_buffer; small for requests that wait long, such as CPU profiles held for
 * seconds=), the easy handle comes from the driver's pool (pg_curlm_easy_get) and the
 * body buffer is allocated when the first byte arrives (at Content-Length when known) and
 * doubled on demand; a streamed body holds at most the line in progress (max_line).
 *
 * The options type is struct pg_httpc_cfg (core/httpcfg.h, read only): the config loader
 * fills it, the client only reads it. */
#ifndef PG_CORE_HTTPC_H
#define PG_CORE_HTTPC_H

#include <stddef.h>
#include <stdint.h>

#include "core/curlm.h"
#include "core/httpcfg.h"

struct pg_httpc_req;

/* What a finished request produced. Everything is borrowed for the duration of the
 * callback only. */
struct pg_httpc_resp {
    long status;         /* HTTP status of the final response, 0 when none arrived */
    int failed;          /* 1 when the transfer failed (no usable response): error set */
    int timed_out;       /* 1 when the failure was the timeout */
    int too_large;       /* 1 when the failure was max_body (streaming: max_line) */
    int stopped;         /* streaming: 1 when the failure was a callback stopping it */
    const char *error;   /* one-line reason when failed, else NULL, e.g.
                            "Get \"http://x/y\": connection refused" style text */
    const uint8_t *body; /* response body (never NULL; may be empty; a NUL byte follows it,
                            not counted in len); streaming: the body of a non-2xx answer */
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

/* Streaming mode: called with the next chunk of the body, or with the next complete line
 * (not NUL-terminated), borrowed for the call. Returns 0 to go on, a negative value to
 * stop the transfer. Same type as pg_linesplit_fn. */
typedef int (*pg_httpc_data_fn)(void *ud, const char *data, size_t len);

/* Streaming mode: called at most once, when the body of the final response begins (not for
 * an empty body), with its status and headers (head->body empty, head->duration_s the time
 * to the first byte). Returns 0 to go on, a negative value to stop the transfer. */
typedef int (*pg_httpc_head_fn)(void *ud, const struct pg_httpc_resp *head);

/* TLS material in memory (PEM), copied at start; data NULL = none. */
struct pg_httpc_pem {
    const void *data;
    size_t len;
};

/* Bounds and default of pg_httpc_opts.recv_buffer (libcurl's CURLOPT_BUFFERSIZE limits). */
#define PG_HTTPC_RECV_BUFFER_MIN 1024
#define PG_HTTPC_RECV_BUFFER_DEFAULT 16384
#define PG_HTTPC_RECV_BUFFER_MAX (512 * 1024)

struct pg_httpc_opts {
    const char *method;              /* "GET" (default when NULL) or "POST" */
    const char *url;                 /* required */
    const struct pg_httpc_cfg *http; /* may be NULL: no auth, TLS defaults, follow redirects */
    const char *const *headers;      /* extra "Name: value" lines (copied), may be NULL */
    size_t n_headers;
    const uint8_t *body; /* POST body, copied at start; may be NULL */
    size_t body_len;
    int64_t timeout_ms;         /* whole-request timeout; 0 = none */
    size_t max_body;            /* response body limit in bytes; 0 = 64 MiB */
    int accept_gzip;            /* send "Accept-Encoding: gzip"; the body is passed on
                                   as received (never decoded here) */
    int fresh_connection;       /* resolve the host anew (no DNS cache entry) and close the
                                   connection after this request instead of keeping it
                                   in curl's cache (scrapes: see scraper/loop.c) */
    const char *capture_header; /* name (case-insensitive) of one more response header to
                                   return as resp->captured, e.g. "X-Consul-Index"; or NULL */
    size_t recv_buffer;         /* libcurl's receive buffer in bytes, held for the whole
                                   transfer: clamped to PG_HTTPC_RECV_BUFFER_MIN..MAX; 0 =
                                   PG_HTTPC_RECV_BUFFER_DEFAULT. The minimum suits requests
                                   that wait long for their answer (a 220 KB body then costs
                                   ~0.1 ms more CPU in recv calls than with the default) */
    int64_t connect_timeout_ms; /* bound of connection setup; 0 = libcurl's (300 s) */
    const char *replace_header; /* name (case-insensitive) of a header of http->headers
                                   that is left out because one of headers replaces it */
    int tcp_keepalive;          /* TCP keep-alive probes, for connections quiet for long */
    /* PEM taking the place of http's tls_config files (e.g. a kubeconfig's *-data fields):
     * CA certificates, client certificate, client key */
    struct pg_httpc_pem ca_pem, cert_pem, key_pem;
    /* streaming mode (see above): on_line or on_chunk, not both; on_head only with them */
    pg_httpc_head_fn on_head;
    pg_httpc_data_fn on_line;
    pg_httpc_data_fn on_chunk;
    size_t max_line; /* on_line: bound of one line in bytes; 0 = 1 MiB */
};

/* Starts a request on m (borrowed; must outlive the request). All of o is copied (o->http
 * is read during the call only). done and the streaming callbacks get ud. Returns the
 * request (owned by the driver until done runs; keep the pointer only to cancel it), or
 * NULL with a reason in err on a setup failure (e.g. "unable to read headers file: unable
 * to read file <path>: <why>" for a *_file, http_headers file or TLS cert/key file that
 * cannot be read; 'Get "<url>": oauth2: ...' when a token fetch cannot start); a bad
 * ca_file is reported when the transfer runs, through done. */
struct pg_httpc_req *pg_httpc_start(struct pg_curlm *m, const struct pg_httpc_opts *o,
                                    pg_httpc_done_fn done, void *ud, char *err, size_t errlen);

/* Cancels a running request (a long-lived stream too): the transfer is aborted, done is
 * not called, everything is freed. Not from inside the request's own callbacks. Accepts
 * NULL. */
void pg_httpc_cancel(struct pg_httpc_req *r);

/* Writes url into out with a userinfo password replaced, as Prometheus shows secrets:
 * "http://user:pass@host/p" -> "http://user:<secret>@host/p". Error texts made here use
 * it, so URLs with credentials never reach logs or the API. Truncates to outlen. */
void pg_httpc_redact_url(const char *url, char *out, size_t outlen);

/* Returns Go's http.StatusText for common codes ("Not Found"), or NULL. */
const char *pg_httpc_status_text(long status);

/* Writes Prometheus's wording for a non-2xx answer into out:
 * "server returned HTTP status 404 Not Found" (no phrase for unknown codes). */
void pg_httpc_status_error(long status, char *out, size_t outlen);

/* Returns "profgate/<version>". */
const char *pg_httpc_user_agent(void);

#endif
