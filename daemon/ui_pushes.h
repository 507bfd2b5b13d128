/* ui_pushes.h - the receiver's last pushed profile per (service_name, profile type), kept
 * for the web UI's flame graph (/api/v1/pushes, /api/v1/flamegraph?service=...).
 *
 * Bounded: at most max_entries series (a new series beyond that replaces the one updated
 * longest ago) and max_bytes of bodies together (a body that does not fit is not kept; its
 * series then has no profile until a smaller one arrives). Bodies are kept as pushed
 * (usually gzip'd pprof). Event-loop thread only. */
#ifndef PG_DAEMON_UI_PUSHES_H
#define PG_DAEMON_UI_PUSHES_H

#include <stddef.h>
#include <stdint.h>

struct pg_labels;
struct pg_ui_pushes;

struct pg_ui_push {
    char *service, *name; /* service_name ("" when absent) and __name__ */
    char *labels;         /* the series as {k="v",...} text */
    uint8_t *body;        /* NULL when over the byte budget */
    size_t len;
    int64_t time_ms; /* when it was stored */
    uint64_t count;  /* profiles stored for this series since start */
};

/* Returns a new store, or NULL on OOM. */
struct pg_ui_pushes *pg_ui_pushes_new(size_t max_entries, size_t max_bytes);

/* Records a durable pushed profile (everything copied). Allocation failures only lose
 * this record. */
void pg_ui_pushes_put(struct pg_ui_pushes *p, const struct pg_labels *labels, const uint8_t *body,
                      size_t len, int64_t now_ms);

/* Number of series and series i (borrowed until the next put), in first-seen order. */
size_t pg_ui_pushes_count(const struct pg_ui_pushes *p);
const struct pg_ui_push *pg_ui_pushes_at(const struct pg_ui_pushes *p, size_t i);

/* The series (service, name), or NULL. */
const struct pg_ui_push *pg_ui_pushes_find(const struct pg_ui_pushes *p, const char *service,
                                           const char *name);

/* Frees p. Accepts NULL. */
void pg_ui_pushes_free(struct pg_ui_pushes *p);

#endif
