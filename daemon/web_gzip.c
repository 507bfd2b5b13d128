/* web_gzip.c - gzip'd replies for clients that accept them (see web_gzip.h). */
#include "daemon/web_gzip.h"

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "profile/gz.h"

/* One Accept-Encoding element "coding[;q=V]" of length n: 1 when it is gzip or * with
 * q > 0. */
static int element_accepts(const char *s, size_t n)
{
    while (n && (*s == ' ' || *s == '\t'))
        s++, n--;
    size_t name = 0;
    while (name < n && s[name] != ';' && s[name] != ' ' && s[name] != '\t')
        name++;
    if (!((name == 4 && !strncasecmp(s, "gzip", 4)) || (name == 1 && *s == '*')))
        return 0;
    for (size_t i = name; i + 1 < n; i++)
        if ((s[i] == 'q' || s[i] == 'Q') && s[i + 1] == '=') {
            double q = strtod(s + i + 2, NULL); /* stops at ',' or the end of the header */
            return q > 0;
        }
    return 1;
}

int pg_web_accepts_gzip(struct evhttp_request *req)
{
    const char *h = evhttp_find_header(evhttp_request_get_input_headers(req), "Accept-Encoding");
    while (h && *h) {
        const char *comma = strchr(h, ',');
        size_t n = comma ? (size_t)(comma - h) : strlen(h);
        if (element_accepts(h, n))
            return 1;
        h = comma ? comma + 1 : NULL;
    }
    return 0;
}

static void free_ref(const void *data, size_t len, void *ud)
{
    (void)len;
    (void)ud;
    free((void *)data);
}

void pg_web_send_owned(struct evhttp_request *req, int code, const char *reason, char *body,
                       size_t len)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Vary", "Accept-Encoding");
    uint8_t *gz = NULL;
    size_t gzlen = 0;
    if (len >= PG_WEB_GZIP_MIN && pg_web_accepts_gzip(req) &&
        pg_gz_deflate((const uint8_t *)body, len, 1, &gz, &gzlen) == 0) {
        free(body);
        body = (char *)gz;
        len = gzlen;
        evhttp_add_header(h, "Content-Encoding", "gzip");
    }
    struct evbuffer *b = evbuffer_new();
    if (!b || evbuffer_add_reference(b, body, len, free_ref, NULL) < 0) {
        free(body);
        if (b)
            evbuffer_free(b);
        evhttp_send_error(req, HTTP_INTERNAL, NULL);
        return;
    }
    evhttp_send_reply(req, code, reason, b);
    evbuffer_free(b);
}
