/* version.c - `profgate version` (and `--version`): what `prometheus --version` prints, plus
 * the libraries profgate is linked with.
 *
 *   profgate, version 0.1.0 (branch: main, revision: 1f0c...)
 *     build date:       20261201-04:00:39
 *     compiler:         gcc 12.2.0
 *     platform:         linux/amd64
 *     libcurl:          7.88.1 (OpenSSL/3.0.17)
 *     ...
 *
 * Library versions are the ones loaded at run time (what the dynamic linker picked), except
 * libdeflate, which has no run-time version call: its line is the headers' version and says
 * so. The branch, revision and date come from cmake/buildinfo.cmake. */
#include "daemon/version.h"

#include <curl/curl.h>
#include <event2/event.h>
#include <jansson.h>
#include <libdeflate.h>
#include <protobuf-c/protobuf-c.h>
#include <sqlite3.h>
#include <xxhash.h>
#include <yaml.h>
#include <zlib.h>
#ifndef PCRE2_CODE_UNIT_WIDTH
#define PCRE2_CODE_UNIT_WIDTH 8
#endif
#include <pcre2.h>

#if defined(__clang__)
#define PG_COMPILER "clang " __clang_version__
#elif defined(__GNUC__)
#define PG_COMPILER "gcc " __VERSION__
#else
#define PG_COMPILER "unknown"
#endif

/* Go's GOARCH spelling, as Prometheus prints it. */
#if defined(__x86_64__)
#define PG_ARCH "amd64"
#elif defined(__aarch64__)
#define PG_ARCH "arm64"
#elif defined(__i386__)
#define PG_ARCH "386"
#elif defined(__arm__)
#define PG_ARCH "arm"
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define PG_ARCH "ppc64le"
#elif defined(__s390x__)
#define PG_ARCH "s390x"
#elif defined(__riscv) && __riscv_xlen == 64
#define PG_ARCH "riscv64"
#else
#define PG_ARCH "unknown"
#endif

#if defined(__linux__)
#define PG_OS "linux"
#else
#define PG_OS "unknown"
#endif

static void line(FILE *f, const char *key, const char *value)
{
    fprintf(f, "  %-18s%s\n", key, value && *value ? value : "unknown");
}

void pg_version_print(FILE *f, const struct pg_build_info *bi)
{
    fprintf(f, "profgate, version %s (branch: %s, revision: %s)\n", bi->version, bi->branch,
            bi->revision);
    line(f, "build date:", bi->date);
    line(f, "compiler:", PG_COMPILER);
    line(f, "platform:", PG_OS "/" PG_ARCH);

    char buf[256];
    const curl_version_info_data *cv = curl_version_info(CURLVERSION_NOW);
    if (cv && cv->ssl_version)
        snprintf(buf, sizeof(buf), "%s (%s)", cv->version, cv->ssl_version);
    else
        snprintf(buf, sizeof(buf), "%s", cv ? cv->version : "unknown");
    line(f, "libcurl:", buf);
    line(f, "libevent:", event_get_version());
    line(f, "SQLite:", sqlite3_libversion());
    line(f, "protobuf-c:", protobuf_c_version());
    line(f, "zlib:", zlibVersion());
    line(f, "libdeflate:", LIBDEFLATE_VERSION_STRING " (headers at build time)");
    line(f, "jansson:", jansson_version_str());
    line(f, "libyaml:", yaml_get_version_string());
    char pcre[64] = "";
    if (pcre2_config(PCRE2_CONFIG_VERSION, pcre) < 0)
        pcre[0] = '\0';
    line(f, "PCRE2:", pcre);
    unsigned xv = XXH_versionNumber();
    snprintf(buf, sizeof(buf), "%u.%u.%u", xv / 10000, xv / 100 % 100, xv % 100);
    line(f, "xxHash:", buf);
}
