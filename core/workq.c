/* workq.c - worker threads with a bounded job queue and loop-side completion (see workq.h).
 *
 * One mutex guards both lists (waiting jobs, completed jobs) and the counters. A worker
 * pops a waiting job, runs it unlocked, then appends it to the completed list and, when
 * that list was empty, writes the eventfd. The loop's read callback first drains the
 * eventfd, then takes the whole completed list under the lock and calls done for each
 * job outside it: an append after the take finds the list empty and writes again, so no
 * completion is ever left without a wake-up. */
#include "core/workq.h"

#include <errno.h>
#include <event2/event.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/metrics.h"

#define PG_WORKQ_MAX_WORKERS 256

struct item {
    struct item *next;
    pg_workq_work_fn work;
    pg_workq_done_fn done;
    void *job;
    unsigned prio;
};

struct list {
    struct item *head, *tail;
};

struct pg_workq {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_cond_t idle_cv;         /* signalled when nothing is waiting or running */
    size_t n_running;               /* jobs a worker is running (mu) */
    struct list waiting, completed; /* guarded by mu */
    size_t n_waiting;               /* guarded by mu */
    struct list urgent;             /* urgent jobs: taken first, outside cap (mu) */
    size_t n_urgent;                /* guarded by mu */
    unsigned min_prio;              /* lowest priority among waiting jobs (mu) */
    size_t n_at_min;                /* waiting jobs with that priority (mu) */
    int stopping;                   /* guarded by mu */
    uint64_t busy_ns;               /* guarded by mu */
    size_t cap;
    pthread_t *threads;
    int n_threads;
    int efd;
    struct event *ev;
    struct pg_metric *m_len, *m_workers, *m_busy;
    int collector;
    int test_delay_ms; /* PROFGATE_TEST_WORK_DELAY_MS (tests only; 0 in production) */
};

static void list_push(struct list *l, struct item *it)
{
    it->next = NULL;
    if (l->tail)
        l->tail->next = it;
    else
        l->head = it;
    l->tail = it;
}

static struct item *list_pop(struct list *l)
{
    struct item *it = l->head;
    if (it) {
        l->head = it->next;
        if (l->head == NULL)
            l->tail = NULL;
    }
    return it;
}

/* Keeps min_prio/n_at_min right for a job entering the waiting list. mu held. */
static void prio_added(struct pg_workq *q, unsigned prio)
{
    if (q->n_waiting == 0 || prio < q->min_prio) {
        q->min_prio = prio;
        q->n_at_min = 1;
    } else if (prio == q->min_prio) {
        q->n_at_min++;
    }
}

/* ... and for one leaving it (already unlinked, n_waiting already decremented): a rescan
 * only when the last job at the minimum left. mu held. */
static void prio_removed(struct pg_workq *q, unsigned prio)
{
    if (prio != q->min_prio || --q->n_at_min > 0 || q->n_waiting == 0)
        return;
    q->min_prio = q->waiting.head->prio;
    for (struct item *it = q->waiting.head; it; it = it->next)
        if (it->prio < q->min_prio)
            q->min_prio = it->prio;
    q->n_at_min = 0;
    for (struct item *it = q->waiting.head; it; it = it->next)
        q->n_at_min += it->prio == q->min_prio;
}

static void wake(struct pg_workq *q)
{
    uint64_t one = 1;
    /* EAGAIN means the counter is already non-zero: the loop wakes anyway */
    while (write(q->efd, &one, sizeof one) < 0 && errno == EINTR)
        ;
}

/* Test-only: PROFGATE_TEST_WORK_DELAY_MS makes every job sleep that long on its worker
 * before its work runs, so the e2e tests can saturate the workers
 * (tests/e2e/test_run_workers.py, test_receiver_workers.py). Read once per queue; never
 * set it in production. */
static int read_test_delay(void)
{
    const char *v = getenv("PROFGATE_TEST_WORK_DELAY_MS");
    long ms = v ? strtol(v, NULL, 10) : 0;
    if (ms <= 0)
        return 0;
    if (ms > 60000)
        ms = 60000;
    pg_log_warn("workq",
                "delay_ms=%ld msg=\"PROFGATE_TEST_WORK_DELAY_MS is set: every processing job "
                "is slowed down (test only)\"",
                ms);
    return (int)ms;
}

static void test_delay(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

/* Lowers the calling worker thread's scheduling priority by PG_WORKQ_NICE (Linux: nice
 * is per thread). A failure only costs latency, so it is ignored. */
static void lower_priority(void)
{
#ifdef SYS_gettid
    pid_t tid = (pid_t)syscall(SYS_gettid);
    errno = 0;
    int cur = getpriority(PRIO_PROCESS, (id_t)tid);
    if (cur != -1 || errno == 0)
        (void)setpriority(PRIO_PROCESS, (id_t)tid, cur + PG_WORKQ_NICE);
#endif
}

static void *worker_main(void *arg)
{
    struct pg_workq *q = arg;
    lower_priority();
    pthread_mutex_lock(&q->mu);
    for (;;) {
        while (!q->stopping && q->waiting.head == NULL && q->urgent.head == NULL)
            pthread_cond_wait(&q->cv, &q->mu);
        if (q->stopping)
            break; /* waiting jobs are cancelled by pg_workq_free */
        struct item *it = list_pop(&q->urgent);
        if (it) {
            q->n_urgent--;
        } else {
            it = list_pop(&q->waiting);
            q->n_waiting--;
            prio_removed(q, it->prio);
        }
        q->n_running++;
        pthread_mutex_unlock(&q->mu);
        uint64_t t0 = (uint64_t)pg_clock_mono_ns();
        if (q->test_delay_ms > 0)
            test_delay(q->test_delay_ms);
        it->work(it->job);
        uint64_t t1 = (uint64_t)pg_clock_mono_ns();
        pthread_mutex_lock(&q->mu);
        q->busy_ns += t1 - t0;
        if (--q->n_running == 0 && q->n_waiting == 0 && q->n_urgent == 0)
            pthread_cond_broadcast(&q->idle_cv);
        int was_empty = q->completed.head == NULL;
        list_push(&q->completed, it);
        if (was_empty) {
            pthread_mutex_unlock(&q->mu);
            wake(q);
            pthread_mutex_lock(&q->mu);
        }
    }
    pthread_mutex_unlock(&q->mu);
    return NULL;
}

/* Calls done for every item of l (taken out of the queue already). */
static void deliver(struct list *l, enum pg_workq_status st)
{
    struct item *it;
    while ((it = list_pop(l)) != NULL) {
        pg_workq_done_fn done = it->done;
        void *job = it->job;
        free(it);
        done(job, st);
    }
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct pg_workq *q = arg;
    uint64_t v;
    while (read(fd, &v, sizeof v) < 0 && errno == EINTR)
        ;
    pthread_mutex_lock(&q->mu);
    struct list l = q->completed;
    q->completed.head = q->completed.tail = NULL;
    pthread_mutex_unlock(&q->mu);
    deliver(&l, PG_WORKQ_DONE);
}

static void collect(void *ud)
{
    struct pg_workq *q = ud;
    pthread_mutex_lock(&q->mu);
    size_t n = q->n_waiting;
    uint64_t busy = q->busy_ns;
    pthread_mutex_unlock(&q->mu);
    pg_metric_set(q->m_len, NULL, (double)n);
    pg_metric_set(q->m_workers, NULL, (double)q->n_threads);
    pg_metric_set(q->m_busy, NULL, (double)busy / 1e9);
}

static int resolve_workers(int n)
{
    if (n <= 0) {
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        n = c > 0 ? (int)(c > PG_WORKQ_MAX_WORKERS ? PG_WORKQ_MAX_WORKERS : c) : 1;
    }
    return n > PG_WORKQ_MAX_WORKERS ? PG_WORKQ_MAX_WORKERS : n;
}

static void register_metrics(struct pg_workq *q)
{
    q->m_len = pg_metric_gauge("profgate_processing_queue_length",
                               "Scrape processing jobs waiting for a worker thread.", NULL);
    q->m_workers =
        pg_metric_gauge("profgate_processing_workers", "Processing worker threads.", NULL);
    q->m_busy = pg_metric_counter("profgate_processing_busy_seconds_total",
                                  "Time the processing workers spent working.", NULL);
    q->collector = pg_metrics_add_collector(collect, q) == 0;
}

struct pg_workq *pg_workq_new(struct event_base *base, int n_workers, size_t queue_cap)
{
    struct pg_workq *q = calloc(1, sizeof(*q));
    if (q == NULL)
        return NULL;
    q->cap = queue_cap ? queue_cap : 1;
    q->efd = -1;
    q->test_delay_ms = read_test_delay();
    int n = resolve_workers(n_workers);
    if (pthread_mutex_init(&q->mu, NULL) != 0) {
        free(q);
        return NULL;
    }
    if (pthread_cond_init(&q->cv, NULL) != 0) {
        pthread_mutex_destroy(&q->mu);
        free(q);
        return NULL;
    }
    if (pthread_cond_init(&q->idle_cv, NULL) != 0) {
        pthread_cond_destroy(&q->cv);
        pthread_mutex_destroy(&q->mu);
        free(q);
        return NULL;
    }
    q->threads = calloc((size_t)n, sizeof(*q->threads));
    q->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (q->threads == NULL || q->efd < 0)
        goto fail;
    q->ev = event_new(base, q->efd, EV_READ | EV_PERSIST, on_wake, q);
    if (q->ev == NULL || event_add(q->ev, NULL) != 0)
        goto fail;
    /* workers block every signal: SIGHUP/SIGTERM/SIGINT are for the loop thread */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int started = 0;
    while (started < n && pthread_create(&q->threads[started], NULL, worker_main, q) == 0)
        started++;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    q->n_threads = started;
    if (started < n)
        goto fail;
    register_metrics(q);
    pg_log_info("workq", "workers=%d queue_size=%zu msg=\"processing workers started\"", n, q->cap);
    return q;
fail:
    pg_workq_free(q);
    return NULL;
}

/* Returns the link pointing at the waiting item with the lowest priority below prio (the
 * latest of equals), or NULL. Called with mu held; scans only when there is one. */
static struct item **find_victim(struct pg_workq *q, unsigned prio)
{
    if (q->n_waiting == 0 || q->min_prio >= prio)
        return NULL;
    struct item **victim = NULL;
    for (struct item **pp = &q->waiting.head; *pp; pp = &(*pp)->next)
        if ((*pp)->prio < prio && (victim == NULL || (*pp)->prio <= (*victim)->prio))
            victim = pp;
    return victim;
}

/* Unlinks *pp (an item of the waiting list). Called with mu held. */
static struct item *unlink_waiting(struct pg_workq *q, struct item **pp)
{
    struct item *it = *pp, *prev = NULL;
    for (struct item *x = q->waiting.head; x && x != it; x = x->next)
        prev = x;
    *pp = it->next;
    if (q->waiting.tail == it)
        q->waiting.tail = prev;
    q->n_waiting--;
    prio_removed(q, it->prio);
    return it;
}

int pg_workq_submit_prio(struct pg_workq *q, pg_workq_work_fn work, pg_workq_done_fn done,
                         void *job, unsigned prio)
{
    struct item *it = malloc(sizeof(*it));
    if (it == NULL)
        return -1;
    it->work = work;
    it->done = done;
    it->job = job;
    it->prio = prio;
    struct item *evicted = NULL;
    pthread_mutex_lock(&q->mu);
    if (q->stopping) {
        pthread_mutex_unlock(&q->mu);
        free(it);
        return -1;
    }
    if (q->n_waiting >= q->cap) {
        struct item **victim = find_victim(q, prio);
        if (victim == NULL) {
            pthread_mutex_unlock(&q->mu);
            free(it);
            return -1;
        }
        evicted = unlink_waiting(q, victim);
    }
    prio_added(q, prio);
    list_push(&q->waiting, it);
    q->n_waiting++;
    pthread_cond_signal(&q->cv);
    pthread_mutex_unlock(&q->mu);
    if (evicted != NULL) {
        struct list l = {evicted, evicted};
        evicted->next = NULL;
        deliver(&l, PG_WORKQ_EVICTED);
    }
    return 0;
}

int pg_workq_submit_urgent(struct pg_workq *q, pg_workq_work_fn work, pg_workq_done_fn done,
                           void *job)
{
    struct item *it = malloc(sizeof(*it));
    if (it == NULL)
        return -1;
    *it = (struct item){.work = work, .done = done, .job = job};
    pthread_mutex_lock(&q->mu);
    if (q->stopping) {
        pthread_mutex_unlock(&q->mu);
        free(it);
        return -1;
    }
    list_push(&q->urgent, it);
    q->n_urgent++;
    pthread_cond_signal(&q->cv);
    pthread_mutex_unlock(&q->mu);
    return 0;
}

int pg_workq_submit(struct pg_workq *q, pg_workq_work_fn work, pg_workq_done_fn done, void *job)
{
    return pg_workq_submit_prio(q, work, done, job, 0);
}

int pg_workq_would_accept(struct pg_workq *q, unsigned prio)
{
    pthread_mutex_lock(&q->mu);
    int ok = !q->stopping && (q->n_waiting < q->cap || q->min_prio < prio); /* O(1) */
    pthread_mutex_unlock(&q->mu);
    return ok;
}

size_t pg_workq_depth(struct pg_workq *q)
{
    pthread_mutex_lock(&q->mu);
    size_t n = q->n_waiting;
    pthread_mutex_unlock(&q->mu);
    return n;
}

size_t pg_workq_capacity(const struct pg_workq *q)
{
    return q->cap;
}

int pg_workq_workers(const struct pg_workq *q)
{
    return q->n_threads;
}

int pg_workq_drain(struct pg_workq *q, int64_t timeout_ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += (time_t)(timeout_ms / 1000);
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    int rc = 0;
    pthread_mutex_lock(&q->mu);
    while (rc == 0 && (q->n_waiting > 0 || q->n_urgent > 0 || q->n_running > 0))
        rc = pthread_cond_timedwait(&q->idle_cv, &q->mu, &until);
    int idle = q->n_waiting == 0 && q->n_urgent == 0 && q->n_running == 0;
    struct list l = q->completed;
    q->completed.head = q->completed.tail = NULL;
    pthread_mutex_unlock(&q->mu);
    deliver(&l, PG_WORKQ_DONE);
    return idle ? 0 : -1;
}

void pg_workq_free(struct pg_workq *q)
{
    if (q == NULL)
        return;
    if (q->collector)
        pg_metrics_remove_collector(collect, q);
    pthread_mutex_lock(&q->mu);
    q->stopping = 1;
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
    for (int i = 0; i < q->n_threads; i++)
        pthread_join(q->threads[i], NULL);
    if (q->ev)
        event_free(q->ev);
    if (q->efd >= 0)
        close(q->efd);
    /* no thread is left: the lists are ours */
    deliver(&q->completed, PG_WORKQ_DONE);
    deliver(&q->urgent, PG_WORKQ_CANCELLED);
    deliver(&q->waiting, PG_WORKQ_CANCELLED);
    free(q->threads);
    pthread_cond_destroy(&q->idle_cv);
    pthread_cond_destroy(&q->cv);
    pthread_mutex_destroy(&q->mu);
    free(q);
}
