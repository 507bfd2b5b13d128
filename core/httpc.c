/* httpc.c - one asynchronous HTTP request on the shared curl multi driver.
 *
 * pg_httpc_start turns a struct pg_httpc_opts into a configured CURL easy handle (URL,
 * method and body, timeout, User-Agent, extra and config headers, basic auth,
 * authorization, TLS files and verification, proxy, redirects) and adds it to the
 * pg_curlm driver. The easy handle comes from the driver's pool and goes back to it (reset)
 * once the result is taken; curl's receive buffer is sized per request (opts.recv_buffer).
 * The response body is gathered in a buffer allocated at the first byte (Content-Length
 * bytes when announced, up to 1 MiB, else 4 KiB), doubled on demand and never grown past
 * max_body (the write callback aborts the transfer instead); the header callback keeps
 * Content-Type, Content-Encoding and Retry-After of the final response (captures are
 * reset at every status line, so redirects and 1xx responses do not leak through). When
 * curl reports completion the request builds a struct pg_httpc_resp, calls the user's
 * callback once and frees itself. The body buffer always has room for a NUL after it.
 *
 * Streaming mode: the first body byte of the final response (curl passes no body of a
 * followed redirect or a 1xx to the write callback) decides: a 2xx body goes to on_chunk
 * or through a struct pg_linesplit to on_line, any other is gathered as above but bounded
 * by truncation. on_head runs just before that first byte is handed on.
 *
 * This is the one place where HTTP options are applied to a curl handle (pg_httpc_apply,
 * in httpc_cfg.c); clients needing more than a gathered body use the streaming mode, not
 * handles of their own.
 *
 * oauth2: a request whose options carry an oauth2 block keeps a copy of it and asks
 * core/oauth2.h for the token once its handle is configured. With a cached token it is
 * added to the driver at once; otherwise it waits (not yet in the multi handle) in the
 * token's queue and is added, or failed through done with the token error, when the fetch
 * ends. The "Authorization" line is the first of the header list, so it can be swapped:
 * after a 401 answer the request drops the token it used, waits for a fresh one and runs
 * once more on the same handle (not for a stream whose on_head already saw the 401). */
#include "core/httpc.h"

#include "core/clock.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/errmsg.h"
#include "core/httpc_internal.h"
#include "core/linesplit.h"
#include "core/oauth2.h"

#define PG_HTTPC_DEFAULT_MAX_BODY ((size_t)64 << 20)
/* first body allocation without a Content-Length, and the most trusted from one */
#define PG_HTTPC_BODY_FIRST 4096
#define PG_HTTPC_BODY_FIRST_MAX ((size_t)1 << 20)
/* streaming mode: defaults of max_line and of the kept non-2xx body */
#define PG_HTTPC_DEFAULT_MAX_LINE ((size_t)1 << 20)
#define PG_HTTPC_DEFAULT_ERROR_BODY ((size_t)64 << 10)

/* Streaming mode: what happens to the body of the final response. */
enum pg_httpc_body_mode {
    PG_HTTPC_BODY_UNSEEN = 0, /* no body byte of the final response yet */
    PG_HTTPC_BODY_STREAM,     /* 2xx: handed to on_chunk or on_line */
    PG_HTTPC_BODY_GATHER,     /* other status: kept for done, up to max_body */
};

struct pg_httpc_req {
    struct pg_curlm *m;
    CURL *easy;
    struct pg_httpc_lists lists; /* headers and connect_to of easy */
    pg_httpc_done_fn done;
    void *ud;
    char *url;    /* as given, for error messages */
    char *method; /* upper case */
    uint8_t *post;
    uint8_t *buf; /* cap + 1 bytes when allocated: a NUL follows the body */
    size_t len, cap, max_body;
    int too_large, stopped, nomem; /* why on_write aborted the transfer */
    /* streaming mode (stream set) */
    int stream;
    enum pg_httpc_body_mode body_mode;
    pg_httpc_head_fn on_head;
    pg_httpc_data_fn on_line, on_chunk;
    struct pg_linesplit lines;
    char *content_type, *content_encoding, *retry_after;
    char *capture_name, *captured; /* opts.capture_header and its value */
    int64_t start_ns;              /* pg_clock_mono_ns at start */
    /* oauth2 (NULL when not configured): a copy of the block, the token queue place, the
     * Authorization value sent (the head of lists.headers), whether the one retry after a
     * 401 was used, whether on_head ran, whether easy is in the driver */
    struct pg_httpc_oauth2 *oauth2;
    struct pg_oauth2_wait wait;
    char *auth;
    int auth_retried, head_seen, token_timed_out;
    int64_t timeout_ms; /* opts.timeout_ms: what is left of it bounds the transfer */
    char errbuf[CURL_ERROR_SIZE];
};

void pg_httpc_redact_url(const char *url, char *out, size_t outlen)
{
    if (!outlen)
        return;
    const char *sep = strstr(url, "://");
    const char *auth = sep ? sep + 3 : url;
    size_t alen = strcspn(auth, "/?#");
    const char *at = memrchr(auth, '@', alen); /* the last '@' of the authority */
    const char *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
    if (!colon) { /* no userinfo, or a user name only: nothing secret */
        snprintf(out, outlen, "%s", url);
        return;
    }
    snprintf(out, outlen, "%.*s<secret>%s", (int)(colon + 1 - url), url, at);
}

const char *pg_httpc_status_text(long code)
{
    switch (code) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 203: return "Non-Authoritative Information";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 300: return "Multiple Choices";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 407: return "Proxy Authentication Required";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 413: return "Request Entity Too Large";
    case 414: return "Request URI Too Long";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Entity";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return NULL;
    }
}

void pg_httpc_status_error(long status, char *out, size_t outlen)
{
    const char *txt = pg_httpc_status_text(status);
    snprintf(out, outlen, "server returned HTTP status %ld%s%s", status, txt ? " " : "",
             txt ? txt : "");
}

const char *pg_httpc_user_agent(void)
{
    return "profgate/" PG_VERSION;
}

static void req_free(struct pg_httpc_req *r)
{
    if (r == NULL)
        return;
    pg_oauth2_cancel(&r->wait);
    pg_curlm_easy_put(r->m, r->easy); /* accepts NULL */
    pg_httpc_lists_free(&r->lists);
    pg_httpc_oauth2_free(r->oauth2);
    if (r->auth)
        memset(r->auth, 0, strlen(r->auth));
    free(r->auth);
    free(r->url);
    free(r->method);
    free(r->post);
    free(r->buf);
    free(r->content_type);
    free(r->content_encoding);
    free(r->retry_after);
    free(r->capture_name);
    free(r->captured);
    pg_linesplit_reset(&r->lines);
    free(r);
}

/* Retry-After as delay-seconds or an HTTP date, in ms from now; -1 when absent/invalid. */
static int64_t retry_after_ms(const char *v)
{
    if (v == NULL || *v == '\0')
        return -1;
    if (isdigit((unsigned char)*v)) {
        char *end;
        errno = 0;
        long long s = strtoll(v, &end, 10);
        if (errno == 0 && *end == '\0' && s >= 0 && s < INT64_MAX / 1000)
            return (int64_t)s * 1000;
        return -1;
    }
    time_t t = curl_getdate(v, NULL);
    if (t == (time_t)-1)
        return -1;
    int64_t ms = (int64_t)t * 1000 - pg_clock_unix_ms();
    return ms > 0 ? ms : 0;
}

/* Copies what the final response's headers said into resp (borrowed from r). */
static void resp_headers(const struct pg_httpc_req *r, struct pg_httpc_resp *resp)
{
    resp->content_type = r->content_type;
    resp->content_encoding = r->content_encoding;
    resp->retry_after_ms = retry_after_ms(r->retry_after);
    resp->captured = r->captured;
}

/* Appends n bytes to the body buffer, which never grows past max_body (the caller checked
 * that n fits). Returns 0, or -1 on OOM (r->nomem set). */
static int body_append(struct pg_httpc_req *r, const char *data, size_t n)
{
    if (r->len + n > r->cap) {
        size_t cap = r->cap;
        if (cap == 0) { /* first bytes: the announced size, if any (bounded) */
            curl_off_t cl = -1;
            curl_easy_getinfo(r->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
            cap = PG_HTTPC_BODY_FIRST;
            if (cl > 0 && (uint64_t)cl <= PG_HTTPC_BODY_FIRST_MAX && (uint64_t)cl <= r->max_body)
                cap = (size_t)cl;
            if (cap > r->max_body)
                cap = r->max_body;
        }
        while (cap < r->len + n)
            cap = cap > r->max_body / 2 ? r->max_body : cap * 2;
        uint8_t *b = realloc(r->buf, cap + 1);
        if (b == NULL) {
            r->nomem = 1;
            return -1;
        }
        r->buf = b;
        r->cap = cap;
    }
    memcpy(r->buf + r->len, data, n);
    r->len += n;
    r->buf[r->len] = '\0';
    return 0;
}

/* Streaming mode, first body byte of the final response: picks what happens to the body
 * and tells on_head. Returns 0, or -1 when on_head stopped the transfer. */
static int stream_begin(struct pg_httpc_req *r)
{
    long status = 0;
    curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
    r->body_mode = status >= 200 && status < 300 ? PG_HTTPC_BODY_STREAM : PG_HTTPC_BODY_GATHER;
    if (r->on_head == NULL)
        return 0;
    r->head_seen = 1;
    struct pg_httpc_resp head = {.status = status, .body = (const uint8_t *)""};
    resp_headers(r, &head);
    head.duration_s = pg_clock_mono_since_s(r->start_ns);
    return r->on_head(r->ud, &head) < 0 ? -1 : 0;
}

/* Streaming mode write function: returns n, or 0 to abort (reason in r). */
static size_t stream_write(struct pg_httpc_req *r, const char *data, size_t n)
{
    if (r->body_mode == PG_HTTPC_BODY_UNSEEN && stream_begin(r) < 0) {
        r->stopped = 1;
        return 0;
    }
    if (r->body_mode == PG_HTTPC_BODY_GATHER) { /* an error answer: keep its start */
        size_t keep = n < r->max_body - r->len ? n : r->max_body - r->len;
        return keep == 0 || body_append(r, data, keep) == 0 ? n : 0;
    }
    if (r->on_chunk) {
        if (r->on_chunk(r->ud, data, n) >= 0)
            return n;
        r->stopped = 1;
        return 0;
    }
    switch (pg_linesplit_feed(&r->lines, data, n, r->on_line, r->ud)) {
    case 0: return n;
    case PG_LINESPLIT_STOPPED: r->stopped = 1; return 0;
    case PG_LINESPLIT_TOO_LONG: r->too_large = 1; return 0;
    default: r->nomem = 1; return 0;
    }
}

static size_t on_write(char *data, size_t size, size_t nmemb, void *userp)
{
    struct pg_httpc_req *r = userp;
    size_t n = size * nmemb;
    if (r->stream)
        return stream_write(r, data, n);
    if (n > r->max_body - r->len) {
        r->too_large = 1;
        return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
    }
    return body_append(r, data, n) == 0 ? n : 0;
}

/* Stores a copy of the trimmed value [v, v+n) in *slot. */
static void capture(char **slot, const char *v, size_t n)
{
    while (n > 0 && (*v == ' ' || *v == '\t')) {
        v++;
        n--;
    }
    while (n > 0 && (v[n - 1] == '\r' || v[n - 1] == '\n' || v[n - 1] == ' ' || v[n - 1] == '\t'))
        n--;
    char *s = strndup(v, n);
    if (s == NULL)
        return;
    free(*slot);
    *slot = s;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *userp)
{
    struct pg_httpc_req *r = userp;
    size_t n = size * nmemb;
    if (n >= 5 && strncmp(data, "HTTP/", 5) == 0) {
        /* a new response (redirect, 1xx, proxy CONNECT): forget the previous one */
        free(r->content_type);
        free(r->content_encoding);
        free(r->retry_after);
        free(r->captured);
        r->content_type = r->content_encoding = r->retry_after = r->captured = NULL;
        r->len = 0;
        r->body_mode = PG_HTTPC_BODY_UNSEEN;
        pg_linesplit_reset(&r->lines);
        return n;
    }
    static const struct {
        const char *name;
        size_t off;
    } want[] = {
        {"content-type", offsetof(struct pg_httpc_req, content_type)},
        {"content-encoding", offsetof(struct pg_httpc_req, content_encoding)},
        {"retry-after", offsetof(struct pg_httpc_req, retry_after)},
    };
    const char *colon = memchr(data, ':', n);
    if (colon == NULL)
        return n;
    size_t nlen = (size_t)(colon - data);
    if (r->capture_name && nlen == strlen(r->capture_name) &&
        strncasecmp(data, r->capture_name, nlen) == 0) {
        capture(&r->captured, colon + 1, n - nlen - 1);
        return n;
    }
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        if (nlen == strlen(want[i].name) && strncasecmp(data, want[i].name, nlen) == 0) {
            capture((char **)((char *)r + want[i].off), colon + 1, n - nlen - 1);
            break;
        }
    }
    return n;
}

/* Writes Go's style 'Get "http://host/path": why' into err, the URL's password redacted and
 * trailing white space (curl's messages may end in a newline) removed. */
static void verb_error(const struct pg_httpc_req *r, const char *why, char *err, size_t errlen)
{
    char verb[16];
    size_t i = 0;
    for (; r->method[i] && i < sizeof(verb) - 1; i++)
        verb[i] = i == 0 ? r->method[i] : (char)tolower((unsigned char)r->method[i]);
    verb[i] = '\0';
    char shown[512];
    pg_httpc_redact_url(r->url, shown, sizeof(shown));
    pg_errmsg_set(err, errlen, "%s \"%s\": %s", verb, shown, why);
    size_t n = strlen(err);
    while (n > 0 && isspace((unsigned char)err[n - 1]))
        err[--n] = '\0';
}

/* Writes why the transfer failed into err: one of on_write's reasons, else Go's style
 * 'Get "http://host/path": reason' with the URL's password redacted. Sets the failure kind
 * in resp. */
static void fail_text(const struct pg_httpc_req *r, CURLcode result, struct pg_httpc_resp *resp,
                      char *err, size_t errlen)
{
    if (r->too_large) {
        resp->too_large = 1;
        if (r->stream)
            pg_errmsg_set(err, errlen, "line exceeds limit of %zu bytes", r->lines.max);
        else
            pg_errmsg_set(err, errlen, "body exceeds limit of %zu bytes", r->max_body);
        return;
    }
    if (r->stopped) {
        resp->stopped = 1;
        pg_errmsg_set(err, errlen, "stream stopped by the caller");
        return;
    }
    const char *why = r->nomem       ? "out of memory"
                      : r->errbuf[0] ? r->errbuf
                                     : curl_easy_strerror(result);
    verb_error(r, why, err, errlen);
    resp->timed_out = !r->nomem && result == CURLE_OPERATION_TIMEDOUT;
}

/* Fails r through done with why (from the loop only), then frees it. */
static void fail_now(struct pg_httpc_req *r, const char *why)
{
    struct pg_httpc_resp resp = {.failed = 1, .body = (const uint8_t *)"", .retry_after_ms = -1};
    resp.timed_out = r->token_timed_out;
    char err[CURL_ERROR_SIZE + 1024];
    verb_error(r, why, err, sizeof(err));
    resp.error = err;
    resp.duration_s = pg_clock_mono_since_s(r->start_ns);
    pg_curlm_easy_put(r->m, r->easy);
    r->easy = NULL;
    r->done(r->ud, &resp);
    req_free(r);
}

/* Puts "Authorization: <auth>" at the head of r's header list, in place of the previous
 * token's line, and hands the list to curl again. Returns 0, or -1 on OOM. */
static int set_auth(struct pg_httpc_req *r, const char *auth)
{
    char *line = NULL, *copy = strdup(auth);
    struct curl_slist *n = NULL;
    if (copy && asprintf(&line, "Authorization: %s", auth) >= 0) {
        n = curl_slist_append(NULL, line);
        memset(line, 0, strlen(line));
        free(line);
    }
    if (n == NULL) {
        free(copy);
        return -1;
    }
    if (r->auth) {
        struct curl_slist *old = r->lists.headers;
        r->lists.headers = old->next;
        old->next = NULL;
        curl_slist_free_all(old);
        memset(r->auth, 0, strlen(r->auth));
        free(r->auth);
    }
    r->auth = copy;
    n->next = r->lists.headers;
    r->lists.headers = n;
    return curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, r->lists.headers) == CURLE_OK ? 0 : -1;
}

static void on_done(void *ud, CURL *easy, CURLcode result);

/* Starts r's transfer with the Authorization value auth, bounded by what the wait for the
 * token left of its timeout. Returns 0, or -1 with err set. */
static int run_with(struct pg_httpc_req *r, const char *auth, char *err, size_t errlen)
{
    if (r->timeout_ms > 0) {
        int64_t left = r->timeout_ms - (pg_clock_mono_ns() - r->start_ns) / 1000000;
        if (left <= 0) {
            r->token_timed_out = 1;
            pg_errmsg_set(err, errlen, "timeout of %lld ms reached waiting for the oauth2 token",
                          (long long)r->timeout_ms);
            return -1;
        }
        curl_easy_setopt(r->easy, CURLOPT_TIMEOUT_MS, (long)left);
    }
    if (set_auth(r, auth) != 0) {
        pg_errmsg_set(err, errlen, "out of memory");
        return -1;
    }
    if (pg_curlm_add(r->m, r->easy, on_done, r) != 0) {
        pg_errmsg_set(err, errlen, "cannot add transfer");
        return -1;
    }
    return 0;
}

/* pg_oauth2_fn: the token r waited for, or why there is none. */
static void on_token(void *ud, const char *auth, const char *error)
{
    struct pg_httpc_req *r = ud;
    char err[256];
    if (error)
        fail_now(r, error);
    else if (run_with(r, auth, err, sizeof(err)) != 0)
        fail_now(r, err);
}

/* Gets r's token: runs r at once with a cached one, or queues r for the fetch. Returns 0,
 * or -1 with the token error in err. */
static int with_token(struct pg_httpc_req *r, char *err, size_t errlen)
{
    char auth[PG_OAUTH2_MAX_AUTH];
    int rc =
        pg_oauth2_token(r->m, r->oauth2, &r->wait, on_token, r, auth, sizeof(auth), err, errlen);
    if (rc == 1)
        rc = run_with(r, auth, err, errlen);
    memset(auth, 0, sizeof(auth));
    return rc < 0 ? -1 : 0;
}

/* After a 401 with an oauth2 token: drops that token (so that later requests fetch a new
 * one) and runs r once more with a fresh one, the answer forgotten, unless r already
 * retried or a stream's on_head saw the 401. Returns 1 when r goes on, 0 when the 401
 * stands. */
static int retry_401(struct pg_httpc_req *r, CURLcode result, long status)
{
    if (!r->oauth2 || result != CURLE_OK || status != 401 || r->too_large || r->stopped || r->nomem)
        return 0;
    pg_oauth2_invalidate(r->m, r->oauth2, r->auth);
    if (r->auth_retried || r->head_seen)
        return 0;
    r->auth_retried = 1;
    r->len = 0;
    r->body_mode = PG_HTTPC_BODY_UNSEEN;
    pg_linesplit_reset(&r->lines);
    r->errbuf[0] = '\0';
    char err[1024];
    if (with_token(r, err, sizeof(err)) != 0)
        fail_now(r, err);
    return 1;
}

static void on_done(void *ud, CURL *easy, CURLcode result)
{
    struct pg_httpc_req *r = ud;
    struct pg_httpc_resp resp = {0};
    char err[CURL_ERROR_SIZE + 1024];
    long status = 0;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    if (retry_401(r, result, status))
        return;
    resp.status = status;
    resp.duration_s = pg_clock_mono_since_s(r->start_ns);
    resp.retry_after_ms = -1;
    if (result == CURLE_OK && r->on_line && r->body_mode == PG_HTTPC_BODY_STREAM &&
        pg_linesplit_finish(&r->lines, r->on_line, r->ud) != 0)
        r->stopped = 1; /* the unterminated last line was refused */
    if (result != CURLE_OK || r->too_large || r->stopped || r->nomem) {
        resp.failed = 1;
        fail_text(r, result, &resp, err, sizeof(err));
        resp.error = err;
        resp.body = (const uint8_t *)"";
        resp.len = 0;
    } else {
        resp.body = r->len ? r->buf : (const uint8_t *)"";
        resp.len = r->len;
    }
    /* on failure after a response started (e.g. too large) the headers still inform */
    if (!resp.failed || status > 0)
        resp_headers(r, &resp);
    /* nothing of the handle is needed any more: back to the pool before the callback,
     * which may start requests that reuse it */
    pg_curlm_easy_put(r->m, easy);
    r->easy = NULL;
    r->done(r->ud, &resp);
    req_free(r);
}

/* Sets a curl option or fails the calling function (returning -1 with err set). */
#define SET(opt, val)                                                                              \
    do {                                                                                           \
        if (curl_easy_setopt(e, opt, val) != CURLE_OK) {                                           \
            pg_errmsg_set(err, errlen, "setting %s failed", #opt);                                 \
            return -1;                                                                             \
        }                                                                                          \
    } while (0)

/* The method, and the body of a POST or custom method. */
static int configure_method(struct pg_httpc_req *r, const struct pg_httpc_opts *o, char *err,
                            size_t errlen)
{
    CURL *e = r->easy;
    if (strcmp(r->method, "GET") == 0) {
        SET(CURLOPT_HTTPGET, 1L);
    } else if (strcmp(r->method, "POST") == 0) {
        SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)o->body_len);
        SET(CURLOPT_POSTFIELDS, r->post ? (const char *)r->post : "");
        /* a followed 301/302/303 must resend the POST, not turn it into a GET that a
         * landing page could answer 200 (a push would then count as delivered) */
        SET(CURLOPT_POSTREDIR, (long)CURL_REDIR_POST_ALL);
        /* no 100-continue round trip: send the body right away */
        if (pg_httpc_add_header(&r->lists, "Expect:") != 0) {
            pg_errmsg_set(err, errlen, "out of memory");
            return -1;
        }
    } else if (strcmp(r->method, "HEAD") == 0) {
        SET(CURLOPT_NOBODY, 1L);
    } else {
        SET(CURLOPT_CUSTOMREQUEST, r->method);
        if (r->post) {
            SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)o->body_len);
            SET(CURLOPT_POSTFIELDS, (const char *)r->post);
        }
    }
    return 0;
}

/* The opts' PEM blobs (copied by curl), after pg_httpc_apply: they win over its files. */
static int configure_pem(CURL *e, const struct pg_httpc_opts *o, char *err, size_t errlen)
{
    if (o->ca_pem.data) {
        struct curl_blob b = {(void *)o->ca_pem.data, o->ca_pem.len, CURL_BLOB_COPY};
        SET(CURLOPT_CAINFO_BLOB, &b);
    }
    if (o->cert_pem.data) {
        struct curl_blob b = {(void *)o->cert_pem.data, o->cert_pem.len, CURL_BLOB_COPY};
        SET(CURLOPT_SSLCERT_BLOB, &b);
        SET(CURLOPT_SSLCERTTYPE, "PEM");
    }
    if (o->key_pem.data) {
        struct curl_blob b = {(void *)o->key_pem.data, o->key_pem.len, CURL_BLOB_COPY};
        SET(CURLOPT_SSLKEY_BLOB, &b);
        SET(CURLOPT_SSLKEYTYPE, "PEM");
    }
    return 0;
}

static int configure(struct pg_httpc_req *r, const struct pg_httpc_opts *o, char *err,
                     size_t errlen)
{
    CURL *e = r->easy;
    struct pg_httpc_lists *l = &r->lists;

    SET(CURLOPT_ERRORBUFFER, r->errbuf);
    SET(CURLOPT_WRITEFUNCTION, on_write);
    SET(CURLOPT_WRITEDATA, r);
    SET(CURLOPT_HEADERFUNCTION, on_header);
    SET(CURLOPT_HEADERDATA, r);
    size_t rb = o->recv_buffer ? o->recv_buffer : PG_HTTPC_RECV_BUFFER_DEFAULT;
    rb = rb < PG_HTTPC_RECV_BUFFER_MIN   ? PG_HTTPC_RECV_BUFFER_MIN
         : rb > PG_HTTPC_RECV_BUFFER_MAX ? PG_HTTPC_RECV_BUFFER_MAX
                                         : rb;
    SET(CURLOPT_BUFFERSIZE, (long)rb);
    if (o->timeout_ms > 0)
        SET(CURLOPT_TIMEOUT_MS, (long)o->timeout_ms);
    if (o->connect_timeout_ms > 0)
        SET(CURLOPT_CONNECTTIMEOUT_MS, (long)o->connect_timeout_ms);
    if (o->tcp_keepalive)
        SET(CURLOPT_TCP_KEEPALIVE, 1L);
    if (configure_method(r, o, err, errlen) != 0)
        return -1;
    if (o->accept_gzip && pg_httpc_add_header(l, "Accept-Encoding: gzip") != 0)
        goto oom;
    if (o->fresh_connection) {
        SET(CURLOPT_FORBID_REUSE, 1L);
        SET(CURLOPT_DNS_CACHE_TIMEOUT, 0L);
    }
    if (pg_httpc_apply(e, r->url, o, l, err, errlen) != 0 || configure_pem(e, o, err, errlen) != 0)
        return -1;
    for (size_t i = 0; i < o->n_headers; i++) {
        if (o->headers[i] && pg_httpc_add_header(l, "%s", o->headers[i]) != 0)
            goto oom;
    }
    if (l->headers)
        SET(CURLOPT_HTTPHEADER, l->headers);
    return 0;
oom:
    pg_errmsg_set(err, errlen, "out of memory");
    return -1;
}

#undef SET

/* Streaming mode from the opts: checks the callbacks, bounds lines and the error body. */
static int stream_setup(struct pg_httpc_req *r, const struct pg_httpc_opts *o, char *err,
                        size_t errlen)
{
    if (o->on_line && o->on_chunk) {
        pg_errmsg_set(err, errlen, "on_line and on_chunk are exclusive");
        return -1;
    }
    r->stream = o->on_line || o->on_chunk;
    if (o->on_head && !r->stream) {
        pg_errmsg_set(err, errlen, "on_head needs on_line or on_chunk");
        return -1;
    }
    r->on_head = o->on_head;
    r->on_line = o->on_line;
    r->on_chunk = o->on_chunk;
    pg_linesplit_init(&r->lines, o->max_line ? o->max_line : PG_HTTPC_DEFAULT_MAX_LINE);
    if (r->stream && !o->max_body)
        r->max_body = PG_HTTPC_DEFAULT_ERROR_BODY;
    return 0;
}

struct pg_httpc_req *pg_httpc_start(struct pg_curlm *m, const struct pg_httpc_opts *o,
                                    pg_httpc_done_fn done, void *ud, char *err, size_t errlen)
{
    char dummy[8];
    if (err == NULL || errlen == 0) {
        err = dummy;
        errlen = sizeof(dummy);
    }
    err[0] = '\0';
    if (m == NULL || o == NULL || done == NULL || o->url == NULL || *o->url == '\0') {
        pg_errmsg_set(err, errlen, "no URL");
        return NULL;
    }
    struct pg_httpc_req *r = calloc(1, sizeof(*r));
    if (r == NULL) {
        pg_errmsg_set(err, errlen, "out of memory");
        return NULL;
    }
    r->m = m;
    r->done = done;
    r->ud = ud;
    r->max_body = o->max_body ? o->max_body : PG_HTTPC_DEFAULT_MAX_BODY;
    r->timeout_ms = o->timeout_ms;
    if (stream_setup(r, o, err, errlen) != 0)
        goto fail;
    r->url = strdup(o->url);
    r->method = strdup(o->method && *o->method ? o->method : "GET");
    r->easy = pg_curlm_easy_get(m);
    if (r->url == NULL || r->method == NULL || r->easy == NULL)
        goto oom;
    if (o->capture_header && *o->capture_header &&
        (r->capture_name = strdup(o->capture_header)) == NULL)
        goto oom;
    for (char *p = r->method; *p; p++)
        *p = (char)toupper((unsigned char)*p);
    if (o->body && o->body_len > 0) {
        r->post = malloc(o->body_len);
        if (r->post == NULL)
            goto oom;
        memcpy(r->post, o->body, o->body_len);
    }
    if (configure(r, o, err, errlen) != 0)
        goto fail;
    r->start_ns = pg_clock_mono_ns();
    if (o->http && o->http->oauth2) {
        if ((r->oauth2 = pg_httpc_oauth2_dup(o->http->oauth2)) == NULL)
            goto oom;
        char why[1024];
        if (with_token(r, why, sizeof(why)) == 0)
            return r;
        verb_error(r, why, err, errlen);
        goto fail;
    }
    if (pg_curlm_add(m, r->easy, on_done, r) != 0) {
        pg_errmsg_set(err, errlen, "cannot add transfer");
        goto fail;
    }
    return r;
oom:
    pg_errmsg_set(err, errlen, "out of memory");
fail:
    req_free(r);
    return NULL;
}

void pg_httpc_cancel(struct pg_httpc_req *r)
{
    if (r == NULL)
        return;
    pg_curlm_remove(r->m, r->easy);
    req_free(r);
}
