/* metrics.h - profgate's own metrics in the Prometheus text exposition format.
 *
 * A process-wide registry of metric families (counter, gauge, histogram), each with fixed
 * label names and one child per distinct tuple of label values, rendered by
 * pg_metrics_render for GET /metrics (text format 0.0.4: # HELP, # TYPE, then samples;
 * histograms as _bucket{le=...}, _sum, _count). Families are registered once (by name;
 * registering the same name again returns the existing family) and live until
 * pg_metrics_shutdown. Label values are copied. Updating a child costs a hash lookup of
 * its label values; do not use per-target label values (cardinality is bounded by jobs,
 * profile types and backends). Use from the event-loop thread only.
 *
 * Collectors are callbacks run just before each render, to set gauges from live state
 * (buffer rows, targets per job). */
#ifndef PG_CORE_METRICS_H
#define PG_CORE_METRICS_H

#include <stddef.h>

struct pg_metric;
struct evbuffer;

enum pg_metric_type { PG_METRIC_COUNTER = 0, PG_METRIC_GAUGE, PG_METRIC_HISTOGRAM };

/* Registers (or returns the existing) family called name. label_names is a
 * comma-separated list ("job,type"; "" or NULL for none). buckets (upper bounds,
 * ascending, +Inf implied) are used by histograms only; NULL picks the default
 * {.005,.01,.025,.05,.1,.25,.5,1,2.5,5,10,30,60}. Returns the family (borrowed; owned by
 * the registry), or NULL on OOM or when name exists with another type/label set. */
struct pg_metric *pg_metric_register(enum pg_metric_type type, const char *name, const char *help,
                                     const char *label_names, const double *buckets,
                                     size_t n_buckets);

/* Convenience wrappers around pg_metric_register. */
struct pg_metric *pg_metric_counter(const char *name, const char *help, const char *label_names);
struct pg_metric *pg_metric_gauge(const char *name, const char *help, const char *label_names);
struct pg_metric *pg_metric_histogram(const char *name, const char *help, const char *label_names);

/* Updates the child for the label values (exactly as many strings as label names; NULL
 * when the family has none). m may be NULL (no-op). Allocation failure drops the update. */
void pg_metric_inc(struct pg_metric *m, const char *const *label_values,
                   double v); /* counter/gauge */
void pg_metric_set(struct pg_metric *m, const char *const *label_values, double v); /* gauge */
void pg_metric_observe(struct pg_metric *m, const char *const *label_values,
                       double v); /* histogram */

/* Removes every child of m (gauges re-set by a collector). */
void pg_metric_clear(struct pg_metric *m);

/* Returns the current value of a counter/gauge child (0 when absent), or a histogram's
 * count. For tests. */
double pg_metric_value(struct pg_metric *m, const char *const *label_values);

/* A collector runs before each render. Registered until pg_metrics_remove_collector. */
typedef void (*pg_metrics_collect_fn)(void *ud);
int pg_metrics_add_collector(pg_metrics_collect_fn fn, void *ud);
void pg_metrics_remove_collector(pg_metrics_collect_fn fn, void *ud);

/* Runs the collectors and appends the whole exposition to out. Returns 0 or -1 (OOM). */
int pg_metrics_render(struct evbuffer *out);

/* Frees every family and collector (at exit, so LeakSanitizer stays quiet). Afterwards
 * registering starts a fresh registry. */
void pg_metrics_shutdown(void);

#endif
