/* oauth2.h - OAuth 2.0 client credentials tokens for core/httpc, fetched on the loop.
 *
 * One token cache per curl multi driver (kept in its pg_curlm_ext slot, freed with it),
 * keyed by (token_url, client_id, scopes) and the rest of the oauth2 block (its hash:
 * endpoint_params, the secret, the token endpoint's TLS and proxy). A request needing a token asks
 * pg_oauth2_token: a cached token still valid (Go's oauth2: until 10 s before expires_in;
 * forever without expires_in) is returned at once; otherwise the request waits in the
 * entry's queue and at most one fetch per entry is in flight (no stampede on the token
 * server), through core/httpc like any other request: POST token_url with
 * "grant_type=client_credentials", scope (space-joined scopes) and endpoint_params
 * (form-encoded, sorted by name), the client credentials as HTTP Basic auth
 * (form-escaped), the oauth2 block's own tls_config and proxy. As Go's AuthStyleAutoDetect,
 * a first fetch that fails is tried once more with client_id and client_secret in the form
 * instead, and the style that worked is kept for the entry.
 * client_secret_file is read at every fetch. When the fetch ends, every waiter gets the
 * "Authorization" value ("Bearer <token>") or an error text, from the loop. A failed
 * fetch is not cached: the next request tries again. After a 401 the caller drops the
 * token it used (pg_oauth2_invalidate) and asks again. */
#ifndef PG_CORE_OAUTH2_H
#define PG_CORE_OAUTH2_H

#include <stddef.h>
#include <stdint.h>

#include "core/curlm.h"
#include "core/httpcfg.h"

/* Called once from the loop with the Authorization header value, or authorization NULL
 * and a one-line error ("oauth2: cannot fetch token: ..."), both borrowed for the call. */
typedef void (*pg_oauth2_fn)(void *ud, const char *authorization, const char *error);

struct pg_oauth2_entry;

/* A place in an entry's queue, embedded in the waiting request. */
struct pg_oauth2_wait {
    struct pg_oauth2_wait *next, *prev;
    struct pg_oauth2_entry *entry; /* NULL when not queued */
    pg_oauth2_fn fn;
    void *ud;
};

/* Longest Authorization value handed out ("<type> <token>"); longer tokens fail. */
#define PG_OAUTH2_MAX_AUTH 8192

/* Returns 1 with a valid cached value in out (outlen >= PG_OAUTH2_MAX_AUTH); or 0 when w
 * (zeroed or unused by the caller) was queued: fn(ud, ...) will be called once from the
 * loop, never from inside this call; or -1 with a reason in err (OOM, the fetch could not
 * start). */
int pg_oauth2_token(struct pg_curlm *m, const struct pg_httpc_oauth2 *cfg, struct pg_oauth2_wait *w,
                    pg_oauth2_fn fn, void *ud, char *out, size_t outlen, char *err, size_t errlen);

/* Forgets cfg's cached token if it is still authorization (the value a request used and
 * got 401 for), so the next pg_oauth2_token fetches a new one. */
void pg_oauth2_invalidate(struct pg_curlm *m, const struct pg_httpc_oauth2 *cfg,
                          const char *authorization);

/* Leaves the queue (fn is then not called). Accepts a w that is not queued. */
void pg_oauth2_cancel(struct pg_oauth2_wait *w);

/* Parses a token endpoint's answer body[0..len) (untrusted: JSON with access_token,
 * token_type, expires_in): *auth = the Authorization value ("Bearer <token>", a new
 * string) and *expires_s = expires_in in seconds (0 when absent or not positive, at most
 * 10 years). Returns 0, or -1 with *auth NULL and a reason in err. Pure, any thread. */
int pg_oauth2_parse_answer(const uint8_t *body, size_t len, char **auth, double *expires_s,
                           char *err, size_t errlen);

/* Token fetches started so far on m (for tests and metrics). */
unsigned long pg_oauth2_fetches(const struct pg_curlm *m);

#endif
