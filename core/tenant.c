/* tenant.c - tenant id validation (see tenant.h). */
#include "core/tenant.h"

#include <ctype.h>
#include <string.h>

int pg_tenant_valid(const char *s)
{
    size_t n = strlen(s);
    if (!n || n > PG_TENANT_MAX_LEN || !strcmp(s, ".") || !strcmp(s, ".."))
        return 0;
    for (; *s; s++)
        if (!(isalnum((unsigned char)*s) || strchr("!-_.*'()", *s)))
            return 0;
    return 1;
}
