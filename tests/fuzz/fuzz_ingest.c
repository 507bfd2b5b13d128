/* fuzz_ingest.c - libFuzzer harness 3: POST /ingest through the real handler, in every
 * format (pprof raw or gzip, multipart, folded/groups/lines, auto-detected).
 *
 * Input (the format of tests/fuzz/regressions/ingest/): the first line is the query
 * string (name=...&from=...&until=...&format=...), then optional "Header: value" lines
 * (Content-Type for multipart, X-Scope-OrgID, ...), then an empty line, then the body.
 * The request goes through receiver_fixture.h's in-memory server; the handler must
 * answer it (else it leaks) without any sanitizer report. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tests/fuzz/receiver_fixture.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    pg_fuzz_receiver_init();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *sep = memmem(data, size, "\n\n", 2);
    if (!sep)
        return 0;
    size_t hlen = (size_t)(sep - data);
    char *head = strndup((const char *)data, hlen);
    if (!head || strlen(head) != hlen) { /* NUL in the query or headers */
        free(head);
        return 0;
    }
    char *nl = strchr(head, '\n');
    if (nl)
        *nl = '\0';
    size_t ulen = strlen(head) + sizeof "/ingest?";
    char *uri = malloc(ulen);
    if (uri) {
        snprintf(uri, ulen, "/ingest?%s", head);
        pg_fuzz_receiver_serve(PG_RECEIVER_ROUTE_INGEST, uri, nl ? nl + 1 : NULL, sep + 2,
                               size - hlen - 2);
    }
    free(uri);
    free(head);
    return 0;
}
