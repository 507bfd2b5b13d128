/* fuzz_oauth2.c - libFuzzer harness: an OAuth 2.0 token endpoint's answer (untrusted
 * bytes from the network), as core/oauth2.c reads it before any request uses the token.
 *
 * Input: the response body. Invariants: pg_oauth2_parse_answer either fails with *auth
 * NULL and a non-empty reason, or returns an Authorization value that is shorter than
 * PG_OAUTH2_MAX_AUTH, has no CR or LF (it becomes an HTTP header), contains a space
 * between type and token, and an expiry in [0, 10 years]. Everything is freed. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/oauth2.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *auth = (char *)1, err[256] = "";
    double secs = -1;
    if (pg_oauth2_parse_answer(data, size, &auth, &secs, err, sizeof err) < 0) {
        if (auth != NULL || err[0] == '\0')
            abort();
        return 0;
    }
    if (!auth || strlen(auth) >= PG_OAUTH2_MAX_AUTH || strpbrk(auth, "\r\n") ||
        !strchr(auth, ' ') || !(secs >= 0 && secs <= 10.0 * 365 * 86400))
        abort();
    free(auth);
    return 0;
}
