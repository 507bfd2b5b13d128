/* run.c - `profgate run`: flag parsing, signals and the event loop around struct pg_app.
 *
 * Flags follow Prometheus's spelling (--web.listen-address, --web.config.file,
 * --web.enable-lifecycle, --storage.path, --log.level, --log.format, --processing.workers;
 * "--flag value" and "--flag=value"). SIGHUP reloads the
 * config, SIGTERM and SIGINT shut down cleanly (stop scraping, flush the buffer, exit 0). */
#include "daemon/run.h"

#include <curl/curl.h>
#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/metrics.h"
#include "daemon/app.h"
#include "daemon/web_config.h"
#include "yamlcfg/units.h"

static const char usage_text[] =
    "usage: profgate run CONFIG [flags]\n"
    "\n"
    "Runs the collector: discovers and scrapes targets, buffers every profile in SQLite and\n"
    "forwards to the remote_write backends.\n"
    "\n"
    "flags:\n"
    "  --web.listen-address ADDR  address for the HTTP API and /metrics (default 127.0.0.1:4100)\n"
    "  --storage.path DIR         buffer directory (overrides storage.path in CONFIG)\n"
    "  --log.level LEVEL          debug, info, warn or error (default info)\n"
    "  --log.format FORMAT        logfmt or json (default logfmt)\n"
    "  --processing.workers N     scrape processing threads, 0 = one per CPU (overrides\n"
    "                             processing.workers in CONFIG; read at start only)\n"
    "  --web.config.file FILE     TLS and basic authentication for the web port, in the\n"
    "                             Prometheus exporter-toolkit format (re-read on change)\n"
    "  --web.enable-lifecycle     allow POST/PUT /-/reload (otherwise 403)\n"
    "  --web.external-url URL     the URL profgate is reachable at (e.g. behind a reverse\n"
    "                             proxy); its path is the default route prefix\n"
    "  --web.route-prefix PATH    prefix of every HTTP route (default: the external URL's\n"
    "                             path, else /)\n"
    "  --web.ui.profile-cache-size SIZE  memory for the last profile of every target,\n"
    "                             shown as flame graphs in the web UI (default 64MiB; 0 = off)\n"
    "\n"
    "signals: SIGHUP reloads CONFIG (as POST /-/reload does with --web.enable-lifecycle);\n"
    "SIGTERM/SIGINT shut down.\n";

struct run_state {
    struct pg_app *app;
};

static void on_signal(evutil_socket_t sig, short what, void *ud)
{
    (void)what;
    struct run_state *st = ud;
    if (sig == SIGHUP) {
        pg_log_info("app", "msg=\"SIGHUP: reloading config\"");
        char err[4096];
        pg_app_reload(st->app, err, sizeof(err));
        return;
    }
    pg_log_info("app", "signal=%s msg=\"received signal\"", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    pg_app_shutdown(st->app);
}

/* Matches "--name value" or "--name=value"; advances *i past a separate value. */
static int flag_value(int argc, char **argv, int *i, const char *name, const char **out)
{
    size_t n = strlen(name);
    if (strncmp(argv[*i], name, n) != 0)
        return 0;
    if (argv[*i][n] == '=') {
        *out = argv[*i] + n + 1;
        return 1;
    }
    if (argv[*i][n] != '\0')
        return 0;
    if (*i + 1 >= argc) {
        fprintf(stderr, "profgate run: flag %s needs a value\n", name);
        return -1;
    }
    *out = argv[++*i];
    return 1;
}

/* Parses a --processing.workers value: an integer 0..256. Returns 0 or -1. */
static int parse_workers(const char *v, int *out)
{
    char *end;
    long n = strtol(v, &end, 10);
    if (end == v || *end != '\0' || n < 0 || n > 256)
        return -1;
    *out = (int)n;
    return 0;
}

/* Applies --log.level and --log.format (either may be NULL). Returns 0, or 2 (the exit
 * code) after printing why a value is bad. */
static int set_log_flags(const char *level, const char *format)
{
    if (level) {
        enum pg_log_level l;
        if (pg_log_parse_level(level, &l) < 0) {
            fprintf(stderr, "profgate run: --log.level %s: want debug, info, warn or error\n",
                    level);
            return 2;
        }
        pg_log_set_level(l);
    }
    if (format) {
        if (!strcmp(format, "json"))
            pg_log_set_format(PG_LOG_JSON);
        else if (strcmp(format, "logfmt") != 0) {
            fprintf(stderr, "profgate run: --log.format %s: want logfmt or json\n", format);
            return 2;
        }
    }
    return 0;
}

/* The path of an absolute http(s) URL ("" when it has none), in a static buffer; NULL
 * when url is not one. */
static const char *url_path(const char *url)
{
    static char path[1024];
    if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)
        return NULL;
    const char *host = strstr(url, "://") + 3;
    size_t hl = strcspn(host, "/?#");
    if (hl == 0)
        return NULL;
    snprintf(path, sizeof(path), "%.*s", (int)strcspn(host + hl, "?#"), host + hl);
    return path;
}

/* --web.external-url, --web.route-prefix (defaulting to the external URL's path, as in
 * Prometheus) and --web.ui.profile-cache-size. Returns 0, or 2 after printing why. */
static int web_flags(const char *ext, const char *cache, struct pg_app_opts *opts)
{
    if (ext) {
        const char *path = url_path(ext);
        if (!path) {
            fprintf(stderr, "profgate run: --web.external-url %s: want an http(s) URL\n", ext);
            return 2;
        }
        if (!opts->route_prefix)
            opts->route_prefix = path;
    }
    if (opts->route_prefix && opts->route_prefix[0] && opts->route_prefix[0] != '/') {
        fprintf(stderr, "profgate run: --web.route-prefix %s: must start with /\n",
                opts->route_prefix);
        return 2;
    }
    if (cache) {
        uint64_t v;
        char err[128];
        if (pg_units_parse_size(cache, &v, err, sizeof(err)) != 0) {
            fprintf(stderr, "profgate run: --web.ui.profile-cache-size %s: %s\n", cache, err);
            return 2;
        }
        opts->ui_cache_bytes_set = 1;
        opts->ui_cache_bytes = v > SIZE_MAX ? SIZE_MAX : (size_t)v;
    }
    return 0;
}

/* Parses the command line into *opts and applies the log flags. Returns -1 to go on, or
 * the exit code: 0 after --help, 2 on a usage error (printed). */
static int parse_args(int argc, char **argv, struct pg_app_opts *opts)
{
    const char *level = NULL, *format = NULL, *workers = NULL, *ext = NULL, *cache = NULL;
    for (int i = 2; i < argc; i++) {
        int r;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(usage_text, stdout);
            return 0;
        }
        if (!strcmp(argv[i], "--web.enable-lifecycle") ||
            !strcmp(argv[i], "--no-web.enable-lifecycle")) {
            opts->enable_lifecycle = argv[i][2] != 'n';
            continue;
        }
        if ((r = flag_value(argc, argv, &i, "--web.listen-address", &opts->listen_address)) ||
            (r = flag_value(argc, argv, &i, "--web.config.file", &opts->web_config_file)) ||
            (r = flag_value(argc, argv, &i, "--storage.path", &opts->storage_path)) ||
            (r = flag_value(argc, argv, &i, "--log.level", &level)) ||
            (r = flag_value(argc, argv, &i, "--log.format", &format)) ||
            (r = flag_value(argc, argv, &i, "--processing.workers", &workers)) ||
            (r = flag_value(argc, argv, &i, "--web.external-url", &ext)) ||
            (r = flag_value(argc, argv, &i, "--web.route-prefix", &opts->route_prefix)) ||
            (r = flag_value(argc, argv, &i, "--web.ui.profile-cache-size", &cache))) {
            if (r < 0)
                return 2;
            continue;
        }
        if (argv[i][0] == '-' || opts->config_file) {
            fprintf(stderr, "profgate run: unexpected argument %s\n\n%s", argv[i], usage_text);
            return 2;
        }
        opts->config_file = argv[i];
    }
    if (!opts->config_file) {
        fputs(usage_text, stderr);
        return 2;
    }
    opts->processing_workers_set = workers != NULL;
    if (workers && parse_workers(workers, &opts->processing_workers) != 0) {
        fprintf(stderr, "profgate run: --processing.workers %s: want 0 (one per CPU) to 256\n",
                workers);
        return 2;
    }
    if (web_flags(ext, cache, opts) != 0)
        return 2;
    if (set_log_flags(level, format) != 0)
        return 2;
    return -1;
}

/* Runs the app on cfg (owned from here on) until it shuts down. Returns the exit code. */
static int run_app(const struct pg_app_opts *opts, struct pg_cfg *cfg)
{
    signal(SIGPIPE, SIG_IGN);
    /* a file-size limit (RLIMIT_FSIZE) must fail the write (EFBIG: counted as a buffer
     * error, like a full disk), not kill the process */
    signal(SIGXFSZ, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    struct event_base *base = event_base_new();
    if (!base) {
        fputs("profgate run: cannot create the event loop\n", stderr);
        pg_cfg_free(cfg);
        return 1;
    }
    char err[512] = "";
    struct run_state st = {0};
    st.app = pg_app_create(base, opts, cfg, err, sizeof(err));
    int rc = 0;
    if (!st.app) {
        pg_log_error("app", "msg=\"startup failed\" err=\"%s\"", err);
        rc = 1;
    } else {
        struct event *sigs[3];
        const int nums[3] = {SIGHUP, SIGTERM, SIGINT};
        for (int i = 0; i < 3; i++) {
            sigs[i] = evsignal_new(base, nums[i], on_signal, &st);
            if (sigs[i])
                event_add(sigs[i], NULL);
        }
        event_base_dispatch(base);
        for (int i = 0; i < 3; i++)
            if (sigs[i])
                event_free(sigs[i]);
        pg_app_destroy(st.app);
        pg_log_info("app", "msg=\"stopped\"");
    }
    pg_metrics_shutdown();
    event_base_free(base);
    curl_global_cleanup();
    return rc;
}

int pg_cmd_run(int argc, char **argv)
{
    struct pg_app_opts opts = {0};
    int rc = parse_args(argc, argv, &opts);
    if (rc >= 0)
        return rc;

    struct pg_cfg_errors errs;
    pg_cfg_errors_init(&errs);
    struct pg_cfg *cfg = pg_cfg_load(opts.config_file, &errs);
    if (!cfg) {
        pg_cfg_errors_print(&errs, stderr);
        fprintf(stderr, "%s: %zu error(s)\n", opts.config_file, errs.n);
        pg_cfg_errors_reset(&errs);
        return 1;
    }
    pg_cfg_errors_reset(&errs);
    if (opts.web_config_file) {
        /* fail before starting anything, with every problem at its file:line:col */
        struct pg_web_config *wc = pg_web_config_load(opts.web_config_file, &errs);
        if (!wc) {
            pg_cfg_errors_print(&errs, stderr);
            fprintf(stderr, "%s: %zu error(s)\n", opts.web_config_file, errs.n);
            pg_cfg_errors_reset(&errs);
            pg_cfg_free(cfg);
            return 1;
        }
        pg_web_config_free(wc);
    }
    return run_app(&opts, cfg);
}
