/* receiver.h - the push receiver: Pyroscope's POST /ingest and push.v1 PusherService/Push.
 *
 * Makes profgate a gateway that Pyroscope SDKs and other profgates push to. Both routes
 * are served on the daemon's HTTP server (pg_web) and write into the durable buffer
 * through the sink writer its host hands over (struct pg_receiver_host, filled in by
 * daemon/app.c; the receiver never includes daemon/app.h): a request is answered 200 only
 * after the sink writer committed its profiles, and is stored all or nothing (a 503
 * leaves nothing of it in the buffer). Decoding and converting a request's profiles runs
 * on the host's processing workers (daemon/rx_convert.h), never on the event loop; its
 * reply waits for them.
 *
 * POST /ingest (Pyroscope's legacy SDK API; answers in plain text):
 *   ?name=app{k=v,...}&from=&until=&format=&spyName=&sampleRate= (daemon/ingest_parse.h),
 *   body = pprof (raw or gzip), multipart/form-data with a `profile` part (and optional
 *   `sample_type_config`), or folded stacks (format=folded|groups|lines, or no format and
 *   a body that is not pprof) which are converted to pprof here.
 * POST /push.v1.PusherService/Push (connect unary): Content-Type application/proto or
 *   application/json, Content-Encoding gzip accepted; errors as connect's JSON error body.
 *
 * Status codes: 400 bad metadata / labels / undecodable profile (the body says which),
 * 401 missing or wrong credential (receiver.basic_auth, receiver.bearer_tokens_file;
 * nothing stored), 405 not POST, 413 body over receiver.max_body_size, 415 (push) unknown
 * Content-Type, 429 + Retry-After while the buffer is over its high-water mark or the
 * processing workers' queue is full, 503 when the buffer could not store or commit or the
 * receiver stopped with the request in flight. X-Scope-OrgID is stored as the profile's tenant.
 * receiver.relabel_configs run over each series' labels (drop = not stored, counted).
 *
 * Metrics: profgate_receiver_requests_total{route,code},
 * profgate_receiver_profiles_total{route}, profgate_receiver_dropped_profiles_total{reason}
 * (reason: unauthorized, invalid, too_large, buffer_full, overloaded, empty, relabel,
 * relabel_error, storage, shutdown),
 * profgate_receiver_bytes_total{route}. */
#ifndef PG_DAEMON_RECEIVER_H
#define PG_DAEMON_RECEIVER_H

#include <stddef.h>

#include "config/config.h"

struct event_base;
struct pg_receiver;
struct pg_sink_writer;
struct pg_web;
struct pg_workq;

/* What the receiver needs from the daemon that hosts it (daemon/app.c fills it in).
 * pg_receiver_create copies the struct; writer, workq and ud are borrowed and must
 * outlive the receiver. */
struct pg_receiver_host {
    /* stores the profiles (a commit through it wakes the backends); the same writer for
     * the host's lifetime, whatever buffer it writes to */
    struct pg_sink_writer *writer;
    struct pg_workq *workq; /* the processing workers, or NULL: convert on the loop */
    /* 1 while the buffer is over its high-water mark: answer 429 instead of storing.
     * NULL = never full. */
    int (*buffer_full)(void *ud);
    /* called for every profile of a request once it is durable (labels after
     * receiver.relabel_configs; everything borrowed for the call; the web UI keeps the
     * last one per service). NULL = not told. */
    void (*on_stored)(void *ud, const struct pg_labels *labels, const uint8_t *body, size_t len);
    void *ud; /* passed to buffer_full and on_stored */
};

#define PG_RECEIVER_INGEST_PATH "/ingest"
#define PG_RECEIVER_PUSH_PATH "/push.v1.PusherService/Push"

/* Registers the receiver's routes on web and applies receiver.max_connections,
 * read_timeout, write_timeout and max_body_size to it. Copies *host (see struct
 * pg_receiver_host for what it borrows); borrows web, base and cfg (cfg must outlive the
 * receiver, or be replaced with pg_receiver_reconfigure before it is freed). Returns the
 * receiver, or NULL with a reason in err (nothing registered then). */
struct pg_receiver *pg_receiver_create(const struct pg_receiver_host *host, struct pg_web *web,
                                       struct event_base *base, const struct pg_cfg *cfg, char *err,
                                       size_t errlen);

/* Points r at a reloaded config (borrowed, as for create) and re-applies its limits to
 * the server. Requests in flight finish with the new relabel rules. */
void pg_receiver_reconfigure(struct pg_receiver *r, const struct pg_cfg *cfg);

/* Answers the requests still in flight 503, unregisters the routes and frees r. Accepts
 * NULL. */
void pg_receiver_destroy(struct pg_receiver *r);

#endif
