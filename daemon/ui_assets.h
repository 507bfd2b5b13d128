/* ui_assets.h - the web UI's static files (the folder daemon/ui), embedded into the binary at build
 * time by cmake/embed_assets.cmake (the generated ui_assets.c in the build directory). */
#ifndef PG_DAEMON_UI_ASSETS_H
#define PG_DAEMON_UI_ASSETS_H

#include <stddef.h>

struct pg_ui_asset {
    const char *name; /* file name in daemon/ui, e.g. "targets.html" */
    const unsigned char *data;
    size_t len; /* bytes (data has one more: a NUL) */
};

/* Every asset, ended by an entry with name NULL. */
extern const struct pg_ui_asset pg_ui_assets[];

#endif
