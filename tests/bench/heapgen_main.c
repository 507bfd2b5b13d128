/* heapgen: writes the benchmark's generated Go heap profile (heapgen.h) to stdout, to
 * inspect it (`heapgen | go tool pprof -top /dev/stdin`) or to feed other tools.
 *
 *     heapgen [--epoch N] [--seed S] [--stacks N] [--functions N] [--gzip] > out.pb[.gz]
 *
 * Sizes (decoded, and gzip level 6 with --gzip) go to stderr. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "heapgen.h"

static int parse_ul(const char *s, unsigned long max, unsigned long *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (!s || errno || *end || end == s || v > max || s[0] == '-')
        return -1;
    *out = v;
    return 0;
}

int main(int argc, char **argv)
{
    struct pg_heapgen_params p;
    pg_heapgen_default(&p);
    unsigned long epoch = 0, v;
    int gzip = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--gzip") == 0) {
            gzip = 1;
            continue;
        }
        if (!val || parse_ul(val, 0xffffffffUL, &v) != 0) {
            fprintf(stderr, "usage: heapgen [--epoch N] [--seed S] [--stacks N] "
                            "[--functions N] [--gzip] > out.pb[.gz]\n");
            return 2;
        }
        if (strcmp(a, "--epoch") == 0)
            epoch = v;
        else if (strcmp(a, "--seed") == 0)
            p.seed = (uint32_t)v;
        else if (strcmp(a, "--stacks") == 0)
            p.n_stacks = v;
        else if (strcmp(a, "--functions") == 0)
            p.n_functions = v;
        else {
            fprintf(stderr, "heapgen: unknown option %s\n", a);
            return 2;
        }
        i++;
    }
    uint8_t *pb = NULL, *gz = NULL;
    size_t len = 0, gzlen = 0;
    if (pg_heapgen_profile(&p, (unsigned)epoch, &pb, &len) != 0) {
        fprintf(stderr, "heapgen: cannot generate (bad parameters or out of memory)\n");
        return 1;
    }
    if (gzip && pg_heapgen_gzip(pb, len, 6, &gz, &gzlen) != 0) {
        fprintf(stderr, "heapgen: gzip failed\n");
        free(pb);
        return 1;
    }
    fprintf(stderr, "heapgen: epoch %lu: %zu bytes decoded", epoch, len);
    if (gzip)
        fprintf(stderr, ", %zu bytes gzip -6", gzlen);
    fprintf(stderr, "\n");
    int ok = gzip ? fwrite(gz, 1, gzlen, stdout) == gzlen : fwrite(pb, 1, len, stdout) == len;
    free(pb);
    free(gz);
    if (!ok || fflush(stdout) != 0) {
        fprintf(stderr, "heapgen: write failed\n");
        return 1;
    }
    return 0;
}
