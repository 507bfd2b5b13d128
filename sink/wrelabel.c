/* wrelabel.c - a backend's write_relabel_configs and the tenant label (see wrelabel.h). */
#include "sink/wrelabel.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/tenant.h"
#include "relabel/relabel.h"
#include "sink/backend.h"

static void item_free(struct pg_buf_item *it)
{
    pg_labels_reset(&it->labels);
    free(it->name);
    free(it->tenant);
    free(it->body);
    memset(it, 0, sizeof(*it));
}

/* Runs the backend's rules on it's labels as sent. Returns 1 kept, 0 dropped. */
static int relabel_item(const struct pg_cfg_remote *cfg, const struct pg_labels *global_external,
                        struct pg_buf_item *it)
{
    struct pg_labels ls;
    pg_labels_init(&ls);
    if (pg_sink_series_labels(&it->labels, global_external, &cfg->external_labels, &ls) != 0) {
        pg_labels_reset(&ls);
        return 1; /* OOM: sent as stored, the encoder merges the external labels */
    }
    int kept = pg_relabel_process(cfg->write_relabel, cfg->n_write_relabel, &ls, NULL, NULL);
    if (kept <= 0) {
        pg_labels_reset(&ls);
        return 0;
    }
    pg_labels_reset(&it->labels);
    it->labels = ls;
    it->labels_final = 1;
    return 1;
}

/* Moves a __tenant_id__ label into it->tenant. Returns 1, or 0 when it is invalid. */
static int take_tenant(struct pg_buf_item *it, struct pg_sink_wrelabel_stats *st)
{
    const char *v = pg_labels_get(&it->labels, PG_SINK_TENANT_LABEL);
    if (v == NULL)
        return 1;
    if (v[0] != '\0') {
        if (!pg_tenant_valid(v)) {
            snprintf(st->tenant, sizeof(st->tenant), "%s", v);
            return 0;
        }
        char *t = strdup(v);
        if (t == NULL)
            return 0; /* never send it to the configured tenant instead */
        free(it->tenant);
        it->tenant = t;
        it->tenant_from_label = 1;
    }
    pg_labels_del(&it->labels, PG_SINK_TENANT_LABEL);
    return 1;
}

size_t pg_sink_wrelabel(const struct pg_cfg_remote *cfg, const struct pg_labels *global_external,
                        struct pg_buf_item *items, size_t n, struct pg_sink_wrelabel_stats *st)
{
    memset(st, 0, sizeof(*st));
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        struct pg_buf_item *it = &items[i];
        int keep = 1;
        if (cfg->n_write_relabel > 0 && !relabel_item(cfg, global_external, it)) {
            st->dropped++;
            keep = 0;
        } else if (!take_tenant(it, st)) {
            st->bad_tenant++;
            keep = 0;
        }
        if (!keep) {
            item_free(it);
            continue;
        }
        if (w != i) {
            items[w] = *it;
            memset(it, 0, sizeof(*it));
        }
        w++;
    }
    return w;
}
