/* ui_json.h - small helpers shared by the web UI's JSON endpoints (daemon/ui*.c):
 * Prometheus's response envelope, label sets, times, query parameters.
 *
 * Replies are gzip'd for clients that accept it (daemon/web_gzip.h).
 * Replies follow Prometheus's API: {"status":"success","data":...} with 200, or
 * {"status":"error","errorType":T,"error":MSG} with 400/404/503. Event-loop thread. */
#ifndef PG_DAEMON_UI_JSON_H
#define PG_DAEMON_UI_JSON_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct evhttp_request;
struct evkeyvalq;
struct pg_labels;

/* Sends {"status":"success","data":data} (data is consumed). */
void pg_ui_reply_data(struct evhttp_request *req, json_t *data);

/* Sends an error envelope with HTTP status code. */
void pg_ui_reply_error(struct evhttp_request *req, int code, const char *type, const char *msg);

/* Sends text (malloc'd; owned from here on) with status 200, ctype and Cache-Control:
 * no-store. */
void pg_ui_reply_owned(struct evhttp_request *req, const char *ctype, char *text, size_t len);

/* json_string that shows invalid UTF-8 as U+FFFD instead of failing; NULL as "". */
json_t *pg_ui_jstr(const char *s);

/* A label set as a JSON object (every label). */
json_t *pg_ui_labels(const struct pg_labels *ls);

/* unix ms as RFC 3339 (Go's time.Time JSON, UTC); "0001-01-01T00:00:00Z" for 0. */
json_t *pg_ui_time(int64_t ms);

/* Parses req's query string into q (free with evhttp_clear_headers). Returns 0, or -1
 * after answering 400. */
int pg_ui_query(struct evhttp_request *req, struct evkeyvalq *q);

/* Case-insensitive (ASCII) substring search: 1 when hay contains q_lower (already
 * lowercase; "" matches everything). */
int pg_ui_contains(const char *hay, const char *q_lower);

/* 1 when some label of ls, written name=value, contains q_lower (as pg_ui_contains). */
int pg_ui_labels_match(const struct pg_labels *ls, const char *q_lower);

/* Parses a non-negative integer query parameter v into *out (unchanged when v is NULL or
 * ""). Returns 0, or -1 when v is not one. */
int pg_ui_size_param(const char *v, size_t *out);

/* Returns 1 for GET and HEAD; otherwise answers 405 and returns 0. */
int pg_ui_get_only(struct evhttp_request *req);

#endif
