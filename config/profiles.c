/* profiles.c - the built-in Go profile types and a job's default profile list (see
 * profiles.h). */
#include "config/profiles.h"

#include <stdlib.h>
#include <string.h>

const struct pg_cfg_builtin_profile pg_cfg_builtin_profiles[] = {
    {"process_cpu", "/debug/pprof/profile", "process_cpu", 1, 0, 1},
    {"memory", "/debug/pprof/allocs", "memory", 1, 1, 0},
    {"block", "/debug/pprof/block", "block", 1, 1, 0},
    {"mutex", "/debug/pprof/mutex", "mutex", 1, 1, 0},
    {"goroutine", "/debug/pprof/goroutine", "goroutine", 1, 0, 0},
    {"fgprof", "/debug/fgprof", "fgprof", 0, 0, 1},
    {"godeltaprof_memory", "/debug/pprof/delta_heap", "memory", 0, 0, 0},
    {"godeltaprof_mutex", "/debug/pprof/delta_mutex", "mutex", 0, 0, 0},
    {"godeltaprof_block", "/debug/pprof/delta_block", "block", 0, 0, 0},
};
const size_t pg_cfg_n_builtin_profiles =
    sizeof(pg_cfg_builtin_profiles) / sizeof(pg_cfg_builtin_profiles[0]);

void pg_cfg_default_profiles(struct pg_cfg_scrape *s, size_t extra)
{
    const struct pg_cfg_builtin_profile *builtin = pg_cfg_builtin_profiles;
    s->profiles = calloc(pg_cfg_n_builtin_profiles + extra, sizeof(*s->profiles));
    for (size_t i = 0; i < pg_cfg_n_builtin_profiles; i++) {
        struct pg_cfg_profile *p = &s->profiles[s->n_profiles++];
        p->name = strdup(builtin[i].name);
        p->path = strdup(builtin[i].path);
        p->sent_name = strdup(builtin[i].sent);
        p->enabled = builtin[i].enabled;
        p->delta = builtin[i].delta;
        p->seconds = builtin[i].seconds;
    }
}
