/* pprof.c (profile/) - body checks, bounded gunzip and structural validation of pprof profiles
 * (see pprof.h). libdeflate does the inflating (profile/gz.c), protobuf-c the decoding; this file
 * only adds the limits and the consistency rules a collector must not take on trust. */
#include "profile/pprof.h"

#include "core/errmsg.h"

#include <ctype.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "profile/gz.h"
#include "profile/wire.h"

int pg_pprof_gunzip(const uint8_t *in, size_t inlen, size_t limit, uint8_t **out, size_t *outlen,
                    char *err, size_t errlen)
{
    return pg_gz_inflate(in, inlen, limit, out, outlen, err, errlen);
}

static int starts_with_ci(const uint8_t *p, size_t len, const char *s)
{
    size_t n = strlen(s);
    if (len < n)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (tolower(p[i]) != s[i])
            return 0;
    return 1;
}

/* Returns a reason if the body looks like a page or a JSON document, else NULL. */
static const char *sniff(const uint8_t *body, size_t len, const char *ct)
{
    if (ct && (strncasecmp(ct, "text/html", 9) == 0))
        return "body is an HTML page (Content-Type text/html)";
    if (ct && strncasecmp(ct, "application/json", 16) == 0)
        return "body is JSON, not a pprof profile";
    size_t i = 0;
    while (i < len && (body[i] == ' ' || body[i] == '\t' || body[i] == '\r' || body[i] == '\n'))
        i++;
    if (i < len && body[i] == '<' &&
        (starts_with_ci(body + i, len - i, "<!doctype") ||
         starts_with_ci(body + i, len - i, "<html") || starts_with_ci(body + i, len - i, "<?xml")))
        return "body is an HTML page";
    if (i < len && (body[i] == '{' || body[i] == '['))
        return "body is JSON, not a pprof profile";
    return NULL;
}

#define CHECK_STR(idx, what)                                                                       \
    do {                                                                                           \
        if ((idx) < 0 || (size_t)(idx) >= p->n_string_table) {                                     \
            pg_errmsg_set(err, errlen, "pprof: %s string index %lld out of range", what,           \
                          (long long)(idx));                                                       \
            return -1;                                                                             \
        }                                                                                          \
    } while (0)

int pg_pprof_validate(const Perftools__Profiles__Profile *p, char *err, size_t errlen)
{
    if (p->n_string_table == 0 || p->string_table[0][0] != '\0') {
        pg_errmsg_set(err, errlen, "pprof: string table must start with the empty string");
        return -1;
    }
    if (p->n_sample_type == 0) {
        pg_errmsg_set(err, errlen, "pprof: profile has no sample types");
        return -1;
    }
    for (size_t i = 0; i < p->n_sample_type; i++) {
        CHECK_STR(p->sample_type[i]->type, "sample type");
        CHECK_STR(p->sample_type[i]->unit, "sample unit");
    }
    if (p->period_type) {
        CHECK_STR(p->period_type->type, "period type");
        CHECK_STR(p->period_type->unit, "period unit");
    }
    for (size_t i = 0; i < p->n_function; i++) {
        CHECK_STR(p->function[i]->name, "function name");
        CHECK_STR(p->function[i]->system_name, "function system name");
        CHECK_STR(p->function[i]->filename, "function filename");
    }
    for (size_t i = 0; i < p->n_mapping; i++) {
        CHECK_STR(p->mapping[i]->filename, "mapping filename");
        CHECK_STR(p->mapping[i]->build_id, "mapping build id");
    }
    for (size_t i = 0; i < p->n_sample; i++) {
        const Perftools__Profiles__Sample *s = p->sample[i];
        if (s->n_value != p->n_sample_type) {
            pg_errmsg_set(err, errlen, "pprof: sample %zu has %zu values for %zu sample types", i,
                          s->n_value, p->n_sample_type);
            return -1;
        }
        for (size_t j = 0; j < s->n_label; j++) {
            CHECK_STR(s->label[j]->key, "label key");
            CHECK_STR(s->label[j]->str, "label value");
        }
    }
    return 0;
}

/* Decoding budget: allocations made while unpacking one profile. The memory comes from
 * malloc, so the result is freed like any protobuf-c message (NULL allocator). */
#define PG_PPROF_BUDGET_RATIO 16
#define PG_PPROF_BUDGET_SLACK ((size_t)1 << 20)

struct pg_pprof_budget {
    size_t used, limit;
    int exceeded;
};

static void *budget_alloc(void *ud, size_t size)
{
    struct pg_pprof_budget *b = ud;
    if (size > b->limit - b->used) {
        b->exceeded = 1;
        return NULL;
    }
    b->used += size;
    return malloc(size);
}

static void budget_free(void *ud, void *ptr)
{
    (void)ud;
    free(ptr);
}

int pg_pprof_unwrap(const uint8_t *body, size_t len, const char *content_type, size_t limit,
                    uint8_t **raw, size_t *rawlen, char *err, size_t errlen)
{
    if (len == 0) {
        pg_errmsg_set(err, errlen, "empty body");
        return -1;
    }
    const char *why = sniff(body, len, content_type);
    if (why) {
        pg_errmsg_set(err, errlen, "%s", why);
        return -1;
    }
    if (pg_gz_is_gzip(body, len))
        return pg_gz_inflate(body, len, limit, raw, rawlen, err, errlen);
    if (len > limit) {
        pg_errmsg_set(err, errlen, "body exceeds limit of %zu bytes", limit);
        return -1;
    }
    *raw = malloc(len);
    if (!*raw) {
        pg_errmsg_set(err, errlen, "out of memory");
        return -1;
    }
    memcpy(*raw, body, len);
    *rawlen = len;
    return 0;
}

int pg_pprof_prepare(const uint8_t *body, size_t len, const char *content_type, size_t limit,
                     uint8_t **raw, size_t *rawlen, char *err, size_t errlen)
{
    uint8_t *buf;
    size_t blen;
    if (pg_pprof_unwrap(body, len, content_type, limit, &buf, &blen, err, errlen) < 0)
        return -1;
    if (pg_pprof_wire_check(buf, blen, err, errlen) < 0) {
        free(buf);
        return -1;
    }
    *raw = buf;
    *rawlen = blen;
    return 0;
}

int pg_pprof_check(const uint8_t *body, size_t len, const char *content_type, size_t limit,
                   uint8_t **raw, size_t *rawlen, Perftools__Profiles__Profile **prof, char *err,
                   size_t errlen)
{
    uint8_t *buf;
    size_t blen;
    if (pg_pprof_unwrap(body, len, content_type, limit, &buf, &blen, err, errlen) < 0)
        return -1;
    /* protobuf-c allocates one struct per repeated element, so a tiny element (an empty
     * Sample is 2 bytes on the wire, ~88 decoded) would let a small body take gigabytes.
     * Real Go profiles decode to 5-10x their size: allow 16x + 1 MiB, no more. */
    struct pg_pprof_budget bud = {0,
                                  blen > (SIZE_MAX - PG_PPROF_BUDGET_SLACK) / PG_PPROF_BUDGET_RATIO
                                      ? SIZE_MAX
                                      : blen * PG_PPROF_BUDGET_RATIO + PG_PPROF_BUDGET_SLACK,
                                  0};
    ProtobufCAllocator alloc = {budget_alloc, budget_free, &bud};
    Perftools__Profiles__Profile *p = perftools__profiles__profile__unpack(&alloc, blen, buf);
    if (!p) {
        if (bud.exceeded)
            pg_errmsg_set(err, errlen,
                          "pprof: decoding needs more than %zu bytes (%dx the %zu-byte profile): "
                          "rejected",
                          bud.limit, PG_PPROF_BUDGET_RATIO, blen);
        else
            pg_errmsg_set(err, errlen, "pprof: body is not a valid protobuf profile");
        free(buf);
        return -1;
    }
    /* protobuf-c skips what the wire check refuses (e.g. a field numbered 0), and would
     * then re-pack bytes that no reader accepts: both must agree */
    if (pg_pprof_validate(p, err, errlen) < 0 || pg_pprof_wire_check(buf, blen, err, errlen) < 0) {
        perftools__profiles__profile__free_unpacked(p, NULL);
        free(buf);
        return -1;
    }
    if (prof)
        *prof = p;
    else
        perftools__profiles__profile__free_unpacked(p, NULL);
    *raw = buf;
    *rawlen = blen;
    return 0;
}

void pg_pprof_free(Perftools__Profiles__Profile *p)
{
    if (p)
        perftools__profiles__profile__free_unpacked(p, NULL);
}
