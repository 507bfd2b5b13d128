/* receiver_internal.h - the receiver's route handlers, for in-process drivers (the
 * libFuzzer harnesses in tests/fuzz/) that build a struct evhttp_request in memory
 * instead of going through a socket. Not for daemon code: routes are registered by
 * pg_receiver_create. */
#ifndef PG_DAEMON_RECEIVER_INTERNAL_H
#define PG_DAEMON_RECEIVER_INTERNAL_H

#include <stddef.h>

#include "daemon/receiver.h"

struct evhttp_request;

enum pg_receiver_route { PG_RECEIVER_ROUTE_INGEST = 0, PG_RECEIVER_ROUTE_PUSH = 1 };

/* Runs the handler of route on req exactly as the HTTP server would. The handler replies
 * to (and so frees) req, at once or, when the conversion goes to a worker, when the loop
 * runs its completion. */
void pg_receiver_serve(struct pg_receiver *r, struct evhttp_request *req,
                       enum pg_receiver_route route);

/* Requests whose conversion is still on a worker (their reply comes when the loop runs
 * the completion): a driver runs the loop until this is 0. */
size_t pg_receiver_inflight(const struct pg_receiver *r);

#endif
