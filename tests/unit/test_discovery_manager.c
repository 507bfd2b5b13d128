/* test_discovery_manager.c - the discovery manager with the static and file mechanisms on
 * a real event loop: first snapshot, file rewrite, broken file, deleted file; a resync
 * re-delivers the snapshot.
 * Every wait is a loop until a condition holds, bounded by a deadline. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config/config.h"
#include "discovery/file_sd.h"
#include "discovery/manager.h"
#include "discovery/sd.h"
#include "discovery/static.h"

struct snap {
    int syncs;
    size_t n_groups;
    char addrs[4096]; /* "addr;addr;..." of the last snapshot */
};

static void on_sync(void *ud, const char *job, const struct pg_tgroup *groups, size_t n)
{
    struct snap *s = ud;
    assert_string_equal(job, "api");
    s->syncs++;
    s->n_groups = n;
    s->addrs[0] = '\0';
    for (size_t i = 0; i < n; i++)
        for (size_t t = 0; t < groups[i].n_targets; t++) {
            const char *a = pg_labels_get(&groups[i].targets[t], "__address__");
            strncat(s->addrs, a ? a : "?", sizeof(s->addrs) - strlen(s->addrs) - 2);
            strcat(s->addrs, ";");
        }
}

static void tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg; /* only wakes the loop so the condition is re-checked */
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Runs base until pred(s) holds or 5 s pass. Returns pred's final value. */
static int run_until(struct event_base *base, struct snap *s, int (*pred)(struct snap *))
{
    double deadline = now_s() + 5.0;
    while (!pred(s) && now_s() < deadline)
        event_base_loop(base, EVLOOP_ONCE);
    return pred(s);
}

static void write_file(const char *dir, const char *name, const char *content)
{
    char tmp[512], dst[512];
    snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", dir, name);
    snprintf(dst, sizeof(dst), "%s/%s", dir, name);
    FILE *f = fopen(tmp, "w");
    assert_non_null(f);
    fputs(content, f);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(rename(tmp, dst), 0);
}

static int first_ok(struct snap *s)
{
    return s->syncs >= 1 && s->n_groups == 3;
}
static int first_ok_1(struct snap *s)
{
    return s->syncs >= 1 && s->n_groups == 1;
}
static int rewrite_ok(struct snap *s)
{
    return strstr(s->addrs, "c:3;") != NULL && strstr(s->addrs, "a:1;") == NULL;
}
static int b_ok(struct snap *s)
{
    return strstr(s->addrs, "x:9;") != NULL;
}
static int deleted_ok(struct snap *s)
{
    return strstr(s->addrs, "c:3;") == NULL && strstr(s->addrs, "d:4;") == NULL;
}

static void test_manager_static_and_file(void **state)
{
    (void)state;
    char dir[] = "/tmp/pg_sdm_XXXXXX";
    assert_non_null(mkdtemp(dir));
    write_file(dir, "a.json",
               "[{\"targets\":[\"a:1\",\"b:2\"],\"labels\":{\"env\":\"x\"}},"
               "{\"targets\":[\"d:4\"]}]");

    char pattern[512];
    snprintf(pattern, sizeof(pattern), "%s/*.json", dir);
    char *files[] = {pattern};
    struct pg_cfg_file_sd fsd = {.files = files, .n_files = 1, .refresh_interval_ms = 60000};
    char *st_targets[] = {"s:1"};
    struct pg_cfg_static_group sg = {.targets = st_targets, .n_targets = 1};
    pg_labels_init(&sg.labels);
    struct pg_cfg_scrape job;
    memset(&job, 0, sizeof(job));
    job.job_name = "api";
    struct pg_cfg_static_sd st = {.groups = &sg, .n_groups = 1};
    struct pg_cfg_sd sd[] = {{.mech = &pg_sd_static, .cfg = &st},
                             {.mech = &pg_sd_file, .cfg = &fsd}};
    job.sd = sd;
    job.n_sd = 2;

    struct event_base *base = event_base_new();
    assert_non_null(base);
    struct event *tk = event_new(base, -1, EV_PERSIST, tick, NULL);
    struct timeval tv = {0, 20000};
    event_add(tk, &tv);

    struct snap s;
    memset(&s, 0, sizeof(s));
    struct pg_sd_manager *m = pg_sd_manager_create(base, 100, on_sync, &s);
    assert_non_null(m);
    assert_int_equal(pg_sd_manager_add_job(m, &job), 0);

    /* first snapshot: static group + both file groups */
    assert_true(run_until(base, &s, first_ok));
    assert_non_null(strstr(s.addrs, "s:1;"));
    assert_non_null(strstr(s.addrs, "a:1;"));
    assert_non_null(strstr(s.addrs, "b:2;"));
    assert_non_null(strstr(s.addrs, "d:4;"));

    /* rewrite with one group: the second source disappears */
    write_file(dir, "a.json", "[{\"targets\":[\"c:3\"]}]");
    assert_true(run_until(base, &s, rewrite_ok));
    assert_int_equal(s.n_groups, 2);
    assert_null(strstr(s.addrs, "d:4;"));

    /* broken a.json plus a new b.json: a's groups are kept */
    write_file(dir, "a.json", "[{\"targets\": [");
    write_file(dir, "b.json", "[{\"targets\":[\"x:9\"]}]");
    assert_true(run_until(base, &s, b_ok));
    assert_non_null(strstr(s.addrs, "c:3;"));
    assert_non_null(strstr(s.addrs, "s:1;"));
    assert_int_equal(s.n_groups, 3);

    /* delete a.json: its groups go */
    char path[512];
    snprintf(path, sizeof(path), "%s/a.json", dir);
    assert_int_equal(unlink(path), 0);
    assert_true(run_until(base, &s, deleted_ok));
    assert_int_equal(s.n_groups, 2);
    assert_non_null(strstr(s.addrs, "x:9;"));
    assert_non_null(strstr(s.addrs, "s:1;"));

    pg_sd_manager_destroy(m);
    event_free(tk);
    event_base_free(base);
    snprintf(path, sizeof(path), "%s/b.json", dir);
    unlink(path);
    rmdir(dir);
}

static int resynced(struct snap *s)
{
    return s->syncs >= 2;
}

/* pg_sd_manager_resync re-delivers the same snapshot without any source emitting
 * (clustering: the live peers changed, the targets are filtered again). */
static void test_resync(void **state)
{
    (void)state;
    char *st_targets[] = {"s:1", "s:2"};
    struct pg_cfg_static_group sg = {.targets = st_targets, .n_targets = 2};
    pg_labels_init(&sg.labels);
    struct pg_cfg_static_sd st = {.groups = &sg, .n_groups = 1};
    struct pg_cfg_sd sd[] = {{.mech = &pg_sd_static, .cfg = &st}};
    struct event_base *base = event_base_new();
    struct event *tk = event_new(base, -1, EV_PERSIST, tick, NULL);
    struct timeval tv = {0, 20000};
    event_add(tk, &tv);
    struct snap s;
    memset(&s, 0, sizeof(s));
    struct pg_sd_manager *m = pg_sd_manager_create(base, 100, on_sync, &s);
    assert_non_null(m);
    assert_int_equal(pg_sd_manager_add(m, "api", sd, 1), 0);
    assert_true(run_until(base, &s, first_ok_1));
    /* nothing changes: no second sync on its own */
    double end = now_s() + 0.4;
    while (now_s() < end)
        event_base_loop(base, EVLOOP_ONCE);
    assert_int_equal(s.syncs, 1);
    pg_sd_manager_resync(m);
    assert_true(run_until(base, &s, resynced));
    assert_int_equal(s.syncs, 2);
    assert_string_equal(s.addrs, "s:1;s:2;");
    pg_sd_manager_resync(NULL); /* accepted */
    pg_sd_manager_destroy(m);
    event_free(tk);
    event_base_free(base);
}

static void test_lookup(void **state)
{
    (void)state;
    assert_ptr_equal(pg_sd_lookup("static"), &pg_sd_static);
    assert_ptr_equal(pg_sd_lookup("file"), &pg_sd_file);
    assert_ptr_equal(pg_sd_lookup("http"), &pg_sd_http);
    assert_ptr_equal(pg_sd_lookup("consul"), &pg_sd_consul);
    assert_ptr_equal(pg_sd_lookup("kubernetes"), &pg_sd_kubernetes);
    assert_non_null(pg_sd_lookup("dns"));
    assert_string_equal(pg_sd_lookup("dns")->config_key, "dns_sd_configs");
    assert_null(pg_sd_lookup("ec2"));
    assert_null(pg_sd_lookup(NULL));
    pg_sd_manager_destroy(NULL);
}

/* Every registered mechanism has every hook, and a unique name and *_configs key. */
static void test_registry(void **state)
{
    (void)state;
    size_t n;
    const struct pg_sd_mechanism *const *reg = pg_sd_registry(&n);
    assert_true(n >= 5);
    for (size_t i = 0; i < n; i++) {
        const struct pg_sd_mechanism *m = reg[i];
        size_t kl = strlen(m->config_key);
        assert_true(kl > 8 && !strcmp(m->config_key + kl - 8, "_configs"));
        assert_non_null(m->config_load);
        assert_non_null(m->config_free);
        assert_non_null(m->create);
        assert_non_null(m->start);
        assert_non_null(m->stop);
        assert_non_null(m->destroy);
        assert_ptr_equal(pg_sd_lookup(m->name), m);
        for (size_t j = 0; j < i; j++) {
            assert_string_not_equal(reg[j]->name, m->name);
            assert_string_not_equal(reg[j]->config_key, m->config_key);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lookup),
        cmocka_unit_test(test_registry),
        cmocka_unit_test(test_manager_static_and_file),
        cmocka_unit_test(test_resync),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
