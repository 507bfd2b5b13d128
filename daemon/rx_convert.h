/* rx_convert.h - the push receiver's CPU work: one request's bytes -> the profiles to
 * store. Runs on a processing worker (core/workq.h), so it touches only the job: no
 * event loop, no metrics, no logging, no config.
 *
 * daemon/receiver.c keeps on the loop what needs it (method, credentials, tenant, size
 * and buffer checks, Content-Type, relabeling, storing and the reply) and hands the rest
 * to a worker as a struct pg_rx_job: decompressing, the /ingest query and multipart
 * body, pprof decoding and validation, the folded-stacks conversion, push.v1 protobuf
 * and JSON decoding with base64. pg_rx_convert fills the job's items, or its answer
 * (HTTP status, drop reason and message) when the request is refused.
 *
 * Hostile input is bounded per request: the decompressed raw profiles of one push
 * together by PG_RX_INFLATE_RATIO x max_body (413 past it), each profile's decoding by
 * pg_pprof_check's budget and the folded conversion by its own. */
#ifndef PG_DAEMON_RX_CONVERT_H
#define PG_DAEMON_RX_CONVERT_H

#include <stddef.h>
#include <stdint.h>

#include "core/labels.h"

/* The raw profiles of one push request may decompress to at most this many times
 * max_body in total (each one to at most max_body). */
#define PG_RX_INFLATE_RATIO 4

enum pg_rx_route { PG_RX_INGEST = 0, PG_RX_PUSH = 1 };

/* One profile ready to be stored. */
struct pg_rx_item {
    struct pg_labels labels; /* the series, validated (before receiver.relabel_configs) */
    int64_t from_ns, until_ns;
    const uint8_t *body; /* points into the job's body, or == owned */
    size_t len;
    uint8_t *owned;
    int stored; /* set on the loop once appended (after receiver.relabel_configs) */
};

struct pg_rx_items {
    struct pg_rx_item *v;
    size_t n, cap;
};

/* What pg_rx_convert sets in status. */
#define PG_RX_STORE 0 /* store items */

struct pg_rx_job {
    /* inputs, owned by the job (pg_rx_job_free frees them) */
    enum pg_rx_route route;
    int json;      /* push: Content-Type is application/json (else proto) */
    uint8_t *body; /* the request body (malloc'd, len bytes; never NULL) */
    size_t len;
    char *query;            /* ingest: the request URI's query string, or NULL */
    char *content_type;     /* ingest: the Content-Type header, or NULL */
    char *content_encoding; /* push: "gzip" when the body is gzip, else NULL */
    uint64_t max_body;      /* receiver.max_body_size */
    /* outputs */
    int status;         /* PG_RX_STORE, 200 (answer OK, store nothing) or the HTTP error status */
    const char *reason; /* with status != PG_RX_STORE: the drop reason to count (static
                           string: invalid, too_large, empty), or NULL (out of memory) */
    char err[512];      /* with an error status: the message for the client */
    struct pg_rx_items items; /* with PG_RX_STORE: at least one profile */
};

/* Converts job's request (inputs) into items or a refusal (outputs). Thread-safe: reads
 * and writes only job. */
void pg_rx_convert(struct pg_rx_job *job);

/* Frees the items' labels and bodies and empties the list. */
void pg_rx_items_reset(struct pg_rx_items *it);

/* Frees the job's inputs and outputs and the job. Accepts NULL. */
void pg_rx_job_free(struct pg_rx_job *job);

#endif
