/* fuzz_pprof.c - libFuzzer harness 1: a scraped body, as the scraper checks it.
 *
 * Input: the HTTP body of a /debug/pprof scrape (gzip or raw protobuf, or anything else).
 * Calls pg_pprof_check exactly as the scraper does (content type unknown, a 4 MiB
 * decompression limit). Invariants on success: the decoded profile validates, and the
 * raw protobuf it returned, re-packed by protobuf-c, passes pg_pprof_check again with
 * the same sample count (when it has no unknown fields, see has_unknown). Everything is freed
 * (LeakSanitizer checks). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "profile/pprof.h"

#define LIMIT (4u << 20)

#define UNK(m) ((m) && (m)->base.n_unknown_fields)

/* 1 if any message of p carries unknown fields. protobuf-c keeps them and packs them
 * again; the round trip is only checked for profiles without them. (A field numbered 0 in
 * a non-canonical varint used to pass and re-pack into bytes protobuf-c refused:
 * pg_pprof_check now also runs the wire check, regression in
 * tests/fuzz/regressions/pprof/.) */
static int has_unknown(const Perftools__Profiles__Profile *p)
{
    int u = UNK(p) || UNK(p->period_type);
    for (size_t i = 0; i < p->n_sample_type; i++)
        u |= UNK(p->sample_type[i]);
    for (size_t i = 0; i < p->n_sample; i++) {
        u |= UNK(p->sample[i]);
        for (size_t j = 0; j < p->sample[i]->n_label; j++)
            u |= UNK(p->sample[i]->label[j]);
    }
    for (size_t i = 0; i < p->n_mapping; i++)
        u |= UNK(p->mapping[i]);
    for (size_t i = 0; i < p->n_location; i++) {
        u |= UNK(p->location[i]);
        for (size_t j = 0; j < p->location[i]->n_line; j++)
            u |= UNK(p->location[i]->line[j]);
    }
    for (size_t i = 0; i < p->n_function; i++)
        u |= UNK(p->function[i]);
    return u;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *raw = NULL;
    size_t rawlen = 0;
    Perftools__Profiles__Profile *prof = NULL;
    char err[256];
    if (pg_pprof_check(data, size, NULL, LIMIT, &raw, &rawlen, &prof, err, sizeof err) < 0)
        return 0;
    if (pg_pprof_validate(prof, err, sizeof err) < 0)
        abort(); /* pg_pprof_check accepted an invalid profile */
    size_t n = perftools__profiles__profile__get_packed_size(prof);
    uint8_t *re = has_unknown(prof) ? NULL : malloc(n ? n : 1);
    if (re) {
        size_t m = perftools__profiles__profile__pack(prof, re);
        uint8_t *raw2 = NULL;
        size_t raw2len = 0;
        Perftools__Profiles__Profile *p2 = NULL;
        if (m != n ||
            pg_pprof_check(re, m, NULL, LIMIT + n, &raw2, &raw2len, &p2, err, sizeof err) < 0) {
            fprintf(stderr, "re-encoded profile rejected: %s\n", err);
            abort(); /* a re-encoded valid profile must stay valid */
        }
        if (p2->n_sample != prof->n_sample)
            abort();
        free(raw2);
        pg_pprof_free(p2);
        free(re);
    }
    free(raw);
    pg_pprof_free(prof);
    return 0;
}
