/* profile_relabel.c - profile_relabel_configs on a loop's series labels (see
 * profile_relabel.h). */
#include "scraper/profile_relabel.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/errmsg.h"
#include "relabel/relabel.h"

/* Internal labels that are sent: the series name, the delta marker and the tenant. */
static int kept_internal(const char *name)
{
    return !strcmp(name, "__name__") || !strcmp(name, "__delta__") ||
           !strcmp(name, "__tenant_id__");
}

/* Removes the "__" labels a backend must not receive (a rule may have added them). */
static void strip_internal(struct pg_labels *ls)
{
    size_t w = 0;
    for (size_t i = 0; i < ls->n; i++) {
        struct pg_label *lb = &ls->v[i];
        if (strncmp(lb->name, "__", 2) != 0 || kept_internal(lb->name)) {
            ls->v[w++] = *lb;
        } else {
            free(lb->name);
            free(lb->value);
        }
    }
    ls->n = w; /* a subsequence of a sorted vector stays sorted */
}

int pg_scrape_profile_relabel(const struct pg_cfg_scrape *job, const struct pg_labels *series,
                              struct pg_labels *out, char *why, size_t whylen)
{
    if (pg_labels_copy(out, series) != 0)
        return -1;
    for (size_t i = 0; i < job->n_profile_relabel; i++) {
        const struct pg_relabel_rule *r = &job->profile_relabel[i];
        int kept = pg_relabel_process(r, 1, out, NULL, NULL);
        if (kept <= 0) {
            pg_errmsg_set(why, whylen, "profile_relabel_configs[%zu] (%s)%s", i,
                          pg_relabel_action_name(r->action),
                          kept < 0 ? ": regex match limit hit or out of memory" : "");
            pg_labels_reset(out);
            return 0;
        }
    }
    strip_internal(out);
    const char *name = pg_labels_get(out, "__name__");
    const char *svc = pg_labels_get(out, "service_name");
    if (name == NULL || name[0] == '\0' || svc == NULL || svc[0] == '\0') {
        pg_errmsg_set(why, whylen, "%s is missing after profile_relabel_configs",
                      name == NULL || name[0] == '\0' ? "__name__" : "service_name");
        pg_labels_reset(out);
        return 0;
    }
    return 1;
}
