/* dns_internal.h - the DNS answer parser of discovery/dns.c, for in-process drivers (the
 * libFuzzer harness tests/fuzz/fuzz_dns.c). Not for daemon code: dns_sd_configs is used
 * through the discovery registry. */
#ifndef PG_DISCOVERY_DNS_INTERNAL_H
#define PG_DISCOVERY_DNS_INTERNAL_H

#include <stddef.h>

#include "discovery/tgroup.h"

/* Reads the answer section of msg[0..len) (len >= 12; a NOERROR reply that matched the
 * query for name) into a new group g for name: one target per A, AAAA, SRV or MX record
 * (port is used for A, AAAA and MX), with the __meta_dns_* labels. Returns 0 (g owned by
 * the caller: pg_tgroup_reset), or -1 with a reason in err (g then needs no reset). */
int pg_sd_dns_parse_answers(const unsigned char *msg, size_t len, const char *name, unsigned port,
                            struct pg_tgroup *g, char *err, size_t errlen);

#endif
