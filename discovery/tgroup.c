/* tgroup.c - target group storage (see tgroup.h). */
#include "discovery/tgroup.h"

#include <stdlib.h>
#include <string.h>

int pg_tgroup_init(struct pg_tgroup *g, const char *source)
{
    memset(g, 0, sizeof(*g));
    pg_labels_init(&g->labels);
    g->source = strdup(source);
    return g->source ? 0 : -1;
}

struct pg_labels *pg_tgroup_add_target(struct pg_tgroup *g)
{
    struct pg_labels *nv = realloc(g->targets, (g->n_targets + 1) * sizeof(*nv));
    if (!nv)
        return NULL;
    g->targets = nv;
    pg_labels_init(&nv[g->n_targets]);
    return &nv[g->n_targets++];
}

int pg_tgroup_copy(struct pg_tgroup *dst, const struct pg_tgroup *src)
{
    if (pg_tgroup_init(dst, src->source) < 0)
        return -1;
    if (pg_labels_copy(&dst->labels, &src->labels) < 0)
        goto fail;
    for (size_t i = 0; i < src->n_targets; i++) {
        struct pg_labels *t = pg_tgroup_add_target(dst);
        if (!t || pg_labels_copy(t, &src->targets[i]) < 0)
            goto fail;
    }
    return 0;
fail:
    pg_tgroup_reset(dst);
    return -1;
}

void pg_tgroup_reset(struct pg_tgroup *g)
{
    free(g->source);
    pg_labels_reset(&g->labels);
    for (size_t i = 0; i < g->n_targets; i++)
        pg_labels_reset(&g->targets[i]);
    free(g->targets);
    memset(g, 0, sizeof(*g));
}

void pg_tgroup_free_array(struct pg_tgroup *groups, size_t n)
{
    if (!groups)
        return;
    for (size_t i = 0; i < n; i++)
        pg_tgroup_reset(&groups[i]);
    free(groups);
}
