/* httpc_internal.h - what core/httpc.c and core/httpc_cfg.c share: the curl lists a
 * configured handle points into, and the function that applies a struct pg_httpc_cfg to a
 * handle. Not for other modules: they use core/httpc.h. */
#ifndef PG_CORE_HTTPC_INTERNAL_H
#define PG_CORE_HTTPC_INTERNAL_H

#include <curl/curl.h>

#include "core/httpc.h"

/* The curl lists a configured easy handle points into; they must outlive the transfer. */
struct pg_httpc_lists {
    struct curl_slist *headers;       /* request header lines (CURLOPT_HTTPHEADER, set last) */
    struct curl_slist *connect_to;    /* CURLOPT_CONNECT_TO of tls server_name */
    struct curl_slist *proxy_headers; /* CURLOPT_PROXYHEADER: proxy_connect_header */
};

/* Frees every list and zeroes l. Accepts NULL. */
void pg_httpc_lists_free(struct pg_httpc_lists *l);

/* Appends the header line formatted from fmt to l->headers. Returns 0, or -1 on OOM (the
 * list is unchanged). */
int pg_httpc_add_header(struct pg_httpc_lists *l, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Sets url (borrowed; copied by curl) on e together with what every profgate request has
 * (http and https only, also on redirects; no signals; the User-Agent) and applies the
 * options of o->http (may be NULL: follow redirects, HTTP/2 over TLS, no proxy, TLS
 * defaults) as Prometheus does: follow_redirects (at most 10), enable_http2, the proxy
 * (core/httpproxy.h; never libcurl's own environment handling), basic auth (username_file
 * and password_file read now), "Authorization: <type> <credentials>" (credentials_file
 * read now), tls_config (inline PEM or files; cert_file and key_file read now and handed
 * over as blobs, so a rotated pair is used by the next connection; o's PEM blobs win over
 * both; min_version / max_version; server_name as in httpc.c), the extra headers and
 * http_headers (files read now), appended to l->headers. Does not set CURLOPT_HTTPHEADER,
 * the method, callbacks, timeouts or the oauth2 token. Returns 0, or -1 with a reason in
 * err (a file unreadable, a curl option refused, an invalid URL or server_name, OOM); the
 * lists may then hold some entries. */
int pg_httpc_apply(CURL *e, const char *url, const struct pg_httpc_opts *o,
                   struct pg_httpc_lists *l, char *err, size_t errlen);

#endif
