/* work.h - the CPU work of one scrape, as a self-contained job for a worker thread.
 *
 * A scrape loop (scraper/loop.c) fetches on the event loop; when a 2xx body arrived it
 * builds a struct pg_scrape_job holding everything the work needs (a copy of the body, its
 * content type and encoding, the body size limit, the delta kind, the loop's delta state
 * moved in, the time stamps) and submits it to the worker pool (core/workq.h).
 * pg_scrape_work then runs on a worker: transport gunzip, pprof check, delta, encode,
 * gzip. It touches only the job: no loop, no metrics, no sink, no logging. Back on the
 * loop thread the loop takes the delta state back and hands the output to the sink.
 *
 * Ownership: the job owns body, content_type, content_encoding, out and (while it is
 * away from its loop) delta; pg_scrape_job_free frees all of them. */
#ifndef PG_SCRAPER_WORK_H
#define PG_SCRAPER_WORK_H

#include <stddef.h>
#include <stdint.h>

struct pg_fastdelta;
struct pg_scrape_loop;

/* Which sample types a cumulative profile type deltas. */
enum pg_scrape_delta_kind {
    PG_SCRAPE_DELTA_NONE = 0,
    PG_SCRAPE_DELTA_ALLOC,      /* memory: alloc_objects, alloc_space */
    PG_SCRAPE_DELTA_CONTENTION, /* block, mutex: contentions, delay */
    PG_SCRAPE_DELTA_ALL         /* custom (or other) delta types: every sample type */
};

struct pg_scrape_job {
    /* loop thread only: the loop the job came from, NULL once it is orphaned (the loop
     * was freed or stopped while the job was away) */
    struct pg_scrape_loop *loop;

    /* input, set by the loop */
    uint8_t *body; /* response body as received (owned; moved to out for raw types) */
    size_t len;
    char *content_type, *content_encoding; /* response headers or NULL (owned) */
    size_t limit;                          /* body_size_limit (decompressed size too) */
    enum pg_scrape_delta_kind delta_kind;
    struct pg_fastdelta *delta; /* the loop's baseline (delta kinds only), moved in and out */
    int64_t start_ns, end_ns;   /* this scrape's start and end (unix ns) */
    int64_t base_start_ns;      /* in: start of the scrape that set the baseline (0: none);
                                   out: start_ns when this scrape became the baseline */

    /* output, set by pg_scrape_work */
    int rc;        /* 0 ok, -1 failed: err says why (the target is down) */
    char err[512]; /* one-line reason when rc == -1 */
    int primed;    /* 1: first delta scrape, only primed the baseline; nothing to send */
    int reset;     /* 1 (with primed): a counter went down (target restarted): the baseline
                    * restarted from this scrape; nothing to send */
    uint8_t *out;  /* profile to hand to the sink (owned), NULL when primed */
    size_t out_len;
    int64_t from_ns, until_ns; /* span out covers */
};

/* Does the CPU work of one scrape on j (any thread). Sets j->rc, j->err, j->primed, j->out,
 * j->from_ns, j->until_ns and j->base_start_ns as documented above. Returns j->rc. */
int pg_scrape_work(struct pg_scrape_job *j);

/* Frees j and everything it owns (body, headers, out, delta). Accepts NULL. */
void pg_scrape_job_free(struct pg_scrape_job *j);

#endif
