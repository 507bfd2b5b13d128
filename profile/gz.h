/* gz.h - gzip inflate and deflate with libdeflate, for scraped bodies and re-compressed deltas.
 *
 * libdeflate works on whole buffers (no streaming), which is what a collector has: the body
 * is in memory and so is the delta. Inflate is bounded by a caller-given limit so a gzip bomb
 * fails instead of eating memory; the gzip ISIZE trailer is used only as a first guess of the
 * output size, never trusted.
 *
 * libdeflate compressor/decompressor objects are reused per thread: each thread that calls
 * pg_gz_inflate/pg_gz_deflate keeps one decompressor and one compressor per level used
 * (a compressor is 100 KB-1 MB, too costly to allocate per call). They are freed when the
 * thread exits (pthread key destructor) or earlier by pg_gz_thread_release(); the main
 * thread's cache stays reachable until exit (LSan does not report it), or call
 * pg_gz_thread_release() before exit. */
#ifndef PG_GZ_H
#define PG_GZ_H

#include <stddef.h>
#include <stdint.h>

/* 1 if buf starts with the gzip magic (1f 8b), else 0. */
int pg_gz_is_gzip(const uint8_t *buf, size_t len);

/* Inflates gzip data into a new buffer (caller frees *out). Concatenated gzip members are
 * inflated one after the other into one output (as gzip(1) and Go's gzip.Reader do); bytes
 * after the last member that do not start a new member are ignored (as the former zlib code
 * did). The output never exceeds limit bytes: a larger result fails with "exceeds limit".
 * Returns 0, or -1 with a one-line reason in err ("gzip: truncated input", "gzip: invalid block
 * type", "gzip: decompressed body exceeds limit of N bytes", ...) and nothing allocated. */
int pg_gz_inflate(const uint8_t *in, size_t inlen, size_t limit, uint8_t **out, size_t *outlen,
                  char *err, size_t errlen);

/* Compresses in[0..len) into a new gzip buffer (caller frees *out) at libdeflate level
 * 0..12 (out-of-range levels are clamped; 1 = fastest, 6 = zlib's default ratio).
 * Returns 0, or -1 (nothing allocated) when out of memory. */
int pg_gz_deflate(const uint8_t *in, size_t len, int level, uint8_t **out, size_t *outlen);

/* Frees the calling thread's cached libdeflate objects (they are re-created on demand).
 * Optional: a thread's cache is freed automatically when it exits. */
void pg_gz_thread_release(void);

#endif
