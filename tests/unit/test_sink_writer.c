/* test_sink_writer.c - unit tests for the sink writer (sink/writer.c): the commit timer
 * and callback, requests, switching buffers and loss counting, on real buffers in a
 * fresh mkdtemp directory removed afterwards. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <event2/event.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/metrics.h"
#include "sink/buffer.h"
#include "sink/writer.h"

static const char *const one[] = {"a"};

struct fx {
    char dir[64];
    struct event_base *base;
    struct pg_buf *buf;
    struct pg_sink_writer *w;
    int commits; /* calls of the committed callback */
};

static void on_committed(void *ud)
{
    ((struct fx *)ud)->commits++;
}

static struct pg_buf *open_at(const char *dir)
{
    char err[256] = "";
    struct pg_buf *b = pg_buf_open(dir, one, 1, 0, 0, err, sizeof(err));
    if (!b)
        fail_msg("open %s: %s", dir, err);
    return b;
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    strcpy(f->dir, "/tmp/pg_writer_test.XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    f->base = event_base_new();
    f->buf = open_at(f->dir);
    f->w = pg_sink_writer_create(f->base, f->buf, 10, on_committed, f);
    if (!f->base || !f->w)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    pg_sink_writer_destroy(f->w);
    pg_buf_close(f->buf);
    event_base_free(f->base);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    int rc = system(cmd);
    free(f);
    pg_metrics_shutdown();
    return rc == 0 ? 0 : -1;
}

static int append(struct fx *f, const char *name)
{
    struct pg_labels ls;
    pg_labels_init(&ls);
    assert_int_equal(pg_labels_set(&ls, "job", "x"), 0);
    int rc = pg_sink_writer_append(f->w, &ls, name, 1, 2, NULL, (const uint8_t *)"body", 4);
    pg_labels_reset(&ls);
    return rc;
}

/* Rows committed in dir's database, seen from another connection. */
static int committed_rows(const char *dir)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/buffer.db", dir);
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT COUNT(*) FROM profiles", -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int n = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

static double dropped(const char *reason)
{
    struct pg_metric *m = pg_metric_counter("profgate_buffer_dropped_profiles_total", "", "reason");
    const char *lv[] = {reason};
    return pg_metric_value(m, lv);
}

static void test_timer_commits(void **state)
{
    struct fx *f = *state;
    assert_int_equal(append(f, "p0"), 0);
    assert_int_equal(append(f, "p1"), 0);
    assert_int_equal(committed_rows(f->dir), 0); /* pending only */
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (f->commits == 0) {
        event_base_loop(f->base, EVLOOP_ONCE);
        clock_gettime(CLOCK_MONOTONIC, &t);
        if (t.tv_sec - t0.tv_sec > 10)
            fail_msg("the timer never committed");
    }
    assert_int_equal(f->commits, 1);
    assert_int_equal(committed_rows(f->dir), 2);
    /* nothing pending: a commit is a no-op without a callback */
    assert_int_equal(pg_sink_writer_commit(f->w), 0);
    assert_int_equal(f->commits, 1);
}

static void test_request(void **state)
{
    struct fx *f = *state;
    assert_int_equal(append(f, "p0"), 0);
    assert_int_equal(pg_sink_writer_begin_request(f->w), 0);
    assert_int_equal(pg_sink_writer_begin_request(f->w), -1);
    assert_int_equal(append(f, "p1"), 0);
    assert_int_equal(pg_sink_writer_commit(f->w), -1); /* not inside a request */
    assert_int_equal(pg_sink_writer_end_request(f->w, 0), 0);
    assert_int_equal(pg_sink_writer_commit(f->w), 0);
    assert_int_equal(f->commits, 1);
    assert_int_equal(committed_rows(f->dir), 1);
    assert_int_equal(pg_sink_writer_begin_request(f->w), 0);
    assert_int_equal(append(f, "p2"), 0);
    assert_int_equal(append(f, "p3"), 0);
    assert_int_equal(pg_sink_writer_end_request(f->w, 1), 0);
    assert_int_equal(pg_sink_writer_commit(f->w), 0);
    assert_int_equal(committed_rows(f->dir), 3);
    /* only a request whose appends were all undone commits nothing */
    assert_int_equal(pg_sink_writer_begin_request(f->w), 0);
    assert_int_equal(append(f, "p4"), 0);
    assert_int_equal(pg_sink_writer_end_request(f->w, 0), 0);
    assert_int_equal(pg_sink_writer_commit(f->w), 0);
    assert_int_equal(f->commits, 2);
}

static void test_set_buffer(void **state)
{
    struct fx *f = *state;
    char dir2[80];
    snprintf(dir2, sizeof(dir2), "%s/second", f->dir);
    assert_int_equal(append(f, "old"), 0);
    struct pg_buf *b2 = open_at(dir2);
    pg_sink_writer_set_buffer(f->w, b2); /* commits "old" into the first buffer */
    assert_ptr_equal(pg_sink_writer_buffer(f->w), b2);
    assert_int_equal(f->commits, 1);
    assert_int_equal(committed_rows(f->dir), 1);
    assert_int_equal(append(f, "new"), 0);
    assert_int_equal(pg_sink_writer_commit(f->w), 0);
    assert_int_equal(committed_rows(dir2), 1);
    assert_int_equal(committed_rows(f->dir), 1);
    pg_sink_writer_set_buffer(f->w, NULL);
    pg_buf_close(b2);
    assert_int_equal(append(f, "none"), -1); /* no buffer: refused and counted */
    assert_true(dropped("buffer_error") == 1);
    assert_int_equal(pg_sink_writer_commit(f->w), -1);
    pg_sink_writer_set_buffer(f->w, f->buf);
}

/* A batch rolled back by SQLite (RAISE(ROLLBACK), as a full disk does) is counted as
 * commit_failed, the refused append itself as buffer_error; inside a request, neither. */
static void test_losses(void **state)
{
    struct fx *f = *state;
    char path[128];
    snprintf(path, sizeof(path), "%s/buffer.db", f->dir);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "CREATE TRIGGER full BEFORE INSERT ON profiles WHEN "
                                  "NEW.name='bad' BEGIN SELECT RAISE(ROLLBACK,'full'); END;",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(append(f, "p0"), 0);
    assert_int_equal(append(f, "p1"), 0);
    assert_int_equal(append(f, "bad"), -1);
    pg_sink_writer_account(f->w);
    assert_true(dropped("buffer_error") == 1);
    assert_true(dropped("commit_failed") == 2);
    assert_int_equal(pg_sink_writer_begin_request(f->w), 0);
    assert_int_equal(append(f, "p2"), 0);
    assert_int_equal(append(f, "bad"), -1);
    assert_int_equal(pg_sink_writer_end_request(f->w, 0), -1); /* SQLite took it all */
    assert_true(dropped("buffer_error") == 1);
    assert_true(dropped("commit_failed") == 2);
    assert_int_equal(append(f, "p3"), 0);
    assert_int_equal(pg_sink_writer_commit(f->w), 0);
    assert_int_equal(committed_rows(f->dir), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_timer_commits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_request, setup, teardown),
        cmocka_unit_test_setup_teardown(test_set_buffer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_losses, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
