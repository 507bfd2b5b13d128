/* oauth2.c - the OAuth 2.0 client credentials token cache and its fetches (see oauth2.h).
 *
 * The cache (struct pg_oauth2_cache) hangs off the curl multi driver's ext slot, so every
 * client on one loop shares it. Each entry holds the current Authorization value and its
 * deadline, the fetch in flight (a core/httpc request) and a circular queue of waiters
 * (struct pg_oauth2_wait, embedded in the waiting requests). When a fetch ends the queue is
 * moved to a local list first and then drained one waiter at a time, so a waiter's callback
 * may cancel other waiters or start new requests safely. */
#include "core/oauth2.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/base64.h"
#include "core/clock.h"
#include "core/errmsg.h"
#include "core/httpc.h"
#include "core/sbuf.h"
#include "core/secretfile.h"

/* Go's oauth2 expiryDelta: a token is renewed this long before it expires. */
#define PG_OAUTH2_EXPIRY_DELTA_NS (10LL * 1000000000LL)
/* bound of one token fetch, and of the token endpoint's answer */
#define PG_OAUTH2_FETCH_TIMEOUT_MS 10000
#define PG_OAUTH2_MAX_BODY (1u << 20)

struct pg_oauth2_entry {
    struct pg_oauth2_entry *next;
    struct pg_oauth2_cache *cache;
    char *key; /* token_url NUL client_id NUL scopes each followed by ' ' */
    size_t klen;
    char *auth;         /* "Bearer <token>", or NULL */
    int64_t expires_ns; /* monotonic deadline (already less the delta); 0 = never */
    struct pg_httpc_req *fetch;
    struct pg_oauth2_wait queue; /* sentinel of the circular waiter list */
    struct pg_httpc_oauth2 *cfg; /* of the latest fetch (a retry in the other style) */
    int style;                   /* Go's AuthStyle: 0 unknown, 1 in header, 2 in params */
    int fetch_style;             /* of the fetch in flight */
};

struct pg_oauth2_cache {
    struct pg_curlm *m;
    struct pg_oauth2_entry *entries;
    unsigned long fetches;
};

static void list_init(struct pg_oauth2_wait *s)
{
    s->next = s->prev = s;
}

static void list_unlink(struct pg_oauth2_wait *w)
{
    w->prev->next = w->next;
    w->next->prev = w->prev;
    w->next = w->prev = NULL;
    w->entry = NULL;
}

static void cache_free(void *p)
{
    struct pg_oauth2_cache *c = p;
    while (c->entries) {
        struct pg_oauth2_entry *e = c->entries;
        c->entries = e->next;
        pg_httpc_cancel(e->fetch);
        while (e->queue.next != &e->queue)
            list_unlink(e->queue.next); /* the waiters are cancelled by their owners */
        free(e->key);
        free(e->auth);
        pg_httpc_oauth2_free(e->cfg);
        free(e);
    }
    free(c);
}

static struct pg_oauth2_cache *cache_of(struct pg_curlm *m)
{
    struct pg_oauth2_cache *c = pg_curlm_ext(m);
    if (c == NULL && (c = calloc(1, sizeof(*c))) != NULL) {
        c->m = m;
        pg_curlm_set_ext(m, c, cache_free);
    }
    return c;
}

unsigned long pg_oauth2_fetches(const struct pg_curlm *m)
{
    const struct pg_oauth2_cache *c = pg_curlm_ext(m);
    return c ? c->fetches : 0;
}

/* Writes the cache key of cfg into a new string of *len bytes: token_url, client_id and
 * scopes, and the hash of the whole block, so that two configs of the same client with
 * other endpoint_params (audience, resource), secrets or TLS never share a token. */
static char *key_of(const struct pg_httpc_oauth2 *cfg, size_t *len)
{
    size_t n = strlen(cfg->token_url) + 1 + strlen(cfg->client_id) + 1 + 17;
    for (size_t i = 0; i < cfg->n_scopes; i++)
        n += strlen(cfg->scopes[i]) + 1;
    char *k = malloc(n + 1);
    if (k == NULL)
        return NULL;
    size_t o = (size_t)sprintf(k, "%s%c%s%c", cfg->token_url, 0, cfg->client_id, 0);
    for (size_t i = 0; i < cfg->n_scopes; i++)
        o += (size_t)sprintf(k + o, "%s ", cfg->scopes[i]);
    o += (size_t)sprintf(k + o, "%016llx", (unsigned long long)pg_httpc_oauth2_hash(cfg));
    k[o] = '\0';
    *len = o;
    return k;
}

static struct pg_oauth2_entry *entry_of(struct pg_oauth2_cache *c,
                                        const struct pg_httpc_oauth2 *cfg, int create)
{
    size_t klen;
    char *key = key_of(cfg, &klen);
    if (key == NULL)
        return NULL;
    for (struct pg_oauth2_entry *e = c->entries; e; e = e->next) {
        if (e->klen == klen && memcmp(e->key, key, klen) == 0) {
            free(key);
            return e;
        }
    }
    struct pg_oauth2_entry *e = create ? calloc(1, sizeof(*e)) : NULL;
    if (e == NULL) {
        free(key);
        return NULL;
    }
    e->key = key;
    e->klen = klen;
    e->cache = c;
    list_init(&e->queue);
    e->next = c->entries;
    c->entries = e;
    return e;
}

struct kv {
    const char *k, *v;
};

static int kv_cmp(const void *a, const void *b)
{
    return strcmp(((const struct kv *)a)->k, ((const struct kv *)b)->k);
}

/* The form body of the token request (Go's url.Values.Encode: sorted by name), with the
 * client credentials when secret is not NULL (AuthStyleInParams), or NULL on OOM. */
static char *form_body(const struct pg_httpc_oauth2 *cfg, const char *secret)
{
    struct pg_sbuf scope = {0}, out = {0};
    for (size_t i = 0; i < cfg->n_scopes; i++) {
        if (i)
            pg_sbuf_str(&scope, " ");
        pg_sbuf_str(&scope, cfg->scopes[i]);
    }
    const char *sc = pg_sbuf_cstr(&scope);
    size_t n = 0;
    struct kv *v = calloc(cfg->endpoint_params.n + 4, sizeof(*v));
    if (v == NULL || sc == NULL) {
        free(v);
        pg_sbuf_reset(&scope);
        return NULL;
    }
    /* endpoint_params may override grant_type and scope, as Go's clientcredentials */
    if (!pg_labels_get(&cfg->endpoint_params, "grant_type"))
        v[n++] = (struct kv){"grant_type", "client_credentials"};
    if (*sc && !pg_labels_get(&cfg->endpoint_params, "scope"))
        v[n++] = (struct kv){"scope", sc};
    for (size_t i = 0; i < cfg->endpoint_params.n; i++)
        v[n++] = (struct kv){cfg->endpoint_params.v[i].name, cfg->endpoint_params.v[i].value};
    if (secret) {
        v[n++] = (struct kv){"client_id", cfg->client_id};
        if (*secret)
            v[n++] = (struct kv){"client_secret", secret};
    }
    qsort(v, n, sizeof(*v), kv_cmp);
    pg_sbuf_str(&out, "");
    for (size_t i = 0; i < n; i++) {
        if (i)
            pg_sbuf_str(&out, "&");
        pg_sbuf_query_escape(&out, v[i].k);
        pg_sbuf_str(&out, "=");
        pg_sbuf_query_escape(&out, v[i].v);
    }
    free(v);
    pg_sbuf_reset(&scope);
    return pg_sbuf_take(&out);
}

/* Go's oauth2 Token.Type(): the canonical spelling of common types, Bearer when empty. */
static const char *token_type(const char *t)
{
    if (t == NULL || *t == '\0' || strcasecmp(t, "bearer") == 0)
        return "Bearer";
    if (strcasecmp(t, "mac") == 0)
        return "MAC";
    if (strcasecmp(t, "basic") == 0)
        return "Basic";
    return t;
}

/* Longest expires_in taken as given (10 years); longer, and not-a-number, is clamped, so
 * a token server's 1e300 cannot overflow the clock arithmetic. */
#define PG_OAUTH2_MAX_EXPIRES_S (10.0 * 365 * 86400)

int pg_oauth2_parse_answer(const uint8_t *body, size_t len, char **auth, double *expires_s,
                           char *err, size_t errlen)
{
    json_error_t je;
    json_t *j = json_loadb((const char *)body, len, 0, &je);
    const char *tok = j ? json_string_value(json_object_get(j, "access_token")) : NULL;
    const char *type = j ? json_string_value(json_object_get(j, "token_type")) : NULL;
    json_t *exp = j ? json_object_get(j, "expires_in") : NULL;
    double secs = json_is_number(exp)   ? json_number_value(exp)
                  : json_is_string(exp) ? strtod(json_string_value(exp), NULL)
                                        : 0;
    int rc = -1;
    *auth = NULL;
    if (j == NULL)
        pg_errmsg_set(err, errlen, "oauth2: cannot parse token response: %s", je.text);
    else if (tok == NULL || *tok == '\0')
        pg_errmsg_set(err, errlen, "oauth2: server response missing access_token");
    else if (asprintf(auth, "%s %s", token_type(type), tok) < 0)
        pg_errmsg_set(err, errlen, "oauth2: out of memory");
    else if (strlen(*auth) >= PG_OAUTH2_MAX_AUTH || strpbrk(*auth, "\r\n"))
        pg_errmsg_set(err, errlen, "oauth2: unusable access_token");
    else
        rc = 0;
    if (rc < 0) {
        free(*auth);
        *auth = NULL;
    }
    *expires_s = !(secs > 0) ? 0 : secs > PG_OAUTH2_MAX_EXPIRES_S ? PG_OAUTH2_MAX_EXPIRES_S : secs;
    json_decref(j);
    return rc;
}

/* Parses a token answer into e. Returns 0, or -1 with a reason in err. */
static int parse_token(struct pg_oauth2_entry *e, const struct pg_httpc_resp *resp, char *err,
                       size_t errlen)
{
    char *auth;
    double secs;
    if (pg_oauth2_parse_answer(resp->body, resp->len, &auth, &secs, err, errlen) < 0)
        return -1;
    free(e->auth);
    e->auth = auth;
    e->expires_ns = 0;
    if (secs > 0) {
        int64_t at = pg_clock_mono_ns() + (int64_t)(secs * 1e9) - PG_OAUTH2_EXPIRY_DELTA_NS;
        e->expires_ns = at > 0 ? at : 1;
    }
    return 0;
}

/* The text of a non-2xx token answer: Prometheus's status wording and the RFC 6749
 * "error" code when the body has one. */
static void status_text(const struct pg_httpc_resp *resp, char *err, size_t errlen)
{
    char st[128];
    pg_httpc_status_error(resp->status, st, sizeof(st));
    json_t *j = json_loadb((const char *)resp->body, resp->len, 0, NULL);
    const char *code = j ? json_string_value(json_object_get(j, "error")) : NULL;
    if (code && strlen(code) < 128 && !strpbrk(code, "\"\r\n"))
        pg_errmsg_set(err, errlen, "oauth2: cannot fetch token: %s (error \"%s\")", st, code);
    else
        pg_errmsg_set(err, errlen, "oauth2: cannot fetch token: %s", st);
    json_decref(j);
}

/* Hands the entry's token (or error) to every waiter queued now. */
static void dispatch(struct pg_oauth2_entry *e, const char *error)
{
    struct pg_oauth2_wait local;
    list_init(&local);
    if (e->queue.next != &e->queue) { /* move the queue to local */
        local.next = e->queue.next;
        local.prev = e->queue.prev;
        local.next->prev = &local;
        local.prev->next = &local;
        list_init(&e->queue);
    }
    for (struct pg_oauth2_wait *w = local.next; w != &local; w = w->next)
        w->entry = NULL; /* no longer in the entry's queue; cancel still unlinks */
    char auth[PG_OAUTH2_MAX_AUTH];
    snprintf(auth, sizeof(auth), "%s", e->auth ? e->auth : "");
    while (local.next != &local) {
        struct pg_oauth2_wait *w = local.next;
        w->prev->next = w->next;
        w->next->prev = w->prev;
        w->next = w->prev = NULL;
        w->fn(w->ud, error ? NULL : auth, error);
    }
}

static int fetch_start(struct pg_oauth2_entry *e, int style, char *err, size_t errlen);

static void on_fetched(void *ud, const struct pg_httpc_resp *resp)
{
    struct pg_oauth2_entry *e = ud;
    char err[1024] = "";
    e->fetch = NULL;
    if (resp->failed)
        pg_errmsg_set(err, sizeof(err), "oauth2: cannot fetch token: %s", resp->error);
    else if (resp->status < 200 || resp->status > 299)
        status_text(resp, err, sizeof(err));
    else
        parse_token(e, resp, err, sizeof(err));
    if (err[0] && e->style == 0 && e->fetch_style == 1) {
        /* Go's AuthStyleAutoDetect: the credentials in the form instead, once */
        char why[1024];
        if (fetch_start(e, 2, why, sizeof(why)) == 0)
            return;
    }
    if (!err[0] && e->style == 0)
        e->style = e->fetch_style; /* remembered for this token endpoint */
    dispatch(e, err[0] ? err : NULL);
}

/* The client secret now (client_secret_file read again), or NULL with err set. */
static char *client_secret(const struct pg_httpc_oauth2 *cfg, char *err, size_t errlen)
{
    char *secret = NULL;
    if (cfg->client_secret_file) {
        char why[512];
        secret = pg_secretfile_read_trimmed(cfg->client_secret_file, why, sizeof(why));
        if (secret == NULL)
            pg_errmsg_set(err, errlen, "unable to read oauth2 client secret: %s", why);
    } else if ((secret = strdup(cfg->client_secret ? cfg->client_secret : "")) == NULL) {
        pg_errmsg_set(err, errlen, "out of memory");
    }
    return secret;
}

/* The Basic credentials header line of the token request (form-escaped id and secret, as
 * Go's AuthStyleInHeader), or NULL on OOM. */
static char *basic_header(const struct pg_httpc_oauth2 *cfg, const char *secret)
{
    struct pg_sbuf b = {0};
    pg_sbuf_query_escape(&b, cfg->client_id);
    pg_sbuf_str(&b, ":");
    pg_sbuf_query_escape(&b, secret);
    const char *cred = pg_sbuf_cstr(&b);
    char *b64 = cred ? pg_base64_encode(cred, strlen(cred)) : NULL;
    char *line = NULL;
    if (b64 == NULL || asprintf(&line, "Authorization: Basic %s", b64) < 0)
        line = NULL;
    if (b.s)
        memset(b.s, 0, b.len); /* no secret left behind in freed memory */
    pg_sbuf_reset(&b);
    free(b64);
    return line;
}

static void wipe(char *s)
{
    if (s)
        memset(s, 0, strlen(s));
    free(s);
}

/* Starts e's token fetch with e->cfg, the credentials in the header (style 1) or in the
 * form (style 2). Returns 0, or -1 with err set. */
static int fetch_start(struct pg_oauth2_entry *e, int style, char *err, size_t errlen)
{
    const struct pg_httpc_oauth2 *cfg = e->cfg;
    char *secret = client_secret(cfg, err, errlen);
    if (secret == NULL)
        return -1;
    char *auth = style == 1 ? basic_header(cfg, secret) : NULL;
    char *body = style == 1 && auth == NULL ? NULL : form_body(cfg, style == 2 ? secret : NULL);
    int rc = -1;
    if (body == NULL) {
        pg_errmsg_set(err, errlen, "out of memory");
    } else {
        struct pg_httpc_cfg http = {.tls = cfg->tls, .proxy = cfg->proxy};
        http.follow_redirects = 1;
        http.enable_http2 = 1;
        const char *hdrs[] = {"Content-Type: application/x-www-form-urlencoded",
                              "Accept: application/json", auth};
        struct pg_httpc_opts o = {.method = "POST",
                                  .url = cfg->token_url,
                                  .http = &http,
                                  .headers = hdrs,
                                  .n_headers = auth ? 3 : 2,
                                  .body = (const uint8_t *)body,
                                  .body_len = strlen(body),
                                  .timeout_ms = PG_OAUTH2_FETCH_TIMEOUT_MS,
                                  .max_body = PG_OAUTH2_MAX_BODY};
        char why[1024];
        e->fetch = pg_httpc_start(e->cache->m, &o, on_fetched, e, why, sizeof(why));
        if (e->fetch) {
            e->cache->fetches++;
            e->fetch_style = style;
            rc = 0;
        } else {
            pg_errmsg_set(err, errlen, "oauth2: cannot fetch token: %s", why);
        }
    }
    wipe(auth);
    wipe(body);
    wipe(secret);
    return rc;
}

int pg_oauth2_token(struct pg_curlm *m, const struct pg_httpc_oauth2 *cfg, struct pg_oauth2_wait *w,
                    pg_oauth2_fn fn, void *ud, char *out, size_t outlen, char *err, size_t errlen)
{
    struct pg_oauth2_cache *c = cache_of(m);
    struct pg_oauth2_entry *e = c ? entry_of(c, cfg, 1) : NULL;
    if (e == NULL) {
        pg_errmsg_set(err, errlen, "out of memory");
        return -1;
    }
    if (e->auth && (e->expires_ns == 0 || pg_clock_mono_ns() < e->expires_ns)) {
        int n = snprintf(out, outlen, "%s", e->auth);
        if (n >= 0 && (size_t)n < outlen)
            return 1;
        pg_errmsg_set(err, errlen, "oauth2: token too long");
        return -1;
    }
    if (e->fetch == NULL) {
        struct pg_httpc_oauth2 *copy = pg_httpc_oauth2_dup(cfg);
        if (copy == NULL) {
            pg_errmsg_set(err, errlen, "out of memory");
            return -1;
        }
        pg_httpc_oauth2_free(e->cfg);
        e->cfg = copy;
        if (fetch_start(e, e->style ? e->style : 1, err, errlen) != 0)
            return -1;
    }
    w->fn = fn;
    w->ud = ud;
    w->entry = e;
    w->prev = e->queue.prev;
    w->next = &e->queue;
    e->queue.prev->next = w;
    e->queue.prev = w;
    return 0;
}

void pg_oauth2_invalidate(struct pg_curlm *m, const struct pg_httpc_oauth2 *cfg,
                          const char *authorization)
{
    struct pg_oauth2_cache *c = pg_curlm_ext(m);
    struct pg_oauth2_entry *e = c ? entry_of(c, cfg, 0) : NULL;
    if (e && e->auth && authorization && strcmp(e->auth, authorization) == 0) {
        free(e->auth);
        e->auth = NULL;
    }
}

void pg_oauth2_cancel(struct pg_oauth2_wait *w)
{
    if (w == NULL || w->next == NULL)
        return;
    w->prev->next = w->next;
    w->next->prev = w->prev;
    w->next = w->prev = NULL;
    w->entry = NULL;
}
