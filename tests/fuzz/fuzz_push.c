/* fuzz_push.c - libFuzzer harness 4: POST /push.v1.PusherService/Push through the real
 * handler, protobuf (push.v1.PushRequest) and connect JSON.
 *
 * Input (the format of tests/fuzz/regressions/push/): byte 0 picks the request: bit 0
 * set = Content-Type application/json, else application/proto; bit 1 set = also
 * Content-Encoding: gzip. The rest is the body. The handler must answer (else the
 * request leaks) without any sanitizer report. */
#include <stdint.h>
#include <stdlib.h>

#include "tests/fuzz/receiver_fixture.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    pg_fuzz_receiver_init();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    static const char *const hdr[] = {
        "Content-Type: application/proto\n",
        "Content-Type: application/json\n",
        "Content-Type: application/proto\nContent-Encoding: gzip\n",
        "Content-Type: application/json\nContent-Encoding: gzip\n",
    };
    pg_fuzz_receiver_serve(PG_RECEIVER_ROUTE_PUSH, PG_RECEIVER_PUSH_PATH, hdr[data[0] & 3],
                           data + 1, size - 1);
    return 0;
}
