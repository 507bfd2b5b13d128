/* config_redact.c - the config file re-serialised with its secrets redacted (see
 * config_redact.h).
 *
 * Two passes over the libyaml document: mark (every node that is or is under a secret
 * value gets its flag in a per-node array; a URL scalar is redacted on output), then a
 * small block-style writer. Scalars keep their plain style when they had it and are
 * double-quoted (JSON-style escapes, valid YAML) otherwise. */
#include "daemon/config_redact.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/errmsg.h"
#include "core/sbuf.h"
#include "yamlcfg/yaml.h"

#define SECRET "<secret>"

struct redact {
    struct pg_yaml *y;
    unsigned char *secret; /* per node index (1-based): 1 = redact every scalar below */
    unsigned char *seen;   /* mark pass: node visited under this secret state (aliases) */
    size_t n;
    struct pg_sbuf out;
};

int pg_config_redact_is_secret_key(const char *key)
{
    char k[128];
    size_t n = 0;
    for (; key[n] && n + 1 < sizeof(k); n++)
        k[n] = key[n] == '-' ? '_' : (char)tolower((unsigned char)key[n]);
    k[n] = '\0';
    if (n >= 5 && !strcmp(k + n - 5, "_file"))
        return 0;
    static const char *const exact[] = {"secrets",    "secret_key",  "access_key",  "api_key",
                                        "apikey",     "private_key", "auth_token",  "key",
                                        "passphrase", "signature",   "session_key", NULL};
    for (size_t i = 0; exact[i]; i++)
        if (!strcmp(k, exact[i]))
            return 1;
    return strstr(k, "password") || strstr(k, "secret") || strstr(k, "token") ||
           strstr(k, "credential") || strstr(k, "passwd");
}

/* Maps of header values: every value below is hidden (a Proxy-Authorization in
 * proxy_connect_header is a credential, as Prometheus's config treats it). */
static int is_header_map_key(const char *key)
{
    return !strcmp(key, "headers") || !strcmp(key, "http_headers") ||
           !strcmp(key, "proxy_connect_header");
}

void pg_config_redact_url(const char *url, char *out, size_t outlen)
{
    const char *scheme = strstr(url, "://");
    const char *auth = scheme ? scheme + 3 : NULL;
    const char *end = auth ? auth + strcspn(auth, "/?#") : NULL;
    const char *at = NULL;
    for (const char *p = auth; p && p < end; p++)
        if (*p == '@')
            at = p; /* the last '@' before the path ends the userinfo */
    const char *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
    if (!colon) {
        snprintf(out, outlen, "%s", url);
        return;
    }
    snprintf(out, outlen, "%.*s%s%s", (int)(colon + 1 - url), url, SECRET, at);
}

/* Marks node idx and everything below it as secret when secret != 0, and looks for secret
 * keys below otherwise. An alias reached again in the same state is not walked twice. */
static void mark(struct redact *r, int idx, int secret, int depth)
{
    if (idx < 1 || (size_t)idx > r->n || depth > 200)
        return;
    unsigned char bit = secret ? 2 : 1;
    if (r->seen[idx] & bit)
        return;
    r->seen[idx] |= bit;
    if (secret)
        r->secret[idx] = 1;
    yaml_node_t *n = pg_yaml_at(r->y, idx);
    if (!n)
        return;
    if (n->type == YAML_SEQUENCE_NODE) {
        for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
             it++)
            mark(r, *it, secret, depth + 1);
    } else if (n->type == YAML_MAPPING_NODE) {
        for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
             p++) {
            yaml_node_t *k = pg_yaml_at(r->y, p->key);
            int sec = secret;
            if (k && k->type == YAML_SCALAR_NODE) {
                const char *key = (const char *)k->data.scalar.value;
                sec |= pg_config_redact_is_secret_key(key) || is_header_map_key(key);
            }
            mark(r, p->key, 0, depth + 1); /* key names are shown */
            mark(r, p->value, sec, depth + 1);
        }
    }
}

/* 1 when a quoted scalar reads the same unquoted: a safe character set, not starting with
 * an indicator, and not something YAML would type (a bool, null or number). */
static int plain_same(const char *s)
{
    static const char *const typed[] = {"true", "false", "yes", "no", "on",
                                        "off",  "null",  "y",   "n",  NULL};
    if (!*s || strchr("-?:,[]{}#&*!|>'\"%@` ", *s) || s[strlen(s) - 1] == ' ' ||
        s[strlen(s) - 1] == ':' || strstr(s, ": ") || strstr(s, " #"))
        return 0;
    for (size_t i = 0; typed[i]; i++)
        if (!strcasecmp(s, typed[i]))
            return 0;
    if (strspn(s, "0123456789.+-eExXoOabcdefABCDEF_") == strlen(s) && strpbrk(s, "0123456789"))
        return 0; /* may read as a number */
    for (const char *p = s; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr("_-./:@$(){}<>=+~ ", *p))
            return 0;
    return 1;
}

static int plain_ok(const yaml_node_t *n)
{
    const char *s = (const char *)n->data.scalar.value;
    if (!*s)
        return 0;
    for (const char *p = s; *p; p++)
        if (*p == '\n' || *p == '\r')
            return 0;
    return n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE || plain_same(s);
}

static void put_quoted(struct pg_sbuf *b, const char *s, size_t len)
{
    pg_sbuf_str(b, "\"");
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        char e[8];
        if (c == '"' || c == '\\')
            snprintf(e, sizeof(e), "\\%c", c);
        else if (c == '\n')
            snprintf(e, sizeof(e), "\\n");
        else if (c == '\t')
            snprintf(e, sizeof(e), "\\t");
        else if (c < 0x20 || c == 0x7f)
            snprintf(e, sizeof(e), "\\x%02x", c);
        else {
            pg_sbuf_add(b, (const char *)&s[i], 1);
            continue;
        }
        pg_sbuf_str(b, e);
    }
    pg_sbuf_str(b, "\"");
}

static void put_scalar(struct redact *r, int idx, const yaml_node_t *n)
{
    if (r->secret[idx]) {
        /* a null or empty secret shows as such: nothing is hidden */
        if (n->data.scalar.length == 0)
            pg_sbuf_str(&r->out, "\"\"");
        else if (pg_yaml_is_null(n))
            pg_sbuf_str(&r->out, "null");
        else
            pg_sbuf_str(&r->out, SECRET);
        return;
    }
    const char *s = (const char *)n->data.scalar.value;
    size_t len = n->data.scalar.length;
    if (strstr(s, "://") && strchr(s, '@')) {
        char *buf = malloc(len + sizeof(SECRET) + 1);
        if (!buf) {
            r->out.failed = 1;
            return;
        }
        pg_config_redact_url(s, buf, len + sizeof(SECRET) + 1);
        put_quoted(&r->out, buf, strlen(buf));
        free(buf);
        return;
    }
    if (plain_ok(n) && strlen(s) == len)
        pg_sbuf_add(&r->out, s, len);
    else
        put_quoted(&r->out, s, len);
}

static void indent(struct pg_sbuf *b, int n)
{
    for (int i = 0; i < n; i++)
        pg_sbuf_str(b, " ");
}

static void emit(struct redact *r, int idx, int ind, int depth, int inline_first);

/* Writes a value after "key:" or "-": inline for scalars and empty collections, else on
 * the next lines at ind (a mapping after "-" starts on the same line when inline_map). */
static void emit_value(struct redact *r, int idx, int ind, int depth, int inline_map)
{
    yaml_node_t *n = pg_yaml_at(r->y, idx);
    int empty = !n ||
                (n->type == YAML_MAPPING_NODE &&
                 n->data.mapping.pairs.top == n->data.mapping.pairs.start) ||
                (n->type == YAML_SEQUENCE_NODE &&
                 n->data.sequence.items.top == n->data.sequence.items.start);
    if (!n || n->type == YAML_SCALAR_NODE || empty) {
        pg_sbuf_str(&r->out, " ");
        if (!n)
            pg_sbuf_str(&r->out, "null");
        else if (n->type == YAML_SCALAR_NODE)
            put_scalar(r, idx, n);
        else
            pg_sbuf_str(&r->out, n->type == YAML_MAPPING_NODE ? "{}" : "[]");
        pg_sbuf_str(&r->out, "\n");
        return;
    }
    if (n->type == YAML_MAPPING_NODE && inline_map) { /* "- key: value" */
        pg_sbuf_str(&r->out, " ");
        emit(r, idx, ind, depth + 1, 1);
        return;
    }
    pg_sbuf_str(&r->out, "\n");
    emit(r, idx, ind, depth + 1, 0);
}

/* Writes a collection node at ind (each line indented, but the first when inline_first:
 * the caller wrote "- " already). */
static void emit(struct redact *r, int idx, int ind, int depth, int inline_first)
{
    yaml_node_t *n = pg_yaml_at(r->y, idx);
    if (!n || depth > 200)
        return;
    if (n->type == YAML_MAPPING_NODE) {
        for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
             p++) {
            yaml_node_t *k = pg_yaml_at(r->y, p->key);
            if (!inline_first || p != n->data.mapping.pairs.start)
                indent(&r->out, ind);
            if (k && k->type == YAML_SCALAR_NODE)
                put_scalar(r, p->key, k);
            else
                pg_sbuf_str(&r->out, "\"?\"");
            pg_sbuf_str(&r->out, ":");
            emit_value(r, p->value, ind + 2, depth, 0);
        }
    } else if (n->type == YAML_SEQUENCE_NODE) {
        for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
             it++) {
            indent(&r->out, ind);
            pg_sbuf_str(&r->out, "-");
            emit_value(r, *it, ind + 2, depth, 1);
        }
    } else {
        indent(&r->out, ind);
        put_scalar(r, idx, n);
        pg_sbuf_str(&r->out, "\n");
    }
}

static char *redact_doc(struct pg_yaml *y, char *err, size_t errlen)
{
    struct redact r = {.y = y};
    r.n = (size_t)(y->doc.nodes.top - y->doc.nodes.start);
    r.secret = calloc(r.n + 1, 1);
    r.seen = calloc(r.n + 1, 1);
    char *out = NULL;
    if (!r.secret || !r.seen) {
        pg_errmsg_set(err, errlen, "out of memory");
        goto done;
    }
    yaml_node_t *root = pg_yaml_root(y);
    if (root) {
        int ri = (int)(root - y->doc.nodes.start) + 1;
        mark(&r, ri, 0, 0);
        emit(&r, ri, 0, 0, 0);
    }
    if (!(out = pg_sbuf_take(&r.out)))
        pg_errmsg_set(err, errlen, "out of memory");
done:
    pg_sbuf_reset(&r.out);
    free(r.secret);
    free(r.seen);
    return out;
}

static char *first_error(struct pg_cfg_errors *errs, char *err, size_t errlen)
{
    if (errs->n)
        pg_errmsg_set(err, errlen, "%s:%d:%d: %s", errs->v[0].file ? errs->v[0].file : "?",
                      errs->v[0].line, errs->v[0].col, errs->v[0].msg);
    else
        pg_errmsg_set(err, errlen, "cannot read the config");
    pg_cfg_errors_reset(errs);
    return NULL;
}

char *pg_config_redact_file(const char *path, char *err, size_t errlen)
{
    struct pg_yaml y = {0};
    struct pg_cfg_errors errs;
    pg_cfg_errors_init(&errs);
    if (pg_yaml_load_file(&y, path, &errs) < 0) {
        pg_yaml_free(&y);
        return first_error(&errs, err, errlen);
    }
    pg_cfg_errors_reset(&errs);
    char *s = redact_doc(&y, err, errlen);
    pg_yaml_free(&y);
    return s;
}

char *pg_config_redact_text(const char *name, const char *text, size_t len, char *err,
                            size_t errlen)
{
    struct pg_yaml y = {0};
    struct pg_cfg_errors errs;
    pg_cfg_errors_init(&errs);
    if (pg_yaml_load_string(&y, name, text, len, &errs) < 0) {
        pg_yaml_free(&y);
        return first_error(&errs, err, errlen);
    }
    pg_cfg_errors_reset(&errs);
    char *s = redact_doc(&y, err, errlen);
    pg_yaml_free(&y);
    return s;
}
