/* walckpt.c - the buffer's WAL checkpoint thread (see walckpt.h). One mutex guards the
 * kick flag, the stop flag and the counters; the thread waits on a condition variable
 * (kicked, or one second), keeps 100 ms between checkpoints and checkpoints outside the
 * lock. */
#include "sink/walckpt.h"

#include "core/errmsg.h"

#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PG_WALCKPT_PERIOD_MS 1000 /* a checkpoint at least this often */
#define PG_WALCKPT_GAP_MS 100     /* and at most this often */

struct pg_walckpt {
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int kicked, stop;           /* guarded by mu */
    struct pg_walckpt_stats st; /* guarded by mu */
    sqlite3 *db;                /* the thread's own connection */
};

/* Runs one PASSIVE checkpoint and records its outcome. */
static void checkpoint(struct pg_walckpt *c)
{
    int log_frames = 0, done_frames = 0;
    int rc = sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_PASSIVE, &log_frames,
                                       &done_frames);
    pthread_mutex_lock(&c->mu);
    c->st.checkpoints++;
    if (rc != SQLITE_OK) {
        c->st.errors++;
        snprintf(c->st.last_error, sizeof(c->st.last_error), "%s", sqlite3_errmsg(c->db));
    }
    pthread_mutex_unlock(&c->mu);
}

/* ts + ms */
static struct timespec ts_add_ms(struct timespec ts, long ms)
{
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

/* Waits (mu held) until stop, or until the deadline (CLOCK_REALTIME) passed. */
static void wait_until(struct pg_walckpt *c, const struct timespec *deadline)
{
    while (!c->stop && pthread_cond_timedwait(&c->cv, &c->mu, deadline) == 0)
        ;
}

static void *run(void *arg)
{
    struct pg_walckpt *c = arg;
    struct timespec last = {0, 0}, now;
    pthread_mutex_lock(&c->mu);
    while (!c->stop) {
        if (!c->kicked) {
            clock_gettime(CLOCK_REALTIME, &now);
            struct timespec until = ts_add_ms(now, PG_WALCKPT_PERIOD_MS);
            pthread_cond_timedwait(&c->cv, &c->mu, &until);
        }
        /* each checkpoint costs two fsyncs: at most one per PG_WALCKPT_GAP_MS (the WAL
         * holds about that long of commits) */
        struct timespec next = ts_add_ms(last, PG_WALCKPT_GAP_MS);
        wait_until(c, &next);
        if (c->stop)
            break;
        c->kicked = 0;
        pthread_mutex_unlock(&c->mu);
        checkpoint(c);
        clock_gettime(CLOCK_REALTIME, &last);
        pthread_mutex_lock(&c->mu);
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

/* Opens the thread's connection (no mutex of SQLite's own: only this thread uses it). */
static int open_db(struct pg_walckpt *c, const char *path, char *err, size_t errlen)
{
    if (sqlite3_open_v2(path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
            SQLITE_OK ||
        sqlite3_exec(c->db, "PRAGMA synchronous=NORMAL;", NULL, NULL, NULL) != SQLITE_OK) {
        pg_errmsg_set(err, errlen, "checkpoint connection to %s: %s", path,
                      c->db ? sqlite3_errmsg(c->db) : "out of memory");
        return -1;
    }
    return 0;
}

/* Starts the thread with every signal blocked (signals are for the loop thread). */
static int start_thread(struct pg_walckpt *c)
{
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&c->th, NULL, run, c);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}

struct pg_walckpt *pg_walckpt_start(const char *path, char *err, size_t errlen)
{
    if (errlen)
        err[0] = '\0';
    struct pg_walckpt *c = calloc(1, sizeof(*c));
    if (!c) {
        pg_errmsg_set(err, errlen, "out of memory");
        return NULL;
    }
    if (pthread_mutex_init(&c->mu, NULL) != 0) {
        free(c);
        pg_errmsg_set(err, errlen, "pthread_mutex_init failed");
        return NULL;
    }
    if (pthread_cond_init(&c->cv, NULL) != 0) {
        pthread_mutex_destroy(&c->mu);
        free(c);
        pg_errmsg_set(err, errlen, "pthread_cond_init failed");
        return NULL;
    }
    if (open_db(c, path, err, errlen) == 0 && start_thread(c) == 0)
        return c;
    if (errlen && !err[0])
        pg_errmsg_set(err, errlen, "could not start the checkpoint thread");
    sqlite3_close(c->db);
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->mu);
    free(c);
    return NULL;
}

void pg_walckpt_kick(struct pg_walckpt *c)
{
    pthread_mutex_lock(&c->mu);
    if (!c->kicked) {
        c->kicked = 1;
        pthread_cond_signal(&c->cv);
    }
    pthread_mutex_unlock(&c->mu);
}

void pg_walckpt_stats(struct pg_walckpt *c, struct pg_walckpt_stats *out)
{
    pthread_mutex_lock(&c->mu);
    *out = c->st;
    pthread_mutex_unlock(&c->mu);
}

void pg_walckpt_stop(struct pg_walckpt *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&c->mu);
    c->stop = 1;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
    pthread_join(c->th, NULL);
    sqlite3_close(c->db);
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->mu);
    free(c);
}
