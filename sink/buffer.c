/* buffer.c - the durable profile buffer (see buffer.h): one SQLite connection in WAL
 * mode, appends batched in an explicit transaction that pg_buf_flush commits, cursors
 * mirrored in memory (the table is the durable copy), and row/byte counters kept in
 * memory so that size-based eviction needs no scan. */
#include "sink/buffer.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/errmsg.h"
#include "core/log.h"
#include "sink/walckpt.h"

/* How long one SQLite call waits for another connection's lock (the busy handler), and
 * how often BEGIN/COMMIT are retried after that before giving up. Waiting blocks the
 * caller's thread: the lock file keeps other profgates out, so only an outside tool
 * holding the database (sqlite3 CLI, a backup) can make it wait. */
#define PG_BUF_BUSY_TIMEOUT_MS 1000
#define PG_BUF_BUSY_RETRIES 3

struct pg_buf_cursor {
    char *backend;
    int64_t last_id;    /* acknowledged (committed, or in the open transaction) */
    int64_t durable_id; /* acknowledged in a committed transaction */
};

/* Counters saved at SAVEPOINT and restored by ROLLBACK TO. */
struct pg_buf_mark {
    uint64_t rows, bytes, appended, evicted, txn_appends;
};

struct pg_buf {
    sqlite3 *db;
    sqlite3_stmt *insert;
    int lock_fd; /* dir/lock, flock(LOCK_EX) held until close; -1 when none */
    int in_txn;
    int in_sp;             /* a request's savepoint is open inside the transaction */
    int sp_began_txn;      /* that request's begin opened the transaction */
    uint64_t txn_appends;  /* rows appended in the open transaction */
    int64_t committed_max; /* highest id a committed transaction appended (readers stop there) */
    struct pg_buf_mark sp; /* counters at the savepoint */
    struct pg_buf_cursor *cursors;
    size_t n_cursors;
    uint64_t max_size;
    int64_t max_age_ms;
    struct pg_buf_stats st;
    struct pg_walckpt *ckpt;  /* WAL checkpoints off the caller's thread, or NULL */
    char *path;               /* dir/buffer.db, for readers */
    uint64_t ckpt_err_logged; /* checkpoint failures already logged */
};

/* A new database gets 64 KiB pages (page_size is a no-op on an existing one): a 220 KB
 * profile is then 4 overflow pages instead of 55, so commits write a few large WAL frames
 * and deletes free a short chain (docs/performance.md, "The buffer on the loop").
 * secure_delete=FAST: Debian builds SQLite with secure_delete on, which overwrites every
 * deleted profile with zeros (an ack rewrote the delivered profiles into the WAL); FAST
 * zeroes only what costs no extra I/O. */
static const char *const pragmas =
    "PRAGMA page_size=65536; PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
    "PRAGMA secure_delete=FAST;";

/* body is the last column: SQLite stores a row's columns in order, so with the blob last
 * size and created_ms (read by eviction, acks and the counts) do not walk its overflow
 * pages. Databases created before keep their order (every statement names its columns). */
static const char *const schema =
    "CREATE TABLE IF NOT EXISTS profiles(id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " labels TEXT, name TEXT, from_ns INTEGER, until_ns INTEGER, tenant TEXT,"
    " size INTEGER, created_ms INTEGER, body BLOB);"
    "CREATE TABLE IF NOT EXISTS cursors(backend TEXT PRIMARY KEY, last_id INTEGER);";

static char *xstrdup(const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p)
        memcpy(p, s, n);
    return p;
}

/* Creates dir and its parents (mkdir -p). Returns 0 or -1 with errno. */
static int mkdirs(const char *dir)
{
    char *p = xstrdup(dir);
    if (!p)
        return -1;
    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(p, 0755) != 0 && errno != EEXIST) {
            free(p);
            return -1;
        }
        *s = '/';
    }
    int rc = mkdir(p, 0755);
    free(p);
    return rc != 0 && errno != EEXIST ? -1 : 0;
}

/* ---- label encoding: "<len>:<name><len>:<value>" per pair ---- */

static char *labels_encode(const struct pg_labels *ls)
{
    size_t cap = 1;
    for (size_t i = 0; i < ls->n; i++)
        cap += strlen(ls->v[i].name) + strlen(ls->v[i].value) + 2 * 22;
    char *out = malloc(cap), *w = out;
    if (!out)
        return NULL;
    for (size_t i = 0; i < ls->n; i++) {
        const char *parts[2] = {ls->v[i].name, ls->v[i].value};
        for (int k = 0; k < 2; k++) {
            size_t len = strlen(parts[k]);
            w += snprintf(w, cap - (size_t)(w - out), "%zu:", len);
            memcpy(w, parts[k], len);
            w += len;
        }
    }
    *w = '\0';
    return out;
}

/* Parses one "<len>:<bytes>" field at *p (end e). Returns 0 or -1 when malformed. */
static int field_decode(const char **p, const char *e, const char **s, size_t *len)
{
    size_t v = 0;
    const char *q = *p;
    if (q >= e || *q < '0' || *q > '9')
        return -1;
    while (q < e && *q >= '0' && *q <= '9') {
        if (v > (SIZE_MAX - 9) / 10)
            return -1;
        v = v * 10 + (size_t)(*q++ - '0');
    }
    if (q >= e || *q != ':' || (size_t)(e - q - 1) < v)
        return -1;
    *s = q + 1;
    *len = v;
    *p = q + 1 + v;
    return 0;
}

static int labels_decode(const char *txt, size_t n, struct pg_labels *ls)
{
    const char *p = txt, *e = txt + n;
    while (p < e) {
        const char *name, *value;
        size_t nlen, vlen;
        if (field_decode(&p, e, &name, &nlen) != 0 || field_decode(&p, e, &value, &vlen) != 0 ||
            pg_labels_setn(ls, name, nlen, value, vlen) != 0)
            return -1;
    }
    return 0;
}

/* ---- SQLite helpers ---- */

static int exec(struct pg_buf *b, const char *sql)
{
    if (sqlite3_exec(b->db, sql, NULL, NULL, NULL) != SQLITE_OK) {
        b->st.errors++;
        return -1;
    }
    return 0;
}

/* Reloads rows and bytes from the table (at open and after a rollback). */
static int load_counts(struct pg_buf *b)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(b->db, "SELECT COUNT(*), COALESCE(SUM(size),0) FROM profiles", -1, &st,
                           NULL) != SQLITE_OK)
        return -1;
    int rc = -1;
    if (sqlite3_step(st) == SQLITE_ROW) {
        b->st.rows = (uint64_t)sqlite3_column_int64(st, 0);
        b->st.bytes = (uint64_t)sqlite3_column_int64(st, 1);
        rc = 0;
    }
    sqlite3_finalize(st);
    return rc;
}

/* A transaction committed: its acknowledgements are durable and its rows readable. The
 * AUTOINCREMENT sequence is the highest id ever committed (ids are never reused after
 * it, while rows of a rolled-back transaction give their ids back). On a failed read
 * readers keep the old bound and see the new rows after the next commit. */
static void committed(struct pg_buf *b)
{
    for (size_t i = 0; i < b->n_cursors; i++)
        b->cursors[i].durable_id = b->cursors[i].last_id;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(b->db, "SELECT seq FROM sqlite_sequence WHERE name='profiles'", -1, &st,
                           NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        b->committed_max = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
}

/* The open transaction was rolled back: its appended rows are lost (counted), except
 * those of an open request, whose caller is told the request failed. */
static void rolled_back(struct pg_buf *b)
{
    uint64_t req = b->in_sp ? b->txn_appends - b->sp.txn_appends : 0;
    b->st.lost += b->txn_appends - req;
    b->txn_appends = 0;
    b->in_txn = 0;
    b->in_sp = 0;
    for (size_t i = 0; i < b->n_cursors; i++)
        b->cursors[i].last_id = b->cursors[i].durable_id; /* its acks are undone too */
}

/* Called after a failed statement: if SQLite rolled the transaction back on its own
 * (e.g. SQLITE_FULL), forget it and resynchronise the counters. */
static void after_error(struct pg_buf *b)
{
    b->st.errors++;
    if (b->in_txn && sqlite3_get_autocommit(b->db)) {
        rolled_back(b);
        load_counts(b);
    }
}

static int is_busy(int rc)
{
    rc &= 0xff; /* extended codes: SQLITE_BUSY_SNAPSHOT, SQLITE_LOCKED_SHAREDCACHE, ... */
    return rc == SQLITE_BUSY || rc == SQLITE_LOCKED;
}

/* Runs sql (BEGIN or COMMIT), retrying while another connection holds the lock: each
 * try already waits up to PG_BUF_BUSY_TIMEOUT_MS in SQLite's busy handler. A COMMIT
 * that fails with SQLITE_BUSY leaves the transaction open, so it can be retried. */
static int exec_retry(struct pg_buf *b, const char *sql)
{
    int rc = SQLITE_OK;
    for (int i = 0; i <= PG_BUF_BUSY_RETRIES; i++) {
        rc = sqlite3_exec(b->db, sql, NULL, NULL, NULL);
        if (!is_busy(rc))
            break;
    }
    return rc == SQLITE_OK ? 0 : -1;
}

static int begin(struct pg_buf *b)
{
    if (b->in_txn)
        return 0;
    if (exec_retry(b, "BEGIN IMMEDIATE") != 0) {
        b->st.errors++;
        return -1;
    }
    b->in_txn = 1;
    return 0;
}

static struct pg_buf_cursor *cursor_find(struct pg_buf *b, const char *backend)
{
    for (size_t i = 0; backend && i < b->n_cursors; i++)
        if (strcmp(b->cursors[i].backend, backend) == 0)
            return &b->cursors[i];
    return NULL;
}

static int load_cursors(struct pg_buf *b)
{
    sqlite3_stmt *ins = NULL, *sel = NULL;
    int rc = -1;
    if (sqlite3_prepare_v2(b->db, "INSERT OR IGNORE INTO cursors(backend,last_id) VALUES(?,0)", -1,
                           &ins, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(b->db, "SELECT last_id FROM cursors WHERE backend=?", -1, &sel, NULL) !=
            SQLITE_OK)
        goto out;
    for (size_t i = 0; i < b->n_cursors; i++) {
        sqlite3_reset(ins);
        sqlite3_bind_text(ins, 1, b->cursors[i].backend, -1, SQLITE_STATIC);
        if (sqlite3_step(ins) != SQLITE_DONE)
            goto out;
        sqlite3_reset(sel);
        sqlite3_bind_text(sel, 1, b->cursors[i].backend, -1, SQLITE_STATIC);
        if (sqlite3_step(sel) != SQLITE_ROW)
            goto out;
        b->cursors[i].last_id = b->cursors[i].durable_id = sqlite3_column_int64(sel, 0);
    }
    rc = 0;
out:
    sqlite3_finalize(ins);
    sqlite3_finalize(sel);
    return rc;
}

/* Takes dir/lock with flock(LOCK_EX|LOCK_NB) and writes our pid into it, so that a
 * second profgate on the same storage.path refuses to start and can say who holds it.
 * The lock lives as long as the descriptor (pg_buf_close). Returns 0 or -1 with err. */
static int lock_dir(struct pg_buf *b, const char *dir, char *err, size_t errlen)
{
    char path[PATH_MAX], pid[32] = "";
    if ((size_t)snprintf(path, sizeof(path), "%s/lock", dir) >= sizeof(path)) {
        pg_errmsg_set(err, errlen, "lock file path too long");
        return -1;
    }
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        pg_errmsg_set(err, errlen, "open %s: %s", path, strerror(errno));
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        ssize_t n = pread(fd, pid, sizeof(pid) - 1, 0);
        pid[n > 0 ? n : 0] = '\0';
        pid[strspn(pid, "0123456789")] = '\0';
        if (e == EWOULDBLOCK)
            pg_errmsg_set(err, errlen,
                          "storage.path %s is in use by another profgate (pid %s; lock file %s)",
                          dir, pid[0] ? pid : "unknown", path);
        else
            pg_errmsg_set(err, errlen, "lock %s: %s", path, strerror(e));
        close(fd);
        return -1;
    }
    int n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)n, 0) != n) {
        pg_errmsg_set(err, errlen, "write %s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    b->lock_fd = fd;
    return 0;
}

/* Moves WAL checkpoints to their own thread (sink/walckpt.h): this connection stops
 * running them inside its commits. Without the thread SQLite's automatic checkpoints stay
 * on (logged). */
static void start_checkpointer(struct pg_buf *b, const char *path)
{
    char err[300];
    b->ckpt = pg_walckpt_start(path, err, sizeof(err));
    if (b->ckpt &&
        sqlite3_exec(b->db, "PRAGMA wal_autocheckpoint=0;", NULL, NULL, NULL) == SQLITE_OK)
        return;
    if (b->ckpt)
        snprintf(err, sizeof(err), "PRAGMA wal_autocheckpoint: %s", sqlite3_errmsg(b->db));
    pg_walckpt_stop(b->ckpt);
    b->ckpt = NULL;
    pg_log_warn("buffer",
                "msg=\"WAL checkpoints stay in the commits (on the event loop)\" err=\"%s\"", err);
}

/* Logs the checkpoint failures since the last call (on the buffer's thread, at each
 * commit, so a failing checkpoint shows in the log whether or not /metrics is read). */
static void log_checkpoint_errors(struct pg_buf *b)
{
    struct pg_walckpt_stats cs;
    pg_walckpt_stats(b->ckpt, &cs);
    if (cs.errors <= b->ckpt_err_logged)
        return;
    pg_log_warn("buffer",
                "msg=\"WAL checkpoint failed; the WAL keeps the profiles and grows until one "
                "succeeds\" failures=%llu err=\"%s\"",
                (unsigned long long)(cs.errors - b->ckpt_err_logged), cs.last_error);
    b->ckpt_err_logged = cs.errors;
}

/* ---- public API ---- */

struct pg_buf *pg_buf_open(const char *dir, const char *const *backends, size_t n_backends,
                           uint64_t max_size, int64_t max_age_ms, char *err, size_t errlen)
{
    char path[PATH_MAX];
    struct pg_buf *b = calloc(1, sizeof(*b));
    if (!b) {
        pg_errmsg_set(err, errlen, "out of memory");
        return NULL;
    }
    b->lock_fd = -1;
    b->max_size = max_size;
    b->max_age_ms = max_age_ms;
    if (n_backends) {
        b->cursors = calloc(n_backends, sizeof(*b->cursors));
        if (!b->cursors) {
            pg_errmsg_set(err, errlen, "out of memory");
            goto fail;
        }
    }
    for (size_t i = 0; i < n_backends; i++) {
        if (!(b->cursors[i].backend = xstrdup(backends[i]))) {
            pg_errmsg_set(err, errlen, "out of memory");
            goto fail;
        }
        b->n_cursors++;
    }
    if (mkdirs(dir) != 0) {
        pg_errmsg_set(err, errlen, "mkdir %s: %s", dir, strerror(errno));
        goto fail;
    }
    if (lock_dir(b, dir, err, errlen) != 0)
        goto fail;
    if ((size_t)snprintf(path, sizeof(path), "%s/buffer.db", dir) >= sizeof(path)) {
        pg_errmsg_set(err, errlen, "buffer path too long");
        goto fail;
    }
    if (sqlite3_open_v2(path, &b->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
        SQLITE_OK) {
        pg_errmsg_set(err, errlen, "open %s: %s", path,
                      b->db ? sqlite3_errmsg(b->db) : "no memory");
        goto fail;
    }
    sqlite3_busy_timeout(b->db, PG_BUF_BUSY_TIMEOUT_MS);
    if (sqlite3_exec(b->db, pragmas, NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_exec(b->db, schema, NULL, NULL, NULL) != SQLITE_OK || load_cursors(b) != 0 ||
        load_counts(b) != 0 || (committed(b), 0) ||
        sqlite3_prepare_v2(b->db,
                           "INSERT INTO profiles(labels,name,from_ns,until_ns,tenant,body,size,"
                           "created_ms) VALUES(?,?,?,?,?,?,?,?)",
                           -1, &b->insert, NULL) != SQLITE_OK) {
        pg_errmsg_set(err, errlen, "%s: %s", path, sqlite3_errmsg(b->db));
        goto fail;
    }
    start_checkpointer(b, path);
    if (!(b->path = xstrdup(path))) {
        pg_errmsg_set(err, errlen, "out of memory");
        goto fail;
    }
    return b;
fail:
    pg_buf_close(b);
    return NULL;
}

void pg_buf_close(struct pg_buf *b)
{
    if (!b)
        return;
    if (b->db) {
        if (b->in_sp)
            pg_buf_request_end(b, 0); /* an unfinished request is not kept */
        pg_buf_flush(b);
        /* the thread's connection first: closing the last one checkpoints the whole WAL
         * and removes it */
        pg_walckpt_stop(b->ckpt);
        sqlite3_finalize(b->insert);
        sqlite3_close(b->db);
    }
    if (b->lock_fd >= 0)
        close(b->lock_fd); /* releases the lock, after the database is closed */
    for (size_t i = 0; i < b->n_cursors; i++)
        free(b->cursors[i].backend);
    free(b->cursors);
    free(b->path);
    free(b);
}

int pg_buf_append(struct pg_buf *b, const struct pg_labels *labels, const char *name,
                  int64_t from_ns, int64_t until_ns, const char *tenant, const uint8_t *body,
                  size_t len)
{
    if (len > (size_t)INT_MAX || (len && !body))
        return -1;
    /* a profile bigger than the whole buffer would only evict everything, itself included */
    if (b->max_size && len > b->max_size)
        return -1;
    char *lt = labels_encode(labels);
    if (!lt)
        return -1;
    if (begin(b) != 0) {
        free(lt);
        return -1;
    }
    sqlite3_stmt *st = b->insert;
    sqlite3_reset(st);
    sqlite3_bind_text(st, 1, lt, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC); /* NULL binds SQL NULL */
    sqlite3_bind_int64(st, 3, from_ns);
    sqlite3_bind_int64(st, 4, until_ns);
    sqlite3_bind_text(st, 5, tenant, -1, SQLITE_STATIC);
    if (len)
        sqlite3_bind_blob(st, 6, body, (int)len, SQLITE_STATIC);
    else
        sqlite3_bind_zeroblob(st, 6, 0);
    sqlite3_bind_int64(st, 7, (sqlite3_int64)len);
    sqlite3_bind_int64(st, 8, pg_clock_unix_ms());
    int rc = sqlite3_step(st);
    sqlite3_clear_bindings(st);
    sqlite3_reset(st);
    free(lt);
    if (rc != SQLITE_DONE) {
        after_error(b);
        return -1;
    }
    b->st.rows++;
    b->st.bytes += len;
    b->st.appended++;
    b->txn_appends++;
    if (b->max_size && b->st.bytes > b->max_size)
        pg_buf_evict(b);
    return 0;
}

int pg_buf_flush(struct pg_buf *b)
{
    if (!b->in_txn)
        return 0;
    if (b->in_sp)
        return -1; /* COMMIT would commit the open request's part too */
    if (exec_retry(b, "COMMIT") == 0) {
        b->in_txn = 0;
        b->txn_appends = 0;
        committed(b);
        if (b->ckpt) {
            log_checkpoint_errors(b);
            pg_walckpt_kick(b->ckpt);
        }
        return 0;
    }
    b->st.errors++;
    if (!sqlite3_get_autocommit(b->db))
        sqlite3_exec(b->db, "ROLLBACK", NULL, NULL, NULL);
    rolled_back(b);
    load_counts(b);
    return -1;
}

int pg_buf_request_begin(struct pg_buf *b)
{
    if (b->in_sp)
        return -1;
    int began = !b->in_txn;
    if (begin(b) != 0)
        return -1;
    if (exec(b, "SAVEPOINT pg_request") != 0) {
        after_error(b);
        /* a transaction opened only for this request holds the write lock: end it */
        if (began && b->in_txn && b->txn_appends == 0 && exec(b, "ROLLBACK") == 0)
            b->in_txn = 0;
        return -1;
    }
    b->in_sp = 1;
    b->sp_began_txn = began;
    b->sp = (struct pg_buf_mark){b->st.rows, b->st.bytes, b->st.appended, b->st.evicted,
                                 b->txn_appends};
    return 0;
}

int pg_buf_request_end(struct pg_buf *b, int keep)
{
    if (!b->in_sp)
        return -1; /* never begun, or SQLite rolled the whole transaction back */
    if (keep) {
        if (exec(b, "RELEASE pg_request") == 0) {
            b->in_sp = 0;
            /* a request that stored nothing (all relabel-dropped) in a transaction it
             * opened: end it now, the writer has nothing pending to commit it */
            if (b->sp_began_txn && b->txn_appends == b->sp.txn_appends && exec(b, "COMMIT") == 0) {
                b->in_txn = 0;
                committed(b);
            }
            return 0;
        }
        after_error(b);
        if (!b->in_sp)
            return -1;
    }
    /* ROLLBACK TO keeps the savepoint (and the transaction) open: release it after */
    if (exec(b, "ROLLBACK TO pg_request") != 0 || exec(b, "RELEASE pg_request") != 0) {
        /* cannot undo the request alone: drop the whole batch (counted as lost) */
        if (!sqlite3_get_autocommit(b->db))
            sqlite3_exec(b->db, "ROLLBACK", NULL, NULL, NULL);
        rolled_back(b);
        load_counts(b);
        return -1;
    }
    b->in_sp = 0;
    b->st.rows = b->sp.rows;
    b->st.bytes = b->sp.bytes;
    b->st.appended = b->sp.appended;
    b->st.evicted = b->sp.evicted;
    b->txn_appends = b->sp.txn_appends;
    /* a transaction that only held the request is empty now: end it, so that it does not
     * stay open (holding the write lock) until the next append */
    if (b->sp_began_txn && exec(b, "ROLLBACK") == 0)
        b->in_txn = 0;
    return keep ? -1 : 0;
}

static void item_clear(struct pg_buf_item *it)
{
    pg_labels_reset(&it->labels);
    free(it->name);
    free(it->tenant);
    free(it->body);
}

void pg_buf_items_free(struct pg_buf_item *items, size_t n)
{
    if (!items)
        return;
    for (size_t i = 0; i < n; i++)
        item_clear(&items[i]);
    free(items);
}

static int item_fill(sqlite3_stmt *st, struct pg_buf_item *it)
{
    memset(it, 0, sizeof(*it));
    pg_labels_init(&it->labels);
    it->id = sqlite3_column_int64(st, 0);
    const char *lt = (const char *)sqlite3_column_text(st, 1);
    if (lt && labels_decode(lt, (size_t)sqlite3_column_bytes(st, 1), &it->labels) != 0)
        goto fail;
    const char *s = (const char *)sqlite3_column_text(st, 2);
    if (s && !(it->name = xstrdup(s)))
        goto fail;
    it->from_ns = sqlite3_column_int64(st, 3);
    it->until_ns = sqlite3_column_int64(st, 4);
    s = (const char *)sqlite3_column_text(st, 5);
    if (s && !(it->tenant = xstrdup(s)))
        goto fail;
    const void *body = sqlite3_column_blob(st, 6);
    it->len = (size_t)sqlite3_column_bytes(st, 6);
    if (!(it->body = malloc(it->len ? it->len : 1)))
        goto fail;
    if (it->len)
        memcpy(it->body, body, it->len);
    return 0;
fail:
    item_clear(it);
    return -1;
}

int pg_buf_read(struct pg_buf *b, const char *backend, size_t max_items, size_t max_bytes,
                struct pg_buf_item **items, size_t *n)
{
    *items = NULL;
    *n = 0;
    struct pg_buf_cursor *c = cursor_find(b, backend);
    if (!c || pg_buf_flush(b) != 0)
        return -1;
    return pg_buf_read_after(b, c->last_id, max_items, max_bytes, items, n);
}

/* Reads rows after_id < id <= bound from db (the limits as pg_buf_read_after's). Returns
 * 0, or -1 on a SQLite error or OOM (nothing returned). */
static int read_rows(sqlite3 *db, int64_t after_id, int64_t bound, size_t max_items,
                     size_t max_bytes, struct pg_buf_item **items, size_t *n)
{
    *items = NULL;
    *n = 0;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db,
                           "SELECT id,labels,name,from_ns,until_ns,tenant,body FROM profiles "
                           "WHERE id>? AND id<=? ORDER BY id LIMIT ?",
                           -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_int64(st, 1, after_id);
    sqlite3_bind_int64(st, 2, bound);
    sqlite3_int64 limit = -1; /* SQLite: a negative LIMIT means none */
    if (max_items && max_items <= (size_t)INT64_MAX)
        limit = (sqlite3_int64)max_items;
    sqlite3_bind_int64(st, 3, limit);
    struct pg_buf_item *v = NULL;
    size_t cnt = 0, cap = 0, bytes = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        size_t len = (size_t)sqlite3_column_bytes(st, 6);
        if (max_bytes && cnt > 0 && bytes + len > max_bytes)
            break;
        if (cnt == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            struct pg_buf_item *nv = realloc(v, ncap * sizeof(*v));
            if (!nv)
                goto fail;
            v = nv;
            cap = ncap;
        }
        if (item_fill(st, &v[cnt]) != 0)
            goto fail;
        cnt++;
        bytes += len;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        goto fail;
    sqlite3_finalize(st);
    if (cnt == 0) {
        free(v);
        v = NULL;
    }
    *items = v;
    *n = cnt;
    return 0;
fail:
    sqlite3_finalize(st);
    pg_buf_items_free(v, cnt);
    return -1;
}

int pg_buf_read_after(struct pg_buf *b, int64_t after_id, size_t max_items, size_t max_bytes,
                      struct pg_buf_item **items, size_t *n)
{
    if (read_rows(b->db, after_id, b->committed_max, max_items, max_bytes, items, n) != 0) {
        b->st.errors++;
        return -1;
    }
    return 0;
}

int64_t pg_buf_committed_max(const struct pg_buf *b)
{
    return b->committed_max;
}

/* ---- readers: a connection of their own, for another thread ---- */

struct pg_buf_reader {
    sqlite3 *db;
};

struct pg_buf_reader *pg_buf_reader_open(const struct pg_buf *b)
{
    struct pg_buf_reader *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    if (sqlite3_open_v2(b->path, &r->db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
        pg_buf_reader_close(r);
        return NULL;
    }
    sqlite3_busy_timeout(r->db, PG_BUF_BUSY_TIMEOUT_MS);
    return r;
}

int pg_buf_reader_read(struct pg_buf_reader *r, int64_t after_id, int64_t bound, size_t max_items,
                       size_t max_bytes, struct pg_buf_item **items, size_t *n)
{
    return read_rows(r->db, after_id, bound, max_items, max_bytes, items, n);
}

void pg_buf_reader_close(struct pg_buf_reader *r)
{
    if (!r)
        return;
    sqlite3_close(r->db);
    free(r);
}

int pg_buf_cursor(struct pg_buf *b, const char *backend, int64_t *last_id)
{
    struct pg_buf_cursor *c = cursor_find(b, backend);
    if (!c)
        return -1;
    *last_id = c->last_id;
    return 0;
}

int64_t pg_buf_count_after(struct pg_buf *b, int64_t after_id)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(b->db, "SELECT COUNT(*) FROM profiles WHERE id>?", -1, &st, NULL) !=
        SQLITE_OK) {
        b->st.errors++;
        return -1;
    }
    sqlite3_bind_int64(st, 1, after_id);
    int64_t n = -1;
    if (sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    else
        b->st.errors++;
    sqlite3_finalize(st);
    return n;
}

int pg_buf_oldest_after(struct pg_buf *b, int64_t after_id, int64_t *created_ms)
{
    sqlite3_stmt *st;
    *created_ms = 0;
    if (sqlite3_prepare_v2(b->db, "SELECT created_ms FROM profiles WHERE id>? ORDER BY id LIMIT 1",
                           -1, &st, NULL) != SQLITE_OK) {
        b->st.errors++;
        return -1;
    }
    sqlite3_bind_int64(st, 1, after_id);
    int rc = sqlite3_step(st), ret = 0;
    if (rc == SQLITE_ROW)
        *created_ms = sqlite3_column_int64(st, 0);
    else if (rc != SQLITE_DONE) {
        b->st.errors++;
        ret = -1;
    }
    sqlite3_finalize(st);
    return ret;
}

/* Moves the cursor row to last_id and deletes the rows up to min, in the open
 * transaction. Returns 0, or -1 on a SQLite error. */
static int ack_rows(struct pg_buf *b, struct pg_buf_cursor *c, int64_t last_id, int64_t min)
{
    sqlite3_stmt *up = NULL, *cnt = NULL, *del = NULL;
    int rc = -1;
    if (sqlite3_prepare_v2(b->db, "UPDATE cursors SET last_id=? WHERE backend=?", -1, &up, NULL) !=
            SQLITE_OK ||
        sqlite3_prepare_v2(b->db,
                           "SELECT COUNT(*), COALESCE(SUM(size),0) FROM profiles WHERE id<=?", -1,
                           &cnt, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(b->db, "DELETE FROM profiles WHERE id<=?", -1, &del, NULL) != SQLITE_OK)
        goto out;
    sqlite3_bind_int64(up, 1, last_id);
    sqlite3_bind_text(up, 2, c->backend, -1, SQLITE_STATIC);
    sqlite3_bind_int64(cnt, 1, min);
    sqlite3_bind_int64(del, 1, min);
    if (sqlite3_step(up) != SQLITE_DONE || sqlite3_step(cnt) != SQLITE_ROW)
        goto out;
    uint64_t rows = (uint64_t)sqlite3_column_int64(cnt, 0);
    uint64_t bytes = (uint64_t)sqlite3_column_int64(cnt, 1);
    if (sqlite3_step(del) != SQLITE_DONE)
        goto out;
    b->st.rows -= rows < b->st.rows ? rows : b->st.rows;
    b->st.bytes -= bytes < b->st.bytes ? bytes : b->st.bytes;
    rc = 0;
out:
    sqlite3_finalize(up);
    sqlite3_finalize(cnt);
    sqlite3_finalize(del);
    return rc;
}

/* An acknowledgement joins the open batch (under a savepoint, so a failure undoes it
 * alone) and is durable at the batch's commit: acks then cost no commit of their own on
 * a busy buffer. With no batch open it commits at once. */
int pg_buf_ack(struct pg_buf *b, const char *backend, int64_t last_id)
{
    struct pg_buf_cursor *c = cursor_find(b, backend);
    if (!c || b->in_sp)
        return -1;
    if (last_id <= c->last_id)
        return 0;
    int64_t min = last_id;
    for (size_t i = 0; i < b->n_cursors; i++)
        if (&b->cursors[i] != c && b->cursors[i].last_id < min)
            min = b->cursors[i].last_id;
    int began = !b->in_txn;
    if (begin(b) != 0)
        return -1;
    if (sqlite3_exec(b->db, "SAVEPOINT pg_ack", NULL, NULL, NULL) != SQLITE_OK) {
        after_error(b);
        return -1;
    }
    uint64_t rows = b->st.rows, bytes = b->st.bytes;
    if (ack_rows(b, c, last_id, min) != 0) {
        after_error(b);
        if (!b->in_txn)
            return -1; /* SQLite rolled back the whole batch (counted by after_error) */
        b->st.rows = rows;
        b->st.bytes = bytes;
        if (sqlite3_exec(b->db, "ROLLBACK TO pg_ack", NULL, NULL, NULL) != SQLITE_OK ||
            sqlite3_exec(b->db, "RELEASE pg_ack", NULL, NULL, NULL) != SQLITE_OK) {
            if (!sqlite3_get_autocommit(b->db))
                sqlite3_exec(b->db, "ROLLBACK", NULL, NULL, NULL);
            rolled_back(b);
            load_counts(b);
        }
        return -1;
    }
    if (sqlite3_exec(b->db, "RELEASE pg_ack", NULL, NULL, NULL) != SQLITE_OK) {
        after_error(b);
        return -1;
    }
    c->last_id = last_id;
    if (began)
        return pg_buf_flush(b); /* on failure the cursor went back to durable_id */
    return 0;
}

int pg_buf_evict(struct pg_buf *b)
{
    int64_t cutoff = b->max_age_ms > 0 ? pg_clock_unix_ms() - b->max_age_ms : INT64_MIN;
    sqlite3_stmt *sel = NULL, *del = NULL;
    int n = 0;
    if (sqlite3_prepare_v2(b->db, "SELECT id,size,created_ms FROM profiles ORDER BY id LIMIT 1", -1,
                           &sel, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(b->db, "DELETE FROM profiles WHERE id=?", -1, &del, NULL) != SQLITE_OK)
        goto fail;
    for (;;) {
        sqlite3_reset(sel);
        int rc = sqlite3_step(sel);
        if (rc == SQLITE_DONE)
            break;
        if (rc != SQLITE_ROW)
            goto fail;
        int64_t id = sqlite3_column_int64(sel, 0);
        uint64_t size = (uint64_t)sqlite3_column_int64(sel, 1);
        int64_t created = sqlite3_column_int64(sel, 2);
        int over = b->max_size && b->st.bytes > b->max_size;
        if (!over && created >= cutoff)
            break;
        sqlite3_reset(sel);
        sqlite3_reset(del);
        sqlite3_bind_int64(del, 1, id);
        if (sqlite3_step(del) != SQLITE_DONE)
            goto fail;
        b->st.rows -= b->st.rows ? 1 : 0;
        b->st.bytes -= size < b->st.bytes ? size : b->st.bytes;
        b->st.evicted++;
        n++;
    }
    sqlite3_finalize(sel);
    sqlite3_finalize(del);
    return n;
fail:
    sqlite3_finalize(sel);
    sqlite3_finalize(del);
    after_error(b);
    return -1;
}

void pg_buf_stats(struct pg_buf *b, struct pg_buf_stats *out)
{
    *out = b->st;
    if (b->ckpt) {
        struct pg_walckpt_stats cs;
        pg_walckpt_stats(b->ckpt, &cs);
        out->checkpoints = cs.checkpoints;
        out->checkpoint_errors = cs.errors;
        snprintf(out->checkpoint_error, sizeof(out->checkpoint_error), "%s", cs.last_error);
    }
    out->oldest_ms = 0;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(b->db, "SELECT created_ms FROM profiles ORDER BY id LIMIT 1", -1, &st,
                           NULL) == SQLITE_OK) {
        if (sqlite3_step(st) == SQLITE_ROW)
            out->oldest_ms = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
    }
}
