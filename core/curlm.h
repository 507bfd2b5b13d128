/* curlm.h - libcurl's multi interface driven by one libevent loop.
 *
 * As curl's docs/examples/hiperfifo.c: CURLMOPT_SOCKETFUNCTION adds/updates/removes one
 * libevent event per socket curl wants watched, CURLMOPT_TIMERFUNCTION arms one libevent
 * timer, and both call curl_multi_socket_action. Finished transfers (CURLMSG_DONE) are
 * reported through the done callback given to pg_curlm_add. No thread, no blocking call:
 * every outgoing HTTP request of profgate goes through here (usually via core/httpc.h).
 *
 * pg_curlm uses CURLOPT_PRIVATE of the easy handles it is given; callers must not.
 *
 * It also keeps a small pool of idle easy handles (pg_curlm_easy_get/put) so that a
 * request does not pay curl_easy_init/cleanup (a ~5.4 KB struct and its setup) every time:
 * a handle given back is curl_easy_reset (every option back to libcurl's default; what
 * curl_easy_reset keeps is only caches: connections live in the multi handle anyway) and
 * kept if the pool has room (PG_CURLM_POOL_MAX), else cleaned up. */
#ifndef PG_CORE_CURLM_H
#define PG_CORE_CURLM_H

#include <curl/curl.h>
#include <stddef.h>

struct event_base;
struct pg_curlm;

/* Called once, from the loop, when easy's transfer ended with result (CURLE_OK or an
 * error). easy is no longer in the multi handle; the callee owns it again (may free it,
 * or re-add it). Never called from inside pg_curlm_add or pg_curlm_remove. */
typedef void (*pg_curlm_done_fn)(void *ud, CURL *easy, CURLcode result);

/* Returns a new multi driver on base (borrowed; must outlive it), or NULL on failure. */
struct pg_curlm *pg_curlm_create(struct event_base *base);

/* Starts easy (borrowed: the caller keeps ownership but must not free or reuse it until
 * done is called or pg_curlm_remove returns). Returns 0, or -1 (easy not added). */
int pg_curlm_add(struct pg_curlm *m, CURL *easy, pg_curlm_done_fn done, void *ud);

/* Cancels easy's transfer if it is running (done is not called). Safe for a handle that
 * is not (or no longer) in m. */
void pg_curlm_remove(struct pg_curlm *m, CURL *easy);

/* Idle easy handles kept at most (each ~5.4 KB with libcurl 7.88). */
#define PG_CURLM_POOL_MAX 64

/* Returns an easy handle with every option at libcurl's default: a pooled one or a new
 * one; NULL when out of memory. Give it back with pg_curlm_easy_put (or free it with
 * curl_easy_cleanup). */
CURL *pg_curlm_easy_get(struct pg_curlm *m);

/* Takes back easy, which must not be running (done was called, or pg_curlm_remove
 * returned, or it was never added): resets it and pools it, or cleans it up when the pool
 * is full. Accepts NULL. */
void pg_curlm_easy_put(struct pg_curlm *m, CURL *easy);

/* Returns the number of idle handles in the pool. */
size_t pg_curlm_pooled(const struct pg_curlm *m);

/* Returns the number of transfers currently added. */
size_t pg_curlm_running(const struct pg_curlm *m);

/* One service living as long as the driver (core/oauth2.c's token cache): pg_curlm_ext
 * returns it (NULL until set); pg_curlm_set_ext stores it with the function that frees it,
 * which pg_curlm_destroy calls first, while the service's own transfers can still be
 * cancelled. */
void *pg_curlm_ext(const struct pg_curlm *m);
void pg_curlm_set_ext(struct pg_curlm *m, void *ext, void (*free_fn)(void *));

/* Removes every running transfer (their done callbacks are not called), frees m's events,
 * the pooled handles and the multi handle. The easy handles of running transfers stay
 * owned by their callers. Accepts NULL. */
void pg_curlm_destroy(struct pg_curlm *m);

#endif
