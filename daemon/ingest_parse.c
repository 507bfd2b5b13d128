/* ingest_parse.c - pure parsing for the push receiver (see ingest_parse.h).
 *
 * The Pyroscope behaviours reproduced here were read from Pyroscope's sources:
 * api/model/labelset (name grammar and character sets), pkg/og/util/attime (from/until),
 * pkg/ingester/pyroscope/ingest_handler.go (query defaults, format selection),
 * pkg/og/convert/pprof/profile.go (multipart parts, metricName, createLabels),
 * pkg/ingester/pyroscope/ingest_adapter.go (convertMetadata, sample-rate scaling,
 * service_name/app_name) and pkg/validation/validate.go (ValidateLabels). */
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

#include "core/base64.h"
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

int pg_ingest_parse_name(const char *name, char **app, struct pg_labels *labels, char *err,
                         size_t errlen)
{
    *app = NULL;
    if (!name)
        name = "";
    const char *brace = strchr(name, '{');
    size_t alen = brace ? (size_t)(brace - name) : strlen(name);
    char *a = trimdup(name, alen);
    if (!a) {
        pg_errmsg_set(err, errlen, "out of memory");
        return -1;
    }
    if (!*a) {
        pg_errmsg_set(err, errlen, "name: service name is required");
        free(a);
        return -1;
    }
    for (const char *c = a; *c; c++)
        if (!app_char_ok((unsigned char)*c)) {
            pg_errmsg_set(err, errlen,
                          "name: invalid service name: %s: character is not allowed: '%c'", a, *c);
            free(a);
            return -1;
        }
    if (!brace) {
        *app = a;
        return 0;
    }
    const char *p = brace + 1;
    size_t npairs = 0;
    for (;;) {
        /* key, up to '=' or '}' (a key without '=' before '}' is ignored, as Pyroscope) */
        const char *ks = p;
        while (*p && *p != '=' && *p != '}')
            p++;
        if (!*p) {
            pg_errmsg_set(err, errlen, "name: unterminated label set (missing '}')");
            free(a);
            return -1;
        }
        if (*p == '}')
            break;
        /* refuse before inserting: each insert into the sorted set moves the entries after
         * it, so an unbounded count would be quadratic */
        if (++npairs > PG_INGEST_MAX_NAME_PAIRS) {
            pg_errmsg_set(err, errlen, "name: too many labels (more than %d)",
                          PG_INGEST_MAX_NAME_PAIRS);
            free(a);
            return -1;
        }
        char *key = trimdup(ks, (size_t)(p - ks));
        p++; /* '=' */
        char *val = NULL;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == '"') {
            /* quoted value: "...", with \" and \\ */
            p++;
            size_t cap = strlen(p) + 1, n = 0;
            val = malloc(cap);
            while (val && *p && *p != '"') {
                if (*p == '\\' && (p[1] == '"' || p[1] == '\\'))
                    p++;
                val[n++] = *p++;
            }
            if (val)
                val[n] = '\0';
            if (*p != '"') {
                pg_errmsg_set(err, errlen, "name: unterminated quoted value for label %s",
                              key ? key : "");
                free(key);
                free(val);
                free(a);
                return -1;
            }
            p++;
            while (*p == ' ' || *p == '\t')
                p++;
            if (*p != ',' && *p != '}') {
                pg_errmsg_set(err, errlen,
                              "name: unexpected character '%c' after quoted value of %s",
                              *p ? *p : '?', key ? key : "");
                free(key);
                free(val);
                free(a);
                return -1;
            }
        } else {
            const char *vs = p;
            while (*p && *p != ',' && *p != '}')
                p++;
            if (!*p) {
                pg_errmsg_set(err, errlen, "name: unterminated label set (missing '}')");
                free(key);
                free(a);
                return -1;
            }
            val = trimdup(vs, (size_t)(p - vs));
        }
        if (!key || !val) {
            free(key);
            free(val);
            free(a);
            pg_errmsg_set(err, errlen, "out of memory");
            return -1;
        }
        int bad = 0;
        if (!*key) {
            pg_errmsg_set(err, errlen, "name: label name is required");
            bad = 1;
        }
        for (const char *c = key; !bad && *c; c++)
            if (!key_char_ok((unsigned char)*c)) {
                pg_errmsg_set(err, errlen,
                              "name: invalid label name: %s: character is not allowed: '%c'", key,
                              *c);
                bad = 1;
            }
        if (!bad && *val && pg_labels_set(labels, key, val) < 0) {
            pg_errmsg_set(err, errlen, "out of memory");
            bad = 1;
        }
        free(key);
        free(val);
        if (bad) {
            free(a);
            return -1;
        }
        if (*p == '}')
            break;
        p++; /* ',' */
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

int pg_ingest_parse_time(const char *s, int64_t now_ns, int64_t *out_ns, char *err, size_t errlen)
{
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
    size_t digits = strspn(buf, "0123456789");
    if (digits == n) {
        if (n > 19)
            goto range;
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
                    goto range;
                return 0;
            }
        }
        unsigned long long v = strtoull(buf, NULL, 10);
        if (v > INT64_MAX)
            goto range;
        int64_t x = (int64_t)v, mul;
        switch (n) {
        case 13: mul = 1000000; break;
        case 16: mul = 1000; break;
        case 19: mul = 1; break;
        default: mul = 1000000000; break;
        }
        if (__builtin_mul_overflow(x, mul, out_ns))
            goto range;
        return 0;
    }
    /* relative: [now][+-]<n><unit>... (the reference is always now, as in Pyroscope) */
    const char *p = buf;
    if (!strncmp(p, "now", 3))
        p += 3;
    int64_t off = 0; /* seconds */
    if (*p == '+' || *p == '-') {
        int64_t sign = *p == '-' ? -1 : 1;
        p++;
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
                __builtin_add_overflow(off, term, &off))
                goto range;
        }
    } else if (*p) {
        pg_errmsg_set(err, errlen, "cannot parse time %s", buf);
        return -1;
    }
    int64_t off_ns;
    if (__builtin_mul_overflow(off, (int64_t)1000000000, &off_ns) ||
        __builtin_add_overflow(now_ns, off_ns, out_ns))
        goto range;
    return 0;
range:
    pg_errmsg_set(err, errlen, "time %s is out of range", buf);
    return -1;
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
        /* headers up to an empty line */
        char name[64] = "";
        int have_cd = 0;
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
                p = eol + 1;
                break;
            }
            char line[512];
            snprintf(line, sizeof(line), "%.*s", (int)(ll < sizeof(line) ? ll : sizeof(line) - 1),
                     (const char *)p);
            if (strncasecmp(line, "Content-Disposition:", 20) == 0) {
                have_cd = 1;
                if (header_param(line, "name", name, sizeof(name)) < 0)
                    name[0] = '\0';
            }
            p = eol + 1;
        }
        /* data up to CRLF--boundary (or LF--boundary) */
        const uint8_t *q = p, *found = NULL;
        while (q < end) {
            const uint8_t *m = memmem(q, (size_t)(end - q), delim, (size_t)dl);
            if (!m)
                break;
            if (m > p && m[-1] == '\n') {
                found = m;
                break;
            }
            q = m + 1;
        }
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

/* ---- legacy name-suffix types and folded stacks ---- */

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

/* Conversion budget: every allocation made while converting folded stacks (string table,
 * functions, locations, samples, indexes, the packed output) is counted, as its requested
 * size plus PG_FOLDED_MALLOC_OVERHEAD, against PG_INGEST_FOLDED_BUDGET_RATIO x the body +
 * PG_INGEST_FOLDED_BUDGET_SLACK: the bound pg_pprof_check puts on decoding a pprof. A body
 * of many distinct short frames would otherwise take ~60x its size. */
#define PG_FOLDED_MALLOC_OVERHEAD 16

struct budget {
    size_t used, limit;
    int exceeded;
};

static int budget_take(struct budget *b, size_t n)
{
    if (n > b->limit - b->used) {
        b->exceeded = 1;
        return -1;
    }
    b->used += n;
    return 0;
}

static void budget_give(struct budget *b, size_t n)
{
    b->used = n > b->used ? 0 : b->used - n;
}

static void *bmalloc(struct budget *b, size_t n)
{
    if (budget_take(b, n + PG_FOLDED_MALLOC_OVERHEAD) < 0)
        return NULL;
    return malloc(n ? n : 1);
}

/* Grows p (holding oldsz bytes, or NULL) to newsz > oldsz bytes. */
static void *brealloc(struct budget *b, void *p, size_t oldsz, size_t newsz)
{
    if (budget_take(b, newsz - oldsz + (p ? 0 : PG_FOLDED_MALLOC_OVERHEAD)) < 0)
        return NULL;
    return realloc(p, newsz);
}

/* Returns the doubled capacity (at least min) for n elements of size sz, or 0 when it
 * would overflow. */
static size_t grow_cap(size_t cap, size_t min, size_t sz)
{
    size_t nc = cap ? cap * 2 : min;
    return nc < cap || nc > SIZE_MAX / sz ? 0 : nc;
}

static uint64_t fnv(const void *p, size_t n)
{
    const unsigned char *s = p;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= 1099511628211ull;
    }
    return h;
}

/* A string table with dedup (open addressing over indexes, load <= 1/2). */
struct strtab {
    char **v;
    size_t n, cap;
    size_t *slots; /* index + 1, 0 = empty */
    size_t nslots;
};

static int strtab_grow(struct strtab *t, struct budget *b)
{
    size_t ns = t->nslots ? grow_cap(t->nslots, 256, sizeof(size_t)) : 256;
    if (!ns || budget_take(b, ns * sizeof(size_t) + PG_FOLDED_MALLOC_OVERHEAD) < 0)
        return -1;
    size_t *slots = calloc(ns, sizeof(*slots));
    if (!slots)
        return -1;
    for (size_t i = 0; i < t->n; i++) {
        size_t h = (size_t)fnv(t->v[i], strlen(t->v[i])) & (ns - 1);
        while (slots[h])
            h = (h + 1) & (ns - 1);
        slots[h] = i + 1;
    }
    if (t->slots)
        budget_give(b, t->nslots * sizeof(size_t) + PG_FOLDED_MALLOC_OVERHEAD);
    free(t->slots);
    t->slots = slots;
    t->nslots = ns;
    return 0;
}

/* Returns the index of s[0..n) (added if new), or -1 (out of budget or memory). */
static int64_t strtab_add(struct strtab *t, struct budget *b, const char *s, size_t n)
{
    if ((t->n + 1) * 2 > t->nslots && strtab_grow(t, b) < 0)
        return -1;
    size_t h = (size_t)fnv(s, n) & (t->nslots - 1);
    while (t->slots[h]) {
        const char *x = t->v[t->slots[h] - 1];
        if (!strncmp(x, s, n) && x[n] == '\0')
            return (int64_t)(t->slots[h] - 1);
        h = (h + 1) & (t->nslots - 1);
    }
    if (t->n == t->cap) {
        size_t nc = grow_cap(t->cap, 64, sizeof(char *));
        char **v = nc ? brealloc(b, t->v, t->cap * sizeof(*v), nc * sizeof(*v)) : NULL;
        if (!v)
            return -1;
        t->v = v;
        t->cap = nc;
    }
    char *c = bmalloc(b, n + 1);
    if (!c)
        return -1;
    memcpy(c, s, n);
    c[n] = '\0';
    t->v[t->n] = c;
    t->slots[h] = ++t->n;
    return (int64_t)(t->n - 1);
}

static void strtab_free(struct strtab *t)
{
    for (size_t i = 0; i < t->n; i++)
        free(t->v[i]);
    free(t->v);
    free(t->slots);
}

/* Growable array of pointers. */
struct ptrv {
    void **v;
    size_t n, cap;
};

static int ptrv_push(struct ptrv *a, struct budget *b, void *x)
{
    if (a->n == a->cap) {
        size_t nc = grow_cap(a->cap, 64, sizeof(void *));
        void **v = nc ? brealloc(b, a->v, a->cap * sizeof(*v), nc * sizeof(*v)) : NULL;
        if (!v)
            return -1;
        a->v = v;
        a->cap = nc;
    }
    a->v[a->n++] = x;
    return 0;
}

/* One distinct frame: its function, location and line in one allocation (fn first, so a
 * pointer to fn is a pointer to the frame). */
struct frame {
    Perftools__Profiles__Function fn;
    Perftools__Profiles__Location loc;
    Perftools__Profiles__Line line;
    Perftools__Profiles__Line *linep;
};

/* One distinct stack: the sample, its value and its location ids in one allocation (s
 * first). */
struct fsample {
    Perftools__Profiles__Sample s;
    int64_t value;
    uint64_t hash;
    uint64_t ids[];
};

struct folded {
    struct budget bud;
    struct strtab st;
    struct ptrv samples; /* struct fsample* */
    struct ptrv frames;  /* struct frame*, function/location id = index + 1 */
    struct ptrv funcs;   /* &frame->fn, for the profile */
    struct ptrv locs;    /* &frame->loc, for the profile */
    uint64_t *fn_of_str; /* string index -> function id (0 = none) */
    size_t fn_cap;
    size_t *sslots; /* stack index: sample index + 1, 0 = empty (load <= 1/2) */
    size_t nsslots;
};

static void folded_free(struct folded *f)
{
    for (size_t i = 0; i < f->samples.n; i++)
        free(f->samples.v[i]);
    for (size_t i = 0; i < f->frames.n; i++)
        free(f->frames.v[i]);
    free(f->samples.v);
    free(f->frames.v);
    free(f->funcs.v);
    free(f->locs.v);
    free(f->fn_of_str);
    free(f->sslots);
    strtab_free(&f->st);
}

/* Returns the location id of frame name s[0..n), creating function and location, or 0
 * (out of budget or memory). */
static uint64_t folded_loc(struct folded *f, const char *s, size_t n)
{
    int64_t si = strtab_add(&f->st, &f->bud, s, n);
    if (si < 0)
        return 0;
    if ((size_t)si >= f->fn_cap) {
        size_t nc = f->fn_cap ? f->fn_cap : 256;
        while (nc <= (size_t)si)
            nc *= 2;
        uint64_t *v = brealloc(&f->bud, f->fn_of_str, f->fn_cap * sizeof(*v), nc * sizeof(*v));
        if (!v)
            return 0;
        memset(v + f->fn_cap, 0, (nc - f->fn_cap) * sizeof(*v));
        f->fn_of_str = v;
        f->fn_cap = nc;
    }
    if (f->fn_of_str[si])
        return f->fn_of_str[si];
    struct frame *fr = bmalloc(&f->bud, sizeof(*fr));
    if (!fr)
        return 0;
    if (ptrv_push(&f->frames, &f->bud, fr) < 0) {
        free(fr);
        return 0;
    }
    uint64_t id = f->frames.n;
    perftools__profiles__function__init(&fr->fn);
    fr->fn.id = id;
    fr->fn.name = si;
    perftools__profiles__line__init(&fr->line);
    fr->line.function_id = id;
    fr->linep = &fr->line;
    perftools__profiles__location__init(&fr->loc);
    fr->loc.id = id;
    fr->loc.n_line = 1;
    fr->loc.line = &fr->linep;
    if (ptrv_push(&f->funcs, &f->bud, &fr->fn) < 0 || ptrv_push(&f->locs, &f->bud, &fr->loc) < 0)
        return 0;
    f->fn_of_str[si] = id;
    return id;
}

/* Adds value to the sample of the stack ids[0..n) (leaf first), creating it if new.
 * Returns 0, -1 (out of budget or memory) or -2 (the sum overflows). */
static int folded_sample(struct folded *f, const uint64_t *ids, size_t n, int64_t value)
{
    uint64_t h = fnv(ids, n * sizeof(*ids));
    if ((f->samples.n + 1) * 2 > f->nsslots) {
        size_t ns = f->nsslots ? grow_cap(f->nsslots, 256, sizeof(size_t)) : 256;
        if (!ns || budget_take(&f->bud, ns * sizeof(size_t) + PG_FOLDED_MALLOC_OVERHEAD) < 0)
            return -1;
        size_t *slots = calloc(ns, sizeof(*slots));
        if (!slots)
            return -1;
        for (size_t i = 0; i < f->samples.n; i++) {
            const struct fsample *x = f->samples.v[i];
            size_t k = (size_t)x->hash & (ns - 1);
            while (slots[k])
                k = (k + 1) & (ns - 1);
            slots[k] = i + 1;
        }
        if (f->sslots)
            budget_give(&f->bud, f->nsslots * sizeof(size_t) + PG_FOLDED_MALLOC_OVERHEAD);
        free(f->sslots);
        f->sslots = slots;
        f->nsslots = ns;
    }
    size_t k = (size_t)h & (f->nsslots - 1);
    while (f->sslots[k]) {
        struct fsample *x = f->samples.v[f->sslots[k] - 1];
        if (x->hash == h && x->s.n_location_id == n && !memcmp(x->ids, ids, n * sizeof(*ids)))
            return __builtin_add_overflow(x->value, value, &x->value) ? -2 : 0;
        k = (k + 1) & (f->nsslots - 1);
    }
    struct fsample *x = bmalloc(&f->bud, sizeof(*x) + n * sizeof(*ids));
    if (!x)
        return -1;
    if (ptrv_push(&f->samples, &f->bud, x) < 0) {
        free(x);
        return -1;
    }
    perftools__profiles__sample__init(&x->s);
    memcpy(x->ids, ids, n * sizeof(*ids));
    x->hash = h;
    x->value = value;
    x->s.n_location_id = n;
    x->s.location_id = x->ids;
    x->s.n_value = 1;
    x->s.value = &x->value;
    f->sslots[k] = f->samples.n;
    return 0;
}

int pg_ingest_folded_to_pprof(const uint8_t *body, size_t len, int lines_format, const char *metric,
                              const char *type, const char *unit, uint32_t sample_rate,
                              int64_t from_ns, int64_t until_ns, uint8_t **out, size_t *outlen,
                              char *err, size_t errlen)
{
    struct folded f;
    memset(&f, 0, sizeof(f));
    f.bud.limit = len > (SIZE_MAX - PG_INGEST_FOLDED_BUDGET_SLACK) / PG_INGEST_FOLDED_BUDGET_RATIO
                      ? SIZE_MAX
                      : len * PG_INGEST_FOLDED_BUDGET_RATIO + PG_INGEST_FOLDED_BUDGET_SLACK;
    int rc = -1;
    uint64_t *stack = NULL;
    size_t stack_cap = 0;
    int64_t period = 0;
    int timed = sample_rate > 0 && (!strcmp(metric, "process_cpu") || !strcmp(metric, "wall"));
    if (timed) {
        period = 1000000000ll / (int64_t)sample_rate;
        type = !strcmp(metric, "wall") ? "wall" : "cpu";
        unit = "nanoseconds";
    }
    if (strtab_add(&f.st, &f.bud, "", 0) < 0)
        goto oom;
    size_t lineno = 0;
    const uint8_t *p = body, *end = body + len;
    while (p < end) {
        const uint8_t *eol = memchr(p, '\n', (size_t)(end - p));
        const uint8_t *le = eol ? eol : end;
        lineno++;
        size_t ll = (size_t)(le - p);
        if (ll && p[ll - 1] == '\r')
            ll--;
        const char *line = (const char *)p;
        p = eol ? eol + 1 : end;
        if (ll == 0)
            continue;
        if (memchr(line, '\0', ll) || !pg_utf8_valid(line, ll)) {
            pg_errmsg_set(err, errlen, "line %zu: not UTF-8 text", lineno);
            goto fail;
        }
        size_t stk_len = ll;
        int64_t value = 1;
        if (!lines_format) {
            const char *sp = NULL;
            for (size_t i = ll; i > 0; i--)
                if (line[i - 1] == ' ') {
                    sp = line + i - 1;
                    break;
                }
            char num[24];
            size_t nl = sp ? ll - (size_t)(sp + 1 - line) : 0;
            if (!sp || nl == 0 || nl >= sizeof(num)) {
                pg_errmsg_set(err, errlen, "line %zu: want \"frame;frame;... count\"", lineno);
                goto fail;
            }
            memcpy(num, sp + 1, nl);
            num[nl] = '\0';
            char *e;
            unsigned long long v = strtoull(num, &e, 10);
            if (*e || num[0] == '-' || v > INT64_MAX) {
                pg_errmsg_set(err, errlen, "line %zu: count \"%s\" is not a non-negative integer",
                              lineno, num);
                goto fail;
            }
            value = (int64_t)v;
            stk_len = (size_t)(sp - line);
        }
        if (timed && __builtin_mul_overflow(value, period, &value)) {
            pg_errmsg_set(err, errlen, "line %zu: count overflows when scaled to nanoseconds",
                          lineno);
            goto fail;
        }
        /* frames root first -> location ids leaf first (reversed below) */
        size_t nf = 0;
        const char *fs = line, *stk_end = line + stk_len;
        while (fs <= stk_end) {
            const char *fe = memchr(fs, ';', (size_t)(stk_end - fs));
            if (!fe)
                fe = stk_end;
            if (fe > fs) {
                uint64_t id = folded_loc(&f, fs, (size_t)(fe - fs));
                if (!id)
                    goto oom;
                if (nf == stack_cap) {
                    size_t nc = grow_cap(stack_cap, 64, sizeof(*stack));
                    uint64_t *ns =
                        nc ? brealloc(&f.bud, stack, stack_cap * sizeof(*ns), nc * sizeof(*ns))
                           : NULL;
                    if (!ns)
                        goto oom;
                    stack = ns;
                    stack_cap = nc;
                }
                stack[nf++] = id;
            }
            fs = fe + 1;
        }
        if (!nf) {
            pg_errmsg_set(err, errlen, "line %zu: empty stack", lineno);
            goto fail;
        }
        for (size_t i = 0; i < nf / 2; i++) {
            uint64_t t = stack[i];
            stack[i] = stack[nf - 1 - i];
            stack[nf - 1 - i] = t;
        }
        int src = folded_sample(&f, stack, nf, value);
        if (src == -2) {
            pg_errmsg_set(err, errlen, "line %zu: the counts of this stack overflow when summed",
                          lineno);
            goto fail;
        }
        if (src < 0)
            goto oom;
    }
    if (!f.samples.n) {
        pg_errmsg_set(err, errlen, "no samples in the body");
        goto fail;
    }
    {
        Perftools__Profiles__Profile prof;
        perftools__profiles__profile__init(&prof);
        Perftools__Profiles__ValueType vt, pt;
        perftools__profiles__value_type__init(&vt);
        perftools__profiles__value_type__init(&pt);
        Perftools__Profiles__ValueType *vtp = &vt;
        int64_t ti = strtab_add(&f.st, &f.bud, type, strlen(type));
        int64_t ui = strtab_add(&f.st, &f.bud, unit, strlen(unit));
        if (ti < 0 || ui < 0)
            goto oom;
        vt.type = ti;
        vt.unit = ui;
        prof.n_sample_type = 1;
        prof.sample_type = &vtp;
        if (timed) {
            int64_t ci = strtab_add(&f.st, &f.bud, "cpu", 3);
            int64_t ni = strtab_add(&f.st, &f.bud, "nanoseconds", 11);
            if (ci < 0 || ni < 0)
                goto oom;
            pt.type = ci;
            pt.unit = ni;
            prof.period_type = &pt;
            prof.period = period;
        }
        prof.n_sample = f.samples.n;
        prof.sample = (Perftools__Profiles__Sample **)f.samples.v;
        prof.n_location = f.locs.n;
        prof.location = (Perftools__Profiles__Location **)f.locs.v;
        prof.n_function = f.funcs.n;
        prof.function = (Perftools__Profiles__Function **)f.funcs.v;
        prof.n_string_table = f.st.n;
        prof.string_table = f.st.v;
        prof.time_nanos = from_ns;
        int64_t span;
        prof.duration_nanos =
            until_ns > from_ns && !__builtin_sub_overflow(until_ns, from_ns, &span) ? span : 0;
        size_t sz = perftools__profiles__profile__get_packed_size(&prof);
        uint8_t *buf = bmalloc(&f.bud, sz);
        if (!buf)
            goto oom;
        *outlen = perftools__profiles__profile__pack(&prof, buf);
        *out = buf;
    }
    rc = 0;
    goto done;
oom:
    if (f.bud.exceeded) {
        pg_errmsg_set(err, errlen,
                      "folded profile too large: converting it to pprof needs more than %zu "
                      "bytes (%dx the %zu-byte body + 1 MiB)",
                      f.bud.limit, PG_INGEST_FOLDED_BUDGET_RATIO, len);
        rc = -2;
    } else {
        pg_errmsg_set(err, errlen, "out of memory");
    }
fail:
done:
    free(stack);
    folded_free(&f);
    return rc;
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

int pg_ingest_utf8_valid(const char *s, size_t len)
{
    return pg_utf8_valid(s, len);
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

int pg_ingest_tenant_valid(const char *s)
{
    size_t n = strlen(s);
    if (!n || n > PG_INGEST_MAX_TENANT_LEN || !strcmp(s, ".") || !strcmp(s, ".."))
        return 0;
    for (; *s; s++)
        if (!(isalnum((unsigned char)*s) || strchr("!-_.*'()", *s)))
            return 0;
    return 1;
}

int pg_ingest_base64_decode(const char *in, size_t len, uint8_t **out, size_t *outlen)
{
    return pg_base64_decode(in, len, 0, out, outlen);
}
