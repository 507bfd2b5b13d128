/* main.c - profgate's command line: parses the subcommand and dispatches to it.
 *
 * Commands: `run` (the daemon), `check`, `targets`, `version` and `help`. */
#include <stdio.h>
#include <string.h>

#include "config/config.h"
#include "daemon/run.h"
#include "daemon/targets.h"
#include "discovery/sd.h"
#include "discovery/static.h"

static void usage(FILE *f)
{
    fputs("usage: profgate <command> [options]\n"
          "\n"
          "commands:\n"
          "  run CONFIG [--web.listen-address ADDR] [--storage.path DIR] [--log.level L]\n"
          "                 [--log.format logfmt|json]\n"
          "                 scrape, buffer and forward profiles (the daemon)\n"
          "  check CONFIG   validate a config file; print every error as file:line:col\n"
          "  targets CONFIG [--json] [--explain]\n"
          "                 discover and relabel once; print what would be scraped\n"
          "  version     print the version and build information\n"
          "  help        show this help\n",
          f);
}

/* profgate check CONFIG: exit 0 with a summary, or print every error and exit 1. */
static int cmd_check(int argc, char **argv)
{
    if (argc != 3 || argv[2][0] == '-') {
        fputs("usage: profgate check CONFIG\n\n"
              "Loads and validates CONFIG. Exits 0 and prints a one-line summary, or prints\n"
              "every problem as file:line:col: message and exits 1.\n",
              argc == 3 && !strcmp(argv[2], "--help") ? stdout : stderr);
        return argc == 3 && !strcmp(argv[2], "--help") ? 0 : 2;
    }
    struct pg_cfg_errors errs;
    pg_cfg_errors_init(&errs);
    struct pg_cfg *cfg = pg_cfg_load(argv[2], &errs);
    if (!cfg) {
        pg_cfg_errors_print(&errs, stderr);
        fprintf(stderr, "%s: %zu error(s)\n", argv[2], errs.n);
        pg_cfg_errors_reset(&errs);
        return 1;
    }
    size_t n_static = 0, n_file = 0, n_types = 0;
    for (size_t i = 0; i < cfg->n_scrape; i++) {
        const struct pg_cfg_static_sd *st = pg_cfg_sd_get(&cfg->scrape[i], &pg_sd_static, 0);
        n_static += st ? st->n_groups : 0;
        n_file += pg_cfg_sd_count(&cfg->scrape[i], &pg_sd_file);
        for (size_t j = 0; j < cfg->scrape[i].n_profiles; j++)
            n_types += cfg->scrape[i].profiles[j].enabled != 0;
    }
    printf("%s: OK: %zu scrape job(s) (%zu static and %zu file discovery configs, %zu "
           "profile types enabled), %zu remote_write backend(s), receiver %s\n",
           argv[2], cfg->n_scrape, n_static, n_file, n_types, cfg->n_remote,
           cfg->receiver_enabled ? "enabled" : "disabled");
    pg_cfg_free(cfg);
    pg_cfg_errors_reset(&errs);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        printf("profgate, version %s (C11; libevent, libcurl, libyaml, pcre2, protobuf-c, "
               "sqlite3, zlib, jansson)\n",
               PG_VERSION);
        return 0;
    }
    if (strcmp(cmd, "run") == 0)
        return pg_cmd_run(argc, argv);
    if (strcmp(cmd, "check") == 0)
        return cmd_check(argc, argv);
    if (strcmp(cmd, "targets") == 0)
        return pg_cmd_targets(argc, argv);
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "profgate: unknown command %s\n\n", cmd);
    usage(stderr);
    return 2;
}
