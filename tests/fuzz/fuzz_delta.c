/* fuzz_delta.c - libFuzzer harness 2: the client-side delta on two consecutive scrapes.
 *
 * Input: byte 0 picks which sample types are delta-ed (bit i: the i-th sample type of
 * the second body, up to 8), bytes 1-2 (little-endian) split the rest into two bodies.
 * Each body goes through pg_pprof_check as a scrape does; then pg_delta_apply on the
 * first (which only primes) and the second, as the scraper does. Invariants:
 * - the first call primes and leaves the profile unchanged;
 * - the output of the second validates, and re-encodes to a body pg_pprof_check accepts;
 * - totals identity, for every delta-ed type, when no value is negative:
 *   sum(cur2) - sum(cur1) <= sum(delta) <= sum(cur2), every delta >= 0;
 * - applying the first body against itself gives only zero deltas. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "profile/delta.h"
#include "profile/pprof.h"

#define LIMIT (4u << 20)

static Perftools__Profiles__Profile *decode(const uint8_t *b, size_t n)
{
    uint8_t *raw = NULL;
    size_t rawlen;
    Perftools__Profiles__Profile *p = NULL;
    char err[256];
    if (pg_pprof_check(b, n, NULL, LIMIT, &raw, &rawlen, &p, err, sizeof err) < 0)
        return NULL;
    free(raw);
    return p;
}

static long type_index(const Perftools__Profiles__Profile *p, const char *name)
{
    for (size_t i = 0; i < p->n_sample_type; i++)
        if (!strcmp(p->string_table[p->sample_type[i]->type], name))
            return (long)i;
    return -1;
}

/* Sums the values of type name; *neg set when one is negative. */
static __int128 total(const Perftools__Profiles__Profile *p, const char *name, int *neg)
{
    long t = type_index(p, name);
    __int128 s = 0;
    for (size_t i = 0; t >= 0 && i < p->n_sample; i++) {
        if ((size_t)t >= p->sample[i]->n_value)
            continue;
        int64_t v = p->sample[i]->value[t];
        *neg |= v < 0;
        s += v;
    }
    return s;
}

static void check_output(const Perftools__Profiles__Profile *p)
{
    char err[256];
    if (pg_pprof_validate(p, err, sizeof err) < 0)
        abort();
    uint8_t *out = NULL;
    size_t len = 0;
    if (pg_delta_encode(p, &out, &len) < 0)
        return; /* out of memory */
    Perftools__Profiles__Profile *q = decode(out, len);
    if (!q)
        abort();
    pg_pprof_free(q);
    free(out);
}

/* The delta of a profile against itself is zero everywhere. */
static void self_delta(const uint8_t *b, size_t n, const char *const *types, size_t nt)
{
    Perftools__Profiles__Profile *a = decode(b, n), *c = decode(b, n);
    struct pg_delta *d = pg_delta_create();
    int primed = 0;
    if (a && c && d && pg_delta_apply(d, a, types, nt, &primed) == 0 &&
        pg_delta_apply(d, c, types, nt, &primed) == 0) {
        for (size_t k = 0; k < nt; k++) {
            int neg = 0;
            if (total(c, types[k], &neg) != 0 && !neg)
                abort();
        }
    }
    pg_delta_destroy(d);
    pg_pprof_free(a);
    pg_pprof_free(c);
}

static void run(const uint8_t *b1, size_t n1, const uint8_t *b2, size_t n2, uint8_t mask)
{
    Perftools__Profiles__Profile *p1 = decode(b1, n1), *p2 = p1 ? decode(b2, n2) : NULL;
    const char *types[8];
    size_t nt = 0;
    for (size_t i = 0; p2 && i < p2->n_sample_type && i < 8; i++)
        if (mask & (1u << i))
            types[nt++] = p2->string_table[p2->sample_type[i]->type];
    struct pg_delta *d = nt ? pg_delta_create() : NULL;
    int primed = 0, neg = 0;
    if (d && pg_delta_apply(d, p1, types, nt, &primed) == 0) {
        if (!primed)
            abort();
        __int128 cur1[8], cur2[8];
        for (size_t k = 0; k < nt; k++) {
            cur1[k] = total(p1, types[k], &neg);
            cur2[k] = total(p2, types[k], &neg);
        }
        if (pg_delta_apply(d, p2, types, nt, &primed) == 0) {
            if (primed)
                abort();
            check_output(p2);
            for (size_t k = 0; k < nt && !neg; k++) {
                int dneg = 0;
                __int128 s = total(p2, types[k], &dneg);
                if (dneg || s > cur2[k] || s < cur2[k] - cur1[k])
                    abort(); /* totals identity broken */
            }
        }
    }
    if (nt)
        self_delta(b1, n1, types, nt);
    pg_delta_destroy(d);
    pg_pprof_free(p1);
    pg_pprof_free(p2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    uint8_t mask = data[0];
    size_t split = (size_t)data[1] | (size_t)data[2] << 8;
    data += 3;
    size -= 3;
    if (split > size)
        split = size;
    run(data, split, data + split, size - split, mask);
    return 0;
}
