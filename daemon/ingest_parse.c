/* ingest_parse.c - pure parsing for the push receiver (see ingest_parse.h).
 *
 * The Pyroscope behaviours reproduced here were read from Pyroscope's sources:
 * api/model/labelset (name grammar and character sets), pkg/og/util/attime (from/until),
 * pkg/ingester/pyroscope/ingest_handler.go (query defaults, format selection),
 * pkg/og/convert/pprof/profile.go (multipart parts, metricName, createLabels),
 * pkg/ingester/pyroscope/ingest_adapter.go (convertMetadata, service_name/app_name; its
 * sample-rate scaling is in profile/folded.c) and pkg/validation/validate.go (ValidateLabels). */
#include "daemon/ingest_parse.h"

#include <ctype.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>

#include "core/errmsg.h"
#include "core/utf8.h"

/* ---- name: app{k=v,...} ---- */

static int app_char_ok(unsigned char c)
{
    return isalnum(c) || c == '_' || c == '.' || c == '-' || c == '/';
}

static int key_char_ok(unsigned char c)
{
    return isalnum(c) || c == '_' || c == '.';
}

/* Copies s[0..n) trimmed of ASCII spaces into a new string. */
static char *trimdup(const char *s, size_t n)
{
    while (n && isspace((unsigned char)*s)) {
        s++;
        n--;
    }
    while (n && isspace((unsigned char)s[n - 1]))
        n--;
    return strndup(s, n);
}

/* The service name: s[0..n) trimmed, non-empty, of app_char_ok characters. Returns a new
 * string, or NULL with err set. */
static char *parse_app_name(const char *s, size_t n, char *err, size_t errlen)
{
    char *a = trimdup(s, n);
    if (!a) {
        pg_errmsg_set(err, errlen, "out of memory");
        return NULL;
    }
    if (!*a) {
        pg_errmsg_set(err, errlen, "name: service name is required");
        free(a);
        return NULL;
    }
    for (const char *c = a; *c; c++)
        if (!app_char_ok((unsigned char)*c)) {
            pg_errmsg_set(err, errlen,
                          "name: invalid service name: %s: character is not allowed: '%c'", a, *c);
            free(a);
            return NULL;
        }
    return a;
}

/* Parses the label value after '=' at *pp: "quoted" (with \" and \\) or bare (trimmed) up
 * to ',' or '}'. On success *val is the value (NULL when out of memory) and *pp points at
 * the ',' or '}' after it; on a syntax error returns -1 with err set (key names the label
 * in the message; it may be NULL). */
static int parse_label_value(const char **pp, const char *key, char **val, char *err, size_t errlen)
{
    const char *p = *pp;
    *val = NULL;
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p == '"') {
        p++;
        size_t cap = strlen(p) + 1, n = 0;
        char *v = malloc(cap);
        while (v && *p && *p != '"') {
            if (*p == '\\' && (p[1] == '"' || p[1] == '\\'))
                p++;
            v[n++] = *p++;
        }
        if (v)
            v[n] = '\0';
        if (*p != '"') {
            pg_errmsg_set(err, errlen, "name: unterminated quoted value for label %s",
                          key ? key : "");
            free(v);
            return -1;
        }
        p++;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p != ',' && *p != '}') {
            pg_errmsg_set(err, errlen, "name: unexpected character '%c' after quoted value of %s",
                          *p ? *p : '?', key ? key : "");
            free(v);
            return -1;
        }
        *val = v;
    } else {
        const char *vs = p;
        while (*p && *p != ',' && *p != '}')
            p++;
        if (!*p) {
            pg_errmsg_set(err, errlen, "name: unterminated label set (missing '}')");
            return -1;
        }
        *val = trimdup(vs, (size_t)(p - vs));
    }
    *pp = p;
    return 0;
}

/* Checks a label name and sets key=val in labels (an empty value sets nothing). key or
 * val NULL means an allocation failed. Returns 0, or -1 with err set. */
static int set_name_label(struct pg_labels *labels, const char *key, const char *val, char *err,
                          size_t errlen)
{
    if (!key || !val) {
        pg_errmsg_set(err, errlen, "out of memory");
        return -1;
    }
    if (!*key) {
        pg_errmsg_set(err, errlen, "name: label name is required");
        return -1;
    }
    for (const char *c = key; *c; c++)
        if (!key_char_ok((unsigned char)*c)) {
            pg_errmsg_set(err, errlen,
                          "name: invalid label name: %s: character is not allowed: '%c'", key, *c);
            return -1;
        }
    if (*val && pg_labels_set(labels, key, val) < 0) {
        pg_errmsg_set(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

/* Parses the k=v,... list after a name's '{' up to its '}' into labels. Returns 0, or -1
 * with err set. */
static int parse_name_labels(const char *p, struct pg_labels *labels, char *err, size_t errlen)
{
    size_t npairs = 0;
    for (;;) {
        /* key, up to '=' or '}' (a key without '=' before '}' is ignored, as Pyroscope) */
        const char *ks = p;
        while (*p && *p != '=' && *p != '}')
            p++;
        if (!*p) {
            pg_errmsg_set(err, errlen, "name: unterminated label set (missing '}')");
            return -1;
        }
        if (*p == '}')
            return 0;
        /* refuse before inserting: each insert into the sorted set moves the entries after
         * it, so an unbounded count would be quadratic */
        if (++npairs > PG_INGEST_MAX_NAME_PAIRS) {
            pg_errmsg_set(err, errlen, "name: too many labels (more than %d)",
                          PG_INGEST_MAX_NAME_PAIRS);
            return -1;
        }
        char *key = trimdup(ks, (size_t)(p - ks));
        p++; /* '=' */
        char *val;
        if (parse_label_value(&p, key, &val, err, errlen) < 0) {
            free(key);
            return -1;
        }
        int rc = set_name_label(labels, key, val, err, errlen);
        free(key);
        free(val);
        if (rc < 0)
            return -1;
        if (*p == '}')
            return 0;
        p++; /* ',' */
    }
}

int pg_ingest_parse_name(const char *name, char **app, struct pg_labels *labels, char *err,
                         size_t errlen)
{
    *app = NULL;
    if (!name)
        name = "";
    const char *brace = strchr(name, '{');
    size_t alen = brace ? (size_t)(brace - name) : strlen(name);
    char *a = parse_app_name(name, alen, err, errlen);
    if (!a)
        return -1;
    if (brace && parse_name_labels(brace + 1, labels, err, errlen) < 0) {
        free(a);
        return -1;
    }
    *app = a;
    return 0;
}

/* ---- from/until ---- */

static int64_t unit_seconds(const char *u)
{
    if (!strncmp(u, "s", 1))
        return 1;
    if (!strncmp(u, "mon", 3) || !strncmp(u, "M", 1))
        return 3600ll * 24 * 30;
    if (!strncmp(u, "min", 3) || !strncmp(u, "m", 1))
        return 60;
    if (!strncmp(u, "h", 1))
        return 3600;
    if (!strncmp(u, "d", 1))
        return 3600ll * 24;
    if (!strncmp(u, "w", 1))
        return 3600ll * 24 * 7;
    if (!strncmp(u, "y", 1))
        return 3600ll * 24 * 365;
    return -1;
}

/* Sets the "out of range" error for time buf; returns -1. */
static int time_range_err(const char *buf, char *err, size_t errlen)
{
    pg_errmsg_set(err, errlen, "time %s is out of range", buf);
    return -1;
}

/* An all-digit time buf (n digits): YYYYMMDD, or Unix seconds, or milli-, micro- or
 * nanoseconds by length (13, 16, 19 digits). Returns 0, or -1 with err set. */
static int parse_abs_time(const char *buf, size_t n, int64_t *out_ns, char *err, size_t errlen)
{
    if (n > 19)
        return time_range_err(buf, err, errlen);
    if (n == 8) {
        struct tm tm = {0};
        tm.tm_year = (buf[0] - '0') * 1000 + (buf[1] - '0') * 100 + (buf[2] - '0') * 10 +
                     (buf[3] - '0') - 1900;
        tm.tm_mon = (buf[4] - '0') * 10 + (buf[5] - '0') - 1;
        tm.tm_mday = (buf[6] - '0') * 10 + (buf[7] - '0');
        if (tm.tm_year > 0 && tm.tm_mon >= 0 && tm.tm_mon < 12 && tm.tm_mday >= 1 &&
            tm.tm_mday < 32) {
            int64_t secs = (int64_t)timegm(&tm);
            if (__builtin_mul_overflow(secs, (int64_t)1000000000, out_ns))
                return time_range_err(buf, err, errlen);
            return 0;
        }
    }
    unsigned long long v = strtoull(buf, NULL, 10);
    if (v > INT64_MAX)
        return time_range_err(buf, err, errlen);
    int64_t x = (int64_t)v, mul;
    switch (n) {
    case 13: mul = 1000000; break;
    case 16: mul = 1000; break;
    case 19: mul = 1; break;
    default: mul = 1000000000; break;
    }
    if (__builtin_mul_overflow(x, mul, out_ns))
        return time_range_err(buf, err, errlen);
    return 0;
}

/* Sums the <n><unit>... terms at p (of time buf, for messages), each signed by sign, into
 * *off (seconds). Returns 0, or -1 with err set. */
static int parse_time_terms(const char *p, const char *buf, int64_t sign, int64_t *off, char *err,
                            size_t errlen)
{
    if (!*p) {
        pg_errmsg_set(err, errlen, "cannot parse time %s", buf);
        return -1;
    }
    while (*p) {
        if (!isdigit((unsigned char)*p)) {
            pg_errmsg_set(err, errlen, "cannot parse time %s", buf);
            return -1;
        }
        int64_t num = 0;
        while (isdigit((unsigned char)*p) && num < 100000000)
            num = num * 10 + (*p++ - '0');
        char unit[8];
        size_t un = 0;
        while (*p && !isdigit((unsigned char)*p) && un + 1 < sizeof(unit))
            unit[un++] = *p++;
        unit[un] = '\0';
        int64_t mul = un ? unit_seconds(unit) : -1;
        if (mul < 0) {
            pg_errmsg_set(err, errlen, "cannot parse time %s: unknown unit \"%s\"", buf, unit);
            return -1;
        }
        int64_t term;
        if (__builtin_mul_overflow(sign * num, mul, &term) ||
            __builtin_add_overflow(*off, term, off))
            return time_range_err(buf, err, errlen);
    }
    return 0;
}

/* A relative time buf: [now][+-]<n><unit>... (the reference is always now, as in
 * Pyroscope). Returns 0, or -1 with err set. */
static int parse_rel_time(const char *buf, int64_t now_ns, int64_t *out_ns, char *err,
                          size_t errlen)
{
    const char *p = buf;
    if (!strncmp(p, "now", 3))
        p += 3;
    int64_t off = 0; /* seconds */
    if (*p == '+' || *p == '-') {
        int64_t sign = *p == '-' ? -1 : 1;
        if (parse_time_terms(p + 1, buf, sign, &off, err, errlen) < 0)
            return -1;
    } else if (*p) {
        pg_errmsg_set(err, errlen, "cannot parse time %s", buf);
        return -1;
    }
    int64_t off_ns;
    if (__builtin_mul_overflow(off, (int64_t)1000000000, &off_ns) ||
        __builtin_add_overflow(now_ns, off_ns, out_ns))
        return time_range_err(buf, err, errlen);
    return 0;
}

int pg_ingest_parse_time(const char *s, int64_t now_ns, int64_t *out_ns, char *err, size_t errlen)
{
    /* s without its digit-group separators and blanks */
    char buf[64];
    size_t n = 0;
    for (const char *c = s; *c; c++) {
        if (*c == '_' || *c == ',' || *c == ' ' || *c == '\t')
            continue;
        if (n + 1 >= sizeof(buf)) {
            pg_errmsg_set(err, errlen, "cannot parse time %.40s...", s);
            return -1;
        }
        buf[n++] = *c;
    }
    buf[n] = '\0';
    if (!n) {
        pg_errmsg_set(err, errlen, "empty time");
        return -1;
    }
    if (strspn(buf, "0123456789") == n)
        return parse_abs_time(buf, n, out_ns, err, errlen);
    return parse_rel_time(buf, now_ns, out_ns, err, errlen);
}

/* ---- query ---- */

void pg_ingest_params_reset(struct pg_ingest_params *p)
{
    free(p->app);
    free(p->spy_name);
    pg_labels_reset(&p->labels);
    memset(p, 0, sizeof(*p));
    pg_labels_init(&p->labels);
}

int pg_ingest_parse_query(const char *query, int64_t now_ns, struct pg_ingest_params *p, char *err,
                          size_t errlen)
{
    memset(p, 0, sizeof(*p));
    pg_labels_init(&p->labels);
    /* evhttp_parse_query_str decodes '+' as a space (always_decode_plus), as Go's
     * url.ParseQuery (Pyroscope) does; %2B stays a plus. */
    struct evkeyvalq q;
    TAILQ_INIT(&q);
    if (evhttp_parse_query_str(query ? query : "", &q) < 0) {
        evhttp_clear_headers(&q);
        pg_errmsg_set(err, errlen, "invalid query string");
        return -1;
    }
    int rc = -1;
    const char *v;
    if (pg_ingest_parse_name(evhttp_find_header(&q, "name"), &p->app, &p->labels, err, errlen) < 0)
        goto out;
    char terr[160];
    p->from_ns = p->until_ns = now_ns;
    if ((v = evhttp_find_header(&q, "from")) && *v &&
        pg_ingest_parse_time(v, now_ns, &p->from_ns, terr, sizeof(terr)) < 0) {
        pg_errmsg_set(err, errlen, "from: %s", terr);
        goto out;
    }
    if ((v = evhttp_find_header(&q, "until")) && *v &&
        pg_ingest_parse_time(v, now_ns, &p->until_ns, terr, sizeof(terr)) < 0) {
        pg_errmsg_set(err, errlen, "until: %s", terr);
        goto out;
    }
    int64_t span; /* the profile's duration is until - from: it must fit (issue 15) */
    if (__builtin_sub_overflow(p->until_ns, p->from_ns, &span)) {
        pg_errmsg_set(err, errlen, "from/until: the time range overflows 64-bit nanoseconds");
        goto out;
    }
    p->sample_rate = 100;
    if ((v = evhttp_find_header(&q, "sampleRate")) && *v) {
        char *end;
        unsigned long r = strtoul(v, &end, 10);
        if (!*end && *v != '-' && r <= UINT32_MAX)
            p->sample_rate = (uint32_t)r;
    }
    v = evhttp_find_header(&q, "spyName");
    p->spy_name = strdup(v && *v ? v : "unknown");
    v = evhttp_find_header(&q, "format");
    if (!v || !*v)
        p->format = PG_INGEST_AUTO;
    else if (!strcmp(v, "pprof"))
        p->format = PG_INGEST_PPROF;
    else if (!strcmp(v, "folded") || !strcmp(v, "groups"))
        p->format = PG_INGEST_GROUPS;
    else if (!strcmp(v, "lines"))
        p->format = PG_INGEST_LINES;
    else {
        pg_errmsg_set(err, errlen,
                      "format: unsupported format \"%s\" (want pprof, folded, groups or lines)", v);
        goto out;
    }
    if (!p->spy_name) {
        pg_errmsg_set(err, errlen, "out of memory");
        goto out;
    }
    rc = 0;
out:
    evhttp_clear_headers(&q);
    if (rc < 0)
        pg_ingest_params_reset(p);
    return rc;
}

/* ---- multipart/form-data ---- */

int pg_ingest_is_multipart(const char *ct)
{
    if (!ct)
        return 0;
    while (*ct == ' ')
        ct++;
    return strncasecmp(ct, "multipart/form-data", 19) == 0;
}

/* Finds parameter key (case-insensitive) in a header value's ";k=v" list; copies the
 * (unquoted) value into out. Returns 0 or -1. */
static int header_param(const char *h, const char *key, char *out, size_t outlen)
{
    size_t kl = strlen(key);
    for (const char *p = strchr(h, ';'); p; p = strchr(p + 1, ';')) {
        const char *s = p + 1;
        while (*s == ' ' || *s == '\t')
            s++;
        if (strncasecmp(s, key, kl) != 0 || s[kl] != '=')
            continue;
        s += kl + 1;
        size_t n = 0;
        if (*s == '"') {
            s++;
            while (*s && *s != '"' && n + 1 < outlen) {
                if (*s == '\\' && s[1])
                    s++;
                out[n++] = *s++;
            }
            if (*s != '"')
                return -1;
        } else {
            while (*s && *s != ';' && *s != ' ' && *s != '\t' && *s != '\r' && n + 1 < outlen)
                out[n++] = *s++;
        }
        out[n] = '\0';
        return n ? 0 : -1;
    }
    return -1;
}

/* Reads a part's header lines at *pp up to the empty line, moving *pp past it. name gets
 * the Content-Disposition's name parameter ("" without one) and *have_cd whether there
 * was a Content-Disposition. Returns 0, or -1 with err set. */
static int part_headers(const uint8_t **pp, const uint8_t *end, char *name, size_t namelen,
                        int *have_cd, char *err, size_t errlen)
{
    const uint8_t *p = *pp;
    name[0] = '\0';
    *have_cd = 0;
    for (;;) {
        const uint8_t *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol) {
            pg_errmsg_set(err, errlen, "multipart: truncated part headers");
            return -1;
        }
        size_t ll = (size_t)(eol - p);
        if (ll && p[ll - 1] == '\r')
            ll--;
        if (ll == 0) {
            *pp = eol + 1;
            return 0;
        }
        char line[512];
        snprintf(line, sizeof(line), "%.*s", (int)(ll < sizeof(line) ? ll : sizeof(line) - 1),
                 (const char *)p);
        if (strncasecmp(line, "Content-Disposition:", 20) == 0) {
            *have_cd = 1;
            if (header_param(line, "name", name, namelen) < 0)
                name[0] = '\0';
        }
        p = eol + 1;
    }
}

/* The next delimiter at the start of a line after the part data at p (so the data's line
 * break is before it), or NULL. */
static const uint8_t *find_part_end(const uint8_t *p, const uint8_t *end, const char *delim,
                                    size_t dl)
{
    const uint8_t *q = p;
    while (q < end) {
        const uint8_t *m = memmem(q, (size_t)(end - q), delim, dl);
        if (!m)
            return NULL;
        if (m > p && m[-1] == '\n')
            return m;
        q = m + 1;
    }
    return NULL;
}

int pg_ingest_multipart_parse(const char *content_type, const uint8_t *body, size_t len,
                              struct pg_ingest_part *parts, size_t max_parts, size_t *n, char *err,
                              size_t errlen)
{
    *n = 0;
    char boundary[80], delim[96];
    if (!content_type || header_param(content_type, "boundary", boundary, sizeof(boundary)) < 0) {
        pg_errmsg_set(err, errlen, "multipart: no boundary in Content-Type");
        return -1;
    }
    int dl = snprintf(delim, sizeof(delim), "--%s", boundary);
    const uint8_t *end = body + len;
    /* first delimiter: at the start or after a line break */
    const uint8_t *p = memmem(body, len, delim, (size_t)dl);
    if (!p || (p != body && p[-1] != '\n')) {
        pg_errmsg_set(err, errlen, "multipart: boundary not found in body");
        return -1;
    }
    for (;;) {
        p += dl;
        if (end - p >= 2 && p[0] == '-' && p[1] == '-')
            return 0; /* close delimiter */
        while (p < end && (*p == ' ' || *p == '\t'))
            p++;
        if (p < end && *p == '\r')
            p++;
        if (p >= end || *p != '\n') {
            pg_errmsg_set(err, errlen, "multipart: truncated body (no closing boundary)");
            return -1;
        }
        p++;
        char name[64];
        int have_cd;
        if (part_headers(&p, end, name, sizeof(name), &have_cd, err, errlen) < 0)
            return -1;
        /* data up to CRLF--boundary (or LF--boundary) */
        const uint8_t *found = find_part_end(p, end, delim, (size_t)dl);
        if (!found) {
            pg_errmsg_set(err, errlen, "multipart: truncated body (no closing boundary)");
            return -1;
        }
        const uint8_t *dend = found - 1; /* the '\n' */
        if (dend > p && dend[-1] == '\r')
            dend--;
        if (!have_cd || !name[0]) {
            pg_errmsg_set(err, errlen, "multipart: part without a form-data name");
            return -1;
        }
        if (*n >= max_parts) {
            pg_errmsg_set(err, errlen, "multipart: more than %zu parts", max_parts);
            return -1;
        }
        snprintf(parts[*n].name, sizeof(parts[*n].name), "%s", name);
        parts[*n].data = p;
        parts[*n].len = (size_t)(dend - p);
        (*n)++;
        p = found;
    }
}

/* ---- sample types and __name__ ---- */

int pg_ingest_sample_type_config(const uint8_t *data, size_t len, struct pg_labels *display,
                                 char *err, size_t errlen)
{
    json_error_t je;
    json_t *root = json_loadb((const char *)data, len, 0, &je);
    if (!root) {
        pg_errmsg_set(err, errlen, "sample_type_config: invalid JSON: %s", je.text);
        return -1;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        pg_errmsg_set(err, errlen, "sample_type_config: want a JSON object");
        return -1;
    }
    if (json_object_size(root) > PG_INGEST_MAX_SAMPLE_TYPES) {
        pg_errmsg_set(err, errlen, "sample_type_config: too many sample types (%zu; limit %d)",
                      json_object_size(root), PG_INGEST_MAX_SAMPLE_TYPES);
        json_decref(root);
        return -1;
    }
    const char *k;
    json_t *v;
    json_object_foreach(root, k, v)
    {
        if (!json_is_object(v)) {
            pg_errmsg_set(err, errlen, "sample_type_config: %s: want an object", k);
            json_decref(root);
            return -1;
        }
        json_t *dn = json_object_get(v, "display-name");
        if (dn && !json_is_string(dn)) {
            pg_errmsg_set(err, errlen, "sample_type_config: %s: display-name must be a string", k);
            json_decref(root);
            return -1;
        }
        if (dn && *json_string_value(dn) && pg_labels_set(display, k, json_string_value(dn)) < 0) {
            pg_errmsg_set(err, errlen, "out of memory");
            json_decref(root);
            return -1;
        }
    }
    json_decref(root);
    return 0;
}

int pg_ingest_default_sample_types(struct pg_labels *display)
{
    if (pg_labels_set(display, "samples", "cpu") < 0 ||
        pg_labels_set(display, "goroutine", "goroutines") < 0 ||
        pg_labels_set(display, "contentions", "mutex_count") < 0 ||
        pg_labels_set(display, "delay", "mutex_duration") < 0)
        return -1;
    return 0;
}

static int valid_metric_name(const char *s)
{
    if (!*s || !(isalpha((unsigned char)*s) || *s == '_' || *s == ':'))
        return 0;
    for (; *s; s++)
        if (!(isalnum((unsigned char)*s) || *s == '_' || *s == ':'))
            return 0;
    return 1;
}

static const char *st_name(const Perftools__Profiles__Profile *p, size_t i)
{
    int64_t t = p->sample_type[i]->type;
    return t >= 0 && (size_t)t < p->n_string_table ? p->string_table[t] : "";
}

int pg_ingest_metric_name(const Perftools__Profiles__Profile *p, const struct pg_labels *display,
                          char *out, size_t outlen, char *err, size_t errlen)
{
    if (!p->n_sample_type) {
        pg_errmsg_set(err, errlen, "unknown profile type: the profile has no sample types");
        return -1;
    }
    for (size_t i = 0; i < p->n_sample_type; i++)
        if (!strcmp(st_name(p, i), "wall")) {
            snprintf(out, outlen, "wall");
            return 0;
        }
    const char *st = "";
    for (size_t i = 0; i < p->n_sample_type; i++) {
        st = st_name(p, i);
        const char *dn = display ? pg_labels_get(display, st) : NULL;
        if (dn && *dn)
            st = dn;
        const char *m = NULL;
        if (strstr(st, "cpu"))
            m = "process_cpu";
        else if (strstr(st, "alloc_") || strstr(st, "inuse_") || !strcmp(st, "space") ||
                 !strcmp(st, "objects"))
            m = "memory";
        else if (strstr(st, "mutex_"))
            m = "mutex";
        else if (strstr(st, "block_"))
            m = "block";
        else if (strstr(st, "goroutines"))
            m = "goroutines";
        if (m) {
            snprintf(out, outlen, "%s", m);
            return 0;
        }
    }
    if (!valid_metric_name(st) || strlen(st) >= outlen) {
        pg_errmsg_set(err, errlen, "unknown profile type: sample type \"%.64s\"", st);
        return -1;
    }
    snprintf(out, outlen, "%s", st);
    return 0;
}

/* ---- legacy name-suffix types ---- */

static const struct {
    const char *suffix, *metric, *type, *unit;
} legacy_types[] = {
    {"cpu", "process_cpu", "samples", "count"},
    {"wall", "wall", "samples", "count"},
    {"inuse_objects", "memory", "inuse_objects", "count"},
    {"inuse_space", "memory", "inuse_space", "bytes"},
    {"alloc_objects", "memory", "alloc_objects", "count"},
    {"alloc_space", "memory", "alloc_space", "bytes"},
    {"goroutines", "goroutine", "goroutines", "count"},
    {"mutex_count", "mutex", "contentions", "count"},
    {"mutex_duration", "mutex", "delay", "nanoseconds"},
    {"block_count", "block", "contentions", "count"},
    {"block_duration", "block", "delay", "nanoseconds"},
    {"itimer", "process_cpu", "samples", "count"},
    {"alloc_in_new_tlab_objects", "memory", "alloc_in_new_tlab_objects", "count"},
    {"alloc_in_new_tlab_bytes", "memory", "alloc_in_new_tlab_bytes", "bytes"},
    {"alloc_outside_tlab_objects", "memory", "alloc_outside_tlab_objects", "count"},
    {"alloc_outside_tlab_bytes", "memory", "alloc_outside_tlab_bytes", "bytes"},
    {"lock_count", "block", "contentions", "count"},
    {"lock_duration", "block", "delay", "nanoseconds"},
    {"live", "memory", "live", "count"},
    {"exceptions", "exceptions", "samples", "count"},
    {"seconds", "wall", "samples", "count"},
    {"nanoseconds", "wall", "samples", "count"},
    {"microseconds", "wall", "samples", "count"},
    {"milliseconds", "wall", "samples", "count"},
    {"bytes", "memory", "samples", "bytes"},
};

int pg_ingest_legacy_type(const char *app_full, char **app, const char **metric, const char **type,
                          const char **unit, char *err, size_t errlen)
{
    const char *dot = strrchr(app_full, '.');
    const char *suffix = dot ? dot + 1 : "cpu";
    size_t alen = dot ? (size_t)(dot - app_full) : strlen(app_full);
    for (size_t i = 0; i < sizeof(legacy_types) / sizeof(legacy_types[0]); i++)
        if (!strcmp(legacy_types[i].suffix, suffix)) {
            if (!(*app = strndup(app_full, alen))) {
                pg_errmsg_set(err, errlen, "out of memory");
                return -1;
            }
            *metric = legacy_types[i].metric;
            *type = legacy_types[i].type;
            *unit = legacy_types[i].unit;
            return 0;
        }
    pg_errmsg_set(err, errlen, "unknown profile type: %.64s", suffix);
    return -1;
}

/* ---- labels ---- */

int pg_ingest_series_labels(const struct pg_labels *name_labels, const char *app,
                            const char *metric, const char *spy_name, struct pg_labels *out)
{
    pg_labels_reset(out);
    if (pg_labels_set(out, "__name__", metric) < 0 || pg_labels_set(out, "__delta__", "false") < 0)
        return -1;
    if (spy_name && *spy_name && pg_labels_set(out, "pyroscope_spy", spy_name) < 0)
        return -1;
    for (size_t i = 0; i < name_labels->n; i++) {
        const char *k = name_labels->v[i].name;
        if (!strncmp(k, "__", 2) && strcmp(k, "__session_id__") != 0)
            continue;
        if (pg_labels_set(out, k, name_labels->v[i].value) < 0)
            return -1;
    }
    if (!pg_labels_get(out, "service_name")) {
        if (pg_labels_set(out, "service_name", app) < 0)
            return -1;
    } else if (!pg_labels_get(out, "app_name")) {
        if (pg_labels_set(out, "app_name", app) < 0)
            return -1;
    }
    return 0;
}

int pg_ingest_validate_series(const struct pg_labels *ls, char *err, size_t errlen)
{
    if (!ls->n) {
        pg_errmsg_set(err, errlen, "error at least one label pair is required per profile");
        return -1;
    }
    if (ls->n > PG_INGEST_MAX_LABEL_NAMES) {
        pg_errmsg_set(err, errlen, "profile series has %zu label names; limit %d", ls->n,
                      PG_INGEST_MAX_LABEL_NAMES);
        return -1;
    }
    const char *name = pg_labels_get(ls, "__name__");
    if (!name || !valid_metric_name(name)) {
        pg_errmsg_set(err, errlen, "invalid labels: invalid metric name (__name__ %s)",
                      name ? "is not a valid metric name" : "is missing");
        return -1;
    }
    const char *svc = pg_labels_get(ls, "service_name");
    if (!svc || !*svc) {
        pg_errmsg_set(err, errlen, "invalid labels: service name is not provided");
        return -1;
    }
    for (size_t i = 0; i < ls->n; i++) {
        const char *k = ls->v[i].name, *v = ls->v[i].value;
        size_t kl = strlen(k), vl = strlen(v);
        if (!kl || !pg_utf8_valid(k, kl)) {
            pg_errmsg_set(err, errlen, "invalid labels: invalid label name (empty or not UTF-8)");
            return -1;
        }
        if (kl > PG_INGEST_MAX_NAME_LEN) {
            pg_errmsg_set(err, errlen, "invalid labels: label name too long: '%.64s...'", k);
            return -1;
        }
        if (!pg_utf8_valid(v, vl)) {
            pg_errmsg_set(err, errlen, "invalid labels: invalid label value of %.64s (not UTF-8)",
                          k);
            return -1;
        }
        if (vl > PG_INGEST_MAX_VALUE_LEN) {
            pg_errmsg_set(err, errlen, "invalid labels: label value too long: %.64s", k);
            return -1;
        }
    }
    return 0;
}
