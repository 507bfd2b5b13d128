/* web_auth.c - basic authentication with bcrypt and a cache of outcomes (see web_auth.h).
 * The cache is a fixed array replaced round-robin; each entry is a SHA-256 digest and a
 * bit. */
#include "daemon/web_auth.h"

#include <crypt.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/base64.h"

/* Checked for unknown users (as the exporter-toolkit does) so that they take as long as
 * known ones. The hash of a random password nobody knows. */
static const char dummy_hash[] = "$2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi";

struct entry {
    unsigned char key[32];
    int used, ok;
};

struct pg_web_auth {
    struct entry *v;
    size_t cap, next;
};

struct pg_web_auth *pg_web_auth_new(size_t capacity)
{
    struct pg_web_auth *a = calloc(1, sizeof(*a));
    if (!a || !(a->v = calloc(capacity ? capacity : 1, sizeof(*a->v)))) {
        free(a);
        return NULL;
    }
    a->cap = capacity ? capacity : 1;
    return a;
}

/* key = SHA-256(len(user) user len(hash) hash password): unambiguous. Returns 0 or -1. */
static int cache_key(const char *user, size_t ul, const char *hash, const char *pw, size_t pl,
                     unsigned char out[32])
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    uint64_t n1 = ul, n2 = strlen(hash);
    unsigned int len = 0;
    int ok = md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 &&
             EVP_DigestUpdate(md, &n1, sizeof(n1)) == 1 && EVP_DigestUpdate(md, user, ul) == 1 &&
             EVP_DigestUpdate(md, &n2, sizeof(n2)) == 1 && EVP_DigestUpdate(md, hash, n2) == 1 &&
             EVP_DigestUpdate(md, pw, pl) == 1 && EVP_DigestFinal_ex(md, out, &len) == 1;
    EVP_MD_CTX_free(md);
    return ok && len == 32 ? 0 : -1;
}

static const struct entry *cache_find(const struct pg_web_auth *a, const unsigned char key[32])
{
    for (size_t i = 0; i < a->cap; i++)
        if (a->v[i].used && CRYPTO_memcmp(a->v[i].key, key, 32) == 0)
            return &a->v[i];
    return NULL;
}

/* Splits a "Basic base64(user:password)" header into a decoded buffer (freed by the
 * caller) whose user part ends at *colon. Returns NULL when malformed. */
static char *decode_basic(const char *h, char **colon, size_t *len)
{
    if (!h || strncasecmp(h, "Basic ", 6) != 0)
        return NULL;
    h += 6;
    while (*h == ' ')
        h++;
    uint8_t *dec = NULL;
    size_t dl = 0;
    if (pg_base64_decode(h, strlen(h), 0, &dec, &dl) < 0)
        return NULL;
    char *s = malloc(dl + 1);
    if (s) {
        memcpy(s, dec, dl);
        s[dl] = '\0';
    }
    OPENSSL_cleanse(dec, dl);
    free(dec);
    if (!s || strlen(s) != dl || !(*colon = strchr(s, ':'))) {
        if (s)
            OPENSSL_cleanse(s, dl);
        free(s);
        return NULL;
    }
    *len = dl;
    return s;
}

/* A new check for user/password against hash (NULL = unknown user). */
static struct pg_web_auth_check *new_check(const char *user, size_t ul, const char *hash,
                                           const char *pw, size_t pl)
{
    struct pg_web_auth_check *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->known_user = hash != NULL;
    c->hash = strdup(hash ? hash : dummy_hash);
    c->password = strndup(pw, pl);
    if (!c->hash || !c->password || cache_key(user, ul, c->hash, pw, pl, c->key) < 0) {
        pg_web_auth_check_free(c);
        return NULL;
    }
    return c;
}

int pg_web_auth_lookup(struct pg_web_auth *a, const struct pg_web_config *cfg, const char *header,
                       struct pg_web_auth_check **check)
{
    *check = NULL;
    char *colon;
    size_t len;
    char *s = decode_basic(header, &colon, &len);
    if (!s)
        return PG_WEB_AUTH_NO_CREDENTIALS;
    size_t ul = (size_t)(colon - s);
    *colon = '\0';
    const char *hash = NULL;
    for (size_t i = 0; i < cfg->n_users; i++)
        if (!strcmp(cfg->users[i].name, s))
            hash = cfg->users[i].hash;
    const char *pw = colon + 1;
    size_t pl = len - ul - 1;
    unsigned char key[32];
    int rc = PG_WEB_AUTH_NO_CREDENTIALS; /* stays so on OOM */
    if (cache_key(s, ul, hash ? hash : dummy_hash, pw, pl, key) == 0) {
        const struct entry *e = cache_find(a, key);
        if (e)
            rc = e->ok;
        else if ((*check = new_check(s, ul, hash, pw, pl)) != NULL)
            rc = PG_WEB_AUTH_VERIFY;
    }
    OPENSSL_cleanse(s, len);
    free(s);
    return rc;
}

int pg_web_auth_recall(const struct pg_web_auth *a, const struct pg_web_auth_check *c)
{
    const struct entry *e = cache_find(a, c->key);
    return e ? e->ok : -1;
}

void pg_web_auth_verify(struct pg_web_auth_check *c)
{
    struct crypt_data *cd = calloc(1, sizeof(*cd));
    c->ok = 0;
    if (!cd)
        return;
    const char *out = crypt_r(c->password, c->hash, cd);
    size_t hl = strlen(c->hash);
    /* crypt_r returns the hash itself for the right password; a failure starts with '*' */
    int same = out && out[0] == '$' && strlen(out) == hl && CRYPTO_memcmp(out, c->hash, hl) == 0;
    c->ok = same && c->known_user;
    OPENSSL_cleanse(cd, sizeof(*cd));
    free(cd);
}

void pg_web_auth_remember(struct pg_web_auth *a, const struct pg_web_auth_check *c)
{
    struct entry *e = &a->v[a->next];
    a->next = (a->next + 1) % a->cap;
    memcpy(e->key, c->key, 32);
    e->ok = c->ok;
    e->used = 1;
}

void pg_web_auth_check_free(struct pg_web_auth_check *c)
{
    if (!c)
        return;
    if (c->password)
        OPENSSL_cleanse(c->password, strlen(c->password));
    free(c->password);
    free(c->hash);
    free(c);
}

void pg_web_auth_clear(struct pg_web_auth *a)
{
    memset(a->v, 0, a->cap * sizeof(*a->v));
    a->next = 0;
}

void pg_web_auth_free(struct pg_web_auth *a)
{
    if (!a)
        return;
    free(a->v);
    free(a);
}
