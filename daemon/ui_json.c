/* ui_json.c - JSON reply helpers for the web UI's endpoints (see ui_json.h). */
#include "daemon/ui_json.h"

#include <ctype.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>

#include "core/labels.h"
#include "core/utf8.h"
#include "daemon/web_gzip.h"

void pg_ui_reply_owned(struct evhttp_request *req, const char *ctype, char *text, size_t len)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Content-Type", ctype);
    evhttp_add_header(h, "Cache-Control", "no-store");
    pg_web_send_owned(req, 200, "OK", text, len);
}

static void send_json(struct evhttp_request *req, int code, const char *reason, json_t *root)
{
    char *s = root ? json_dumps(root, JSON_COMPACT) : NULL;
    json_decref(root);
    if (!s) {
        evhttp_send_error(req, HTTP_INTERNAL, NULL);
        return;
    }
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Content-Type", "application/json");
    evhttp_add_header(h, "Cache-Control", "no-store");
    pg_web_send_owned(req, code, reason, s, strlen(s));
}

void pg_ui_reply_data(struct evhttp_request *req, json_t *data)
{
    json_t *root = json_object();
    if (!root || !data) {
        json_decref(root);
        json_decref(data);
        evhttp_send_error(req, HTTP_INTERNAL, NULL);
        return;
    }
    json_object_set_new(root, "status", json_string("success"));
    json_object_set_new(root, "data", data);
    send_json(req, 200, "OK", root);
}

void pg_ui_reply_error(struct evhttp_request *req, int code, const char *type, const char *msg)
{
    json_t *o = json_object();
    if (o) {
        json_object_set_new(o, "status", json_string("error"));
        json_object_set_new(o, "errorType", json_string(type));
        json_object_set_new(o, "error", pg_ui_jstr(msg));
    }
    const char *reason = code == 404   ? "Not Found"
                         : code == 405 ? "Method Not Allowed"
                         : code == 503 ? "Service Unavailable"
                         : code == 422 ? "Unprocessable Entity"
                                       : "Bad Request";
    send_json(req, code, reason, o);
}

json_t *pg_ui_jstr(const char *s)
{
    json_t *j = json_string(s ? s : "");
    if (j)
        return j;
    char *clean = pg_utf8_sanitize(s);
    j = json_string(clean ? clean : "");
    free(clean);
    return j;
}

json_t *pg_ui_labels(const struct pg_labels *ls)
{
    json_t *o = json_object();
    for (size_t i = 0; o && ls && i < ls->n; i++)
        json_object_set_new(o, ls->v[i].name, pg_ui_jstr(ls->v[i].value));
    return o;
}

json_t *pg_ui_time(int64_t ms)
{
    if (ms <= 0)
        return json_string("0001-01-01T00:00:00Z");
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    char base[32], out[48];
    strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, sizeof(out), "%s.%03dZ", base, (int)(ms % 1000));
    return json_string(out);
}

int pg_ui_query(struct evhttp_request *req, struct evkeyvalq *q)
{
    TAILQ_INIT(q);
    const char *query = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
    if (query && evhttp_parse_query_str(query, q) < 0) {
        evhttp_clear_headers(q);
        pg_ui_reply_error(req, 400, "bad_data", "invalid query string");
        return -1;
    }
    return 0;
}

int pg_ui_get_only(struct evhttp_request *req)
{
    enum evhttp_cmd_type m = evhttp_request_get_command(req);
    if (m == EVHTTP_REQ_GET || m == EVHTTP_REQ_HEAD)
        return 1;
    pg_ui_reply_error(req, 405, "bad_data", "method not allowed: use GET");
    return 0;
}

int pg_ui_contains(const char *hay, const char *q_lower)
{
    if (!q_lower || !*q_lower)
        return 1;
    for (const char *h = hay ? hay : ""; *h; h++) {
        size_t i = 0;
        while (q_lower[i] && h[i] && tolower((unsigned char)h[i]) == (unsigned char)q_lower[i])
            i++;
        if (!q_lower[i])
            return 1;
    }
    return 0;
}

int pg_ui_labels_match(const struct pg_labels *ls, const char *q_lower)
{
    if (!q_lower || !*q_lower)
        return 1;
    char small[512];
    for (size_t i = 0; ls && i < ls->n; i++) {
        size_t n = strlen(ls->v[i].name) + strlen(ls->v[i].value) + 2;
        char *buf = n <= sizeof(small) ? small : malloc(n);
        if (!buf) /* out of memory: match the parts */
            return pg_ui_contains(ls->v[i].name, q_lower) ||
                   pg_ui_contains(ls->v[i].value, q_lower);
        snprintf(buf, n, "%s=%s", ls->v[i].name, ls->v[i].value);
        int hit = pg_ui_contains(buf, q_lower);
        if (buf != small)
            free(buf);
        if (hit)
            return 1;
    }
    return 0;
}

int pg_ui_size_param(const char *v, size_t *out)
{
    if (!v || !*v)
        return 0;
    char *end;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    if (*end || n < 0 || errno)
        return -1;
    *out = (size_t)n;
    return 0;
}
