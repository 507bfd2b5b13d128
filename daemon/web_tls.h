/* web_tls.h - TLS for one of profgate's HTTP listeners (the web port, the receiver's own
 * port): an OpenSSL server context built from a tls_server_config (yamlcfg/tls_server.h),
 * re-read without a restart when its files change, and the handshake failures counted.
 *
 * Before each accepted connection gets its SSL (pg_web_tls_new_ssl), the certificate, key
 * and client CA files are stat'ed; when one changed (mtime, size or inode: an in-place
 * write or a Kubernetes secret's symlink swap), the context is rebuilt. A rebuild that
 * fails (a half-written file, a key that does not match) keeps the previous context,
 * logs why and is counted; the next change retries. Connections already open keep the
 * context they started with.
 *
 * Every connection that closes before its handshake completed (plain HTTP sent to the TLS
 * port, a refused or missing client certificate, a version outside min/max, a client that
 * hung up) counts in profgate_http_tls_handshake_errors_total{listener}. Rebuilds count in
 * profgate_http_tls_config_reloads_total{listener,result="success"|"failure"}.
 *
 * Loop thread only. Never logs a key or a secret: errors name the file and OpenSSL's
 * reason. */
#ifndef PG_DAEMON_WEB_TLS_H
#define PG_DAEMON_WEB_TLS_H

#include <stddef.h>

#include "yamlcfg/tls_server.h"

struct pg_web_tls;
typedef struct ssl_st SSL;

/* Builds the context for cfg (copied). listener names the listener in metrics and logs
 * ("web", "receiver"). Returns NULL with a reason in err when a file cannot be read or a
 * certificate, key or CA does not load. */
struct pg_web_tls *pg_web_tls_new(const struct pg_cfg_tls_server *cfg, const char *listener,
                                  char *err, size_t errlen);

/* Switches t to new settings cfg (copied), e.g. after a reload. Returns 0, or -1 with a
 * reason in err (t keeps its settings and context). */
int pg_web_tls_update(struct pg_web_tls *t, const struct pg_cfg_tls_server *cfg, char *err,
                      size_t errlen);

/* Returns a new server-side SSL for an accepted connection, from the current context
 * (rebuilt first when a file changed), or NULL on OOM. The SSL reports its handshake's
 * outcome to t when freed: t must outlive it. */
SSL *pg_web_tls_new_ssl(struct pg_web_tls *t);

/* Drops the listener's hold on t: it is freed now, or when the last SSL it made is freed
 * (libevent frees a connection's SSL after evhttp_free returns). Accepts NULL. */
void pg_web_tls_free(struct pg_web_tls *t);

#endif
