/* web_auth.h - HTTP basic authentication against bcrypt hashes (--web.config.file's
 * basic_auth_users), with the exporter-toolkit's cache.
 *
 * A bcrypt check costs 50-250 ms at cost 10, too long for the event loop. So a check is
 * split: pg_web_auth_lookup answers from a cache of recent outcomes keyed by
 * SHA-256(user, hash, password) (only a digest is kept, never the password), and a miss
 * is decided by pg_web_auth_verify, which the server runs on a processing worker
 * (core/workq.h), one at a time, then stored with pg_web_auth_remember (a check that
 * waited meanwhile asks pg_web_auth_recall first). As in the toolkit, an unknown
 * user is checked against a fixed dummy hash so that its answer takes as long as a wrong
 * password's, and both successes and failures are cached. bcrypt itself is libxcrypt's
 * crypt_r (libcrypt), which handles $2a$, $2b$ and $2y$; the result is compared in
 * constant time. */
#ifndef PG_DAEMON_WEB_AUTH_H
#define PG_DAEMON_WEB_AUTH_H

#include <stddef.h>

#include "daemon/web_config.h"

struct pg_web_auth;

/* One credential to decide: copies of what the request sent and of the hash to check it
 * against, and the outcome. Self-contained, so it can go to a worker. */
struct pg_web_auth_check {
    unsigned char key[32]; /* the cache key */
    char *password;        /* wiped and freed by pg_web_auth_check_free */
    char *hash;
    int known_user; /* the user exists in the config */
    int ok;         /* set by pg_web_auth_verify */
};

/* A cache of up to capacity outcomes. NULL on OOM. */
struct pg_web_auth *pg_web_auth_new(size_t capacity);

/* Decides an Authorization header value (NULL when absent) against cfg's users.
 * Returns 1 (allowed, cached), 0 (refused, cached) or PG_WEB_AUTH_NO_CREDENTIALS
 * (refused: no header, not Basic, malformed, or out of memory); or PG_WEB_AUTH_VERIFY
 * when a bcrypt check is needed: *check is then a new check to pass to pg_web_auth_verify
 * and pg_web_auth_remember (or to free). Loop thread. */
#define PG_WEB_AUTH_VERIFY (-1)
#define PG_WEB_AUTH_NO_CREDENTIALS (-2)
int pg_web_auth_lookup(struct pg_web_auth *a, const struct pg_web_config *cfg, const char *header,
                       struct pg_web_auth_check **check);

/* Returns check's cached outcome (0 or 1), or -1 when it is not cached (yet): for a
 * check that waited while the same credentials were decided. Loop thread. */
int pg_web_auth_recall(const struct pg_web_auth *a, const struct pg_web_auth_check *check);

/* Runs the bcrypt comparison of check and sets check->ok. Any thread. */
void pg_web_auth_verify(struct pg_web_auth_check *check);

/* Stores check's outcome in the cache. Loop thread. */
void pg_web_auth_remember(struct pg_web_auth *a, const struct pg_web_auth_check *check);

/* Frees a check (its password wiped). Accepts NULL. */
void pg_web_auth_check_free(struct pg_web_auth_check *check);

/* Forgets every cached outcome (the users changed). */
void pg_web_auth_clear(struct pg_web_auth *a);

/* Frees a. Accepts NULL. */
void pg_web_auth_free(struct pg_web_auth *a);

#endif
