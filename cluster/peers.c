/* peers.c - the peer addresses of a discovery snapshot (see peers.h). */
#include "cluster/peers.h"

#include <stdlib.h>
#include <string.h>

#include "core/log.h"

void pg_cluster_peers_free(char **v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        free(v[i]);
    free(v);
}

/* Builds the labels of one discovered peer target into ls (initialised, emptied first).
 * Returns 1 kept, 0 dropped, -1 OOM. */
static int peer_labels(const struct pg_tgroup *g, const struct pg_labels *t,
                       const struct pg_relabel_rule *rules, size_t n_rules, struct pg_labels *ls)
{
    pg_labels_reset(ls);
    for (size_t i = 0; i < g->labels.n; i++)
        if (pg_labels_set(ls, g->labels.v[i].name, g->labels.v[i].value) != 0)
            return -1;
    for (size_t i = 0; i < t->n; i++)
        if (pg_labels_set(ls, t->v[i].name, t->v[i].value) != 0)
            return -1;
    if (n_rules == 0)
        return 1;
    char err[256] = "";
    int rc = pg_relabel_process_err(rules, n_rules, ls, NULL, NULL, err, sizeof err);
    if (rc < 0 && err[0])
        pg_log_warn("cluster", "msg=\"peer dropped by a relabel error\" err=\"%s\"", err);
    return rc < 0 ? 0 : rc;
}

int pg_cluster_peer_addresses(const struct pg_tgroup *groups, size_t n,
                              const struct pg_relabel_rule *rules, size_t n_rules, char ***out,
                              size_t *n_out)
{
    size_t total = 0;
    for (size_t g = 0; g < n; g++)
        total += groups[g].n_targets;
    char **v = calloc(total + 1, sizeof *v);
    size_t k = 0;
    struct pg_labels ls;
    pg_labels_init(&ls);
    int failed = v == NULL;
    for (size_t g = 0; g < n && !failed; g++)
        for (size_t t = 0; t < groups[g].n_targets && !failed; t++) {
            int rc = peer_labels(&groups[g], &groups[g].targets[t], rules, n_rules, &ls);
            const char *addr = rc == 1 ? pg_labels_get(&ls, "__address__") : NULL;
            if (rc < 0 || (addr && *addr && !(v[k++] = strdup(addr))))
                failed = 1;
        }
    pg_labels_reset(&ls);
    if (failed) {
        pg_cluster_peers_free(v, k);
        *out = NULL;
        *n_out = 0;
        return -1;
    }
    *out = v;
    *n_out = k;
    return 0;
}
