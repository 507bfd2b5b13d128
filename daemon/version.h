/* version.h - `profgate version`: the version, build information and the versions of the
 * libraries profgate runs with, in the shape of `prometheus --version`. */
#ifndef PG_DAEMON_VERSION_H
#define PG_DAEMON_VERSION_H

#include <stdio.h>

/* What the build knows about itself (main.c fills it from the generated pg_buildinfo.h). */
struct pg_build_info {
    const char *version;  /* project version, e.g. "0.1.0" */
    const char *branch;   /* git branch, or "unknown" */
    const char *revision; /* git commit id, or "unknown" */
    const char *date;     /* UTC, "YYYYMMDD-HH:MM:SS" */
};

/* Prints the version block to f: the header line, then one "  key: value" line each for
 * the build date, compiler, platform and every library (runtime versions where the library
 * reports one). */
void pg_version_print(FILE *f, const struct pg_build_info *bi);

#endif
