/* test_core_workq.c - the worker pool (core/workq.c): every job's work runs on a worker
 * thread and its done on the loop thread, exactly once; a full queue refuses with -1;
 * freeing with jobs pending calls done for each (cancelled when work never ran), so
 * nothing leaks (LSan/ASan builds check that); a higher-priority submit evicts a waiting
 * job of lower priority; drain delivers every accepted job; the depth/capacity
 * accessors; workers run PG_WORKQ_NICE below the loop thread's priority. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <event2/event.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "core/metrics.h"
#include "core/workq.h"

static pthread_t loop_thread;

struct job {
    int id;
    int value;        /* work sets value = id * 2 */
    pthread_t worker; /* written by work */
    atomic_int *gate; /* when non-NULL, work spins until *gate != 0 */
    int *done_count;  /* loop thread only */
    int *cancelled;   /* loop thread only */
    int *seen;        /* per id: done calls */
};

static atomic_int order_seq;
static atomic_int order_of[8]; /* work sets order_of[id] (ids < 8) from order_seq */

static void work(void *p)
{
    struct job *j = p;
    while (j->gate && atomic_load(j->gate) == 0)
        usleep(1000);
    j->worker = pthread_self();
    j->value = j->id * 2;
    if (j->id >= 0 && j->id < 8)
        atomic_store(&order_of[j->id], atomic_fetch_add(&order_seq, 1));
}

static void done(void *p, enum pg_workq_status st)
{
    struct job *j = p;
    assert_true(pthread_equal(pthread_self(), loop_thread));
    j->seen[j->id]++;
    if (st == PG_WORKQ_DONE) {
        assert_int_equal(j->value, j->id * 2);
        assert_false(pthread_equal(j->worker, loop_thread));
        (*j->done_count)++;
    } else {
        assert_int_equal(j->value, 0);
        (*j->cancelled)++;
    }
    free(j);
}

static struct job *new_job(int id, int *done_count, int *cancelled, int *seen, atomic_int *gate)
{
    struct job *j = calloc(1, sizeof(*j));
    assert_non_null(j);
    j->id = id;
    j->done_count = done_count;
    j->cancelled = cancelled;
    j->seen = seen;
    j->gate = gate;
    return j;
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Runs base until *count reaches want (or 30 s pass: a hang fails the assertion after). */
static void run_until_count(struct event_base *base, const int *count, int want)
{
    double end = mono_s() + 30;
    while (*count < want && mono_s() < end)
        event_base_loop(base, EVLOOP_ONCE);
}

static void test_all_jobs_complete_on_loop(void **state)
{
    (void)state;
    struct event_base *base = event_base_new();
    struct pg_workq *q = pg_workq_new(base, 4, 1000);
    assert_non_null(q);
    assert_int_equal(pg_workq_workers(q), 4);
    assert_int_equal(pg_workq_capacity(q), 1000);
    enum { N = 500 };
    int done_count = 0, cancelled = 0, seen[N] = {0};
    for (int i = 0; i < N; i++) {
        struct job *j = new_job(i, &done_count, &cancelled, seen, NULL);
        assert_int_equal(pg_workq_submit(q, work, done, j), 0);
    }
    run_until_count(base, &done_count, N);
    assert_int_equal(done_count, N);
    assert_int_equal(cancelled, 0);
    for (int i = 0; i < N; i++)
        assert_int_equal(seen[i], 1);
    assert_int_equal(pg_workq_depth(q), 0);
    pg_workq_free(q);
    event_base_free(base);
    pg_metrics_shutdown();
}

static void test_full_queue_and_free_pending(void **state)
{
    (void)state;
    struct event_base *base = event_base_new();
    struct pg_workq *q = pg_workq_new(base, 1, 3);
    assert_non_null(q);
    atomic_int gate = 0;
    int done_count = 0, cancelled = 0, seen[8] = {0};
    /* job 0 blocks the only worker; wait until it has been taken off the queue */
    assert_int_equal(
        pg_workq_submit(q, work, done, new_job(0, &done_count, &cancelled, seen, &gate)), 0);
    double end = mono_s() + 30;
    while (pg_workq_depth(q) != 0 && mono_s() < end)
        usleep(1000);
    assert_int_equal(pg_workq_depth(q), 0);
    for (int i = 1; i <= 3; i++)
        assert_int_equal(
            pg_workq_submit(q, work, done, new_job(i, &done_count, &cancelled, seen, &gate)), 0);
    assert_int_equal(pg_workq_depth(q), 3);
    struct job *extra = new_job(4, &done_count, &cancelled, seen, &gate);
    assert_int_equal(pg_workq_submit(q, work, done, extra), -1); /* full: caller keeps it */
    free(extra);
    /* release the worker; free must wait for job 0, deliver it as done and cancel the rest
     * it did not start (the worker may or may not take job 1 before it sees stopping) */
    atomic_store(&gate, 1);
    pg_workq_free(q);
    assert_int_equal(done_count + cancelled, 4);
    assert_true(done_count >= 1);
    for (int i = 0; i <= 3; i++)
        assert_int_equal(seen[i], 1);
    assert_int_equal(seen[4], 0);
    event_base_free(base);
    pg_metrics_shutdown();
}

/* Drain (shutdown): every accepted job, waiting or running, runs and is delivered as done
 * on the calling thread before drain returns, without running the loop. A gate that never
 * opens makes drain time out with -1. */
static void test_drain(void **state)
{
    (void)state;
    struct event_base *base = event_base_new();
    struct pg_workq *q = pg_workq_new(base, 2, 100);
    assert_non_null(q);
    atomic_int gate = 0;
    enum { N = 40 };
    int done_count = 0, cancelled = 0, seen[N + 1] = {0};
    for (int i = 0; i < N; i++)
        assert_int_equal(
            pg_workq_submit(q, work, done, new_job(i, &done_count, &cancelled, seen, &gate)), 0);
    assert_int_equal(pg_workq_drain(q, 50), -1); /* gate closed: not idle in 50 ms */
    atomic_store(&gate, 1);
    assert_int_equal(pg_workq_drain(q, 30000), 0);
    assert_int_equal(done_count, N);
    assert_int_equal(cancelled, 0);
    for (int i = 0; i < N; i++)
        assert_int_equal(seen[i], 1);
    assert_int_equal(pg_workq_depth(q), 0);
    pg_workq_free(q);
    event_base_free(base);
    pg_metrics_shutdown();
}

static void test_priority_evicts(void **state)
{
    (void)state;
    struct event_base *base = event_base_new();
    struct pg_workq *q = pg_workq_new(base, 1, 1);
    assert_non_null(q);
    atomic_int gate = 0;
    int done_count = 0, cancelled = 0, seen[8] = {0};
    assert_int_equal(
        pg_workq_submit(q, work, done, new_job(0, &done_count, &cancelled, seen, &gate)), 0);
    double end = mono_s() + 30;
    while (pg_workq_depth(q) != 0 && mono_s() < end)
        usleep(1000);
    assert_int_equal(
        pg_workq_submit_prio(q, work, done, new_job(1, &done_count, &cancelled, seen, &gate), 2),
        0);
    assert_false(pg_workq_would_accept(q, 2)); /* full of an equal priority */
    struct job *same = new_job(2, &done_count, &cancelled, seen, &gate);
    assert_int_equal(pg_workq_submit_prio(q, work, done, same, 2), -1);
    free(same);
    assert_true(pg_workq_would_accept(q, 3));
    /* a higher priority takes job 1's place; job 1's done runs before submit returns */
    assert_int_equal(
        pg_workq_submit_prio(q, work, done, new_job(3, &done_count, &cancelled, seen, &gate), 3),
        0);
    assert_int_equal(seen[1], 1);
    assert_int_equal(cancelled, 1);
    assert_int_equal(pg_workq_depth(q), 1);
    assert_false(pg_workq_would_accept(q, 3)); /* the minimum moved up to job 3's */
    assert_true(pg_workq_would_accept(q, 4));
    atomic_store(&gate, 1);
    run_until_count(base, &done_count, 2);
    assert_int_equal(done_count, 2);
    assert_int_equal(seen[0] + seen[3], 2);
    assert_int_equal(seen[2], 0);
    pg_workq_free(q);
    event_base_free(base);
    pg_metrics_shutdown();
}

static void test_default_workers(void **state)
{
    (void)state;
    struct event_base *base = event_base_new();
    struct pg_workq *q = pg_workq_new(base, 0, 0);
    assert_non_null(q);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    assert_int_equal(pg_workq_workers(q), cpus > 0 ? (int)cpus : 1);
    assert_int_equal(pg_workq_capacity(q), 1);
    pg_workq_free(q);
    pg_workq_free(NULL);
    event_base_free(base);
    pg_metrics_shutdown();
}

/* An urgent job is accepted with the bounded queue full, runs before the jobs waiting
 * there, and is cancelled (done called) when the pool is freed before it ran. */
static void test_urgent(void **state)
{
    (void)state;
    struct event_base *base = event_base_new();
    struct pg_workq *q = pg_workq_new(base, 1, 1);
    assert_non_null(q);
    enum { N = 5 };
    int done_count = 0, cancelled = 0, seen[N] = {0};
    atomic_int gate = 0;
    struct job *jobs[N];
    for (int i = 0; i < N; i++)
        jobs[i] = new_job(i, &done_count, &cancelled, seen, i == 0 ? &gate : NULL);
    assert_int_equal(pg_workq_submit(q, work, done, jobs[0]), 0);
    double end = mono_s() + 10;
    while (pg_workq_depth(q) > 0 && mono_s() < end)
        usleep(1000); /* job 0 is on the worker, held by the gate */
    assert_int_equal(pg_workq_submit(q, work, done, jobs[1]), 0);
    assert_int_equal(pg_workq_submit(q, work, done, jobs[2]), -1); /* the queue is full */
    free(jobs[2]);
    assert_int_equal(pg_workq_submit_urgent(q, work, done, jobs[3]), 0);
    assert_int_equal(pg_workq_depth(q), 1); /* urgent jobs are outside the bound */
    atomic_store(&gate, 1);
    run_until_count(base, &done_count, 3);
    assert_int_equal(done_count, 3);
    assert_true(atomic_load(&order_of[3]) < atomic_load(&order_of[1])); /* ahead */
    /* freed with an urgent job that never ran: its done is called, cancelled */
    atomic_store(&gate, 0);
    struct job *hold = new_job(0, &done_count, &cancelled, seen, &gate);
    assert_int_equal(pg_workq_submit(q, work, done, hold), 0);
    end = mono_s() + 10;
    while (pg_workq_depth(q) > 0 && mono_s() < end)
        usleep(1000);
    assert_int_equal(pg_workq_submit_urgent(q, work, done, jobs[4]), 0);
    atomic_store(&gate, 1);
    pg_workq_free(q);
    assert_int_equal(seen[4], 1);
    event_base_free(base);
    pg_metrics_shutdown();
}

static int thread_nice(void)
{
    return getpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid));
}

struct nice_job {
    int nice;
    int *done_count;
};

static void nice_work(void *p)
{
    struct nice_job *j = p;
    j->nice = thread_nice();
}

static void nice_done(void *p, enum pg_workq_status st)
{
    struct nice_job *j = p;
    assert_int_equal(st, PG_WORKQ_DONE);
    (*j->done_count)++;
}

/* The loop thread keeps its priority; every worker runs PG_WORKQ_NICE lower (capped at
 * nice 19), so the loop preempts them when the cores are busy. */
static void test_workers_run_at_lower_priority(void **state)
{
    (void)state;
    int loop_nice = thread_nice();
    int want = loop_nice + PG_WORKQ_NICE > 19 ? 19 : loop_nice + PG_WORKQ_NICE;
    struct event_base *base = event_base_new();
    struct pg_workq *q = pg_workq_new(base, 2, 16);
    assert_non_null(q);
    enum { N = 8 };
    struct nice_job jobs[N];
    int done_count = 0;
    for (int i = 0; i < N; i++) {
        jobs[i] = (struct nice_job){.nice = -100, .done_count = &done_count};
        assert_int_equal(pg_workq_submit(q, nice_work, nice_done, &jobs[i]), 0);
    }
    run_until_count(base, &done_count, N);
    assert_int_equal(done_count, N);
    for (int i = 0; i < N; i++)
        assert_int_equal(jobs[i].nice, want);
    assert_int_equal(thread_nice(), loop_nice);
    pg_workq_free(q);
    event_base_free(base);
    pg_metrics_shutdown();
}

int main(void)
{
    loop_thread = pthread_self();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_all_jobs_complete_on_loop),
        cmocka_unit_test(test_full_queue_and_free_pending),
        cmocka_unit_test(test_drain),
        cmocka_unit_test(test_priority_evicts),
        cmocka_unit_test(test_default_workers),
        cmocka_unit_test(test_workers_run_at_lower_priority),
        cmocka_unit_test(test_urgent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
