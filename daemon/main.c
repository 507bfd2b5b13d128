/* main.c - profgate's command line: parses the subcommand and dispatches to it.
 *
 * Today it knows `version` and `help`; `check`, `targets` and `run` arrive with the
 * config, discovery and pipeline modules, and until then are unknown commands. */
#include <stdio.h>
#include <string.h>

static void usage(FILE *f)
{
    fputs("usage: profgate <command> [options]\n"
          "\n"
          "commands:\n"
          "  version     print the version and build information\n"
          "  help        show this help\n",
          f);
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
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "profgate: unknown command %s\n\n", cmd);
    usage(stderr);
    return 2;
}
