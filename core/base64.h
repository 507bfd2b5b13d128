/* base64.h - base64 decoding and encoding (RFC 4648), shared by everything that reads base64 text:
 * kubeconfig *-data fields (discovery/kubernetes) and protobuf-JSON bytes fields of pushed
 * profiles (daemon/receiver).
 *
 * Both alphabets are accepted, also mixed: the standard one ('+', '/') and the URL-safe
 * one ('-', '_'), as Go's protojson does. Padding is optional; '=' may only end the text.
 * Nothing else is checked about padding (its count is not verified). */
#ifndef PG_CORE_BASE64_H
#define PG_CORE_BASE64_H

#include <stddef.h>
#include <stdint.h>

/* Flags for pg_base64_decode. */
#define PG_BASE64_IGNORE_SPACE                                                                     \
    1 /* skip ASCII whitespace anywhere (kubeconfig, PEM style);                                   \
         without it whitespace is an invalid character */

/* Decodes in[0..len) into a new buffer. Returns 0 with *out (owned by the caller, never
 * NULL even when empty, and NUL-terminated for convenience: out[*outlen] == 0) and
 * *outlen; or -1 on an invalid character, a symbol after '=', a length that cannot be
 * base64 (one symbol left over after the last full group), or OOM (*out untouched). */
int pg_base64_decode(const char *in, size_t len, int flags, uint8_t **out, size_t *outlen);

/* Encodes in[0..len) with the standard alphabet and padding into a new NUL-terminated
 * string (the OAuth2 client's Basic credentials). Returns it, or NULL on OOM. */
char *pg_base64_encode(const void *in, size_t len);

#endif
