/* tenant.h - the tenant id rules of Grafana's dskit (X-Scope-OrgID), shared by the
 * receiver (tenants of incoming pushes) and the sinks (__tenant_id__ labels sent as
 * X-Scope-OrgID). Pure, any thread. */
#ifndef PG_CORE_TENANT_H
#define PG_CORE_TENANT_H

/* dskit's MaxTenantIDLength */
#define PG_TENANT_MAX_LEN 150

/* Returns 1 if s is a valid tenant id (1..150 bytes of [A-Za-z0-9!-_.*'()], not "." or
 * ".."), else 0. */
int pg_tenant_valid(const char *s);

#endif
