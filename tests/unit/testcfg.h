/* testcfg.h - loading a whole config from YAML text in unit tests (include after
 * cmocka.h, in tests that link pg_config). Static functions: each test executable
 * compiles its own copy. */
#ifndef PG_TESTCFG_H
#define PG_TESTCFG_H

#include "config/config.h"
#include "testutil.h"

/* Loads text as a config file (a temporary file, removed again); prints any errors and
 * fails the test unless it loads. The caller frees the config with pg_cfg_free. */
static inline struct pg_cfg *pg_test_load_cfg(const char *text)
{
    char path[64];
    pg_test_write_temp(text, path);
    struct pg_cfg_errors errs;
    pg_cfg_errors_init(&errs);
    struct pg_cfg *c = pg_cfg_load(path, &errs);
    pg_cfg_errors_print(&errs, stderr);
    pg_cfg_errors_reset(&errs);
    unlink(path);
    assert_non_null(c);
    return c;
}

#endif
