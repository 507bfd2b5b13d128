/* pprof.h - checking and decoding scraped pprof bodies.
 *
 * A scrape body is kept only if it is a well-formed pprof profile: non-empty, not an HTML
 * or JSON page, gzip (decompressed here under a size limit, so a gzip bomb fails instead
 * of eating memory) or raw protobuf, and internally consistent after decoding. The
 * gzip is inflated by libdeflate (profile/gz.h). The
 * decoded form is protobuf-c's Perftools__Profiles__Profile from core/proto/profile.proto. */
#ifndef PG_PPROF_H
#define PG_PPROF_H

#include <stddef.h>
#include <stdint.h>

#include "profile.pb-c.h"

/* Inflates a gzip stream into a new buffer (caller frees *out). Fails when the input is
 * truncated or corrupt, or when the output would exceed limit bytes (limit 0 = no limit
 * is NOT allowed: pass the configured body_size_limit). Returns 0, or -1 with a reason in
 * err. */
int pg_pprof_gunzip(const uint8_t *in, size_t inlen, size_t limit, uint8_t **out, size_t *outlen,
                    char *err, size_t errlen);

/* Checks a scraped body and decodes it. content_type may be NULL. limit bounds the
 * decompressed size. On success returns 0, sets *raw and *rawlen to the uncompressed protobuf
 * bytes (new buffer, caller frees) and, if prof is non-NULL, *prof to the decoded profile
 * (caller frees with pg_pprof_free). Decoding may allocate at most 16x the decompressed
 * size + 1 MiB (a profile needing more is rejected), so memory stays bounded by limit.
 * On failure returns -1 with a one-line reason in err
 * (e.g. "body is an HTML page", "gzip: truncated input") and allocates nothing. */
int pg_pprof_check(const uint8_t *body, size_t len, const char *content_type, size_t limit,
                   uint8_t **raw, size_t *rawlen, Perftools__Profiles__Profile **prof, char *err,
                   size_t errlen);

/* The body checks of pg_pprof_check without decoding: empty, HTML or JSON bodies are
 * refused, gzip is inflated under limit (profile/gz.h), raw bytes are copied. *raw is the
 * uncompressed protobuf (new buffer, caller frees). Nothing is validated: use when the next
 * step validates itself (pg_fastdelta_apply checks with the rules of pg_pprof_wire_check).
 * Returns 0, or -1 with a reason in err and nothing allocated. */
int pg_pprof_unwrap(const uint8_t *body, size_t len, const char *content_type, size_t limit,
                    uint8_t **raw, size_t *rawlen, char *err, size_t errlen);

/* pg_pprof_check without the protobuf-c object graph: the same body checks, then the
 * streaming structural check pg_pprof_wire_check (profile/wire.h: the rules of
 * pg_pprof_validate plus referenced location/function/mapping ids exist). On success *raw
 * is the uncompressed protobuf (new buffer, caller frees). Returns 0, or -1 with a reason in
 * err and nothing allocated. */
int pg_pprof_prepare(const uint8_t *body, size_t len, const char *content_type, size_t limit,
                     uint8_t **raw, size_t *rawlen, char *err, size_t errlen);

/* Checks the internal consistency of a decoded profile (string table starts with "",
 * every string index and sample value count in range, referenced ids exist). Returns 0
 * or -1 with a reason in err. */
int pg_pprof_validate(const Perftools__Profiles__Profile *p, char *err, size_t errlen);

/* Frees a profile returned by pg_pprof_check. Accepts NULL. */
void pg_pprof_free(Perftools__Profiles__Profile *p);

#endif
