/* httpproxy.c - the proxy of one request, with Go's httpproxy rules (see httpproxy.h).
 * The environment is read at every call (getenv), so tests and operators see the value the
 * process has; URL parsing is libcurl's (curl_url). */
#include "core/httpproxy.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Returns the value of the upper case variable, else of the lower case one, or NULL. */
static const char *env2(const char *upper, const char *lower)
{
    const char *v = getenv(upper);
    if (v == NULL || *v == '\0')
        v = getenv(lower);
    return v && *v ? v : NULL;
}

/* Parses an IP literal (v4 or v6) into a[16] (v4 as ::ffff:a.b.c.d). Returns 4, 6 or 0. */
static int parse_ip(const char *s, unsigned char a[16])
{
    struct in_addr v4;
    if (inet_pton(AF_INET, s, &v4) == 1) {
        memset(a, 0, 10);
        a[10] = a[11] = 0xff;
        memcpy(a + 12, &v4, 4);
        return 4;
    }
    return inet_pton(AF_INET6, s, a) == 1 ? 6 : 0;
}

static int is_loopback(const unsigned char a[16], int fam)
{
    static const unsigned char lo6[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    return fam == 4 ? a[12] == 127 : memcmp(a, lo6, 16) == 0;
}

/* Returns 1 when ip is inside the CIDR entry "addr/bits". */
static int cidr_match(const char *entry, const unsigned char ip[16], int ipfam)
{
    char buf[64];
    const char *slash = strchr(entry, '/');
    if (slash == NULL || (size_t)(slash - entry) >= sizeof(buf))
        return 0;
    memcpy(buf, entry, (size_t)(slash - entry));
    buf[slash - entry] = '\0';
    unsigned char net[16];
    int fam = parse_ip(buf, net);
    char *end;
    long bits = strtol(slash + 1, &end, 10);
    if (!fam || *end || bits < 0 || bits > (fam == 4 ? 32 : 128) || fam != ipfam)
        return 0;
    if (fam == 4)
        bits += 96;
    for (long i = 0; i < bits; i++)
        if (((net[i / 8] ^ ip[i / 8]) >> (7 - i % 8)) & 1)
            return 0;
    return 1;
}

/* Splits entry into host and port (":port" suffix; "[v6]:port"; a bare v6 has no port). */
static void split_entry(const char *entry, char *host, size_t hlen, char *port, size_t plen)
{
    const char *colon = strrchr(entry, ':');
    port[0] = '\0';
    if (entry[0] == '[') {
        const char *rb = strchr(entry, ']');
        size_t n = rb ? (size_t)(rb - entry - 1) : strlen(entry + 1);
        snprintf(host, hlen, "%.*s", (int)n, entry + 1);
        if (rb && rb[1] == ':')
            snprintf(port, plen, "%s", rb + 2);
        return;
    }
    if (colon && strchr(entry, ':') == colon) { /* exactly one ':': host:port */
        snprintf(host, hlen, "%.*s", (int)(colon - entry), entry);
        snprintf(port, plen, "%s", colon + 1);
        return;
    }
    snprintf(host, hlen, "%s", entry);
}

/* Returns 1 when the single NO_PROXY entry e (trimmed, lower case) excludes host:port. */
static int entry_excludes(const char *e, const char *host, const char *port,
                          const unsigned char ip[16], int ipfam)
{
    if (strcmp(e, "*") == 0)
        return 1;
    if (strchr(e, '/'))
        return ipfam && cidr_match(e, ip, ipfam);
    char eh[256], ep[16];
    split_entry(e, eh, sizeof(eh), ep, sizeof(ep));
    if (*ep && strcmp(ep, port) != 0)
        return 0;
    unsigned char eip[16];
    int efam = parse_ip(eh, eip);
    if (efam)
        return ipfam && memcmp(eip, ip, 16) == 0;
    const char *d = eh;
    int match_host = 1;
    if (d[0] == '*' && d[1] == '.')
        d++;
    if (d[0] == '.')
        match_host = 0;
    else if (*d == '\0')
        return 0;
    /* suffix ".d" (or d itself when it began without a dot) */
    size_t hl = strlen(host), dl = strlen(d);
    if (match_host && strcmp(host, d) == 0)
        return 1;
    if (d[0] != '.')
        return hl > dl && host[hl - dl - 1] == '.' && strcmp(host + hl - dl, d) == 0;
    return hl >= dl && strcmp(host + hl - dl, d) == 0;
}

int pg_httpproxy_use(const char *no_proxy, const char *host, const char *port)
{
    if (*host == '\0')
        return 1;
    if (strcmp(host, "localhost") == 0)
        return 0;
    unsigned char ip[16];
    int ipfam = parse_ip(host, ip);
    if (ipfam && is_loopback(ip, ipfam))
        return 0;
    if (no_proxy == NULL || *no_proxy == '\0')
        return 1;
    char *list = strdup(no_proxy);
    if (list == NULL)
        return 1;
    int use = 1;
    char *save = NULL;
    for (char *e = strtok_r(list, ",", &save); e && use; e = strtok_r(NULL, ",", &save)) {
        while (isspace((unsigned char)*e))
            e++;
        size_t n = strlen(e);
        while (n > 0 && isspace((unsigned char)e[n - 1]))
            e[--n] = '\0';
        for (char *c = e; *c; c++)
            *c = (char)tolower((unsigned char)*c);
        if (*e && entry_excludes(e, host, port, ip, ipfam))
            use = 0;
    }
    free(list);
    return use;
}

/* The scheme (lower case), host (lower case, no brackets) and port (the scheme's default
 * when absent) of url. Returns 0 or -1. */
static int url_parts(const char *url, char *scheme, size_t slen, char *host, size_t hlen,
                     char *port, size_t plen)
{
    CURLU *u = curl_url();
    char *s = NULL, *h = NULL, *p = NULL;
    int rc = -1;
    if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_SCHEME, &s, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &h, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_PORT, &p, CURLU_DEFAULT_PORT) == CURLUE_OK) {
        const char *hs = h;
        size_t hn = strlen(h);
        if (hn >= 2 && h[0] == '[' && h[hn - 1] == ']') {
            hs = h + 1;
            hn -= 2;
        }
        snprintf(scheme, slen, "%s", s);
        snprintf(host, hlen, "%.*s", (int)hn, hs);
        snprintf(port, plen, "%s", p);
        for (char *c = scheme; *c; c++)
            *c = (char)tolower((unsigned char)*c);
        for (char *c = host; *c; c++)
            *c = (char)tolower((unsigned char)*c);
        rc = 0;
    }
    curl_free(s);
    curl_free(h);
    curl_free(p);
    curl_url_cleanup(u);
    return rc;
}

int pg_httpproxy_for(const struct pg_httpc_proxy *p, const char *url, char *out, size_t outlen)
{
    if (outlen == 0)
        return -1;
    out[0] = '\0';
    if (p == NULL || (!p->from_environment && (p->url == NULL || *p->url == '\0')))
        return 0;
    if (!p->from_environment && (p->no_proxy == NULL || *p->no_proxy == '\0')) {
        int n = snprintf(out, outlen, "%s", p->url); /* proxy_url alone: everything */
        return n >= 0 && (size_t)n < outlen ? 0 : -1;
    }
    char scheme[16], host[256], port[16];
    if (url_parts(url, scheme, sizeof(scheme), host, sizeof(host), port, sizeof(port)) != 0)
        return -1;
    const char *proxy, *no_proxy;
    if (p->from_environment) {
        proxy = strcmp(scheme, "https") == 0  ? env2("HTTPS_PROXY", "https_proxy")
                : strcmp(scheme, "http") == 0 ? env2("HTTP_PROXY", "http_proxy")
                                              : NULL;
        no_proxy = env2("NO_PROXY", "no_proxy");
    } else {
        proxy = p->url;
        no_proxy = p->no_proxy;
    }
    if (proxy == NULL || !pg_httpproxy_use(no_proxy, host, port))
        return 0;
    int n = snprintf(out, outlen, "%s", proxy);
    if (n < 0 || (size_t)n >= outlen) {
        out[0] = '\0';
        return -1;
    }
    return 0;
}
