/* httpcfg.c - equality, hashing and freeing of struct pg_httpc_cfg (see httpcfg.h). Every
 * field is listed once per function here, so a new option is compared, hashed and freed
 * by everyone who reloads or keys on HTTP client settings. */
#include "core/httpcfg.h"

#include <stdlib.h>
#include <string.h>
#define XXH_STATIC_LINKING_ONLY /* XXH3_state_t on the stack */
#include <xxhash.h>

static int s_eq(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static int v_eq(char *const *a, size_t na, char *const *b, size_t nb)
{
    if (na != nb)
        return 0;
    for (size_t i = 0; i < na; i++)
        if (!s_eq(a[i], b[i]))
            return 0;
    return 1;
}

static int tls_eq(const struct pg_httpc_tls *a, const struct pg_httpc_tls *b)
{
    return s_eq(a->ca_file, b->ca_file) && s_eq(a->cert_file, b->cert_file) &&
           s_eq(a->key_file, b->key_file) && s_eq(a->server_name, b->server_name) &&
           s_eq(a->ca, b->ca) && s_eq(a->cert, b->cert) && s_eq(a->key, b->key) &&
           a->insecure_skip_verify == b->insecure_skip_verify && a->min_version == b->min_version &&
           a->max_version == b->max_version;
}

static int proxy_eq(const struct pg_httpc_proxy *a, const struct pg_httpc_proxy *b)
{
    return s_eq(a->url, b->url) && s_eq(a->no_proxy, b->no_proxy) &&
           a->from_environment == b->from_environment &&
           v_eq(a->connect_headers, a->n_connect_headers, b->connect_headers, b->n_connect_headers);
}

static int oauth2_eq(const struct pg_httpc_oauth2 *a, const struct pg_httpc_oauth2 *b)
{
    if (!a || !b)
        return !a && !b;
    return s_eq(a->client_id, b->client_id) && s_eq(a->client_secret, b->client_secret) &&
           s_eq(a->client_secret_file, b->client_secret_file) && s_eq(a->token_url, b->token_url) &&
           v_eq(a->scopes, a->n_scopes, b->scopes, b->n_scopes) &&
           pg_labels_equal(&a->endpoint_params, &b->endpoint_params) && tls_eq(&a->tls, &b->tls) &&
           proxy_eq(&a->proxy, &b->proxy);
}

static int headers_eq(const struct pg_httpc_cfg *a, const struct pg_httpc_cfg *b)
{
    if (a->n_http_headers != b->n_http_headers)
        return 0;
    for (size_t i = 0; i < a->n_http_headers; i++) {
        const struct pg_httpc_header *x = &a->http_headers[i], *y = &b->http_headers[i];
        if (!s_eq(x->name, y->name) || !v_eq(x->values, x->n_values, y->values, y->n_values) ||
            !v_eq(x->secrets, x->n_secrets, y->secrets, y->n_secrets) ||
            !v_eq(x->files, x->n_files, y->files, y->n_files))
            return 0;
    }
    return 1;
}

int pg_httpc_cfg_equal(const struct pg_httpc_cfg *a, const struct pg_httpc_cfg *b)
{
    return s_eq(a->basic_auth_username, b->basic_auth_username) &&
           s_eq(a->basic_auth_username_file, b->basic_auth_username_file) &&
           s_eq(a->basic_auth_password, b->basic_auth_password) &&
           s_eq(a->basic_auth_password_file, b->basic_auth_password_file) &&
           s_eq(a->auth_type, b->auth_type) && s_eq(a->auth_credentials, b->auth_credentials) &&
           s_eq(a->auth_credentials_file, b->auth_credentials_file) &&
           oauth2_eq(a->oauth2, b->oauth2) && tls_eq(&a->tls, &b->tls) &&
           proxy_eq(&a->proxy, &b->proxy) && a->follow_redirects == b->follow_redirects &&
           a->enable_http2 == b->enable_http2 && pg_labels_equal(&a->headers, &b->headers) &&
           headers_eq(a, b);
}

static void h_str(XXH3_state_t *st, const char *s)
{
    if (s == NULL)
        XXH3_64bits_update(st, "\xff", 1); /* distinct from "" */
    else
        XXH3_64bits_update(st, s, strlen(s) + 1);
}

static void h_int(XXH3_state_t *st, uint64_t v)
{
    unsigned char b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)(v >> (8 * i));
    XXH3_64bits_update(st, b, sizeof b);
}

static void h_vec(XXH3_state_t *st, char *const *v, size_t n)
{
    h_int(st, n);
    for (size_t i = 0; i < n; i++)
        h_str(st, v[i]);
}

static void h_tls(XXH3_state_t *st, const struct pg_httpc_tls *t)
{
    const char *s[] = {t->ca_file, t->cert_file, t->key_file, t->server_name,
                       t->ca,      t->cert,      t->key};
    for (size_t i = 0; i < sizeof(s) / sizeof(s[0]); i++)
        h_str(st, s[i]);
    h_int(st, (uint64_t)t->insecure_skip_verify);
    h_int(st, (uint64_t)t->min_version);
    h_int(st, (uint64_t)t->max_version);
}

static void h_proxy(XXH3_state_t *st, const struct pg_httpc_proxy *p)
{
    h_str(st, p->url);
    h_str(st, p->no_proxy);
    h_int(st, (uint64_t)p->from_environment);
    h_vec(st, p->connect_headers, p->n_connect_headers);
}

static void h_oauth2(XXH3_state_t *st, const struct pg_httpc_oauth2 *o)
{
    h_int(st, o != NULL);
    if (o == NULL)
        return;
    h_str(st, o->client_id);
    h_str(st, o->client_secret);
    h_str(st, o->client_secret_file);
    h_str(st, o->token_url);
    h_vec(st, o->scopes, o->n_scopes);
    h_int(st, pg_labels_hash(&o->endpoint_params));
    h_tls(st, &o->tls);
    h_proxy(st, &o->proxy);
}

uint64_t pg_httpc_oauth2_hash(const struct pg_httpc_oauth2 *o)
{
    XXH3_state_t st;
    XXH3_64bits_reset(&st);
    h_oauth2(&st, o);
    return XXH3_64bits_digest(&st);
}

uint64_t pg_httpc_cfg_hash(const struct pg_httpc_cfg *c)
{
    XXH3_state_t st;
    XXH3_INITSTATE(&st);
    XXH3_64bits_reset(&st);
    const char *s[] = {c->basic_auth_username,
                       c->basic_auth_username_file,
                       c->basic_auth_password,
                       c->basic_auth_password_file,
                       c->auth_type,
                       c->auth_credentials,
                       c->auth_credentials_file};
    for (size_t i = 0; i < sizeof(s) / sizeof(s[0]); i++)
        h_str(&st, s[i]);
    h_oauth2(&st, c->oauth2);
    h_tls(&st, &c->tls);
    h_proxy(&st, &c->proxy);
    h_int(&st, (uint64_t)c->follow_redirects);
    h_int(&st, (uint64_t)c->enable_http2);
    h_int(&st, pg_labels_hash(&c->headers));
    h_int(&st, c->n_http_headers);
    for (size_t i = 0; i < c->n_http_headers; i++) {
        const struct pg_httpc_header *x = &c->http_headers[i];
        h_str(&st, x->name);
        h_vec(&st, x->values, x->n_values);
        h_vec(&st, x->secrets, x->n_secrets);
        h_vec(&st, x->files, x->n_files);
    }
    return XXH3_64bits_digest(&st);
}

static void vfree(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

void pg_httpc_tls_free(struct pg_httpc_tls *t)
{
    free(t->ca_file);
    free(t->cert_file);
    free(t->key_file);
    free(t->server_name);
    free(t->ca);
    free(t->cert);
    free(t->key);
    memset(t, 0, sizeof(*t));
}

void pg_httpc_proxy_free(struct pg_httpc_proxy *p)
{
    free(p->url);
    free(p->no_proxy);
    vfree(p->connect_headers, p->n_connect_headers);
    memset(p, 0, sizeof(*p));
}

void pg_httpc_oauth2_free(struct pg_httpc_oauth2 *o)
{
    if (o == NULL)
        return;
    free(o->client_id);
    free(o->client_secret);
    free(o->client_secret_file);
    free(o->token_url);
    vfree(o->scopes, o->n_scopes);
    pg_labels_reset(&o->endpoint_params);
    pg_httpc_tls_free(&o->tls);
    pg_httpc_proxy_free(&o->proxy);
    free(o);
}

void pg_httpc_cfg_free(struct pg_httpc_cfg *h)
{
    if (h == NULL)
        return;
    free(h->basic_auth_username);
    free(h->basic_auth_username_file);
    free(h->basic_auth_password);
    free(h->basic_auth_password_file);
    free(h->auth_type);
    free(h->auth_credentials);
    free(h->auth_credentials_file);
    pg_httpc_oauth2_free(h->oauth2);
    pg_httpc_tls_free(&h->tls);
    pg_httpc_proxy_free(&h->proxy);
    pg_labels_reset(&h->headers);
    for (size_t i = 0; i < h->n_http_headers; i++) {
        struct pg_httpc_header *x = &h->http_headers[i];
        free(x->name);
        vfree(x->values, x->n_values);
        vfree(x->secrets, x->n_secrets);
        vfree(x->files, x->n_files);
    }
    free(h->http_headers);
    memset(h, 0, sizeof(*h));
}

static int sdup(char **dst, const char *src)
{
    *dst = NULL;
    return src && (*dst = strdup(src)) == NULL ? -1 : 0;
}

static int vdup(char ***dst, size_t *nd, char *const *src, size_t n)
{
    *dst = NULL;
    *nd = 0;
    if (n == 0)
        return 0;
    if ((*dst = calloc(n, sizeof(char *))) == NULL)
        return -1;
    for (size_t i = 0; i < n; i++, (*nd)++)
        if (sdup(&(*dst)[i], src[i]) != 0)
            return -1;
    return 0;
}

static int tls_dup(struct pg_httpc_tls *d, const struct pg_httpc_tls *s)
{
    *d = *s;
    return (sdup(&d->ca_file, s->ca_file) | sdup(&d->cert_file, s->cert_file) |
            sdup(&d->key_file, s->key_file) | sdup(&d->server_name, s->server_name) |
            sdup(&d->ca, s->ca) | sdup(&d->cert, s->cert) | sdup(&d->key, s->key)) != 0
               ? -1
               : 0;
}

static int proxy_dup(struct pg_httpc_proxy *d, const struct pg_httpc_proxy *s)
{
    *d = *s;
    return (sdup(&d->url, s->url) | sdup(&d->no_proxy, s->no_proxy) |
            vdup(&d->connect_headers, &d->n_connect_headers, s->connect_headers,
                 s->n_connect_headers)) != 0
               ? -1
               : 0;
}

struct pg_httpc_oauth2 *pg_httpc_oauth2_dup(const struct pg_httpc_oauth2 *s)
{
    struct pg_httpc_oauth2 *d = calloc(1, sizeof(*d));
    if (d == NULL)
        return NULL;
    int rc = sdup(&d->client_id, s->client_id) | sdup(&d->client_secret, s->client_secret) |
             sdup(&d->client_secret_file, s->client_secret_file) |
             sdup(&d->token_url, s->token_url) |
             vdup(&d->scopes, &d->n_scopes, s->scopes, s->n_scopes) | tls_dup(&d->tls, &s->tls) |
             proxy_dup(&d->proxy, &s->proxy);
    pg_labels_init(&d->endpoint_params);
    for (size_t i = 0; i < s->endpoint_params.n && rc == 0; i++)
        rc = pg_labels_set(&d->endpoint_params, s->endpoint_params.v[i].name,
                           s->endpoint_params.v[i].value) != 0
                 ? -1
                 : 0;
    if (rc != 0 || !d->client_id || !d->token_url) {
        pg_httpc_oauth2_free(d);
        return NULL;
    }
    return d;
}
