/*
 * yamlcfg/units.c - duration and byte-size parsing/formatting (Prometheus syntax).
 *
 * Durations mirror Prometheus model.ParseDuration (ordered y/w/d/h/m/s/ms
 * integer pairs, or the bare "0") and model.Duration.String. Sizes mirror
 * units.Base2Bytes: both the "KB" and "KiB" unit families are 1024-based,
 * following Prometheus, so "512MB" == 512 * 1024 * 1024 bytes. All arithmetic
 * is overflow-checked; any overflow is reported as a parse error.
 */
#include "yamlcfg/units.h"

#include "core/errmsg.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define BAD_DURATION "not a valid duration string: \"%s\""
#define BAD_SIZE "not a valid size string: \"%s\""

/* s as an error message shows it */
static const char *shown(const char *s)
{
    return s != NULL ? s : "(null)";
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Read a run of decimal digits at *p into *v (overflow -> -2, none -> -1). */
static int read_uint(const char **p, uint64_t *v)
{
    const char *q = *p;
    uint64_t acc = 0;
    if (!is_digit(*q))
        return -1;
    for (; is_digit(*q); q++) {
        uint64_t d = (uint64_t)(*q - '0');
        if (acc > (UINT64_MAX - d) / 10)
            return -2;
        acc = acc * 10 + d;
    }
    *p = q;
    *v = acc;
    return 0;
}

struct dur_unit {
    const char *name;
    int64_t mult;
};

/* Descending order; "ms" precedes "m" so the longest unit name matches first. */
static const struct dur_unit dur_units[] = {
    {"y", 365LL * 24 * 60 * 60 * 1000},
    {"w", 7LL * 24 * 60 * 60 * 1000},
    {"d", 24LL * 60 * 60 * 1000},
    {"h", 60LL * 60 * 1000},
    {"m", 60LL * 1000},
    {"s", 1000LL},
    {"ms", 1LL},
};
#define N_DUR_UNITS (sizeof(dur_units) / sizeof(dur_units[0]))

int pg_units_parse_duration(const char *s, int64_t *out_ms, char *err, size_t errlen)
{
    if (s == NULL || out_ms == NULL) {
        pg_errmsg_set(err, errlen, BAD_DURATION, shown(s));
        return -1;
    }
    if (*s == '\0') {
        pg_errmsg_set(err, errlen, "empty duration string");
        return -1;
    }
    if (strcmp(s, "0") == 0) {
        *out_ms = 0;
        return 0;
    }
    const char *p = s;
    size_t next = 0; /* index of the smallest unit still allowed */
    int64_t total = 0;
    while (*p != '\0') {
        uint64_t v;
        int rc = read_uint(&p, &v);
        if (rc == -2) {
            pg_errmsg_set(err, errlen, "duration out of range: \"%s\"", shown(s));
            return -1;
        }
        if (rc != 0) {
            pg_errmsg_set(err, errlen, BAD_DURATION, shown(s));
            return -1;
        }
        /* Identify the unit: "ms" must be checked before "m". */
        size_t u;
        if (p[0] == 'm' && p[1] == 's')
            u = 6;
        else if (p[0] == 'y')
            u = 0;
        else if (p[0] == 'w')
            u = 1;
        else if (p[0] == 'd')
            u = 2;
        else if (p[0] == 'h')
            u = 3;
        else if (p[0] == 'm')
            u = 4;
        else if (p[0] == 's')
            u = 5;
        else {
            pg_errmsg_set(err, errlen, BAD_DURATION, shown(s));
            return -1;
        }
        if (u < next) { /* repeated or out of order */
            pg_errmsg_set(err, errlen, BAD_DURATION, shown(s));
            return -1;
        }
        next = u + 1;
        p += strlen(dur_units[u].name);
        uint64_t mult = (uint64_t)dur_units[u].mult;
        if (v > (uint64_t)INT64_MAX / mult || (int64_t)(v * mult) > INT64_MAX - total) {
            pg_errmsg_set(err, errlen, "duration out of range: \"%s\"", shown(s));
            return -1;
        }
        total += (int64_t)(v * mult);
    }
    *out_ms = total;
    return 0;
}

static int fail_buf(char *buf, size_t len)
{
    if (buf != NULL && len > 0)
        buf[0] = '\0';
    return -1;
}

int pg_units_format_duration(int64_t ms, char *buf, size_t len)
{
    if (buf == NULL || len == 0 || ms < 0)
        return fail_buf(buf, len);
    if (ms == 0) {
        if (len < 3)
            return fail_buf(buf, len);
        memcpy(buf, "0s", 3);
        return 0;
    }
    size_t off = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < N_DUR_UNITS; i++) {
        int64_t mult = dur_units[i].mult;
        /* Like Prometheus, weeks are only used when they divide exactly. */
        if (i == 1 && ms % mult != 0)
            continue;
        int64_t v = ms / mult;
        if (v <= 0)
            continue;
        int n = snprintf(buf + off, len - off, "%" PRId64 "%s", v, dur_units[i].name);
        if (n < 0 || (size_t)n >= len - off)
            return fail_buf(buf, len);
        off += (size_t)n;
        ms -= v * mult;
    }
    return 0;
}

struct size_unit {
    const char *name;
    uint64_t mult;
};

/* Base-2 for both families, as in Prometheus' units.Base2Bytes. */
static const struct size_unit size_units[] = {
    {"B", 1ULL},         {"KB", 1ULL << 10}, {"KiB", 1ULL << 10}, {"MB", 1ULL << 20},
    {"MiB", 1ULL << 20}, {"GB", 1ULL << 30}, {"GiB", 1ULL << 30}, {"TB", 1ULL << 40},
    {"TiB", 1ULL << 40}, {"PB", 1ULL << 50}, {"PiB", 1ULL << 50}, {"EB", 1ULL << 60},
    {"EiB", 1ULL << 60},
};
#define N_SIZE_UNITS (sizeof(size_units) / sizeof(size_units[0]))

int pg_units_parse_size(const char *s, uint64_t *out_bytes, char *err, size_t errlen)
{
    if (s == NULL || out_bytes == NULL || *s == '\0') {
        pg_errmsg_set(err, errlen, BAD_SIZE, shown(s));
        return -1;
    }
    const char *p = s;
    uint64_t v;
    int rc = read_uint(&p, &v);
    if (rc == -2) {
        pg_errmsg_set(err, errlen, "size out of range: \"%s\"", shown(s));
        return -1;
    }
    if (rc != 0) {
        pg_errmsg_set(err, errlen, BAD_SIZE, shown(s));
        return -1;
    }
    uint64_t mult = 1;
    if (*p != '\0') {
        size_t i;
        for (i = 0; i < N_SIZE_UNITS; i++)
            if (strcmp(p, size_units[i].name) == 0)
                break;
        if (i == N_SIZE_UNITS) {
            pg_errmsg_set(err, errlen, BAD_SIZE, shown(s));
            return -1;
        }
        mult = size_units[i].mult;
    }
    if (v > UINT64_MAX / mult) {
        pg_errmsg_set(err, errlen, "size out of range: \"%s\"", shown(s));
        return -1;
    }
    *out_bytes = v * mult;
    return 0;
}

int pg_units_format_size(uint64_t bytes, char *buf, size_t len)
{
    static const char *iec[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    if (buf == NULL || len == 0)
        return fail_buf(buf, len);
    size_t u = 0;
    uint64_t v = bytes;
    while (v != 0 && u + 1 < sizeof(iec) / sizeof(iec[0]) && (v & 1023u) == 0) {
        v >>= 10;
        u++;
    }
    int n = snprintf(buf, len, "%" PRIu64 "%s", v, iec[u]);
    if (n < 0 || (size_t)n >= len)
        return fail_buf(buf, len);
    return 0;
}
