/* profiles.h - the built-in Go profile types and a job's default profile list.
 *
 * Shared by both dialects' loaders: config.c (profiling_config) and legacy.c
 * (enabled-profiles). It sits below them, so neither calls into the other for it. */
#ifndef PG_CONFIG_PROFILES_H
#define PG_CONFIG_PROFILES_H

#include <stddef.h>

#include "config/config.h"

/* One built-in profile type (DESIGN.md "Profile types"). */
struct pg_cfg_builtin_profile {
    const char *name, *path, *sent;
    int enabled, delta, seconds;
};

/* The built-in types, in table order. */
extern const struct pg_cfg_builtin_profile pg_cfg_builtin_profiles[];
extern const size_t pg_cfg_n_builtin_profiles;

/* Sets s->profiles to every built-in profile type with its default settings, in table
 * order, with room for `extra` more entries after them. s->profiles must be empty. */
void pg_cfg_default_profiles(struct pg_cfg_scrape *s, size_t extra);

#endif
