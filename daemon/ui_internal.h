/* ui_internal.h - what the web UI's files (ui.c, ui_sd.c, ui_flame.c) share. */
#ifndef PG_DAEMON_UI_INTERNAL_H
#define PG_DAEMON_UI_INTERNAL_H

#include "daemon/ui.h"

struct evhttp_request;
struct ui_flame_job;

struct pg_ui {
    struct pg_web *web;
    struct pg_ui_host host;
    struct ui_flame_job **jobs; /* flame graphs on the workers (orphaned at destroy) */
    size_t n_jobs, cap_jobs;
};

/* /api/v1/service-discovery and /api/v1/targets/relabel_steps (ui_sd.c). */
void pg_ui_sd_handler(struct evhttp_request *req, void *ud);
void pg_ui_relabel_steps_handler(struct evhttp_request *req, void *ud);

/* /api/v1/targets/pools (ui_targets.c). */
void pg_ui_targets_handler(struct evhttp_request *req, void *ud);

/* /api/v1/flamegraph and /api/v1/pushes (ui_flame.c); pg_ui_flame_orphan_all detaches the
 * jobs still on the workers (destroy). */
void pg_ui_flame_handler(struct evhttp_request *req, void *ud);
void pg_ui_pushes_handler(struct evhttp_request *req, void *ud);
void pg_ui_flame_orphan_all(struct pg_ui *ui);

#endif
