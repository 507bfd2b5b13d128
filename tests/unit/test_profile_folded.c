/* test_profile_folded.c - folded stacks -> pprof (profile/folded.c): Pyroscope's folded
 * and lines formats, sample-rate scaling, merging of identical stacks, bad lines, overflow
 * and the conversion budget. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "profile/folded.h"
#include "profile/pprof.h"
#include "testutil.h"

#define NOW_NS 1700000000000000000ll

static const char *fn_of_loc(const Perftools__Profiles__Profile *p, uint64_t loc)
{
    for (size_t i = 0; i < p->n_location; i++)
        if (p->location[i]->id == loc)
            for (size_t k = 0; k < p->n_function; k++)
                if (p->function[k]->id == p->location[i]->line[0]->function_id)
                    return p->string_table[p->function[k]->name];
    return NULL;
}

static void test_folded(void **st)
{
    (void)st;
    const char body[] = "main;work;hot 3\r\nmain;work 2\n\nmain;idle 0\n";
    uint8_t *out, *raw;
    size_t outlen, rawlen;
    char err[128];
    assert_int_equal(pg_folded_to_pprof((const uint8_t *)body, sizeof(body) - 1, 0, "process_cpu",
                                        "samples", "count", 100, NOW_NS, NOW_NS + 10000000000ll,
                                        &out, &outlen, err, sizeof(err)),
                     0);
    Perftools__Profiles__Profile *p = NULL;
    assert_int_equal(
        pg_pprof_check(out, outlen, NULL, 1 << 20, &raw, &rawlen, &p, err, sizeof(err)), 0);
    assert_int_equal(p->n_sample, 3);
    assert_string_equal(p->string_table[p->sample_type[0]->type], "cpu");
    assert_string_equal(p->string_table[p->sample_type[0]->unit], "nanoseconds");
    assert_int_equal(p->period, 10000000);
    assert_int_equal(p->sample[0]->value[0], 30000000);
    assert_int_equal(p->sample[0]->n_location_id, 3);
    assert_string_equal(fn_of_loc(p, p->sample[0]->location_id[0]), "hot");
    assert_string_equal(fn_of_loc(p, p->sample[0]->location_id[2]), "main");
    assert_int_equal(p->n_function, 4); /* main, work, hot, idle: deduplicated */
    assert_int_equal(p->time_nanos, NOW_NS);
    assert_int_equal(p->duration_nanos, 10000000000ll);
    pg_pprof_free(p);
    free(raw);
    free(out);

    /* lines: one sample per line, count 1, memory type kept unscaled */
    const char lines[] = "a;b\na;c\n";
    assert_int_equal(pg_folded_to_pprof((const uint8_t *)lines, sizeof(lines) - 1, 1, "memory",
                                        "alloc_objects", "count", 100, NOW_NS, NOW_NS, &out,
                                        &outlen, err, sizeof(err)),
                     0);
    assert_int_equal(
        pg_pprof_check(out, outlen, NULL, 1 << 20, &raw, &rawlen, &p, err, sizeof(err)), 0);
    assert_int_equal(p->n_sample, 2);
    assert_int_equal(p->sample[1]->value[0], 1);
    assert_string_equal(p->string_table[p->sample_type[0]->type], "alloc_objects");
    pg_pprof_free(p);
    free(raw);
    free(out);

    const char *bad[] = {"a;b x\n", "a;b\n", "a;b -1\n", "\n\n", "; 5\n", "a;\xff 1\n"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(pg_folded_to_pprof((const uint8_t *)bad[i], strlen(bad[i]), 0,
                                            "process_cpu", "samples", "count", 100, 0, 0, &out,
                                            &outlen, err, sizeof(err)),
                         -1);
    /* identical stacks are merged (lines format: one stack per line) */
    {
        size_t reps = 50000, n = 0;
        char *body2 = malloc(reps * 8 + 16);
        for (size_t i = 0; i < reps; i++)
            n += (size_t)sprintf(body2 + n, "%s\n", i % 2 ? "m;a;b" : "m;c");
        assert_int_equal(pg_folded_to_pprof((const uint8_t *)body2, n, 1, "memory", "alloc_objects",
                                            "count", 100, 0, 0, &out, &outlen, err, sizeof(err)),
                         0);
        assert_int_equal(
            pg_pprof_check(out, outlen, NULL, 1 << 20, &raw, &rawlen, &p, err, sizeof(err)), 0);
        assert_int_equal(p->n_sample, 2);
        assert_int_equal(p->sample[0]->value[0], 25000);
        assert_int_equal(p->sample[0]->n_location_id, 2);
        assert_string_equal(fn_of_loc(p, p->sample[0]->location_id[0]), "c");
        assert_int_equal(p->sample[1]->value[0], 25000);
        assert_string_equal(fn_of_loc(p, p->sample[1]->location_id[0]), "b");
        assert_int_equal(p->n_function, 4);
        pg_pprof_free(p);
        free(raw);
        free(out);
        free(body2);
    }
    /* the merged counts of a stack overflow */
    const char twice[] = "a 9223372036854775807\na 1\n";
    assert_int_equal(pg_folded_to_pprof((const uint8_t *)twice, sizeof(twice) - 1, 0, "memory",
                                        "alloc_objects", "count", 100, 0, 0, &out, &outlen, err,
                                        sizeof(err)),
                     -1);
    assert_non_null(strstr(err, "overflow"));
    /* distinct short frames: the conversion is refused (-2) once it would allocate more than
     * 16x the body + 1 MiB, instead of ~60x */
    {
        size_t cap = 512 * 1024, n = 0, i = 0;
        char *body3 = malloc(cap + 1024);
        while (n < cap) {
            for (int k = 0; k < 50; k++, i++)
                n += (size_t)sprintf(body3 + n, "%s%zx", k ? ";" : "", i);
            n += (size_t)sprintf(body3 + n, " 1\n");
        }
        err[0] = '\0';
        assert_int_equal(pg_folded_to_pprof((const uint8_t *)body3, n, 0, "process_cpu", "samples",
                                            "count", 100, 0, 0, &out, &outlen, err, sizeof(err)),
                         -2);
        assert_non_null(strstr(err, "folded profile too large"));
        /* a smaller body of such frames fits in the 1 MiB slack */
        size_t n2 = n / 64;
        while (body3[n2 - 1] != '\n')
            n2--;
        assert_int_equal(pg_folded_to_pprof((const uint8_t *)body3, n2, 0, "process_cpu", "samples",
                                            "count", 100, 0, 0, &out, &outlen, err, sizeof(err)),
                         0);
        free(out);
        free(body3);
    }
    /* overflow when scaling to nanoseconds */
    const char big[] = "a 9223372036854775807\n";
    assert_int_equal(pg_folded_to_pprof((const uint8_t *)big, sizeof(big) - 1, 0, "process_cpu",
                                        "samples", "count", 100, 0, 0, &out, &outlen, err,
                                        sizeof(err)),
                     -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_folded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
