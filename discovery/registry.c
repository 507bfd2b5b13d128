/* registry.c - the service-discovery mechanism registry (see sd.h).
 *
 * One line per mechanism. The order is the order in which config/config.c loads the
 * mechanisms' keys (and so reports their problems) and the discovery manager starts their
 * instances. */
#include <stddef.h>
#include <string.h>

#include "discovery/sd.h"

/* X(the mechanism's const struct pg_sd_mechanism), one per line. */
#define PG_SD_REGISTRY(X)                                                                          \
    X(pg_sd_static)                                                                                \
    X(pg_sd_file)                                                                                  \
    X(pg_sd_http)                                                                                  \
    X(pg_sd_consul)                                                                                \
    X(pg_sd_kubernetes)                                                                            \
    X(pg_sd_dns)                                                                                   \
    /* end of the registry */

#define PG_SD_DECLARE(m) extern const struct pg_sd_mechanism m;
PG_SD_REGISTRY(PG_SD_DECLARE)

#define PG_SD_ENTRY(m) &m,
static const struct pg_sd_mechanism *const pg_sd_table[] = {PG_SD_REGISTRY(PG_SD_ENTRY)};

const struct pg_sd_mechanism *const *pg_sd_registry(size_t *n)
{
    *n = sizeof(pg_sd_table) / sizeof(pg_sd_table[0]);
    return pg_sd_table;
}

const struct pg_sd_mechanism *pg_sd_lookup(const char *name)
{
    if (!name)
        return NULL;
    for (size_t i = 0; i < sizeof(pg_sd_table) / sizeof(pg_sd_table[0]); i++)
        if (strcmp(pg_sd_table[i]->name, name) == 0)
            return pg_sd_table[i];
    return NULL;
}
