/* tgroup_check.h - invariants every discovery harness checks on the target groups a
 * parser returns (static functions: each harness compiles its own copy). */
#ifndef PG_TESTS_FUZZ_TGROUP_CHECK_H
#define PG_TESTS_FUZZ_TGROUP_CHECK_H

#include <stdlib.h>

#include "discovery/tgroup.h"

/* Every group has a source, every label a name and a value (borrowed strings). */
static void pg_fuzz_check_group(const struct pg_tgroup *g)
{
    if (!g->source)
        abort();
    for (size_t i = 0; i < g->labels.n; i++)
        if (!g->labels.v[i].name || !g->labels.v[i].value)
            abort();
    for (size_t t = 0; t < g->n_targets; t++)
        for (size_t i = 0; i < g->targets[t].n; i++)
            if (!g->targets[t].v[i].name || !g->targets[t].v[i].value)
                abort();
}

#endif
