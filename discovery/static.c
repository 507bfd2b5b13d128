/* static.c - the "static" discovery mechanism (Prometheus static_configs).
 *
 * Emits each of a job's static_configs as group "static/<i>" once, from a zero-delay timer
 * so the first emit happens from the loop like every other mechanism. */
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "core/log.h"
#include "discovery/sd.h"

struct pg_sd_static_inst {
    const struct pg_cfg_scrape *cfg;
    char *job;
    struct event *ev; /* owned zero-delay timer */
    pg_sd_emit_fn emit;
    void *ud;
};

static void *pg_sd_static_create(const void *cfg, const char *job)
{
    struct pg_sd_static_inst *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->cfg = cfg;
    s->job = strdup(job ? job : "");
    if (!s->job) {
        free(s);
        return NULL;
    }
    return s;
}

static void pg_sd_static_fire(evutil_socket_t fd, short what, void *arg)
{
    struct pg_sd_static_inst *s = arg;
    size_t n = s->cfg->n_static;
    (void)fd;
    (void)what;
    struct pg_tgroup *g = calloc(n ? n : 1, sizeof(*g));
    if (!g) {
        pg_log_error("sd.static", "job=%s msg=\"out of memory\"", s->job);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        const struct pg_cfg_static_group *sg = &s->cfg->static_configs[i];
        char src[32];
        snprintf(src, sizeof(src), "static/%zu", i);
        if (pg_tgroup_init(&g[i], src) < 0 || pg_labels_copy(&g[i].labels, &sg->labels) < 0)
            goto oom;
        for (size_t j = 0; j < sg->n_targets; j++) {
            struct pg_labels *t = pg_tgroup_add_target(&g[i]);
            if (!t || pg_labels_set(t, "__address__", sg->targets[j]) < 0)
                goto oom;
        }
    }
    s->emit(s->ud, g, n);
    pg_tgroup_free_array(g, n);
    return;
oom:
    pg_log_error("sd.static", "job=%s msg=\"out of memory\"", s->job);
    pg_tgroup_free_array(g, n);
}

static int pg_sd_static_start(void *inst, struct event_base *base, pg_sd_emit_fn emit, void *ud)
{
    struct pg_sd_static_inst *s = inst;
    struct timeval zero = {0, 0};
    s->emit = emit;
    s->ud = ud;
    s->ev = evtimer_new(base, pg_sd_static_fire, s);
    if (!s->ev || evtimer_add(s->ev, &zero) < 0)
        return -1;
    return 0;
}

static void pg_sd_static_stop(void *inst)
{
    struct pg_sd_static_inst *s = inst;
    if (s->ev) {
        event_free(s->ev); /* event_free deletes a pending event first */
        s->ev = NULL;
    }
}

static void pg_sd_static_destroy(void *inst)
{
    struct pg_sd_static_inst *s = inst;
    if (!s)
        return;
    pg_sd_static_stop(s);
    free(s->job);
    free(s);
}

const struct pg_sd_mechanism pg_sd_static = {
    .name = "static",
    .create = pg_sd_static_create,
    .start = pg_sd_static_start,
    .stop = pg_sd_static_stop,
    .destroy = pg_sd_static_destroy,
};
