/* receiver_internal.h - the receiver's route handlers, for in-process drivers (the
 * libFuzzer harnesses in tests/fuzz/) that build a struct evhttp_request in memory
 * instead of going through a socket. Not for daemon code: routes are registered by
 * pg_receiver_create. */
#ifndef PG_DAEMON_RECEIVER_INTERNAL_H
#define PG_DAEMON_RECEIVER_INTERNAL_H

#include "daemon/receiver.h"

struct evhttp_request;

enum pg_receiver_route { PG_RECEIVER_ROUTE_INGEST = 0, PG_RECEIVER_ROUTE_PUSH = 1 };

/* Runs the handler of route on req exactly as the HTTP server would (the handler replies
 * to, and so frees, req). */
void pg_receiver_serve(struct pg_receiver *r, struct evhttp_request *req,
                       enum pg_receiver_route route);

#endif
