/* test_daemon_ui_pushes.c - the receiver's last push per series kept for the web UI
 * (daemon/ui_pushes.c): one entry per (service_name, __name__) holding the latest body,
 * the series cap (the entry updated longest ago is replaced), the byte budget (a body that
 * does not fit is not kept, and its bytes come back when replaced). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "core/labels.h"
#include "daemon/ui_pushes.h"

static void put(struct pg_ui_pushes *p, const char *svc, const char *name, const char *body,
                int64_t t)
{
    struct pg_labels ls;
    pg_labels_init(&ls);
    pg_labels_set(&ls, "service_name", svc);
    pg_labels_set(&ls, "__name__", name);
    pg_ui_pushes_put(p, &ls, (const uint8_t *)body, strlen(body), t);
    pg_labels_reset(&ls);
}

static void test_latest_per_series(void **state)
{
    (void)state;
    struct pg_ui_pushes *p = pg_ui_pushes_new(8, 1024);
    put(p, "a", "cpu", "one", 1);
    put(p, "a", "cpu", "two!", 2);
    put(p, "a", "memory", "m", 3);
    put(p, "b", "cpu", "b1", 4);
    assert_int_equal(pg_ui_pushes_count(p), 3);
    const struct pg_ui_push *e = pg_ui_pushes_find(p, "a", "cpu");
    assert_non_null(e);
    assert_int_equal(e->len, 4);
    assert_memory_equal(e->body, "two!", 4);
    assert_int_equal(e->count, 2);
    assert_int_equal(e->time_ms, 2);
    assert_non_null(strstr(e->labels, "service_name=\"a\""));
    assert_null(pg_ui_pushes_find(p, "c", "cpu"));
    pg_ui_pushes_free(p);
}

static void test_bounds(void **state)
{
    (void)state;
    struct pg_ui_pushes *p = pg_ui_pushes_new(2, 10);
    put(p, "a", "cpu", "12345", 1);
    put(p, "b", "cpu", "12345", 2);
    put(p, "c", "cpu", "1", 3); /* replaces a (oldest), frees its 5 bytes */
    assert_int_equal(pg_ui_pushes_count(p), 2);
    assert_null(pg_ui_pushes_find(p, "a", "cpu"));
    assert_non_null(pg_ui_pushes_find(p, "c", "cpu")->body);
    put(p, "b", "cpu", "123456789", 4); /* 9 + 1 > 10 with b's old 5 given back: fits */
    assert_non_null(pg_ui_pushes_find(p, "b", "cpu")->body);
    put(p, "c", "cpu", "12", 5); /* 9 + 2 > 10: not kept, the series stays listed */
    const struct pg_ui_push *c = pg_ui_pushes_find(p, "c", "cpu");
    assert_null(c->body);
    assert_int_equal(c->count, 2);
    put(p, "b", "cpu", "x", 6); /* b shrinks: room again */
    put(p, "c", "cpu", "12", 7);
    assert_non_null(pg_ui_pushes_find(p, "c", "cpu")->body);
    pg_ui_pushes_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_latest_per_series),
        cmocka_unit_test(test_bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
