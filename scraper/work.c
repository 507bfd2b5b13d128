/* work.c - the CPU work of one scrape on a worker thread (see work.h).
 *
 * pg_scrape_work: transport gunzip (Content-Encoding: gzip) -> pprof check/decode
 * (profile/pprof.h) -> for delta kinds: scrape_delta (profile/delta.h: the first scrape
 * primes; later ones are encoded and gzip-compressed) -> j->out. Everything it reads or
 * writes is in the job. */
#include "scraper/work.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <zlib.h>

#include "profile/delta.h"
#include "profile/pprof.h"

/* gzip-compresses in (level 6, gzip header) into a new buffer. Returns 0 or -1. */
static int gzip_buf(const uint8_t *in, size_t len, uint8_t **out, size_t *outlen)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (deflateInit2(&zs, 6, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return -1;
    size_t cap = (size_t)deflateBound(&zs, len > ULONG_MAX ? ULONG_MAX : (uLong)len) + 64;
    uint8_t *buf = malloc(cap);
    size_t used = 0, fed = 0;
    int rc = Z_OK;
    while (buf != NULL && rc != Z_STREAM_END) {
        if (zs.avail_in == 0 && fed < len) {
            size_t chunk = len - fed > UINT_MAX ? UINT_MAX : len - fed;
            zs.next_in = (Bytef *)(in + fed);
            zs.avail_in = (uInt)chunk;
            fed += chunk;
        }
        if (used == cap) {
            uint8_t *nb = realloc(buf, cap * 2);
            if (nb == NULL)
                break;
            buf = nb;
            cap *= 2;
        }
        size_t room = cap - used > UINT_MAX ? UINT_MAX : cap - used;
        zs.next_out = buf + used;
        zs.avail_out = (uInt)room;
        rc = deflate(&zs, fed == len ? Z_FINISH : Z_NO_FLUSH);
        used += room - zs.avail_out;
        if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR)
            break;
    }
    deflateEnd(&zs);
    if (buf == NULL || rc != Z_STREAM_END) {
        free(buf);
        return -1;
    }
    *out = buf;
    *outlen = used;
    return 0;
}

/* The delta step: turns the decoded cumulative profile prof into the delta against
 * j->delta, moves the baseline on, and (unless this scrape only primed) encodes and
 * gzips the result into j->out. Returns 0, or -1 with a reason in j->err.
 *
 * This is the one place the delta algorithm is called: a streaming delta on the wire
 * format replaces the pg_pprof_check decode + pg_delta_apply + pg_delta_encode +
 * gzip_buf sequence here and in pg_scrape_work below. */
static int scrape_delta(struct pg_scrape_job *j, Perftools__Profiles__Profile *prof)
{
    static const char *const alloc[] = {"alloc_objects", "alloc_space"};
    static const char *const contention[] = {"contentions", "delay"};
    const char *const *types;
    const char **all = NULL;
    size_t n;
    switch (j->delta_kind) {
    case PG_SCRAPE_DELTA_ALLOC:
        types = alloc;
        n = 2;
        break;
    case PG_SCRAPE_DELTA_CONTENTION:
        types = contention;
        n = 2;
        break;
    default:
        n = prof->n_sample_type;
        all = calloc(n ? n : 1, sizeof(*all));
        if (all == NULL) {
            snprintf(j->err, sizeof j->err, "out of memory");
            return -1;
        }
        for (size_t i = 0; i < n; i++)
            all[i] = prof->string_table[prof->sample_type[i]->type];
        types = all;
        break;
    }
    int primed = 0;
    int rc = pg_delta_apply(j->delta, prof, types, n, &primed);
    free(all);
    if (rc != 0) {
        if (j->delta_kind == PG_SCRAPE_DELTA_ALL)
            snprintf(j->err, sizeof j->err, "delta: cannot compute the delta of this profile");
        else
            snprintf(j->err, sizeof j->err, "delta: profile lacks sample types %s and %s", types[0],
                     types[1]);
        return -1;
    }
    /* the baseline moved: the next delta starts at this scrape's start */
    j->from_ns = j->base_start_ns;
    j->base_start_ns = j->start_ns;
    if (primed) {
        j->primed = 1;
        return 0;
    }
    uint8_t *packed = NULL;
    size_t plen = 0;
    if (pg_delta_encode(prof, &packed, &plen) != 0 ||
        gzip_buf(packed, plen, &j->out, &j->out_len) != 0) {
        free(packed);
        snprintf(j->err, sizeof j->err, "out of memory encoding the delta profile");
        return -1;
    }
    free(packed);
    return 0;
}

/* Test-only: sleeps j->test_delay_ms (PROFGATE_TEST_WORK_DELAY_MS, read once at startup by
 * the scraper) to simulate slow processing in the e2e tests. 0 in production. */
static void test_delay(const struct pg_scrape_job *j)
{
    if (j->test_delay_ms <= 0)
        return;
    struct timespec ts = {.tv_sec = j->test_delay_ms / 1000,
                          .tv_nsec = (long)(j->test_delay_ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

static int fail(struct pg_scrape_job *j)
{
    j->rc = -1;
    return -1;
}

int pg_scrape_work(struct pg_scrape_job *j)
{
    test_delay(j);
    j->rc = 0;
    j->from_ns = j->start_ns;
    j->until_ns = j->end_ns;
    const uint8_t *body = j->body;
    size_t len = j->len;
    uint8_t *decoded = NULL;
    /* a transport-level gzip (Content-Encoding) is undone here; pprof's own gzip stays */
    if (j->content_encoding && !strcasecmp(j->content_encoding, "gzip") && len >= 2 &&
        body[0] == 0x1f && body[1] == 0x8b) {
        if (pg_pprof_gunzip(body, len, j->limit, &decoded, &len, j->err, sizeof j->err) != 0)
            return fail(j);
        body = decoded;
    }
    uint8_t *raw = NULL;
    size_t rawlen = 0;
    Perftools__Profiles__Profile *prof = NULL;
    int want_prof = j->delta_kind != PG_SCRAPE_DELTA_NONE;
    if (pg_pprof_check(body, len, j->content_type, j->limit, &raw, &rawlen,
                       want_prof ? &prof : NULL, j->err, sizeof j->err) != 0) {
        free(decoded);
        return fail(j);
    }
    free(raw); /* only the check's verdict (and prof) are needed */
    if (want_prof) {
        int rc = scrape_delta(j, prof);
        pg_pprof_free(prof);
        free(decoded);
        return rc != 0 ? fail(j) : 0;
    }
    /* a raw type is sent as received (after undoing a transport gzip) */
    if (decoded != NULL) {
        j->out = decoded;
        j->out_len = len;
    } else {
        j->out = j->body;
        j->out_len = j->len;
        j->body = NULL;
        j->len = 0;
    }
    return 0;
}

void pg_scrape_job_free(struct pg_scrape_job *j)
{
    if (j == NULL)
        return;
    free(j->body);
    free(j->content_type);
    free(j->content_encoding);
    free(j->out);
    pg_delta_destroy(j->delta);
    free(j);
}
