/* test_scraper_profile_relabel.c - unit tests for scraper/profile_relabel: a job's
 * profile_relabel_configs on a loop's series labels (a label from __name__, a drop, a
 * keep, internal labels removed except __name__/__delta__/__tenant_id__, a series left
 * without __name__ or service_name discarded). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"
#include "core/labels.h"
#include "scraper/profile_relabel.h"
#include "testcfg.h"

static void test_profile_relabel(void **state)
{
    (void)state;
    struct pg_cfg *c =
        pg_test_load_cfg("scrape_configs:\n"
                         "  - job_name: app\n"
                         "    profile_relabel_configs:\n"
                         "      - {source_labels: [__name__], target_label: kind, "
                         "regex: '(.+)', replacement: 'prof_$1'}\n"
                         "      - {source_labels: [__name__], regex: goroutine, "
                         "action: drop}\n"
                         "      - {target_label: __scratch__, replacement: x}\n"
                         "      - {source_labels: [team], regex: gone, target_label: "
                         "service_name, replacement: ''}\n"
                         "      - {source_labels: [team], regex: '(anon)', target_label: "
                         "__tenant_id__, replacement: 'tenant-$1'}\n");
    const struct pg_cfg_scrape *job = &c->scrape[0];
    assert_int_equal(job->n_profile_relabel, 5);
    struct pg_labels s, out;
    pg_labels_init(&s);
    pg_labels_init(&out);
    pg_labels_set(&s, "__name__", "memory");
    pg_labels_set(&s, "__delta__", "false");
    pg_labels_set(&s, "service_name", "svc");
    pg_labels_set(&s, "team", "a");
    char why[160] = "";
    assert_int_equal(pg_scrape_profile_relabel(job, &s, &out, why, sizeof why), 1);
    assert_string_equal(pg_labels_get(&out, "kind"), "prof_memory");
    assert_string_equal(pg_labels_get(&out, "__delta__"), "false");
    assert_null(pg_labels_get(&out, "__scratch__"));
    assert_null(pg_labels_get(&out, "__tenant_id__"));

    pg_labels_set(&s, "team", "anon");
    assert_int_equal(pg_scrape_profile_relabel(job, &s, &out, why, sizeof why), 1);
    assert_string_equal(pg_labels_get(&out, "__tenant_id__"), "tenant-anon");

    pg_labels_set(&s, "__name__", "goroutine");
    assert_int_equal(pg_scrape_profile_relabel(job, &s, &out, why, sizeof why), 0);
    assert_string_equal(why, "profile_relabel_configs[1] (drop)");
    assert_int_equal(out.n, 0);

    pg_labels_set(&s, "__name__", "block");
    pg_labels_set(&s, "team", "gone");
    assert_int_equal(pg_scrape_profile_relabel(job, &s, &out, why, sizeof why), 0);
    assert_string_equal(why, "service_name is missing after profile_relabel_configs");

    pg_labels_reset(&s);
    pg_labels_reset(&out);
    pg_cfg_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_profile_relabel),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
