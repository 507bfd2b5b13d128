/* client.h - a minimal Kubernetes API client: where the API is, how to authenticate, and
 * asynchronous GETs whose body is either gathered whole (LIST) or split into lines as it
 * arrives (WATCH streams are newline-delimited JSON events).
 *
 * Where the API is and how to authenticate follows client-go's rules as Prometheus uses
 * them: api_server set → that URL with the config's HTTP client options; kubeconfig_file
 * set → its current context (cluster server, certificate-authority(-data),
 * insecure-skip-tls-verify, tls-server-name, proxy-url; user client-certificate(-data),
 * client-key(-data), token, tokenFile, username/password); neither → in-cluster:
 * https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT with the service account's
 * ca.crt and token. Token files are re-read whenever their mtime changes (checked at every
 * request start) so rotated service-account tokens are picked up, as client-go does. The
 * service-account directory is /var/run/secrets/kubernetes.io/serviceaccount unless the
 * environment variable PROFGATE_K8S_SA_DIR names another one (for tests).
 *
 * Requests are core/httpc requests on a struct pg_curlm (core/curlm.h), with its pooled
 * easy handles; a watch uses httpc's streaming mode. */
#ifndef PG_DISCOVERY_KUBE_CLIENT_H
#define PG_DISCOVERY_KUBE_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "discovery/kubernetes/sd_config.h"
#include "core/curlm.h"
#include "core/linesplit.h"

#define PG_KUBE_SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"

/* ---- kubeconfig ---------------------------------------------------------------------- */

/* What the current context of a kubeconfig file says. Every member is owned (NULL/0 when
 * absent); relative file names are resolved against the kubeconfig's directory; *_data
 * members are base64-decoded. */
struct pg_kube_kubeconfig {
    char *server;
    char *ca_file;
    uint8_t *ca_data;
    size_t ca_len;
    char *cert_file, *key_file;
    uint8_t *cert_data, *key_data;
    size_t cert_len, key_len;
    char *token, *token_file;
    char *username, *password;
    char *namespace_; /* context namespace */
    char *tls_server_name;
    char *proxy_url;
    int insecure_skip_verify;
};

/* Parses path into out (zeroed first). Returns 0, or -1 with a reason in err (out then
 * needs no reset). */
int pg_kube_kubeconfig_load(const char *path, struct pg_kube_kubeconfig *out, char *err,
                            size_t errlen);

/* Frees what k owns. Accepts a zeroed k. */
void pg_kube_kubeconfig_reset(struct pg_kube_kubeconfig *k);

/* ---- client -------------------------------------------------------------------------- */

struct pg_kube_client;

/* Resolves where and how to talk to the API for cfg (borrowed; must outlive the client).
 * Returns a new client, or NULL with a reason in err (e.g. in-cluster variables missing,
 * unreadable kubeconfig). */
struct pg_kube_client *pg_kube_client_create(const struct pg_cfg_kube_sd *cfg, char *err,
                                             size_t errlen);

/* Frees c. Requests started on it must have finished or been cancelled. Accepts NULL. */
void pg_kube_client_destroy(struct pg_kube_client *c);

/* Returns the API base URL without a trailing slash, for logs: a password in its userinfo
 * is shown as "<secret>" ("http://bob:<secret>@host"). Borrowed. */
const char *pg_kube_client_server(const struct pg_kube_client *c);

/* Returns the namespace profgate runs in (service account's namespace file, else the
 * kubeconfig context's namespace), borrowed, or NULL when unknown. */
const char *pg_kube_client_own_namespace(const struct pg_kube_client *c);

/* What a finished request produced, borrowed for the duration of the callback. */
struct pg_kube_resp {
    long status;       /* HTTP status, 0 when no response arrived */
    int failed;        /* transport failure, aborted stream, or body over the limit */
    const char *error; /* one-line reason when failed, else NULL */
    const char *body;  /* whole-body mode: the body (NUL-terminated); stream mode: the
                          first bytes of a non-2xx body (NUL-terminated); never NULL */
    size_t len;
    double duration_s;
};

/* Called once from the loop when the request ended; the request is freed right after.
 * resp->error never shows the URL's password and has no '"' or control characters. */
typedef void (*pg_kube_done_fn)(void *ud, const struct pg_kube_resp *resp);

struct pg_kube_req;

/* GETs server + path_query on m (borrowed; must outlive the request). With on_line NULL the
 * body is gathered (at most max bytes, else failure); otherwise a 2xx body is split into
 * lines of at most max bytes handed to on_line (with ud) as they arrive (a non-2xx body is
 * kept, up to 64 KiB, for the error); on_line must not cancel the request, it returns -1 to
 * stop it. timeout_ms bounds the whole request (0 = none). Returns the request (owned by
 * itself until done runs), or NULL with a reason in err (log-safe as resp->error). */
struct pg_kube_req *pg_kube_get(struct pg_kube_client *c, struct pg_curlm *m,
                                const char *path_query, size_t max, int64_t timeout_ms,
                                pg_linesplit_fn on_line, pg_kube_done_fn done, void *ud, char *err,
                                size_t errlen);

/* Aborts a running request; done is not called. Accepts NULL. */
void pg_kube_cancel(struct pg_kube_req *r);

#endif
