/* static.c - the "static" discovery mechanism (Prometheus static_configs).
 *
 * Loads a job's whole static_configs sequence as one config (static.h) and emits each
 * entry as group "static/<i>" once, from a zero-delay timer so the first emit happens from
 * the loop like every other mechanism. */
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "yamlcfg/load.h"
#include "core/log.h"
#include "discovery/sd.h"
#include "discovery/static.h"

/* Loads the whole static_configs sequence seq (not empty: config.c skips an empty one). */
static void *pg_sd_static_config_load(struct pg_cfg_ld *l, yaml_node_t *seq)
{
    size_t cnt = (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start);
    struct pg_cfg_static_sd *c = calloc(1, sizeof(*c));
    if (!c || !(c->groups = calloc(cnt ? cnt : 1, sizeof(*c->groups)))) {
        free(c);
        return NULL;
    }
    for (size_t i = 0; i < cnt; i++) {
        yaml_node_t *g = pg_yaml_at(l->y, seq->data.sequence.items.start[i]);
        static const char *const k[] = {"targets", "labels", NULL};
        struct pg_cfg_static_group *sg = &c->groups[c->n_groups++];
        pg_labels_init(&sg->labels);
        if (pg_yaml_check_keys(l->y, g, k, "targetgroup.Group", l->errs) < 0)
            continue;
        pg_cfg_get_strv(l, g, "targets", 1, &sg->targets, &sg->n_targets);
        pg_cfg_get_labels(l, g, "labels", &sg->labels);
    }
    return c;
}

static void pg_sd_static_config_free(void *cfg)
{
    struct pg_cfg_static_sd *c = cfg;
    if (!c)
        return;
    for (size_t i = 0; i < c->n_groups; i++) {
        pg_cfg_strv_free(c->groups[i].targets, c->groups[i].n_targets);
        pg_labels_reset(&c->groups[i].labels);
    }
    free(c->groups);
    free(c);
}

struct pg_sd_static_inst {
    const struct pg_cfg_static_sd *cfg;
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
    size_t n = s->cfg->n_groups;
    (void)fd;
    (void)what;
    struct pg_tgroup *g = calloc(n ? n : 1, sizeof(*g));
    if (!g) {
        pg_log_error("sd.static", "job=%s msg=\"out of memory\"", s->job);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        const struct pg_cfg_static_group *sg = &s->cfg->groups[i];
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
    .config_key = "static_configs",
    .config_whole_list = 1,
    .config_load = pg_sd_static_config_load,
    .config_free = pg_sd_static_config_free,
    .create = pg_sd_static_create,
    .start = pg_sd_static_start,
    .stop = pg_sd_static_stop,
    .destroy = pg_sd_static_destroy,
};
