/* gz.c (profile/) - bounded gzip inflate and gzip deflate with libdeflate, with a per-thread
 * cache of libdeflate objects (see gz.h). */
#include "profile/gz.h"

#include "core/errmsg.h"

#include <libdeflate.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define PG_GZ_LEVELS 13

struct gz_cache {
    struct libdeflate_decompressor *dec;
    struct libdeflate_compressor *comp[PG_GZ_LEVELS];
};

static pthread_key_t cache_key;
static pthread_once_t cache_once = PTHREAD_ONCE_INIT;
static _Thread_local struct gz_cache *tls_cache;

static void cache_free(void *v)
{
    struct gz_cache *c = v;
    if (!c)
        return;
    libdeflate_free_decompressor(c->dec);
    for (int i = 0; i < PG_GZ_LEVELS; i++)
        libdeflate_free_compressor(c->comp[i]);
    free(c);
}

static void cache_key_init(void)
{
    (void)pthread_key_create(&cache_key, cache_free);
}

static struct gz_cache *cache_get(void)
{
    if (tls_cache)
        return tls_cache;
    pthread_once(&cache_once, cache_key_init);
    struct gz_cache *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    if (pthread_setspecific(cache_key, c) != 0) {
        free(c);
        return NULL;
    }
    tls_cache = c;
    return c;
}

void pg_gz_thread_release(void)
{
    if (!tls_cache)
        return;
    pthread_setspecific(cache_key, NULL);
    cache_free(tls_cache);
    tls_cache = NULL;
}

int pg_gz_is_gzip(const uint8_t *buf, size_t len)
{
    return len >= 2 && buf[0] == 0x1f && buf[1] == 0x8b;
}

/* First guess of the output size: the last member's ISIZE (the size mod 2^32 of that member
 * only, and attacker-controlled), else 4x the input, bounded by limit. */
static size_t first_cap(const uint8_t *in, size_t inlen, size_t limit)
{
    size_t guess = inlen < 4096 / 4 ? 4096 : inlen * 4;
    if (inlen >= 18) {
        const uint8_t *t = in + inlen - 4;
        size_t isize = (size_t)t[0] | (size_t)t[1] << 8 | (size_t)t[2] << 16 | (size_t)t[3] << 24;
        if (isize > 0)
            guess = isize;
    }
    return guess > limit ? limit : guess;
}

/* libdeflate says only "bad data": on that error path zlib streams through the member (output
 * discarded, so no memory grows) to tell a truncated body from a corrupt one, with the
 * former zlib code's wording. */
static void explain_bad(const uint8_t *in, size_t inlen, char *err, size_t errlen)
{
    z_stream zs;
    uint8_t sink[16384];
    memset(&zs, 0, sizeof(zs));
    if (inflateInit2(&zs, 15 + 16) != Z_OK) {
        pg_errmsg_set(err, errlen, "gzip: corrupt input");
        return;
    }
    zs.next_in = (Bytef *)(uintptr_t)in;
    zs.avail_in = inlen > UINT32_MAX ? UINT32_MAX : (uInt)inlen;
    int rc;
    do {
        zs.next_out = sink;
        zs.avail_out = sizeof(sink);
        rc = inflate(&zs, Z_NO_FLUSH);
    } while (rc == Z_OK);
    if (rc == Z_BUF_ERROR && zs.avail_in == 0)
        pg_errmsg_set(err, errlen, "gzip: truncated input");
    else
        pg_errmsg_set(err, errlen, "gzip: %s",
                      rc != Z_STREAM_END && zs.msg ? zs.msg : "corrupt input");
    inflateEnd(&zs);
}

/* Inflates one member at in into buf[used..cap), growing buf (up to limit) as needed. */
static int inflate_member(struct libdeflate_decompressor *dec, const uint8_t *in, size_t inlen,
                          size_t *consumed, uint8_t **buf, size_t *cap, size_t *used, size_t limit,
                          char *err, size_t errlen)
{
    for (;;) {
        size_t in_used = 0, out_used = 0;
        enum libdeflate_result r = libdeflate_gzip_decompress_ex(dec, in, inlen, *buf + *used,
                                                                 *cap - *used, &in_used, &out_used);
        if (r == LIBDEFLATE_SUCCESS) {
            *consumed = in_used;
            *used += out_used;
            return 0;
        }
        if (r != LIBDEFLATE_INSUFFICIENT_SPACE) {
            explain_bad(in, inlen, err, errlen);
            return -1;
        }
        if (*cap >= limit) {
            pg_errmsg_set(err, errlen, "gzip: decompressed body exceeds limit of %zu bytes", limit);
            return -1;
        }
        size_t ncap = *cap > limit / 2 ? limit : *cap * 2;
        if (ncap < 4096)
            ncap = limit < 4096 ? limit : 4096;
        uint8_t *nb = realloc(*buf, ncap ? ncap : 1);
        if (!nb) {
            pg_errmsg_set(err, errlen, "gzip: out of memory");
            return -1;
        }
        *buf = nb;
        *cap = ncap;
    }
}

int pg_gz_inflate(const uint8_t *in, size_t inlen, size_t limit, uint8_t **out, size_t *outlen,
                  char *err, size_t errlen)
{
    struct gz_cache *c = cache_get();
    if (c && !c->dec)
        c->dec = libdeflate_alloc_decompressor();
    if (!c || !c->dec) {
        pg_errmsg_set(err, errlen, "gzip: out of memory");
        return -1;
    }
    if (!pg_gz_is_gzip(in, inlen)) {
        pg_errmsg_set(err, errlen, "gzip: not a gzip stream");
        return -1;
    }
    size_t cap = first_cap(in, inlen, limit), used = 0, pos = 0;
    uint8_t *buf = malloc(cap ? cap : 1);
    if (!buf) {
        pg_errmsg_set(err, errlen, "gzip: out of memory");
        return -1;
    }
    while (pos < inlen && pg_gz_is_gzip(in + pos, inlen - pos)) {
        size_t consumed = 0;
        if (inflate_member(c->dec, in + pos, inlen - pos, &consumed, &buf, &cap, &used, limit, err,
                           errlen) < 0) {
            free(buf);
            return -1;
        }
        pos += consumed;
    }
    *out = buf;
    *outlen = used;
    return 0;
}

int pg_gz_deflate(const uint8_t *in, size_t len, int level, uint8_t **out, size_t *outlen)
{
    if (level < 0)
        level = 0;
    if (level >= PG_GZ_LEVELS)
        level = PG_GZ_LEVELS - 1;
    struct gz_cache *c = cache_get();
    if (c && !c->comp[level])
        c->comp[level] = libdeflate_alloc_compressor(level);
    if (!c || !c->comp[level])
        return -1;
    size_t bound = libdeflate_gzip_compress_bound(c->comp[level], len);
    uint8_t *buf = malloc(bound);
    if (!buf)
        return -1;
    size_t n = libdeflate_gzip_compress(c->comp[level], in, len, buf, bound);
    if (n == 0) {
        free(buf);
        return -1;
    }
    uint8_t *shrunk = realloc(buf, n);
    *out = shrunk ? shrunk : buf;
    *outlen = n;
    return 0;
}
