/* ui.h - profgate's web UI: pages for targets, service discovery, backends, buffer, config
 * and flame graphs, and the JSON endpoints under /api/v1/ behind them (docs/http-api.md).
 *
 * The pages are static HTML, CSS and plain JS (daemon/ui/), embedded into the binary at
 * build time (cmake/embed_assets.cmake) and served with their Content-Type, an ETag and
 * Cache-Control: no-cache (the browser revalidates; an unchanged file costs a 304). Every
 * link and request in them is relative, so the UI works under --web.route-prefix and
 * behind a proxy that adds a path (--web.external-url). The pages fetch the JSON
 * endpoints and refresh while visible (document.visibilityState).
 *
 * Routes (GET or HEAD; added to a struct pg_web with pg_web_route):
 *   /, /targets, /service-discovery, /backends, /buffer, /config, /flamegraph; /static/NAME (css,
 * js) /api/v1/service-discovery, /api/v1/targets/relabel_steps, /api/v1/targets/pools,
 * /api/v1/backends, /api/v1/buffer,
 * /api/v1/status/config, /api/v1/flamegraph, /api/v1/pushes
 * (/api/v1/targets is web.c's.)
 *
 * Flame graphs are computed on the processing workers (core/workq.h) from the last profile
 * each scrape loop keeps (scraper.h: pg_scraper_set_keep_bytes) or the receiver's last push
 * per (service, profile type) (daemon/ui_pushes.h); the reply is deferred until then. The
 * UI knows the daemon only through struct pg_ui_host (filled in by daemon/app.c). */
#ifndef PG_DAEMON_UI_H
#define PG_DAEMON_UI_H

#include <stddef.h>
#include <stdint.h>

#include "sink/buffer.h"
#include "sink/queue.h"

struct event_base;
struct pg_scraper;
struct pg_ui;
struct pg_ui_pushes;
struct pg_web;
struct pg_workq;

/* The buffer page's data. */
struct pg_ui_buffer {
    struct pg_buf_stats st;
    const char *path; /* storage.path (borrowed) */
    uint64_t max_size;
    int64_t max_age_ms;
    uint64_t dropped_commit_failed, dropped_buffer_error; /* the writer's drop counts */
};

/* What the UI needs from the daemon. Fixed for the UI's lifetime: scraper, workq and
 * pushes (borrowed, must outlive the UI) and the callbacks; state a reload changes is
 * asked through the callbacks on ud. */
struct pg_ui_host {
    void *ud;
    struct pg_scraper *scraper;
    struct pg_workq *workq;            /* flame graphs; NULL: computed on the loop */
    const struct pg_ui_pushes *pushes; /* the receiver's last pushes, or NULL */
    /* the running config as redacted YAML (daemon/config_redact.h); borrowed until the
     * next reload; NULL when it could not be produced (*why says why) */
    const char *(*config_yaml)(void *ud, const char **why);
    size_t (*n_backends)(void *ud);
    void (*backend)(void *ud, size_t i, struct pg_sink_queue_status *st);
    int (*buffer)(void *ud, struct pg_ui_buffer *out); /* 0, or -1 when no buffer is open */
};

/* Adds the UI's routes to w (borrowed; the UI must be destroyed before it). Returns the
 * UI, or NULL with a reason in err. */
struct pg_ui *pg_ui_create(struct pg_web *w, const struct pg_ui_host *host, char *err,
                           size_t errlen);

/* Removes the routes; flame graphs still being computed are abandoned (their requests
 * stay unanswered until the server closes them). Accepts NULL. */
void pg_ui_destroy(struct pg_ui *ui);

#endif
