/* web_tls.c - an HTTP listener's TLS context, rebuilt when its files change (see
 * web_tls.h). Owns its copy of the settings, the current SSL_CTX (shared by reference with
 * the SSLs of open connections, so swapping it never disturbs them) and the files'
 * last-seen stat signatures. */
#include "daemon/web_tls.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/errmsg.h"
#include "core/log.h"
#include "core/metrics.h"

/* A file's identity as far as "did it change" goes. */
struct file_sig {
    int64_t mtime_ns;
    int64_t size;
    uint64_t ino;
    int ok; /* stat succeeded */
};

enum { SIG_CERT, SIG_KEY, SIG_CA, N_SIGS };

struct pg_web_tls {
    struct pg_cfg_tls_server cfg; /* owned copy */
    char *listener;
    SSL_CTX *ctx;
    struct file_sig sigs[N_SIGS];
    struct pg_metric *m_hs_errors, *m_reloads;
    int refs; /* the listener's, plus one per SSL not freed yet (all on the loop thread):
                 libevent frees a connection's SSL after evhttp_free returns */
};

static void tls_release(struct pg_web_tls *t)
{
    if (--t->refs > 0)
        return;
    SSL_CTX_free(t->ctx);
    pg_cfg_tls_server_free(&t->cfg);
    free(t->listener);
    free(t);
}

static int ex_index = -1;
static int alert_index = -1; /* the last TLS alert of a connection: 0x100 | its code */
static pthread_once_t ex_once = PTHREAD_ONCE_INIT;

/* Called for every SSL freed in the process; ptr is the pg_web_tls of ours, NULL for
 * others' (libcurl's). A connection freed before its handshake completed failed it. */
static void on_ssl_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
    (void)ad;
    (void)idx;
    (void)argl;
    (void)argp;
    struct pg_web_tls *t = ptr;
    if (!t || !parent)
        return;
    if (!SSL_is_init_finished((SSL *)parent)) {
        const char *lv[] = {t->listener};
        pg_metric_inc(t->m_hs_errors, lv, 1);
        intptr_t alert = (intptr_t)SSL_get_ex_data((SSL *)parent, alert_index);
        pg_log_debug("web",
                     "listener=%s alert=%d alert_text=\"%s\" msg=\"TLS handshake failed or not "
                     "completed\"",
                     t->listener, alert ? (int)(alert & 0xff) : -1,
                     alert ? SSL_alert_desc_string_long((int)(alert & 0xff)) : "none");
    }
    tls_release(t);
}

static void ex_init(void)
{
    alert_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
    ex_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, on_ssl_free);
}

/* Remembers the last alert sent or received (why a handshake failed, for the log; 116 is
 * TLS 1.3's certificate_required, which OpenSSL's names leave "unknown"). */
static void on_info(const SSL *ssl, int where, int ret)
{
    if (!(where & SSL_CB_ALERT))
        return;
    SSL_set_ex_data((SSL *)ssl, alert_index, (void *)(intptr_t)(0x100 | (ret & 0xff)));
}

/* OpenSSL's reason for the last failure (the error queue is cleared). */
static void ssl_reason(char *buf, size_t len)
{
    unsigned long e = ERR_peek_last_error();
    if (e)
        ERR_error_string_n(e, buf, len);
    else
        snprintf(buf, len, "unknown error");
    ERR_clear_error();
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

static int cfg_copy(struct pg_cfg_tls_server *dst, const struct pg_cfg_tls_server *src)
{
    *dst = *src;
    dst->cert_file = dup_or_null(src->cert_file);
    dst->key_file = dup_or_null(src->key_file);
    dst->client_ca_file = dup_or_null(src->client_ca_file);
    dst->cert = dup_or_null(src->cert);
    dst->key = dup_or_null(src->key);
    dst->client_ca = dup_or_null(src->client_ca);
    if ((src->cert_file && !dst->cert_file) || (src->key_file && !dst->key_file) ||
        (src->client_ca_file && !dst->client_ca_file) || (src->cert && !dst->cert) ||
        (src->key && !dst->key) || (src->client_ca && !dst->client_ca)) {
        pg_cfg_tls_server_free(dst);
        return -1;
    }
    return 0;
}

static void file_sig(const char *path, struct file_sig *s)
{
    struct stat st;
    memset(s, 0, sizeof(*s));
    if (!path || stat(path, &st) != 0)
        return;
    s->ok = 1;
    s->mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
    s->size = (int64_t)st.st_size;
    s->ino = (uint64_t)st.st_ino;
}

static void read_sigs(const struct pg_cfg_tls_server *c, struct file_sig *sigs)
{
    file_sig(c->cert_file, &sigs[SIG_CERT]);
    file_sig(c->key_file, &sigs[SIG_KEY]);
    file_sig(c->client_ca_file, &sigs[SIG_CA]);
}

/* Loads the inline PEM certificate chain pem into ctx. Returns 0 or -1. */
static int use_cert_pem(SSL_CTX *ctx, const char *pem)
{
    BIO *b = BIO_new_mem_buf(pem, -1);
    X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
    int rc = x && SSL_CTX_use_certificate(ctx, x) == 1 ? 0 : -1;
    X509_free(x);
    X509 *extra;
    while (rc == 0 && (extra = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL)
        if (SSL_CTX_add0_chain_cert(ctx, extra) != 1) {
            X509_free(extra);
            rc = -1;
        }
    ERR_clear_error(); /* the end of the chain reads as "no start line" */
    BIO_free(b);
    return rc;
}

static int use_key_pem(SSL_CTX *ctx, const char *pem)
{
    BIO *b = BIO_new_mem_buf(pem, -1);
    EVP_PKEY *k = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
    int rc = k && SSL_CTX_use_PrivateKey(ctx, k) == 1 ? 0 : -1;
    EVP_PKEY_free(k);
    BIO_free(b);
    return rc;
}

/* Trusts and announces the CA certificates of the inline PEM pem. Returns 0 or -1. */
static int use_ca_pem(SSL_CTX *ctx, const char *pem)
{
    BIO *b = BIO_new_mem_buf(pem, -1);
    if (!b)
        return -1;
    X509 *x;
    int n = 0;
    while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
        int ok = X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), x) == 1 &&
                 SSL_CTX_add_client_CA(ctx, x) == 1;
        X509_free(x);
        if (!ok) {
            BIO_free(b);
            return -1;
        }
        n++;
    }
    ERR_clear_error();
    BIO_free(b);
    return n ? 0 : -1;
}

/* For RequestClientCert and RequireAnyClientCert: a certificate is asked for, never
 * verified (Go's semantics). */
static int accept_any(int preverify, X509_STORE_CTX *x)
{
    (void)preverify;
    (void)x;
    return 1;
}

static void set_verify(SSL_CTX *ctx, enum pg_cfg_client_auth a)
{
    switch (a) {
    case PG_CFG_NO_CLIENT_CERT: SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL); break;
    case PG_CFG_REQUEST_CLIENT_CERT: SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, accept_any); break;
    case PG_CFG_REQUIRE_ANY_CLIENT_CERT:
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, accept_any);
        break;
    case PG_CFG_VERIFY_CLIENT_CERT_IF_GIVEN: SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL); break;
    case PG_CFG_REQUIRE_AND_VERIFY_CLIENT_CERT:
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
        break;
    }
}

/* The server certificate and key of c into ctx. Returns 0, or -1 with err set. */
static int load_identity(SSL_CTX *ctx, const struct pg_cfg_tls_server *c, char *err, size_t errlen)
{
    char why[256];
    if (c->cert_file ? SSL_CTX_use_certificate_chain_file(ctx, c->cert_file) != 1
                     : use_cert_pem(ctx, c->cert) < 0) {
        ssl_reason(why, sizeof(why));
        pg_errmsg_set(err, errlen, "cert%s %s: cannot load the certificate: %s",
                      c->cert_file ? "_file" : "", c->cert_file ? c->cert_file : "(inline)", why);
        return -1;
    }
    if (c->key_file ? SSL_CTX_use_PrivateKey_file(ctx, c->key_file, SSL_FILETYPE_PEM) != 1
                    : use_key_pem(ctx, c->key) < 0) {
        ssl_reason(why, sizeof(why));
        pg_errmsg_set(err, errlen, "key%s %s: cannot load the private key: %s",
                      c->key_file ? "_file" : "", c->key_file ? c->key_file : "(inline)", why);
        return -1;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        ssl_reason(why, sizeof(why));
        pg_errmsg_set(err, errlen, "the private key does not match the certificate: %s", why);
        return -1;
    }
    return 0;
}

/* The client CAs of c into ctx (the system's when none is set and certificates are
 * verified, as Go's crypto/tls). Returns 0, or -1 with err set. */
static int load_client_ca(SSL_CTX *ctx, const struct pg_cfg_tls_server *c, char *err, size_t errlen)
{
    char why[256];
    if (c->client_ca_file) {
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(c->client_ca_file);
        if (!names || SSL_CTX_load_verify_locations(ctx, c->client_ca_file, NULL) != 1) {
            sk_X509_NAME_pop_free(names, X509_NAME_free);
            ssl_reason(why, sizeof(why));
            pg_errmsg_set(err, errlen, "client_ca_file %s: cannot load the CA certificates: %s",
                          c->client_ca_file, why);
            return -1;
        }
        SSL_CTX_set_client_CA_list(ctx, names);
    } else if (c->client_ca) {
        if (use_ca_pem(ctx, c->client_ca) < 0) {
            ssl_reason(why, sizeof(why));
            pg_errmsg_set(err, errlen, "client_ca: cannot load the CA certificates: %s", why);
            return -1;
        }
    } else if (c->client_auth >= PG_CFG_VERIFY_CLIENT_CERT_IF_GIVEN) {
        SSL_CTX_set_default_verify_paths(ctx);
    }
    return 0;
}

/* A new context for c, or NULL with err set. */
static SSL_CTX *build_ctx(const struct pg_cfg_tls_server *c, char *err, size_t errlen)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        pg_errmsg_set(err, errlen, "out of memory");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, c->min_version);
    SSL_CTX_set_max_proto_version(ctx, c->max_version);
    uint64_t opts = SSL_OP_NO_RENEGOTIATION;
    if (c->prefer_server_cipher_suites)
        opts |= SSL_OP_CIPHER_SERVER_PREFERENCE;
    SSL_CTX_set_options(ctx, opts);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    static const unsigned char sid[] = "profgate";
    SSL_CTX_set_session_id_context(ctx, sid, sizeof(sid) - 1);
    if (load_identity(ctx, c, err, errlen) < 0 || load_client_ca(ctx, c, err, errlen) < 0) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    set_verify(ctx, c->client_auth);
    SSL_CTX_set_info_callback(ctx, on_info);
    return ctx;
}

struct pg_web_tls *pg_web_tls_new(const struct pg_cfg_tls_server *cfg, const char *listener,
                                  char *err, size_t errlen)
{
    pthread_once(&ex_once, ex_init);
    struct pg_web_tls *t = calloc(1, sizeof(*t));
    if (!t || !(t->listener = strdup(listener))) {
        free(t);
        pg_errmsg_set(err, errlen, "out of memory");
        return NULL;
    }
    t->refs = 1;
    t->m_hs_errors = pg_metric_counter(
        "profgate_http_tls_handshake_errors_total",
        "Connections to a TLS listener closed before the TLS handshake completed.", "listener");
    t->m_reloads = pg_metric_counter(
        "profgate_http_tls_config_reloads_total",
        "Rebuilds of a TLS listener's context after its certificate files changed.",
        "listener,result");
    if (pg_web_tls_update(t, cfg, err, errlen) < 0) {
        pg_web_tls_free(t);
        return NULL;
    }
    return t;
}

int pg_web_tls_update(struct pg_web_tls *t, const struct pg_cfg_tls_server *cfg, char *err,
                      size_t errlen)
{
    struct file_sig sigs[N_SIGS];
    read_sigs(cfg, sigs); /* before reading: a change while building is seen next time */
    SSL_CTX *ctx = build_ctx(cfg, err, errlen);
    if (!ctx)
        return -1;
    struct pg_cfg_tls_server copy;
    if (cfg_copy(&copy, cfg) < 0) {
        SSL_CTX_free(ctx);
        pg_errmsg_set(err, errlen, "out of memory");
        return -1;
    }
    pg_cfg_tls_server_free(&t->cfg);
    t->cfg = copy;
    SSL_CTX_free(t->ctx);
    t->ctx = ctx;
    memcpy(t->sigs, sigs, sizeof(sigs));
    return 0;
}

/* Rebuilds the context when a file changed since the last look. */
static void refresh(struct pg_web_tls *t)
{
    struct file_sig now[N_SIGS];
    read_sigs(&t->cfg, now);
    if (!memcmp(now, t->sigs, sizeof(now)))
        return;
    memcpy(t->sigs, now, sizeof(now));
    char err[512];
    SSL_CTX *ctx = build_ctx(&t->cfg, err, sizeof(err));
    const char *lv[] = {t->listener, ctx ? "success" : "failure"};
    pg_metric_inc(t->m_reloads, lv, 1);
    if (!ctx) {
        pg_log_error("web",
                     "listener=%s msg=\"certificate files changed but do not load; keeping the "
                     "previous ones\" err=\"%s\"",
                     t->listener, err);
        return;
    }
    SSL_CTX_free(t->ctx);
    t->ctx = ctx;
    pg_log_info("web", "listener=%s msg=\"TLS certificate files changed: reloaded\"", t->listener);
}

SSL *pg_web_tls_new_ssl(struct pg_web_tls *t)
{
    refresh(t);
    SSL *ssl = SSL_new(t->ctx);
    if (ssl && SSL_set_ex_data(ssl, ex_index, t) != 1) {
        SSL_free(ssl);
        return NULL;
    }
    if (ssl)
        t->refs++; /* released by on_ssl_free */
    return ssl;
}

void pg_web_tls_free(struct pg_web_tls *t)
{
    if (t)
        tls_release(t); /* connections still open keep it until their SSL is freed */
}
