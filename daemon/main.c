/* main.c - profgate's command line: parses the subcommand and dispatches to it.
 *
 * Commands: `run` (the daemon), `check`, `targets`, `version` and `help`. */
#include <stdio.h>
#include <string.h>

#include "config/config.h"
#include "daemon/run.h"
#include "daemon/targets.h"
#include "discovery/sd.h"

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

/* Writes "static 2, file 1" (the discovery configs per mechanism, registry order; "none")
 * into buf. */
static void sd_summary(const struct pg_cfg *cfg, char *buf, size_t len)
{
    size_t n_mech, used = 0;
    const struct pg_sd_mechanism *const *reg = pg_sd_registry(&n_mech);
    snprintf(buf, len, "none");
    for (size_t m = 0; m < n_mech; m++) {
        size_t n = 0;
        for (size_t i = 0; i < cfg->n_scrape; i++)
            n += pg_cfg_sd_count(&cfg->scrape[i], reg[m]);
        if (n && used < len)
            used += (size_t)snprintf(buf + used, len - used, "%s%s %zu", used ? ", " : "",
                                     reg[m]->name, n);
    }
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
    size_t n_types = 0;
    for (size_t i = 0; i < cfg->n_scrape; i++)
        for (size_t j = 0; j < cfg->scrape[i].n_profiles; j++)
            n_types += cfg->scrape[i].profiles[j].enabled != 0;
    char sd[512];
    sd_summary(cfg, sd, sizeof(sd));
    printf("%s: OK: %zu scrape job(s) (discovery: %s; %zu profile types enabled), %zu "
           "remote_write backend(s), receiver %s\n",
           argv[2], cfg->n_scrape, sd, n_types, cfg->n_remote,
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
