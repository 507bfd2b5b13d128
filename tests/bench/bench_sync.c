/* bench_sync.c - CPU time of one scrape-pool sync (scraper/scraper.c's pg_scraper_sync on
 * the event loop: relabeling, URLs, loop keys, new loops) for N targets x the 5 default
 * profile types, with a job's relabel_configs from a YAML file.
 *
 *   bench_sync CONFIG [N]   (N defaults to 10000; the first job of CONFIG is used)
 *
 * Targets: 127.0.0.<i/250>.<i%250>:6060 in one group, with labels team=t<i%20>,
 * env=prod|dev (1 in 10 dev), pod=pod-<i> and __meta_kubernetes_pod_annotation_*
 * annotations. Prints the first sync (all loops new) and a second identical sync (all
 * loops kept), best of 5 each, and the loops and dropped entries. Measured for issue 12
 * (docs/performance.md "Relabeling per profile type"). */
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "config/config.h"
#include "core/log.h"
#include "core/metrics.h"
#include "discovery/tgroup.h"
#include "scraper/scraper.h"

static double cpu_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int fill_group(struct pg_tgroup *g, size_t n)
{
    if (pg_tgroup_init(g, "bench") != 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        struct pg_labels *t = pg_tgroup_add_target(g);
        if (t == NULL)
            return -1;
        char v[64];
        snprintf(v, sizeof v, "10.%zu.%zu.%zu:6060", i / 62500, (i / 250) % 250, i % 250);
        pg_labels_set(t, "__address__", v);
        snprintf(v, sizeof v, "t%zu", i % 20);
        pg_labels_set(t, "team", v);
        pg_labels_set(t, "env", i % 10 == 0 ? "dev" : "prod");
        snprintf(v, sizeof v, "pod-%zu", i);
        pg_labels_set(t, "pod", v);
        pg_labels_set(t, "__meta_kubernetes_pod_annotation_profiles_grafana_com_memory_scrape",
                      i % 2 ? "true" : "false");
        pg_labels_set(t, "__meta_kubernetes_namespace", "shop");
        pg_labels_set(t, "__meta_kubernetes_pod_container_name", "app");
    }
    return 0;
}

static void count_active(void *ud, const struct pg_scrape_target_info *t)
{
    (void)t;
    ++*(size_t *)ud;
}

static void count_dropped(void *ud, const struct pg_scrape_dropped_info *t)
{
    (void)t;
    ++*(size_t *)ud;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_sync CONFIG [N]\n");
        return 2;
    }
    size_t n = argc > 2 ? (size_t)strtoul(argv[2], NULL, 10) : 10000;
    pg_log_set_level(PG_LOG_WARN);
    struct pg_cfg_errors errs;
    pg_cfg_errors_init(&errs);
    struct pg_cfg *cfg = pg_cfg_load(argv[1], &errs);
    if (cfg == NULL || cfg->n_scrape == 0) {
        pg_cfg_errors_print(&errs, stderr);
        return 1;
    }
    pg_cfg_errors_reset(&errs);
    struct pg_tgroup g;
    if (fill_group(&g, n) != 0)
        return 1;
    double best_new = 1e18, best_kept = 1e18;
    size_t active = 0, dropped = 0;
    for (int round = 0; round < 5; round++) {
        struct event_base *base = event_base_new();
        struct pg_scraper *s = pg_scraper_create(base, NULL, NULL, NULL, NULL);
        if (s == NULL || pg_scraper_apply(s, cfg) != 0)
            return 1;
        double t0 = cpu_ms();
        pg_scraper_sync(s, cfg->scrape[0].job_name, &g, 1);
        double t1 = cpu_ms();
        pg_scraper_sync(s, cfg->scrape[0].job_name, &g, 1);
        double t2 = cpu_ms();
        best_new = t1 - t0 < best_new ? t1 - t0 : best_new;
        best_kept = t2 - t1 < best_kept ? t2 - t1 : best_kept;
        active = dropped = 0;
        pg_scraper_foreach_active(s, count_active, &active);
        pg_scraper_foreach_dropped(s, count_dropped, &dropped);
        pg_scraper_destroy(s);
        event_base_free(base);
    }
    printf("targets=%zu loops=%zu dropped=%zu first_sync_ms=%.1f second_sync_ms=%.1f\n", n, active,
           dropped, best_new, best_kept);
    pg_tgroup_reset(&g);
    pg_cfg_free(cfg);
    pg_metrics_shutdown();
    return 0;
}
