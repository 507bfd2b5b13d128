/* fuzz_pprof.c - libFuzzer harness 1: a scraped body, as the scraper checks it.
 *
 * Input: the HTTP body of a /debug/pprof scrape (gzip or raw protobuf, or anything else).
 * Calls pg_pprof_prepare as the scraper's worker does for raw (non-delta) types
 * (scraper/work.c: body checks + the streaming wire check, content type unknown, a 4 MiB
 * decompression limit), and pg_pprof_check (protobuf-c decode + validate + wire check) on
 * the same body. Invariants:
 * - agreement: pg_pprof_check accepting implies pg_pprof_prepare accepts with the same raw
 *   bytes (check = the same unwrap + decode + validate + wire check). The converse is only
 *   guaranteed up to protobuf-c's own decode (it refuses wire types the streaming check
 *   skips, and the 16x decode budget): when prepare accepts, check may fail only with
 *   its decode errors, never with a validate reason;
 * - on success the decoded profile validates, and the raw protobuf it returned, re-packed
 *   by protobuf-c, passes pg_pprof_check and pg_pprof_prepare again with the same sample
 *   count (when it has no unknown fields, see has_unknown).
 * Everything is freed (LeakSanitizer checks). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* 1 if err is one of pg_pprof_check's protobuf-c decode failures (not a validate or wire
 * check reason): the only way it may refuse what pg_pprof_prepare accepts. */
static int decode_error(const char *err)
{
    return !strcmp(err, "pprof: body is not a valid protobuf profile") ||
           !strncmp(err, "pprof: decoding needs more than ", 32);
}

/* pg_pprof_prepare on body must agree with pg_pprof_check's verdict (checked, with its raw
 * bytes raw[0..rawlen) when it accepted, check_err when not). */
static void agree(const uint8_t *body, size_t len, size_t limit, int checked, const uint8_t *raw,
                  size_t rawlen, const char *check_err)
{
    uint8_t *praw = NULL;
    size_t prawlen = 0;
    char err[256];
    int prepared = pg_pprof_prepare(body, len, NULL, limit, &praw, &prawlen, err, sizeof err) == 0;
    if (checked && !prepared) {
        fprintf(stderr, "pg_pprof_check accepted, pg_pprof_prepare refused: %s\n", err);
        abort();
    }
    if (prepared && !checked && !decode_error(check_err)) {
        fprintf(stderr, "pg_pprof_prepare accepted, pg_pprof_check refused: %s\n", check_err);
        abort();
    }
    if (checked && (prawlen != rawlen || (rawlen && memcmp(praw, raw, rawlen) != 0)))
        abort(); /* both unwrap the same body: the same raw bytes */
    free(praw);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *raw = NULL;
    size_t rawlen = 0;
    Perftools__Profiles__Profile *prof = NULL;
    char err[256];
    int checked =
        pg_pprof_check(data, size, NULL, LIMIT, &raw, &rawlen, &prof, err, sizeof err) == 0;
    agree(data, size, LIMIT, checked, raw, rawlen, err);
    if (!checked)
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
        agree(re, m, LIMIT + n, 1, raw2, raw2len, "");
        free(raw2);
        pg_pprof_free(p2);
        free(re);
    }
    free(raw);
    pg_pprof_free(prof);
    return 0;
}
