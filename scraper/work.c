/* work.c - the CPU work of one scrape on a worker thread (see work.h).
 *
 * pg_scrape_work: transport gunzip (Content-Encoding: gzip) -> pprof check/decode
 * (profile/pprof.h: streaming wire-format check, no protobuf-c object graph) -> for delta
 * kinds: scrape_delta (profile/fastdelta.h on the encoded bytes: the first scrape primes,
 * later ones are gzip-compressed with libdeflate) -> j->out. Everything it reads or
 * writes is in the job. */
#include "scraper/work.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "profile/fastdelta.h"
#include "profile/gz.h"
#include "profile/pprof.h"

/* gzip level of re-compressed deltas. Measured with tests/bench/bench_profile on the
 * generator's heap profile (556 KB decoded, 3000 stacks; docs/performance.md): level 1
 * gives 217.5 KB in 3.9 ms, level 6 198.4 KB in 9.7 ms: 9 % fewer bytes for 2.5x the CPU,
 * and re-compression is most of a delta scrape's cost, so level 1. */
#define PG_SCRAPE_DELTA_GZIP_LEVEL 1

/* The delta step on the uncompressed profile raw: turns it into the delta against
 * j->delta (profile/fastdelta.h, on the wire format), moves the baseline on, and (unless
 * this scrape only primed or found a counter reset) gzips the result into j->out.
 * Returns 0, or -1 with a reason in j->err: the baseline is unchanged when the delta
 * itself failed; when only the gzip failed (out of memory) the baseline has moved and
 * that interval is lost. */
static int scrape_delta(struct pg_scrape_job *j, const uint8_t *raw, size_t rawlen)
{
    static const char *const alloc[] = {"alloc_objects", "alloc_space"};
    static const char *const contention[] = {"contentions", "delay"};
    const char *const *types = NULL;
    size_t n = 0; /* 0: every sample type (PG_SCRAPE_DELTA_ALL) */
    if (j->delta_kind == PG_SCRAPE_DELTA_ALLOC) {
        types = alloc;
        n = 2;
    } else if (j->delta_kind == PG_SCRAPE_DELTA_CONTENTION) {
        types = contention;
        n = 2;
    }
    struct pg_fastdelta_result res;
    char why[256];
    if (pg_fastdelta_apply(j->delta, raw, rawlen, types, n, &res, why, sizeof why) != 0) {
        snprintf(j->err, sizeof j->err, "%s%s", strncmp(why, "delta:", 6) ? "delta: " : "", why);
        return -1;
    }
    /* the baseline moved: the next delta starts at this scrape's start */
    j->from_ns = j->base_start_ns;
    j->base_start_ns = j->start_ns;
    if (res.primed || res.reset) {
        j->primed = 1;
        j->reset = res.reset;
        return 0;
    }
    int rc = pg_gz_deflate(res.out, res.len, PG_SCRAPE_DELTA_GZIP_LEVEL, &j->out, &j->out_len);
    free(res.out);
    if (rc != 0) {
        snprintf(j->err, sizeof j->err, "out of memory compressing the delta profile");
        return -1;
    }
    return 0;
}

static int fail(struct pg_scrape_job *j)
{
    j->rc = -1;
    return -1;
}

int pg_scrape_work(struct pg_scrape_job *j)
{
    j->rc = 0;
    j->from_ns = j->start_ns;
    j->until_ns = j->end_ns;
    const uint8_t *body = j->body;
    size_t len = j->len;
    uint8_t *decoded = NULL;
    /* a transport-level gzip (Content-Encoding) is undone here; pprof's own gzip stays */
    if (j->content_encoding && !strcasecmp(j->content_encoding, "gzip") && len >= 2 &&
        body[0] == 0x1f && body[1] == 0x8b) {
        if (pg_gz_inflate(body, len, j->limit, &decoded, &len, j->err, sizeof j->err) != 0)
            return fail(j);
        body = decoded;
    }
    uint8_t *raw = NULL;
    size_t rawlen = 0;
    if (j->delta_kind != PG_SCRAPE_DELTA_NONE) {
        /* fastdelta checks the structure itself: only the body checks and gunzip here */
        if (pg_pprof_unwrap(body, len, j->content_type, j->limit, &raw, &rawlen, j->err,
                            sizeof j->err) != 0) {
            free(decoded);
            return fail(j);
        }
        int rc = scrape_delta(j, raw, rawlen);
        free(raw);
        free(decoded);
        return rc != 0 ? fail(j) : 0;
    }
    if (pg_pprof_prepare(body, len, j->content_type, j->limit, &raw, &rawlen, j->err,
                         sizeof j->err) != 0) {
        free(decoded);
        return fail(j);
    }
    free(raw); /* only the check's verdict is needed */
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
    pg_fastdelta_free(j->delta);
    free(j);
}
