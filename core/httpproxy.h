/* httpproxy.h - which proxy one request goes through, as Prometheus decides it.
 *
 * Prometheus (prometheus/common ProxyConfig.Proxy) uses, in this order:
 *   - proxy_from_environment: Go's httpproxy.FromEnvironment(): HTTPS_PROXY (https URLs) or
 *     HTTP_PROXY (http URLs), upper case first then lower case, excluded by NO_PROXY;
 *   - proxy_url with no_proxy: the same matcher with proxy_url for both schemes;
 *   - proxy_url alone: every request through proxy_url;
 *   - nothing: no proxy at all (libcurl's own reading of http_proxy & co must not apply).
 * The matcher (Go's httpproxy useProxy) never proxies "localhost" or a loopback IP, and
 * reads NO_PROXY / no_proxy as comma-separated entries: "*" (everything), an IP or CIDR,
 * or a domain ("example.com" matches it and its subdomains, ".example.com" and
 * "*.example.com" only subdomains), each with an optional ":port". Matching is on the
 * URL's host, lower case, with the scheme's default port when none is given. */
#ifndef PG_CORE_HTTPPROXY_H
#define PG_CORE_HTTPPROXY_H

#include <stddef.h>

#include "core/httpcfg.h"

/* Writes the proxy URL for url under p into out ("" when the request goes direct).
 * Returns 0, or -1 when out is too small or url has no parsable host (out is "" then). */
int pg_httpproxy_for(const struct pg_httpc_proxy *p, const char *url, char *out, size_t outlen);

/* Returns 1 when a request to host:port should use a proxy under the NO_PROXY-style list
 * no_proxy (NULL or "" = proxy everything but localhost and loopback IPs). host is lower
 * case, without IPv6 brackets; port is decimal. */
int pg_httpproxy_use(const char *no_proxy, const char *host, const char *port);

#endif
