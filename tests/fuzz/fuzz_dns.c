/* fuzz_dns.c - libFuzzer harness 10: DNS answers for dns_sd_configs.
 *
 * Input: byte 0 picks the name's port (0-255) for A/AAAA/MX targets, the rest is a DNS
 * message as it arrives from a nameserver. The harness does what discovery/dns.c does
 * with a reply that matched its query: at least a 12-byte header with QR set, then for
 * rcode NOERROR the answer section through pg_sd_dns_parse_answers (compressed names
 * via dn_expand/dn_skipname, rdata lengths, SRV/MX targets, IPv4-mapped AAAA).
 * Invariants: success returns a well-formed group (tgroup_check.h) whose every target has
 * __address__ and __meta_dns_name; failure a reason and nothing allocated. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/labels.h"
#include "discovery/dns_internal.h"
#include "tests/fuzz/tgroup_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 + 12)
        return 0;
    unsigned port = data[0];
    const unsigned char *msg = data + 1;
    size_t len = size - 1;
    if (!(msg[2] & 0x80) || (msg[2] & 0x02) || (msg[3] & 0x0f) != 0)
        return 0; /* not a NOERROR, untruncated reply: dns.c never parses those */
    struct pg_tgroup g;
    char err[256] = "";
    if (pg_sd_dns_parse_answers(msg, len, "svc.example.org.", port, &g, err, sizeof err) < 0) {
        if (!err[0])
            abort(); /* a failure always says why */
        return 0;
    }
    pg_fuzz_check_group(&g);
    for (size_t t = 0; t < g.n_targets; t++)
        if (!pg_labels_get(&g.targets[t], "__address__") ||
            !pg_labels_get(&g.targets[t], "__meta_dns_name"))
            abort();
    pg_tgroup_reset(&g);
    return 0;
}
