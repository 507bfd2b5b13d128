/* web_gzip.h - JSON (and other) replies of the HTTP server, gzip'd when the client accepts
 * it (Accept-Encoding: gzip), as Prometheus's API does. Used by web.c and the web UI's
 * endpoints (daemon/ui_json.c).
 *
 * Compression runs on the event loop with libdeflate level 1 (profile/gz.h): measured at
 * about 0.1 ms for the web UI's pages of rows (~40 KB) and 10-25 ms for the 5 MB of
 * /api/v1/targets with 10,000 targets, a small part of building that JSON (docs/
 * performance.md, "Web UI"). Bodies under PG_WEB_GZIP_MIN bytes are sent as they are. */
#ifndef PG_DAEMON_WEB_GZIP_H
#define PG_DAEMON_WEB_GZIP_H

#include <stddef.h>

struct evhttp_request;

#define PG_WEB_GZIP_MIN 1024

/* 1 when req's Accept-Encoding lists gzip (or *) with a non-zero q, else 0. */
int pg_web_accepts_gzip(struct evhttp_request *req);

/* Sends body[0..len) (malloc'd; owned from here on, freed once sent) with status code and
 * reason, gzip'd with Content-Encoding: gzip when req accepts it and len >= PG_WEB_GZIP_MIN,
 * and Vary: Accept-Encoding. The caller sets Content-Type first. Out of memory: 500. */
void pg_web_send_owned(struct evhttp_request *req, int code, const char *reason, char *body,
                       size_t len);

#endif
