/* test_sink_buffer.c - unit tests for the durable profile buffer (sink/buffer.c),
 * against a real database file in a fresh mkdtemp directory removed afterwards. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "sink/buffer.h"

static const char *const two[] = {"a", "b"};

static int setup(void **state)
{
    char *dir = strdup("/tmp/pg_buf_test.XXXXXX");
    if (!dir || !mkdtemp(dir)) {
        free(dir);
        return -1;
    }
    *state = dir;
    return 0;
}

static int teardown(void **state)
{
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", (char *)*state);
    int rc = system(cmd);
    free(*state);
    return rc == 0 ? 0 : -1;
}

static struct pg_buf *open_buf(const char *dir, const char *const *be, size_t n, uint64_t max_size,
                               int64_t max_age_ms)
{
    char err[256] = "";
    struct pg_buf *b = pg_buf_open(dir, be, n, max_size, max_age_ms, err, sizeof(err));
    if (!b)
        fail_msg("open: %s", err);
    return b;
}

static void append_n(struct pg_buf *b, int from, int count, size_t len)
{
    struct pg_labels ls;
    pg_labels_init(&ls);
    assert_int_equal(pg_labels_set(&ls, "job", "api"), 0);
    uint8_t *body = calloc(1, len ? len : 1);
    assert_non_null(body);
    for (int i = from; i < from + count; i++) {
        char name[32];
        snprintf(name, sizeof(name), "p%d", i);
        memset(body, i & 0xff, len);
        assert_int_equal(pg_buf_append(b, &ls, name, i, i + 1, NULL, body, len), 0);
    }
    free(body);
    pg_labels_reset(&ls);
}

static void test_round_trip(void **state)
{
    const char *dir = *state;
    struct pg_buf *b = open_buf(dir, two, 1, 0, 0);
    struct pg_labels ls;
    pg_labels_init(&ls);
    pg_labels_set(&ls, "job", "a:b 12:x");
    pg_labels_set(&ls, "__name__", "process_cpu");
    pg_labels_set(&ls, "empty", "");
    pg_labels_set(&ls, "nl", "line1\nline2\\");
    const uint8_t body[] = {0, 1, 2, 0, 255};
    assert_int_equal(pg_buf_append(b, &ls, "cpu", 100, 200, "t1", body, sizeof(body)), 0);
    assert_int_equal(pg_buf_append(b, &ls, NULL, 1, 2, NULL, NULL, 0), 0);
    assert_int_equal(pg_buf_flush(b), 0);

    struct pg_buf_item *it;
    size_t n;
    assert_int_equal(pg_buf_read(b, "a", 0, 0, &it, &n), 0);
    assert_int_equal(n, 2);
    assert_true(pg_labels_equal(&it[0].labels, &ls));
    assert_string_equal(it[0].name, "cpu");
    assert_string_equal(it[0].tenant, "t1");
    assert_int_equal(it[0].from_ns, 100);
    assert_int_equal(it[0].until_ns, 200);
    assert_int_equal(it[0].len, sizeof(body));
    assert_memory_equal(it[0].body, body, sizeof(body));
    assert_null(it[1].name);
    assert_null(it[1].tenant);
    assert_int_equal(it[1].len, 0);
    assert_non_null(it[1].body);
    assert_true(it[1].id > it[0].id);
    pg_buf_items_free(it, n);

    assert_int_equal(pg_buf_read(b, "nope", 0, 0, &it, &n), -1);
    struct pg_buf_stats st;
    pg_buf_stats(b, &st);
    assert_int_equal(st.rows, 2);
    assert_int_equal(st.bytes, sizeof(body));
    assert_int_equal(st.appended, 2);
    assert_int_equal(st.errors, 0);
    assert_true(st.oldest_ms > 0);
    pg_labels_reset(&ls);
    pg_buf_close(b);
    pg_buf_close(NULL);
}

static void test_two_cursors(void **state)
{
    const char *dir = *state;
    struct pg_buf *b = open_buf(dir, two, 2, 0, 0);
    append_n(b, 0, 3, 10);
    assert_int_equal(pg_buf_flush(b), 0);
    struct pg_buf_item *it;
    size_t n;
    assert_int_equal(pg_buf_read(b, "a", 0, 0, &it, &n), 0);
    assert_int_equal(n, 3);
    int64_t last = it[2].id, first = it[0].id;
    pg_buf_items_free(it, n);

    assert_int_equal(pg_buf_ack(b, "a", last), 0);
    assert_int_equal(pg_buf_read(b, "a", 0, 0, &it, &n), 0);
    assert_int_equal(n, 0);
    assert_null(it);
    struct pg_buf_stats st;
    pg_buf_stats(b, &st);
    assert_int_equal(st.rows, 3); /* b has not acked */

    assert_int_equal(pg_buf_read(b, "b", 0, 0, &it, &n), 0);
    assert_int_equal(n, 3);
    pg_buf_items_free(it, n);
    assert_int_equal(pg_buf_ack(b, "b", first), 0);
    pg_buf_stats(b, &st);
    assert_int_equal(st.rows, 2);
    assert_int_equal(st.bytes, 20);
    assert_int_equal(pg_buf_read(b, "b", 0, 0, &it, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(it[0].id, first + 1);
    pg_buf_items_free(it, n);
    assert_int_equal(pg_buf_ack(b, "b", last), 0);
    pg_buf_stats(b, &st);
    assert_int_equal(st.rows, 0);
    assert_int_equal(st.bytes, 0);
    assert_int_equal(st.oldest_ms, 0);
    assert_int_equal(pg_buf_ack(b, "nope", last), -1);
    pg_buf_close(b);
}

static void test_reopen_resumes(void **state)
{
    const char *dir = *state;
    struct pg_buf *b = open_buf(dir, two, 2, 0, 0);
    append_n(b, 0, 4, 8);
    assert_int_equal(pg_buf_flush(b), 0);
    struct pg_buf_item *it;
    size_t n;
    assert_int_equal(pg_buf_read(b, "a", 2, 0, &it, &n), 0);
    assert_int_equal(n, 2);
    int64_t acked = it[1].id;
    pg_buf_items_free(it, n);
    assert_int_equal(pg_buf_ack(b, "a", acked), 0);
    append_n(b, 4, 1, 8); /* pending: close must flush it */
    pg_buf_close(b);

    /* restart, with a third backend that must see everything still buffered */
    const char *const three[] = {"a", "b", "c"};
    b = open_buf(dir, three, 3, 0, 0);
    struct pg_buf_stats st;
    pg_buf_stats(b, &st);
    assert_int_equal(st.rows, 5);
    assert_int_equal(st.bytes, 40);
    assert_int_equal(pg_buf_read(b, "a", 0, 0, &it, &n), 0);
    assert_int_equal(n, 3);
    assert_int_equal(it[0].id, acked + 1);
    assert_string_equal(it[2].name, "p4");
    pg_buf_items_free(it, n);
    assert_int_equal(pg_buf_read(b, "b", 0, 0, &it, &n), 0);
    assert_int_equal(n, 5);
    pg_buf_items_free(it, n);
    assert_int_equal(pg_buf_read(b, "c", 0, 0, &it, &n), 0);
    assert_int_equal(n, 5);
    pg_buf_items_free(it, n);
    pg_buf_close(b);
}

static void test_crash_before_flush(void **state)
{
    const char *dir = *state;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char err[128];
        struct pg_buf *b = pg_buf_open(dir, two, 1, 0, 0, err, sizeof(err));
        if (!b)
            _exit(2);
        append_n(b, 0, 2, 4);
        if (pg_buf_flush(b) != 0)
            _exit(3);
        append_n(b, 2, 3, 4); /* never flushed: the process dies here */
        _exit(0);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);

    struct pg_buf *b = open_buf(dir, two, 1, 0, 0);
    struct pg_buf_item *it;
    size_t n;
    assert_int_equal(pg_buf_read(b, "a", 0, 0, &it, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(it[0].name, "p0");
    assert_string_equal(it[1].name, "p1");
    pg_buf_items_free(it, n);
    struct pg_buf_stats st;
    pg_buf_stats(b, &st);
    assert_int_equal(st.rows, 2);
    pg_buf_close(b);
}

static void test_evict_size(void **state)
{
    const char *dir = *state;
    struct pg_buf *b = open_buf(dir, two, 1, 100, 0);
    append_n(b, 0, 10, 30); /* 300 bytes offered, at most 100 kept */
    assert_int_equal(pg_buf_flush(b), 0);
    struct pg_buf_stats st;
    pg_buf_stats(b, &st);
    assert_int_equal(st.rows, 3);
    assert_int_equal(st.bytes, 90);
    assert_int_equal(st.evicted, 7);
    assert_int_equal(st.appended, 10);
    assert_int_equal(pg_buf_evict(b), 0);
    struct pg_buf_item *it;
    size_t n;
    assert_int_equal(pg_buf_read(b, "a", 0, 0, &it, &n), 0);
    assert_int_equal(n, 3);
    assert_string_equal(it[0].name, "p7"); /* the oldest went first */
    pg_buf_items_free(it, n);
    pg_buf_close(b);
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void test_evict_age(void **state)
{
    const char *dir = *state;
    struct pg_buf *b = open_buf(dir, two, 1, 0, 50);
    append_n(b, 0, 3, 5);
    assert_int_equal(pg_buf_flush(b), 0);
    assert_int_equal(pg_buf_evict(b), 0); /* fresh rows stay */
    int total = 0;
    int64_t deadline = mono_ms() + 5000;
    while (total < 3 && mono_ms() < deadline) {
        int r = pg_buf_evict(b);
        assert_true(r >= 0);
        total += r;
        if (total < 3) {
            struct timespec ts = {0, 5 * 1000000};
            nanosleep(&ts, NULL);
        }
    }
    assert_int_equal(total, 3);
    struct pg_buf_stats st;
    pg_buf_stats(b, &st);
    assert_int_equal(st.rows, 0);
    assert_int_equal(st.bytes, 0);
    assert_int_equal(st.evicted, 3);
    assert_int_equal(st.oldest_ms, 0);
    pg_buf_close(b);
}

static void test_read_limits(void **state)
{
    const char *dir = *state;
    struct pg_buf *b = open_buf(dir, two, 1, 0, 0);
    append_n(b, 0, 1, 500);
    append_n(b, 1, 4, 10);
    struct pg_buf_item *it;
    size_t n;
    /* one row even when it alone is over max_bytes (read flushes first) */
    assert_int_equal(pg_buf_read(b, "a", 0, 100, &it, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(it[0].len, 500);
    int64_t id0 = it[0].id;
    pg_buf_items_free(it, n);
    assert_int_equal(pg_buf_ack(b, "a", id0), 0);
    assert_int_equal(pg_buf_read(b, "a", 0, 25, &it, &n), 0);
    assert_int_equal(n, 2);
    pg_buf_items_free(it, n);
    assert_int_equal(pg_buf_read(b, "a", 3, 0, &it, &n), 0);
    assert_int_equal(n, 3);
    pg_buf_items_free(it, n);
    assert_int_equal(pg_buf_read(b, "a", 0, 0, &it, &n), 0);
    assert_int_equal(n, 4);
    pg_buf_items_free(it, n);
    pg_buf_close(b);
}

/* A trigger stands in for SQLITE_FULL: RAISE(ROLLBACK) fails the insert and rolls back
 * the whole pending batch, as SQLITE_FULL may. Append reports -1, counts the error and
 * resynchronises its counters; earlier flushed rows survive and the buffer stays usable. */
static void test_sqlite_error(void **state)
{
    const char *dir = *state;
    struct pg_buf *b = open_buf(dir, two, 1, 0, 0);
    pg_buf_close(b);
    char path[512];
    snprintf(path, sizeof(path), "%s/buffer.db", dir);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "CREATE TRIGGER full BEFORE INSERT ON profiles WHEN "
                                  "NEW.name='p3' BEGIN SELECT RAISE(ROLLBACK,'full'); END;",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);

    b = open_buf(dir, two, 1, 0, 0);
    append_n(b, 0, 2, 4);
    assert_int_equal(pg_buf_flush(b), 0);
    append_n(b, 2, 1, 4); /* pending, lost with the rollback */
    struct pg_labels ls;
    pg_labels_init(&ls);
    const uint8_t body[4] = {0};
    assert_int_equal(pg_buf_append(b, &ls, "p3", 0, 0, NULL, body, sizeof(body)), -1);
    struct pg_buf_stats st;
    pg_buf_stats(b, &st);
    assert_int_equal(st.errors, 1);
    assert_int_equal(st.rows, 2);
    assert_int_equal(st.bytes, 8);
    assert_int_equal(pg_buf_append(b, &ls, "p4", 0, 0, NULL, body, sizeof(body)), 0);
    assert_int_equal(pg_buf_flush(b), 0);
    struct pg_buf_item *it;
    size_t n;
    assert_int_equal(pg_buf_read(b, "a", 0, 0, &it, &n), 0);
    assert_int_equal(n, 3);
    assert_string_equal(it[2].name, "p4");
    pg_buf_items_free(it, n);
    pg_labels_reset(&ls);
    pg_buf_close(b);
}

static void test_open_fails(void **state)
{
    (void)state;
    char err[256] = "";
    struct pg_buf *b = pg_buf_open("/proc/nonexistent/x", two, 1, 0, 0, err, sizeof(err));
    assert_null(b);
    assert_true(err[0] != '\0');
}

/* read_after ignores the cursors: it reads past what a backend has acknowledged, with
 * the same limits as pg_buf_read, but only committed rows (it does not flush). */
static void test_read_after(void **state)
{
    const char *dir = *state;
    struct pg_buf *b = open_buf(dir, two, 2, 0, 0);
    append_n(b, 0, 5, 10);
    struct pg_buf_item *it;
    size_t n;
    assert_int_equal(pg_buf_read_after(b, 0, 0, 0, &it, &n), 0);
    assert_int_equal(n, 0); /* pending, not committed */
    assert_int_equal(pg_buf_flush(b), 0);
    append_n(b, 5, 1, 10); /* pending again: not read below */
    assert_int_equal(pg_buf_read_after(b, 0, 0, 0, &it, &n), 0);
    assert_int_equal(n, 5);
    int64_t id0 = it[0].id;
    assert_string_equal(it[0].name, "p0");
    pg_buf_items_free(it, n);
    assert_int_equal(pg_buf_read_after(b, id0 + 1, 2, 0, &it, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(it[0].id, id0 + 2);
    assert_int_equal(it[1].id, id0 + 3);
    pg_buf_items_free(it, n);
    /* byte limit, but at least one row */
    assert_int_equal(pg_buf_read_after(b, id0, 0, 25, &it, &n), 0);
    assert_int_equal(n, 2);
    pg_buf_items_free(it, n);
    assert_int_equal(pg_buf_read_after(b, id0 + 3, 0, 1, &it, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(it[0].id, id0 + 4);
    pg_buf_items_free(it, n);
    assert_int_equal(pg_buf_read_after(b, id0 + 4, 0, 0, &it, &n), 0);
    assert_int_equal(n, 0);
    assert_null(it);
    assert_int_equal(pg_buf_flush(b), 0);
    assert_int_equal(pg_buf_read_after(b, id0 + 4, 0, 0, &it, &n), 0);
    assert_int_equal(n, 1);
    pg_buf_items_free(it, n);
    /* independent of the cursors: acking "a" does not change what read_after returns */
    assert_int_equal(pg_buf_ack(b, "a", id0 + 4), 0);
    assert_int_equal(pg_buf_read_after(b, id0 + 1, 0, 0, &it, &n), 0);
    assert_int_equal(n, 4);
    pg_buf_items_free(it, n);
    pg_buf_close(b);
}

static void test_cursor_and_count_after(void **state)
{
    const char *dir = *state;
    struct pg_buf *b = open_buf(dir, two, 2, 0, 0);
    int64_t cur = -1;
    assert_int_equal(pg_buf_cursor(b, "a", &cur), 0);
    assert_int_equal(cur, 0);
    assert_int_equal(pg_buf_cursor(b, "nope", &cur), -1);
    assert_int_equal(pg_buf_count_after(b, 0), 0);
    append_n(b, 0, 4, 10);
    /* pending rows count too */
    assert_int_equal(pg_buf_count_after(b, 0), 4);
    struct pg_buf_item *it;
    size_t n;
    assert_int_equal(pg_buf_read(b, "a", 0, 0, &it, &n), 0);
    int64_t id0 = it[0].id;
    pg_buf_items_free(it, n);
    assert_int_equal(pg_buf_count_after(b, id0), 3);
    assert_int_equal(pg_buf_count_after(b, id0 + 3), 0);
    assert_int_equal(pg_buf_ack(b, "a", id0 + 1), 0);
    assert_int_equal(pg_buf_cursor(b, "a", &cur), 0);
    assert_int_equal(cur, id0 + 1);
    assert_int_equal(pg_buf_cursor(b, "b", &cur), 0);
    assert_int_equal(cur, 0);
    /* rows deleted once both acked no longer count */
    assert_int_equal(pg_buf_ack(b, "b", id0 + 2), 0);
    assert_int_equal(pg_buf_count_after(b, 0), 2);
    pg_buf_close(b);
    /* the cursor is durable */
    b = open_buf(dir, two, 2, 0, 0);
    assert_int_equal(pg_buf_cursor(b, "a", &cur), 0);
    assert_int_equal(cur, id0 + 1);
    assert_int_equal(pg_buf_cursor(b, "b", &cur), 0);
    assert_int_equal(cur, id0 + 2);
    pg_buf_close(b);
}

static void expect_names(struct pg_buf *b, const char *const *want, size_t n_want)
{
    struct pg_buf_item *it;
    size_t n;
    assert_int_equal(pg_buf_read(b, "a", 0, 0, &it, &n), 0);
    assert_int_equal(n, n_want);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(it[i].name, want[i]);
    pg_buf_items_free(it, n);
}

/* Runs sql on dir's database through a second connection. */
static void side_sql(const char *dir, const char *sql)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/buffer.db", dir);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

static void test_request_keep_rollback(void **state)
{
    const char *dir = *state;
    struct pg_buf *b = open_buf(dir, two, 1, 0, 0);
    append_n(b, 0, 2, 4); /* the scraper's part of the batch */
    assert_int_equal(pg_buf_request_begin(b), 0);
    assert_int_equal(pg_buf_request_begin(b), -1); /* no nesting */
    append_n(b, 2, 2, 4);
    assert_int_equal(pg_buf_flush(b), -1); /* not while a request is open */
    assert_int_equal(pg_buf_request_end(b, 0), 0);
    assert_int_equal(pg_buf_request_end(b, 0), -1); /* none open */
    struct pg_buf_stats st;
    pg_buf_stats(b, &st);
    assert_int_equal(st.rows, 2);
    assert_int_equal(st.bytes, 8);
    assert_int_equal(st.appended, 2);
    append_n(b, 4, 1, 4);
    assert_int_equal(pg_buf_request_begin(b), 0);
    append_n(b, 5, 1, 4);
    assert_int_equal(pg_buf_request_end(b, 1), 0);
    assert_int_equal(pg_buf_flush(b), 0);
    pg_buf_stats(b, &st);
    assert_int_equal(st.rows, 4);
    assert_int_equal(st.appended, 4);
    assert_int_equal(st.lost, 0);
    assert_int_equal(st.errors, 0);
    pg_buf_close(b);
    b = open_buf(dir, two, 1, 0, 0); /* durable: read back after reopening */
    const char *want[] = {"p0", "p1", "p4", "p5"};
    expect_names(b, want, 4);
    pg_buf_close(b);
}

/* A rolled-back request that opened the transaction ends it: the write lock is free at
 * once (another connection gets it without waiting). */
static void test_request_rollback_ends_txn(void **state)
{
    const char *dir = *state;
    struct pg_buf *b = open_buf(dir, two, 1, 0, 0);
    assert_int_equal(pg_buf_request_begin(b), 0);
    append_n(b, 0, 1, 4);
    assert_int_equal(pg_buf_request_end(b, 0), 0);
    char path[512];
    snprintf(path, sizeof(path), "%s/buffer.db", dir);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE; COMMIT;", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    pg_buf_close(b);
}

/* A kept request that stored nothing (every profile relabel-dropped) and opened the
 * transaction ends it too: nothing is pending for the writer to commit. */
static void test_request_empty_keep_ends_txn(void **state)
{
    const char *dir = *state;
    struct pg_buf *b = open_buf(dir, two, 1, 0, 0);
    assert_int_equal(pg_buf_request_begin(b), 0);
    assert_int_equal(pg_buf_request_end(b, 1), 0);
    char path[512];
    snprintf(path, sizeof(path), "%s/buffer.db", dir);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 0);
    assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE; COMMIT;", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    pg_buf_close(b);
}

/* A rolled-back request also undoes the evictions its appends caused. */
static void test_request_rollback_eviction(void **state)
{
    const char *dir = *state;
    struct pg_buf *b = open_buf(dir, two, 1, 100, 0);
    append_n(b, 0, 3, 30);
    assert_int_equal(pg_buf_flush(b), 0);
    assert_int_equal(pg_buf_request_begin(b), 0);
    append_n(b, 3, 2, 30); /* 150 bytes: evicts p0 and p1 */
    struct pg_buf_stats st;
    pg_buf_stats(b, &st);
    assert_int_equal(st.evicted, 2);
    assert_int_equal(pg_buf_request_end(b, 0), 0);
    pg_buf_stats(b, &st);
    assert_int_equal(st.evicted, 0);
    assert_int_equal(st.rows, 3);
    assert_int_equal(st.bytes, 90);
    assert_int_equal(pg_buf_flush(b), 0);
    const char *want[] = {"p0", "p1", "p2"};
    expect_names(b, want, 3);
    pg_buf_close(b);
}

/* An append refused by SQLite in the middle of a request (a trigger, the real insert
 * path): the request's earlier rows go, the batch's other rows stay. */
static void test_request_failure_mid(void **state)
{
    const char *dir = *state;
    pg_buf_close(open_buf(dir, two, 1, 0, 0));
    side_sql(dir, "CREATE TRIGGER bad BEFORE INSERT ON profiles WHEN NEW.name='p3' "
                  "BEGIN SELECT RAISE(ABORT,'injected'); END;");
    struct pg_buf *b = open_buf(dir, two, 1, 0, 0);
    append_n(b, 0, 1, 4);
    assert_int_equal(pg_buf_flush(b), 0);
    append_n(b, 1, 1, 4); /* pending, outside the request */
    assert_int_equal(pg_buf_request_begin(b), 0);
    append_n(b, 2, 1, 4);
    struct pg_labels ls;
    pg_labels_init(&ls);
    const uint8_t body[4] = {0};
    assert_int_equal(pg_buf_append(b, &ls, "p3", 0, 0, NULL, body, sizeof(body)), -1);
    assert_int_equal(pg_buf_request_end(b, 0), 0);
    assert_int_equal(pg_buf_flush(b), 0);
    struct pg_buf_stats st;
    pg_buf_stats(b, &st);
    assert_int_equal(st.errors, 1);
    assert_int_equal(st.lost, 0);
    assert_int_equal(st.rows, 2);
    const char *want[] = {"p0", "p1"};
    expect_names(b, want, 2);
    pg_labels_reset(&ls);
    pg_buf_close(b);
}

/* When SQLite rolls the whole transaction back (RAISE(ROLLBACK), like SQLITE_FULL), the
 * batch's rows outside the request are lost (counted), the request's are not counted. */
static void test_request_whole_rollback(void **state)
{
    const char *dir = *state;
    pg_buf_close(open_buf(dir, two, 1, 0, 0));
    side_sql(dir, "CREATE TRIGGER full BEFORE INSERT ON profiles WHEN NEW.name='p3' "
                  "BEGIN SELECT RAISE(ROLLBACK,'full'); END;");
    struct pg_buf *b = open_buf(dir, two, 1, 0, 0);
    append_n(b, 0, 1, 4);
    assert_int_equal(pg_buf_flush(b), 0);
    append_n(b, 1, 1, 4);
    assert_int_equal(pg_buf_request_begin(b), 0);
    append_n(b, 2, 1, 4);
    struct pg_labels ls;
    pg_labels_init(&ls);
    const uint8_t body[4] = {0};
    assert_int_equal(pg_buf_append(b, &ls, "p3", 0, 0, NULL, body, sizeof(body)), -1);
    assert_int_equal(pg_buf_request_end(b, 0), -1);
    struct pg_buf_stats st;
    pg_buf_stats(b, &st);
    assert_int_equal(st.lost, 1);
    assert_int_equal(st.rows, 1);
    assert_int_equal(pg_buf_request_begin(b), 0); /* usable again */
    append_n(b, 4, 1, 4);
    assert_int_equal(pg_buf_request_end(b, 1), 0);
    assert_int_equal(pg_buf_flush(b), 0);
    const char *want[] = {"p0", "p4"};
    expect_names(b, want, 2);
    pg_labels_reset(&ls);
    pg_buf_close(b);
}

/* A second open of the same directory fails while the first is open (flock locks
 * belong to the open file description, so this holds within one process too). */
static void test_lock(void **state)
{
    const char *dir = *state;
    struct pg_buf *b = open_buf(dir, two, 1, 0, 0);
    char err[512] = "", want[512];
    assert_null(pg_buf_open(dir, two, 1, 0, 0, err, sizeof(err)));
    snprintf(want, sizeof(want),
             "storage.path %s is in use by another profgate (pid %ld; lock file %s/lock)", dir,
             (long)getpid(), dir);
    assert_string_equal(err, want);
    pg_buf_close(b);
    b = open_buf(dir, two, 1, 0, 0); /* released by close */
    pg_buf_close(b);
}

struct holder {
    const char *dir;
    int fds[2]; /* the holder writes one byte once it holds the write lock */
    int hold_ms;
};

static void *hold_write_lock(void *arg)
{
    struct holder *h = arg;
    char path[512];
    snprintf(path, sizeof(path), "%s/buffer.db", h->dir);
    sqlite3 *db = NULL;
    if (sqlite3_open(path, &db) != SQLITE_OK ||
        sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        abort();
    if (write(h->fds[1], "x", 1) != 1)
        abort();
    struct timespec ts = {h->hold_ms / 1000, (long)(h->hold_ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    sqlite3_close(db);
    return NULL;
}

/* Another connection holds the write lock longer than one busy timeout (1 s): the
 * buffer waits and retries instead of failing, and the batch survives. */
static void test_busy_retry(void **state)
{
    const char *dir = *state;
    struct pg_buf *b = open_buf(dir, two, 1, 0, 0);
    append_n(b, 0, 1, 4);
    assert_int_equal(pg_buf_flush(b), 0);
    struct holder h = {dir, {-1, -1}, 1500};
    assert_int_equal(pipe(h.fds), 0);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, hold_write_lock, &h), 0);
    char c;
    assert_int_equal(read(h.fds[0], &c, 1), 1);
    append_n(b, 1, 2, 4);
    assert_int_equal(pg_buf_flush(b), 0);
    assert_int_equal(pthread_join(th, NULL), 0);
    close(h.fds[0]);
    close(h.fds[1]);
    struct pg_buf_stats st;
    pg_buf_stats(b, &st);
    assert_int_equal(st.lost, 0);
    assert_int_equal(st.errors, 0);
    pg_buf_close(b);
    b = open_buf(dir, two, 1, 0, 0);
    const char *want[] = {"p0", "p1", "p2"};
    expect_names(b, want, 3);
    pg_buf_close(b);
}

static long file_size(const char *dir, const char *name)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    struct stat sb;
    return stat(path, &sb) == 0 ? (long)sb.st_size : -1;
}

/* Waits (at most 5 s) until the checkpoint thread has run one more checkpoint than
 * before. It is the one the caller's commit kicked, unless a periodic one was running
 * then (the kicked one follows it): either way the WAL holds at most two commits. */
static void wait_checkpoint_after(struct pg_buf *b, uint64_t before)
{
    struct timespec ms = {0, 1000000};
    for (int i = 0; i < 5000; i++) {
        struct pg_buf_stats st;
        pg_buf_stats(b, &st);
        if (st.checkpoints >= before + 1)
            return;
        nanosleep(&ms, NULL);
    }
    fail_msg("no checkpoint within 5 s of a commit");
}

/* The checkpoint thread (sink/walckpt.h) checkpoints after commits, so the WAL restarts
 * and stays about one commit long: 24 flushes of 512 KiB, each followed by a checkpoint.
 * SQLite's own automatic checkpoint would let the WAL reach 1000 pages (4 MiB) first; with
 * none at all it would hold all 12 MiB. */
static void test_wal_checkpoint_thread(void **state)
{
    const char *dir = *state;
    struct pg_buf *b = open_buf(dir, two, 1, 0, 0);
    long max_wal = 0;
    for (int i = 0; i < 24; i++) {
        struct pg_buf_stats st0;
        pg_buf_stats(b, &st0);
        append_n(b, i, 1, 512 * 1024);
        assert_int_equal(pg_buf_flush(b), 0);
        long w = file_size(dir, "buffer.db-wal");
        if (w > max_wal)
            max_wal = w;
        wait_checkpoint_after(b, st0.checkpoints);
    }
    struct pg_buf_stats st;
    pg_buf_stats(b, &st);
    assert_true(st.checkpoints > 0);
    assert_int_equal(st.checkpoint_errors, 0);
    assert_string_equal(st.checkpoint_error, "");
    if (max_wal >= 3 * 1024 * 1024)
        fail_msg("WAL grew to %ld bytes", max_wal);
    pg_buf_close(b);
    assert_int_equal(file_size(dir, "buffer.db-wal"), -1); /* last close checkpointed it */
    b = open_buf(dir, two, 1, 0, 0);
    pg_buf_stats(b, &st);
    assert_int_equal(st.rows, 24);
    pg_buf_close(b);
}

/* Returns the first column of the first row of sql on dir/buffer.db, as an int. */
static int64_t db_int(const char *dir, const char *sql)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/buffer.db", dir);
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

/* A new buffer has 64 KiB pages and the body as its last column (so the columns after it
 * are read without walking the blob's overflow pages). */
static void test_layout(void **state)
{
    const char *dir = *state;
    struct pg_buf *b = open_buf(dir, two, 2, 0, 0);
    append_n(b, 0, 3, 200000);
    assert_int_equal(pg_buf_flush(b), 0);
    assert_int_equal(db_int(dir, "PRAGMA page_size"), 65536);
    pg_buf_close(b);
}

/* Deleting delivered profiles does not rewrite them (Debian's SQLite has secure_delete
 * on, which overwrites every deleted page with zeros): acking 3 x 1 MB grows the WAL by
 * a few pages, not by the 3 MB it would with zeroing. A second connection holds a read
 * transaction so that no checkpoint restarts the WAL meanwhile. */
static void test_ack_does_not_rewrite(void **state)
{
    const char *dir = *state;
    struct pg_buf *b = open_buf(dir, two, 1, 0, 0);
    append_n(b, 0, 4, 1 << 20);
    assert_int_equal(pg_buf_flush(b), 0);
    char path[512];
    snprintf(path, sizeof(path), "%s/buffer.db", dir);
    sqlite3 *rd = NULL;
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_open(path, &rd), SQLITE_OK);
    assert_int_equal(sqlite3_exec(rd, "BEGIN", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(rd, "SELECT COUNT(*) FROM profiles", -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), 4);
    long before = file_size(dir, "buffer.db-wal");
    assert_true(before > 0);
    int64_t c = 0;
    assert_int_equal(pg_buf_cursor(b, "a", &c), 0);
    assert_int_equal(pg_buf_ack(b, "a", c + 3), 0);
    long grew = file_size(dir, "buffer.db-wal") - before;
    assert_true(grew >= 0);
    assert_true(grew < 512 * 1024);
    sqlite3_finalize(st);
    sqlite3_exec(rd, "COMMIT", NULL, NULL, NULL);
    sqlite3_close(rd);
    struct pg_buf_stats bs;
    pg_buf_stats(b, &bs);
    assert_int_equal(bs.rows, 1);
    assert_int_equal(db_int(dir, "SELECT cid FROM pragma_table_info('profiles') WHERE "
                                 "name='body'"),
                     db_int(dir, "SELECT MAX(cid) FROM pragma_table_info('profiles')"));
    pg_buf_close(b);
}

/* A buffer created before the layout change (body in the middle, 4 KiB pages) opens and
 * keeps working: its rows read back, new ids continue after the old sequence, acks and
 * the counts are right. */
static void test_old_layout(void **state)
{
    const char *dir = *state;
    side_sql(dir, "PRAGMA page_size=4096; PRAGMA journal_mode=WAL;"
                  "CREATE TABLE profiles(id INTEGER PRIMARY KEY AUTOINCREMENT, labels TEXT,"
                  " name TEXT, from_ns INTEGER, until_ns INTEGER, tenant TEXT, body BLOB,"
                  " size INTEGER, created_ms INTEGER);"
                  "CREATE TABLE cursors(backend TEXT PRIMARY KEY, last_id INTEGER);"
                  "INSERT INTO profiles VALUES(7,'3:job3:old','cpu',1,2,NULL,x'0102',2,1000);"
                  "UPDATE sqlite_sequence SET seq=9 WHERE name='profiles';");
    struct pg_buf *b = open_buf(dir, two, 1, 0, 0);
    struct pg_buf_stats st;
    pg_buf_stats(b, &st);
    assert_int_equal(st.rows, 1);
    assert_int_equal(st.bytes, 2);
    append_n(b, 0, 1, 10);
    assert_int_equal(pg_buf_flush(b), 0);
    struct pg_buf_item *it;
    size_t n;
    assert_int_equal(pg_buf_read(b, "a", 0, 0, &it, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(it[0].id, 7);
    assert_string_equal(pg_labels_get(&it[0].labels, "job"), "old");
    assert_int_equal(it[0].len, 2);
    assert_int_equal(it[0].body[1], 2);
    assert_int_equal(it[1].id, 10);
    assert_int_equal(it[1].len, 10);
    assert_int_equal(pg_buf_ack(b, "a", 7), 0);
    pg_buf_stats(b, &st);
    assert_int_equal(st.rows, 1);
    assert_int_equal(st.bytes, 10);
    pg_buf_items_free(it, n);
    pg_buf_close(b);
    assert_int_equal(db_int(dir, "PRAGMA page_size"), 4096);
}

/* The cursor of backend "a" as a second connection sees it (committed only, WAL). */
static int64_t durable_cursor(const char *dir)
{
    return db_int(dir, "SELECT last_id FROM cursors WHERE backend='a'");
}

/* An ack joins the pending batch and is durable at its commit; with no batch open it is
 * durable at once. */
static void test_ack_in_batch(void **state)
{
    const char *dir = *state;
    struct pg_buf *b = open_buf(dir, two, 1, 0, 0);
    append_n(b, 0, 3, 4);
    assert_int_equal(pg_buf_flush(b), 0);
    struct pg_buf_item *it;
    size_t n;
    assert_int_equal(pg_buf_read_after(b, 0, 0, 0, &it, &n), 0);
    assert_int_equal(n, 3);
    int64_t id1 = it[1].id, id2 = it[2].id;
    pg_buf_items_free(it, n);
    append_n(b, 3, 1, 4); /* a pending batch */
    assert_int_equal(pg_buf_ack(b, "a", id1), 0);
    int64_t c = 0;
    assert_int_equal(pg_buf_cursor(b, "a", &c), 0);
    assert_int_equal(c, id1);
    assert_int_equal(durable_cursor(dir), 0);
    struct pg_buf_stats st;
    pg_buf_stats(b, &st);
    assert_int_equal(st.rows, 2);
    assert_int_equal(pg_buf_flush(b), 0);
    assert_int_equal(durable_cursor(dir), id1);
    assert_int_equal(pg_buf_ack(b, "a", id2), 0); /* no batch open: commits at once */
    assert_int_equal(durable_cursor(dir), id2);
    assert_int_equal(db_int(dir, "SELECT COUNT(*) FROM profiles"), 1);
    pg_buf_close(b);
}

/* A batch that SQLite rolls back (RAISE(ROLLBACK), like SQLITE_FULL) takes its acks with
 * it: the cursor returns to its durable value and the rows are read again. */
static void test_ack_undone_with_batch(void **state)
{
    const char *dir = *state;
    pg_buf_close(open_buf(dir, two, 1, 0, 0));
    side_sql(dir, "CREATE TRIGGER full BEFORE INSERT ON profiles WHEN NEW.name='p9' "
                  "BEGIN SELECT RAISE(ROLLBACK,'full'); END;");
    struct pg_buf *b = open_buf(dir, two, 1, 0, 0);
    append_n(b, 0, 3, 4);
    assert_int_equal(pg_buf_flush(b), 0);
    append_n(b, 3, 1, 4);
    int64_t c0 = 0, c = 0;
    assert_int_equal(pg_buf_cursor(b, "a", &c0), 0);
    assert_int_equal(pg_buf_ack(b, "a", c0 + 2), 0);
    struct pg_labels ls;
    pg_labels_init(&ls);
    const uint8_t body[4] = {0};
    assert_int_equal(pg_buf_append(b, &ls, "p9", 0, 0, NULL, body, sizeof(body)), -1);
    assert_int_equal(pg_buf_cursor(b, "a", &c), 0);
    assert_int_equal(c, c0);
    struct pg_buf_stats st;
    pg_buf_stats(b, &st);
    assert_int_equal(st.rows, 3);
    assert_int_equal(st.lost, 1);
    const char *want[] = {"p0", "p1", "p2"};
    expect_names(b, want, 3);
    assert_int_equal(pg_buf_ack(b, "a", c0 + 2), 0); /* the same ack goes through again */
    assert_int_equal(durable_cursor(dir), c0 + 2);
    pg_labels_reset(&ls);
    pg_buf_close(b);
}

/* An ack that fails is undone alone: the pending batch stays and commits. */
static void test_ack_failure_keeps_batch(void **state)
{
    const char *dir = *state;
    pg_buf_close(open_buf(dir, two, 1, 0, 0));
    side_sql(dir, "CREATE TRIGGER nodel BEFORE DELETE ON profiles "
                  "BEGIN SELECT RAISE(ABORT,'no delete'); END;");
    struct pg_buf *b = open_buf(dir, two, 1, 0, 0);
    append_n(b, 0, 2, 4);
    assert_int_equal(pg_buf_flush(b), 0);
    append_n(b, 2, 1, 4);
    int64_t c0 = 0, c = 0;
    assert_int_equal(pg_buf_cursor(b, "a", &c0), 0);
    assert_int_equal(pg_buf_ack(b, "a", c0 + 2), -1);
    assert_int_equal(pg_buf_cursor(b, "a", &c), 0);
    assert_int_equal(c, c0);
    assert_int_equal(pg_buf_flush(b), 0);
    struct pg_buf_stats st;
    pg_buf_stats(b, &st);
    assert_int_equal(st.lost, 0);
    assert_int_equal(st.rows, 3);
    assert_int_equal(st.errors, 1);
    const char *want[] = {"p0", "p1", "p2"};
    expect_names(b, want, 3);
    assert_int_equal(durable_cursor(dir), c0);
    pg_buf_close(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_two_cursors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reopen_resumes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crash_before_flush, setup, teardown),
        cmocka_unit_test_setup_teardown(test_evict_size, setup, teardown),
        cmocka_unit_test_setup_teardown(test_evict_age, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sqlite_error, setup, teardown),
        cmocka_unit_test(test_open_fails),
        cmocka_unit_test_setup_teardown(test_read_after, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cursor_and_count_after, setup, teardown),
        cmocka_unit_test_setup_teardown(test_request_keep_rollback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_request_rollback_ends_txn, setup, teardown),
        cmocka_unit_test_setup_teardown(test_request_rollback_eviction, setup, teardown),
        cmocka_unit_test_setup_teardown(test_request_failure_mid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_request_whole_rollback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_request_empty_keep_ends_txn, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lock, setup, teardown),
        cmocka_unit_test_setup_teardown(test_busy_retry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wal_checkpoint_thread, setup, teardown),
        cmocka_unit_test_setup_teardown(test_layout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ack_does_not_rewrite, setup, teardown),
        cmocka_unit_test_setup_teardown(test_old_layout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ack_in_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ack_undone_with_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ack_failure_keeps_batch, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
